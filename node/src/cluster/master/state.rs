//! The master's state machine, pure: every transition takes the time it
//! happens at (`Now`), and what a caller must tell the world (log lines,
//! state changes) is queued as [`Event`]s instead of done here.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use lps_engine::{Aggregate, Snapshot};
use lps_proto as proto;

use crate::cluster::Counts;

/// The node id of the master's own load (`MasterNodeIsWorker`).
pub const OWN_NODE: &str = "master";

/// How far ahead of "ready" the shared start instant lies.
pub const START_LEAD: Duration = Duration::from_millis(400);
/// How far ahead of the release a round's shared start instant lies: time
/// for the RoundStart to reach every node, so that they start it together.
pub const ROUND_LEAD: Duration = Duration::from_millis(100);
/// The timers run every 100 ms: a gap between two runs longer than this is
/// a pause of the master itself, not of its workers.
const PAUSE: Duration = Duration::from_millis(500);

/// The cluster's test state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Idle,
    Ready,
    Running,
    Completed,
    Cancelled,
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Ready => "Ready",
            State::Running => "Running",
            State::Completed => "Completed",
            State::Cancelled => "Cancelled",
        }
    }

    pub fn to_proto(self) -> proto::State {
        match self {
            State::Idle => proto::State::Idle,
            State::Ready => proto::State::Ready,
            State::Running => proto::State::Running,
            State::Completed => proto::State::Completed,
            State::Cancelled => proto::State::Cancelled,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, State::Completed | State::Cancelled)
    }
}

/// What a node is doing, as the master sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Registered while the master was idle; waits for the start.
    Observer,
    Running,
    Finished,
    /// No heartbeat within the timeout; its data so far is kept.
    Lost,
}

impl Phase {
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Observer => "Observer",
            Phase::Running => "Running",
            Phase::Finished => "Finished",
            Phase::Lost => "Lost",
        }
    }
}

/// The time a transition happens at, on both clocks: the local one for
/// heartbeats, the wall clock that every node shares for the start instant.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub instant: Instant,
    pub unix_ms: u64,
}

/// The rules of one run, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// `ExpectedNumberOfWorkers`: the barrier before the start.
    pub expected_workers: u32,
    /// The master runs load as a node of its own.
    pub master_is_worker: bool,
    /// A worker silent this long is lost.
    pub heartbeat_timeout: Duration,
    /// Iterations of the plan (rounds flattened): the size of an aggregate.
    pub iterations: usize,
    /// `MaxNodes`: the most workers the master keeps; more are refused.
    pub max_nodes: u32,
    /// Rounds of the plan: each after the first starts once every node
    /// finished the one before.
    pub rounds: u32,
}

/// One node's entry in the global state.
#[derive(Debug)]
pub struct Node {
    pub id: String,
    /// The worker process's `Register.instance`; 0 for the master's own node.
    pub instance: u64,
    pub host: String,
    pub cores: u32,
    pub is_master: bool,
    pub phase: Phase,
    /// Highest snapshot seq merged; a resent snapshot at or below it is skipped.
    pub applied_seq: u64,
    /// Snapshots of it this master merged (what its stream cost the master).
    pub merged: u64,
    /// The seq of the node's last snapshot, once it said it finished.
    pub finished_seq: Option<u64>,
    /// Its merged snapshots; left empty (no histograms allocated) until the
    /// first one, so that a registration alone costs next to nothing.
    pub aggregate: Aggregate,
    pub last_seen: Instant,
    /// The latest snapshot's elapsed time, for the node's own rate.
    pub elapsed: Duration,
    /// It joined this master mid-run (the master restarted) and brought
    /// its result from before this master started.
    pub caught_up: bool,
    /// Open sessions of the worker: while it has none it does not count
    /// toward the barrier (and before the start it is forgotten).
    pub sessions: u32,
    /// What its merged snapshots add up to, bounded by what its cores could do.
    pub counts: Counts,
    /// Its snapshots refused as impossible; the first one is logged.
    pub refused: u64,
    /// Rounds it finished (or skipped, joining late): it holds up the start
    /// of round `rounds_done + 1` and later ones.
    pub rounds_done: u32,
    /// It sent a RoundDone for a round the plan does not have (logged once).
    pub bad_round: bool,
    /// Its place among the nodes that run from the start: it takes the
    /// feeders' rows `slot`, `slot + n`, ... `None`: it joined late.
    pub feed_slot: Option<u32>,
}

impl Node {
    fn new(id: String, instance: u64, host: String, cores: u32, phase: Phase, now: Now) -> Node {
        Node {
            id,
            instance,
            host,
            cores,
            is_master: false,
            phase,
            applied_seq: 0,
            merged: 0,
            finished_seq: None,
            aggregate: Aggregate::new(0),
            last_seen: now.instant,
            elapsed: Duration::ZERO,
            sessions: 0,
            counts: Counts::default(),
            refused: 0,
            caught_up: false,
            rounds_done: 0,
            bad_round: false,
            feed_slot: None,
        }
    }

    /// A node that lost contact and is heard from again resumes its phase
    /// (an observer still, before the start).
    fn recover(&mut self, idle: bool) {
        self.phase = if idle {
            Phase::Observer
        } else if self
            .finished_seq
            .is_some_and(|last| self.applied_seq >= last)
        {
            Phase::Finished
        } else {
            Phase::Running
        };
    }

    /// Merges a snapshot (no check: the master's own, or one checked).
    fn merge(&mut self, snap: &Snapshot, iterations: usize) {
        if self.aggregate.iterations.len() != iterations {
            self.aggregate = Aggregate::new(iterations);
        }
        self.aggregate.add(snap);
        self.elapsed = self.elapsed.max(snap.elapsed);
    }

    /// Merges a worker's snapshot if its counts, added to the node's, are
    /// ones its cores could have reached in its run so far.
    fn merge_checked(&mut self, snap: &Snapshot, iterations: usize) -> Result<(), String> {
        let elapsed = self.elapsed.max(snap.elapsed);
        self.counts = self
            .counts
            .add_within(Counts::of(snap), self.cores, elapsed)
            .map_err(|e| e.to_string())?;
        self.merge(snap, iterations);
        Ok(())
    }
}

/// What happened, for the caller to log and announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    State {
        from: State,
        to: State,
    },
    Registered {
        node: String,
        host: String,
        cores: u32,
        observer: bool,
    },
    /// A lost worker registered again.
    Back {
        node: String,
    },
    Finished {
        node: String,
        requests: u64,
        /// Snapshots of it this master merged.
        snapshots: u64,
    },
    /// A worker brought its result from before this master started.
    CaughtUp {
        node: String,
        elapsed: Duration,
    },
    Lost {
        node: String,
        timeout: Duration,
        applied_seq: u64,
    },
    /// A worker's first snapshot whose counts no node could have made.
    Refused {
        node: String,
        seq: u64,
        why: String,
    },
    /// The first worker refused because `MaxNodes` were registered.
    Full {
        max: u32,
    },
    /// A worker left before the start: it is forgotten.
    Left {
        node: String,
    },
    /// Every node still in the test finished round `round - 1`: round
    /// `round` (0-based) starts at `at_ms` (Unix ms) on every node.
    RoundStart {
        round: u32,
        rounds: u32,
        at_ms: u64,
    },
    /// A worker's first RoundDone for a round the plan does not have.
    BadRound {
        node: String,
        round: u32,
        rounds: u32,
    },
}

