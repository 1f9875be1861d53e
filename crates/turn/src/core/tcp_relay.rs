//! TCP allocations (RFC 6062): the peer connections of an allocation whose relay is a TCP
//! listening socket. Connect asks the server to open a connection from the relay address to a
//! peer; a permitted peer connecting to the relay address is announced with a ConnectionAttempt
//! indication; either way the connection gets a CONNECTION-ID, and the client claims it by sending
//! ConnectionBind on a new TCP (or TLS) connection to the server — the client data connection.
//! From then on the I/O layer splices the two connections: raw bytes both ways, no framing.
//!
//! The core decides: connection ids, states and timers, policy, permissions and quotas, and what
//! to answer. The I/O layer only opens, accepts, splices and closes the sockets it is told to,
//! and reports how a connection attempt went.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stun::{codes, default_reason, Class, IntegrityAlgorithm, LongTermKey, Message, MessageBuilder, Method, TransactionId};

use super::allocation::{ClientAddr, Transport};
use super::server::{Authenticated, Event, Server};

/// How long the server tries to connect to a peer before answering 447 (RFC 6062 §5.2: at
/// least 30 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a peer connection waits for the client's ConnectionBind before it is closed
/// (RFC 6062 §5.2 and §5.3: 30 s).
pub const CONNECTION_BIND_TIMEOUT: Duration = Duration::from_secs(30);

/// The CONNECTION-ID of a peer data connection: unique on this server while it lives, and drawn
/// at random so that it cannot be guessed by someone else's data connection (which would also
/// need the allocation owner's credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u32);

/// Where a peer connection is in its life.
#[derive(Debug)]
enum State {
    /// The server is connecting to the peer for a Connect request; the answer waits for the
    /// outcome (or for `deadline`, then 447).
    Connecting { answer: PendingAnswer, deadline: Instant },
    /// Established (by Connect or by the peer), waiting for ConnectionBind until `deadline`.
    /// The I/O layer does not read from the peer meanwhile, so its data waits in the kernel's
    /// receive buffer and TCP flow control holds the peer back (RFC 6062 §5.3).
    Unbound { deadline: Instant },
    /// Spliced to the client data connection `data`.
    Bound { data: ClientAddr },
}

/// Everything needed to answer a Connect request later.
struct PendingAnswer {
    transaction: TransactionId,
    key: LongTermKey,
    algorithm: IntegrityAlgorithm,
    fingerprint: bool,
}

impl std::fmt::Debug for PendingAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAnswer").finish_non_exhaustive()
    }
}

/// One peer connection of a TCP allocation.
#[derive(Debug)]
pub(crate) struct PeerConnection {
    /// The control connection that owns the allocation.
    owner: ClientAddr,
    /// The peer's address.
    peer: SocketAddr,
    state: State,
}

/// All peer connections, by id.
#[derive(Debug, Default)]
pub(crate) struct PeerConnections {
    by_id: HashMap<ConnectionId, PeerConnection>,
}

impl PeerConnections {
    /// Connections owned by the allocation of `owner`.
    fn count_for(&self, owner: ClientAddr) -> usize {
        self.by_id.values().filter(|c| c.owner == owner).count()
    }

    /// A fresh, unused, non-zero id.
    fn fresh_id(&self) -> ConnectionId {
        loop {
            let id = ConnectionId(rand::random());
            if id.0 != 0 && !self.by_id.contains_key(&id) {
                return id;
            }
        }
    }

    /// The owner's address of connection `id`, if it exists.
    pub(crate) fn owner_of(&self, id: ConnectionId) -> Option<ClientAddr> {
        self.by_id.get(&id).map(|c| c.owner)
    }

    /// Removes every connection owned by `owner` and returns their ids.
    pub(crate) fn remove_owned_by(&mut self, owner: ClientAddr) -> Vec<ConnectionId> {
        let ids: Vec<ConnectionId> = self.by_id.iter().filter(|(_, c)| c.owner == owner).map(|(id, _)| *id).collect();
        for id in &ids {
            self.by_id.remove(id);
        }
        ids
    }

