//! The TURN server state machine (RFC 8656): requests in, responses and relayed data out.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use stun::{
    codes, default_reason, AddressFamily, AttributeType, ChannelData, ChannelNumber, Class, IntegrityAlgorithm,
    LongTermKey, Message, MessageBuilder, Method, TransactionId,
};

use super::allocation::{Allocation, ChannelBinding, ClientAddr, Transport};
use super::auth::CredentialError;
use super::config::{ServerConfig, CHANNEL_LIFETIME, PERMISSION_LIFETIME};
use super::nonce::{NonceCheck, NonceKey};
use super::ports::Ports;
use super::stats::Stats;
use super::tcp_relay::{ConnectionId, PeerConnections};
use crate::policy::Denial;

/// Binds relay sockets for the core. The I/O layer binds a real UDP socket; tests pretend.
pub trait RelayBinder {
    /// Binds a relay socket at `addr`; `false` if that address cannot be used (then another port
    /// is tried).
    fn bind(&mut self, addr: SocketAddr) -> bool;

    /// Binds a TCP relay (RFC 6062): a listening TCP socket at `addr`; `false` if that address
    /// cannot be used. By default the same as [`RelayBinder::bind`] (for binders that pretend).
    fn bind_tcp(&mut self, addr: SocketAddr) -> bool {
        self.bind(addr)
    }
}

/// What to do with a packet after the core handled it.
#[derive(Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// Nothing to send (the packet was consumed or dropped).
    None,
    /// Send the bytes the core wrote into `out` back to the client.
    ToClient,
    /// Send `data` from the relay socket bound at `relay` to `peer`.
    ToPeer {
        /// The relay socket's address.
        relay: SocketAddr,
        /// The peer to send to.
        peer: SocketAddr,
        /// The payload, borrowed from the client's packet.
        data: &'a [u8],
    },
}

/// Things the I/O layer must act on besides sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The relay socket at `relay` belongs to `client` now (it was bound through [`RelayBinder`]).
    /// Also sent for a port held by an EVEN-PORT reservation, so that its socket stays bound
    /// until the reservation is claimed (no new event then) or dropped ([`Event::AllocationRemoved`]).
    AllocationCreated {
        /// Owner.
        client: ClientAddr,
        /// Relay socket address.
        relay: SocketAddr,
    },
    /// The allocation ended (expired, deleted, or its TCP connection closed): close `relay`.
    AllocationRemoved {
        /// Former owner.
        client: ClientAddr,
        /// Relay socket address to close.
        relay: SocketAddr,
    },
    /// Connect (RFC 6062): open a TCP connection from the relay address `relay` to `peer`
    /// within `timeout`, then report with [`Server::tcp_connect_result`].
    TcpConnect {
        /// The connection's id.
        id: ConnectionId,
        /// The TCP relay address to connect from.
        relay: SocketAddr,
        /// The peer to connect to.
        peer: SocketAddr,
        /// How long to try.
        timeout: Duration,
    },
    /// ConnectionBind succeeded: once the answer is written, splice the client data connection
    /// `data` to peer connection `id`.
    TcpBound {
        /// The peer connection.
        id: ConnectionId,
        /// The client data connection.
        data: ClientAddr,
    },
    /// Close peer connection `id` (and its data connection, if bound).
    TcpClose {
        /// The peer connection.
        id: ConnectionId,
    },
    /// Send `message` (a whole STUN message) to the stream client `client`: a deferred Connect
    /// answer or a ConnectionAttempt indication.
    ToStreamClient {
        /// A TCP/TLS control connection.
        client: ClientAddr,
        /// The encoded message.
        message: Vec<u8>,
    },
}

/// The TURN server core.
pub struct Server {
    pub(super) config: ServerConfig,
    nonce_key: NonceKey,
    epoch: Instant,
    unix_at_epoch: u64,
    pub(super) allocations: HashMap<ClientAddr, Allocation>,
    pub(super) by_relay: HashMap<SocketAddr, ClientAddr>,
    per_user: HashMap<String, usize>,
    ports: Ports,
    /// Relay ports held by EVEN-PORT with the R bit, by RESERVATION-TOKEN.
    reservations: HashMap<[u8; 8], Reservation>,
    /// Peer connections of TCP allocations (RFC 6062).
    pub(super) tcp: PeerConnections,
    pub(super) stats: Stats,
    pub(super) events: Vec<Event>,
    /// Shutting down: no new allocations, existing ones go on.
    draining: bool,
}

/// How long a reserved relay port waits for the Allocate that names its token (RFC 8656 §7.2
/// suggests about 30 s).
pub const RESERVATION_LIFETIME: Duration = Duration::from_secs(30);

