//! The accept loop: a connection cap with a clear refusal, header timeouts, and graceful
//! shutdown. Written on hyper-util rather than `axum::serve` because that one has neither a
//! connection cap nor a header-read timeout.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::metrics_names as m;
use crate::room_api::ArrivedOverTls;

/// A decrypted stream handed to someone other than the HTTP server.
pub trait DivertedIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> DivertedIo for T {}

/// Takes TLS streams that carry STUN rather than HTTP (TURN over TLS on the HTTPS port).
pub type StreamDivert = Arc<dyn Fn(Box<dyn DivertedIo>, SocketAddr) + Send + Sync>;

/// The ALPN protocol of ACME's TLS-ALPN-01 challenge (RFC 8737): such a connection only proves
/// the certificate and is closed after the handshake.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// TLS on the HTTP listener (HTTPS and WSS on one port).
#[derive(Clone)]
pub struct TlsServe {
    /// Handshakes with the server's certificate (whose resolver may swap it at run time).
    pub acceptor: TlsAcceptor,
    /// When set, a stream whose first byte after the handshake is a STUN message type (0x00 or
    /// 0x01: TURN's first request) goes here instead of to the HTTP server.
    pub divert: Option<StreamDivert>,
}

/// Connection-level limits.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Most TCP connections open at once (WebSockets included); more are answered 503 and closed.
    pub max_connections: usize,
    /// A client must send a request's headers within this time.
    pub header_read_timeout: Duration,
    /// On shutdown, connections still open after this long are dropped.
    pub drain_timeout: Duration,
}

/// A TCP stream that holds its connection-cap permit for as long as it lives, including after
/// an upgrade to WebSocket.
struct CountedStream {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for CountedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Logs a repeated condition at most once per 10 seconds.
struct LogOnce {
    last: AtomicU64,
    origin: Instant,
}

impl LogOnce {
    fn new() -> Self {
        Self { last: AtomicU64::new(0), origin: Instant::now() }
    }
    fn due(&self) -> bool {
        let now = self.origin.elapsed().as_secs() + 10;
        let last = self.last.load(Ordering::Relaxed);
        now >= last + 10 && self.last.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 42\r\nConnection: close\r\nRetry-After: 5\r\n\r\nserver is at its connection limit; retry\r\n";

/// Serves `router` on `listener` until `shutdown` resolves, then lets open connections finish
/// for up to `drain_timeout`.
pub async fn serve(listener: TcpListener, router: Router, config: ServeConfig, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    serve_with(listener, router, config, shutdown, None).await
}

/// [`serve`], over TLS when `tls` is set: the handshake runs in the connection's task, bounded
/// by the header-read timeout; requests then carry [`ArrivedOverTls`].
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
    tls: Option<TlsServe>,
) -> io::Result<()> {
    let router_tls = router.clone().layer(Extension(ArrivedOverTls));
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(config.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let refusals = LogOnce::new();
    let accept_errors = LogOnce::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Usually EMFILE/ENFILE: back off briefly instead of spinning.
                    if accept_errors.due() {
                        tracing::warn!(error = %e, "accept failed (repeats are not logged for 10 s)");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            metrics::counter!(m::CONNECTIONS_REFUSED).increment(1);
            if refusals.due() {
                tracing::warn!(limit = config.max_connections, "connection refused: max_connections reached (repeats are not logged for 10 s)");
            }
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let counted = CountedStream { inner: stream, _permit: permit };
        let Some(tls) = tls.clone() else {
            let service = TowerToHyperService::new(router.clone());
            let connection = graceful.watch(builder.serve_connection_with_upgrades(TokioIo::new(counted), service).into_owned());
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
            });
            continue;
        };
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let router = router_tls.clone();
        let timeout = config.header_read_timeout;
        tokio::spawn(async move {
            let mut stream = match tokio::time::timeout(timeout, tls.acceptor.accept(counted)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            if alpn.as_deref() == Some(ACME_TLS_ALPN) {
                let _ = stream.shutdown().await;
                return;
            }
            // Some TURN clients (coturn's) offer http/1.1 beside stun.turn, so the first byte
            // decides, whatever ALPN chose.
            if let Some(divert) = tls.divert.as_ref() {
                let mut first = [0u8; 1];
                let n = match tokio::time::timeout(timeout, stream.read(&mut first)).await {
                    Ok(Ok(n)) if n > 0 => n,
                    _ => return,
                };
                let prefixed = Prefixed { prefix: first[..n].to_vec(), inner: stream };
                if first[0] <= 0x01 {
                    divert(Box::new(prefixed), peer);
                    return;
                }
                let service = TowerToHyperService::new(router);
                let connection = watcher.watch(builder.serve_connection_with_upgrades(TokioIo::new(prefixed), service).into_owned());
                if let Err(e) = connection.await {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                return;
            }
            let service = TowerToHyperService::new(router);
            let connection = watcher.watch(builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned());
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(config.drain_timeout) => {
            tracing::info!("drain timeout reached; closing remaining connections");
        }
    }
    Ok(())
}

/// Answers 503 and closes. The request is drained (briefly, bounded) after the answer so the
/// close does not turn into a reset that would discard the answer before the client reads it.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = stream.write_all(REFUSAL).await;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        let mut drained = 0usize;
        while let Ok(n) = stream.read(&mut sink).await {
            drained += n;
            if n == 0 || drained > 64 * 1024 {
                break;
            }
        }
    })
    .await;
}

/// A stream whose first bytes were already read (to tell STUN from HTTP) and are given back to
/// the next reader.
struct Prefixed<S> {
    prefix: Vec<u8>,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
