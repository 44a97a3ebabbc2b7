//! Thread-per-core execution: one pinned OS thread per core, each with its
//! own current-thread tokio runtime, its clients and its [`Stats`]; snapshots
//! leave each core over a crossbeam channel.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use rustls::pki_types::ServerName;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use crate::client::{Core, H2Request, Prepared, RoundRun, Shared, Wire};
use crate::connect::{tls_connector, tls_connector_with};
use crate::error::EngineError;
use crate::iteration::ClientCx;
use crate::pause::PauseGate;
use crate::rounds::RoundGate;
use crate::script::{Client, Scripted};
use crate::snapshot::Snapshot;
use crate::stats::Stats;
use crate::terminate::Terminations;
use crate::{http1, iteration};
use lps_config::{Mode, Plan, Scheme};
use lps_scenario::feed::Share;
use regex::Regex;

/// How the engine runs a plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Engine threads; 0 means one per available core.
    pub threads: usize,
    /// Pin each engine thread to its own core.
    pub pin: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// At the end of a duration (D, CB with a duration, DCB) or on stop,
    /// how long requests in flight may still finish (at most the timeout);
    /// those still unanswered then are reported as unfinished.
    pub grace: Duration,
    /// Open model: requests per second across all clients (R and D modes).
    pub rate: Option<f64>,
    /// Skip TLS certificate verification.
    pub insecure: bool,
    /// Most HTTP/1.1 connections one client opens to its server at once
    /// (LPS's `MaxConnectionsPerServer`): a batch larger than this queues
    /// its requests on the connections it has. HTTP/2 multiplexes instead.
    pub max_connections_per_server: u32,
    /// How often each core sends a snapshot.
    pub snapshot_interval: Duration,
    /// When load starts (a cluster aligns nodes on one instant); `None`
    /// starts as soon as the cores are up.
    pub start_at: Option<std::time::Instant>,
    /// While this gate is closed (the node's watchdog), no core sends a new
    /// request; `None`: the run never pauses.
    pub pause: Option<Arc<PauseGate>>,
    /// The round barrier across nodes (a cluster): each round after the
    /// first waits for the gate's release as well as for this node's
    /// cores. `None`: only this node's cores (a single node).
    pub rounds: Option<Arc<RoundGate>>,
    /// This node's share of every feeder's rows (`$feed`) in a cluster:
    /// `(index, nodes)`, node `index` taking rows `index`, `index + nodes`,
    /// ... (`nodes` 0: none, a worker that joined after the start). `None`:
    /// every row (a node alone).
    pub feed_share: Option<(u32, u32)>,
    /// Iterations a termination rule ended (the node that judges the
    /// rules sets them); `None`: no iteration ends before its time.
    pub terminations: Option<Arc<Terminations>>,
    /// HTTP/2 goes through the `h2` crate instead of lps's own client
    /// (`crate::http2`): to compare the two, or as a way around a server
    /// the lean client cannot talk to.
    pub h2_crate: bool,
    /// Clients per HTTP/2 connection: the clients of an iteration on each
    /// core share connections this many to one (clients 0..N-1 of the core
    /// one, N..2N-1 the next, ...), each still sending its requests one
    /// after another, so N streams are in flight per connection (h2load's
    /// `-m N`). 1: a connection per client. HTTP/1.1 is not affected.
    pub h2_streams: u32,
    /// How long a core with at least 64 requests in flight naps when it
    /// runs out of work, before it blocks (`crate::idle`): responses arriving meanwhile
    /// are read in one wake-up, and read at most this late. Zero: never.
    pub coalesce: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            threads: 0,
            pin: true,
            timeout: Duration::from_secs(30),
            grace: DEFAULT_GRACE,
            rate: None,
            insecure: false,
            max_connections_per_server: DEFAULT_MAX_CONNECTIONS_PER_SERVER,
            snapshot_interval: Duration::from_secs(1),
            start_at: None,
            pause: None,
            rounds: None,
            feed_share: None,
            terminations: None,
            h2_crate: false,
            h2_streams: 1,
            coalesce: DEFAULT_COALESCE,
        }
    }
}

