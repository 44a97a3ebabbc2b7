//! Cluster mode with real processes: a master and workers on loopback,
//! against lps's own target.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cluster::{first_connect, wait_for_node_requests};
use common::{Cluster, ClusterSettings, Finished, Lps, Target, args, read_json as json, u};

/// Waits for a node to exit within `LIMIT`.
fn wait(mut node: Lps) -> Finished {
    node.wait(LIMIT)
}

/// Starts a worker with `--node-id id` and expects the master to refuse it, saying `why`.
fn refused_worker(c: &Cluster, node_ip: &str, run: &[&str], id: &str, why: &str) {
    let out = wait(c.spawn("worker", node_ip, &[run, &["--node-id", id]].concat()));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains(why), "{}", out.stderr);
}

/// Reads the `total` histogram of an HdrHistogram log file.
fn read_histogram(path: &Path) -> hdrhistogram::Histogram<u64> {
    common::total_histogram(&std::fs::read(path).unwrap())
}

const LIMIT: Duration = Duration::from_secs(60);
/// How long a node may take to print what a test waits for.
const SOON: Duration = Duration::from_secs(20);

#[test]
fn observers_wait_then_start_aligned_and_the_master_merges_exactly() {
    let target = Target::start(&["--record-arrivals"]);
    let url = target.url("/");
    // Nothing here is about lost workers: a heartbeat timeout longer than a
    // loaded CI machine's scheduling gaps (one worker was once lost to 2 s).
    let c = Cluster::new(
        "exact",
        ClusterSettings::for_test(2, false).heartbeat_timeout(10),
    );
    let run = format!("-u {url} -rc 300 -nc 2 --threads 1");
    let w1 = c.spawn(
        "worker",
        "127.0.0.2",
        &args(&format!("{run} --json w1.json --histogram w1.hlog")),
    );
    // The first worker tries to reach the master, which is not there yet:
    // nothing is sent.
    first_connect(c.port, SOON);
    assert_eq!(
        u(&target.stats()["requests"]),
        0,
        "a worker ran before the master was ready"
    );
    let master = c.spawn(
        "master",
        "127.0.0.1",
        &args(&format!("{run} --json master.json")),
    );
    // It registers as an observer and waits: still nothing is sent.
    w1.wait_for_line("as an observer; waiting for it to be ready", SOON);
    master.wait_for_line("registered from 127.0.0.2", SOON);
    assert_eq!(
        u(&target.stats()["requests"]),
        0,
        "the master started before the expected workers registered"
    );
    let w2 = c.spawn(
        "worker",
        "127.0.0.3",
        &args(&format!("{run} --json w2.json --histogram w2.hlog")),
    );
    let (w1, w2, master) = (wait(w1), wait(w2), wait(master));
    for out in [&w1, &w2, &master] {
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    assert!(w1.stderr.contains("as an observer"), "{}", w1.stderr);
    assert!(
        w1.stderr.contains("every snapshot reached the master"),
        "{}",
        w1.stderr
    );
    let report = json(&c.path("master.json"));
    let (r1, r2) = (json(&c.path("w1.json")), json(&c.path("w2.json")));
    // Global count = sum of the workers' own counts = what the target saw.
    assert_eq!(u(&r1["requests"]["total"]), 600);
    assert_eq!(u(&r2["requests"]["total"]), 600);
    assert_eq!(u(&report["requests"]["total"]), 1200);
    assert_eq!(u(&target.stats()["requests"]), 1200);
    let nodes = report["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "the master runs no load here");
    assert_eq!(
        nodes
            .iter()
            .map(|n| u(&n["requests"]["total"]))
            .sum::<u64>(),
        1200
    );
    assert!(
        nodes.iter().all(|n| n["state"] == "Finished"),
        "{nodes:?}\nmaster:\n{}\nw2:\n{}",
        master.stderr,
        w2.stderr
    );
    // Percentiles are those of the merged histograms, not averages.
    let mut merged = read_histogram(&c.path("w1.hlog"));
    merged.add(read_histogram(&c.path("w2.hlog"))).unwrap();
    assert_eq!(merged.len(), 1200);
    let l = &report["latency_us"];
    assert_eq!(u(&l["p50"]), merged.value_at_quantile(0.5));
    assert_eq!(u(&l["p99"]), merged.value_at_quantile(0.99));
    assert_eq!(u(&l["p999"]), merged.value_at_quantile(0.999));
    assert_eq!(u(&l["max"]), merged.max());
    assert_eq!(u(&l["min"]), merged.min());
    // Aligned start: both workers' first requests arrive together.
    let arrivals: Vec<u64> = target.stats()["arrivals_us"]
        .as_array()
        .unwrap()
        .iter()
        .map(u)
        .collect();
    assert!(
        arrivals[3] - arrivals[0] < 50_000,
        "first arrivals {:?}",
        &arrivals[..4]
    );
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{signal} {pid}");
}

/// A master and one worker (2 s heartbeat timeout) running `seconds`
/// against a 20 ms route; once Running, `pause` stops and resumes one of
/// them. Both end with 0, every node Finished and every request the target
/// answered in the master's report; returns the master's stderr.
fn pause_mid_run(name: &str, seconds: u32, pause: impl FnOnce(&Lps, &Lps)) -> String {
    let target = Target::start(&[]);
    let url = target.url("/delay/20");
    let c = Cluster::new(name, ClusterSettings::for_test(1, false));
    let run = format!("-u {url} -im D -d {seconds} -nc 2 --threads 1");
    let master = c.spawn(
        "master",
        "127.0.0.1",
        &args(&format!("{run} --json master.json")),
    );
    let worker = c.spawn("worker", "127.0.0.2", &args(&run));
    master.wait_for_line("Ready -> Running", SOON);
    pause(&master, &worker);
    let (master, worker) = (wait(master), wait(worker));
    assert_eq!(master.code, Some(0), "{}", master.stderr);
    assert_eq!(worker.code, Some(0), "{}", worker.stderr);
    let report = json(&c.path("master.json"));
    let nodes = report["nodes"].as_array().unwrap();
    assert!(nodes.iter().all(|n| n["state"] == "Finished"), "{nodes:?}");
    assert_eq!(
        u(&report["requests"]["total"]),
        u(&target.stats()["requests"])
    );
    master.stderr
}

#[test]
fn a_master_paused_longer_than_the_heartbeat_timeout_loses_no_worker() {
    let log = pause_mid_run("paused", 6, |master, _| {
        signal(master.id(), "STOP");
        // The pause is the stimulus here, not a wait for something.
        std::thread::sleep(Duration::from_secs(3));
        signal(master.id(), "CONT");
    });
    // Its heartbeats waited in the master's socket: the worker was never silent.
    assert!(!log.contains("lost"), "{log}");
}

#[test]
fn a_worker_paused_past_the_heartbeat_timeout_still_delivers_its_whole_result() {
    pause_mid_run("frozen", 3, |master, worker| {
        signal(worker.id(), "STOP");
        // Lost while its stream stays open: the run is not over.
        master.wait_for_line("lost (no heartbeat", SOON);
        signal(worker.id(), "CONT");
    });
}

#[test]
fn a_killed_worker_is_lost_and_its_data_kept_while_the_others_complete() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let c = Cluster::new("lost", ClusterSettings::for_test(2, true));
    let run = format!("-u {url} -im D -d 4 -nc 2 --threads 1");
    let master = c.spawn(
        "master",
        "127.0.0.1",
        &args(&format!("{run} --json master.json")),
    );
    let board = master.dashboard(SOON);
    let mut victim = c.spawn(
        "worker",
        "127.0.0.2",
        &args(&format!("{run} --node-id victim")),
    );
    let survivor = c.spawn(
        "worker",
        "127.0.0.3",
        &args(&format!("{run} --node-id survivor")),
    );
    // Killed mid-run, once some of its data reached the master.
    wait_for_node_requests(board, SOON, |id| id == "victim");
    victim.kill(); // SIGKILL
    let started = Instant::now();
    let master = wait(master);
    let survivor = wait(survivor);
    assert_eq!(master.code, Some(0), "{}", master.stderr);
    assert_eq!(survivor.code, Some(0), "{}", survivor.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        master.stderr.contains("worker victim lost"),
        "{}",
        master.stderr
    );
    let report = json(&c.path("master.json"));
    let nodes = report["nodes"].as_array().unwrap();
    let node = |id: &str| {
        nodes
            .iter()
            .find(|n| n["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {nodes:?}"))
    };
    assert_eq!(node("victim")["state"], "Lost");
    assert!(
        u(&node("victim")["requests"]["total"]) > 0,
        "the lost worker's data is kept"
    );
    assert_eq!(node("survivor")["state"], "Finished");
    assert_eq!(node("master")["state"], "Finished");
    let sum: u64 = nodes.iter().map(|n| u(&n["requests"]["total"])).sum();
    assert_eq!(u(&report["requests"]["total"]), sum);
}

#[test]
fn no_node_is_lost_while_every_engine_core_is_saturated() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let c = Cluster::new("busy", ClusterSettings::for_test(2, true));
    // Every node runs one engine thread per core, flat out, for 4 s.
    let line = format!("-u {url} -im D -d 4 -nc 64");
    let run = args(&line);
    let master = c.spawn(
        "master",
        "127.0.0.1",
        &[&run[..], &["--json", "master.json"]].concat(),
    );
    // A worker may not take the id of the master's own node.
    refused_worker(&c, "127.0.0.4", &run, "master", "is the master's own");
    let w1 = c.spawn(
        "worker",
        "127.0.0.2",
        &[&run[..], &["--node-id", "twin"]].concat(),
    );
    let w2 = c.spawn("worker", "127.0.0.3", &run);
    // A second process may not take a registered worker's id: its snapshots
    // would merge into the first's, or be dropped as already seen.
    master.wait_for_line("lps master: worker twin registered from 127.0.0.2", SOON);
    refused_worker(
        &c,
        "127.0.0.5",
        &run,
        "twin",
        "is taken by another worker (from \"127.0.0.2\")",
    );
    let (master, w1, w2) = (wait(master), wait(w1), wait(w2));
    for out in [&master, &w1, &w2] {
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    assert!(!master.stderr.contains("lost"), "{}", master.stderr);
    let report = json(&c.path("master.json"));
    let nodes = report["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n["state"] == "Finished"), "{nodes:?}");
    // D mode drops the requests still in flight at its deadline (at most
    // one per client); everything answered is counted.
    let (counted, seen) = (
        u(&report["requests"]["total"]),
        u(&target.stats()["requests"]),
    );
    assert!(
        counted <= seen && seen - counted <= 3 * 64,
        "report {counted}, target {seen}"
    );
}

/// The master's line once its gRPC port accepts workers.
const LISTENING: &str = "lps master: listening for workers on";

#[test]
fn wrong_secret_and_other_plans_are_refused() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let c = Cluster::new("refuse", ClusterSettings::for_test(1, false));
    let line = format!("-u {url} -rc 50 --threads 1");
    let run = args(&line);
    let master = c.spawn(
        "master",
        "127.0.0.1",
        &[&run[..], &["--json", "master.json"]].concat(),
    );
    master.wait_for_line(LISTENING, SOON);
    // Garbage on the gRPC port neither crashes nor stalls the master.
    for _ in 0..3 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", c.port)) {
            use std::io::Write;
            let _ = s.write_all(b"\x00\x01garbage that is not HTTP/2 at all\r\n\r\n");
        }
    }
    let bad_secret = wait(Lps::start(
        c.command(&c.settings, "worker")
            .env("LPS_CLUSTER_SECRET", "wrong")
            .args(&run),
    ));
    assert_ne!(bad_secret.code, Some(0));
    let e = &bad_secret.stderr;
    assert!(
        e.contains("wrong cluster secret") && e.contains(&format!("127.0.0.1:{}", c.port)),
        "{e}"
    );
    let other_plan = wait(c.spawn(
        "worker",
        "127.0.0.2",
        &args(&format!("-u {url} -rc 51 --threads 1")),
    ));
    assert_ne!(other_plan.code, Some(0));
    assert!(
        other_plan.stderr.contains("plan fingerprint"),
        "{}",
        other_plan.stderr
    );
    // A node id that would forge a line in the master's log.
    refused_worker(
        &c,
        "127.0.0.4",
        &run,
        "w\nlps master: Running -> Completed",
        "must not hold control characters",
    );
    // A right worker still gets through and the test completes.
    let good = wait(c.spawn("worker", "127.0.0.3", &run));
    assert_eq!(good.code, Some(0), "{}", good.stderr);
    let master = wait(master);
    assert_eq!(master.code, Some(0), "{}", master.stderr);
    assert!(master.stderr.contains("refused"), "{}", master.stderr);
    assert_eq!(u(&json(&c.path("master.json"))["requests"]["total"]), 50);
}

