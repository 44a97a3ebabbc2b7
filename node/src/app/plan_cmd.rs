//! LPS's plan-editing commands: `lps create`, `round`, `iteration`,
//! `iteration ref`, `capture` and `variable`. Each loads the plan file,
//! upserts one item, checks the plan as `lps run` would read it, and writes
//! it back in its format (nothing is written when the check fails).

use std::path::Path;

use lps_config::lps3::{CaptureSpec, Document, EditError, RoundSpec, VariableSpec};

use super::Error;
use super::cli::{CaptureArgs, IterationArgs, RoundArgs, VariableArgs};
use super::quick;

/// `lps create PLAN --name NAME`: a new plan, or a new name for one.
pub fn create(path: &Path, name: &str) -> Result<String, Error> {
    let mut doc = Document::open_or_new(path).map_err(EditError::from)?;
    doc.set_name(name)?;
    save(&doc)?;
    Ok(format!("plan {name:?} in {}", path.display()))
}

/// `lps round PLAN -n NAME ...`; a missing file becomes a plan named
/// `Default`, as in LPS.
pub fn round(path: &Path, a: &RoundArgs) -> Result<String, Error> {
    let mut doc = Document::open_or_new(path).map_err(EditError::from)?;
    doc.name_if_missing("Default")?;
    doc.upsert_round(&RoundSpec {
        name: a.name.clone(),
        base_url: a.base_url.clone(),
        startup_delay: a.startup_delay.clone(),
        number_of_clients: Some(a.clients.clone()),
        arrival_delay: a.arrival_delay.clone(),
        delay_client_creation: a.delay_client_creation.clone(),
        run_in_parallel: a.run_in_parallel.clone(),
        tags: a.tags.clone(),
    })?;
    save(&doc)?;
    Ok(format!("round {:?} in {}", a.name, path.display()))
}

/// `lps iteration PLAN ...`: into round `-rn`'s iterations; with `-g` (or
/// without `-rn`) into the plan's iterations, referenced from `-rn` if given.
pub fn iteration(path: &Path, a: &IterationArgs) -> Result<String, Error> {
    let spec = quick::iteration_spec(a, false)?;
    let global = a
        .global
        .as_deref()
        .is_some_and(|g| g.eq_ignore_ascii_case("true"));
    let mut doc = Document::open(path).map_err(EditError::from)?;
    match (&a.round, global) {
        (Some(round), false) => doc.upsert_iteration(Some(round), &spec)?,
        (Some(round), true) => {
            doc.upsert_iteration(None, &spec)?;
            doc.add_reference(round, &spec.name)?;
        }
        (None, _) => doc.upsert_iteration(None, &spec)?,
    }
    save(&doc)?;
    Ok(format!("iteration {:?} in {}", spec.name, path.display()))
}

/// `lps iteration PLAN ref -rn ROUND -n NAME`.
pub fn reference(path: &Path, round: &str, name: &str) -> Result<String, Error> {
    let mut doc = Document::open(path).map_err(EditError::from)?;
    doc.add_reference(round, name)?;
    save(&doc)?;
    Ok(format!(
        "round {round:?} references {name:?} in {}",
        path.display()
    ))
}

/// `lps capture PLAN -in ITERATION -to VAR ...`.
pub fn capture(path: &Path, a: &CaptureArgs) -> Result<String, Error> {
    let mut doc = Document::open(path).map_err(EditError::from)?;
    let spec = CaptureSpec {
        to: a.to.clone(),
        as_type: Some(a.as_type.clone()),
        make_global: Some(a.make_global.clone()),
        regex: a.regex.clone(),
    };
    doc.set_capture(a.round.as_deref(), &a.iteration, &spec)?;
    save(&doc)?;
    Ok(format!(
        "capture of {:?} in {}",
        a.iteration,
        path.display()
    ))
}

/// `lps variable PLAN -n NAME -v VALUE ...`.
pub fn variable(path: &Path, a: &VariableArgs) -> Result<String, Error> {
    let mut doc = Document::open(path).map_err(EditError::from)?;
    let spec = VariableSpec {
        name: a.name.clone(),
        value: a.value.clone(),
        as_type: Some(a.as_type.clone()),
        regex: a.regex.clone(),
    };
    doc.upsert_variable(&a.environments, &spec)?;
    save(&doc)?;
    Ok(format!("variable {:?} in {}", a.name, path.display()))
}

fn save(doc: &Document) -> Result<(), Error> {
    let loaded = doc.save()?;
    // What LPS would ignore in the file is worth knowing before a run.
    for warning in &loaded.warnings {
        log::warn!("lps: warning: {warning}");
    }
    Ok(())
}