/// A relay port held for a later Allocate with RESERVATION-TOKEN (the RTCP half of an RTP/RTCP
/// pair). The port is marked taken but not bound until it is claimed.
struct Reservation {
    /// The client whose Allocate made the reservation.
    owner: ClientAddr,
    relay_ip: IpAddr,
    advertised_ip: IpAddr,
    port: u16,
    quota_user: String,
    expires: Instant,
}

/// An authenticated request's identity and how to sign the answer.
pub(super) struct Authenticated {
    pub(super) username: String,
    pub(super) key: LongTermKey,
    pub(super) algorithm: IntegrityAlgorithm,
}

/// How to finish a response.
struct Signing<'k> {
    key: Option<(&'k LongTermKey, IntegrityAlgorithm)>,
    fingerprint: bool,
}

impl Server {
    /// A server with no allocations. `now` and `unix_now` anchor the clock used for nonces and
    /// REST username expiry.
    pub fn new(config: ServerConfig, nonce_key: NonceKey, now: Instant, unix_now: u64) -> Self {
        let ports = Ports::new(config.ports);
        Self {
            config,
            nonce_key,
            epoch: now,
            unix_at_epoch: unix_now,
            allocations: HashMap::new(),
            by_relay: HashMap::new(),
            per_user: HashMap::new(),
            ports,
            reservations: HashMap::new(),
            tcp: PeerConnections::default(),
            stats: Stats::default(),
            events: Vec::new(),
            draining: false,
        }
    }

    /// Stops taking new allocations (508, so clients try another server) while existing ones
    /// keep relaying and may be refreshed: the graceful-shutdown drain.
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Allocations alive now.
    pub fn allocation_count(&self) -> usize {
        self.allocations.len()
    }

    /// Permissions and channels across all allocations (for gauges).
    pub fn permission_and_channel_counts(&self) -> (usize, usize) {
        self.allocations.values().fold((0, 0), |(p, c), a| (p + a.permissions.len(), c + a.channels.len()))
    }

    /// The allocation owned by `client`.
    pub fn allocation(&self, client: &ClientAddr) -> Option<&Allocation> {
        self.allocations.get(client)
    }

