//! RFC 6062 TCP allocations against coturn's client (Debian package `coturn`):
//! `turnutils_uclient -T` allocates TCP relays over TCP control connections (`-T` implies `-t`),
//! pairs its clients (`-T` implies `-y`: each client's peer is the other client's relay, so
//! uclient ignores `-e/-r` and `turnutils_peer`, which only speaks UDP, has no part) and has one
//! Connect to the other's relay address; the server opens the TCP connection relay to relay, the
//! other client gets a ConnectionAttempt, both bind data connections with ConnectionBind and the
//! bytes flow spliced. `-P` (passive) makes the second client a plain TCP peer that connects to
//! the first one's relay address. Every message must come back, none lost.
//!
//! Also, with a hand-built STUN client over TCP: Connect to a denied peer gets 403 and Connect
//! to a port where nothing listens gets 447.
//!
//! The servers here use the relay port range 48000-48999, split between the tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use stun::{Class, Message, MessageBuilder, Method, TransactionId};

#[path = "common/coturn.rs"]
mod coturn;

use coturn::*;



/// The relay runs with the standard load.
fn load<'a>(name: &'a str, flags: &'a [&'a str], server: &'a str) -> Run<'a> {
    Run { name, flags, cred: Cred::Static(USER, PASS), peer: None, server, clients: CLIENTS, messages: MESSAGES, rtcp: false }
}

// ---------------------------------------------------------------------------------------------
// A small STUN client over TCP

struct StunTcp {
    stream: TcpStream,
    nonce: String,
    key: stun::LongTermKey,
    realm: String,
    next: u8,
}

impl StunTcp {
    /// Connects and learns realm and nonce from a 401 to an unauthenticated Allocate.
    fn connect(port: u16) -> StunTcp {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the TURN TCP listener");
        stream.set_read_timeout(Some(Duration::from_secs(45))).unwrap();
        let mut c = StunTcp { stream, nonce: String::new(), key: stun::LongTermKey::md5(USER, "", PASS), realm: String::new(), next: 1 };
        let resp = c.exchange(Method::ALLOCATE, false, |b| {
            b.requested_transport(stun::transport::TCP);
        });
        let m = Message::parse(&resp).unwrap();
        assert_eq!(m.error_code().unwrap().map(|e| e.code), Some(401));
        c.realm = m.realm().unwrap().unwrap().to_string();
        c.nonce = m.nonce().unwrap().unwrap().to_string();
        c.key = stun::LongTermKey::md5(USER, &c.realm, PASS);
        c
    }

    /// Sends one request and reads the next message (the answer: nothing else is expected).
    fn exchange(&mut self, method: Method, sign: bool, attrs: impl FnOnce(&mut MessageBuilder<'_>)) -> Vec<u8> {
        self.next += 1;
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, method, TransactionId::new([self.next; 12]));
        attrs(&mut b);
        if sign {
            b.username(USER).realm(&self.realm).nonce(&self.nonce).message_integrity(self.key.as_bytes());
        }
        b.finish().unwrap();
        self.stream.write_all(&buf).unwrap();
        let msg = read_message(&mut self.stream);
        let m = Message::parse(&msg).unwrap();
        assert_eq!((m.method(), m.transaction_id()), (method, TransactionId::new([self.next; 12])));
        msg
    }

    /// ConnectionBind for `id` on a new connection, signed with this (control) connection's
    /// nonce; returns the data connection once answered with success.
    fn bind_data_connection(&mut self, port: u16, id: u32) -> TcpStream {
        let control = std::mem::replace(&mut self.stream, TcpStream::connect(("127.0.0.1", port)).unwrap());
        self.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let resp = self.exchange(Method::CONNECTION_BIND, true, |b| {
            b.connection_id(id);
        });
        assert_eq!(Message::parse(&resp).unwrap().class(), Class::SuccessResponse, "ConnectionBind: {:?}", StunTcp::code(&resp));
        std::mem::replace(&mut self.stream, control)
    }
}