    /// Live connections.
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

impl Server {
    /// Connect (RFC 6062 §5.2). On acceptance nothing is answered yet: the I/O layer gets
    /// [`Event::TcpConnect`] and reports back through [`Server::tcp_connect_result`].
    pub(super) fn connect(&mut self, client: ClientAddr, msg: &Message<'_>, auth: &Authenticated, fingerprint: bool, now: Instant) -> Result<(), u16> {
        if client.transport != Transport::Tcp {
            return Err(codes::BAD_REQUEST);
        }
        let alloc = super::server::owned(&mut self.allocations, client, auth)?;
        if alloc.relay_transport != Transport::Tcp {
            return Err(codes::BAD_REQUEST);
        }
        let peer = match msg.xor_peer_address() {
            Ok(Some(p)) => p,
            _ => return Err(codes::BAD_REQUEST),
        };
        let Some(relay) = alloc.relay_for(peer.ip()) else {
            return Err(codes::PEER_ADDRESS_FAMILY_MISMATCH);
        };
        // A connection to this peer is being made or is up (pending or bound): 446. (Another
        // one could not be made anyway: it would have the same four addresses.)
        if self.tcp.by_id.values().any(|c| c.owner == client && c.peer == peer) {
            return Err(codes::CONNECTION_ALREADY_EXISTS);
        }
        if !self.peer_allowed(peer) {
            self.stats.peer_denied += 1;
            return Err(codes::FORBIDDEN);
        }
        if self.tcp.count_for(client) >= self.config.quotas.tcp_connections_per_allocation {
            self.stats.quota_hits += 1;
            return Err(codes::INSUFFICIENT_CAPACITY);
        }
        let id = self.tcp.fresh_id();
        let answer = PendingAnswer { transaction: msg.transaction_id(), key: auth.key.clone(), algorithm: auth.algorithm, fingerprint };
        self.tcp.by_id.insert(id, PeerConnection { owner: client, peer, state: State::Connecting { answer, deadline: now + CONNECT_TIMEOUT } });
        self.events.push(Event::TcpConnect { id, relay, peer, timeout: CONNECT_TIMEOUT });
        Ok(())
    }

    /// The I/O layer's report on an [`Event::TcpConnect`]: whether the connection to the peer
    /// was made. Queues the Connect answer for the owner (success with CONNECTION-ID, or 447).
    /// Returns whether the I/O layer should keep the new connection: false when the connection
    /// failed, or is no longer wanted (the allocation went, or the core's own timeout answered).
    pub fn tcp_connect_result(&mut self, id: ConnectionId, connected: bool, now: Instant) -> bool {
        if !matches!(self.tcp.by_id.get(&id), Some(PeerConnection { state: State::Connecting { .. }, .. })) {
            return false;
        }
        let conn = if connected {
            let conn = self.tcp.by_id.get_mut(&id).expect("checked above");
            let state = std::mem::replace(&mut conn.state, State::Unbound { deadline: now + CONNECTION_BIND_TIMEOUT });
            (conn.owner, state)
        } else {
            let conn = self.tcp.by_id.remove(&id).expect("checked above");
            (conn.owner, conn.state)
        };
        let (owner, State::Connecting { answer, .. }) = conn else { return false };
        if connected {
            self.stats.tcp_connections_opened += 1;
            self.answer_connect(owner, &answer, Ok(id));
        } else {
            self.stats.tcp_connect_failures += 1;
            self.answer_connect(owner, &answer, Err(codes::CONNECTION_TIMEOUT_OR_FAILURE));
        }
        connected
    }

    fn answer_connect(&mut self, owner: ClientAddr, answer: &PendingAnswer, result: Result<ConnectionId, u16>) {
        let mut out = Vec::with_capacity(128);
        let class = if result.is_ok() { Class::SuccessResponse } else { Class::ErrorResponse };
        let mut b = MessageBuilder::new(&mut out, class, Method::CONNECT, answer.transaction);
        match result {
            Ok(id) => b.connection_id(id.0),
            Err(code) => b.error_code(code, default_reason(code)),
        };
        match answer.algorithm {
            IntegrityAlgorithm::Sha1 => b.message_integrity(answer.key.as_bytes()),
            IntegrityAlgorithm::Sha256 => b.message_integrity_sha256(answer.key.as_bytes()),
        };
        if answer.fingerprint {
            b.fingerprint();
        }
        if b.finish().is_ok() {
            self.events.push(Event::ToStreamClient { client: owner, message: out });
        }
    }

