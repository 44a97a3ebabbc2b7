//! `lps demo`: the built-in target on a free loopback port, and a test of it.

use std::net::SocketAddr;

use lps_config::Settings;

use super::cli::{EngineArgs, IterationArgs, OutputArgs, QuickArgs};
use super::{Error, options, quick};
use crate::dashboard::live::Live;
use crate::shutdown::CancellationToken;
use crate::{local, report};

/// Starts the target, runs `clients` clients of `requests` requests each
/// against it on this node, and writes the report.
pub fn run(
    engine: &EngineArgs,
    output: &OutputArgs,
    requests: u64,
    clients: u32,
    stop: &CancellationToken,
) -> Result<u8, Error> {
    // The demo is always single-node, whatever the settings say.
    let opts = options::engine(engine, &Settings::default())?;
    options::check_outputs(output)?;
    let handle = lps_testbed::spawn(lps_testbed::TargetOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        threads: lps_engine::thread_count(engine.threads),
        record_arrivals: false,
    })?;
    let addr = handle.local_addr();
    log::info!(
        "lps demo: built-in target on http://{addr}/; sending {requests} requests from each of {clients} clients"
    );
    let args = QuickArgs {
        name: "Demo".into(),
        round_name: "Demo".into(),
        clients: clients.to_string(),
        iteration: IterationArgs {
            name: Some("hello".into()),
            url: Some(format!("http://{addr}/")),
            http_version: "1.1".into(),
            request_count: Some(requests.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    let plan = quick::quick_plan(&args)?;
    let plan = quick::lowered(plan)?;
    let model = options::model(engine);
    // The live model only for `--series` and `--html`: the demo has no dashboard.
    let live = options::needs_live(output).then(|| Live::new(&plan, model));
    if let Some(live) = &live {
        options::prepare_live(live, output);
    }
    let on_snapshot = |snap: &lps_engine::Snapshot| {
        if let Some(live) = &live {
            live.add("local", snap);
        }
    };
    let code = local::run(
        &plan,
        (&opts, None),
        on_snapshot,
        stop,
        live.as_deref(),
        |_, _| {},
    )
    .map_err(Error::from)
    .map(|outcome| {
        let to = options::destinations(output);
        let written = report::write(&plan, &outcome, model, to, None, live.as_deref());
        super::error::conclude(written)
    });
    handle.stop();
    code
}