/// The default [`RunOptions::max_connections_per_server`]: LPS's.
pub const DEFAULT_MAX_CONNECTIONS_PER_SERVER: u32 = 1000;

/// The default [`RunOptions::coalesce`]: measured against nginx over HTTP/2
/// and TLS (perf/RESULTS.md, stop 24); longer naps pay more and delay more.
pub const DEFAULT_COALESCE: Duration = Duration::from_micros(10);

/// The longest [`RunOptions::coalesce`]: a millisecond.
pub const MAX_COALESCE: Duration = Duration::from_millis(1);

/// The default [`RunOptions::grace`]: long enough for any response a
/// healthy target gives, short enough that stopping does not linger.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);

/// A running test: its snapshots arrive on [`Run::snapshots`] until every
/// core has sent its last one and the channel disconnects.
pub struct Run {
    threads: Vec<JoinHandle<()>>,
    snapshots: Receiver<Snapshot>,
    started: std::time::Instant,
    cores: usize,
}

impl Run {
    pub fn snapshots(&self) -> &Receiver<Snapshot> {
        &self.snapshots
    }

    /// When the cores started.
    pub fn started(&self) -> std::time::Instant {
        self.started
    }

    /// Engine threads running the plan.
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// Waits for every core; a core that panicked is an error (its data up
    /// to its last snapshot was already delivered).
    pub fn join(self) -> Result<(), EngineError> {
        let mut panicked = 0;
        for t in self.threads {
            if t.join().is_err() {
                panicked += 1;
            }
        }
        if panicked > 0 {
            return Err(EngineError::CorePanicked(panicked));
        }
        Ok(())
    }
}

/// Most engine threads one node runs ([`RunOptions::threads`]): one per core
/// of any machine there is; a node's snapshots name their thread by this index.
pub const MAX_THREADS: usize = 4096;

