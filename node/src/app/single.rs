//! A run on this node alone, with the dashboard if `--dashboard` or the
//! settings' `Dashboard.BuiltInDashboard` asks for it (and its live model,
//! without the dashboard, for `--series` and `--html`).

use super::error::conclude;
use super::{Error, Setup, board, options};
use crate::dashboard::live::Live;
use crate::{local, report};

/// Runs the plan on this node's engine and writes the report.
pub fn run(setup: &Setup) -> Result<u8, Error> {
    let Setup {
        plan, output, stop, ..
    } = *setup;
    let dashboard = options::dashboard(output, &setup.settings);
    let live = (dashboard || options::needs_live(output)).then(|| Live::new(plan, setup.model));
    if let Some(live) = &live {
        options::prepare_live(live, output);
    }
    let board = live
        .as_ref()
        .filter(|_| dashboard)
        .and_then(|live| board::start(live, output, &setup.settings));
    let on_snapshot = |snap: &lps_engine::Snapshot| {
        if let Some(live) = &live {
            live.add("local", snap);
        }
    };
    let engine = (&setup.opts, setup.settings.watchdog.as_ref());
    let outcome = local::run(plan, engine, on_snapshot, stop, live.as_deref(), || {})?;
    let code = conclude(report::write(
        plan,
        &outcome,
        setup.model,
        options::destinations(output),
        None,
        live.as_deref(),
    ));
    board::linger(board, output);
    Ok(code)
}
