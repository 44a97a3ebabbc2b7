//! The master's state as the gRPC tasks and the run share it: the pure
//! [`MasterState`] behind a lock, and the effects of its events (log lines,
//! the state every worker stream watches, the dashboard).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use lps_config::Plan;
use lps_engine::{Aggregate, RoundGate, Snapshot, Terminations};
use tokio::sync::watch;

use super::MasterConfig;
use super::state::{Event, MasterState, Now, Rules, State};
use super::views;
use crate::cluster;
use crate::dashboard::live::{Live, NodeSource};
use crate::rules::{RuleState, Watch};

/// How often the dashboard's nodes table is rebuilt.
const NODES_REFRESH: Duration = Duration::from_millis(500);

/// The global test state, shared by the gRPC tasks, the timers and the run.
pub struct Master {
    state: Mutex<MasterState>,
    /// State and start instant, watched by every worker stream.
    state_tx: watch::Sender<(State, u64)>,
    /// When every node was done, while that holds: the run waits on it.
    ended_tx: watch::Sender<Option<Instant>>,
    /// The round released last and its start (Unix ms), watched by every
    /// worker stream.
    round_tx: watch::Sender<(u32, u64)>,
    /// The round gate of the master's own load (when it runs load): its
    /// rounds are released with every node's.
    pub own_rounds: Arc<RoundGate>,
    /// The plan's fingerprint: a worker with another plan is refused.
    pub fingerprint: String,
    /// Iterations of the plan: the size of a snapshot.
    pub iterations: usize,
    pub cfg: MasterConfig,
    /// How workers know this master (in their welcome).
    pub master_id: String,
    /// This master process's instance (in every welcome): a worker that
    /// meets another one knows the master restarted.
    pub instance: u64,
    /// The dashboard's view, fed with every merged snapshot.
    pub live: Option<Arc<Live>>,
    /// The iterations the termination rules ended: the master's own load
    /// stops them, and every worker stream tells its worker.
    pub terminations: Arc<Terminations>,
    /// The termination rules, judged on every node's merged data.
    watch: Mutex<Option<Watch>>,
    /// The iterations terminated so far (plan indices), watched by every
    /// worker stream.
    terminated_tx: watch::Sender<Vec<u32>>,
}

/// The time now, on both clocks.
pub fn now() -> Now {
    Now {
        instant: Instant::now(),
        unix_ms: cluster::unix_ms(SystemTime::now()),
    }
}