    /// Events since the last drain.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    fn unix_now(&self, now: Instant) -> u64 {
        self.unix_at_epoch + now.saturating_duration_since(self.epoch).as_secs()
    }

    /// Handles one datagram (UDP) or one frame (TCP) from `client`. Responses are written into
    /// `out`.
    pub fn handle_client<'a>(
        &mut self,
        client: ClientAddr,
        packet: &'a [u8],
        now: Instant,
        out: &mut Vec<u8>,
        binder: &mut dyn RelayBinder,
    ) -> Output<'a> {
        match packet.first() {
            Some(0x40..=0x7F) => self.handle_channel_data(client, packet, now),
            Some(0x00..=0x03) => match Message::parse(packet) {
                Ok(msg) => self.handle_message(client, &msg, now, out, binder),
                Err(_) => {
                    self.stats.malformed += 1;
                    Output::None
                }
            },
            _ => {
                self.stats.malformed += 1;
                Output::None
            }
        }
    }

    fn handle_channel_data<'a>(&mut self, client: ClientAddr, packet: &'a [u8], now: Instant) -> Output<'a> {
        let decoded = if self.config.rfc5766_channels { ChannelData::decode_rfc5766(packet) } else { ChannelData::decode(packet) };
        let Ok(cd) = decoded else {
            self.stats.malformed += 1;
            return Output::None;
        };
        let Some(alloc) = self.allocations.get(&client) else {
            self.stats.dropped_no_permission += 1;
            return Output::None;
        };
        let Some(channel) = alloc.channel(cd.channel.value(), now) else {
            self.stats.dropped_no_permission += 1;
            return Output::None;
        };
        self.stats.packets_to_peer += 1;
        self.stats.bytes_to_peer += cd.data.len() as u64;
        // ChannelBind checked the family, so the peer's relay exists.
        let relay = alloc.relay_for(channel.peer.ip()).unwrap_or(alloc.relay);
        Output::ToPeer { relay, peer: channel.peer, data: cd.data }
    }

    fn handle_message<'a>(
        &mut self,
        client: ClientAddr,
        msg: &Message<'a>,
        now: Instant,
        out: &mut Vec<u8>,
        binder: &mut dyn RelayBinder,
    ) -> Output<'a> {
        match msg.class() {
            Class::Request => {}
            Class::Indication if msg.method() == Method::SEND => return self.handle_send(client, msg, now),
            _ => return Output::None,
        }
        let plain = Signing { key: None, fingerprint: msg.fingerprint().is_some() };
        let unknown: Vec<AttributeType> = msg.unknown_comprehension_required().take(16).collect();
        if !unknown.is_empty() {
            self.error(out, msg, codes::UNKNOWN_ATTRIBUTE, &plain, |b| {
                b.unknown_attributes(&unknown);
            });
            return Output::ToClient;
        }
        let method = msg.method();
        if method == Method::BINDING {
            let mut b = MessageBuilder::new(out, Class::SuccessResponse, Method::BINDING, msg.transaction_id());
            b.xor_mapped_address(client.addr);
            if plain.fingerprint {
                b.fingerprint();
            }
            return finish(b);
        }
        let methods = [Method::ALLOCATE, Method::REFRESH, Method::CREATE_PERMISSION, Method::CHANNEL_BIND, Method::CONNECT, Method::CONNECTION_BIND];
        if !methods.contains(&method) {
            self.error(out, msg, codes::BAD_REQUEST, &plain, |_| {});
            return Output::ToClient;
        }
        // A ConnectionBind comes on a new connection, with the nonce the control connection was
        // given: accept a nonce issued to the owner of the connection it names, too (the MAC
        // still has to be the owner's).
        let owner_addr = if method == Method::CONNECTION_BIND {
            msg.connection_id().ok().flatten().and_then(|id| self.tcp.owner_of(ConnectionId(id))).map(|o| o.addr)
        } else {
            None
        };
        let auth = match self.authenticate(client, owner_addr, msg, now) {
            Ok(a) => a,
            Err((code, with_nonce)) => {
                let nonce = self.nonce_key.issue(client.addr, self.unix_now(now));
                let realm = self.config.realm.clone();
                self.error(out, msg, code, &plain, |b| {
                    if with_nonce {
                        b.realm(&realm).nonce(&nonce);
                    }
                });
                return Output::ToClient;
            }
        };
        let signing = Signing { key: Some((&auth.key, auth.algorithm)), fingerprint: plain.fingerprint };
        let result = match method {
            Method::ALLOCATE => self.allocate(client, msg, &auth, now, binder),
            Method::REFRESH => self.refresh(client, msg, &auth, now),
            Method::CREATE_PERMISSION => self.create_permission(client, msg, &auth, now),
            Method::CONNECT => match self.connect(client, msg, &auth, plain.fingerprint, now) {
                // Answered when the I/O layer reports the connection's fate.
                Ok(()) => return Output::None,
                Err(code) => Err(code),
            },
            Method::CONNECTION_BIND => self.connection_bind(client, msg, &auth).map(|()| Success::Empty),
            _ => self.channel_bind(client, msg, &auth, now),
        };
        match result {
            Ok(success) => {
                let mut b = MessageBuilder::new(out, Class::SuccessResponse, method, msg.transaction_id());
                match success {
                    Success::Allocated { advertised, additional, lifetime, reservation } => {
                        b.xor_relayed_address(advertised);
                        match additional {
                            Ok(Some(second)) => {
                                b.xor_relayed_address(second);
                            }
                            Ok(None) => {}
                            // The IPv6 half of a dual allocation could not be made (RFC 8656 §7.2).
                            Err(code) => {
                                b.address_error_code(AddressFamily::V6, code, default_reason(code));
                            }
                        }
                        b.lifetime(lifetime).xor_mapped_address(client.addr);
                        if let Some(token) = reservation {
                            b.reservation_token(&token);
                        }
                    }
                    Success::Lifetime(lifetime) => {
                        b.lifetime(lifetime);
                    }
                    Success::Empty => {}
                }
                sign(&mut b, &signing);
                finish(b)
            }
            Err(code) => {
                self.error(out, msg, code, &signing, |_| {});
                Output::ToClient
            }
        }
    }

    /// Checks long-term credentials. On failure: the error code and whether REALM and a fresh
    /// NONCE go with it.
    fn authenticate(&mut self, client: ClientAddr, owner: Option<SocketAddr>, msg: &Message<'_>, now: Instant) -> Result<Authenticated, (u16, bool)> {
        if msg.message_integrity().is_none() && msg.message_integrity_sha256().is_none() {
            self.stats.auth_missing += 1;
            return Err((codes::UNAUTHENTICATED, true));
        }
        let (Ok(Some(username)), Ok(Some(realm)), Ok(Some(nonce))) = (msg.username(), msg.realm(), msg.nonce()) else {
            self.stats.auth_bad_credentials += 1;
            return Err((codes::BAD_REQUEST, false));
        };
        let unix_now = self.unix_now(now);
        let lifetime = self.config.nonce_lifetime.as_secs();
        let check = match self.nonce_key.check(nonce, client.addr, unix_now, lifetime) {
            NonceCheck::Valid => NonceCheck::Valid,
            other => owner.map_or(other, |owner| self.nonce_key.check(nonce, owner, unix_now, lifetime)),
        };
        match check {
            NonceCheck::Valid => {}
            NonceCheck::Stale | NonceCheck::Invalid => {
                self.stats.auth_stale_nonce += 1;
                return Err((codes::STALE_NONCE, true));
            }
        }
        if realm != self.config.realm {
            self.stats.auth_bad_credentials += 1;
            return Err((codes::UNAUTHENTICATED, true));
        }
        let keys = match self.config.credentials.keys(username, unix_now) {
            Ok(k) => k,
            Err(CredentialError::UnknownUser | CredentialError::Expired) => {
                self.stats.auth_bad_credentials += 1;
                return Err((codes::UNAUTHENTICATED, true));
            }
        };
        for key in keys {
            if let Ok(algorithm) = msg.verify_integrity(key.as_bytes()) {
                return Ok(Authenticated { username: username.to_string(), key, algorithm });
            }
        }
        self.stats.auth_bad_credentials += 1;
        Err((codes::UNAUTHENTICATED, true))
    }

    fn allocate(
        &mut self,
        client: ClientAddr,
        msg: &Message<'_>,
        auth: &Authenticated,
        now: Instant,
        binder: &mut dyn RelayBinder,
    ) -> Result<Success, u16> {
        if let Some(existing) = self.allocations.get(&client) {
            // A retransmitted Allocate gets the original answer; anything else is a mismatch.
            if existing.created_by == *msg.transaction_id().as_bytes() {
                let left = existing.expires.saturating_duration_since(now).as_secs() as u32;
                return Ok(Success::Allocated {
                    advertised: existing.advertised,
                    additional: Ok(existing.additional.map(|(_, advertised)| advertised)),
                    lifetime: left,
                    reservation: existing.reservation,
                });
            }
            return Err(codes::ALLOCATION_MISMATCH);
        }
        if self.draining {
            return Err(codes::INSUFFICIENT_CAPACITY);
        }
        let relay_transport = match msg.requested_transport() {
            Ok(Some(stun::transport::UDP)) => Transport::Udp,
            Ok(Some(stun::transport::TCP)) => Transport::Tcp,
            Ok(Some(_)) => return Err(codes::UNSUPPORTED_TRANSPORT_PROTOCOL),
            _ => return Err(codes::BAD_REQUEST),
        };
        // RFC 6062 §5.1: a TCP allocation only over a TCP or TLS control connection, and
        // without DONT-FRAGMENT, EVEN-PORT or RESERVATION-TOKEN. A dual allocation is not offered
        // for TCP relays either.
        if relay_transport == Transport::Tcp {
            let udp_only = msg.dont_fragment().unwrap_or(true)
                || !matches!(msg.even_port(), Ok(None))
                || !matches!(msg.reservation_token(), Ok(None))
                || !matches!(msg.additional_address_family(), Ok(None));
            if client.transport != Transport::Tcp || udp_only {
                return Err(codes::BAD_REQUEST);
            }
        }
        let requested_family = msg.requested_address_family().map_err(|_| codes::BAD_REQUEST)?;
        let additional_family = msg.additional_address_family().map_err(|_| codes::BAD_REQUEST)?;
        let token = msg.reservation_token().map_err(|_| codes::BAD_REQUEST)?.copied();
        // EVEN-PORT: `Some(reserve_next)`.
        let even_port = msg.even_port().map_err(|_| codes::BAD_REQUEST)?;
        // ADDITIONAL-ADDRESS-FAMILY may only ask for IPv6 (beside the default IPv4), and not
        // together with REQUESTED-ADDRESS-FAMILY (RFC 8656 §7.2).
        if (requested_family.is_some() && additional_family.is_some()) || additional_family == Some(AddressFamily::V4) {
            return Err(codes::BAD_REQUEST);
        }
        let dual = additional_family == Some(AddressFamily::V6);
        // RFC 8656 §7.2: a RESERVATION-TOKEN comes alone, without EVEN-PORT or an address family.
        if token.is_some() && (even_port.is_some() || requested_family.is_some() || additional_family.is_some()) {
            return Err(codes::BAD_REQUEST);
        }
        let reserve_next = even_port == Some(true);
        let claimed = match token {
            Some(token) => {
                // An unknown, used or expired token: 508 (RFC 8656 §7.2).
                let r = self.reservations.remove(&token).ok_or(codes::INSUFFICIENT_CAPACITY)?;
                if r.expires <= now {
                    self.drop_reservation(&r);
                    return Err(codes::INSUFFICIENT_CAPACITY);
                }
                Some(r)
            }
            None => None,
        };
        let (relay_ip, advertised_ip) = match &claimed {
            Some(r) => (r.relay_ip, r.advertised_ip),
            None => match requested_family.unwrap_or(AddressFamily::V4) {
                AddressFamily::V4 => match self.config.relay_ip_v4 {
                    Some(ip) => (ip, self.config.external_ip_v4.unwrap_or(ip)),
                    None => return Err(codes::ADDRESS_FAMILY_NOT_SUPPORTED),
                },
                AddressFamily::V6 => match self.config.relay_ip_v6 {
                    Some(ip) => (ip, self.config.external_ip_v6.unwrap_or(ip)),
                    None => return Err(codes::ADDRESS_FAMILY_NOT_SUPPORTED),
                },
            },
        };
        let quota_user = quota_bucket(&auth.username).to_string();
        let refusal = if self.allocations.len() >= self.config.quotas.max_allocations {
            Some(codes::INSUFFICIENT_CAPACITY)
        } else if self.per_user.get(&quota_user).copied().unwrap_or(0) >= self.config.quotas.per_user {
            Some(codes::ALLOCATION_QUOTA_REACHED)
        } else if reserve_next && !self.may_reserve(&quota_user) {
            // R bit set but no reservation may be held now: the request cannot be satisfied.
            Some(codes::INSUFFICIENT_CAPACITY)
        } else {
            None
        };
        if let Some(code) = refusal {
            self.stats.quota_hits += 1;
            if let Some(r) = claimed {
                self.drop_reservation(&r);
            }
            return Err(code);
        }
        let lifetime = self.initial_lifetime(msg.lifetime().ok().flatten());
        let port = match &claimed {
            // Its socket has been bound and held since the reservation.
            Some(r) => Some(r.port),
            None if relay_transport == Transport::Tcp => self.ports.take(false, |p| binder.bind_tcp(SocketAddr::new(relay_ip, p))),
            None if reserve_next => self.ports.take_pair(|p| binder.bind(SocketAddr::new(relay_ip, p))),
            None => self.ports.take(even_port.is_some(), |p| binder.bind(SocketAddr::new(relay_ip, p))),
        };
        let Some(port) = port else {
            self.stats.quota_hits += 1;
            return Err(codes::INSUFFICIENT_CAPACITY);
        };
        let reservation = if reserve_next {
            let token = loop {
                let t: [u8; 8] = rand::random();
                if t != [0; 8] && !self.reservations.contains_key(&t) {
                    break t;
                }
            };
            let held = Reservation { owner: client, relay_ip, advertised_ip, port: port + 1, quota_user: quota_user.clone(), expires: now + RESERVATION_LIFETIME };
            self.reservations.insert(token, held);
            // The I/O layer keeps a bound socket only for an AllocationCreated event, so the held
            // port gets one now: otherwise the kernel could give the port to another socket (an
            // ephemeral one, say) before the claim. No client owns it in `by_relay` yet, so
            // datagrams reaching it are dropped until the claim.
            self.events.push(Event::AllocationCreated { client, relay: SocketAddr::new(relay_ip, port + 1) });
            Some(token)
        } else {
            None
        };
        // The IPv6 half of a dual allocation. Failing it does not fail the Allocate: the answer
        // carries ADDRESS-ERROR-CODE instead of a second XOR-RELAYED-ADDRESS.
        let additional = if !dual {
            Ok(None)
        } else if let Some(ip6) = self.config.relay_ip_v6 {
            let advertised6 = self.config.external_ip_v6.unwrap_or(ip6);
            match self.ports.take(false, |p| binder.bind(SocketAddr::new(ip6, p))) {
                Some(p) => Ok(Some((SocketAddr::new(ip6, p), SocketAddr::new(advertised6, p)))),
                None => Err(codes::INSUFFICIENT_CAPACITY),
            }
        } else {
            Err(codes::ADDRESS_FAMILY_NOT_SUPPORTED)
        };
        let relay = SocketAddr::new(relay_ip, port);
        let advertised = SocketAddr::new(advertised_ip, port);
        let allocation = Allocation {
            client,
            relay,
            advertised,
            relay_transport,
            additional: additional.ok().flatten(),
            username: auth.username.clone(),
            quota_user: quota_user.clone(),
            expires: now + lifetime,
            created_by: *msg.transaction_id().as_bytes(),
            reservation,
            permissions: Vec::new(),
            channels: Vec::new(),
        };
        let second = allocation.additional;
        self.allocations.insert(client, allocation);
        self.by_relay.insert(relay, client);
        *self.per_user.entry(quota_user).or_insert(0) += 1;
        self.stats.allocations_created += 1;
        self.events.push(Event::AllocationCreated { client, relay });
        if let Some((relay6, _)) = second {
            self.by_relay.insert(relay6, client);
            self.events.push(Event::AllocationCreated { client, relay: relay6 });
        }
        let additional = additional.map(|a| a.map(|(_, advertised6)| advertised6));
        Ok(Success::Allocated { advertised, additional, lifetime: lifetime.as_secs() as u32, reservation })
    }

    fn initial_lifetime(&self, requested: Option<u32>) -> Duration {
        let default = self.config.default_lifetime;
        match requested {
            Some(secs) => Duration::from_secs(u64::from(secs)).min(self.config.max_lifetime).max(default),
            None => default,
        }
    }


    fn refresh(&mut self, client: ClientAddr, msg: &Message<'_>, auth: &Authenticated, now: Instant) -> Result<Success, u16> {
        let max = self.config.max_lifetime;
        let default = self.config.default_lifetime;
        let alloc = owned(&mut self.allocations, client, auth)?;
        let family = msg.requested_address_family().ok().flatten();
        if let Some(family) = family {
            let has = family_of(alloc.relay.ip()) == family || alloc.additional.is_some_and(|(r, _)| family_of(r.ip()) == family);
            if !has {
                return Err(codes::PEER_ADDRESS_FAMILY_MISMATCH);
            }
        }
        let requested = msg.lifetime().map_err(|_| codes::BAD_REQUEST)?;
        // Deleting one family of a dual allocation keeps the other (RFC 8656 §7.3).
        if let (Some(0), Some(family), Some((relay6, advertised6))) = (requested, family, alloc.additional) {
            let gone = if family_of(relay6.ip()) == family {
                relay6
            } else {
                let gone = alloc.relay;
                (alloc.relay, alloc.advertised) = (relay6, advertised6);
                gone
            };
            alloc.additional = None;
            self.by_relay.remove(&gone);
            self.ports.release(gone.port());
            self.events.push(Event::AllocationRemoved { client, relay: gone });
            return Ok(Success::Lifetime(0));
        }
        if requested == Some(0) {
            self.remove_allocation(client);
            self.stats.allocations_deleted += 1;
            return Ok(Success::Lifetime(0));
        }
        let lifetime = requested.map_or(default, |s| Duration::from_secs(u64::from(s)).min(max));
        alloc.expires = now + lifetime;
        Ok(Success::Lifetime(lifetime.as_secs() as u32))
    }

    fn create_permission(&mut self, client: ClientAddr, msg: &Message<'_>, auth: &Authenticated, now: Instant) -> Result<Success, u16> {
        let mut peers: Vec<IpAddr> = Vec::new();
        let mut denied = false;
        for peer in msg.xor_peer_addresses() {
            let peer = peer.map_err(|_| codes::BAD_REQUEST)?;
            denied |= !self.peer_allowed(peer);
            if !peers.contains(&peer.ip()) {
                peers.push(peer.ip());
            }
        }
        if peers.is_empty() {
            return Err(codes::BAD_REQUEST);
        }
        let limit = self.config.quotas.permissions_per_allocation;
        let alloc = owned(&mut self.allocations, client, auth)?;
        if peers.iter().any(|ip| alloc.relay_for(*ip).is_none()) {
            return Err(codes::PEER_ADDRESS_FAMILY_MISMATCH);
        }
        if denied {
            self.stats.peer_denied += 1;
            return Err(codes::FORBIDDEN);
        }
        alloc.prune(now);
        let new = peers.iter().filter(|ip| !alloc.permissions.iter().any(|p| p.ip == **ip)).count();
        if alloc.permissions.len() + new > limit {
            self.stats.quota_hits += 1;
            return Err(codes::INSUFFICIENT_CAPACITY);
        }
        for ip in peers {
            alloc.permit(ip, now + PERMISSION_LIFETIME);
            self.stats.permissions_installed += 1;
        }
        Ok(Success::Empty)
    }

    fn channel_bind(&mut self, client: ClientAddr, msg: &Message<'_>, auth: &Authenticated, now: Instant) -> Result<Success, u16> {
        let number = match msg.attribute_value(AttributeType::CHANNEL_NUMBER) {
            Some(&[hi, lo, _, _]) => u16::from_be_bytes([hi, lo]),
            _ => return Err(codes::BAD_REQUEST),
        };
        let valid = if self.config.rfc5766_channels { ChannelNumber::new_rfc5766(number) } else { ChannelNumber::new(number) };
        if valid.is_err() {
            return Err(codes::BAD_REQUEST);
        }
        let peer = match msg.xor_peer_address() {
            Ok(Some(p)) => p,
            _ => return Err(codes::BAD_REQUEST),
        };
        let limit = self.config.quotas.channels_per_allocation;
        let permission_limit = self.config.quotas.permissions_per_allocation;
        let denied = !self.peer_allowed(peer);
        let alloc = owned(&mut self.allocations, client, auth)?;
        if alloc.relay_for(peer.ip()).is_none() {
            return Err(codes::PEER_ADDRESS_FAMILY_MISMATCH);
        }
        if denied {
            self.stats.peer_denied += 1;
            return Err(codes::FORBIDDEN);
        }
        alloc.prune(now);
        let same_number = alloc.channels.iter().position(|c| c.number == number);
        let same_peer = alloc.channels.iter().position(|c| c.peer == peer);
        match (same_number, same_peer) {
            (Some(a), Some(b)) if a == b => alloc.channels[a].expires = now + CHANNEL_LIFETIME,
            (None, None) => {
                if alloc.channels.len() >= limit {
                    self.stats.quota_hits += 1;
                    return Err(codes::INSUFFICIENT_CAPACITY);
                }
                if !alloc.permissions.iter().any(|p| p.ip == peer.ip()) && alloc.permissions.len() >= permission_limit {
                    self.stats.quota_hits += 1;
                    return Err(codes::INSUFFICIENT_CAPACITY);
                }
                alloc.channels.push(ChannelBinding { number, peer, expires: now + CHANNEL_LIFETIME });
            }
            // The number is bound to another peer, or the peer to another number.
            _ => return Err(codes::BAD_REQUEST),
        }
        alloc.permit(peer.ip(), now + PERMISSION_LIFETIME);
        self.stats.channels_bound += 1;
        Ok(Success::Empty)
    }

    fn handle_send<'a>(&mut self, client: ClientAddr, msg: &Message<'a>, now: Instant) -> Output<'a> {
        let (Ok(Some(peer)), Some(data)) = (msg.xor_peer_address(), msg.data()) else {
            self.stats.malformed += 1;
            return Output::None;
        };
        let Some(alloc) = self.allocations.get(&client) else {
            self.stats.dropped_no_permission += 1;
            return Output::None;
        };
        // A TCP relay carries data on its peer connections only (RFC 6062 §5.1).
        if alloc.relay_transport == Transport::Tcp {
            self.stats.dropped_no_permission += 1;
            return Output::None;
        }
        // A permission for this server's own relay address only covers its relay ports, unless
        // the policy allows that address outright (allow-list, loopback for tests): the same
        // judgement CreatePermission and ChannelBind make, so a Send is never dropped to a peer
        // a ChannelBind would have been granted.
        if !alloc.permits(peer.ip(), now) || (self.is_relay_ip(peer.ip()) && !self.peer_allowed(peer)) {
            self.stats.dropped_no_permission += 1;
            return Output::None;
        }
        let Some(relay) = alloc.relay_for(peer.ip()) else {
            self.stats.dropped_no_permission += 1;
            return Output::None;
        };
        self.stats.packets_to_peer += 1;
        self.stats.bytes_to_peer += data.len() as u64;
        Output::ToPeer { relay, peer, data }
    }

    /// Handles a datagram that arrived at relay socket `relay` from `peer`. When it may pass,
    /// writes the ChannelData or Data indication for the client into `out` and returns the client.
    pub fn handle_peer(&mut self, relay: SocketAddr, peer: SocketAddr, data: &[u8], now: Instant, out: &mut Vec<u8>) -> Option<ClientAddr> {
        let client = *self.by_relay.get(&relay)?;
        let alloc = self.allocations.get(&client)?;
        if !alloc.permits(peer.ip(), now) {
            self.stats.dropped_no_permission += 1;
            return None;
        }
        out.clear();
        if let Some(channel) = alloc.channel_for_peer(peer, now) {
            let len = u16::try_from(data.len()).ok()?;
            out.extend_from_slice(&channel.number.to_be_bytes());
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(data);
            if client.transport == Transport::Tcp {
                out.resize(out.len().next_multiple_of(4), 0);
            }
        } else {
            let tid = TransactionId::new(rand::random());
            let mut b = MessageBuilder::new(out, Class::Indication, Method::DATA, tid);
            b.xor_peer_address(peer).data(data);
            b.finish().ok()?;
        }
        self.stats.packets_to_client += 1;
        self.stats.bytes_to_client += data.len() as u64;
        Some(client)
    }

    /// Whether a client may relay to `peer`: the peer policy, except that another allocation's
    /// relay address on this very server is allowed although it is a server address. That is the
    /// relay-to-relay path of two callers who both relay through this server (both behind
    /// symmetric NATs, or both forcing relay); it is told apart from the server's other services
    /// by its port, which must lie in the relay range.
    pub(super) fn peer_allowed(&self, peer: SocketAddr) -> bool {
        match self.config.policy.check(peer.ip()) {
            Ok(()) => true,
            Err(Denial::ServerAddress) => self.is_relay_ip(peer.ip()) && self.config.ports.contains(peer.port()),
            Err(Denial::ReservedRange) => false,
        }
    }

    /// Whether `ip` is an address relays are bound to or advertised at.
    pub(super) fn is_relay_ip(&self, ip: IpAddr) -> bool {
        let c = &self.config;
        [c.relay_ip_v4, c.external_ip_v4, c.relay_ip_v6, c.external_ip_v6].contains(&Some(ip))
    }

    /// The client's TCP connection closed: its allocation goes with it (RFC 8656 §3.1).
    pub fn client_closed(&mut self, client: ClientAddr) {
        if self.remove_allocation(client) {
            self.stats.allocations_deleted += 1;
        }
        self.data_connection_closed(client);
    }

    /// Expires allocations, permissions and channels whose time has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<ClientAddr> = self.allocations.values().filter(|a| a.expires <= now).map(|a| a.client).collect();
        for client in expired {
            self.remove_allocation(client);
            self.stats.allocations_expired += 1;
        }
        for alloc in self.allocations.values_mut() {
            alloc.prune(now);
        }
        self.tcp_timeouts(now);
        let (ports, events) = (&mut self.ports, &mut self.events);
        self.reservations.retain(|_, r| {
            let keep = r.expires > now;
            if !keep {
                ports.release(r.port);
                events.push(Event::AllocationRemoved { client: r.owner, relay: SocketAddr::new(r.relay_ip, r.port) });
            }
            keep
        });
    }

    /// Gives a reserved port back and has the I/O layer close the socket held for it.
    fn drop_reservation(&mut self, r: &Reservation) {
        self.ports.release(r.port);
        self.events.push(Event::AllocationRemoved { client: r.owner, relay: SocketAddr::new(r.relay_ip, r.port) });
    }

    /// Whether `quota_user` may hold one more reserved port: reservations count against the same
    /// limits as allocations (total and per user), so they cannot hoard the relay range.
    fn may_reserve(&self, quota_user: &str) -> bool {
        let mine = self.reservations.values().filter(|r| r.quota_user == quota_user).count();
        self.reservations.len() < self.config.quotas.max_allocations && mine < self.config.quotas.per_user
    }

    fn remove_allocation(&mut self, client: ClientAddr) -> bool {
        let Some(alloc) = self.allocations.remove(&client) else {
            return false;
        };
        self.by_relay.remove(&alloc.relay);
        self.ports.release(alloc.relay.port());
        if let Some((relay6, _)) = alloc.additional {
            self.by_relay.remove(&relay6);
            self.ports.release(relay6.port());
            self.events.push(Event::AllocationRemoved { client, relay: relay6 });
        }
        if let Some(n) = self.per_user.get_mut(&alloc.quota_user) {
            *n -= 1;
            if *n == 0 {
                self.per_user.remove(&alloc.quota_user);
            }
        }
        self.events.push(Event::AllocationRemoved { client, relay: alloc.relay });
        // Its peer connections go with it (RFC 6062 §5.1), bound or not.
        for id in self.tcp.remove_owned_by(client) {
            self.events.push(Event::TcpClose { id });
        }
        true
    }

    fn error(&mut self, out: &mut Vec<u8>, msg: &Message<'_>, code: u16, signing: &Signing<'_>, extra: impl FnOnce(&mut MessageBuilder<'_>)) {
        let mut b = MessageBuilder::new(out, Class::ErrorResponse, msg.method(), msg.transaction_id());
        b.error_code(code, default_reason(code));
        extra(&mut b);
        sign(&mut b, signing);
        if b.finish().is_err() {
            out.clear();
        }
    }
}

