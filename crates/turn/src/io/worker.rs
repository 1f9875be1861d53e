//! A data-path worker: one OS thread with its own event loop, owning one SO_REUSEPORT listen
//! socket per address family and the relay sockets assigned to it.
//!
//! Each wake-up drains every ready socket with `recvmmsg`, passes the whole batch through the
//! core under one lock, and sends the results with `sendmmsg` after the lock is released:
//! datagrams for clients from every relay socket that was ready go out in one batch per family.
//! Nothing here allocates per packet once the buffers have grown to their working size.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::Mutex;

use super::batch::{RecvBatch, SendBatch, BATCH};
use super::runtime::{Shared, SocketBinder};
use super::runtime::ReadyEvent;
use crate::core::{ClientAddr, Output, Transport};

const LISTEN_V4: Token = Token(0);
const LISTEN_V6: Token = Token(1);
const WAKE: Token = Token(2);
const FIRST_RELAY: usize = 3;
/// Consecutive failed reads of one socket before the worker moves on to other sockets.
const MAX_READ_ERRORS: u32 = 16;

/// What other threads ask a worker to do.
pub(crate) enum Command {
    /// Start reading this relay socket.
    AddRelay(SocketAddr, Arc<StdUdpSocket>),
    /// Stop reading this relay socket (its allocation ended).
    RemoveRelay(SocketAddr),
}

/// The handle other threads use to reach a worker.
pub(crate) struct WorkerHandle {
    commands: Mutex<Vec<Command>>,
    waker: Waker,
    stop: AtomicBool,
}

impl WorkerHandle {
    /// Queues `command` and wakes the worker.
    pub(crate) fn send(&self, command: Command) {
        self.commands.lock().push(command);
        if let Err(e) = self.waker.wake() {
            tracing::warn!(error = %e, "cannot wake a TURN worker");
        }
    }

    /// Asks the worker to end its loop.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.waker.wake();
    }
}

/// The sockets a worker listens on.
pub(crate) struct WorkerSockets {
    pub v4: StdUdpSocket,
    pub v6: Option<StdUdpSocket>,
}

/// Starts a worker thread; returns its handle.
pub(crate) fn spawn(shared: Arc<Shared>, index: usize, sockets: WorkerSockets) -> io::Result<Arc<WorkerHandle>> {
    let poll = Poll::new()?;
    let registry = poll.registry();
    registry.register(&mut SourceFd(&sockets.v4.as_raw_fd()), LISTEN_V4, Interest::READABLE)?;
    if let Some(v6) = &sockets.v6 {
        registry.register(&mut SourceFd(&v6.as_raw_fd()), LISTEN_V6, Interest::READABLE)?;
    }
    let handle = Arc::new(WorkerHandle {
        commands: Mutex::new(Vec::new()),
        waker: Waker::new(registry, WAKE)?,
        stop: AtomicBool::new(false),
    });
    let mut worker = Worker {
        shared,
        handle: handle.clone(),
        poll,
        sockets,
        relays: HashMap::new(),
        relay_tokens: HashMap::new(),
        next_token: FIRST_RELAY,
        recv: RecvBatch::new(),
        send: SendBatch::new(),
        to_peers: Vec::with_capacity(BATCH),
        to_clients: ClientBatch::default(),
        events: Vec::new(),
    };
    std::thread::Builder::new().name(format!("turn-worker-{index}")).spawn(move || worker.run())?;
    Ok(handle)
}

/// Datagrams for clients, gathered across sockets and sent in one go per family.
#[derive(Default)]
struct ClientBatch {
    /// Reused buffers; the first `len` hold this round's datagrams.
    bufs: Vec<Vec<u8>>,
    to: Vec<ClientAddr>,
    len: usize,
}

impl ClientBatch {
    /// A cleared buffer for the next datagram; [`commit`](Self::commit) keeps it.
    fn next_buf(&mut self) -> &mut Vec<u8> {
        if self.bufs.len() == self.len {
            self.bufs.push(Vec::with_capacity(1600));
        }
        let buf = &mut self.bufs[self.len];
        buf.clear();
        buf
    }

    fn commit(&mut self, to: ClientAddr) {
        self.to.truncate(self.len);
        self.to.push(to);
        self.len += 1;
    }

    fn is_full(&self) -> bool {
        self.len >= BATCH
    }
}

/// A datagram to send from a relay socket: a range of the receive buffer.
struct ToPeer {
    relay: SocketAddr,
    peer: SocketAddr,
    start: usize,
    end: usize,
}

struct Worker {
    shared: Arc<Shared>,
    handle: Arc<WorkerHandle>,
    poll: Poll,
    sockets: WorkerSockets,
    relays: HashMap<Token, (SocketAddr, Arc<StdUdpSocket>)>,
    relay_tokens: HashMap<SocketAddr, Token>,
    next_token: usize,
    recv: RecvBatch,
    send: SendBatch,
    to_peers: Vec<ToPeer>,
    to_clients: ClientBatch,
    events: Vec<ReadyEvent>,
}

