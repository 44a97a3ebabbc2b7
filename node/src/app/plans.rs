//! Plans from files; every failure here is bad input (exit code 2) with
//! the file, line and key in its one-line message.

use std::path::Path;

use lps_config::{ConfigError, Plan, Round, lps3};

use super::cli::RunArgs;

/// Why a plan file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The plan file is not acceptable.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// `-rn` / `-t` matched no round of the plan.
    #[error("{file}: no round matches {}", describe(.select))]
    NoRound { file: String, select: RunArgs },
}

/// Which rounds `lps run` runs: LPS runs a round when its name is among
/// `-rn` or one of its tags among `-t`, both case-insensitive, and every
/// round when neither is given.
impl RunArgs {
    fn is_all(&self) -> bool {
        self.rounds.is_empty() && self.tags.is_empty()
    }

    fn takes(&self, round: &Round) -> bool {
        let any = |list: &[String], text: &str| list.iter().any(|n| n.eq_ignore_ascii_case(text));
        self.is_all()
            || any(&self.rounds, &round.name)
            || round.tags.iter().any(|t| any(&self.tags, t))
    }
}

/// `-rn "A" -t "smoke"`.
fn describe(select: &RunArgs) -> String {
    let names = select.rounds.iter().map(|n| format!("-rn {n:?}"));
    let tags = select.tags.iter().map(|t| format!("-t {t:?}"));
    names.chain(tags).collect::<Vec<_>>().join(" ")
}

/// Loads and checks a plan file: LPS 3.x, unless it is in lps's older
/// format (then a line says so). Warnings go to stderr, one line each;
/// only the rounds `select` takes are kept.
pub fn load(path: &Path, select: &RunArgs) -> Result<Plan, PlanError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let format = lps_config::Format::detect(Some(path), &text);
    let mut plan = if lps3::is_older_format(&text, format) {
        log::warn!(
            "lps: {file} is in the older lps plan format; LPS 3.x plans put numberOfClients on rounds"
        );
        for name in &select.environments {
            // As LPS, which logs "Environment 'x' not found." and runs.
            log::warn!("warning: {file}: environment {name:?} is not in the plan; ignored");
        }
        lps_config::load_plan(path)?
    } else {
        // An environment the plan lacks is one of the warnings.
        let loaded = lps3::load_with(path, &select.environments)?;
        let lowered = lps3::lower(loaded, &file)?;
        for warning in &lowered.warnings {
            log::warn!("warning: {warning}");
        }
        lowered.plan
    };
    plan.rounds.retain(|r| select.takes(r));
    if plan.rounds.is_empty() && !select.is_all() {
        return Err(PlanError::NoRound {
            file,
            select: select.clone(),
        });
    }
    Ok(plan)
}