/// Runs a worker with `settings`, whose master at 127.0.0.1:`port` it cannot
/// reach; returns its one line of error and how long it took to give up.
fn unreachable(c: &Cluster, settings: &Path, port: u16) -> (String, Duration) {
    let started = Instant::now();
    let out = wait(Lps::start(
        c.command(settings, "worker")
            .args(args("--node-ip 127.0.0.2 -u http://127.0.0.1:9/ -rc 1")),
    ));
    let took = started.elapsed();
    assert_eq!(out.code, Some(1));
    let e = out.stderr;
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains(&format!("cannot reach the master at 127.0.0.1:{port}")),
        "{e}"
    );
    (e, took)
}

#[test]
fn unreachable_master_fails_within_the_connect_timeout_naming_the_address() {
    let c = Cluster::new(
        "unreachable",
        ClusterSettings::for_test(0, true).connect_timeout(1),
    );
    let (_, took) = unreachable(&c, &c.settings, c.port);
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn a_port_that_is_not_a_masters_fails_like_an_unreachable_one() {
    // lps target answers HTTP/2 POSTs, so a gRPC call gets an answer, but no Welcome.
    let target = Target::start(&[]);
    let port = target.addr.port();
    let c = Cluster::new("not-a-master", ClusterSettings::for_test(0, true));
    let settings = c.dir.write(
        "http-port.json",
        ClusterSettings::at(port).connect_timeout(1).json(),
    );
    let (e, took) = unreachable(&c, &settings, port);
    assert!(e.contains("is this an lps master's gRPC port?"), "{e}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[test]
fn workers_keep_their_results_when_the_master_dies() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let c = Cluster::new("orphan", ClusterSettings::for_test(1, true));
    let run = format!("-u {url} -im D -d 3 -nc 1 --threads 1");
    let mut master = c.spawn("master", "127.0.0.1", &args(&run));
    let board = master.dashboard(SOON);
    let worker = c.spawn(
        "worker",
        "127.0.0.2",
        &args(&format!("{run} --node-id orphan")),
    );
    // The master dies mid-run, once the worker's data reaches it.
    wait_for_node_requests(board, SOON, |id| id == "orphan");
    master.kill();
    let out = wait(worker);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let e = out.stderr;
    assert!(e.contains("lps-worker-orphan.json"), "{e}");
    let local = json(&c.path("lps-worker-orphan.json"));
    assert!(u(&local["requests"]["total"]) > 0);
    let d = local["duration_s"].as_f64().unwrap();
    assert!((d - 3.0).abs() < 0.3, "the worker ran its whole test: {d}");
}

/// A TCP proxy on loopback whose connections can all be cut at once.
struct Proxy {
    port: u16,
    live: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let live = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let conns = live.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server.try_clone().unwrap(), client.try_clone().unwrap()),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
                conns.lock().unwrap().extend([client, server]);
            }
        });
        Proxy { port, live }
    }

    /// Drops every connection through the proxy; new ones are still accepted.
    fn cut(&self) -> usize {
        let mut conns = self.live.lock().unwrap();
        for c in conns.iter() {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        let n = conns.len();
        conns.clear();
        n
    }
}