impl Worker {
    fn run(&mut self) {
        let mut events = Events::with_capacity(256);
        while !self.handle.stop.load(Ordering::Relaxed) {
            if let Err(e) = self.poll.poll(&mut events, Some(Duration::from_secs(1))) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "TURN worker poll failed");
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
            for event in events.iter() {
                match event.token() {
                    LISTEN_V4 => {
                        let fd = self.sockets.v4.as_raw_fd();
                        self.drain_listen(fd);
                    }
                    LISTEN_V6 => {
                        if let Some(fd) = self.sockets.v6.as_ref().map(AsRawFd::as_raw_fd) {
                            self.drain_listen(fd);
                        }
                    }
                    WAKE => self.apply_commands(),
                    token => self.drain_relay(token),
                }
            }
            self.flush_clients();
        }
    }

    fn apply_commands(&mut self) {
        let commands = std::mem::take(&mut *self.handle.commands.lock());
        for command in commands {
            match command {
                Command::AddRelay(relay, socket) => {
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    match self.poll.registry().register(&mut SourceFd(&socket.as_raw_fd()), token, Interest::READABLE) {
                        Ok(()) => {
                            self.relays.insert(token, (relay, socket));
                            self.relay_tokens.insert(relay, token);
                        }
                        Err(e) => tracing::warn!(error = %e, %relay, "cannot watch a relay socket"),
                    }
                }
                Command::RemoveRelay(relay) => {
                    if let Some(token) = self.relay_tokens.remove(&relay) {
                        if let Some((_, socket)) = self.relays.remove(&token) {
                            let _ = self.poll.registry().deregister(&mut SourceFd(&socket.as_raw_fd()));
                        }
                    }
                }
            }
        }
    }

    /// Reads the next batch from `fd` into `self.recv`; `None` when nothing is waiting. ICMP
    /// errors surface as receive errors and the next read goes on; a socket that keeps failing
    /// is left until its next readiness event rather than spun on.
    fn read_batch(&mut self, fd: RawFd) -> Option<usize> {
        for _ in 0..=MAX_READ_ERRORS {
            match self.recv.recv(fd) {
                Ok(n) => return Some(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(_) => {}
            }
        }
        None
    }

    /// Reads every datagram waiting on a listen socket and answers or relays each.
    fn drain_listen(&mut self, fd: RawFd) {
        loop {
            let Some(n) = self.read_batch(fd) else { return };
            self.handle_client_batch(n);
            if !self.events.is_empty() {
                self.shared.apply(self.events.drain(..));
            }
            self.send_to_peers();
            self.flush_clients();
            if n < BATCH {
                return;
            }
        }
    }

    fn handle_client_batch(&mut self, n: usize) {
        let now = Instant::now();
        let base = self.recv.bytes().as_ptr() as usize;
        let mut core = self.shared.core.lock();
        let mut binder = SocketBinder { pending: &self.shared.pending };
        for i in 0..n {
            let Some((from, packet)) = self.recv.get(i) else { continue };
            let client = ClientAddr { transport: Transport::Udp, addr: from };
            let reply = self.to_clients.next_buf();
            match core.handle_client(client, packet, now, reply, &mut binder) {
                Output::None => {}
                Output::ToClient => self.to_clients.commit(client),
                Output::ToPeer { relay, peer, data } => {
                    let start = data.as_ptr() as usize - base;
                    self.to_peers.push(ToPeer { relay, peer, start, end: start + data.len() });
                }
            }
        }
        self.shared.claim_events(&mut core, &mut self.events);
    }

    /// Sends this round's client datagrams from their relay sockets, consecutive datagrams of one
    /// relay in one `sendmmsg`.
    fn send_to_peers(&mut self) {
        if self.to_peers.is_empty() {
            return;
        }
        let bytes = self.recv.bytes();
        let relays = self.shared.relays.read();
        for group in self.to_peers.chunk_by(|a, b| a.relay == b.relay) {
            if let Some(socket) = relays.get(&group[0].relay) {
                self.send.send(socket.as_raw_fd(), group.iter().map(|p| (&bytes[p.start..p.end], p.peer)));
            }
        }
        drop(relays);
        self.to_peers.clear();
    }

    /// Reads every datagram waiting on a relay socket and passes it on to the allocation's client.
    fn drain_relay(&mut self, token: Token) {
        let Some((relay, socket)) = self.relays.get(&token).map(|(a, s)| (*a, s.as_raw_fd())) else { return };
        loop {
            let Some(n) = self.read_batch(socket) else { return };
            {
                let now = Instant::now();
                let mut core = self.shared.core.lock();
                for i in 0..n {
                    let Some((peer, data)) = self.recv.get(i) else { continue };
                    let out = self.to_clients.next_buf();
                    if let Some(client) = core.handle_peer(relay, peer, data, now, out) {
                        self.to_clients.commit(client);
                    }
                }
            }
            if self.to_clients.is_full() {
                self.flush_clients();
            }
            if n < BATCH {
                return;
            }
        }
    }

    /// Sends the gathered client datagrams: UDP ones in one `sendmmsg` per family, stream ones to
    /// their connection's queue.
    fn flush_clients(&mut self) {
        let batch = &mut self.to_clients;
        if batch.len == 0 {
            return;
        }
        let datagrams = || batch.bufs.iter().zip(&batch.to).take(batch.len);
        let udp = |want_v4: bool| {
            datagrams()
                .filter(move |(_, to)| to.transport == Transport::Udp && to.addr.is_ipv4() == want_v4)
                .map(|(buf, to)| (buf.as_slice(), to.addr))
        };
        self.send.send(self.sockets.v4.as_raw_fd(), udp(true));
        // Only a worker listening on IPv6 has IPv6 clients.
        if let Some(v6) = &self.sockets.v6 {
            self.send.send(v6.as_raw_fd(), udp(false));
        }
        for (buf, to) in datagrams().filter(|(_, to)| to.transport == Transport::Tcp) {
            self.shared.send_to_stream_client(*to, buf);
        }
        batch.len = 0;
    }
}
