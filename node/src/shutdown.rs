//! The one stop signal: a [`CancellationToken`] made in `dispatch` and passed
//! to every part (engine, local run, master, worker, dashboard, target).
//! Ctrl-C, the master's Cancel, the end of a test and a fatal error all
//! cancel it (or a child of it); nothing polls a process-wide flag.

use std::sync::Mutex;

pub use lps_engine::CancellationToken;

/// The token the Ctrl-C handler cancels: the process has one handler, so it
/// cancels whichever run installed itself last.
static CURRENT: Mutex<Option<CancellationToken>> = Mutex::new(None);

/// Exit code after a second Ctrl-C, as shells report SIGINT.
const EXIT_INTERRUPTED: i32 = 130;

/// Makes the first Ctrl-C cancel `stop` (the run ends cleanly and its
/// partial report is still written) and the second exit at once.
pub fn cancel_on_ctrl_c(stop: &CancellationToken) {
    if let Ok(mut current) = CURRENT.lock() {
        *current = Some(stop.clone());
    }
    // A second install (tests, `demo` running a test) fails harmlessly: the
    // first handler already reads CURRENT.
    let _ = ctrlc::set_handler(|| {
        let token = CURRENT.lock().ok().and_then(|c| c.clone());
        match token {
            Some(token) if !token.is_cancelled() => {
                eprintln!("\nlps: stopping (Ctrl-C again to exit at once)");
                token.cancel();
            }
            _ => {
                eprintln!("\nlps: interrupted twice, exiting without a report");
                std::process::exit(EXIT_INTERRUPTED);
            }
        }
    });
}
