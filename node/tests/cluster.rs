//! Cluster mode with real processes: a master and workers on loopback,
//! against lps's own target.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{LPS, Target};
use serde_json::Value;

/// A scratch directory with a settings file for one cluster.
struct Cluster {
    dir: PathBuf,
    settings: PathBuf,
    port: u16,
}

impl Cluster {
    fn new(name: &str, expected: u32, master_is_worker: bool, extra: &str) -> Cluster {
        let dir = std::env::temp_dir().join(format!("lps-cluster-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = common::closed_port();
        let settings = dir.join("lpsSettings.json");
        let text = format!(
            r#"{{ "Cluster": {{ "MasterNodeIP": "127.0.0.1", "GRPCPort": {port}, "MasterNodeIsWorker": {master_is_worker},
                 "ExpectedNumberOfWorkers": {expected}, "Secret": "test-secret", "HeartbeatTimeoutSeconds": 2{extra} }} }}"#
        );
        std::fs::write(&settings, text).unwrap();
        Cluster {
            dir,
            settings,
            port,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// An `lps` command in the cluster's directory with `settings` and `role`.
    fn command(&self, settings: &Path, role: &str) -> Command {
        let mut cmd = Command::new(LPS);
        cmd.current_dir(&self.dir)
            .args([
                "--settings",
                settings.to_str().unwrap(),
                "--role",
                role,
                "-q",
            ])
            // Parallel tests must not race for the default dashboard port.
            .args(["--dashboard-listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Starts `lps` with this cluster's settings in its directory.
    fn spawn(&self, role: &str, node_ip: &str, args: &[&str]) -> Child {
        self.command(&self.settings, role)
            .args(["--node-ip", node_ip])
            .args(args)
            .spawn()
            .expect("spawn lps")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait(child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    let mut child = child;
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "lps did not finish within {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Starts a worker with `--node-id id` and expects the master to refuse it, saying `why`.
fn refused_worker(c: &Cluster, node_ip: &str, run: &[&str], id: &str, why: &str) {
    let out = wait(
        c.spawn("worker", node_ip, &[run, &["--node-id", id]].concat()),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(why), "{}", stderr(&out));
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Reads the `total` histogram of an HdrHistogram log file.
fn read_histogram(path: &Path) -> hdrhistogram::Histogram<u64> {
    common::total_histogram(&std::fs::read(path).unwrap())
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn observers_wait_then_start_aligned_and_the_master_merges_exactly() {
    let target = Target::start(&["--record-arrivals"]);
    let url = target.url("/");
    let c = Cluster::new("exact", 2, false, "");
    let run = [
        "-u",
        url.as_str(),
        "-rc",
        "300",
        "-nc",
        "2",
        "--threads",
        "1",
    ];
    let w1 = c.spawn(
        "worker",
        "127.0.0.2",
        &[&run[..], &["--json", "w1.json", "--histogram", "w1.hlog"]].concat(),
    );
    // The first worker registers as an observer and waits: nothing is sent.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        u(&target.stats()["requests"]),
        0,
        "a worker ran before the master was ready"
    );
    let master = c.spawn(
        "master",
        "127.0.0.1",
        &[&run[..], &["--json", "master.json"]].concat(),
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        u(&target.stats()["requests"]),
        0,
        "the master started before the expected workers registered"
    );
    let w2 = c.spawn(
        "worker",
        "127.0.0.3",
        &[&run[..], &["--json", "w2.json", "--histogram", "w2.hlog"]].concat(),
    );
    let (w1, w2, master) = (wait(w1, LIMIT), wait(w2, LIMIT), wait(master, LIMIT));
    for out in [&w1, &w2, &master] {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    }
    assert!(stderr(&w1).contains("as an observer"), "{}", stderr(&w1));
    assert!(
        stderr(&w1).contains("every snapshot reached the master"),
        "{}",
        stderr(&w1)
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
    assert!(nodes.iter().all(|n| n["state"] == "Finished"), "{nodes:?}");
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

#[test]
fn a_killed_worker_is_lost_and_its_data_kept_while_the_others_complete() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let c = Cluster::new("lost", 2, true, "");
    let run = [
        "-u",
        url.as_str(),
        "-im",
        "D",
        "-d",
        "4",
        "-nc",
        "2",
        "--threads",
        "1",
    ];
    let master = c.spawn(
        "master",
        "127.0.0.1",
        &[&run[..], &["--json", "master.json"]].concat(),
    );
    let mut victim = c.spawn(
        "worker",
        "127.0.0.2",
        &[&run[..], &["--node-id", "victim"]].concat(),
    );
    let survivor = c.spawn(
        "worker",
        "127.0.0.3",
        &[&run[..], &["--node-id", "survivor"]].concat(),
    );
    std::thread::sleep(Duration::from_millis(2500));
    victim.kill().unwrap(); // SIGKILL
    let _ = victim.wait();
    let started = Instant::now();
    let master = wait(master, LIMIT);
    let survivor = wait(survivor, LIMIT);
    assert_eq!(master.status.code(), Some(0), "{}", stderr(&master));
    assert_eq!(survivor.status.code(), Some(0), "{}", stderr(&survivor));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        stderr(&master).contains("worker victim lost"),
        "{}",
        stderr(&master)
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
    let c = Cluster::new("busy", 2, true, "");
    // Every node runs one engine thread per core, flat out, for 4 s.
    let run = ["-u", url.as_str(), "-im", "D", "-d", "4", "-nc", "64"];
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
    std::thread::sleep(Duration::from_millis(1500));
    refused_worker(
        &c,
        "127.0.0.5",
        &run,
        "twin",
        "is taken by another worker (from \"127.0.0.2\")",
    );
    let (master, w1, w2) = (wait(master, LIMIT), wait(w1, LIMIT), wait(w2, LIMIT));
    for out in [&master, &w1, &w2] {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    }
    assert!(!stderr(&master).contains("lost"), "{}", stderr(&master));
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

#[test]
fn wrong_secret_and_other_plans_are_refused() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let c = Cluster::new("refuse", 1, false, "");
    let run = ["-u", url.as_str(), "-rc", "50", "--threads", "1"];
    let master = c.spawn(
        "master",
        "127.0.0.1",
        &[&run[..], &["--json", "master.json"]].concat(),
    );
    std::thread::sleep(Duration::from_millis(300));
    // Garbage on the gRPC port neither crashes nor stalls the master.
    for _ in 0..3 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", c.port)) {
            use std::io::Write;
            let _ = s.write_all(b"\x00\x01garbage that is not HTTP/2 at all\r\n\r\n");
        }
    }
    let bad_secret = c
        .command(&c.settings, "worker")
        .env("LPS_CLUSTER_SECRET", "wrong")
        .args(run)
        .spawn()
        .unwrap();
    let bad_secret = wait(bad_secret, LIMIT);
    assert_ne!(bad_secret.status.code(), Some(0));
    let e = stderr(&bad_secret);
    assert!(
        e.contains("wrong cluster secret") && e.contains(&format!("127.0.0.1:{}", c.port)),
        "{e}"
    );
    let other_plan = wait(
        c.spawn(
            "worker",
            "127.0.0.2",
            &["-u", &url, "-rc", "51", "--threads", "1"],
        ),
        LIMIT,
    );
    assert_ne!(other_plan.status.code(), Some(0));
    assert!(
        stderr(&other_plan).contains("plan fingerprint"),
        "{}",
        stderr(&other_plan)
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
    let good = wait(c.spawn("worker", "127.0.0.3", &run), LIMIT);
    assert_eq!(good.status.code(), Some(0), "{}", stderr(&good));
    let master = wait(master, LIMIT);
    assert_eq!(master.status.code(), Some(0), "{}", stderr(&master));
    assert!(stderr(&master).contains("refused"), "{}", stderr(&master));
    assert_eq!(u(&json(&c.path("master.json"))["requests"]["total"]), 50);
}

/// Runs a worker with `settings`, whose master at 127.0.0.1:`port` it cannot
/// reach; returns its one line of error and how long it took to give up.
fn unreachable(c: &Cluster, settings: &Path, port: u16) -> (String, Duration) {
    let started = Instant::now();
    let out = wait(
        c.command(settings, "worker")
            .args([
                "--node-ip",
                "127.0.0.2",
                "-u",
                "http://127.0.0.1:9/",
                "-rc",
                "1",
            ])
            .spawn()
            .unwrap(),
        LIMIT,
    );
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains(&format!("cannot reach the master at 127.0.0.1:{port}")),
        "{e}"
    );
    (e, took)
}

#[test]
fn unreachable_master_fails_within_the_connect_timeout_naming_the_address() {
    let c = Cluster::new("unreachable", 0, true, r#", "ConnectTimeoutSeconds": 1"#);
    let (_, took) = unreachable(&c, &c.settings, c.port);
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn a_port_that_is_not_a_masters_fails_like_an_unreachable_one() {
    // lps target answers HTTP/2 POSTs, so a gRPC call gets an answer, but no Welcome.
    let target = Target::start(&[]);
    let port: u16 = target.url("").rsplit(':').next().unwrap().parse().unwrap();
    let c = Cluster::new("not-a-master", 0, true, "");
    let settings = c.path("http-port.json");
    std::fs::write(
        &settings,
        format!(r#"{{ "Cluster": {{ "MasterNodeIP": "127.0.0.1", "GRPCPort": {port}, "ConnectTimeoutSeconds": 1 }} }}"#),
    )
    .unwrap();
    let (e, took) = unreachable(&c, &settings, port);
    assert!(e.contains("is this an lps master's gRPC port?"), "{e}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[test]
fn workers_keep_their_results_when_the_master_dies() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let c = Cluster::new("orphan", 1, true, "");
    let run = [
        "-u",
        url.as_str(),
        "-im",
        "D",
        "-d",
        "3",
        "-nc",
        "1",
        "--threads",
        "1",
    ];
    let mut master = c.spawn("master", "127.0.0.1", &run);
    let worker = c.spawn(
        "worker",
        "127.0.0.2",
        &[&run[..], &["--node-id", "orphan"]].concat(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    master.kill().unwrap();
    let _ = master.wait();
    let out = wait(worker, LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let e = stderr(&out);
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
    let c = Cluster::new("resume", 1, false, "");
    let proxy = Proxy::start(c.port);
    // The worker reaches the master through the proxy.
    let worker_settings = c.path("worker.json");
    let text = std::fs::read_to_string(&c.settings).unwrap().replace(
        &format!("\"GRPCPort\": {}", c.port),
        &format!("\"GRPCPort\": {}", proxy.port),
    );
    std::fs::write(&worker_settings, text).unwrap();
    // 1500 requests at 500 per second: a three-second run.
    let run = [
        "-u",
        url.as_str(),
        "-rc",
        "1500",
        "-nc",
        "1",
        "--rate",
        "500",
        "--threads",
        "1",
    ];
    let master = c.spawn(
        "master",
        "127.0.0.1",
        &[&run[..], &["--json", "master.json"]].concat(),
    );
    std::thread::sleep(Duration::from_millis(300));
    let worker = c
        .command(&worker_settings, "worker")
        .args(run)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1800));
    assert!(
        proxy.cut() > 0,
        "the worker's stream went through the proxy"
    );
    let (worker, master) = (wait(worker, LIMIT), wait(master, LIMIT));
    assert_eq!(worker.status.code(), Some(0), "{}", stderr(&worker));
    assert_eq!(master.status.code(), Some(0), "{}", stderr(&master));
    assert!(
        stderr(&worker).contains("reconnecting"),
        "{}",
        stderr(&worker)
    );
    assert!(
        stderr(&worker).contains("every snapshot reached the master"),
        "{}",
        stderr(&worker)
    );
    let report = json(&c.path("master.json"));
    assert_eq!(u(&report["requests"]["total"]), 1500, "{}", stderr(&master));
    assert_eq!(u(&target.stats()["requests"]), 1500);
    assert_eq!(report["nodes"][0]["state"], "Finished");
}

#[test]
fn grpc_over_tls_with_the_settings_certificates() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let c = Cluster::new(
        "tls",
        1,
        false,
        r#", "TlsCertificate": "cert.pem", "TlsKey": "key.pem", "ConnectTimeoutSeconds": 2"#,
    );
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    std::fs::write(c.path("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(c.path("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let run = [
        "-u",
        url.as_str(),
        "-rc",
        "100",
        "-nc",
        "2",
        "--threads",
        "1",
    ];
    let master = c.spawn(
        "master",
        "127.0.0.1",
        &[&run[..], &["--json", "master.json"]].concat(),
    );
    std::thread::sleep(Duration::from_millis(300));
    // A worker that speaks plaintext gRPC does not get through.
    let plain = c.path("plain.json");
    std::fs::write(
        &plain,
        format!(r#"{{ "Cluster": {{ "MasterNodeIP": "127.0.0.1", "GRPCPort": {}, "Secret": "test-secret", "ConnectTimeoutSeconds": 1 }} }}"#, c.port),
    )
    .unwrap();
    let refused = c.command(&plain, "worker").args(run).spawn().unwrap();
    let refused = wait(refused, LIMIT);
    assert_ne!(refused.status.code(), Some(0), "{}", stderr(&refused));
    let worker = wait(c.spawn("worker", "127.0.0.2", &run), LIMIT);
    assert_eq!(worker.status.code(), Some(0), "{}", stderr(&worker));
    let master = wait(master, LIMIT);
    assert_eq!(master.status.code(), Some(0), "{}", stderr(&master));
    assert_eq!(u(&json(&c.path("master.json"))["requests"]["total"]), 200);
}
