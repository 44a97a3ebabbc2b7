//! Opening connections: tuned TCP sockets and TLS.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lps_config::ClientIdentity;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::stats::ErrorKind;

/// A connection to the target, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Opens a TCP connection with the socket options a load generator wants.
pub async fn tcp(addr: SocketAddr) -> Result<TcpStream, ErrorKind> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .map_err(|_| ErrorKind::Connect)?;
    // Small requests must leave at once, not wait for Nagle's timer.
    socket
        .set_tcp_nodelay(true)
        .map_err(|_| ErrorKind::Connect)?;
    // Send and receive buffer sizes are left to the kernel: setting them
    // turns off its autotuning, which sizes them better per connection
    // (small for 10,000 idle ones, large for bulk bodies) than one value could.
    socket
        .set_nonblocking(true)
        .map_err(|_| ErrorKind::Connect)?;
    let std_stream: std::net::TcpStream = socket.into();
    let socket = TcpSocket::from_std_stream(std_stream);
    socket.connect(addr).await.map_err(|e| connect_error(&e))
}

/// Classifies a failed connect. A reset means the handshake completed and
/// the server (which accepted) reset the connection before the connect was
/// seen to finish: the target was reached, so it is a `reset` like one a
/// moment later, not a `connect` failure (refused, unreachable, ...).
fn connect_error(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionReset => ErrorKind::Reset,
        _ => ErrorKind::Connect,
    }
}

/// A connection just opened, and when its steps ended: the TCP connect and
/// the TLS handshake are timed apart.
pub struct Opened {
    pub stream: Stream,
    /// When the TCP connect completed.
    pub tcp_at: Instant,
    /// How long the TLS handshake took, over https.
    pub tls: Option<Duration>,
}

/// Opens a connection, with TLS when `tls` is given.
pub async fn open(
    addr: SocketAddr,
    tls: Option<(&TlsConnector, &ServerName<'static>)>,
) -> Result<Opened, ErrorKind> {
    let tcp = tcp(addr).await?;
    let tcp_at = Instant::now();
    let Some((connector, name)) = tls else {
        return Ok(Opened {
            stream: Stream::Plain(tcp),
            tcp_at,
            tls: None,
        });
    };
    let stream = connector
        .connect(name.clone(), tcp)
        .await
        .map_err(|_| ErrorKind::Tls)?;
    Ok(Opened {
        stream: Stream::Tls(Box::new(stream)),
        tcp_at,
        tls: Some(tcp_at.elapsed()),
    })
}

impl Stream {
    /// True when TLS negotiated HTTP/2 (ALPN `h2`).
    pub fn alpn_h2(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(s) => s.get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

impl crate::http1::Discard for Stream {
    fn poll_discard(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        ends: bool,
    ) -> Option<Poll<io::Result<usize>>> {
        match self {
            Stream::Plain(s) => s.poll_discard(cx, max, ends),
            Stream::Tls(_) => None,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// The TLS client configuration: webpki roots, or no verification at all
/// with `insecure`. `alpn` lists the protocols to offer.
pub fn tls_connector(insecure: bool, alpn: &[&[u8]]) -> TlsConnector {
    let config = tls_config(insecure).with_no_client_auth();
    with_alpn(config, alpn)
}

/// As [`tls_connector`], presenting `identity` when the server asks for a
/// client certificate (mutual TLS).
pub fn tls_connector_with(
    insecure: bool,
    alpn: &[&[u8]],
    identity: &ClientIdentity,
) -> Result<TlsConnector, rustls::Error> {
    let chain = identity
        .chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let key = PrivateKeyDer::try_from(identity.key.clone())
        .map_err(|e| rustls::Error::General(e.to_owned()))?;
    let config = tls_config(insecure).with_client_auth_cert(chain, key)?;
    Ok(with_alpn(config, alpn))
}

fn tls_config(
    insecure: bool,
) -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        // The ring provider supports the safe default versions by construction.
        .expect("ring supports TLS 1.2 and 1.3");
    if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots)
    }
}

fn with_alpn(mut config: rustls::ClientConfig, alpn: &[&[u8]]) -> TlsConnector {
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// Accepts any certificate (`RunOptions::insecure`), still checking signatures so the
/// handshake itself is real.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_while_connecting_is_a_reset() {
        let cases = [
            (io::ErrorKind::ConnectionReset, ErrorKind::Reset),
            (io::ErrorKind::ConnectionRefused, ErrorKind::Connect),
            (io::ErrorKind::TimedOut, ErrorKind::Connect),
            (io::ErrorKind::AddrNotAvailable, ErrorKind::Connect),
            (io::ErrorKind::Other, ErrorKind::Connect),
        ];
        for (io_kind, kind) in cases {
            assert_eq!(
                connect_error(&io::Error::from(io_kind)),
                kind,
                "{io_kind:?}"
            );
        }
    }
}
