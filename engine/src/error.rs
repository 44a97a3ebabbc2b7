//! Errors that keep a run from starting or finishing. Each names what it is
//! about (the option, iteration, host or header) in the engine's own terms;
//! the binary words them for its command line.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("cannot resolve host {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// The open model's rate: not positive, or slower than one request a year.
    #[error(
        "the rate must be a positive number of requests per second, at least one a year, got {0}"
    )]
    Rate(f64),
    /// The open model paces modes R and D only.
    #[error("the open model applies to modes R and D; iteration \"{iteration}\" uses {mode}")]
    RateMode {
        iteration: String,
        mode: &'static str,
    },
    #[error("at most {max} engine threads, got {given}")]
    Threads { given: usize, max: usize },
    /// The request timeout: zero, or longer than a year.
    #[error("the request timeout must be greater than zero and at most a year")]
    Timeout,
    /// Clients per HTTP/2 connection: zero.
    #[error("the clients per HTTP/2 connection must be at least 1")]
    H2Streams,
    /// A core's nap ([`crate::RunOptions::coalesce`]) over a millisecond.
    #[error(
        "the nap before a core blocks is at most {max} microseconds, got {0}",
        max = crate::MAX_COALESCE.as_micros()
    )]
    Coalesce(u128),
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    #[error("invalid method {0:?}")]
    Method(String),
    #[error("invalid URL {0:?}")]
    Url(String),
    #[error("invalid header name {0:?}")]
    HeaderName(String),
    #[error("invalid value for header {0:?}")]
    HeaderValue(String),
    /// A client certificate the TLS client cannot present.
    #[error("iteration \"{iteration}\": client certificate {path:?}: {reason}")]
    ClientCertificate {
        iteration: String,
        path: std::path::PathBuf,
        reason: String,
    },
    /// A regex of a variable or capture that does not compile.
    #[error("{0}: regex: {1}")]
    Variable(String, String),
    #[error("cannot start an engine thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("{0} engine thread(s) panicked; their data up to the last snapshot is kept")]
    CorePanicked(usize),
}

impl EngineError {
    /// True when the plan or options are at fault (the user can fix them),
    /// not the machine or the engine.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, EngineError::Thread(_) | EngineError::CorePanicked(_))
    }
}