/// The log line of an event, after "lps master: ".
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::State { from, to } => write!(f, "{} -> {}", from.as_str(), to.as_str()),
            Event::Registered {
                node,
                host,
                cores,
                observer,
            } => write!(
                f,
                "worker {node} registered from {host} ({cores} cores){}",
                if *observer { " as observer" } else { "" }
            ),
            Event::Back { node } => write!(f, "worker {node} is back"),
            Event::Finished {
                node,
                requests,
                snapshots,
            } => write!(
                f,
                "{node} finished ({requests} requests, {snapshots} snapshots merged)"
            ),
            Event::CaughtUp { node, elapsed } => write!(
                f,
                "worker {node} caught up: it brought its result from before this master started ({:.1} s of its run)",
                elapsed.as_secs_f64()
            ),
            Event::Lost {
                node,
                timeout,
                applied_seq,
            } => write!(
                f,
                "worker {node} lost (no heartbeat for {timeout:?}); its data up to snapshot {applied_seq} is kept"
            ),
            Event::Refused { node, seq, why } => write!(
                f,
                "refused snapshot {seq} of {node}: {why}; its data so far is kept, and its next refused snapshots are not logged"
            ),
            Event::Full { max } => write!(
                f,
                "refusing new workers: MaxNodes ({max}) are registered; the next refusals are not logged"
            ),
            Event::Left { node } => write!(f, "worker {node} left before the start"),
            Event::RoundStart { round, rounds, .. } => write!(
                f,
                "round {} of {rounds} starts: every node finished round {round}",
                round + 1
            ),
            Event::BadRound {
                node,
                round,
                rounds,
            } => write!(
                f,
                "ignored {node}'s end of round index {round}: the plan has {rounds} rounds; its next ones are not logged"
            ),
        }
    }
}

/// Why a registration is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegisterError {
    #[error("the test is already over")]
    Over,
    #[error("node id {id:?} is the master's own: give the worker another --node-id")]
    MastersOwnId { id: String },
    #[error(
        "node id {id:?} is taken by another worker (from {host:?}): give each worker its own --node-id"
    )]
    Taken { id: String, host: String },
    #[error("the master has its MaxNodes ({max}) workers already")]
    Full { max: u32 },
}

/// A snapshot came from a node that never registered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("node not registered")]
pub struct NotRegistered;

/// What a registered worker is told first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Welcome {
    /// The state when it registered (a change it causes follows as such).
    pub state: State,
    /// Highest snapshot seq merged for it: a reconnect resends the rest.
    pub applied_seq: u64,
    /// It registered while the master was idle and waits for the start.
    pub observer: bool,
    /// The round the test is at (0-based), and when it starts (Unix ms).
    pub round: u32,
    pub round_start_ms: u64,
}

/// A snapshot's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Highest seq merged for the node, to acknowledge.
    pub applied_seq: u64,
    /// This snapshot was new and merged (not a resend).
    pub merged: bool,
}

/// The master's global test state: the run's state and every node's.
#[derive(Debug)]
pub struct MasterState {
    rules: Rules,
    state: State,
    /// The shared start instant, in Unix ms; 0 until Ready.
    start_at_ms: u64,
    nodes: Vec<Node>,
    /// Each node's place in `nodes`, by id: a snapshot or heartbeat finds
    /// its node without a walk over thousands.
    index: HashMap<String, usize>,
    /// When every node was last seen finished or lost, while that holds.
    ended: Option<Instant>,
    /// Events not yet taken by the caller, oldest first.
    events: Vec<Event>,
    /// A registration was refused for `MaxNodes` (logged once).
    full: bool,
    /// The round released last (0-based): the test is at it.
    round: u32,
    /// When that round starts, in Unix ms (the start instant for round 0).
    round_start_ms: u64,
    /// Nodes that run from the start, each with its feed slot (set at Ready).
    feed_nodes: u32,
    /// When the timers last ran: a longer gap than [`PAUSE`] was the
    /// master's own pause.
    last_tick: Option<Instant>,
}

