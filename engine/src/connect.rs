//! Opening connections: tuned TCP sockets and TLS.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lps_config::ClientIdentity;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};
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
            Stream::Tls(s) => poll_read_tls(Pin::new(s.as_mut()), cx, buf),
        }
    }
}

/// Reads the plaintext rustls holds, reading and decrypting from the socket
/// only when it holds none. tokio-rustls's own `poll_read` goes on reading
/// the socket until `buf` is full: a response is one record, so each
/// response cost a second, empty read attempt (a `WouldBlock` built and
/// dropped, the deframer buffer prepared, the waker registered again).
fn poll_read_tls<IO: AsyncRead + AsyncWrite + Unpin>(
    mut s: Pin<&mut TlsStream<IO>>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    let data = match s.as_mut().poll_fill_buf(cx) {
        Poll::Ready(Ok(data)) => data,
        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
        Poll::Pending => return Poll::Pending,
    };
    let n = data.len().min(buf.remaining());
    buf.put_slice(&data[..n]);
    s.as_mut().consume(n);
    if buf.remaining() > 0 {
        // Every record already decrypted, not only the first: an HTTP/2
        // reader then sees all the responses that came together at once.
        // Without I/O, so no more plaintext (`WouldBlock`) is no error.
        let (_, session) = s.get_mut().get_mut();
        if let Ok(more) = io::Read::read(&mut session.reader(), buf.initialize_unfilled()) {
            buf.advance(more);
        }
    }
    Poll::Ready(Ok(()))
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
    use crate::testing::Counted;
    use std::cell::Cell;
    use std::rc::Rc;
    use tokio::io::AsyncWriteExt;

    /// A TLS 1.3 server on a fresh self-signed certificate, sending no
    /// session tickets (they would arrive as records of their own).
    fn acceptor() -> tokio_rustls::TlsAcceptor {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("self-signed certificate");
        let key = PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("ring supports TLS 1.3")
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .expect("the certificate matches its key");
        config.send_tls13_tickets = 0;
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    type Client = tokio_rustls::client::TlsStream<Counted>;
    type Server = tokio_rustls::server::TlsStream<tokio::io::DuplexStream>;

    /// A TLS client and server over an in-memory pipe, handshake done; the
    /// count of the client's reads of the pipe.
    async fn tls_pair() -> (Client, Server, Rc<Cell<usize>>) {
        let (near, far) = tokio::io::duplex(64 * 1024);
        let near = Counted::new(near);
        let reads = near.reads.clone();
        let connector = tls_connector(true, &[]);
        let name = ServerName::try_from("localhost").expect("a valid name");
        let (client, server) = tokio::join!(connector.connect(name, near), acceptor().accept(far));
        (client.expect("handshake"), server.expect("accept"), reads)
    }

    /// Sends each of `records` from the server as a record of its own, then
    /// reads once on the client: what it read, and the pipe reads it took.
    async fn one_read_after(records: &[&[u8]]) -> (Vec<u8>, usize) {
        let (mut client, mut server, reads) = tls_pair().await;
        for record in records {
            server.write_all(record).await.unwrap();
            server.flush().await.unwrap();
        }
        reads.set(0);
        let mut space = [0u8; 4096];
        let mut buf = ReadBuf::new(&mut space);
        std::future::poll_fn(|cx| poll_read_tls(Pin::new(&mut client), cx, &mut buf))
            .await
            .unwrap();
        (buf.filled().to_vec(), reads.get())
    }

    #[tokio::test]
    async fn a_response_in_one_record_takes_one_socket_read() {
        let (read, reads) = one_read_after(&[b"HTTP/1.1 200 OK\r\n\r\n"]).await;
        assert_eq!(read, b"HTTP/1.1 200 OK\r\n\r\n");
        // The record, and no second read that could only find the pipe empty.
        assert_eq!(reads, 1);
    }

    #[tokio::test]
    async fn records_that_came_together_are_read_at_once_in_one_socket_read() {
        // Three records, as a server sends the answers of three HTTP/2 streams.
        let (read, reads) = one_read_after(&[b"one,", b"two,", b"three"]).await;
        assert_eq!(read, b"one,two,three");
        assert_eq!(reads, 1);
    }

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
