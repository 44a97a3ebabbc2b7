//! This process's memory and CPU, as the watchdog samples them (Linux:
//! `/proc/self`).
//!
//! LPS reads .NET's `cpu-usage` counter (the process's CPU time over the last
//! second, in % of all the cores it may use: 0-100) and the process's private
//! memory. lps reads the same CPU figure, and its resident memory (`VmRSS`):
//! what it holds, where .NET's private memory on Linux (`VmData`) also counts
//! address space reserved and never touched.

use std::time::{Duration, Instant};

/// How long CPU time is averaged over: .NET's counters report once a second.
const CPU_WINDOW: Duration = Duration::from_secs(1);

/// Linux's `USER_HZ`: the unit of `/proc/self/stat`'s CPU times, 100 on every
/// architecture lps builds for (what `sysconf(_SC_CLK_TCK)` reports).
const TICKS_PER_SECOND: f64 = 100.0;

/// Reads this process's memory and CPU; keeps the CPU time of the last
/// window's start.
#[derive(Debug)]
pub struct Probe {
    /// Cores this process may use: CPU % is of all of them.
    cores: f64,
    /// The CPU time and instant the current window started at.
    window: Option<(f64, Instant)>,
    /// The last whole window's CPU %.
    cpu_percent: f64,
}

/// Why the probe cannot read this process.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {why}")]
pub struct ProbeError {
    path: &'static str,
    why: String,
}

impl Probe {
    pub fn new() -> Probe {
        Probe {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
            window: None,
            cpu_percent: 0.0,
        }
    }

    /// Resident memory in MB, and CPU % over the last whole second (0 in the
    /// first second, as .NET's counter before its first report).
    pub fn sample(&mut self, now: Instant) -> Result<(f64, f64), ProbeError> {
        let memory_mb = resident_mb()?;
        let cpu = cpu_seconds()?;
        match self.window {
            None => self.window = Some((cpu, now)),
            Some((start_cpu, start)) => {
                let wall = now.duration_since(start);
                if wall >= CPU_WINDOW {
                    self.cpu_percent = cpu_percent(cpu - start_cpu, wall, self.cores);
                    self.window = Some((cpu, now));
                }
            }
        }
        Ok((memory_mb, self.cpu_percent))
    }
}

/// `cpu` seconds of CPU time over `wall`, in % of `cores` cores.
fn cpu_percent(cpu: f64, wall: Duration, cores: f64) -> f64 {
    (cpu.max(0.0) * 100.0 / (wall.as_secs_f64() * cores)).min(100.0)
}

/// `VmRSS` from `/proc/self/status`, in MB.
fn resident_mb() -> Result<f64, ProbeError> {
    const PATH: &str = "/proc/self/status";
    let status = read(PATH)?;
    parse_rss_kb(&status)
        .map(|kb| kb as f64 / 1024.0)
        .ok_or_else(|| ProbeError {
            path: PATH,
            why: "no VmRSS line".into(),
        })
}

/// The `VmRSS:  1234 kB` line's number.
fn parse_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User and system CPU time of every thread of this process, in seconds,
/// from `/proc/self/stat`.
fn cpu_seconds() -> Result<f64, ProbeError> {
    const PATH: &str = "/proc/self/stat";
    let stat = read(PATH)?;
    parse_cpu_ticks(&stat)
        .map(|ticks| ticks as f64 / TICKS_PER_SECOND)
        .ok_or_else(|| ProbeError {
            path: PATH,
            why: "no utime and stime".into(),
        })
}

/// `utime + stime` (fields 14 and 15): counted after the command's
/// parenthesis, which may itself hold spaces and parentheses.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // Fields from 3 (state) on: utime is the 12th of them, stime the 13th.
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn read(path: &'static str) -> Result<String, ProbeError> {
    std::fs::read_to_string(path).map_err(|e| ProbeError {
        path,
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_from_its_line() {
        let status = "Name:\tlps\nVmPeak:\t  99999 kB\nVmRSS:\t   12288 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(parse_rss_kb(status), Some(12288));
        assert_eq!(parse_rss_kb("Name:\tlps\n"), None);
    }

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name_whatever_it_holds() {
        let stat = "4242 (lps (core) 1) S 1 4242 4242 0 -1 4194560 2177 0 0 0 250 75 0 0 20 0 9 0";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("4242 (lps) S 1"), None);
    }

    #[test]
    fn cpu_percent_is_of_all_the_cores_the_process_may_use() {
        let second = Duration::from_secs(1);
        assert_eq!(cpu_percent(1.0, second, 2.0), 50.0);
        assert_eq!(cpu_percent(0.5, Duration::from_millis(500), 1.0), 100.0);
        assert_eq!(cpu_percent(0.0, second, 4.0), 0.0);
    }

    #[test]
    fn this_process_is_measured() {
        let mut probe = Probe::new();
        let t0 = Instant::now();
        let (memory_mb, cpu) = probe.sample(t0).unwrap();
        // A test binary holds at least a megabyte, and far less than a terabyte.
        assert!(memory_mb > 1.0 && memory_mb < 1e6, "{memory_mb} MB");
        assert_eq!(cpu, 0.0);
        // Burn CPU for a second's window, then look.
        let mut x = 0u64;
        while t0.elapsed() < CPU_WINDOW {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let (_, cpu) = probe.sample(Instant::now()).unwrap();
        assert!(cpu > 0.0 && cpu <= 100.0, "{cpu} %");
    }
}
