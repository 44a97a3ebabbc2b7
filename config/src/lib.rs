//! Test plans and settings for lps: parsing, defaults and validation.
//!
//! Everything a user writes (a plan file, the quick-test options, the
//! settings file) becomes a checked [`Plan`] or [`Settings`] here, or a
//! [`ConfigError`] that names the file, line and key.
//!
//! # Layout
//! - `plan`: the validated plan the engine runs.
//! - `plan_file`: the on-disk plan ([`PlanFile`] and its parts), its checks
//!   ([`PlanFile::into_plan`]) and the way back ([`PlanFile::from_plan`]).
//! - `target`: parsing `http://` / `https://` URLs into a [`Target`].
//! - `format`: JSON and YAML text: [`load_plan`], [`parse_plan`],
//!   [`save_plan_file`], with errors that name file, line and key.
//! - `settings`: the `lpsSettings.json` file ([`Settings`]), in LPS's layout
//!   (`LPSAppSettings`) or lps's flat one.
//! - `locate`: finding the line of a key path in the text, for errors found
//!   after deserialisation.
//! - `error`: [`ConfigError`].
//! - `lps3`: LPS 3.x plan files: read as LPS reads them ([`lps3::load`]),
//!   lowered to the engine's [`Plan`] ([`lps3::lower`]) and edited.
//! - `tree`: a YAML or JSON text as a tree of text values with their lines,
//!   for `lps3` and `locate`.
//!
//! # Example
//!
//! ```
//! use lps_config::{parse_plan, Format, Mode, Origin};
//!
//! let text = "\
//! name: Demo
//! rounds:
//!   - name: Round-1
//!     iterations:
//!       - name: home
//!         iterationMode: R
//!         requestCount: 100
//!         httpRequest:
//!           url: http://127.0.0.1:8080/
//! ";
//! let file = parse_plan(text, "demo.yaml", Format::Yaml)?;
//! let plan = file.into_plan(Origin::new("demo.yaml").with_source(text, Format::Yaml))?;
//! assert_eq!(plan.rounds[0].iterations[0].mode, Mode::Requests { requests: 100 });
//! # Ok::<(), lps_config::ConfigError>(())
//! ```

pub use error::ConfigError;
pub use format::{Format, load_plan, load_plan_file, parse_plan, save_plan_file};
pub use plan::{
    Backoff, Capture, ClientIdentity, GlobalVariable, HttpRequest, HttpVersion, Iteration, LONGEST,
    MOST_CLIENTS, Mode, Plan, RequestScript, Retry, Round, Scheme, Script, Stage, Target,
    positive_seconds,
};
pub use plan_file::{
    Headers, HttpRequestFile, IterationFile, IterationMode, Origin, PAYLOAD_PATH_PREFIX, PlanFile,
    RoundFile, UnknownValue, is_framing_header, is_tchar,
};
pub use settings::{
    ClusterSettings, ClusterTls, DashboardSettings, FileLoggerSettings, HeaderValidationMode,
    HttpClientSettings, InfluxDbSettings, Layout, LogLevel, ServerTimeFormat, Settings,
    SuspensionMode, WatchdogSettings,
};
pub use target::UrlError;
pub use target::encode_request_target;

mod error;
mod format;
mod locate;
pub mod lps3;
pub mod plan;
mod plan_file;
pub mod rules;
pub mod settings;
mod target;
mod tree;
