//! The dashboard around a run: started before it, kept up after it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lps_config::Settings;

use super::cli::OutputArgs;
use crate::dashboard::{self, Dashboard, live::Live};
use crate::shutdown::{self, CancellationToken};

/// Starts the dashboard; a dashboard that cannot start is reported, and
/// the test runs without it.
pub fn start(live: &Arc<Live>, output: &OutputArgs, settings: &Settings) -> Option<Dashboard> {
    let listen = output
        .dashboard_listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], settings.dashboard.port)));
    let token = settings.dashboard.token.as_deref();
    match dashboard::serve(live.clone(), listen, token.map(str::to_string)) {
        Ok(board) => {
            log::info!("lps: dashboard at http://{}/", board.local_addr());
            if let Some(warning) = exposure_warning(board.local_addr(), token) {
                log::warn!("{warning}");
            }
            Some(board)
        }
        Err(e) => {
            log::warn!("lps: dashboard not started: {e:#}");
            None
        }
    }
}

/// The warning for a dashboard that listens beyond loopback with no token
/// (an empty one is none): anyone who reaches it reads the run.
fn exposure_warning(addr: SocketAddr, token: Option<&str>) -> Option<String> {
    let open = token.is_none_or(str::is_empty);
    (open && !addr.ip().is_loopback()).then(|| {
        format!(
            "lps: warning: the dashboard at {addr} is reachable beyond this machine and has no \
             token: anyone who can reach it can read the run (set Dashboard.Token)"
        )
    })
}

/// Keeps the dashboard up for `--dashboard-linger` seconds after the run,
/// so the final report can be read and downloaded; the next Ctrl-C ends it.
/// A run stopped by a first Ctrl-C lingers too: its partial report is the
/// one to read.
pub fn linger(board: Option<Dashboard>, output: &OutputArgs) {
    let Some(board) = board else { return };
    if output.dashboard_linger > 0 {
        // Its own token: the run's is cancelled already after a Ctrl-C.
        let closing = CancellationToken::new();
        shutdown::end_linger_on_ctrl_c(&closing);
        log::info!(
            "lps: the dashboard stays at http://{}/ for {} s (Ctrl-C to exit)",
            board.local_addr(),
            output.dashboard_linger
        );
        let linger = Duration::from_secs(output.dashboard_linger).min(lps_config::LONGEST);
        wait_for(&closing, linger);
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
        Err(e) => log::warn!("lps: the dashboard closes now: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_open_dashboard_beyond_loopback_is_warned_about() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        for (listen, token, warned) in [
            ("127.0.0.1:5050", None, false),
            ("127.0.0.2:5050", None, false),
            ("[::1]:5050", None, false),
            ("0.0.0.0:5050", None, true),
            ("0.0.0.0:5050", Some(""), true),
            ("0.0.0.0:5050", Some("t0k"), false),
            ("10.0.0.1:5050", None, true),
            ("[::]:5050", None, true),
        ] {
            let warning = exposure_warning(addr(listen), token);
            assert_eq!(warning.is_some(), warned, "{listen} {token:?}");
            if let Some(w) = warning {
                assert!(w.contains(listen) && w.contains("Dashboard.Token"), "{w}");
            }
        }
    }
}