impl Master {
    pub fn new(plan: &Plan, cfg: MasterConfig, live: Option<Arc<Live>>) -> Master {
        let iterations = plan.rounds.iter().map(|r| r.iterations.len()).sum();
        let terminations = Arc::new(Terminations::new(iterations));
        let watch = Watch::new(plan, terminations.clone());
        let rules = Rules {
            expected_workers: cfg.expected_workers,
            master_is_worker: cfg.master_is_worker,
            heartbeat_timeout: cfg.heartbeat_timeout,
            iterations,
            max_nodes: cfg.max_nodes,
            rounds: u32::try_from(plan.rounds.len()).unwrap_or(u32::MAX),
        };
        Master {
            state: Mutex::new(MasterState::new(rules)),
            state_tx: watch::channel((State::Idle, 0)).0,
            ended_tx: watch::channel(None).0,
            round_tx: watch::channel((0, 0)).0,
            own_rounds: Arc::new(RoundGate::new(plan.rounds.len())),
            fingerprint: cluster::fingerprint(plan),
            iterations,
            master_id: format!("master@{}", cfg.listen),
            instance: cluster::process_instance(),
            cfg,
            live,
            terminations,
            watch: Mutex::new(watch),
            terminated_tx: watch::channel(Vec::new()).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, MasterState> {
        // A panic while holding the lock leaves plain counters behind, which
        // are still the best data there is: keep going with them.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a transition at the time now, then tells the world what it did.
    pub fn update<R>(&self, transition: impl FnOnce(&mut MasterState, Now) -> R) -> R {
        let mut state = self.lock();
        let r = transition(&mut state, now());
        self.publish(&mut state);
        r
    }

    pub fn read<R>(&self, f: impl FnOnce(&MasterState) -> R) -> R {
        f(&self.lock())
    }

    /// Logs the events and announces state changes, still under the lock so
    /// that every watcher sees them in order.
    fn publish(&self, state: &mut MasterState) {
        for event in state.take_events() {
            log::info!("lps master: {event}");
            match event {
                Event::State { to, .. } => {
                    self.state_tx.send_replace((to, state.start_at_ms()));
                    if let Some(live) = &self.live {
                        live.set_state(to.as_str());
                    }
                }
                Event::RoundStart { round, at_ms, .. } => {
                    self.round_tx.send_replace((round, at_ms));
                    let at = cluster::instant_of_unix_ms(at_ms);
                    self.own_rounds.release(round as usize, at);
                }
                _ => {}
            }
        }
        let ended = state.ended();
        self.ended_tx.send_if_modified(|e| {
            let changed = *e != ended;
            *e = ended;
            changed
        });
    }

    /// The state and start instant, from now on.
    pub fn states(&self) -> watch::Receiver<(State, u64)> {
        self.state_tx.subscribe()
    }

    /// The round released last and its start (Unix ms), from now on.
    pub fn rounds(&self) -> watch::Receiver<(u32, u64)> {
        self.round_tx.subscribe()
    }

    /// Tells the state the rounds the master's own load finished since
    /// `reported` (how many it had finished when last told).
    pub fn note_own_rounds(&self, reported: &mut usize) {
        let done = self.own_rounds.local_done();
        if done > *reported {
            *reported = done;
            let round = u32::try_from(done - 1).unwrap_or(u32::MAX);
            self.update(|state, now| state.round_done("master", round, now));
        }
    }

    /// The iterations terminated so far, from now on.
    pub fn terminated(&self) -> watch::Receiver<Vec<u32>> {
        self.terminated_tx.subscribe()
    }

    /// Judges the termination rules on every node's merged data while the
    /// test runs; the iterations they terminate stop on this node and are
    /// told to every worker.
    pub fn check_terminations(&self) {
        let mut watch = self.watch.lock().unwrap_or_else(|e| e.into_inner());
        let Some(w) = watch.as_mut() else { return };
        let now = now();
        let (global, now_us) = {
            let state = self.lock();
            if state.state() != State::Running {
                return;
            }
            let now_us = now.unix_ms.saturating_sub(state.start_at_ms()) * 1000;
            (state.global(), now_us)
        };
        let ended = w.check(&global, now_us, now.instant);
        if let Some(live) = &self.live {
            live.set_rules(w.states(now.instant));
        }
        if !ended.is_empty() {
            let ended = ended
                .into_iter()
                .map(|i| u32::try_from(i).unwrap_or(u32::MAX));
            self.terminated_tx.send_modify(|all| all.extend(ended));
        }
    }

    /// The termination rules as they stand (for the report).
    pub fn rule_states(&self) -> Vec<RuleState> {
        let watch = self.watch.lock().unwrap_or_else(|e| e.into_inner());
        (watch.as_ref()).map_or_else(Vec::new, |w| w.states(Instant::now()))
    }

    /// Whether the plan has termination rules to judge.
    pub fn has_termination_rules(&self) -> bool {
        self.watch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// When every node was done, from now on.
    pub fn ends(&self) -> watch::Receiver<Option<Instant>> {
        self.ended_tx.subscribe()
    }

    /// Merges the master's own snapshot `seq`.
    pub fn apply_own(&self, seq: u64, snap: &Snapshot) {
        if let Some(live) = &self.live {
            live.add("master", snap);
        }
        self.update(|state, _| state.apply_own(seq, snap));
    }

    /// Brings the dashboard's view up to date while the run lasts (the
    /// nodes table at most every [`NODES_REFRESH`], from `last`).
    pub fn refresh_live(&self, last: &mut Option<Instant>) {
        let Some(live) = &self.live else { return };
        // Under the lock: the final nodes table, set by the run's end, stays.
        let state = self.lock();
        if state.state().is_final() {
            return;
        }
        live.tick_if_due();
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= NODES_REFRESH) {
            live.set_nodes(views::node_views(&state, now));
            *last = Some(now);
        }
    }

    /// The run is over: its final state, shown with the final nodes table.
    pub fn end(&self) -> State {
        let mut state = self.lock();
        let end = state.end();
        self.publish(&mut state);
        if let Some(live) = &self.live {
            live.set_nodes(views::node_views(&state, Instant::now()));
        }
        end
    }
}

/// The dashboard reads each node's stats from the state, which keeps them
/// anyway.
impl NodeSource for Master {
    fn each_node(&self, f: &mut dyn FnMut(&str, &Aggregate)) {
        let state = self.lock();
        for n in state.nodes() {
            f(&n.id, &n.aggregate);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use lps_proto as proto;

    pub fn plan() -> Plan {
        let text = "name: P\nrounds:\n  - name: R\n    iterations:\n      - name: a\n        requestCount: 5\n        httpRequest:\n          url: http://127.0.0.1:9/\n";
        let file = lps_config::parse_plan(text, "p.yaml", lps_config::Format::Yaml).unwrap();
        file.into_plan(lps_config::Origin::new("p.yaml")).unwrap()
    }

    pub fn master(expected_workers: u32) -> Master {
        let cfg = MasterConfig {
            listen: "127.0.0.1:1".parse().unwrap(),
            secret: None,
            expected_workers,
            master_is_worker: false,
            heartbeat_timeout: Duration::from_secs(3),
            max_nodes: 1000,
            tls: None,
            watchdog: None,
        };
        Master::new(&plan(), cfg, None)
    }

    pub fn register(master: &Master, id: &str) {
        let reg = proto::Register {
            node_id: id.into(),
            host: "h".into(),
            cores: 1,
            ..Default::default()
        };
        master
            .update(|state, now| state.register(&reg, now))
            .expect("registers");
    }

    #[test]
    fn state_changes_and_the_end_are_announced_to_watchers() {
        let master = master(1);
        assert_eq!(master.master_id, "master@127.0.0.1:1");
        assert_eq!(master.iterations, 1);
        let mut states = master.states();
        let ends = master.ends();
        assert_eq!(*states.borrow_and_update(), (State::Idle, 0));
        register(&master, "w1");
        assert!(states.has_changed().unwrap());
        let (state, at) = *states.borrow_and_update();
        assert_eq!(state, State::Ready);
        assert_eq!(at, master.read(|s| s.start_at_ms()));
        assert_eq!(*ends.borrow(), None);
        master.update(|state, now| state.finished("w1", 0, now));
        let ended = *ends.borrow();
        assert!(ended.is_some());
        assert_eq!(ended, master.read(|s| s.ended()));
        // Nothing else changed the state.
        assert!(!states.has_changed().unwrap());
        assert_eq!(master.end(), State::Completed);
        assert_eq!(states.borrow_and_update().0, State::Completed);
    }
}
