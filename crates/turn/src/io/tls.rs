//! TURN over TLS (`turns:`, RFC 8656 §3.1 over RFC 8446): a TLS listener whose decrypted streams
//! are served exactly like TCP clients. The certificate comes from the caller's rustls
//! configuration, so a certificate resolver that swaps certificates at run time (file reload,
//! ACME renewal) applies to the next handshake without touching open connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::runtime::{RunningTurn, Shared};

/// A TLS handshake must finish within this time, or the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle for serving stream clients (TLS or other already-accepted streams) on a running
/// TURN server. Cheap to clone.
#[derive(Clone)]
pub struct StreamHandle(Arc<Shared>);

impl RunningTurn {
    /// A handle that serves extra stream clients on this server.
    pub fn stream_handle(&self) -> StreamHandle {
        StreamHandle(self.shared.clone())
    }
}

impl StreamHandle {
    /// Serves one decrypted stream client (STUN and ChannelData frames) until it closes.
    pub async fn serve<S>(&self, stream: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        super::tcp::serve(self.0.clone(), stream, peer).await;
    }

    /// Allocations open now (the drain logic waits for them to end).
    pub fn allocation_count(&self) -> usize {
        self.0.core.lock().allocation_count()
    }

    /// Refuses new allocations from now on; existing ones keep relaying.
    pub fn start_draining(&self) {
        self.0.core.lock().start_draining();
    }
}

/// Accepts TLS clients on `listener`, at most `max_connections` at once (more are closed at
/// once), and serves each as a stream client. Runs until the task is dropped.
pub async fn serve_tls(handle: StreamHandle, listener: TcpListener, acceptor: TlsAcceptor, max_connections: usize) {
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections.max(1)));
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    metrics::counter!("switchboard_turn_tls_refused_total").increment(1);
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let handle = handle.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => handle.serve(tls, peer).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TURN TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TURN TLS handshake timed out"),
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::debug!(error = %e, "TURN TLS accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