impl MasterState {
    pub fn new(rules: Rules) -> MasterState {
        MasterState {
            rules,
            state: State::Idle,
            start_at_ms: 0,
            nodes: Vec::new(),
            index: HashMap::new(),
            ended: None,
            events: Vec::new(),
            full: false,
            round: 0,
            round_start_ms: 0,
            feed_nodes: 0,
            last_tick: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn start_at_ms(&self) -> u64 {
        self.start_at_ms
    }

    /// The round the test is at (0-based) and when it starts (Unix ms).
    #[cfg(test)]
    pub fn round(&self) -> (u32, u64) {
        (self.round, self.round_start_ms)
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// When the run's nodes were all done (finished or lost), if they are.
    pub fn ended(&self) -> Option<Instant> {
        self.ended
    }

    /// Takes the events queued so far, oldest first.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn cores_of(&self, node_id: &str) -> Option<u32> {
        self.node(node_id).map(|n| n.cores)
    }

    fn node(&self, node_id: &str) -> Option<&Node> {
        self.index.get(node_id).map(|&at| &self.nodes[at])
    }

    fn node_mut(&mut self, node_id: &str) -> Option<&mut Node> {
        self.index.get(node_id).map(|&at| &mut self.nodes[at])
    }

    /// Adds a node, and its place to the index.
    fn push_node(&mut self, node: Node) {
        self.index.insert(node.id.clone(), self.nodes.len());
        self.nodes.push(node);
    }

    fn set_state(&mut self, to: State) {
        if self.state != to {
            self.events.push(Event::State {
                from: self.state,
                to,
            });
            self.state = to;
        }
    }

    /// Adds the master's own node, which runs load like a worker's.
    pub fn add_master_node(&mut self, host: String, cores: u32, now: Now) {
        let mut own = Node::new(OWN_NODE.into(), 0, host, cores, Phase::Observer, now);
        own.is_master = true;
        self.push_node(own);
        self.note_end(now);
    }

    /// Idle -> Ready once enough workers are ready to run, the start
    /// [`START_LEAD`] ahead; the observers then run, each given its feed
    /// slot in node order (the master's own node first).
    pub fn check_ready(&mut self, now: Now) {
        if self.state != State::Idle || self.ready_workers() < self.rules.expected_workers {
            return;
        }
        self.start_at_ms = now.unix_ms + START_LEAD.as_millis() as u64;
        self.round_start_ms = self.start_at_ms;
        self.set_state(State::Ready);
        let mut slots = 0;
        for n in self.nodes.iter_mut().filter(|n| n.phase == Phase::Observer) {
            n.phase = Phase::Running;
            n.feed_slot = Some(slots);
            slots += 1;
        }
        self.feed_nodes = slots;
        self.note_end(now);
    }

    /// Node `node_id`'s share of every feeder's rows: `(slot, nodes)` for
    /// a node that runs from the start; `(0, 0)`, no rows, for one that
    /// joined later (the rows are all shared out already) or is unknown.
    pub fn feed_share(&self, node_id: &str) -> (u32, u32) {
        match self.node(node_id).and_then(|n| n.feed_slot) {
            Some(slot) => (slot, self.feed_nodes),
            None => (0, 0),
        }
    }

    /// Workers that took part (whatever became of them).
    fn workers(&self) -> u32 {
        self.nodes.iter().filter(|n| !n.is_master).count() as u32
    }

    /// Workers that count toward the barrier: connected, not lost.
    fn ready_workers(&self) -> u32 {
        self.nodes
            .iter()
            .filter(|n| !n.is_master && n.sessions > 0 && n.phase != Phase::Lost)
            .count() as u32
    }

    /// Registers a new worker, or takes back one that reconnects (the same
    /// process: the same `instance`), for a session that [`MasterState::left`]
    /// ends.
    pub fn register(&mut self, reg: &proto::Register, now: Now) -> Result<Welcome, RegisterError> {
        if self.state.is_final() {
            return Err(RegisterError::Over);
        }
        let observer = self.state == State::Idle;
        // What it is told is the test as it found it (a change it causes follows).
        let (state, round, round_start_ms) = (self.state, self.round, self.round_start_ms);
        let at = self.index.get(&reg.node_id).copied();
        let applied_seq = match at.map(|at| &mut self.nodes[at]) {
            Some(node) if node.is_master => {
                return Err(RegisterError::MastersOwnId {
                    id: node.id.clone(),
                });
            }
            Some(node) if node.instance != reg.instance => {
                return Err(RegisterError::Taken {
                    id: node.id.clone(),
                    host: node.host.clone(),
                });
            }
            Some(node) => {
                if node.phase == Phase::Lost {
                    self.events.push(Event::Back {
                        node: node.id.clone(),
                    });
                    node.recover(observer);
                }
                node.last_seen = now.instant;
                node.sessions += 1;
                node.applied_seq
            }
            None => {
                self.add_worker(reg, observer, now)?;
                0
            }
        };
        self.check_ready(now);
        self.note_end(now);
        Ok(Welcome {
            state,
            applied_seq,
            observer,
            round,
            round_start_ms,
        })
    }

    /// Adds a worker with its first session, unless `MaxNodes` are there.
    fn add_worker(
        &mut self,
        reg: &proto::Register,
        observer: bool,
        now: Now,
    ) -> Result<(), RegisterError> {
        let max = self.rules.max_nodes;
        if self.workers() >= max {
            if !std::mem::replace(&mut self.full, true) {
                self.events.push(Event::Full { max });
            }
            return Err(RegisterError::Full { max });
        }
        self.events.push(Event::Registered {
            node: reg.node_id.clone(),
            host: reg.host.clone(),
            cores: reg.cores,
            observer,
        });
        let phase = if observer {
            Phase::Observer
        } else {
            Phase::Running
        };
        let mut node = Node::new(
            reg.node_id.clone(),
            reg.instance,
            reg.host.clone(),
            reg.cores,
            phase,
            now,
        );
        node.sessions = 1;
        // A worker joining a running test starts at the round the test is
        // at: the rounds before count as done (it skips them).
        node.rounds_done = self.round;
        self.push_node(node);
        Ok(())
    }

    /// A session of worker `node_id` (process `instance`) ended. Before the
    /// start a worker left without a session is forgotten: it has no data,
    /// and ids that came and went must not pile up nor count toward the
    /// barrier.
    pub fn left(&mut self, node_id: &str, instance: u64, now: Now) {
        let Some(at) = self
            .nodes
            .iter()
            .position(|n| n.id == node_id && n.instance == instance && !n.is_master)
        else {
            return;
        };
        let node = &mut self.nodes[at];
        node.sessions = node.sessions.saturating_sub(1);
        if node.sessions == 0 && self.state == State::Idle {
            let node = self.nodes.remove(at);
            // Rare (before the start only): the places after it moved.
            self.index = (self.nodes.iter().enumerate())
                .map(|(i, n)| (n.id.clone(), i))
                .collect();
            self.events.push(Event::Left { node: node.id });
        }
        self.note_end(now);
    }

    /// Merges a worker's (decoded) snapshot `seq` once; one whose counts its
    /// node could not have reached is refused instead.
    pub fn apply(
        &mut self,
        node_id: &str,
        seq: u64,
        snap: &Snapshot,
        now: Now,
    ) -> Result<Applied, NotRegistered> {
        let iterations = self.rules.iterations;
        let at = *self.index.get(node_id).ok_or(NotRegistered)?;
        let node = &mut self.nodes[at];
        let mut merged = false;
        if seq > node.applied_seq {
            if let Err(why) = node.merge_checked(snap, iterations) {
                let applied_seq = self.refuse(node_id, seq, why, now)?;
                return Ok(Applied {
                    applied_seq,
                    merged,
                });
            }
            node.applied_seq = seq;
            node.merged += 1;
            merged = true;
        }
        node.last_seen = now.instant;
        let applied_seq = node.applied_seq;
        self.check_finished(at, now);
        Ok(Applied {
            applied_seq,
            merged,
        })
    }

    /// A worker's catch-up was merged: its run began before this master
    /// (a restarted one) started, and it brought everything up to `elapsed`.
    pub fn caught_up(&mut self, node_id: &str, elapsed: Duration) {
        if let Some(&at) = self.index.get(node_id)
            && let node = &mut self.nodes[at]
            && !std::mem::replace(&mut node.caught_up, true)
        {
            self.events.push(Event::CaughtUp {
                node: node.id.clone(),
                elapsed,
            });
        }
    }

    /// Refuses a worker's snapshot `seq` (`why`: what no node could have
    /// sent) but counts it as applied: a resend would be refused again, and
    /// the node's other snapshots still merge. Only a node's first refusal
    /// is logged. Returns the seq applied for it so far.
    pub fn refuse(
        &mut self,
        node_id: &str,
        seq: u64,
        why: String,
        now: Now,
    ) -> Result<u64, NotRegistered> {
        let at = *self.index.get(node_id).ok_or(NotRegistered)?;
        let node = &mut self.nodes[at];
        node.last_seen = now.instant;
        if seq > node.applied_seq {
            node.applied_seq = seq;
            node.refused += 1;
            if node.refused == 1 {
                self.events.push(Event::Refused {
                    node: node.id.clone(),
                    seq,
                    why,
                });
            }
        }
        let applied_seq = node.applied_seq;
        self.check_finished(at, now);
        Ok(applied_seq)
    }

    /// A sign of life: a lost worker that sends one is back (and counts
    /// toward the barrier again).
    pub fn heartbeat(&mut self, node_id: &str, now: Now) {
        let idle = self.state == State::Idle;
        let Some(node) = self.node_mut(node_id) else {
            return;
        };
        node.last_seen = now.instant;
        // Only a node back from lost changes what the others wait for:
        // heartbeats of thousands of workers must not each walk them all.
        if node.phase == Phase::Lost {
            node.recover(idle);
            self.check_ready(now);
            self.note_end(now);
        }
    }

    /// A worker finished with snapshot `last_seq`; returns the seq applied
    /// for it so far.
    pub fn finished(&mut self, node_id: &str, last_seq: u64, now: Now) -> u64 {
        let Some(&at) = self.index.get(node_id) else {
            return 0;
        };
        let node = &mut self.nodes[at];
        node.finished_seq = Some(last_seq);
        node.last_seen = now.instant;
        let applied = node.applied_seq;
        self.check_finished(at, now);
        applied
    }

    /// Node `node_id` finished round `round` (0-based) on every core. A
    /// round it said before, or one before the round it joined at, changes
    /// nothing; a round the plan does not have is ignored (logged once).
    pub fn round_done(&mut self, node_id: &str, round: u32, now: Now) {
        let rounds = self.rules.rounds;
        let Some(&at) = self.index.get(node_id) else {
            return;
        };
        let node = &mut self.nodes[at];
        if round >= rounds {
            if !std::mem::replace(&mut node.bad_round, true) {
                self.events.push(Event::BadRound {
                    node: node.id.clone(),
                    round,
                    rounds,
                });
            }
            return;
        }
        node.rounds_done = node.rounds_done.max(round + 1);
        self.check_round(now);
    }

    /// Releases the next round, [`ROUND_LEAD`] ahead, once every node still
    /// in the test (running: not lost, not finished) finished the current
    /// one and at least one node did (with none, no node is there to run
    /// it). Lost and finished nodes hold nothing up.
    fn check_round(&mut self, now: Now) {
        if !matches!(self.state, State::Ready | State::Running) {
            return;
        }
        while self.round + 1 < self.rules.rounds {
            let current = self.round;
            let done = |n: &Node| n.rounds_done > current;
            let mut running = self.nodes.iter().filter(|n| n.phase == Phase::Running);
            if !(self.nodes.iter().any(done) && running.all(done)) {
                return;
            }
            self.round += 1;
            self.round_start_ms = now.unix_ms + ROUND_LEAD.as_millis() as u64;
            self.events.push(Event::RoundStart {
                round: self.round,
                rounds: self.rules.rounds,
                at_ms: self.round_start_ms,
            });
        }
    }

    /// The node at `at` is done once it said it finished and its every
    /// snapshot arrived. Only its own messages change that, so only it is
    /// looked at, and the others are walked only when it is newly done: a
    /// snapshot of one of thousands of workers costs no walk over them all.
    fn check_finished(&mut self, at: usize, now: Now) {
        let n = &mut self.nodes[at];
        if let Some(last) = n.finished_seq
            && n.applied_seq >= last
            && n.phase != Phase::Finished
        {
            n.phase = Phase::Finished;
            self.events.push(Event::Finished {
                node: n.id.clone(),
                requests: n.aggregate.total().requests(),
                snapshots: n.merged,
            });
            self.check_round(now);
            self.note_end(now);
        }
    }

    /// Merges the master's own snapshot `seq`.
    pub fn apply_own(&mut self, seq: u64, snap: &Snapshot) {
        let iterations = self.rules.iterations;
        if let Some(node) = self.nodes.iter_mut().find(|n| n.is_master) {
            node.merge(snap, iterations);
            node.applied_seq = seq;
        }
    }

    /// The master's own load is over, after snapshot `last_seq`.
    pub fn own_finished(&mut self, last_seq: u64, now: Now) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.is_master) {
            node.phase = Phase::Finished;
            node.finished_seq = Some(last_seq);
        }
        self.check_round(now);
        self.note_end(now);
    }

