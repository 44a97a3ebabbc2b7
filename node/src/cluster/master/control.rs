//! The control thread: the gRPC server and the master's timers, on a
//! runtime of its own so that engine load never delays them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use lps_proto::cluster_server::ClusterServer;
use tokio::time::MissedTickBehavior;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use super::MAX_MESSAGE_BYTES;
use super::gate::{self, Gate};
use super::service::Service;
use super::shared::Master;
use crate::shutdown::CancellationToken;

/// How often the timers run: heartbeats, the start instant, the dashboard.
const TICK: Duration = Duration::from_millis(100);
/// How often the master's own load is checked for a round it finished:
/// often, as every node waits for the next round meanwhile.
const ROUND_POLL: Duration = Duration::from_millis(5);
/// How often the termination rules are judged on the merged data: a
/// snapshot arrives from each node once a second, so a rule that holds is
/// seen at most a quarter of a second after the data that shows it.
const RULES_POLL: Duration = Duration::from_millis(250);
/// How long the server, once told to stop, may take to deliver what is
/// under way (the final state, the last acks) to the workers still
/// connected: it stops as soon as they hung up, or after this.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Starts the control thread; it serves until `serving` is cancelled and
/// the workers' streams are drained.
pub fn spawn(master: Arc<Master>, serving: CancellationToken) -> anyhow::Result<JoinHandle<()>> {
    let listener = bind(master.cfg.listen)?;
    let server = server(&master.cfg.tls)?;
    std::thread::Builder::new()
        .name("lps-master-control".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    log::error!("lps master: cannot start the control runtime: {e}");
                    return;
                }
            };
            runtime.block_on(serve(master, listener, server, serving));
        })
        .context("cannot start the lps-master-control thread")
}

/// Binds the workers' port here, so that a taken port fails the run at once.
fn bind(listen: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen for workers on {listen} (Cluster.GRPCPort)"))?;
    listener.set_nonblocking(true).context("gRPC listener")?;
    Ok(listener)
}

/// What a worker may send the master ahead of what it read, per stream and
/// per connection (a worker opens one stream on its connection): HTTP/2's
/// flow-control windows. What is sent and unread waits in the master's
/// memory, for each of thousands of workers when it falls behind; hyper's
/// default, 1 MiB, was most of a behind master's memory. A worker sends a
/// snapshot a second (8 KB at 16 cores in perf/master-scale) and keeps each
/// until it is acknowledged, so a few of them in flight is enough; a larger
/// one (a catch-up, a plan of many iterations) goes in window-sized steps.
const WORKER_WINDOW: u32 = 64 * 1024;

/// The gRPC server's settings: keepalives that notice a dead peer, the
/// workers' windows, and TLS when the settings give a certificate.
fn server(tls: &Option<(Vec<u8>, Vec<u8>)>) -> anyhow::Result<Server> {
    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(2)))
        .http2_keepalive_timeout(Some(Duration::from_secs(5)))
        .initial_stream_window_size(WORKER_WINDOW)
        .initial_connection_window_size(WORKER_WINDOW);
    if let Some((cert, key)) = tls {
        let identity = Identity::from_pem(cert, key);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .context("invalid Cluster.TlsCertificate or TlsKey")?;
    }
    Ok(builder)
}

/// Serves the workers and runs the timers until serving ends.
async fn serve(
    master: Arc<Master>,
    listener: std::net::TcpListener,
    mut server: Server,
    serving: CancellationToken,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        log::error!("lps master: cannot use the gRPC listener");
        return;
    };
    let service =
        ClusterServer::new(Service(master.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES);
    // Once `serving` is cancelled the server takes no new streams and ends
    // when the open ones have. Connections on which no worker registers in
    // time are closed by the gate.
    let incoming = Box::pin(gate::incoming(listener, Arc::new(Gate::default())));
    let server = server
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, serving.cancelled());
    let drain_limit = async {
        serving.cancelled().await;
        tokio::time::sleep(DRAIN_LIMIT).await;
    };
    tokio::select! {
        r = server => if let Err(e) = r {
            log::error!("lps master: gRPC server stopped: {e}");
        },
        () = timers(&master) => {}
        () = drain_limit => {}
    }
}

/// Every [`TICK`]: silent workers are lost, Ready turns Running at the
/// start instant, and the dashboard is brought up to date; every
/// [`ROUND_POLL`], the rounds the master's own load finished are noted;
/// every [`RULES_POLL`], the termination rules are judged.
async fn timers(master: &Master) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Polled: the engine's cores cannot wake this runtime (engine fd_table).
    let mut round_poll = tokio::time::interval(ROUND_POLL);
    round_poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut rules_poll = tokio::time::interval(RULES_POLL);
    rules_poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let rules = master.has_termination_rules();
    let mut nodes_shown = None;
    let mut own_rounds = 0;
    loop {
        tokio::select! {
            _ = rules_poll.tick(), if rules => master.check_terminations(),
            _ = tick.tick() => {
                master.update(|state, now| state.tick(now));
                master.refresh_live(&mut nodes_shown);
            }
            _ = round_poll.tick(), if master.cfg.master_is_worker => {
                master.note_own_rounds(&mut own_rounds);
            }
        }
    }
}
