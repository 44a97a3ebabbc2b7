//! Ctrl-C: the first press stops the run cleanly (the partial report is
//! still printed and written); the second exits at once.

use std::sync::atomic::{AtomicUsize, Ordering};

static PRESSES: AtomicUsize = AtomicUsize::new(0);

/// Exit code after a second Ctrl-C, as shells report SIGINT.
const EXIT_INTERRUPTED: i32 = 130;

/// Installs the handler; later calls are no-ops.
pub fn install() {
    // A second install (tests, `demo` running a test) fails harmlessly:
    // the first handler already counts presses.
    let _ = ctrlc::set_handler(|| {
        if PRESSES.fetch_add(1, Ordering::SeqCst) >= 1 {
            eprintln!("\nlps: interrupted twice, exiting without a report");
            std::process::exit(EXIT_INTERRUPTED);
        }
        eprintln!("\nlps: stopping (Ctrl-C again to exit at once)");
    });
}

/// True once Ctrl-C was pressed.
pub fn requested() -> bool {
    PRESSES.load(Ordering::SeqCst) > 0
}