    /// The timers: silent workers are lost, and Ready turns Running at the
    /// start instant.
    pub fn tick(&mut self, now: Now) {
        self.forgive_own_pause(now);
        let timeout = self.rules.heartbeat_timeout;
        for n in self.nodes.iter_mut().filter(|n| !n.is_master) {
            let silent = now.instant.saturating_duration_since(n.last_seen) > timeout;
            if silent && matches!(n.phase, Phase::Running | Phase::Observer) {
                n.phase = Phase::Lost;
                self.events.push(Event::Lost {
                    node: n.id.clone(),
                    timeout,
                    applied_seq: n.applied_seq,
                });
            }
        }
        if self.state == State::Ready && now.unix_ms >= self.start_at_ms {
            self.set_state(State::Running);
        }
        // A lost node holds up no round.
        self.check_round(now);
        self.note_end(now);
    }

    /// A master that was paused (descheduled, stopped, swapping) saw no
    /// heartbeat meanwhile, but its workers sent them: they wait in its
    /// sockets, behind this tick. The pause counts as no one's silence.
    fn forgive_own_pause(&mut self, now: Now) {
        let gap = self
            .last_tick
            .replace(now.instant)
            .map(|last| now.instant.saturating_duration_since(last));
        if let Some(gap) = gap.filter(|gap| *gap > PAUSE) {
            for n in &mut self.nodes {
                n.last_seen = (n.last_seen + gap).min(now.instant);
            }
        }
    }

    /// Ctrl-C: the workers stop and report what they recorded.
    pub fn cancel(&mut self) {
        if !self.state.is_final() {
            self.set_state(State::Cancelled);
        }
    }

    /// The final state: Completed, unless the run was cancelled.
    pub fn end(&mut self) -> State {
        if self.state != State::Cancelled {
            self.set_state(State::Completed);
        }
        self.state
    }

    /// The run is over when every node is finished or lost, and as many
    /// workers as expected (at least one when the master does not run load)
    /// took part. A lost worker whose stream is still open is not done: its
    /// messages may be on the way (the stream's keepalive closes it if its
    /// process is gone or frozen).
    pub fn all_done(&self) -> bool {
        let needed = if self.rules.master_is_worker {
            self.rules.expected_workers
        } else {
            self.rules.expected_workers.max(1)
        };
        self.workers() >= needed
            && self.nodes.iter().all(|n| match n.phase {
                Phase::Finished => true,
                Phase::Lost => n.sessions == 0,
                Phase::Observer | Phase::Running => false,
            })
    }

    /// Keeps `ended` at the instant the nodes were all done, for as long as
    /// they are (a lost worker may come back).
    fn note_end(&mut self, now: Now) {
        if !self.all_done() {
            self.ended = None;
        } else if self.ended.is_none() {
            self.ended = Some(now.instant);
        }
    }

    /// The merge of every node's aggregate: exact, whatever the split.
    pub fn global(&self) -> Aggregate {
        let mut global = Aggregate::new(self.rules.iterations);
        for n in &self.nodes {
            global.merge(&n.aggregate);
        }
        global
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;
    const TIMEOUT: Duration = Duration::from_secs(3);

    fn rules(expected_workers: u32, master_is_worker: bool) -> Rules {
        Rules {
            expected_workers,
            master_is_worker,
            heartbeat_timeout: TIMEOUT,
            iterations: 1,
            max_nodes: 1000,
            rounds: 1,
        }
    }

    /// A clock that starts at `T0` and moves on both faces at once.
    struct Clock(Instant);

    impl Clock {
        fn new() -> Clock {
            Clock(Instant::now())
        }

        fn at(&self, ms: u64) -> Now {
            Now {
                instant: self.0 + Duration::from_millis(ms),
                unix_ms: T0 + ms,
            }
        }
    }

    fn reg(id: &str, instance: u64) -> proto::Register {
        proto::Register {
            node_id: id.into(),
            instance,
            host: format!("host-{id}"),
            cores: 2,
            ..Default::default()
        }
    }

    fn snap(requests: u64, elapsed_ms: u64) -> Snapshot {
        let mut stats = lps_engine::Stats::new();
        for i in 0..requests {
            stats.record_response(200, 100 + i, 10, 10);
        }
        Snapshot {
            core: 0,
            seq: 0,
            elapsed: Duration::from_millis(elapsed_ms),
            in_flight: 0,
            iterations: vec![stats],
            last: false,
        }
    }

    fn phases(m: &MasterState) -> Vec<(&str, Phase)> {
        m.nodes().iter().map(|n| (n.id.as_str(), n.phase)).collect()
    }

    fn state_event(from: State, to: State) -> Event {
        Event::State { from, to }
    }

    fn registered(node: &str, observer: bool) -> Event {
        Event::Registered {
            node: node.into(),
            host: format!("host-{node}"),
            cores: 2,
            observer,
        }
    }

    /// Two workers registered at 0 and 10 ms: Ready at 10 ms.
    fn ready_with_two(clock: &Clock) -> MasterState {
        let mut m = MasterState::new(rules(2, false));
        m.register(&reg("w1", 1), clock.at(0)).unwrap();
        m.register(&reg("w2", 2), clock.at(10)).unwrap();
        m.take_events();
        m
    }

    #[test]
    fn idle_until_the_expected_workers_registered_then_ready_with_the_start_ahead() {
        let clock = Clock::new();
        let mut m = MasterState::new(rules(2, false));
        m.check_ready(clock.at(0));
        assert_eq!(m.state(), State::Idle);
        assert_eq!(m.take_events(), vec![]);

        let w1 = m.register(&reg("w1", 1), clock.at(5)).unwrap();
        assert_eq!(
            w1,
            Welcome {
                state: State::Idle,
                applied_seq: 0,
                observer: true,
                round: 0,
                round_start_ms: 0,
            }
        );
        assert_eq!(m.state(), State::Idle);
        assert_eq!(m.start_at_ms(), 0);
        assert_eq!(phases(&m), vec![("w1", Phase::Observer)]);
        assert_eq!(m.take_events(), vec![registered("w1", true)]);

        // The second makes the expected two: it too registered while idle.
        let w2 = m.register(&reg("w2", 2), clock.at(20)).unwrap();
        assert_eq!(
            w2,
            Welcome {
                state: State::Idle,
                applied_seq: 0,
                observer: true,
                round: 0,
                round_start_ms: 0,
            }
        );
        assert_eq!(m.state(), State::Ready);
        assert_eq!(m.start_at_ms(), T0 + 20 + 400);
        assert_eq!(
            phases(&m),
            vec![("w1", Phase::Running), ("w2", Phase::Running)]
        );
        assert_eq!(
            m.take_events(),
            vec![
                registered("w2", true),
                state_event(State::Idle, State::Ready)
            ]
        );
    }

    #[test]
    fn no_expected_workers_is_ready_at_once_and_the_masters_node_starts() {
        let clock = Clock::new();
        let mut m = MasterState::new(rules(0, true));
        m.add_master_node("10.0.0.1".into(), 4, clock.at(0));
        assert_eq!(phases(&m), vec![("master", Phase::Observer)]);
        m.check_ready(clock.at(7));
        assert_eq!(m.state(), State::Ready);
        assert_eq!(m.start_at_ms(), T0 + 407);
        assert_eq!(phases(&m), vec![("master", Phase::Running)]);
        assert_eq!(
            m.take_events(),
            vec![state_event(State::Idle, State::Ready)]
        );
        // Only once.
        m.check_ready(clock.at(8));
        assert_eq!(m.start_at_ms(), T0 + 407);
        assert_eq!(m.take_events(), vec![]);
    }

    #[test]
    fn the_masters_node_does_not_count_toward_the_expected_workers() {
        let clock = Clock::new();
        let mut m = MasterState::new(rules(1, true));
        m.add_master_node("m".into(), 1, clock.at(0));
        m.check_ready(clock.at(0));
        assert_eq!(m.state(), State::Idle);
        m.register(&reg("w1", 1), clock.at(1)).unwrap();
        assert_eq!(m.state(), State::Ready);
        assert_eq!(
            phases(&m),
            vec![("master", Phase::Running), ("w1", Phase::Running)]
        );
    }

    #[test]
    fn nodes_running_from_the_start_share_the_feeders_rows_and_late_ones_take_none() {
        let clock = Clock::new();
        let mut m = MasterState::new(rules(2, true));
        m.add_master_node("m".into(), 1, clock.at(0));
        m.register(&reg("gone", 9), clock.at(1)).unwrap();
        // It leaves before the start: it is forgotten and takes no slot.
        m.left("gone", 9, clock.at(2));
        m.register(&reg("w1", 1), clock.at(3)).unwrap();
        assert_eq!(m.feed_share("w1"), (0, 0), "no share before the start");
        m.register(&reg("w2", 2), clock.at(4)).unwrap();
        assert_eq!(m.state(), State::Ready);
        assert_eq!(m.feed_share("master"), (0, 3));
        assert_eq!(m.feed_share("w1"), (1, 3));
        assert_eq!(m.feed_share("w2"), (2, 3));
        // A worker joining after the start gets no rows: all are shared out.
        m.register(&reg("late", 3), clock.at(500)).unwrap();
        assert_eq!(m.feed_share("late"), (0, 0));
        assert_eq!(m.feed_share("stranger"), (0, 0));
        // A reconnect (another session of the same process) keeps its slot.
        m.register(&reg("w1", 1), clock.at(600)).unwrap();
        assert_eq!(m.feed_share("w1"), (1, 3));
    }

    #[test]
    fn ready_turns_running_at_the_start_instant_not_before() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        assert_eq!(m.start_at_ms(), T0 + 410);
        m.tick(clock.at(409));
        assert_eq!(m.state(), State::Ready);
        assert_eq!(m.take_events(), vec![]);
        m.tick(clock.at(410));
        assert_eq!(m.state(), State::Running);
        assert_eq!(
            m.take_events(),
            vec![state_event(State::Ready, State::Running)]
        );
        m.tick(clock.at(500));
        assert_eq!(m.take_events(), vec![]);
    }