/// Number of engine threads `threads` asks for (0: all cores).
pub fn thread_count(threads: usize) -> usize {
    if threads > 0 {
        threads
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

impl RunOptions {
    /// Checks the options; [`start`] does it too, so a caller calls this only
    /// to refuse bad input before anything else starts.
    pub fn check(&self) -> Result<(), EngineError> {
        if let Some(rate) = self.rate {
            // The pace's interval is 1 / rate: it must be a duration the clock can add.
            if !(rate.is_finite() && rate > 0.0)
                || Duration::try_from_secs_f64(1.0 / rate).map_or(true, |d| d > lps_config::LONGEST)
            {
                return Err(EngineError::Rate(rate));
            }
        }
        if self.threads > MAX_THREADS {
            return Err(EngineError::Threads {
                given: self.threads,
                max: MAX_THREADS,
            });
        }
        if self.timeout.is_zero() || self.timeout > lps_config::LONGEST {
            return Err(EngineError::Timeout);
        }
        if self.h2_streams == 0 {
            return Err(EngineError::H2Streams);
        }
        if self.coalesce > MAX_COALESCE {
            return Err(EngineError::Coalesce(self.coalesce.as_micros()));
        }
        Ok(())
    }
}

/// Starts running `plan`; returns once every core thread is spawned. The
/// run stops early when `stop` is cancelled (Ctrl-C, the master): cores
/// start nothing new, give the requests in flight the grace
/// ([`RunOptions::grace`]) and still send their last snapshot.
pub fn start(plan: &Plan, opts: &RunOptions, stop: CancellationToken) -> Result<Run, EngineError> {
    opts.check()?;
    if opts.rate.is_some() {
        check_rate_modes(plan)?;
    }
    let (iterations, rounds) = prepare_all(plan, opts.insecure)?;
    let cores = thread_count(opts.threads).min(plan.clients().max(1) as usize);
    // Cores start a little ahead so that every thread is up before the first request.
    let started = opts
        .start_at
        .unwrap_or_else(|| std::time::Instant::now() + Duration::from_millis(20));
    let shared = Arc::new(Shared {
        iterations,
        rounds,
        rounds_done: std::sync::atomic::AtomicUsize::new(0),
        cores_running: std::sync::atomic::AtomicUsize::new(cores),
        timeout: opts.timeout,
        grace: opts.grace.min(opts.timeout),
        rate: opts.rate,
        // At least one, or a batch would never be sent.
        max_lanes: opts.max_connections_per_server.max(1),
        tls_h1: tls_connector(opts.insecure, &[b"http/1.1"]),
        tls_h2: tls_connector(opts.insecure, &[b"h2", b"http/1.1"]),
        start: Instant::from_std(started),
        gate: opts.rounds.clone(),
        terminations: opts.terminations.clone(),
        globals: globals(plan, opts.feed_share)?,
        scripted: plan
            .rounds
            .iter()
            .flat_map(|r| &r.iterations)
            .any(|i| i.script.is_some()),
        h2_crate: opts.h2_crate,
        h2_streams: opts.h2_streams,
        coalesce: opts.coalesce,
    });
    let (tx, rx) = crossbeam_channel::unbounded();
    let threads = spawn_cores(cores, opts, &shared, &stop, &tx)?;
    Ok(Run {
        threads,
        snapshots: rx,
        started,
        cores,
    })
}

/// The open model paces modes R and D only: refuses a plan with another mode.
fn check_rate_modes(plan: &Plan) -> Result<(), EngineError> {
    for it in plan.rounds.iter().flat_map(|r| &r.iterations) {
        if !matches!(it.mode, Mode::Requests { .. } | Mode::Duration { .. }) {
            return Err(EngineError::RateMode {
                iteration: it.name.clone(),
                mode: it.mode.code(),
            });
        }
    }
    Ok(())
}

/// Every iteration of the plan prepared, indexed in plan order, and each
/// round with the indices of its iterations.
fn prepare_all(plan: &Plan, insecure: bool) -> Result<(Vec<Prepared>, Vec<RoundRun>), EngineError> {
    let mut iterations = Vec::new();
    let mut rounds = Vec::new();
    for round in &plan.rounds {
        let mut indices = Vec::new();
        for it in &round.iterations {
            let index = iterations.len();
            iterations.push(prepare(index, it, insecure)?);
            indices.push(index);
        }
        rounds.push(RoundRun {
            iterations: indices,
            round: lps_config::Round {
                iterations: Vec::new(),
                ..round.clone()
            },
        });
    }
    Ok((iterations, rounds))
}

/// Spawns `cores` engine threads, each pinned (when `opts.pin` and the OS
/// lists its cores) and given its share of the plan's clients.
fn spawn_cores(
    cores: usize,
    opts: &RunOptions,
    shared: &Arc<Shared>,
    stop: &CancellationToken,
    tx: &Sender<Snapshot>,
) -> Result<Vec<JoinHandle<()>>, EngineError> {
    let core_ids = if opts.pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut threads = Vec::with_capacity(cores);
    for core in 0..cores {
        let pin = if core_ids.is_empty() {
            None
        } else {
            Some(core_ids[core % core_ids.len()])
        };
        let (shared, tx, stop) = (shared.clone(), tx.clone(), stop.clone());
        let (interval, pause) = (opts.snapshot_interval, opts.pause.clone());
        let handle = std::thread::Builder::new()
            .name(format!("lps-core-{core}"))
            .spawn(move || core_main((core, cores), pin, shared, stop, tx, (interval, pause)))
            .map_err(EngineError::Thread)?;
        threads.push(handle);
    }
    Ok(threads)
}

/// Checks one iteration and builds what its requests are sent from: the
/// resolved addresses, the TLS name (and its own TLS connector when it
/// presents a client certificate), and the request in both HTTP forms.
fn prepare(
    index: usize,
    it: &lps_config::Iteration,
    insecure: bool,
) -> Result<Prepared, EngineError> {
    let req = &it.request;
    let t = &req.target;
    let addrs = resolve(&t.host, t.port)?;
    let tls_name = match t.scheme {
        Scheme::Http => None,
        Scheme::Https => Some(
            ServerName::try_from(t.host.clone())
                .map_err(|_| EngineError::ServerName(t.host.clone()))?,
        ),
    };
    let h1_request = http1::build_request(
        &req.method,
        &t.authority(),
        &t.path_and_query,
        &req.headers,
        &req.body,
    );
    let wire = Wire::of(req.version, tls_name.is_some());
    let tls = match (&req.client_identity, &tls_name) {
        (Some(identity), Some(_)) => Some(client_auth(it, wire, insecure, identity)?),
        // Over `http://` a client certificate has nothing to do (as in LPS).
        _ => None,
    };
    Ok(Prepared {
        index,
        mode: it.mode,
        maximize_throughput: it.maximize_throughput,
        wire,
        startup_delay: it.startup_delay,
        addrs,
        tls_name,
        h1_request,
        head: req.method == "HEAD",
        h2: h2_request(req)?,
        retry: req.retry,
        tls,
        script: scripted(it)?,
        plain: it.script.is_none() && req.retry.is_none(),
    })
}

/// The plan's global variables, as the plan was read with them, and its
/// feeders taking this node's `share` of their files.
fn globals(plan: &Plan, share: Option<(u32, u32)>) -> Result<lps_scenario::Globals, EngineError> {
    let share = share.map_or(Share::ALL, |(index, nodes)| Share { index, nodes });
    let globals = lps_scenario::Globals::with_feed_share(share);
    for v in &plan.variables {
        let regex = match &v.regex {
            Some(r) => Some(
                Regex::new(r).map_err(|e| EngineError::Variable(v.name.clone(), e.to_string()))?,
            ),
            None => None,
        };
        globals.put(
            &v.name,
            lps_scenario::Variable::new(v.kind, v.value.clone()).with_regex(regex),
        );
    }
    Ok(globals)
}

/// A scripted iteration's fixed parts, around which each request is built.
fn scripted(it: &lps_config::Iteration) -> Result<Option<Box<Scripted>>, EngineError> {
    let Some(script) = &it.script else {
        return Ok(None);
    };
    let req = &it.request;
    let capture_regex = match script
        .request
        .capture
        .as_ref()
        .and_then(|c| c.regex.as_ref())
    {
        Some(r) => {
            Some(Regex::new(r).map_err(|e| EngineError::Variable(it.name.clone(), e.to_string()))?)
        }
        None => None,
    };
    let scheme = match req.target.scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    };
    Ok(Some(Box::new(Scripted {
        script: script.clone(),
        capture_regex,
        method: req.method.clone(),
        authority: req.target.authority(),
        origin: format!("{scheme}://{}", req.target.authority()),
        path: req.target.path_and_query.clone(),
        headers: req.headers.clone(),
        body: req.body.clone(),
    })))
}

/// The TLS connector of an iteration that presents a client certificate,
/// offering the ALPN protocols its wire speaks.
fn client_auth(
    it: &lps_config::Iteration,
    wire: Wire,
    insecure: bool,
    identity: &lps_config::ClientIdentity,
) -> Result<TlsConnector, EngineError> {
    let alpn: &[&[u8]] = match wire {
        Wire::Alpn => &[b"h2", b"http/1.1"],
        Wire::Http1 | Wire::H2c => &[b"http/1.1"],
    };
    tls_connector_with(insecure, alpn, identity).map_err(|e| EngineError::ClientCertificate {
        iteration: it.name.clone(),
        path: identity.path.clone(),
        reason: e.to_string(),
    })
}

/// Every address `host` resolves to; none is an error.
fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, EngineError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| EngineError::Resolve {
            host: host.to_owned(),
            source: e,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(EngineError::Resolve {
            host: host.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        });
    }
    Ok(addrs)
}

