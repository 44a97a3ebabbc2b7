//! Plans from files; every failure here is bad input (exit code 2) with
//! the file, line and key in its one-line message.

use std::path::Path;

use lps_config::{ConfigError, Plan};

/// Why a plan file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The plan file is not acceptable.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Loads and checks a plan file.
pub fn load(path: &Path) -> Result<Plan, PlanError> {
    lps_config::load_plan(path).map_err(PlanError::from)
}
