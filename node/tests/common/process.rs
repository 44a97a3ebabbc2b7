//! `lps` processes: spawned with their output collected, waited for with a
//! limit, their stderr read line by line as it comes.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test.
pub const LPS: &str = env!("CARGO_BIN_EXE_lps");

/// An `lps` process whose stdout and stderr are collected; killed on drop.
pub struct Lps {
    child: Child,
    stderr: Arc<Lines>,
    /// Joined once, by `wait`.
    stdout: Option<JoinHandle<Vec<u8>>>,
}

/// How an `lps` process ended.
pub struct Finished {
    /// The exit code; None when killed by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    /// Every line, each ended by `\n`.
    pub stderr: String,
}

/// A child's stderr lines, as its reader thread gets them.
#[derive(Default)]
struct Lines {
    state: Mutex<LinesState>,
    grew: Condvar,
}

#[derive(Default)]
struct LinesState {
    lines: Vec<String>,
    /// The pipe closed: no more lines will come.
    ended: bool,
}

impl Lines {
    fn lock(&self) -> MutexGuard<'_, LinesState> {
        // The reader thread only pushes strings: a panic elsewhere leaves them whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads `pipe` to its end, one line at a time.
    fn read(&self, pipe: impl Read) {
        let mut pipe = BufReader::new(pipe);
        let mut line = Vec::new();
        // An error reading a pipe ends it like EOF: the lines so far stay.
        while pipe.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            let text = String::from_utf8_lossy(&line);
            self.lock()
                .lines
                .push(text.trim_end_matches('\n').to_string());
            self.grew.notify_all();
            line.clear();
        }
        self.lock().ended = true;
        self.grew.notify_all();
    }

    fn text(&self) -> String {
        self.lock().lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// The first line (read so far or to come) containing `pattern`;
    /// None when the pipe ends or `limit` passes without one.
    fn wait_for(&self, pattern: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        let mut state = self.lock();
        loop {
            if let Some(line) = state.lines.iter().find(|l| l.contains(pattern)) {
                return Some(line.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if state.ended {
                return None;
            }
            state = self
                .grew
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits (within `limit`) for the pipe to end.
    fn wait_end(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut state = self.lock();
        while !state.ended {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return;
            };
            state = self
                .grew
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Lps {
    /// Starts `lps ARGS` in the current directory.
    pub fn spawn(args: &[&str]) -> Lps {
        Lps::start(Command::new(LPS).args(args))
    }

    /// Starts `lps ARGS` in `dir`.
    pub fn spawn_in(dir: &std::path::Path, args: &[&str]) -> Lps {
        Lps::start(Command::new(LPS).current_dir(dir).args(args))
    }

    /// Starts `command` (an `lps` command) with stdin closed and its output collected.
    pub fn start(command: &mut Command) -> Lps {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lps");
        let stderr = Arc::new(Lines::default());
        let pipe = child.stderr.take().expect("stderr piped");
        let lines = stderr.clone();
        std::thread::spawn(move || lines.read(pipe));
        let mut pipe = child.stdout.take().expect("stdout piped");
        let stdout = std::thread::spawn(move || {
            let mut out = Vec::new();
            // A read error ends the output like EOF; what was read stays.
            let _ = pipe.read_to_end(&mut out);
            out
        });
        Lps {
            child,
            stderr,
            stdout: Some(stdout),
        }
    }

    /// The stderr lines read so far, each ended by `\n`.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Waits for a stderr line containing `pattern` (one printed already
    /// counts) and returns it; fails if the process ends its stderr or
    /// `limit` passes first.
    pub fn wait_for_line(&self, pattern: &str, limit: Duration) -> String {
        self.stderr.wait_for(pattern, limit).unwrap_or_else(|| {
            panic!(
                "no stderr line with {pattern:?} within {limit:?}; stderr so far:\n{}",
                self.stderr()
            )
        })
    }

    /// The dashboard's address, from `lps: dashboard at http://ADDR/`.
    pub fn dashboard(&self, limit: Duration) -> SocketAddr {
        let line = self.wait_for_line("lps: dashboard at http://", limit);
        let addr = line.rsplit("http://").next().unwrap_or_default();
        addr.trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        // It may have exited already: then there is nothing to kill.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit within `limit` (else kills it and
    /// fails, showing its stderr) and collects its output.
    pub fn wait(&mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for lps") {
                break status;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "lps did not finish within {limit:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The pipes end with the process (lps starts no children); bounded
        // all the same.
        self.stderr.wait_end(Duration::from_secs(10));
        let stdout = self
            .stdout
            .take()
            .map(|t| t.join().expect("the stdout reader does not panic"))
            .unwrap_or_default();
        Finished {
            code: status.code(),
            stdout,
            stderr: self.stderr(),
        }
    }
}

impl Drop for Lps {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `lps ARGS` to completion (bounded by `limit`).
pub fn lps(args: &[&str], limit: Duration) -> Finished {
    Lps::spawn(args).wait(limit)
}

/// Runs lps with `--json -` and returns (exit code, report, stderr).
pub fn lps_json(args: &[&str], limit: Duration) -> (i32, serde_json::Value, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--json", "-", "--quiet"]);
    let out = lps(&all, limit);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not a JSON report ({e}); stderr: {}", out.stderr));
    (out.code.unwrap_or(-1), report, out.stderr)
}
