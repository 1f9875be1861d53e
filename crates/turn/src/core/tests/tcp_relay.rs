//! RFC 6062 TCP allocations in the core: Allocate with REQUESTED-TRANSPORT TCP, Connect (446,
//! 447, 403, 508), ConnectionAttempt for permitted peers only, ConnectionBind (400, 441) and the
//! 30 s timers, with hand-built packets and a fake clock.

use super::*;

/// Records which relays were bound as TCP listeners.
#[derive(Default)]
struct Recorder {
    tcp: Vec<SocketAddr>,
    udp: Vec<SocketAddr>,
}

impl RelayBinder for Recorder {
    fn bind(&mut self, addr: SocketAddr) -> bool {
        self.udp.push(addr);
        true
    }
    fn bind_tcp(&mut self, addr: SocketAddr) -> bool {
        self.tcp.push(addr);
        true
    }
}

fn tcp(addr: &str) -> ClientAddr {
    ClientAddr { transport: Transport::Tcp, addr: addr.parse().unwrap() }
}

impl Harness {
    /// A client on a TCP control connection that has learnt its nonce.
    fn tcp_client(&mut self, addr: &str, username: &str, password: &str) -> Client {
        let addr = tcp(addr);
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, tid(201));
        b.requested_transport(6);
        b.finish().unwrap();
        let resp = self.send(addr, &buf).expect("401");
        let m = Message::parse(&resp).unwrap();
        assert_eq!(error_code(&m), Some(codes::UNAUTHENTICATED));
        let nonce = m.nonce().unwrap().unwrap().to_string();
        Client { addr, username: username.into(), key: LongTermKey::md5(username, REALM, password), nonce }
    }

    /// A TCP allocation for `c`; returns its relay address.
    fn tcp_allocate(&mut self, c: &Client, t: u8) -> SocketAddr {
        let mut binder = Recorder::default();
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, tid(t));
        b.requested_transport(6);
        b.username(&c.username).realm(REALM).nonce(&c.nonce).message_integrity(c.key.as_bytes());
        b.finish().unwrap();
        assert_eq!(self.server.handle_client(c.addr, &buf, self.now, &mut self.out, &mut binder), Output::ToClient);
        let relay = relayed(&self.out);
        assert_eq!((binder.tcp.as_slice(), binder.udp.as_slice()), (&[relay][..], &[][..]), "a TCP listener, no UDP socket");
        relay
    }

    /// Sends a request without expecting an immediate answer; returns the answer if any.
    fn request_maybe(&mut self, c: &Client, method: Method, t: u8, attrs: impl FnOnce(&mut MessageBuilder<'_>)) -> Option<Vec<u8>> {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, method, tid(t));
        attrs(&mut b);
        b.username(&c.username).realm(REALM).nonce(&c.nonce).message_integrity(c.key.as_bytes()).fingerprint();
        b.finish().unwrap();
        self.send(c.addr, &buf)
    }

    /// Connect to `peer`: the error answer, or `Ok` with the TcpConnect event's id and relay.
    fn connect(&mut self, c: &Client, t: u8, to: SocketAddr) -> Result<(ConnectionId, SocketAddr), u16> {
        let _ = self.server.drain_events().count();
        if let Some(resp) = self.request_maybe(c, Method::CONNECT, t, |b| {
            b.xor_peer_address(to);
        }) {
            return Err(code_of(&resp).expect("an error answer"));
        }
        let events: Vec<Event> = self.server.drain_events().collect();
        match events.as_slice() {
            [Event::TcpConnect { id, relay, peer, timeout }] => {
                assert_eq!((*peer, *timeout), (to, CONNECT_TIMEOUT));
                Ok((*id, *relay))
            }
            other => panic!("expected one TcpConnect, got {other:?}"),
        }
    }

    /// The messages queued for stream clients since the last drain, and the other events.
    fn queued(&mut self) -> (Vec<(ClientAddr, Vec<u8>)>, Vec<Event>) {
        let mut messages = Vec::new();
        let mut others = Vec::new();
        for e in self.server.drain_events() {
            match e {
                Event::ToStreamClient { client, message } => messages.push((client, message)),
                e => others.push(e),
            }
        }
        (messages, others)
    }

    fn connection_bind(&mut self, c: &Client, from: ClientAddr, t: u8, id: Option<ConnectionId>) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::CONNECTION_BIND, tid(t));
        if let Some(id) = id {
            b.connection_id(id.0);
        }
        b.username(&c.username).realm(REALM).nonce(&c.nonce).message_integrity(c.key.as_bytes());
        b.finish().unwrap();
        self.send(from, &buf).expect("an answer")
    }
}