/// Reads one STUN message from a stream.
fn read_message(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = [0u8; 20];
    stream.read_exact(&mut head).expect("a STUN message");
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let mut msg = head.to_vec();
    msg.resize(20 + len, 0);
    stream.read_exact(&mut msg[20..]).unwrap();
    msg
}

/// Reads exactly `n` bytes.
fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).expect("spliced bytes");
    buf
}

impl StunTcp {

    fn code(resp: &[u8]) -> Option<u16> {
        Message::parse(resp).unwrap().error_code().unwrap().map(|e| e.code)
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

/// `uclient -T`: TCP relays, Connect from one relay to the other, ConnectionAttempt,
/// ConnectionBind on both sides, spliced data — under the test-only loopback allowance and under
/// the secure default (where the peer is allowed only as another allocation's relay address).
/// Zero loss.
#[test]
fn uclient_tcp_relay_connect_connection_attempt_and_bind() {
    let dir = temp_dir("uclient");
    let open = Turn::start(&dir, (48000, 48299), false, &["--turn-allow-loopback-peers", "true"]);
    let secure_dir = dir.join("secure");
    std::fs::create_dir_all(&secure_dir).unwrap();
    let secure = Turn::start(&secure_dir, (48300, 48599), false, &[]);
    let runs = [load("tcp-relay", &["-T"], "127.0.0.1")];
    let secure_runs = [load("tcp-relay-secure-default", &["-T"], "127.0.0.1")];
    let (outcomes, secure_outcomes) = std::thread::scope(|s| {
        let a = s.spawn(|| run_all(&dir, open.port, &runs, UCLIENT_TIMEOUT));
        let b = s.spawn(|| run_all(&secure_dir, secure.port, &secure_runs, UCLIENT_TIMEOUT));
        (a.join().unwrap(), b.join().unwrap())
    });
    for (r, o) in runs.iter().zip(&outcomes) {
        assert_clean(&open, r, o, 4);
    }
    for (r, o) in secure_runs.iter().zip(&secure_outcomes) {
        assert_clean(&secure, r, o, 4);
    }
}

/// Connect checks the peer policy exactly as for UDP: loopback (without the test allowance), a
/// private range, the unspecified address and the server's own non-relay ports get 403. A
/// permitted peer where nothing listens (a free port of the relay range) gets 447.
#[test]
fn tcp_connect_to_a_denied_peer_is_403_and_to_a_closed_port_447() {
    let dir = temp_dir("denied");
    let turn = Turn::start(&dir, (48800, 48999), false, &[]);
    let mut c = StunTcp::connect(turn.port);
    let resp = c.exchange(Method::ALLOCATE, true, |b| {
        b.requested_transport(stun::transport::TCP);
    });
    let relay = Message::parse(&resp).unwrap().xor_relayed_address().unwrap().unwrap_or_else(|| panic!("no relay: {:?}", StunTcp::code(&resp)));
    assert!((48800..=48999).contains(&relay.port()), "{relay}");
    for denied in ["127.0.0.1:80", "10.1.2.3:80", "0.0.0.0:80", "192.168.1.1:443", &format!("127.0.0.1:{}", turn.port)] {
        let peer: SocketAddr = denied.parse().unwrap();
        let resp = c.exchange(Method::CONNECT, true, |b| {
            b.xor_peer_address(peer);
        });
        assert_eq!(StunTcp::code(&resp), Some(403), "Connect to {denied}");
    }
    // Another relay port of this server is a permitted peer (relay to relay); nobody listens
    // there, so the connection is refused: 447.
    let closed = (48800..=48999).rev().map(|p| SocketAddr::new(relay.ip(), p)).find(|a| *a != relay && TcpListener::bind(a).is_ok()).unwrap();
    let resp = c.exchange(Method::CONNECT, true, |b| {
        b.xor_peer_address(closed);
    });
    assert_eq!(StunTcp::code(&resp), Some(447), "Connect to {closed}\n{}", tail(&turn.logs(), 20));
    // A UDP-only attribute on a TCP Allocate is a bad request (RFC 6062 §5.1).
    let mut other = StunTcp::connect(turn.port);
    let resp = other.exchange(Method::ALLOCATE, true, |b| {
        b.requested_transport(stun::transport::TCP).even_port(false);
    });
    assert_eq!(StunTcp::code(&resp), Some(400));
}

/// Both ways of making a peer connection, end to end with plain sockets: Connect (the peer sees
/// the connection come from the relay address) and a permitted peer connecting in (announced with
/// ConnectionAttempt, its early bytes held until ConnectionBind); then raw bytes both ways, and a
/// close on one side closes the other. A peer without a permission is turned away.
#[test]
fn tcp_peer_connections_are_spliced_both_ways() {
    let dir = temp_dir("splice");
    let turn = Turn::start(&dir, (48600, 48799), false, &["--turn-allow-loopback-peers", "true"]);
    let mut c = StunTcp::connect(turn.port);
    let resp = c.exchange(Method::ALLOCATE, true, |b| {
        b.requested_transport(stun::transport::TCP);
    });
    let relay = Message::parse(&resp).unwrap().xor_relayed_address().unwrap().expect("a TCP relay");

    // Connect: the server dials the peer from the relay address.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    let resp = c.exchange(Method::CONNECT, true, |b| {
        b.xor_peer_address(target);
    });
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.class(), Class::SuccessResponse, "Connect: {:?}", StunTcp::code(&resp));
    let id = m.connection_id().unwrap().expect("CONNECTION-ID");
    let (mut peer, from) = listener.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(from, relay, "the peer connection comes from the relay address");
    peer.write_all(b"before bind").unwrap();
    let resp = c.exchange(Method::CONNECT, true, |b| {
        b.xor_peer_address(target);
    });
    assert_eq!(StunTcp::code(&resp), Some(446));
    let mut data = c.bind_data_connection(turn.port, id);
    assert_eq!(read_n(&mut data, 11), b"before bind");
    data.write_all(b"to the peer").unwrap();
    assert_eq!(read_n(&mut peer, 11), b"to the peer");
    drop(peer);
    assert_eq!(data.read(&mut [0u8; 16]).unwrap_or(0), 0, "the peer's close reaches the client");

    // A peer connecting in needs a permission.
    let mut stranger = TcpStream::connect(relay).unwrap();
    stranger.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(stranger.read(&mut [0u8; 16]).unwrap_or(0), 0, "closed at once without a permission");
    let resp = c.exchange(Method::CREATE_PERMISSION, true, |b| {
        b.xor_peer_address("127.0.0.1:0".parse().unwrap());
    });
    assert_eq!(Message::parse(&resp).unwrap().class(), Class::SuccessResponse);
    let mut peer = TcpStream::connect(relay).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    peer.write_all(b"early").unwrap();
    let attempt = read_message(&mut c.stream);
    let m = Message::parse(&attempt).unwrap();
    assert_eq!((m.class(), m.method()), (Class::Indication, Method::CONNECTION_ATTEMPT));
    assert_eq!(m.xor_peer_address().unwrap(), Some(peer.local_addr().unwrap()));
    let id = m.connection_id().unwrap().expect("CONNECTION-ID");
    let mut data = c.bind_data_connection(turn.port, id);
    assert_eq!(read_n(&mut data, 5), b"early");
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let writer = {
        let mut data = data.try_clone().unwrap();
        let big = big.clone();
        std::thread::spawn(move || data.write_all(&big).unwrap())
    };
    assert_eq!(read_n(&mut peer, big.len()), big);
    writer.join().unwrap();
    peer.write_all(b"reply").unwrap();
    assert_eq!(read_n(&mut data, 5), b"reply");
    drop(data);
    assert_eq!(peer.read(&mut [0u8; 16]).unwrap_or(0), 0, "the client's close reaches the peer");
}
