//! A run on this node alone, with the dashboard if `--dashboard` or the
//! settings' `Dashboard.BuiltInDashboard` asks for it (and its live model,
//! without the dashboard, for `--series` and `--html`).

use super::error::conclude;
use super::{Error, Setup, board, options};
use crate::dashboard::live::Live;
use crate::{local, report, rules};
use lps_engine::Aggregate;
use std::time::Instant;

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
    let (mut watch, opts) = rules::watch(plan, &setup.opts);
    let on_tick = |agg: &Aggregate, now_us| {
        if let Some(w) = watch.as_mut() {
            let now = Instant::now();
            w.check(agg, now_us, now);
            if let Some(live) = &live {
                live.set_rules(w.states(now));
            }
        }
    };
    let engine = (&opts, setup.settings.watchdog.as_ref());
    let mut outcome = local::run(plan, engine, on_snapshot, stop, live.as_deref(), on_tick)?;
    outcome.rules = watch.map(|w| w.states(Instant::now())).unwrap_or_default();
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
