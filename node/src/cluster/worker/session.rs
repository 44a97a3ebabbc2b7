//! Opening one session with the master: connect, register, wait for the
//! Welcome, all bounded in time.

use std::net::SocketAddr;
use std::time::Duration;

use lps_proto as proto;
use proto::cluster_client::ClusterClient;
use proto::{MasterMessage, WorkerMessage, master_message, worker_message};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use super::{SessionError, WorkerConfig};
use crate::cluster::master::MAX_MESSAGE_BYTES;

/// How long the master may take to answer a new session.
const SESSION_TIMEOUT: Duration = Duration::from_secs(3);

/// An open session: the master welcomed this worker.
pub(super) struct Session {
    /// To the master.
    pub tx: mpsc::Sender<WorkerMessage>,
    /// The master's first message, a Welcome.
    pub welcome: MasterMessage,
    /// From the master, after the Welcome.
    pub inbound: Streaming<MasterMessage>,
}

/// Why a session could not be opened.
pub(super) enum Attempt {
    /// Worth retrying: the master may not be up yet, or a stream broke.
    Retry(SessionError),
    /// The master said no (secret, plan, version): final. Its reason.
    Refused(String),
}

/// Connects, registers and waits for the master's Welcome, all bounded in
/// time: a master that never answers (TLS on one side only, a stalled peer,
/// a port that is not an lps master's) is retried like an unreachable one.
pub(super) async fn open_session(
    cfg: &WorkerConfig,
    register: &proto::Register,
) -> Result<Session, Attempt> {
    let client = connect(cfg.master, cfg.tls_ca.as_deref())
        .await
        .map_err(Attempt::Retry)?;
    let mut client = client.max_decoding_message_size(MAX_MESSAGE_BYTES);
    let (tx, rx) = mpsc::channel::<WorkerMessage>(256);
    let hello = WorkerMessage {
        kind: Some(worker_message::Kind::Register(register.clone())),
    };
    // The channel was just made with room to spare.
    let _ = tx.send(hello).await;
    let answer = tokio::time::timeout(SESSION_TIMEOUT, client.session(ReceiverStream::new(rx)));
    let mut inbound = match answer.await {
        Err(_) => return Err(Attempt::Retry(SessionError::NoAnswer(SESSION_TIMEOUT))),
        Ok(Err(status)) => return Err(refusal(&status)),
        Ok(Ok(response)) => response.into_inner(),
    };
    let welcome = welcome(&mut inbound).await.map_err(Attempt::Retry)?;
    Ok(Session {
        tx,
        welcome,
        inbound,
    })
}

/// The master's first message, which must be a Welcome: any HTTP/2 server
/// answers a POST, and its stream then ends at once.
async fn welcome(inbound: &mut Streaming<MasterMessage>) -> Result<MasterMessage, SessionError> {
    match tokio::time::timeout(SESSION_TIMEOUT, inbound.message()).await {
        Ok(Ok(Some(first))) if matches!(first.kind, Some(master_message::Kind::Welcome(_))) => {
            Ok(first)
        }
        Ok(Ok(Some(_))) => Err(SessionError::NotWelcome),
        Ok(Ok(None)) | Err(_) => Err(SessionError::NoWelcome),
        Ok(Err(status)) => Err(SessionError::NotLps(status.message().to_string())),
    }
}

/// The master's answer to a session it did not open: a refusal is final,
/// anything else is retried.
fn refusal(status: &tonic::Status) -> Attempt {
    use tonic::Code;
    let message = status.message().to_string();
    match status.code() {
        Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::InvalidArgument
        | Code::AlreadyExists => Attempt::Refused(message),
        _ => Attempt::Retry(SessionError::Status(message)),
    }
}

async fn connect(
    addr: SocketAddr,
    tls_ca: Option<&[u8]>,
) -> Result<ClusterClient<tonic::transport::Channel>, SessionError> {
    let words = |e: tonic::transport::Error| SessionError::Connect(e.to_string());
    let scheme = if tls_ca.is_some() { "https" } else { "http" };
    let mut endpoint = tonic::transport::Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(words)?
        .connect_timeout(Duration::from_secs(1))
        .http2_keep_alive_interval(Duration::from_secs(2))
        .keep_alive_timeout(Duration::from_secs(5));
    if let Some(ca) = tls_ca {
        // The master's certificate must name its address (an IP SAN).
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(ca))
            .domain_name(addr.ip().to_string());
        endpoint = endpoint.tls_config(tls).map_err(words)?;
    }
    let channel = endpoint.connect().await.map_err(|e| {
        use std::error::Error;
        // The transport's own error says only "transport error"; its cause
        // says what happened.
        SessionError::Connect(match e.source() {
            Some(inner) => inner.to_string(),
            None => e.to_string(),
        })
    })?;
    Ok(ClusterClient::new(channel))
}