#[test]
fn a_brief_disconnect_resumes_without_loss_or_double_counting() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let settings = ClusterSettings::for_test(1, false);
    let c = Cluster::new("resume", settings.clone());
    let proxy = Proxy::start(c.port);
    // The worker reaches the master through the proxy.
    let worker_settings = c.dir.write("worker.json", settings.port(proxy.port).json());
    // 1500 requests at 500 per second: a three-second run.
    let line = format!("-u {url} -rc 1500 -nc 1 --rate 500 --threads 1");
    let run = args(&line);
    let master = c.spawn(
        "master",
        "127.0.0.1",
        &[&run[..], &["--json", "master.json"]].concat(),
    );
    let board = master.dashboard(SOON);
    master.wait_for_line(LISTENING, SOON);
    let worker = Lps::start(c.command(&worker_settings, "worker").args(&run));
    // Cut mid-run, once snapshots flow through the proxy.
    wait_for_node_requests(board, SOON, |_| true);
    assert!(
        proxy.cut() > 0,
        "the worker's stream went through the proxy"
    );
    let (worker, master) = (wait(worker), wait(master));
    assert_eq!(worker.code, Some(0), "{}", worker.stderr);
    assert_eq!(master.code, Some(0), "{}", master.stderr);
    assert!(worker.stderr.contains("reconnecting"), "{}", worker.stderr);
    assert!(
        worker.stderr.contains("every snapshot reached the master"),
        "{}",
        worker.stderr
    );
    let report = json(&c.path("master.json"));
    assert_eq!(u(&report["requests"]["total"]), 1500, "{}", master.stderr);
    assert_eq!(u(&target.stats()["requests"]), 1500);
    assert_eq!(report["nodes"][0]["state"], "Finished");
}

