//! The sockets of TCP allocations (RFC 6062): a listening TCP socket at each TCP relay address,
//! outgoing connections from that address for Connect, and the splice of a peer connection with
//! its client data connection. Every decision (who may connect, ids, timers, answers) is the
//! core's (`core/tcp_relay.rs`); this file only opens, holds, splices and closes sockets.
//!
//! A peer connection is not read until it is bound: what the peer sends meanwhile waits in the
//! kernel, and TCP flow control holds the peer back (RFC 6062 §5.3's buffering).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::runtime::Shared;
use crate::core::ConnectionId;

/// A peer connection as the I/O layer holds it.
enum PeerSocket {
    /// Established, waiting for its ConnectionBind: not read meanwhile.
    Waiting(TcpStream),
    /// Spliced by a data connection's task; notified to stop.
    Spliced(Arc<Notify>),
}

/// The TCP relay sockets of all TCP allocations.
pub(crate) struct TcpRelays {
    runtime: Handle,
    /// Accept loops by relay address.
    listeners: Mutex<HashMap<SocketAddr, JoinHandle<()>>>,
    /// Peer connections by id.
    peers: Mutex<HashMap<ConnectionId, PeerSocket>>,
    /// Listening sockets bound by the binder during a core call, claimed with its events.
    pub(crate) pending: Mutex<HashMap<SocketAddr, std::net::TcpListener>>,
}

impl TcpRelays {
    /// Spawns its tasks on `runtime` (the core's events may be applied from non-async threads).
    pub(crate) fn new(runtime: Handle) -> Self {
        Self { runtime, listeners: Mutex::new(HashMap::new()), peers: Mutex::new(HashMap::new()), pending: Mutex::new(HashMap::new()) }
    }

    /// Starts accepting peers on a new TCP relay's listening socket.
    pub(crate) fn listen(&self, shared: &Arc<Shared>, relay: SocketAddr, listener: std::net::TcpListener) {
        let shared = shared.clone();
        let task = self.runtime.spawn(async move {
            let Ok(listener) = TcpListener::from_std(listener) else { return };
            accept_loop(shared, relay, listener).await;
        });
        if let Some(old) = self.listeners.lock().insert(relay, task) {
            old.abort();
        }
    }

    /// Closes the TCP relay at `relay`, if there is one (its peer connections are closed by
    /// their own events).
    pub(crate) fn unlisten(&self, relay: SocketAddr) {
        if let Some(task) = self.listeners.lock().remove(&relay) {
            task.abort();
        }
    }

    /// Opens the connection for a Connect request and reports to the core.
    pub(crate) fn connect(&self, shared: &Arc<Shared>, id: ConnectionId, relay: SocketAddr, peer: SocketAddr, timeout: Duration) {
        let shared = shared.clone();
        self.runtime.spawn(async move {
            let stream = match tokio::time::timeout(timeout, connect_from(relay, peer)).await {
                Ok(Ok(stream)) => Some(stream),
                Ok(Err(e)) => {
                    tracing::debug!(%relay, %peer, error = %e, "TURN TCP relay connect failed");
                    None
                }
                Err(_) => None,
            };
            let mut events = Vec::new();
            {
                let mut core = shared.core.lock();
                let keep = core.tcp_connect_result(id, stream.is_some(), Instant::now());
                if let (true, Some(stream)) = (keep, stream) {
                    // Registered before the answer goes out, so a quick ConnectionBind finds it.
                    shared.tcp_relays.peers.lock().insert(id, PeerSocket::Waiting(stream));
                }
                shared.claim_events(&mut core, &mut events);
            }
            shared.apply(events);
        });
    }

    /// Closes peer connection `id`: drops it if waiting, stops its splice if bound.
    pub(crate) fn close(&self, id: ConnectionId) {
        match self.peers.lock().remove(&id) {
            Some(PeerSocket::Spliced(stop)) => stop.notify_one(),
            Some(PeerSocket::Waiting(_)) | None => {}
        }
    }
}

/// A TCP socket bound at a relay address, so that listening and connecting from the same
/// address:port both work (SO_REUSEADDR and SO_REUSEPORT on every such socket).
fn relay_tcp_socket(addr: SocketAddr) -> io::Result<socket2::Socket> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// The listening socket of a TCP relay at `addr`.
pub(crate) fn relay_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = relay_tcp_socket(addr)?;
    socket.listen(128)?;
    Ok(socket.into())
}

async fn connect_from(relay: SocketAddr, peer: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::from_std_stream(relay_tcp_socket(relay)?.into());
    let stream = socket.connect(peer).await?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

async fn accept_loop(shared: Arc<Shared>, relay: SocketAddr, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!(%relay, error = %e, "TURN TCP relay accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let mut events = Vec::new();
        {
            let mut core = shared.core.lock();
            if let Some(id) = core.tcp_peer_connected(relay, peer, Instant::now()) {
                shared.tcp_relays.peers.lock().insert(id, PeerSocket::Waiting(stream));
            }
            // Not permitted: `stream` is dropped here, closing the connection at once.
            shared.claim_events(&mut core, &mut events);
        }
        shared.apply(events);
    }
}

/// Splices the client data connection `client` (already answered, its unread bytes in
/// `early`) with peer connection `id`, until either side closes. Returns at once if the peer
/// connection is gone.
pub(crate) async fn splice<S>(shared: &Arc<Shared>, id: ConnectionId, mut client: S, early: &[u8])
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let stop = Arc::new(Notify::new());
    let peer = {
        let mut peers = shared.tcp_relays.peers.lock();
        match peers.remove(&id) {
            Some(PeerSocket::Waiting(stream)) => {
                peers.insert(id, PeerSocket::Spliced(stop.clone()));
                Some(stream)
            }
            other => {
                if let Some(other) = other {
                    peers.insert(id, other);
                }
                None
            }
        }
    };
    if let Some(mut peer) = peer {
        metrics::gauge!("switchboard_turn_tcp_splices").increment(1.0);
        let done = async {
            if !early.is_empty() {
                peer.write_all(early).await?;
            }
            tokio::io::copy_bidirectional(&mut client, &mut peer).await
        };
        let result = tokio::select! {
            r = done => r.ok(),
            () = stop.notified() => None,
        };
        if let Some((to_peer, to_client)) = result {
            metrics::counter!("switchboard_turn_tcp_relayed_bytes_total", "direction" => "to_peer").increment(to_peer + early.len() as u64);
            metrics::counter!("switchboard_turn_tcp_relayed_bytes_total", "direction" => "to_client").increment(to_client);
        }
        metrics::gauge!("switchboard_turn_tcp_splices").decrement(1.0);
    }
    shared.tcp_relays.peers.lock().remove(&id);
    shared.core.lock().tcp_connection_closed(id);
}
