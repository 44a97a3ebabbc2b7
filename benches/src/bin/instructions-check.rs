//! Compares the `instructions` bench's figures with the committed baseline.
//!
//! `instructions-check SUMMARY BASELINE [--update]`: SUMMARY is gungraun's
//! `--output-format=json` output of `cargo bench -p lps-benches --bench
//! instructions`; prints a table (baseline, now, change) and exits 0 when no
//! figure grew more than 5 %, 1 when one did (or is new or missing), 2 on bad
//! input. `--update` writes the figures measured as the new BASELINE.

use std::process::ExitCode;

use lps_benches::instructions::{
    baseline_text, compare, figures, parse_baseline, parse_summaries, passes, table,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let update = args.iter().any(|a| a == "--update");
    let paths: Vec<&String> = args.iter().filter(|a| *a != "--update").collect();
    let [summary, baseline] = paths.as_slice() else {
        eprintln!("usage: instructions-check SUMMARY BASELINE [--update]");
        return ExitCode::from(2);
    };
    match run(summary, baseline, update) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("instructions-check: {e}");
            ExitCode::from(2)
        }
    }
}

/// True when the check passes (or the baseline was rewritten).
fn run(summary: &str, baseline: &str, update: bool) -> Result<bool, String> {
    let text = std::fs::read_to_string(summary).map_err(|e| format!("{summary}: {e}"))?;
    let counts = parse_summaries(&text).map_err(|e| format!("{summary}: {e}"))?;
    if counts.is_empty() {
        return Err(format!("{summary}: no benchmark summary in it"));
    }
    let now = figures(&counts).map_err(|e| format!("{summary}: {e}"))?;
    let old = match std::fs::read_to_string(baseline) {
        Ok(text) => parse_baseline(&text).map_err(|e| format!("{baseline}: {e}"))?,
        // No baseline yet: everything is new, and --update records it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => return Err(format!("{baseline}: {e}")),
    };
    let rows = compare(&old, &now);
    print!("{}", table(&rows));
    if update {
        std::fs::write(baseline, baseline_text(&now)).map_err(|e| format!("{baseline}: {e}"))?;
        println!("instructions-check: wrote {baseline}");
        return Ok(true);
    }
    let ok = passes(&rows);
    if !ok {
        println!(
            "instructions-check: a figure grew more than 5 %, or is new or missing; \
             if that is on purpose, record it: perf/iai-check --update"
        );
    }
    Ok(ok)
}