#[test]
fn grpc_over_tls_with_the_settings_certificates() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let settings = ClusterSettings::for_test(1, false);
    let c = Cluster::new(
        "tls",
        settings
            .clone()
            .tls("cert.pem", "key.pem")
            .connect_timeout(2),
    );
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    c.dir.write("cert.pem", cert.cert.pem());
    c.dir.write("key.pem", cert.signing_key.serialize_pem());
    let line = format!("-u {url} -rc 100 -nc 2 --threads 1");
    let run = args(&line);
    let master = c.spawn(
        "master",
        "127.0.0.1",
        &[&run[..], &["--json", "master.json"]].concat(),
    );
    master.wait_for_line(LISTENING, SOON);
    // A worker that speaks plaintext gRPC does not get through.
    let plain = ClusterSettings::at(c.port)
        .secret("test-secret")
        .connect_timeout(1);
    let plain = c.dir.write("plain.json", plain.json());
    let refused = wait(Lps::start(c.command(&plain, "worker").args(&run)));
    assert_ne!(refused.code, Some(0), "{}", refused.stderr);
    let worker = wait(c.spawn("worker", "127.0.0.2", &run));
    assert_eq!(worker.code, Some(0), "{}", worker.stderr);
    let master = wait(master);
    assert_eq!(master.code, Some(0), "{}", master.stderr);
    assert_eq!(u(&json(&c.path("master.json"))["requests"]["total"]), 200);
}