/// The allocation of `client`, if `auth` is the user that created it (else 437 or 441).
pub(super) fn owned<'m>(allocations: &'m mut HashMap<ClientAddr, Allocation>, client: ClientAddr, auth: &Authenticated) -> Result<&'m mut Allocation, u16> {
    let alloc = allocations.get_mut(&client).ok_or(codes::ALLOCATION_MISMATCH)?;
    if alloc.username != auth.username {
        return Err(codes::WRONG_CREDENTIALS);
    }
    Ok(alloc)
}

/// The result of a successful request, before encoding.
enum Success {
    /// `additional`: the IPv6 half of a dual allocation, or why it could not be made.
    Allocated { advertised: SocketAddr, additional: Result<Option<SocketAddr>, u16>, lifetime: u32, reservation: Option<[u8; 8]> },
    Lifetime(u32),
    Empty,
}

fn sign(b: &mut MessageBuilder<'_>, signing: &Signing<'_>) {
    if let Some((key, algorithm)) = signing.key {
        match algorithm {
            IntegrityAlgorithm::Sha1 => b.message_integrity(key.as_bytes()),
            IntegrityAlgorithm::Sha256 => b.message_integrity_sha256(key.as_bytes()),
        };
    }
    if signing.fingerprint {
        b.fingerprint();
    }
}

fn finish<'a>(b: MessageBuilder<'_>) -> Output<'a> {
    match b.finish() {
        Ok(_) => Output::ToClient,
        Err(_) => Output::None,
    }
}

fn family_of(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::V4,
        IpAddr::V6(_) => AddressFamily::V6,
    }
}

/// The quota bucket for a username: for TURN REST usernames `expiry:user`, the user part (so a
/// client cannot dodge the quota by minting new expiry times); otherwise the whole name.
fn quota_bucket(username: &str) -> &str {
    match username.split_once(':') {
        Some((expiry, user)) if !user.is_empty() && expiry.bytes().all(|b| b.is_ascii_digit()) => user,
        _ => username,
    }
}
