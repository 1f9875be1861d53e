//! Starting the TURN server's sockets and tasks, and the state they share.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::tcp_relay::TcpRelays;
use super::worker::{Command, WorkerHandle, WorkerSockets};
use crate::core::{ClientAddr, ConnectionId, Event, NonceKey, RelayBinder, Server, ServerConfig};

/// How the I/O layer is set up.
#[derive(Debug, Clone)]
pub struct TurnIoConfig {
    /// UDP and TCP listen address (port 0 picks a free port for both).
    pub listen: SocketAddr,
    /// An IPv6 listen address beside an IPv4 `listen` (RFC 6156 clients); port 0 takes the IPv4
    /// port. Bound IPv6-only so it never collides with the IPv4 sockets.
    pub listen_v6: Option<SocketAddr>,
    /// UDP worker sockets (SO_REUSEPORT), normally one per core.
    pub workers: usize,
    /// The protocol core's configuration.
    pub core: ServerConfig,
}

/// State shared by the workers, the TCP tasks and the timer.
pub(crate) struct Shared {
    pub core: Mutex<Server>,
    /// Relay sockets by their bound address, for sending to peers from any thread.
    pub relays: RwLock<HashMap<SocketAddr, Arc<StdUdpSocket>>>,
    /// Sockets bound by the binder during a core call, claimed under the same lock by
    /// [`Shared::claim_events`].
    pub pending: Mutex<HashMap<SocketAddr, StdUdpSocket>>,
    /// Outbound queues of TCP clients.
    pub tcp_clients: RwLock<HashMap<ClientAddr, mpsc::Sender<Vec<u8>>>>,
    /// The data-path workers; a relay socket is read by worker `port % len`.
    pub workers: OnceLock<Vec<Arc<WorkerHandle>>>,
    /// The sockets of TCP allocations (RFC 6062).
    pub tcp_relays: TcpRelays,
}

/// A core event with the socket bound for it, ready to act on outside the core's lock.
pub(crate) enum ReadyEvent {
    /// A new allocation's relay socket, to be read from now on.
    Created(SocketAddr, StdUdpSocket),
    /// An ended allocation's relay address, to be closed.
    Removed(SocketAddr),
    /// A new TCP allocation's listening socket, to be accepted on from now on.
    CreatedTcp(SocketAddr, std::net::TcpListener),
    /// Connect: open a connection from a TCP relay to a peer.
    TcpConnect { id: ConnectionId, relay: SocketAddr, peer: SocketAddr, timeout: Duration },
    /// ConnectionBind succeeded on stream client `data` (acted on by that client's own task).
    TcpBound { id: ConnectionId, data: ClientAddr },
    /// Close a peer connection.
    TcpClose(ConnectionId),
    /// A message for a stream client.
    ToStreamClient(ClientAddr, Vec<u8>),
}

/// A running TURN server.
pub struct RunningTurn {
    /// The bound UDP and TCP address.
    pub local_addr: SocketAddr,
    /// The bound IPv6 UDP and TCP address, if any.
    pub local_addr_v6: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    workers: Vec<Arc<WorkerHandle>>,
    /// For stream listeners started outside this module (TURN over TLS, see `tls.rs`).
    pub(crate) shared: Arc<Shared>,
}

impl RunningTurn {
    /// Stops every task and worker (relay sockets close with them).
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
        for w in self.workers {
            w.stop();
        }
    }
}

/// Binds relay sockets for the core, keeping them until the allocation event claims them.
pub(crate) struct SocketBinder<'a> {
    pub pending: &'a Mutex<HashMap<SocketAddr, StdUdpSocket>>,
}

impl RelayBinder for SocketBinder<'_> {
    fn bind(&mut self, addr: SocketAddr) -> bool {
        match relay_socket(addr) {
            Ok(socket) => {
                self.pending.lock().insert(addr, socket);
                true
            }
            Err(_) => false,
        }
    }

    /// TCP relays are only made for stream clients, through [`StreamBinder`].
    fn bind_tcp(&mut self, _addr: SocketAddr) -> bool {
        false
    }
}

/// Binds relay sockets for stream clients: UDP relays as [`SocketBinder`] does, and TCP relays'
/// listening sockets (RFC 6062), kept until the allocation event claims them.
pub(crate) struct StreamBinder<'a> {
    pub udp: SocketBinder<'a>,
    pub tcp: &'a Mutex<HashMap<SocketAddr, std::net::TcpListener>>,
}