/// The node `id` in a cluster report's `nodes`.
fn node<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    let nodes = report["nodes"]
        .as_array()
        .expect("a cluster report has nodes");
    nodes
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {nodes:?}"))
}

#[test]
fn a_restarted_master_is_caught_up_with_each_workers_whole_result() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let c = Cluster::new("restart", ClusterSettings::for_test(2, true));
    let run = format!("-u {url} -im D -d 4 -nc 2 --threads 1");
    let mut first = c.spawn(
        "master",
        "127.0.0.1",
        &args(&format!("{run} --json first.json")),
    );
    let board = first.dashboard(SOON);
    let workers: Vec<Lps> = ["w1", "w2"]
        .iter()
        .zip(["127.0.0.2", "127.0.0.3"])
        .map(|(id, ip)| {
            c.spawn(
                "worker",
                ip,
                &args(&format!("{run} --node-id {id} --json {id}.json")),
            )
        })
        .collect();
    // Killed mid-run, once both workers' data reached it (and was acknowledged).
    wait_for_node_requests(board, SOON, |id| id == "w1");
    wait_for_node_requests(board, SOON, |id| id == "w2");
    first.kill(); // SIGKILL: it writes nothing more
    // Its report was never written: no empty or partial file stands in for it.
    let left = c.path("first.json");
    assert!(
        !left.exists(),
        "the killed master left {}: {:?}",
        left.display(),
        std::fs::read(&left)
    );
    // A new master on the same port, with the same test.
    let second = c.spawn(
        "master",
        "127.0.0.1",
        &args(&format!("{run} --json second.json")),
    );
    let outs: Vec<Finished> = workers.into_iter().map(wait).collect();
    let second = wait(second);
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let report = json(&c.path("second.json"));
    for (id, out) in ["w1", "w2"].iter().zip(&outs) {
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(
            out.stderr.contains("is a new master"),
            "{id} saw the master change: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("every snapshot reached the master"),
            "{}",
            out.stderr
        );
        // The new master holds the worker's whole run, exactly: counts and histograms.
        let own = json(&c.path(&format!("{id}.json")));
        let seen = node(&report, id);
        assert_eq!(seen["requests"], own["requests"], "{id}: {}", second.stderr);
        assert_eq!(seen["latency_us"], own["latency_us"], "{id}");
        assert_eq!(seen["bytes"], own["bytes"], "{id}");
        assert_eq!(seen["caught_up"], true, "{id}");
        assert!(
            second.stderr.contains(&format!("worker {id} caught up")),
            "{}",
            second.stderr
        );
    }
    // The new master's own node ran afresh, and says nothing of catching up.
    assert_eq!(
        node(&report, "master")["caught_up"],
        serde_json::Value::Null
    );
    let sum: u64 = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| u(&n["requests"]["total"]))
        .sum();
    assert_eq!(u(&report["requests"]["total"]), sum);
}