const PEER: &str = "203.0.114.7:9000";

#[test]
fn tcp_allocation_binds_a_listener_and_refuses_udp_only_attributes() {
    let mut h = Harness::new();
    let c = h.tcp_client("198.51.100.1:4000", "alice", "secret");
    for (t, attrs) in [
        (2u8, (|b: &mut MessageBuilder<'_>| {
            b.requested_transport(6).even_port(false);
        }) as fn(&mut MessageBuilder<'_>)),
        (3, |b| {
            b.requested_transport(6).dont_fragment();
        }),
        (4, |b| {
            b.requested_transport(6).reservation_token(&[7; 8]);
        }),
    ] {
        assert_eq!(code_of(&h.request(&c, Method::ALLOCATE, t, attrs)), Some(codes::BAD_REQUEST), "request {t}");
    }
    let relay = h.tcp_allocate(&c, 5);
    assert_eq!(h.server.allocation(&c.addr).unwrap().relay_transport, Transport::Tcp);
    // Data indications cannot be used on a TCP relay.
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Indication, Method::SEND, tid(6));
    b.xor_peer_address(peer(PEER)).data(b"x");
    b.finish().unwrap();
    assert_eq!(h.send(c.addr, &buf), None);
    assert!((50000..=50099).contains(&relay.port()));
}

#[test]
fn connect_answers_with_a_connection_id_when_the_io_layer_connected() {
    let mut h = Harness::new();
    let c = h.tcp_client("198.51.100.1:4000", "alice", "secret");
    let relay = h.tcp_allocate(&c, 2);
    let (id, from) = h.connect(&c, 3, peer(PEER)).unwrap();
    assert_eq!(from, relay);
    assert!(h.server.tcp_connect_result(id, true, h.now));
    let (messages, _) = h.queued();
    let [(to, answer)] = messages.as_slice() else { panic!("one answer expected: {messages:?}") };
    assert_eq!(*to, c.addr);
    let m = Message::parse(answer).unwrap();
    assert_eq!((m.class(), m.method(), m.transaction_id()), (Class::SuccessResponse, Method::CONNECT, tid(3)));
    assert_eq!(m.connection_id().unwrap(), Some(id.0));
    m.verify_integrity(c.key.as_bytes()).unwrap();
    m.verify_fingerprint().unwrap();
    assert_eq!(h.server.stats().tcp_connections_opened, 1);
    // A second report is ignored.
    assert!(!h.server.tcp_connect_result(id, true, h.now));
}

#[test]
fn connect_to_the_same_peer_again_is_446_while_connecting_and_once_connected() {
    let mut h = Harness::new();
    let c = h.tcp_client("198.51.100.1:4000", "alice", "secret");
    h.tcp_allocate(&c, 2);
    let (id, _) = h.connect(&c, 3, peer(PEER)).unwrap();
    assert_eq!(h.connect(&c, 4, peer(PEER)), Err(codes::CONNECTION_ALREADY_EXISTS));
    assert!(h.server.tcp_connect_result(id, true, h.now));
    assert_eq!(h.connect(&c, 5, peer(PEER)), Err(codes::CONNECTION_ALREADY_EXISTS));
    // Another port of the same peer is another connection.
    assert!(h.connect(&c, 6, peer("203.0.114.7:9001")).is_ok());
}

