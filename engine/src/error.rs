//! Errors that keep a run from starting or finishing.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("cannot resolve host {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("cannot start an engine thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("{0} engine thread(s) panicked; their data up to the last snapshot is kept")]
    CorePanicked(usize),
}