/// A plan of two rounds against `url`: round First, one client sending
/// `first` requests one after another to `url` + `first_path`; round
/// Second, two clients each sending `second` requests to `url` + `second_path`.
fn two_rounds(
    url: &str,
    (first, first_path): (u32, &str),
    (second, second_path): (u32, &str),
) -> String {
    format!(
        "\
name: Barrier
rounds:
  - name: First
    iterations:
      - name: slow
        requestCount: {first}
        httpRequest:
          method: GET
          url: {url}{first_path}
  - name: Second
    numberOfClients: 2
    iterations:
      - name: next
        requestCount: {second}
        httpRequest:
          method: GET
          url: {url}{second_path}
"
    )
}

/// Arrival times (ms, from the first) at the target.
fn arrivals_ms(target: &Target) -> Vec<f64> {
    let us: Vec<u64> = target.stats()["arrivals_us"]
        .as_array()
        .expect("arrivals recorded")
        .iter()
        .map(u)
        .collect();
    us.iter().map(|t| (t - us[0]) as f64 / 1000.0).collect()
}

#[test]
fn a_round_starts_on_every_node_once_every_node_finished_the_one_before() {
    let target = Target::start(&["--record-arrivals"]);
    let c = Cluster::new("rounds", ClusterSettings::for_test(1, true));
    let plan = c.dir.write(
        "plan.yaml",
        two_rounds(&target.url("/"), (3, "delay/100"), (1, "")),
    );
    // The same plan on both nodes; the worker paces its requests at one a
    // second (an option, not the plan): its round First lasts 2.1 s, the
    // master's 0.3 s.
    let master = c.spawn_plan("master", "127.0.0.1", &plan, &args("--threads 1"));
    let worker = c.spawn_plan("worker", "127.0.0.2", &plan, &args("--threads 1 --rate 1"));
    let (worker, master) = (wait(worker), wait(master));
    for out in [&worker, &master] {
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    assert!(
        master
            .stderr
            .contains("round 2 of 2 starts: every node finished round 1"),
        "{}",
        master.stderr
    );
    let t = arrivals_ms(&target);
    assert_eq!(t.len(), 6 + 4, "{t:?}");
    // Round First's six requests come first: the worker's last of them 2 s
    // in (its pace), not later than any of round Second's...
    assert!(t[5] >= 1990.0, "a round Second request came early: {t:?}");
    // ...which all wait until it was answered (100 ms), on both nodes.
    assert!(
        t[6] >= t[5] + 100.0,
        "round Second before First ended: {t:?}"
    );
    // Round Second starts at one instant on both nodes: the master's two
    // clients and the worker's first (its second comes a second later).
    assert!(t[8] - t[6] < 50.0, "round Second's starts: {t:?}");
}

#[test]
fn a_worker_killed_mid_round_holds_up_the_next_round_only_until_it_is_lost() {
    let target = Target::start(&[]);
    let c = Cluster::new("round-lost", ClusterSettings::for_test(1, true));
    let plan = c.dir.write(
        "plan.yaml",
        two_rounds(&target.url("/"), (30, "delay/100"), (1, "")),
    );
    let master = c.spawn_plan(
        "master",
        "127.0.0.1",
        &plan,
        &args("--threads 1 --json master.json"),
    );
    // The worker's round First would last 30 s.
    let mut victim = c.spawn_plan(
        "worker",
        "127.0.0.2",
        &plan,
        &args("--threads 1 --rate 1 --node-id victim"),
    );
    // Both run round First: the master's takes 3 s, the worker's 30 s.
    target.wait_for_requests(5, SOON);
    victim.kill(); // SIGKILL
    let killed = Instant::now();
    let master = wait(master);
    assert_eq!(master.code, Some(0), "{}", master.stderr);
    // Lost after the 2 s heartbeat timeout; then round Second runs.
    assert!(killed.elapsed() < Duration::from_secs(15));
    let lost = master
        .stderr
        .find("worker victim lost")
        .expect(&master.stderr);
    let second = master
        .stderr
        .find("round 2 of 2 starts")
        .expect(&master.stderr);
    assert!(lost < second, "{}", master.stderr);
    let report = json(&c.path("master.json"));
    let nodes = report["nodes"].as_array().unwrap();
    let own = nodes.iter().find(|n| n["id"] == "master").unwrap();
    assert_eq!(u(&own["requests"]["total"]), 30 + 2, "{own}");
}

#[test]
fn a_worker_that_joins_a_later_round_starts_at_it() {
    let target = Target::start(&[]);
    let c = Cluster::new("round-late", ClusterSettings::for_test(0, true));
    // Round First is one request; round Second lasts 3 s (30 × 100 ms).
    let plan = two_rounds(&target.url("/"), (1, ""), (30, "delay/100"));
    let plan = c.dir.write("plan.yaml", plan);
    let master = c.spawn_plan(
        "master",
        "127.0.0.1",
        &plan,
        &args("--threads 1 --json master.json"),
    );
    master.wait_for_line("round 2 of 2 starts", SOON);
    let late = c.spawn_plan(
        "worker",
        "127.0.0.2",
        &plan,
        &args("--threads 1 --json late.json --node-id late"),
    );
    let (late, master) = (wait(late), wait(master));
    for out in [&late, &master] {
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    assert!(
        late.stderr
            .contains("the test is at round 2 of the plan: this worker starts there"),
        "{}",
        late.stderr
    );
    let report = json(&c.path("late.json"));
    let its = report["iterations"].as_array().unwrap();
    assert_eq!(u(&its[0]["requests"]["total"]), 0, "round First is skipped");
    assert_eq!(u(&its[1]["requests"]["total"]), 2 * 30);
}

#[test]
fn a_worker_whose_master_died_goes_on_to_the_next_rounds_without_it() {
    let target = Target::start(&[]);
    let settings = ClusterSettings::for_test(1, true).connect_timeout(2);
    let c = Cluster::new("round-orphan", settings);
    // Round First lasts 3 s (30 × 100 ms) on both nodes.
    let plan = two_rounds(&target.url("/"), (30, "delay/100"), (1, ""));
    let plan = c.dir.write("plan.yaml", plan);
    let mut master = c.spawn_plan("master", "127.0.0.1", &plan, &args("--threads 1"));
    let board = master.dashboard(SOON);
    let worker = c.spawn_plan(
        "worker",
        "127.0.0.2",
        &plan,
        &args("--threads 1 --node-id orphan"),
    );
    // The master dies in round First, once the worker's data reaches it.
    wait_for_node_requests(board, SOON, |id| id == "orphan");
    master.kill();
    let out = wait(worker);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("this worker's next rounds start without it"),
        "{}",
        out.stderr
    );
    let local = json(&c.path("lps-worker-orphan.json"));
    let its = local["iterations"].as_array().unwrap();
    assert_eq!(u(&its[0]["requests"]["total"]), 30);
    assert_eq!(u(&its[1]["requests"]["total"]), 2, "round Second ran");
}

#[test]
fn a_queue_feeders_rows_go_to_one_client_each_across_the_cluster() {
    let target = Target::start(&[]);
    // The master runs load too: three nodes, two clients each.
    let c = Cluster::new("feed", ClusterSettings::for_test(2, true));
    let names = ["ann", "bob", "cyd", "dee", "eve", "fay"];
    c.dir
        .write("users.csv", format!("name\n{}\n", names.join("\n")));
    let plan = c.dir.write(
        "plan.yaml",
        format!(
            r#"name: Feed
rounds:
  - name: r
    numberOfClients: 2
    iterations:
      - name: tag
        before:
          - $feed(source=users.csv, strategy=queue, variable=user)
        httpRequest:
          url: {url}/tag/${{user.name}}
          method: GET
"#,
            url = target.url("")
        ),
    );
    let master = c.spawn_plan(
        "master",
        "127.0.0.1",
        &plan,
        &args("--threads 1 --json master.json"),
    );
    let w1 = c.spawn_plan("worker", "127.0.0.2", &plan, &args("--threads 1"));
    let w2 = c.spawn_plan("worker", "127.0.0.3", &plan, &args("--threads 1"));
    let (w1, w2, master) = (wait(w1), wait(w2), wait(master));
    for out in [&w1, &w2, &master] {
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    let report = json(&c.path("master.json"));
    assert_eq!(u(&report["requests"]["ok"]), 6, "{report}");
    assert_eq!(u(&report["requests"]["unresolved"]), 0, "{report}");
    // Each name was sent once, by one client of one node.
    let tags = &target.stats()["journey"]["tags"];
    for name in names {
        assert_eq!(u(&tags[name]), 1, "{tags}");
    }
    assert_eq!(tags.as_object().map(|t| t.len()), Some(6), "{tags}");
}

#[test]
fn a_worker_that_joins_after_the_start_takes_no_feeder_rows() {
    let target = Target::start(&[]);
    let c = Cluster::new("feed-late", ClusterSettings::for_test(0, true));
    c.dir.write("users.csv", "name\nann\nbob\ncyd\n");
    // A row, then 3 s of slow requests (30 × 100 ms) for the late worker to join in.
    let plan = c.dir.write(
        "plan.yaml",
        format!(
            r#"name: Feed
rounds:
  - name: r
    iterations:
      - name: tag
        before:
          - $feed(source=users.csv, strategy=queue, variable=user)
        skipIf: '"${{user.name}}" == ""'
        httpRequest:
          url: {url}/tag/${{user.name}}
          method: GET
      - name: slow
        requestCount: 30
        httpRequest:
          url: {url}/delay/100
          method: GET
"#,
            url = target.url("")
        ),
    );
    let master = c.spawn_plan("master", "127.0.0.1", &plan, &args("--threads 1"));
    target.wait_for_requests(2, SOON);
    let late = c.spawn_plan(
        "worker",
        "127.0.0.2",
        &plan,
        &args("--threads 1 --json late.json --node-id late"),
    );
    let (late, master) = (wait(late), wait(master));
    for out in [&late, &master] {
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    assert!(
        late.stderr.contains("joined after the start"),
        "{}",
        late.stderr
    );
    // Its rows could be the ones the nodes from the start hand out: it
    // takes none, and skips the iteration that needs one.
    let report = json(&c.path("late.json"));
    let tag = &report["iterations"][0]["requests"];
    assert_eq!((u(&tag["total"]), u(&tag["skipped"])), (0, 1), "{report}");
    let tags = &target.stats()["journey"]["tags"];
    assert_eq!(tags, &serde_json::json!({"ann": 1}), "{tags}");
}

/// The number in the master's "`id` finished (N requests, M snapshots
/// merged)" line: how many snapshots of worker `id` it merged.
fn snapshots_merged(master: &str, id: &str) -> u64 {
    let line = master
        .lines()
        .find(|l| l.contains(&format!("{id} finished (")))
        .unwrap_or_else(|| panic!("no finished line for {id}:\n{master}"));
    let count = line
        .split(", ")
        .nth(1)
        .and_then(|s| s.strip_suffix(" snapshots merged)"))
        .unwrap_or_else(|| panic!("no snapshot count in {line:?}"));
    count.parse().unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

#[test]
fn a_worker_sends_one_snapshot_per_interval_for_all_its_cores_merged_exactly() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let c = Cluster::new("one-per-second", ClusterSettings::for_test(1, false));
    // Three engine cores, a client on each, three seconds.
    let seconds = 3;
    let run = format!("-u {url} -im D -d {seconds} -nc 3 --threads 3");
    let master = c.spawn(
        "master",
        "127.0.0.1",
        &args(&format!("{run} --json master.json")),
    );
    let worker = c.spawn(
        "worker",
        "127.0.0.2",
        &args(&format!(
            "{run} --node-id w --json w.json --histogram w.hlog"
        )),
    );
    let (worker, master) = (wait(worker), wait(master));
    assert_eq!(worker.code, Some(0), "{}", worker.stderr);
    assert_eq!(master.code, Some(0), "{}", master.stderr);
    // One a second, and the last core's tail; one per core would be 9 to
    // 12. Each core's last part joins its last interval (a clean-clone CI
    // run saw 6 when each went apart); a core late under load may add one.
    let merged = snapshots_merged(&master.stderr, "w");
    assert!(
        (seconds..=seconds + 2).contains(&merged),
        "{merged} snapshots for a {seconds} s run of 3 cores:\n{}",
        master.stderr
    );
    // The merge is exact: the master holds the worker's own result.
    let report = json(&c.path("master.json"));
    let own = json(&c.path("w.json"));
    let seen = node(&report, "w");
    assert!(u(&own["requests"]["total"]) > 0, "{}", worker.stderr);
    assert_eq!(seen["requests"], own["requests"], "{}", master.stderr);
    assert_eq!(seen["latency_us"], own["latency_us"]);
    assert_eq!(seen["bytes"], own["bytes"]);
    assert_eq!(report["requests"], own["requests"]);
    assert_eq!(
        u(&report["requests"]["total"]),
        u(&target.stats()["requests"])
    );
    let hist = read_histogram(&c.path("w.hlog"));
    assert_eq!(
        u(&report["latency_us"]["p99"]),
        hist.value_at_quantile(0.99)
    );
    assert_eq!(u(&report["latency_us"]["max"]), hist.max());
    assert_eq!(report["nodes"][0]["state"], "Finished");
}
