//! The one stop signal: a [`CancellationToken`] made in `dispatch` and passed
//! to every part (engine, local run, master, worker, dashboard, target).
//! Ctrl-C, the master's Cancel, the end of a test and a fatal error all
//! cancel it (or a child of it); nothing polls a process-wide flag.

use std::sync::Mutex;

pub use lps_engine::CancellationToken;

/// The token the Ctrl-C handler cancels, and what it says then: the process
/// has one handler, so it cancels whichever token was installed last.
static CURRENT: Mutex<Option<(CancellationToken, &'static str)>> = Mutex::new(None);

/// Exit code after a second Ctrl-C, as shells report SIGINT.
const EXIT_INTERRUPTED: i32 = 130;

/// Makes the first Ctrl-C cancel `stop` (the run ends cleanly and its
/// partial report is still written) and the second exit at once.
pub fn cancel_on_ctrl_c(stop: &CancellationToken) {
    install(stop, "stopping (Ctrl-C again to exit at once)");
}

/// After the run, while the dashboard lingers: the next Ctrl-C cancels
/// `linger` (the dashboard closes and the process ends with the run's exit
/// code), even when a first Ctrl-C stopped the run; one more exits at once.
pub fn end_linger_on_ctrl_c(linger: &CancellationToken) {
    install(linger, "closing the dashboard");
}

fn install(token: &CancellationToken, saying: &'static str) {
    if let Ok(mut current) = CURRENT.lock() {
        *current = Some((token.clone(), saying));
    }
    // A second install (tests, `demo` running a test, the linger) fails
    // harmlessly: the first handler already reads CURRENT.
    let _ = ctrlc::set_handler(|| {
        let current = CURRENT.lock().ok().and_then(|c| c.clone());
        match current {
            Some((token, saying)) if !token.is_cancelled() => {
                eprintln!("\nlps: {saying}");
                log::debug!("lps: {saying}");
                token.cancel();
            }
            _ => {
                eprintln!("\nlps: interrupted twice, exiting at once");
                std::process::exit(EXIT_INTERRUPTED);
            }
        }
    });
}
