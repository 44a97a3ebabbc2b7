//! `lps compare BASE.json NEW.json`: prints the comparison, writes it as
//! JSON when asked, and exits [`EXIT_RULES`] when a limit is exceeded.

use std::path::Path;

use super::Error;
use super::cli::CompareArgs;
use crate::report::compare::{
    self, CompareError, Comparison, Document, Inputs, Limits, Noise, render,
};
use crate::{EXIT_OK, EXIT_OUTPUT, EXIT_RULES};

/// Runs `lps compare`; its exit code: 0, or [`EXIT_RULES`] when a limit is
/// exceeded, or [`EXIT_OUTPUT`] when none is but `--json` cannot be written.
pub fn run(args: &CompareArgs) -> Result<u8, Error> {
    let limits = limits(args)?;
    let histograms = match args.histograms.as_deref() {
        Some([base, new]) => Some((base.as_path(), new.as_path())),
        _ => None,
    };
    let comparison = compare::compare_files(Inputs {
        base: &args.base,
        new: &args.new,
        histograms,
        noise: Noise::percent(args.noise)?,
        limits,
    })?;
    let to_stdout = args.json.as_deref() == Some(Path::new("-"));
    if !to_stdout {
        print!("{}", render(&comparison));
    }
    let written = match &args.json {
        Some(path) => write_json(&comparison, path),
        None => true,
    };
    // Each breach is on a line of the table (or in the JSON): one line
    // here says the verdict, as a failed run's does.
    match comparison.breaches.len() {
        0 => {}
        1 => log::error!("lps: 1 limit exceeded (exit {EXIT_RULES})"),
        n => log::error!("lps: {n} limits exceeded (exit {EXIT_RULES})"),
    }
    Ok(match (comparison.breaches.is_empty(), written) {
        (false, _) => EXIT_RULES,
        (true, false) => EXIT_OUTPUT,
        (true, true) => EXIT_OK,
    })
}

/// The limits of `--max-regression` or `--limits` (clap lets only one through).
fn limits(args: &CompareArgs) -> Result<Limits, CompareError> {
    let limits = match (&args.max_regression, &args.limits) {
        (Some(text), _) => compare::parse_limits(text)?,
        (None, Some(path)) => compare::read_limits(path)?,
        (None, None) => Limits::default(),
    };
    Ok(limits)
}

/// Writes the JSON comparison to `path` (`-`: stdout); says on one line
/// why it could not, and returns whether it was written.
fn write_json(comparison: &Comparison, path: &Path) -> bool {
    let text = match serde_json::to_string_pretty(&Document::new(comparison)) {
        Ok(text) => text + "\n",
        Err(e) => {
            log::error!("lps: error: --json: cannot encode the comparison: {e}");
            return false;
        }
    };
    let result = if path == Path::new("-") {
        use std::io::Write;
        std::io::stdout().lock().write_all(text.as_bytes())
    } else {
        crate::report::write_atomic(path, text.as_bytes())
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            log::error!("lps: error: --json: cannot write {}: {e}", path.display());
            false
        }
    }
}