/// The request as HTTP/2 sends it.
fn h2_request(req: &lps_config::HttpRequest) -> Result<H2Request, EngineError> {
    let method = http::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| EngineError::Method(req.method.clone()))?;
    // A templated path is kept as written (a method call may hold spaces):
    // encoded, it is a valid URI, and plain paths are already encoded.
    let t = &req.target;
    let scheme = match t.scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    };
    let path = lps_config::encode_request_target(&t.path_and_query);
    let url = format!("{scheme}://{}{path}", t.authority());
    let uri: http::Uri = url.parse().map_err(|_| EngineError::Url(url))?;
    Ok(H2Request::new(
        method,
        uri,
        h2_headers(&req.headers)?,
        Bytes::from(req.body.clone()),
        Vec::new(),
    ))
}

/// The headers HTTP/2 may carry. It carries the authority in the URI, not a
/// Host header, and forbids connection-specific headers (RFC 9113 8.2.2):
/// they are left out, as .NET's HttpClient (which LPS runs on) does, rather
/// than failing every request of a plan written for HTTP/1.1.
pub(crate) fn h2_headers(headers: &[(String, String)]) -> Result<http::HeaderMap, EngineError> {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        let te_not_trailers =
            name.eq_ignore_ascii_case("te") && !value.trim().eq_ignore_ascii_case("trailers");
        if te_not_trailers
            || [
                "host",
                "connection",
                "keep-alive",
                "proxy-connection",
                "transfer-encoding",
                "upgrade",
            ]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        let n = http::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| EngineError::HeaderName(name.clone()))?;
        let v = http::header::HeaderValue::from_str(value)
            .map_err(|_| EngineError::HeaderValue(name.clone()))?;
        map.append(n, v);
    }
    Ok(map)
}

