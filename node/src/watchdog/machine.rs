//! LPS's watchdog state machine (`LPS.Infrastructure/Watchdog/Watchdog.cs`,
//! `SampleOnceAsync`), as a pure function of the samples and their times.
//!
//! Hot when a measure passes its `Max…` limit (`SuspensionMode` Any) or all
//! of them do (All); once not cool, cooling until the measures are back under
//! their `CoolDown…` limits (hysteresis); not cool for longer than
//! `MaxCoolingPeriod`, the watchdog gives up for `ResumeCoolingAfter` and
//! lets the load flow whatever the pressure.

use std::time::Instant;

use lps_config::{SuspensionMode, WatchdogSettings};

/// One sample of what the watchdog watches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measures {
    /// This process's resident memory, in MB.
    pub memory_mb: f64,
    /// This process's CPU time over the last second, in % of the cores it may use.
    pub cpu_percent: f64,
    /// This node's requests sent and not yet answered.
    pub in_flight: u64,
}

/// Whether the load may flow: only while [`State::Cool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Cool,
    /// Not hot any more, and not yet under the cool-down limits.
    Cooling,
    Hot,
}

/// What a sample came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub state: State,
    /// The load had been held longer than `MaxCoolingPeriod`: the watchdog
    /// gave up at this sample, for `ResumeCoolingAfter`.
    pub gave_up: bool,
}

/// The watchdog's state between samples.
#[derive(Debug)]
pub struct Machine {
    limits: WatchdogSettings,
    state: State,
    /// Since when the state has not been cool (LPS's max-cooling stopwatch).
    not_cool_since: Option<Instant>,
    /// Since when the watchdog has given up (LPS's "cooling paused").
    gave_up_at: Option<Instant>,
}

impl Machine {
    pub fn new(limits: WatchdogSettings) -> Machine {
        Machine {
            limits,
            state: State::Cool,
            not_cool_since: None,
            gave_up_at: None,
        }
    }

    pub fn limits(&self) -> &WatchdogSettings {
        &self.limits
    }

    /// The state after the sample `m` taken at `now`.
    pub fn step(&mut self, m: Measures, now: Instant) -> Step {
        let (hot, cooling) = (self.over(m, Limit::Max), self.over(m, Limit::CoolDown));
        if let Some(at) = self.gave_up_at
            && now.duration_since(at) > self.limits.resume_cooling_after
        {
            self.gave_up_at = None;
        }
        let mut next = if self.gave_up_at.is_some() {
            State::Cool
        } else if hot {
            State::Hot
        } else if cooling && self.state != State::Cool {
            State::Cooling
        } else {
            State::Cool
        };
        let mut gave_up = false;
        if next == State::Cool {
            self.not_cool_since = None;
        } else {
            let since = *self.not_cool_since.get_or_insert(now);
            if now.duration_since(since) > self.limits.max_cooling_period {
                self.not_cool_since = None;
                self.gave_up_at = Some(now);
                gave_up = true;
                next = State::Cool;
            }
        }
        self.state = next;
        Step {
            state: next,
            gave_up,
        }
    }

    /// Whether `m` is over the `Max…` or the `CoolDown…` limits, as the
    /// suspension mode combines them. This node's requests in flight count
    /// as LPS's one observed host.
    fn over(&self, m: Measures, limit: Limit) -> bool {
        let [memory, cpu, in_flight] = self.exceeded(m, limit);
        match self.limits.suspension_mode {
            SuspensionMode::Any => memory || cpu || in_flight,
            SuspensionMode::All => memory && cpu && in_flight,
        }
    }

    /// Memory, CPU and requests in flight: each over its limit or not (LPS:
    /// memory and requests above, CPU at or above).
    fn exceeded(&self, m: Measures, limit: Limit) -> [bool; 3] {
        let l = &self.limits;
        let (memory, cpu, in_flight) = match limit {
            Limit::Max => (
                l.max_memory_mb,
                l.max_cpu_percentage,
                l.max_connections_per_host,
            ),
            Limit::CoolDown => (
                l.cool_down_memory_mb,
                l.cool_down_cpu_percentage,
                l.cool_down_connections_per_host,
            ),
        };
        [
            m.memory_mb > memory as f64,
            m.cpu_percent >= cpu as f64,
            m.in_flight > in_flight,
        ]
    }

    /// Why the load is held in `state` at the sample `m`: each measure over
    /// the limit that holds it, e.g. `memory 1210 MB > 1000 MB`.
    pub fn reason(&self, m: Measures, state: State) -> String {
        let (limit, l) = match state {
            State::Cool => return String::new(),
            State::Hot => (Limit::Max, &self.limits),
            State::Cooling => (Limit::CoolDown, &self.limits),
        };
        let [memory, cpu, in_flight] = self.exceeded(m, limit);
        let (max_mem, max_cpu, max_flight) = match limit {
            Limit::Max => (
                l.max_memory_mb,
                l.max_cpu_percentage,
                l.max_connections_per_host,
            ),
            Limit::CoolDown => (
                l.cool_down_memory_mb,
                l.cool_down_cpu_percentage,
                l.cool_down_connections_per_host,
            ),
        };
        let mut parts = Vec::new();
        if memory {
            parts.push(format!("memory {:.0} MB > {max_mem} MB", m.memory_mb));
        }
        if cpu {
            parts.push(format!("CPU {:.0} % >= {max_cpu} %", m.cpu_percent));
        }
        if in_flight {
            parts.push(format!("requests in flight {} > {max_flight}", m.in_flight));
        }
        let parts = parts.join(", ");
        match state {
            State::Cooling => format!("cooling until under the cool-down limits: {parts}"),
            _ => parts,
        }
    }
}

