//! Starting the TURN server's sockets and tasks, and the state they share.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::core::{ClientAddr, Event, NonceKey, RelayBinder, Server, ServerConfig};

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

/// State shared by every task.
pub(crate) struct Shared {
    pub core: Mutex<Server>,
    /// Relay sockets by their bound address.
    pub relays: RwLock<HashMap<SocketAddr, RelayHandle>>,
    /// Sockets bound by the binder during a core call, waiting for their AllocationCreated event.
    pub pending: Mutex<HashMap<SocketAddr, StdUdpSocket>>,
    /// Outbound queues of TCP clients.
    pub tcp_clients: RwLock<HashMap<ClientAddr, mpsc::Sender<Vec<u8>>>>,
    /// A UDP listen socket to answer IPv4 UDP clients from.
    pub udp_out: Arc<UdpSocket>,
    /// A UDP listen socket to answer IPv6 UDP clients from, when listening on IPv6 too.
    pub udp_out_v6: Option<Arc<UdpSocket>>,
}

/// A relay socket and the task reading it.
pub(crate) struct RelayHandle {
    pub socket: Arc<UdpSocket>,
    pub task: JoinHandle<()>,
}

/// A running TURN server.
pub struct RunningTurn {
    /// The bound UDP and TCP address.
    pub local_addr: SocketAddr,
    /// The bound IPv6 UDP and TCP address, if any.
    pub local_addr_v6: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningTurn {
    /// Stops every task (relay sockets close with them).
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
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
}

impl Shared {
    /// Acts on the core's events: starts relay tasks for new allocations, stops removed ones.
    pub fn apply_events(self: &Arc<Self>, events: Vec<Event>) {
        for event in events {
            match event {
                Event::AllocationCreated { relay, .. } => {
                    let Some(std_socket) = self.pending.lock().remove(&relay) else { continue };
                    match UdpSocket::from_std(std_socket) {
                        Ok(socket) => {
                            let socket = Arc::new(socket);
                            let task = tokio::spawn(super::relay::run(self.clone(), relay, socket.clone()));
                            self.relays.write().insert(relay, RelayHandle { socket, task });
                        }
                        Err(e) => tracing::warn!(error = %e, %relay, "cannot register relay socket"),
                    }
                }
                Event::AllocationRemoved { relay, .. } => {
                    if let Some(handle) = self.relays.write().remove(&relay) {
                        handle.task.abort();
                    }
                }
            }
        }
        // Sockets bound for a request that then failed (no event claimed them) are closed here.
        self.pending.lock().clear();
    }

    /// Sends `data` from relay socket `relay` to `peer`; drops it if the socket is busy (UDP).
    pub fn send_to_peer(&self, relay: SocketAddr, peer: SocketAddr, data: &[u8]) {
        if let Some(handle) = self.relays.read().get(&relay) {
            let _ = handle.socket.try_send_to(data, peer);
        }
    }

    /// Sends a message the core wrote to `client`.
    pub fn send_to_client(&self, client: ClientAddr, bytes: &[u8]) {
        match client.transport {
            crate::core::Transport::Udp => {
                let socket = match (client.addr, &self.udp_out_v6) {
                    (SocketAddr::V6(_), Some(v6)) => v6,
                    _ => &self.udp_out,
                };
                let _ = socket.try_send_to(bytes, client.addr);
            }
            crate::core::Transport::Tcp => {
                if let Some(tx) = self.tcp_clients.read().get(&client) {
                    let _ = tx.try_send(bytes.to_vec());
                }
            }
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
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

fn reuseport_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    // Large buffers absorb bursts; the kernel caps them at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(4 << 20);
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
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
fn bind_family(addr: SocketAddr, workers: usize) -> io::Result<(Vec<Arc<UdpSocket>>, TcpListener, SocketAddr)> {
    let first = reuseport_udp(addr)?;
    let local = first.local_addr()?;
    let tcp = tcp_listener(local)?;
    let mut udp = vec![Arc::new(first)];
    for _ in 1..workers.max(1) {
        udp.push(Arc::new(reuseport_udp(local)?));
    }
    Ok((udp, tcp, local))
}

/// Binds UDP workers and the TCP listener on `config.listen` (and `listen_v6`) and starts every
/// task.
pub async fn start(config: TurnIoConfig) -> io::Result<RunningTurn> {
    let (udp_sockets, tcp, local_addr) = bind_family(config.listen, config.workers)?;
    let v6 = match config.listen_v6 {
        Some(mut addr) => {
            if addr.port() == 0 {
                addr.set_port(local_addr.port());
            }
            Some(bind_family(addr, config.workers)?)
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
        udp_out: udp_sockets[0].clone(),
        udp_out_v6: v6.as_ref().map(|(udp, _, _)| udp[0].clone()),
    });
    let mut tasks = Vec::new();
    let local_addr_v6 = v6.as_ref().map(|(_, _, addr)| *addr);
    for (udp, tcp) in std::iter::once((udp_sockets, tcp)).chain(v6.map(|(udp, tcp, _)| (udp, tcp))) {
        for socket in udp {
            tasks.push(tokio::spawn(super::udp::run(shared.clone(), socket)));
        }
        tasks.push(tokio::spawn(super::tcp::accept_loop(shared.clone(), tcp, max_tcp)));
    }
    tasks.push(tokio::spawn(timer(shared.clone())));
    Ok(RunningTurn { local_addr, local_addr_v6, tasks })
}

async fn timer(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut published = super::metrics_export::Published::default();
    loop {
        tick.tick().await;
        let (events, stats, counts) = {
            let mut core = shared.core.lock();
            core.handle_timeout(Instant::now());
            let events: Vec<Event> = core.drain_events().collect();
            (events, core.stats().clone(), (core.allocation_count(), core.permission_and_channel_counts()))
        };
        shared.apply_events(events);
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