/// One engine thread (`core` of `cores`): pins itself, builds its runtime,
/// and runs its share of each round's clients until the rounds are done or
/// `stop` is cancelled, sending a snapshot every `interval` and a last one at
/// the end; nothing new is sent while `pause` is closed.
// Never inlined: the instruction bench (benches/benches/instructions.rs)
// counts an engine thread by this function's name.
#[inline(never)]
fn core_main(
    (core, cores): (usize, usize),
    pin: Option<core_affinity::CoreId>,
    shared: Arc<Shared>,
    stop: CancellationToken,
    tx: Sender<Snapshot>,
    (interval, pause): (Duration, Option<Arc<PauseGate>>),
) {
    if let Some(id) = pin {
        // Pinning is an optimisation: a refused pin leaves the thread unpinned.
        let _ = core_affinity::set_for_current(id);
    }
    if !shared.coalesce.is_zero() {
        crate::idle::tighten_timer_slack();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(crate::idle::before_park(shared.coalesce))
        .build()
    {
        Ok(rt) => rt,
        Err(_) => {
            // The other cores stop waiting for this one between rounds.
            shared.cores_running.fetch_sub(1, Ordering::AcqRel);
            return;
        }
    };
    // After the runtime: its fds must stay in the table other threads use.
    #[cfg(target_os = "linux")]
    crate::fd_table::take_own();
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let n = shared.iterations.len();
        let state = Rc::new(Core {
            shared,
            stats: RefCell::new((0..n).map(|_| Stats::new()).collect()),
            stopping: Cell::new(None),
            cores: cores as u32,
            h2_groups: RefCell::new(vec![Vec::new(); n]),
        });
        let seq = Rc::new(Cell::new(0u64));
        let ticker = spawn_ticker(state.clone(), core, seq.clone(), tx.clone(), interval);
        run_rounds(&state, (core, cores), &stop, pause).await;
        ticker.abort();
        // The receiver outlives the run unless the process is exiting, when
        // nothing is left to report to.
        let _ = tx.send(take(&state, core, &seq, true));
    });
}

/// Sends a snapshot every `interval` from the run's start on, until aborted.
fn spawn_ticker(
    state: Rc<Core>,
    core: usize,
    seq: Rc<Cell<u64>>,
    tx: Sender<Snapshot>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    let first = state.shared.start + interval;
    tokio::task::spawn_local(async move {
        let mut tick = first;
        loop {
            sleep_until(tick).await;
            // The receiver outlives the run unless the process is
            // exiting, when nothing is left to report to.
            let _ = tx.send(take(&state, core, &seq, false));
            tick += interval;
        }
    })
}