impl RelayBinder for StreamBinder<'_> {
    fn bind(&mut self, addr: SocketAddr) -> bool {
        self.udp.bind(addr)
    }

    fn bind_tcp(&mut self, addr: SocketAddr) -> bool {
        match super::tcp_relay::relay_listener(addr) {
            Ok(listener) => {
                self.tcp.lock().insert(addr, listener);
                true
            }
            Err(_) => false,
        }
    }
}

impl Shared {
    /// Takes the core's events with the sockets bound for them. Called while holding the core's
    /// lock, so no other thread's binds can mix in; sockets bound for requests that then failed
    /// are closed here.
    pub fn claim_events(&self, core: &mut Server, into: &mut Vec<ReadyEvent>) {
        let mut pending = self.pending.lock();
        for event in core.drain_events() {
            match event {
                Event::AllocationCreated { relay, .. } => {
                    if let Some(socket) = pending.remove(&relay) {
                        into.push(ReadyEvent::Created(relay, socket));
                    } else if let Some(listener) = self.tcp_relays.pending.lock().remove(&relay) {
                        // Only TCP allocations reach here: the UDP path takes no extra lock.
                        into.push(ReadyEvent::CreatedTcp(relay, listener));
                    }
                }
                Event::AllocationRemoved { relay, .. } => into.push(ReadyEvent::Removed(relay)),
                Event::TcpConnect { id, relay, peer, timeout } => into.push(ReadyEvent::TcpConnect { id, relay, peer, timeout }),
                Event::TcpBound { id, data } => into.push(ReadyEvent::TcpBound { id, data }),
                Event::TcpClose { id } => into.push(ReadyEvent::TcpClose(id)),
                Event::ToStreamClient { client, message } => into.push(ReadyEvent::ToStreamClient(client, message)),
            }
        }
        pending.clear();
    }

    /// Acts on claimed events: hands new relay sockets to their worker, closes ended ones.
    pub fn apply(self: &Arc<Self>, events: impl IntoIterator<Item = ReadyEvent>) {
        let Some(workers) = self.workers.get() else { return };
        let worker_of = |relay: SocketAddr| &workers[usize::from(relay.port()) % workers.len()];
        for event in events {
            match event {
                ReadyEvent::Created(relay, socket) => {
                    let socket = Arc::new(socket);
                    self.relays.write().insert(relay, socket.clone());
                    worker_of(relay).send(Command::AddRelay(relay, socket));
                }
                ReadyEvent::Removed(relay) => {
                    if self.relays.write().remove(&relay).is_some() {
                        worker_of(relay).send(Command::RemoveRelay(relay));
                    } else {
                        self.tcp_relays.unlisten(relay);
                    }
                }
                ReadyEvent::CreatedTcp(relay, listener) => self.tcp_relays.listen(self, relay, listener),
                ReadyEvent::TcpConnect { id, relay, peer, timeout } => self.tcp_relays.connect(self, id, relay, peer, timeout),
                // The data connection's own task splices it (see `tcp.rs`).
                ReadyEvent::TcpBound { .. } => {}
                ReadyEvent::TcpClose(id) => self.tcp_relays.close(id),
                ReadyEvent::ToStreamClient(client, message) => self.send_to_stream_client(client, &message),
            }
        }
    }

    /// Sends `data` from relay socket `relay` to `peer`; drops it if the socket is busy (UDP).
    pub fn send_to_peer(&self, relay: SocketAddr, peer: SocketAddr, data: &[u8]) {
        if let Some(socket) = self.relays.read().get(&relay) {
            let _ = socket.send_to(data, peer);
        }
    }

    /// Queues bytes for a stream (TCP) client; dropped if its queue is full, as UDP would.
    pub fn send_to_stream_client(&self, client: ClientAddr, bytes: &[u8]) {
        if let Some(tx) = self.tcp_clients.read().get(&client) {
            let _ = tx.try_send(bytes.to_vec());
        }
    }
}

/// A relay socket: non-blocking, and IPv6-only for IPv6 relays so it never sees IPv4 peers as
/// mapped addresses.
fn relay_socket(addr: SocketAddr) -> io::Result<StdUdpSocket> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    super::batch::set_buffer_sizes(&socket, RELAY_SOCKET_BUFFER);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Socket buffer for each relay socket: room for a burst of a few hundred media packets.
const RELAY_SOCKET_BUFFER: usize = 1 << 20;
/// Socket buffer for each listen socket, which carries every client's traffic.
const LISTEN_SOCKET_BUFFER: usize = 16 << 20;