#[test]
fn connect_failure_and_connect_timeout_answer_447() {
    let mut h = Harness::new();
    let c = h.tcp_client("198.51.100.1:4000", "alice", "secret");
    h.tcp_allocate(&c, 2);
    let (id, _) = h.connect(&c, 3, peer(PEER)).unwrap();
    assert!(!h.server.tcp_connect_result(id, false, h.now));
    let (messages, _) = h.queued();
    assert_eq!(code_of(&messages[0].1), Some(codes::CONNECTION_TIMEOUT_OR_FAILURE));
    Message::parse(&messages[0].1).unwrap().verify_integrity(c.key.as_bytes()).unwrap();
    // The peer may be tried again after a failure.
    let (id, _) = h.connect(&c, 4, peer(PEER)).unwrap();
    h.advance(CONNECT_TIMEOUT - Duration::from_secs(1));
    assert!(h.queued().0.is_empty(), "no answer before the timeout");
    h.advance(Duration::from_secs(1));
    let (messages, events) = h.queued();
    assert_eq!(messages.len(), 1);
    let m = Message::parse(&messages[0].1).unwrap();
    assert_eq!((m.transaction_id(), error_code(&m)), (tid(4), Some(codes::CONNECTION_TIMEOUT_OR_FAILURE)));
    assert_eq!(events, vec![Event::TcpClose { id }]);
    // The I/O layer's late report is not wanted any more.
    assert!(!h.server.tcp_connect_result(id, true, h.now));
    assert_eq!(h.server.stats().tcp_connect_failures, 2);
}

#[test]
fn connect_checks_the_peer_policy_like_udp() {
    let mut h = Harness::with(|c| c.policy = PeerPolicy::new().add_server_address("192.0.2.10".parse().unwrap()));
    let c = h.tcp_client("198.51.100.1:4000", "alice", "secret");
    h.tcp_allocate(&c, 2);
    for (t, denied) in [(3u8, "127.0.0.1:80"), (4, "10.1.2.3:80"), (5, "[::ffff:127.0.0.1]:80"), (6, "0.0.0.0:80"), (7, "192.0.2.10:3478")] {
        let p = peer(denied);
        let got = h.connect(&c, t, p);
        let want = if p.is_ipv6() { codes::PEER_ADDRESS_FAMILY_MISMATCH } else { codes::FORBIDDEN };
        assert_eq!(got, Err(want), "{denied}");
    }
    // Another allocation's relay on this server (a relay port): the relay-to-relay exception.
    assert!(h.connect(&c, 8, peer("192.0.2.10:50050")).is_ok());
    assert!(h.server.stats().peer_denied >= 4);
}

#[test]
fn connect_needs_a_tcp_allocation_and_a_peer_address() {
    let mut h = Harness::new();
    // No allocation: 437.
    let c = h.tcp_client("198.51.100.1:4000", "alice", "secret");
    assert_eq!(h.connect(&c, 2, peer(PEER)), Err(codes::ALLOCATION_MISMATCH));
    h.tcp_allocate(&c, 3);
    // No XOR-PEER-ADDRESS: 400.
    let resp = h.request_maybe(&c, Method::CONNECT, 4, |_| {}).unwrap();
    assert_eq!(code_of(&resp), Some(codes::BAD_REQUEST));
    // A UDP allocation (over TCP or UDP) cannot Connect: 400.
    let u = h.tcp_client("198.51.100.1:4001", "alice", "secret");
    relayed(&h.allocate(&u, 5));
    assert_eq!(h.connect(&u, 6, peer(PEER)), Err(codes::BAD_REQUEST));
    let u = h.client("198.51.100.1:4002", "alice", "secret");
    relayed(&h.allocate(&u, 7));
    assert_eq!(h.connect(&u, 8, peer(PEER)), Err(codes::BAD_REQUEST));
    // Another user on the owner's connection: 441.
    let mut bob = h.tcp_client("198.51.100.1:4000", "bob", "pw");
    bob.addr = c.addr;
    assert_eq!(h.connect(&bob, 9, peer(PEER)), Err(codes::WRONG_CREDENTIALS));
}