/// Runs the rounds one after another: a round's clients are dealt
/// round-robin to the cores, and before each round after the first every
/// core waits for the others to finish the one before, then for the round
/// gate when there is one (the ticker keeps sending snapshots meanwhile).
async fn run_rounds(
    state: &Rc<Core>,
    (core, cores): (usize, usize),
    stop: &CancellationToken,
    pause: Option<Arc<PauseGate>>,
) {
    let shared = state.shared.clone();
    for (r, run) in shared.rounds.iter().enumerate() {
        if r > 0 {
            wait_for_cores(&shared, r, stop).await;
            if let Some(gate) = &shared.gate {
                gate.mark_done(r);
                wait_for_release(gate, r, stop).await;
            }
        }
        if stop.is_cancelled() || state.stopped() {
            // A stop cut the round before: nothing new starts.
            return;
        }
        let gate = shared.gate.as_deref();
        if gate.is_some_and(|g| g.skips(r)) {
            // The node joined the test at a later round.
            continue;
        }
        // The first round starts on the run's start (aligned across nodes),
        // the next ones on the gate's instant (aligned too) or at once.
        let begin = if r == 0 {
            shared.start
        } else {
            gate.and_then(|g| g.start_of(r))
                .map_or_else(Instant::now, Instant::from_std)
        };
        let begin = begin + run.round.startup_delay;
        let clients = (core as u32..run.round.clients()).step_by(cores);
        run_clients(state, (r, &pause), begin, clients, stop).await;
        // The round's clients are done: their shared connections close.
        for &index in &run.iterations {
            state.h2_groups.borrow_mut()[index].clear();
        }
    }
}