    /// A peer connected to the TCP relay at `relay` (RFC 6062 §5.3). When a permission covers
    /// the peer (and the quota allows), queues a ConnectionAttempt indication for the owner and
    /// returns the new connection's id; the I/O layer keeps the connection unread until
    /// ConnectionBind. `None`: close it at once.
    pub fn tcp_peer_connected(&mut self, relay: SocketAddr, peer: SocketAddr, now: Instant) -> Option<ConnectionId> {
        let owner = *self.by_relay.get(&relay)?;
        let alloc = self.allocations.get(&owner)?;
        if alloc.relay_transport != Transport::Tcp {
            return None;
        }
        // The same judgement as for a Send indication: a permission, and for this server's own
        // relay address only from a relay port unless the policy allows that address outright.
        if !alloc.permits(peer.ip(), now) || (self.is_relay_ip(peer.ip()) && !self.peer_allowed(peer)) {
            self.stats.dropped_no_permission += 1;
            return None;
        }
        if self.tcp.count_for(owner) >= self.config.quotas.tcp_connections_per_allocation {
            self.stats.quota_hits += 1;
            return None;
        }
        let id = self.tcp.fresh_id();
        let mut out = Vec::with_capacity(64);
        let mut b = MessageBuilder::new(&mut out, Class::Indication, Method::CONNECTION_ATTEMPT, TransactionId::new(rand::random()));
        b.xor_peer_address(peer).connection_id(id.0);
        b.finish().ok()?;
        self.tcp.by_id.insert(id, PeerConnection { owner, peer, state: State::Unbound { deadline: now + CONNECTION_BIND_TIMEOUT } });
        self.stats.tcp_connections_opened += 1;
        self.events.push(Event::ToStreamClient { client: owner, message: out });
        Some(id)
    }

    /// ConnectionBind (RFC 6062 §5.4) on a new client connection `client`. On success the I/O
    /// layer gets [`Event::TcpBound`] and, after the answer, splices `client` to the peer.
    pub(super) fn connection_bind(&mut self, client: ClientAddr, msg: &Message<'_>, auth: &Authenticated) -> Result<(), u16> {
        if client.transport != Transport::Tcp {
            return Err(codes::BAD_REQUEST);
        }
        // A control connection (one with an allocation) cannot become a data connection, nor
        // can a data connection be bound twice.
        if self.allocations.contains_key(&client) || self.tcp.by_id.values().any(|c| matches!(c.state, State::Bound { data } if data == client)) {
            return Err(codes::BAD_REQUEST);
        }
        let id = match msg.connection_id() {
            Ok(Some(id)) => ConnectionId(id),
            _ => return Err(codes::BAD_REQUEST),
        };
        let Some(conn) = self.tcp.by_id.get(&id) else { return Err(codes::BAD_REQUEST) };
        if !matches!(conn.state, State::Unbound { .. }) {
            return Err(codes::BAD_REQUEST);
        }
        // Only the allocation's owner may claim its connections.
        match self.allocations.get(&conn.owner) {
            Some(alloc) if alloc.username == auth.username => {}
            Some(_) => return Err(codes::WRONG_CREDENTIALS),
            None => return Err(codes::BAD_REQUEST),
        }
        if let Some(conn) = self.tcp.by_id.get_mut(&id) {
            conn.state = State::Bound { data: client };
        }
        self.stats.tcp_connections_bound += 1;
        self.events.push(Event::TcpBound { id, data: client });
        Ok(())
    }

    /// The I/O layer closed connection `id` (either side hung up, or it could not be spliced).
    pub fn tcp_connection_closed(&mut self, id: ConnectionId) {
        self.tcp.by_id.remove(&id);
    }

    /// Peer connections alive now (for a gauge).
    pub fn tcp_connection_count(&self) -> usize {
        self.tcp.len()
    }

    /// Answers Connect requests that ran out of time (447) and closes peer connections that
    /// were not bound in time.
    pub(super) fn tcp_timeouts(&mut self, now: Instant) {
        let expired: Vec<ConnectionId> = self
            .tcp
            .by_id
            .iter()
            .filter(|(_, c)| match c.state {
                State::Connecting { deadline, .. } | State::Unbound { deadline } => deadline <= now,
                State::Bound { .. } => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let Some(conn) = self.tcp.by_id.remove(&id) else { continue };
            match conn.state {
                State::Connecting { answer, .. } => {
                    self.stats.tcp_connect_failures += 1;
                    self.answer_connect(conn.owner, &answer, Err(codes::CONNECTION_TIMEOUT_OR_FAILURE));
                }
                _ => self.stats.tcp_bind_timeouts += 1,
            }
            self.events.push(Event::TcpClose { id });
        }
    }

    /// A data connection closed before the I/O layer reported its splice's end.
    pub(super) fn data_connection_closed(&mut self, client: ClientAddr) {
        let bound: Vec<ConnectionId> =
            self.tcp.by_id.iter().filter(|(_, c)| matches!(c.state, State::Bound { data } if data == client)).map(|(id, _)| *id).collect();
        for id in bound {
            self.tcp.by_id.remove(&id);
            self.events.push(Event::TcpClose { id });
        }
    }
}