#[test]
fn tcp_connections_per_allocation_are_capped() {
    let mut h = Harness::with(|c| c.quotas.tcp_connections_per_allocation = 2);
    let c = h.tcp_client("198.51.100.1:4000", "alice", "secret");
    let relay = h.tcp_allocate(&c, 2);
    h.connect(&c, 3, peer("203.0.114.7:1")).unwrap();
    let perm = h.request(&c, Method::CREATE_PERMISSION, 4, |b| {
        b.xor_peer_address(peer("203.0.114.8:0"));
    });
    assert_eq!(Message::parse(&perm).unwrap().class(), Class::SuccessResponse);
    assert!(h.server.tcp_peer_connected(relay, peer("203.0.114.8:5555"), h.now).is_some());
    assert_eq!(h.connect(&c, 5, peer("203.0.114.7:2")), Err(codes::INSUFFICIENT_CAPACITY));
    assert_eq!(h.server.tcp_peer_connected(relay, peer("203.0.114.8:5556"), h.now), None);
    assert_eq!(h.server.tcp_connection_count(), 2);
}

#[test]
fn only_permitted_peers_may_connect_in_and_are_announced_with_connection_attempt() {
    let mut h = Harness::new();
    let c = h.tcp_client("198.51.100.1:4000", "alice", "secret");
    let relay = h.tcp_allocate(&c, 2);
    let _ = h.server.drain_events().count();
    let from = peer("203.0.114.8:5555");
    assert_eq!(h.server.tcp_peer_connected(relay, from, h.now), None, "no permission");
    assert!(h.queued().0.is_empty());
    h.request(&c, Method::CREATE_PERMISSION, 3, |b| {
        b.xor_peer_address(peer("203.0.114.8:0"));
    });
    let id = h.server.tcp_peer_connected(relay, from, h.now).expect("permitted");
    let (messages, _) = h.queued();
    let [(to, indication)] = messages.as_slice() else { panic!("{messages:?}") };
    assert_eq!(*to, c.addr);
    let m = Message::parse(indication).unwrap();
    assert_eq!((m.class(), m.method()), (Class::Indication, Method::CONNECTION_ATTEMPT));
    assert_eq!(m.xor_peer_address().unwrap(), Some(from));
    assert_eq!(m.connection_id().unwrap(), Some(id.0));
    // An unknown relay address, and a permission that expired.
    assert_eq!(h.server.tcp_peer_connected(peer("192.0.2.10:1"), from, h.now), None);
    h.advance(Duration::from_secs(301));
    assert_eq!(h.server.tcp_peer_connected(relay, from, h.now), None);
}

#[test]
fn connection_bind_splices_once_on_a_new_connection_of_the_owner() {
    let mut h = Harness::new();
    let c = h.tcp_client("198.51.100.1:4000", "alice", "secret");
    h.tcp_allocate(&c, 2);
    let (id, _) = h.connect(&c, 3, peer(PEER)).unwrap();
    // Not yet connected: nothing to bind.
    let data = tcp("198.51.100.1:4100");
    assert_eq!(code_of(&h.connection_bind(&c, data, 4, Some(id))), Some(codes::BAD_REQUEST));
    assert!(h.server.tcp_connect_result(id, true, h.now));
    let _ = h.queued();
    // Over UDP, without or with an unknown CONNECTION-ID, on the control connection: 400.
    assert_eq!(code_of(&h.connection_bind(&c, udp("198.51.100.1:4100"), 5, Some(id))), Some(codes::BAD_REQUEST));
    assert_eq!(code_of(&h.connection_bind(&c, data, 6, None)), Some(codes::STALE_NONCE), "no id: its nonce is not this connection's");
    assert_eq!(code_of(&h.connection_bind(&c, data, 7, Some(ConnectionId(id.0.wrapping_add(1))))), Some(codes::STALE_NONCE));
    assert_eq!(code_of(&h.connection_bind(&c, c.addr, 8, Some(id))), Some(codes::BAD_REQUEST));
    // Another user, even with the owner's nonce: 441.
    let mut bob = h.tcp_client("198.51.100.1:4000", "bob", "pw");
    bob.nonce = c.nonce.clone();
    assert_eq!(code_of(&h.connection_bind(&bob, data, 9, Some(id))), Some(codes::WRONG_CREDENTIALS));
    // The owner, on a new connection, with the nonce its control connection was given.
    let resp = h.connection_bind(&c, data, 10, Some(id));
    let m = Message::parse(&resp).unwrap();
    assert_eq!((m.class(), m.method()), (Class::SuccessResponse, Method::CONNECTION_BIND));
    m.verify_integrity(c.key.as_bytes()).unwrap();
    assert_eq!(h.queued().1, vec![Event::TcpBound { id, data }]);
    // Bound once only, and no timeout for a bound connection.
    assert_eq!(code_of(&h.connection_bind(&c, tcp("198.51.100.1:4101"), 11, Some(id))), Some(codes::BAD_REQUEST));
    h.advance(CONNECTION_BIND_TIMEOUT * 2);
    assert_eq!(h.server.tcp_connection_count(), 1);
    assert_eq!(h.server.stats().tcp_connections_bound, 1);
    // The data connection's close ends it.
    h.server.client_closed(data);
    assert_eq!(h.queued().1, vec![Event::TcpClose { id }]);
    assert_eq!(h.server.tcp_connection_count(), 0);
}

