//! The dashboard around a run: started before it, kept up after it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lps_config::Settings;

use super::cli::OutputArgs;
use crate::dashboard::{self, Dashboard, live::Live};
use crate::shutdown::CancellationToken;

/// Starts the dashboard; a dashboard that cannot start is reported, and
/// the test runs without it.
pub fn start(live: &Arc<Live>, output: &OutputArgs, settings: &Settings) -> Option<Dashboard> {
    let listen = output
        .dashboard_listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], settings.dashboard.port)));
    match dashboard::serve(live.clone(), listen, settings.dashboard.token.clone()) {
        Ok(board) => {
            eprintln!("lps: dashboard at http://{}/", board.local_addr());
            Some(board)
        }
        Err(e) => {
            eprintln!("lps: dashboard not started: {e:#}");
            None
        }
    }
}

/// Keeps the dashboard up for `--dashboard-linger` seconds after the run,
/// so the final report can be read and downloaded; Ctrl-C ends it.
pub fn linger(board: Option<Dashboard>, output: &OutputArgs, stop: &CancellationToken) {
    let Some(board) = board else { return };
    if output.dashboard_linger > 0 && !stop.is_cancelled() {
        eprintln!(
            "lps: the dashboard stays at http://{}/ for {} s (Ctrl-C to exit)",
            board.local_addr(),
            output.dashboard_linger
        );
        let linger = Duration::from_secs(output.dashboard_linger).min(lps_config::LONGEST);
        wait_for(stop, linger);
    }
    board.stop();
}

/// Blocks until `stop` is cancelled or `timeout` has passed.
fn wait_for(stop: &CancellationToken, timeout: Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build();
    match runtime {
        Ok(runtime) => {
            runtime.block_on(async {
                // Either end is fine: the timeout elapsed or Ctrl-C came.
                let _ = tokio::time::timeout(timeout, stop.cancelled()).await;
            });
        }
        // No runtime (no thread or timer left): the dashboard closes now
        // rather than keep a run from ending.
        Err(e) => eprintln!("lps: the dashboard closes now: {e}"),
    }
}