/// Before round `r`: waits until every core of this node finished round `r - 1`.
async fn wait_for_cores(shared: &Shared, r: usize, stop: &CancellationToken) {
    shared.rounds_done.fetch_add(1, Ordering::AcqRel);
    // Watched rather than awaited: a core's runtime cannot be woken
    // from another core, whose file table lacks its fds (fd_table);
    // a millisecond is nothing beside a round.
    while shared.rounds_done.load(Ordering::Acquire)
        < r * shared.cores_running.load(Ordering::Acquire)
        && !stop.is_cancelled()
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Before round `r`: waits until the gate released it (every node finished
/// round `r - 1`), or the run is stopped.
async fn wait_for_release(gate: &RoundGate, r: usize, stop: &CancellationToken) {
    // Watched, as above: the gate is released from another thread.
    while gate.released() < r && !stop.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Runs this core's clients of round `r` until all are done or `stop` is
/// cancelled; on return no client task is left, so nothing records after
/// the last snapshot.
async fn run_clients(
    state: &Rc<Core>,
    (r, pause): (usize, &Option<Arc<PauseGate>>),
    begin: Instant,
    clients: impl Iterator<Item = u32>,
    stop: &CancellationToken,
) {
    let round = &state.shared.rounds[r].round;
    let mut clients_set = JoinSet::new();
    {
        let all_clients = async {
            for client in clients {
                // Delayed client creation: a client's state exists only from its
                // start on; otherwise every client is created up front and waits its turn.
                if round.delay_client_creation {
                    sleep_until(begin + round.arrival(client)).await;
                }
                let pause = pause.clone();
                clients_set.spawn_local(run_client(state.clone(), (r, pause), begin, client));
            }
            while clients_set.join_next().await.is_some() {}
        };
        tokio::pin!(all_clients);
        tokio::select! {
            _ = &mut all_clients => {}
            _ = stop.cancelled() => drain(state, all_clients).await,
        }
    }
    clients_set.abort_all();
    while clients_set.join_next().await.is_some() {}
    settle().await;
}

/// After a stop: clients start nothing new, and the requests in flight get
/// the grace to finish; returns once none is in flight, the clients are done
/// or the grace is over.
async fn drain(state: &Core, mut clients: Pin<&mut impl Future<Output = ()>>) {
    let now = Instant::now();
    state.stopping.set(Some(now));
    let until = now + state.shared.grace;
    // The gauge is watched rather than signalled, to keep the request path
    // free of it; a millisecond is nothing beside the grace.
    while crate::idle::in_flight() > 0 && Instant::now() < until {
        tokio::select! {
            _ = clients.as_mut() => return,
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
}

/// Lets the lane tasks of aborted clients (batch modes) be dropped, so that
/// their requests in flight are recorded as unfinished before the last
/// snapshot: an aborted task is dropped at the runtime's next turn.
async fn settle() {
    for _ in 0..1000 {
        if crate::idle::in_flight() == 0 {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// Moves what the core recorded into a snapshot, leaving fresh stats behind.
fn take(state: &Core, core: usize, seq: &Cell<u64>, last: bool) -> Snapshot {
    let n = state.shared.iterations.len();
    let fresh: Vec<Stats> = (0..n).map(|_| Stats::new()).collect();
    let iterations = std::mem::replace(&mut *state.stats.borrow_mut(), fresh);
    let s = seq.get();
    seq.set(s + 1);
    Snapshot {
        core,
        seq: s,
        elapsed: Instant::now().saturating_duration_since(state.shared.start),
        in_flight: crate::idle::in_flight(),
        iterations,
        last,
    }
}

/// One client of round `r`: waits for its arrival, then runs the round's
/// iterations, one after another or all at once.
async fn run_client(
    state: Rc<Core>,
    (r, pause): (usize, Option<Arc<PauseGate>>),
    begin: Instant,
    client: u32,
) {
    let shared = state.shared.clone();
    let run = &shared.rounds[r];
    let clients = run.round.clients();
    sleep_until(begin + run.round.arrival(client)).await;
    // A fresh session per client and round, as LPS's fresh clients.
    let session = shared.scripted.then(|| {
        let id = (r as u64) << 32 | u64::from(client);
        Rc::new(Client::new(id))
    });
    let cx = ClientCx {
        pause,
        client: session,
    };
    if run.round.run_in_parallel && run.iterations.len() > 1 {
        let mut set = JoinSet::new();
        for &index in &run.iterations {
            set.spawn_local(run_iteration(
                state.clone(),
                index,
                (client, clients),
                cx.clone(),
            ));
        }
        while set.join_next().await.is_some() {}
    } else {
        for &index in &run.iterations {
            if state.stopped() {
                return;
            }
            run_iteration(state.clone(), index, (client, clients), cx.clone()).await;
        }
    }
}

/// One client's run of an iteration, after the iteration's startup delay.
async fn run_iteration(state: Rc<Core>, index: usize, (client, clients): (u32, u32), cx: ClientCx) {
    let delay = state.shared.iterations[index].startup_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if !state.stopped() {
        iteration::run(state, index, (client, clients), cx).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request whose path is a template (resolved per request) keeps the
    /// text as written, spaces and all, as its fixed path: building the fixed
    /// HTTP/2 request from it must not refuse the plan (LPS's documentation:
    /// `url: ${baseUrl}/resources/$counter(start=1, end=50)`).
    #[test]
    fn a_templated_path_as_written_still_builds_the_fixed_h2_request() {
        let target = lps_config::Target {
            scheme: Scheme::Http,
            host: "127.0.0.1".into(),
            port: 8080,
            path_and_query: "/api/resources/$counter(start=1, end=50)".into(),
        };
        let req = lps_config::HttpRequest {
            method: "GET".into(),
            target,
            headers: Vec::new(),
            body: Vec::new(),
            version: lps_config::HttpVersion::Http11,
            retry: None,
            client_identity: None,
        };
        let h2 = h2_request(&req).expect("a fixed HTTP/2 request");
        assert_eq!(
            h2.uri.to_string(),
            "http://127.0.0.1:8080/api/resources/$counter(start=1,%20end=50)"
        );
    }
}