#[test]
fn connection_bind_with_its_own_nonce_works_too() {
    let mut h = Harness::new();
    let c = h.tcp_client("198.51.100.1:4000", "alice", "secret");
    h.tcp_allocate(&c, 2);
    let (id, _) = h.connect(&c, 3, peer(PEER)).unwrap();
    h.server.tcp_connect_result(id, true, h.now);
    let mut d = h.tcp_client("198.51.100.1:4100", "alice", "secret");
    d.addr = tcp("198.51.100.1:4100");
    let resp = h.connection_bind(&d, d.addr, 4, Some(id));
    assert_eq!(Message::parse(&resp).unwrap().class(), Class::SuccessResponse);
}

#[test]
fn an_unbound_peer_connection_is_closed_after_30_seconds() {
    let mut h = Harness::new();
    let c = h.tcp_client("198.51.100.1:4000", "alice", "secret");
    let relay = h.tcp_allocate(&c, 2);
    h.request(&c, Method::CREATE_PERMISSION, 3, |b| {
        b.xor_peer_address(peer("203.0.114.8:0"));
    });
    let id = h.server.tcp_peer_connected(relay, peer("203.0.114.8:5555"), h.now).unwrap();
    let _ = h.queued();
    h.advance(CONNECTION_BIND_TIMEOUT - Duration::from_secs(1));
    assert!(h.queued().1.is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.queued().1, vec![Event::TcpClose { id }]);
    assert_eq!(h.server.stats().tcp_bind_timeouts, 1);
    // The id is gone: the owner's nonce no longer stands for the new connection (438), and
    // with a nonce of its own the answer is 400.
    assert_eq!(code_of(&h.connection_bind(&c, tcp("198.51.100.1:4100"), 4, Some(id))), Some(codes::STALE_NONCE));
    let d = h.tcp_client("198.51.100.1:4100", "alice", "secret");
    assert_eq!(code_of(&h.connection_bind(&d, d.addr, 5, Some(id))), Some(codes::BAD_REQUEST));
}

#[test]
fn peer_connections_close_with_their_allocation() {
    let mut h = Harness::new();
    let c = h.tcp_client("198.51.100.1:4000", "alice", "secret");
    let relay = h.tcp_allocate(&c, 2);
    let (a, _) = h.connect(&c, 3, peer(PEER)).unwrap();
    h.server.tcp_connect_result(a, true, h.now);
    let (b, _) = h.connect(&c, 4, peer("203.0.114.9:1")).unwrap();
    let _ = h.queued();
    h.server.client_closed(c.addr);
    let (_, mut events) = h.queued();
    events.sort_by_key(|e| format!("{e:?}"));
    let mut want = vec![Event::AllocationRemoved { client: c.addr, relay }, Event::TcpClose { id: a }, Event::TcpClose { id: b }];
    want.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(events, want);
    assert_eq!(h.server.tcp_connection_count(), 0);
    // The I/O layer's report for the connection still being made is not wanted.
    assert!(!h.server.tcp_connect_result(b, true, h.now));
}