fn reuseport_udp(addr: SocketAddr) -> io::Result<StdUdpSocket> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    super::batch::set_buffer_sizes(&socket, LISTEN_SOCKET_BUFFER);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

fn tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Binds `workers` UDP sockets and a TCP listener at `addr` (port 0: a free port).
fn bind_family(addr: SocketAddr, workers: usize) -> io::Result<(Vec<StdUdpSocket>, TcpListener, SocketAddr)> {
    // With port 0 the kernel picks a free UDP port, whose TCP twin may be taken: try others.
    let attempts = if addr.port() == 0 { 16 } else { 1 };
    let mut tries = 0;
    let (first, tcp, local) = loop {
        let first = reuseport_udp(addr)?;
        let local = first.local_addr()?;
        match tcp_listener(local) {
            Ok(tcp) => break (first, tcp, local),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && tries + 1 < attempts => tries += 1,
            Err(e) => return Err(e),
        }
    };
    let mut udp = vec![first];
    for _ in 1..workers {
        udp.push(reuseport_udp(local)?);
    }
    Ok((udp, tcp, local))
}

/// Binds UDP workers and the TCP listener on `config.listen` (and `listen_v6`) and starts every
/// worker and task.
pub async fn start(config: TurnIoConfig) -> io::Result<RunningTurn> {
    let workers = config.workers.max(1);
    let (udp_v4, tcp_v4, local_addr) = bind_family(config.listen, workers)?;
    let v6 = match config.listen_v6 {
        Some(mut addr) => {
            if addr.port() == 0 {
                addr.set_port(local_addr.port());
            }
            Some(bind_family(addr, workers)?)
        }
        None => None,
    };
    let unix_now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let max_tcp = config.core.quotas.max_allocations.saturating_add(1024);
    let core = Server::new(config.core, NonceKey::random(), Instant::now(), unix_now);
    let shared = Arc::new(Shared {
        core: Mutex::new(core),
        relays: RwLock::new(HashMap::new()),
        pending: Mutex::new(HashMap::new()),
        tcp_clients: RwLock::new(HashMap::new()),
        workers: OnceLock::new(),
        tcp_relays: TcpRelays::new(tokio::runtime::Handle::current()),
    });
    let local_addr_v6 = v6.as_ref().map(|(_, _, addr)| *addr);
    let (udp_v6, tcp_v6) = match v6 {
        Some((udp, tcp, _)) => (udp.into_iter().map(Some).collect(), Some(tcp)),
        None => (std::iter::repeat_with(|| None).take(workers).collect::<Vec<_>>(), None),
    };
    let mut handles = Vec::with_capacity(workers);
    for (index, (v4, v6)) in udp_v4.into_iter().zip(udp_v6).enumerate() {
        handles.push(super::worker::spawn(shared.clone(), index, WorkerSockets { v4, v6 })?);
    }
    // Set once, before any allocation can exist.
    let _ = shared.workers.set(handles.clone());
    let mut tasks = Vec::new();
    for tcp in std::iter::once(tcp_v4).chain(tcp_v6) {
        tasks.push(tokio::spawn(super::tcp::accept_loop(shared.clone(), tcp, max_tcp)));
    }
    tasks.push(tokio::spawn(timer(shared.clone())));
    Ok(RunningTurn { local_addr, local_addr_v6, tasks, workers: handles, shared })
}

async fn timer(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut published = super::metrics_export::Published::default();
    loop {
        tick.tick().await;
        let mut events = Vec::new();
        let (stats, counts, tcp) = {
            let mut core = shared.core.lock();
            core.handle_timeout(Instant::now());
            shared.claim_events(&mut core, &mut events);
            (core.stats().clone(), (core.allocation_count(), core.permission_and_channel_counts()), core.tcp_connection_count())
        };
        shared.apply(events);
        metrics::gauge!("switchboard_turn_tcp_connections").set(tcp as f64);
        published.publish(&stats, counts.0, counts.1 .0, counts.1 .1);
    }
}

/// The first non-loopback IPv4 address of this machine, for advertising relays when listening on
/// all interfaces.
pub fn first_lan_ipv4() -> Option<IpAddr> {
    let probe = StdUdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connect() on UDP only picks the route and source address.
    probe.connect("192.0.2.1:9").ok()?;
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}