    #[test]
    fn a_worker_registering_after_the_start_runs_at_once() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        m.tick(clock.at(410));
        m.take_events();
        let w3 = m.register(&reg("w3", 3), clock.at(600)).unwrap();
        assert_eq!(
            w3,
            Welcome {
                state: State::Running,
                applied_seq: 0,
                observer: false,
                round: 0,
                round_start_ms: T0 + 410,
            }
        );
        assert_eq!(m.nodes()[2].phase, Phase::Running);
        assert_eq!(m.take_events(), vec![registered("w3", false)]);
    }

    #[test]
    fn a_pause_of_the_master_itself_is_no_workers_silence() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        m.tick(clock.at(420));
        m.heartbeat("w1", clock.at(450));
        m.heartbeat("w2", clock.at(450));
        m.take_events();
        // The master was stopped for 5 s (timeout 3 s): the heartbeats sent
        // meanwhile wait behind this tick, and no worker is lost.
        m.tick(clock.at(5450));
        assert_eq!(
            phases(&m),
            vec![("w1", Phase::Running), ("w2", Phase::Running)]
        );
        assert_eq!(m.take_events(), vec![]);
        // Silence after the pause counts: w2 alone is heard from.
        for ms in (5550..=8450).step_by(100) {
            m.heartbeat("w2", clock.at(ms));
            m.tick(clock.at(ms));
        }
        assert_eq!(phases(&m)[0].1, Phase::Running);
        m.tick(clock.at(8550));
        assert_eq!(
            phases(&m),
            vec![("w1", Phase::Lost), ("w2", Phase::Running)]
        );
    }

    #[test]
    fn a_silent_worker_is_lost_after_the_heartbeat_timeout_not_at_it() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        // w1 was last seen at 0, w2 at 10.
        m.tick(clock.at(3000));
        assert_eq!(
            phases(&m),
            vec![("w1", Phase::Running), ("w2", Phase::Running)]
        );
        assert_eq!(
            m.take_events(),
            vec![state_event(State::Ready, State::Running)]
        );
        m.tick(clock.at(3001));
        assert_eq!(
            phases(&m),
            vec![("w1", Phase::Lost), ("w2", Phase::Running)]
        );
        assert_eq!(
            m.take_events(),
            vec![Event::Lost {
                node: "w1".into(),
                timeout: TIMEOUT,
                applied_seq: 0
            }]
        );
        // A heartbeat keeps w2; w1 is lost only once.
        m.heartbeat("w2", clock.at(3005));
        m.tick(clock.at(6005));
        assert_eq!(m.take_events(), vec![]);
        assert_eq!(
            phases(&m),
            vec![("w1", Phase::Lost), ("w2", Phase::Running)]
        );
    }

    #[test]
    fn observers_can_be_lost_and_the_master_and_finished_nodes_cannot() {
        let clock = Clock::new();
        let mut m = MasterState::new(rules(3, true));
        m.add_master_node("m".into(), 1, clock.at(0));
        m.register(&reg("w1", 1), clock.at(0)).unwrap();
        m.register(&reg("w2", 2), clock.at(0)).unwrap();
        m.finished("w2", 0, clock.at(0));
        m.take_events();
        m.tick(clock.at(10_000));
        assert_eq!(
            phases(&m),
            vec![
                ("master", Phase::Observer),
                ("w1", Phase::Lost),
                ("w2", Phase::Finished)
            ]
        );
    }

    #[test]
    fn a_lost_worker_recovers_by_heartbeat_or_by_registering_again() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        m.apply("w1", 1, &snap(3, 100), clock.at(100)).unwrap();
        m.tick(clock.at(5000));
        assert_eq!(phases(&m), vec![("w1", Phase::Lost), ("w2", Phase::Lost)]);
        m.take_events();

        // A heartbeat: back to Running, silently.
        m.heartbeat("w1", clock.at(5001));
        assert_eq!(m.nodes()[0].phase, Phase::Running);
        assert_eq!(m.nodes()[0].last_seen, clock.at(5001).instant);
        assert_eq!(m.take_events(), vec![]);

        // The same process registering again: told what was merged.
        let again = m.register(&reg("w2", 2), clock.at(5002)).unwrap();
        assert_eq!(
            again,
            Welcome {
                state: State::Running,
                applied_seq: 0,
                observer: false,
                round: 0,
                round_start_ms: T0 + 410,
            }
        );
        assert_eq!(m.nodes()[1].phase, Phase::Running);
        assert_eq!(m.take_events(), vec![Event::Back { node: "w2".into() }]);

        // A reconnect of a node that was not lost says nothing.
        let w1 = m.register(&reg("w1", 1), clock.at(5003)).unwrap();
        assert_eq!(w1.applied_seq, 1);
        assert_eq!(m.take_events(), vec![]);
    }

    #[test]
    fn a_lost_worker_that_had_finished_is_finished_once_its_last_snapshots_arrive() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        // It said it finished after snapshot 2, then went silent before
        // sending them: back, it still owes them, so it runs until they
        // merge (finished at once, the run could end without them).
        m.finished("w1", 2, clock.at(100));
        m.tick(clock.at(5000));
        assert_eq!(m.nodes()[0].phase, Phase::Lost);
        m.take_events();
        m.register(&reg("w1", 1), clock.at(5001)).unwrap();
        assert_eq!(m.nodes()[0].phase, Phase::Running);
        assert_eq!(m.take_events(), vec![Event::Back { node: "w1".into() }]);
        m.apply("w1", 2, &snap(3, 100), clock.at(5002)).unwrap();
        assert_eq!(m.nodes()[0].aggregate.total().requests(), 3);
        assert_eq!(m.nodes()[0].phase, Phase::Finished);
        assert_eq!(
            m.take_events(),
            vec![Event::Finished {
                node: "w1".into(),
                requests: 3,
                snapshots: 1,
            }]
        );
    }

    #[test]
    fn a_lost_worker_whose_snapshots_all_arrived_recovers_as_finished() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        m.apply("w1", 2, &snap(3, 100), clock.at(50)).unwrap();
        m.finished("w1", 2, clock.at(100));
        m.tick(clock.at(5000));
        m.register(&reg("w1", 1), clock.at(5001)).unwrap();
        assert_eq!(m.nodes()[0].phase, Phase::Finished);
    }

    #[test]
    fn registrations_that_are_not_this_workers_to_take_are_refused() {
        let clock = Clock::new();
        let mut m = MasterState::new(rules(2, true));
        m.add_master_node("m".into(), 1, clock.at(0));
        m.register(&reg("w1", 1), clock.at(0)).unwrap();
        m.take_events();
        assert_eq!(
            m.register(&reg("master", 9), clock.at(1)),
            Err(RegisterError::MastersOwnId {
                id: "master".into()
            })
        );
        assert_eq!(
            m.register(&reg("w1", 7), clock.at(1)),
            Err(RegisterError::Taken {
                id: "w1".into(),
                host: "host-w1".into()
            })
        );
        assert_eq!(m.nodes().len(), 2);
        assert_eq!(m.take_events(), vec![]);
        assert_eq!(
            RegisterError::Taken {
                id: "w1".into(),
                host: "h".into()
            }
            .to_string(),
            r#"node id "w1" is taken by another worker (from "h"): give each worker its own --node-id"#
        );
        m.cancel();
        assert_eq!(
            m.register(&reg("w3", 3), clock.at(2)),
            Err(RegisterError::Over)
        );
    }

    #[test]
    fn the_barrier_counts_only_workers_connected_and_not_lost() {
        let clock = Clock::new();
        let mut m = MasterState::new(rules(2, false));
        // Registered, then gone before the start: forgotten.
        m.register(&reg("w1", 1), clock.at(0)).unwrap();
        m.left("w1", 1, clock.at(1));
        assert!(m.nodes().is_empty());
        assert_eq!(
            m.take_events(),
            vec![registered("w1", true), Event::Left { node: "w1".into() }]
        );
        // Another process's session end is not w2's.
        m.register(&reg("w2", 2), clock.at(10)).unwrap();
        m.left("w2", 99, clock.at(11));
        assert_eq!(m.nodes()[0].sessions, 1);
        // w2 goes silent and is lost: it does not count, w3 alone is not two.
        m.tick(clock.at(3011));
        m.register(&reg("w3", 3), clock.at(3012)).unwrap();
        assert_eq!(m.state(), State::Idle);
        assert_eq!(
            phases(&m),
            vec![("w2", Phase::Lost), ("w3", Phase::Observer)]
        );
        // Back by heartbeat: an observer again, and the barrier is reached.
        m.heartbeat("w2", clock.at(3013));
        assert_eq!(m.state(), State::Ready);
        assert_eq!(
            phases(&m),
            vec![("w2", Phase::Running), ("w3", Phase::Running)]
        );
        // After the start a worker that leaves keeps its place and its data.
        m.left("w3", 3, clock.at(3014));
        assert_eq!(m.nodes().len(), 2);
        assert_eq!(m.nodes()[1].sessions, 0);
    }

    #[test]
    fn a_reconnect_keeps_the_worker_counted_until_its_last_session_ends() {
        let clock = Clock::new();
        let mut m = MasterState::new(rules(2, false));
        m.register(&reg("w1", 1), clock.at(0)).unwrap();
        // The same process opens a new session before the old one ends.
        m.register(&reg("w1", 1), clock.at(1)).unwrap();
        m.left("w1", 1, clock.at(2));
        assert_eq!(m.nodes()[0].sessions, 1);
        m.register(&reg("w2", 2), clock.at(3)).unwrap();
        assert_eq!(m.state(), State::Ready);
    }

    #[test]
    fn registrations_beyond_max_nodes_are_refused_and_logged_once() {
        let clock = Clock::new();
        let mut m = MasterState::new(Rules {
            max_nodes: 2,
            ..rules(3, true)
        });
        m.add_master_node("m".into(), 1, clock.at(0));
        m.register(&reg("w1", 1), clock.at(0)).unwrap();
        m.register(&reg("w2", 2), clock.at(0)).unwrap();
        m.take_events();
        let full = Err(RegisterError::Full { max: 2 });
        assert_eq!(m.register(&reg("w3", 3), clock.at(1)), full);
        assert_eq!(m.register(&reg("w4", 4), clock.at(2)), full);
        assert_eq!(m.take_events(), vec![Event::Full { max: 2 }]);
        assert_eq!(
            Event::Full { max: 2 }.to_string(),
            "refusing new workers: MaxNodes (2) are registered; the next refusals are not logged"
        );
        assert_eq!(m.nodes().len(), 3, "the master and two workers");
        // A registered worker reconnecting is no new node.
        assert!(m.register(&reg("w1", 1), clock.at(3)).is_ok());
        // One leaves before the start: its place is free again.
        m.left("w2", 2, clock.at(4));
        assert!(m.register(&reg("w3", 3), clock.at(5)).is_ok());
        assert_eq!(m.take_events().len(), 2, "w2 left, w3 registered");
    }

    #[test]
    fn a_registration_costs_no_aggregate_until_its_first_snapshot() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        assert!(m.nodes()[0].aggregate.iterations.is_empty());
        m.apply("w1", 1, &snap(2, 100), clock.at(50)).unwrap();
        assert_eq!(m.nodes()[0].aggregate.iterations.len(), 1);
        assert_eq!(m.global().total().requests(), 2);
    }

    /// A snapshot of `ok` responses at `elapsed_ms`, built as a peer's.
    fn forged(ok: u64, elapsed_ms: u64) -> Snapshot {
        let stats =
            lps_engine::Stats::from_parts(lps_engine::new_histogram(), &[(200, ok)], &[], 0, 0);
        Snapshot {
            elapsed: Duration::from_millis(elapsed_ms),
            iterations: vec![stats],
            ..snap(0, 0)
        }
    }

    #[test]
    fn impossible_snapshots_are_refused_acked_and_logged_once() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        m.apply("w1", 1, &snap(5, 1000), clock.at(20)).unwrap();
        // 2 cores over 2 s of run (1 s and the slack): 40 M requests at most.
        let impossible = m.apply("w1", 2, &forged(1 << 63, 1000), clock.at(30));
        assert_eq!(
            impossible,
            Ok(Applied {
                applied_seq: 2,
                merged: false
            })
        );
        assert_eq!(
            m.take_events(),
            vec![Event::Refused {
                node: "w1".into(),
                seq: 2,
                why: "its requests (9223372036854775813 so far) are more than 2 cores can do in 2.0 s (at most 10000000 per core and second)".into()
            }]
        );
        // The rest of its snapshots still merge; the next impossible one is quiet.
        m.apply("w1", 3, &forged(39_999_995, 1000), clock.at(40))
            .unwrap();
        let again = m.apply("w1", 4, &forged(1, 1000), clock.at(50)).unwrap();
        assert!(!again.merged);
        assert_eq!(m.take_events(), vec![]);
        let w1 = &m.nodes()[0];
        assert_eq!((w1.refused, w1.applied_seq), (2, 4));
        assert_eq!(w1.counts.requests, 40_000_000);
        assert_eq!(m.global().total().requests(), 40_000_000);
        // Later in the run, more is possible.
        assert!(
            m.apply("w1", 5, &forged(1, 2000), clock.at(60))
                .unwrap()
                .merged
        );
    }

    #[test]
    fn resent_snapshots_are_merged_once() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        let first = m.apply("w1", 1, &snap(10, 1000), clock.at(50)).unwrap();
        assert_eq!(
            first,
            Applied {
                applied_seq: 1,
                merged: true
            }
        );
        m.apply("w1", 2, &snap(20, 2000), clock.at(60)).unwrap();
        // A reconnect resends 2 and sends 3: 2 is skipped.
        let resent = m.apply("w1", 2, &snap(20, 2000), clock.at(70)).unwrap();
        assert_eq!(
            resent,
            Applied {
                applied_seq: 2,
                merged: false
            }
        );
        m.apply("w1", 3, &snap(5, 1500), clock.at(80)).unwrap();
        let w1 = &m.nodes()[0];
        assert_eq!(w1.applied_seq, 3);
        assert_eq!(w1.merged, 3, "the resend is not counted");
        assert_eq!(w1.aggregate.total().requests(), 35);
        assert_eq!(w1.elapsed, Duration::from_millis(2000));
        assert_eq!(w1.last_seen, clock.at(80).instant);
        assert_eq!(
            m.apply("nobody", 1, &snap(1, 1), clock.at(90)),
            Err(NotRegistered)
        );
        assert_eq!(m.global().total().requests(), 35);
    }

    #[test]
    fn a_worker_is_finished_once_its_last_snapshot_arrived() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        m.apply("w1", 1, &snap(4, 100), clock.at(50)).unwrap();
        assert_eq!(m.finished("w1", 2, clock.at(60)), 1);
        assert_eq!(m.nodes()[0].phase, Phase::Running);
        assert_eq!(m.take_events(), vec![]);
        m.apply("w1", 2, &snap(3, 200), clock.at(70)).unwrap();
        assert_eq!(m.nodes()[0].phase, Phase::Finished);
        assert_eq!(
            m.take_events(),
            vec![Event::Finished {
                node: "w1".into(),
                requests: 7,
                snapshots: 2,
            }]
        );
        // Said twice, finished once.
        assert_eq!(m.finished("w1", 2, clock.at(80)), 2);
        assert_eq!(m.take_events(), vec![]);
    }

    #[test]
    fn all_done_when_every_node_finished_or_was_lost_and_records_when() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        m.finished("w1", 0, clock.at(100));
        assert!(!m.all_done());
        assert_eq!(m.ended(), None);
        m.tick(clock.at(3011));
        assert_eq!(m.nodes()[1].phase, Phase::Lost);
        // Its stream is still open: what it sent may be on the way.
        assert!(!m.all_done());
        m.left("w2", 2, clock.at(3050));
        assert!(m.all_done());
        assert_eq!(m.ended(), Some(clock.at(3050).instant));
        // A later transition keeps the instant it ended at.
        m.tick(clock.at(3100));
        assert_eq!(m.ended(), Some(clock.at(3050).instant));
        // The lost worker comes back: not over after all.
        m.heartbeat("w2", clock.at(3200));
        assert!(!m.all_done());
        assert_eq!(m.ended(), None);
        m.finished("w2", 0, clock.at(3300));
        assert_eq!(m.ended(), Some(clock.at(3300).instant));
    }

    #[test]
    fn not_done_before_the_expected_workers_took_part() {
        let clock = Clock::new();
        // Expecting two: one finished worker is not the end.
        let mut m = MasterState::new(rules(2, false));
        m.register(&reg("w1", 1), clock.at(0)).unwrap();
        m.finished("w1", 0, clock.at(1));
        assert_eq!(m.nodes()[0].phase, Phase::Finished);
        assert!(!m.all_done());
        assert_eq!(m.ended(), None);
        m.register(&reg("w2", 2), clock.at(2)).unwrap();
        m.finished("w2", 0, clock.at(3));
        assert!(m.all_done());
        assert_eq!(m.ended(), Some(clock.at(3).instant));
    }

    #[test]
    fn a_master_that_runs_no_load_waits_for_at_least_one_worker() {
        let clock = Clock::new();
        let mut m = MasterState::new(rules(0, false));
        m.check_ready(clock.at(0));
        assert_eq!(m.state(), State::Ready);
        assert!(!m.all_done());
        m.register(&reg("w1", 1), clock.at(1)).unwrap();
        assert!(!m.all_done());
        m.finished("w1", 0, clock.at(2));
        assert!(m.all_done());
    }

    #[test]
    fn a_master_alone_is_done_when_its_own_load_is() {
        let clock = Clock::new();
        let mut m = MasterState::new(rules(0, true));
        m.add_master_node("m".into(), 2, clock.at(0));
        m.check_ready(clock.at(0));
        m.apply_own(1, &snap(6, 500));
        m.apply_own(2, &snap(4, 900));
        assert!(!m.all_done());
        m.own_finished(2, clock.at(1000));
        let own = &m.nodes()[0];
        assert_eq!(
            (own.phase, own.applied_seq, own.finished_seq),
            (Phase::Finished, 2, Some(2))
        );
        assert_eq!(own.elapsed, Duration::from_millis(900));
        assert_eq!(m.global().total().requests(), 10);
        assert_eq!(m.ended(), Some(clock.at(1000).instant));
        // The master's own end is not logged as a worker's.
        assert_eq!(
            m.take_events(),
            vec![state_event(State::Idle, State::Ready)]
        );
    }

    #[test]
    fn cancel_from_any_running_state_and_it_stays_the_end() {
        for from in [State::Idle, State::Ready, State::Running] {
            let clock = Clock::new();
            let mut m = MasterState::new(rules(1, false));
            if from != State::Idle {
                m.register(&reg("w1", 1), clock.at(0)).unwrap();
            }
            if from == State::Running {
                m.tick(clock.at(400));
            }
            assert_eq!(m.state(), from);
            m.take_events();
            m.cancel();
            m.cancel();
            assert_eq!(m.take_events(), vec![state_event(from, State::Cancelled)]);
            assert_eq!(m.end(), State::Cancelled);
            assert_eq!(m.take_events(), vec![]);
        }
    }

    #[test]
    fn the_end_is_completed_once() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        m.tick(clock.at(410));
        m.take_events();
        assert_eq!(m.end(), State::Completed);
        assert_eq!(m.end(), State::Completed);
        assert_eq!(
            m.take_events(),
            vec![state_event(State::Running, State::Completed)]
        );
        // A completed run is not cancelled after all.
        m.cancel();
        assert_eq!(m.state(), State::Completed);
        assert!(m.state().is_final());
    }

    #[test]
    fn events_read_as_the_master_logs_them() {
        let lines: Vec<String> = [
            state_event(State::Idle, State::Ready),
            registered("w1", true),
            registered("w2", false),
            Event::Back { node: "w1".into() },
            Event::Finished {
                node: "w1".into(),
                requests: 12,
                snapshots: 3,
            },
            Event::Lost {
                node: "w2".into(),
                timeout: Duration::from_secs(3),
                applied_seq: 4,
            },
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            lines,
            vec![
                "Idle -> Ready",
                "worker w1 registered from host-w1 (2 cores) as observer",
                "worker w2 registered from host-w2 (2 cores)",
                "worker w1 is back",
                "w1 finished (12 requests, 3 snapshots merged)",
                "worker w2 lost (no heartbeat for 3s); its data up to snapshot 4 is kept",
            ]
        );
    }

    #[test]
    fn states_and_phases_by_name() {
        let states = [
            State::Idle,
            State::Ready,
            State::Running,
            State::Completed,
            State::Cancelled,
        ];
        let names: Vec<_> = states.iter().map(State::as_str).collect();
        assert_eq!(
            names,
            vec!["Idle", "Ready", "Running", "Completed", "Cancelled"]
        );
        let finals: Vec<_> = states.iter().map(|s| s.is_final()).collect();
        assert_eq!(finals, vec![false, false, false, true, true]);
        let phases = [
            Phase::Observer,
            Phase::Running,
            Phase::Finished,
            Phase::Lost,
        ];
        let names: Vec<_> = phases.iter().map(Phase::as_str).collect();
        assert_eq!(names, vec!["Observer", "Running", "Finished", "Lost"]);
    }

    #[test]
    fn a_caught_up_worker_is_marked_and_announced_once() {
        let clock = Clock::new();
        let mut m = ready_with_two(&clock);
        // Its catch-up covers its snapshots 1..=4, four seconds of its run.
        let applied = m.apply("w1", 4, &snap(40, 4000), clock.at(20)).unwrap();
        assert_eq!(applied.applied_seq, 4);
        m.caught_up("w1", Duration::from_secs(4));
        // Its other cores' catch-ups, and a stranger's, add no event.
        m.caught_up("w1", Duration::from_secs(4));
        m.caught_up("nobody", Duration::from_secs(1));
        let events = m.take_events();
        assert_eq!(
            events,
            [Event::CaughtUp {
                node: "w1".into(),
                elapsed: Duration::from_secs(4)
            }]
        );
        assert_eq!(
            events[0].to_string(),
            "worker w1 caught up: it brought its result from before this master started (4.0 s of its run)"
        );
        let flags: Vec<bool> = m.nodes().iter().map(|n| n.caught_up).collect();
        assert_eq!(flags, [true, false]);
    }

    /// Two workers and the master's own node, running a plan of `rounds`
    /// rounds from 410 ms.
    fn running_rounds(clock: &Clock, rounds: u32) -> MasterState {
        let mut m = MasterState::new(Rules {
            rounds,
            ..rules(2, true)
        });
        m.add_master_node("m".into(), 1, clock.at(0));
        m.register(&reg("w1", 1), clock.at(0)).unwrap();
        m.register(&reg("w2", 2), clock.at(10)).unwrap();
        m.tick(clock.at(410));
        m.take_events();
        m
    }

    fn round_start(round: u32, rounds: u32, at_ms: u64) -> Event {
        Event::RoundStart {
            round,
            rounds,
            at_ms,
        }
    }

    #[test]
    fn a_round_starts_once_every_node_finished_the_one_before() {
        let clock = Clock::new();
        let mut m = running_rounds(&clock, 3);
        assert_eq!(m.round(), (0, T0 + 410));
        m.round_done("w1", 0, clock.at(1000));
        m.round_done("master", 0, clock.at(1100));
        assert_eq!(m.round().0, 0, "w2 is still at round 0");
        assert_eq!(m.take_events(), vec![]);
        m.round_done("w2", 0, clock.at(1500));
        assert_eq!(m.round(), (1, T0 + 1600));
        let events = m.take_events();
        assert_eq!(events, vec![round_start(1, 3, T0 + 1600)]);
        assert_eq!(
            events[0].to_string(),
            "round 2 of 3 starts: every node finished round 1"
        );
        // The last round has no next one: its end releases nothing.
        for node in ["w1", "w2", "master"] {
            m.round_done(node, 1, clock.at(2000));
        }
        assert_eq!(m.take_events(), vec![round_start(2, 3, T0 + 2100)]);
        for node in ["w1", "w2", "master"] {
            m.round_done(node, 2, clock.at(2500));
        }
        assert_eq!(m.round(), (2, T0 + 2100));
        assert_eq!(m.take_events(), vec![]);
    }

    #[test]
    fn a_lost_worker_holds_up_no_round() {
        let clock = Clock::new();
        let mut m = running_rounds(&clock, 2);
        m.round_done("master", 0, clock.at(1000));
        m.round_done("w1", 0, clock.at(1000));
        m.heartbeat("w1", clock.at(2900));
        m.heartbeat("w2", clock.at(10));
        // The master is awake: its timers run every 100 ms.
        for ms in (510..=2900).step_by(100) {
            m.tick(clock.at(ms));
        }
        assert_eq!(m.round().0, 0);
        // w2, silent since 10 ms, is lost after 3 s: the round starts.
        m.tick(clock.at(3011));
        assert_eq!(m.nodes()[2].phase, Phase::Lost);
        assert_eq!(m.round(), (1, T0 + 3111));
        assert_eq!(
            m.take_events(),
            vec![
                Event::Lost {
                    node: "w2".into(),
                    timeout: TIMEOUT,
                    applied_seq: 0
                },
                round_start(1, 2, T0 + 3111)
            ]
        );
    }

    #[test]
    fn finished_nodes_hold_up_no_round_and_no_round_starts_with_no_node_done() {
        let clock = Clock::new();
        let mut m = running_rounds(&clock, 2);
        // Cut short (interrupted): finished without round 0's end.
        m.finished("w1", 0, clock.at(500));
        m.own_finished(0, clock.at(600));
        assert_eq!(
            m.round().0,
            0,
            "no node finished round 0: no one to run round 1"
        );
        m.round_done("w2", 0, clock.at(700));
        assert_eq!(m.round(), (1, T0 + 800));
    }

    #[test]
    fn round_ends_said_twice_out_of_range_or_by_strangers_change_nothing() {
        let clock = Clock::new();
        let mut m = running_rounds(&clock, 2);
        m.round_done("w1", 0, clock.at(1000));
        m.round_done("w1", 0, clock.at(1001));
        m.round_done("nobody", 0, clock.at(1002));
        assert_eq!(m.round().0, 0);
        assert_eq!(m.nodes()[1].rounds_done, 1);
        // Beyond the plan: ignored, logged once per node.
        m.round_done("w2", 2, clock.at(1003));
        m.round_done("w2", u32::MAX, clock.at(1004));
        assert_eq!(m.nodes()[2].rounds_done, 0);
        assert_eq!(m.round().0, 0);
        let events = m.take_events();
        assert_eq!(
            events,
            vec![Event::BadRound {
                node: "w2".into(),
                round: 2,
                rounds: 2
            }]
        );
        assert_eq!(
            events[0].to_string(),
            "ignored w2's end of round index 2: the plan has 2 rounds; its next ones are not logged"
        );
        m.round_done("w2", 0, clock.at(1005));
        m.round_done("master", 0, clock.at(1006));
        assert_eq!(m.round(), (1, T0 + 1106));
        // An old round's end again: nothing more.
        m.round_done("w2", 0, clock.at(1007));
        assert_eq!(m.take_events(), vec![round_start(1, 2, T0 + 1106)]);
        assert_eq!(m.nodes()[2].rounds_done, 1);
    }

    #[test]
    fn a_worker_joining_a_running_test_starts_at_its_round_and_holds_up_the_next() {
        let clock = Clock::new();
        let mut m = running_rounds(&clock, 3);
        for node in ["w1", "w2", "master"] {
            m.round_done(node, 0, clock.at(1000));
        }
        m.take_events();
        let w3 = m.register(&reg("w3", 3), clock.at(1050)).unwrap();
        assert_eq!((w3.round, w3.round_start_ms), (1, T0 + 1100));
        assert_eq!(m.nodes()[3].rounds_done, 1, "round 0 is skipped");
        for node in ["w1", "w2", "master"] {
            m.round_done(node, 1, clock.at(2000));
        }
        assert_eq!(m.round().0, 1, "w3 is still at round 1");
        m.round_done("w3", 1, clock.at(2500));
        assert_eq!(m.round(), (2, T0 + 2600));
    }
}
