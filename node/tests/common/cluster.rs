//! Clusters on loopback: the settings file built by one function, a
//! cluster's scratch directory, its nodes, and the events to wait for.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::process::{LPS, Lps};
use super::scratch::Scratch;

/// The `Cluster` section of a settings file; keys left at None are not written.
#[derive(Debug, Clone, Default)]
pub struct ClusterSettings {
    pub port: u16,
    pub master_is_worker: Option<bool>,
    pub expected_workers: Option<u32>,
    pub secret: Option<String>,
    pub heartbeat_timeout_s: Option<u32>,
    pub connect_timeout_s: Option<u32>,
    pub max_nodes: Option<u32>,
    /// `TlsCertificate` and `TlsKey`.
    pub tls: Option<(String, String)>,
}

impl ClusterSettings {
    /// A master at 127.0.0.1:`port`, every other key left out.
    pub fn at(port: u16) -> ClusterSettings {
        ClusterSettings {
            port,
            ..Default::default()
        }
    }

    /// What most cluster tests run with: a free port, the secret
    /// `test-secret` and a 2 s heartbeat timeout (a lost worker is seen soon).
    pub fn for_test(expected_workers: u32, master_is_worker: bool) -> ClusterSettings {
        ClusterSettings {
            master_is_worker: Some(master_is_worker),
            expected_workers: Some(expected_workers),
            secret: Some("test-secret".into()),
            heartbeat_timeout_s: Some(2),
            ..ClusterSettings::at(super::closed_port())
        }
    }

    pub fn port(self, port: u16) -> Self {
        ClusterSettings { port, ..self }
    }

    pub fn secret(self, secret: &str) -> Self {
        ClusterSettings {
            secret: Some(secret.into()),
            ..self
        }
    }

    pub fn heartbeat_timeout(self, seconds: u32) -> Self {
        ClusterSettings {
            heartbeat_timeout_s: Some(seconds),
            ..self
        }
    }

    pub fn connect_timeout(self, seconds: u32) -> Self {
        ClusterSettings {
            connect_timeout_s: Some(seconds),
            ..self
        }
    }

    pub fn max_nodes(self, max: u32) -> Self {
        ClusterSettings {
            max_nodes: Some(max),
            ..self
        }
    }

    pub fn tls(self, certificate: &str, key: &str) -> Self {
        ClusterSettings {
            tls: Some((certificate.into(), key.into())),
            ..self
        }
    }

    /// The settings file's text: `{"Cluster": {...}}`.
    pub fn json(&self) -> String {
        let mut c = Map::new();
        c.insert("MasterNodeIP".into(), json!("127.0.0.1"));
        c.insert("GRPCPort".into(), json!(self.port));
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(v) = value {
                c.insert(key.into(), v);
            }
        };
        put("MasterNodeIsWorker", self.master_is_worker.map(Value::from));
        put(
            "ExpectedNumberOfWorkers",
            self.expected_workers.map(Value::from),
        );
        put("Secret", self.secret.clone().map(Value::from));
        put(
            "HeartbeatTimeoutSeconds",
            self.heartbeat_timeout_s.map(Value::from),
        );
        put(
            "ConnectTimeoutSeconds",
            self.connect_timeout_s.map(Value::from),
        );
        put("MaxNodes", self.max_nodes.map(Value::from));
        if let Some((cert, key)) = &self.tls {
            put("TlsCertificate", Some(json!(cert)));
            put("TlsKey", Some(json!(key)));
        }
        json!({ "Cluster": c }).to_string()
    }
}

/// A cluster's scratch directory, with its settings in `lpsSettings.json`.
pub struct Cluster {
    pub dir: Scratch,
    pub settings: PathBuf,
    /// The master's gRPC port.
    pub port: u16,
}

impl Cluster {
    pub fn new(name: &str, settings: ClusterSettings) -> Cluster {
        let dir = Scratch::new(&format!("cluster-{name}"));
        let path = dir.write("lpsSettings.json", settings.json());
        Cluster {
            dir,
            settings: path,
            port: settings.port,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path(name)
    }

    /// An `lps` command in the cluster's directory with `settings` and `role`.
    pub fn command(&self, settings: &Path, role: &str) -> Command {
        self.command_after(&[], settings, role)
    }

    /// [`Cluster::command`], its arguments after `first` (a subcommand).
    fn command_after(&self, first: &[&str], settings: &Path, role: &str) -> Command {
        let mut cmd = Command::new(LPS);
        cmd.current_dir(self.dir.dir())
            .args(first)
            .args(["--settings", settings.to_str().unwrap(), "--role", role])
            .arg("-q")
            // Parallel tests must not race for the default dashboard port.
            .args(["--dashboard-listen", "127.0.0.1:0"]);
        cmd
    }

    /// Starts a node with this cluster's settings in its directory.
    pub fn spawn(&self, role: &str, node_ip: &str, args: &[&str]) -> Lps {
        Lps::start(
            self.command(&self.settings, role)
                .args(["--node-ip", node_ip])
                .args(args),
        )
    }

    /// Starts a node running the plan file `plan` (`lps run PLAN`) with
    /// this cluster's settings in its directory.
    pub fn spawn_plan(&self, role: &str, node_ip: &str, plan: &Path, args: &[&str]) -> Lps {
        let run = ["run", plan.to_str().expect("a UTF-8 path")];
        Lps::start(
            self.command_after(&run, &self.settings, role)
                .args(["--node-ip", node_ip])
                .args(args),
        )
    }
}

/// Holds `port` until something connects to it (a worker trying to reach a
/// master not started yet), then resets that connection and frees the port.
pub fn first_connect(port: u16, limit: Duration) {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the master's port");
    listener.set_nonblocking(true).unwrap();
    let conn = super::poll("a connection to the master's port", limit, || {
        listener.accept().ok().map(|(conn, _)| conn)
    });
    // Linger 0: a reset, so no TIME_WAIT is left on the master's port.
    socket2::SockRef::from(&conn)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}

/// The requests the master's dashboard at `board` shows for node `id`
/// (0 while it is not listed).
pub fn node_requests(board: SocketAddr, id: impl Fn(&str) -> bool) -> u64 {
    let nodes = super::http::get_json(board, "/api/nodes");
    nodes
        .as_array()
        .expect("/api/nodes is a list")
        .iter()
        .filter(|n| n["id"].as_str().is_some_and(&id))
        .map(|n| n["requests"].as_u64().unwrap_or(0))
        .sum()
}

/// Waits (within `limit`) until the master's dashboard at `board` shows
/// requests of a node that `id` picks: its snapshots reach the master.
pub fn wait_for_node_requests(board: SocketAddr, limit: Duration, id: impl Fn(&str) -> bool) {
    super::poll("a node's requests at the master", limit, || {
        (node_requests(board, &id) > 0).then_some(())
    });
}