/// Which of the two limits of each measure.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Max,
    CoolDown,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Limits: memory 1000/500 MB, CPU 50/30 %, in flight 1000/100;
    /// MaxCoolingPeriod 60 s, ResumeCoolingAfter 300 s (LPS's defaults).
    fn machine(mode: SuspensionMode) -> Machine {
        Machine::new(WatchdogSettings {
            suspension_mode: mode,
            ..WatchdogSettings::default()
        })
    }

    fn m(memory_mb: f64, cpu_percent: f64, in_flight: u64) -> Measures {
        Measures {
            memory_mb,
            cpu_percent,
            in_flight,
        }
    }

    /// The states after each sample, one a second from `t0`.
    fn states(machine: &mut Machine, t0: Instant, samples: &[Measures]) -> Vec<State> {
        let mut at = t0;
        samples
            .iter()
            .map(|s| {
                let step = machine.step(*s, at);
                at += Duration::from_secs(1);
                step.state
            })
            .collect()
    }

    use State::{Cool, Cooling, Hot};

    #[test]
    fn any_limit_passed_holds_the_load_until_every_measure_is_under_its_cool_down() {
        let mut w = machine(SuspensionMode::Any);
        let got = states(
            &mut w,
            Instant::now(),
            &[
                // Warm but never hot: the load flows (hysteresis).
                m(700.0, 40.0, 500),
                // Memory passes its limit.
                m(1001.0, 0.0, 0),
                // Under the limit, over the cool-down: still held.
                m(999.0, 0.0, 0),
                m(501.0, 0.0, 0),
                // Memory cool, CPU over its cool-down (>=): still held.
                m(500.0, 30.0, 0),
                // In flight over its cool-down.
                m(500.0, 29.0, 101),
                // Everything under its cool-down: the load resumes.
                m(500.0, 29.0, 100),
                m(700.0, 40.0, 500),
                // CPU at its limit (>=) is hot; so is in flight above its.
                m(0.0, 50.0, 0),
                m(0.0, 0.0, 0),
                m(0.0, 0.0, 1001),
            ],
        );
        assert_eq!(
            got,
            [
                Cool, Hot, Cooling, Cooling, Cooling, Cooling, Cool, Cool, Hot, Cool, Hot
            ]
        );
    }

    #[test]
    fn all_limits_must_pass_together() {
        let mut w = machine(SuspensionMode::All);
        let got = states(
            &mut w,
            Instant::now(),
            &[
                m(5000.0, 99.0, 1000),
                m(5000.0, 99.0, 1001),
                // One measure under its cool-down is enough to resume.
                m(5000.0, 99.0, 100),
                m(5000.0, 10.0, 5000),
                m(400.0, 99.0, 5000),
                m(1001.0, 50.0, 1001),
                m(600.0, 35.0, 200),
            ],
        );
        assert_eq!(got, [Cool, Hot, Cool, Cool, Cool, Hot, Cooling]);
    }

    #[test]
    fn held_past_max_cooling_period_the_watchdog_gives_up_for_resume_cooling_after() {
        let mut w = Machine::new(WatchdogSettings {
            max_cooling_period: Duration::from_secs(2),
            resume_cooling_after: Duration::from_secs(3),
            ..WatchdogSettings::default()
        });
        let hot = m(2000.0, 0.0, 0);
        let t0 = Instant::now();
        let mut got = Vec::new();
        for s in 0..12 {
            let step = w.step(hot, t0 + Duration::from_secs(s));
            got.push((step.state, step.gave_up));
        }
        assert_eq!(
            got,
            [
                // Held at 0, 1 and 2 s; more than 2 s at 3 s: given up.
                (Hot, false),
                (Hot, false),
                (Hot, false),
                (Cool, true),
                // Given up at 3 s, for more than 3 s: until 7 s.
                (Cool, false),
                (Cool, false),
                (Cool, false),
                // Held again from 7 s; given up again at 10 s.
                (Hot, false),
                (Hot, false),
                (Hot, false),
                (Cool, true),
                (Cool, false),
            ]
        );
    }

    #[test]
    fn a_pause_that_ends_in_time_restarts_the_max_cooling_clock() {
        let mut w = Machine::new(WatchdogSettings {
            max_cooling_period: Duration::from_secs(2),
            ..WatchdogSettings::default()
        });
        let (hot, cool) = (m(2000.0, 0.0, 0), m(0.0, 0.0, 0));
        let got = states(
            &mut w,
            Instant::now(),
            &[hot, hot, cool, hot, hot, hot, hot],
        );
        assert_eq!(got, [Hot, Hot, Cool, Hot, Hot, Hot, Cool]);
    }

    #[test]
    fn the_reason_names_each_measure_over_the_limit_that_holds_the_load() {
        let w = machine(SuspensionMode::Any);
        assert_eq!(
            w.reason(m(1210.4, 55.0, 10), Hot),
            "memory 1210 MB > 1000 MB, CPU 55 % >= 50 %"
        );
        assert_eq!(
            w.reason(m(600.0, 10.0, 150), Cooling),
            "cooling until under the cool-down limits: memory 600 MB > 500 MB, \
             requests in flight 150 > 100"
        );
        assert_eq!(w.reason(m(0.0, 0.0, 0), Cool), "");
    }
}
