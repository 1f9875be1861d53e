//! Core tests with hand-built packets and a fake clock.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use stun::{codes, ChannelData, ChannelNumber, Class, LongTermKey, Message, MessageBuilder, Method, TransactionId, TurnRestPassword};

use super::*;
use crate::policy::PeerPolicy;

mod tcp_relay;

const REALM: &str = "test.realm";
const UNIX0: u64 = 1_700_000_000;

struct AllBind;
impl RelayBinder for AllBind {
    fn bind(&mut self, _: SocketAddr) -> bool {
        true
    }
}

struct Harness {
    server: Server,
    t0: Instant,
    now: Instant,
    out: Vec<u8>,
}

struct Client {
    addr: ClientAddr,
    username: String,
    key: LongTermKey,
    nonce: String,
}

fn udp(addr: &str) -> ClientAddr {
    ClientAddr { transport: Transport::Udp, addr: addr.parse().unwrap() }
}

fn tid(n: u8) -> TransactionId {
    TransactionId::new([n; 12])
}

impl Harness {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let creds = Credentials::new(
            REALM,
            &[
                StaticUser { username: "alice".into(), password: "secret".into() },
                StaticUser { username: "bob".into(), password: "pw".into() },
            ],
            &["rest-secret".into()],
        );
        let mut config = ServerConfig::new(REALM, "192.0.2.10".parse().unwrap(), PortRange::parse("50000-50099").unwrap(), creds);
        config.policy = PeerPolicy::new();
        tweak(&mut config);
        let t0 = Instant::now();
        Self { server: Server::new(config, NonceKey::from_bytes([1; 32]), t0, UNIX0), t0, now: t0, out: Vec::new() }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.server.handle_timeout(self.now);
    }

    /// Sends raw bytes; returns the response message bytes if the core answered the client.
    fn send(&mut self, from: ClientAddr, packet: &[u8]) -> Option<Vec<u8>> {
        match self.server.handle_client(from, packet, self.now, &mut self.out, &mut AllBind) {
            Output::ToClient => Some(self.out.clone()),
            _ => None,
        }
    }

    /// Learns a nonce with an unauthenticated Allocate.
    fn client(&mut self, addr: &str, username: &str, password: &str) -> Client {
        let addr = udp(addr);
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, tid(200));
        b.requested_transport(17);
        b.finish().unwrap();
        let resp = self.send(addr, &buf).expect("401");
        let m = Message::parse(&resp).unwrap();
        assert_eq!(error_code(&m), Some(codes::UNAUTHENTICATED));
        assert_eq!(m.realm().unwrap(), Some(REALM));
        let nonce = m.nonce().unwrap().unwrap().to_string();
        Client { addr, username: username.into(), key: LongTermKey::md5(username, REALM, password), nonce }
    }

    fn request(&mut self, c: &Client, method: Method, t: u8, attrs: impl FnOnce(&mut MessageBuilder<'_>)) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, method, tid(t));
        attrs(&mut b);
        b.username(&c.username).realm(REALM).nonce(&c.nonce).message_integrity(c.key.as_bytes()).fingerprint();
        b.finish().unwrap();
        self.send(c.addr, &buf).expect("a response")
    }

    fn allocate(&mut self, c: &Client, t: u8) -> Vec<u8> {
        self.request(c, Method::ALLOCATE, t, |b| {
            b.requested_transport(17);
        })
    }
}

fn error_code(m: &Message<'_>) -> Option<u16> {
    m.error_code().unwrap().map(|e| e.code)
}

fn relayed(resp: &[u8]) -> SocketAddr {
    let m = Message::parse(resp).unwrap();
    assert_eq!(m.class(), Class::SuccessResponse, "expected success, got {:?}", error_code(&m));
    m.xor_relayed_address().unwrap().unwrap()
}

fn code_of(resp: &[u8]) -> Option<u16> {
    error_code(&Message::parse(resp).unwrap())
}

fn peer(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn binding_answers_with_the_mapped_address() {
    let mut h = Harness::new();
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, tid(1));
    b.fingerprint();
    b.finish().unwrap();
    let resp = h.send(udp("198.51.100.1:4000"), &buf).unwrap();
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(m.xor_mapped_address().unwrap(), Some(peer("198.51.100.1:4000")));
    m.verify_fingerprint().unwrap();
    assert!(m.software().unwrap().is_none(), "SOFTWARE is off by default");
}

#[test]
fn allocate_needs_credentials_then_succeeds_with_integrity() {
    let mut h = Harness::new();
    let c = h.client("198.51.100.1:4000", "alice", "secret");
    let resp = h.allocate(&c, 2);
    let relay = relayed(&resp);
    assert_eq!(relay.ip(), "192.0.2.10".parse::<IpAddr>().unwrap());
    assert!((50000..=50099).contains(&relay.port()));
    let m = Message::parse(&resp).unwrap();
    m.verify_integrity(c.key.as_bytes()).unwrap();
    assert_eq!(m.lifetime().unwrap(), Some(600));
    assert_eq!(m.xor_mapped_address().unwrap(), Some(c.addr.addr));
    assert_eq!(
        h.server.drain_events().collect::<Vec<_>>(),
        vec![Event::AllocationCreated { client: c.addr, relay }]
    );
    // A retransmission gets the same answer; a new Allocate is a mismatch.
    assert_eq!(relayed(&h.allocate(&c, 2)), relay);
    assert_eq!(code_of(&h.allocate(&c, 3)), Some(codes::ALLOCATION_MISMATCH));
}

#[test]
fn wrong_password_unknown_user_and_wrong_realm_get_401() {
    let mut h = Harness::new();
    let c = h.client("198.51.100.1:4000", "alice", "wrong");
    assert_eq!(code_of(&h.allocate(&c, 2)), Some(codes::UNAUTHENTICATED));
    let c = h.client("198.51.100.1:4001", "mallory", "x");
    assert_eq!(code_of(&h.allocate(&c, 2)), Some(codes::UNAUTHENTICATED));
    assert_eq!(h.server.stats().auth_bad_credentials, 2);
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn stale_and_forged_nonces_get_438_with_a_fresh_nonce() {
    let mut h = Harness::new();
    let mut c = h.client("198.51.100.1:4000", "alice", "secret");
    h.advance(Duration::from_secs(601));
    let resp = h.allocate(&c, 2);
    let m = Message::parse(&resp).unwrap();
    assert_eq!(error_code(&m), Some(codes::STALE_NONCE));
    let fresh = m.nonce().unwrap().unwrap().to_string();
    assert_ne!(fresh, c.nonce);
    c.nonce = "0000000000000000ffffffffffffffff".into();
    assert_eq!(code_of(&h.allocate(&c, 3)), Some(codes::STALE_NONCE));
    c.nonce = fresh;
    relayed(&h.allocate(&c, 4));
}

#[test]
fn a_nonce_is_bound_to_the_client_address() {
    let mut h = Harness::new();
    let mut c = h.client("198.51.100.1:4000", "alice", "secret");
    let other = h.client("198.51.100.2:4000", "alice", "secret");
    c.nonce = other.nonce;
    assert_eq!(code_of(&h.allocate(&c, 2)), Some(codes::STALE_NONCE));
}

#[test]
fn rest_credentials_verify_and_expire() {
    let mut h = Harness::new();
    let username = format!("{}:someone", UNIX0 + 3600);
    let password = TurnRestPassword::compute(b"rest-secret", &username).unwrap();
    let c = h.client("198.51.100.1:4000", &username, password.as_str());
    relayed(&h.allocate(&c, 2));
    let old = format!("{}:someone", UNIX0 - 1);
    let password = TurnRestPassword::compute(b"rest-secret", &old).unwrap();
    let c = h.client("198.51.100.1:4001", &old, password.as_str());
    assert_eq!(code_of(&h.allocate(&c, 2)), Some(codes::UNAUTHENTICATED));
}

#[test]
fn allocate_validates_transport_and_family() {
    let mut h = Harness::new();
    let c = h.client("198.51.100.1:4000", "alice", "secret");
    assert_eq!(code_of(&h.request(&c, Method::ALLOCATE, 2, |_| {})), Some(codes::BAD_REQUEST));
    assert_eq!(
        code_of(&h.request(&c, Method::ALLOCATE, 3, |b| {
            b.requested_transport(132);
        })),
        Some(codes::UNSUPPORTED_TRANSPORT_PROTOCOL)
    );
    // TCP (RFC 6062) only over a TCP or TLS control connection.
    assert_eq!(
        code_of(&h.request(&c, Method::ALLOCATE, 3, |b| {
            b.requested_transport(6);
        })),
        Some(codes::BAD_REQUEST)
    );
    assert_eq!(
        code_of(&h.request(&c, Method::ALLOCATE, 4, |b| {
            b.requested_transport(17).requested_address_family(stun::AddressFamily::V6);
        })),
        Some(codes::ADDRESS_FAMILY_NOT_SUPPORTED)
    );
}

#[test]
fn unknown_comprehension_required_attribute_gets_420() {
    let mut h = Harness::new();
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, tid(1));
    b.attribute(stun::AttributeType(0x0042), &[1, 2, 3, 4]);
    b.finish().unwrap();
    let resp = h.send(udp("198.51.100.1:4000"), &buf).unwrap();
    let m = Message::parse(&resp).unwrap();
    assert_eq!(error_code(&m), Some(codes::UNKNOWN_ATTRIBUTE));
    assert!(m.unknown_attributes().unwrap().unwrap().any(|t| t == stun::AttributeType(0x0042)));
}

#[test]
fn every_denied_peer_form_gets_403() {
    let mut h = Harness::new();
    let c = h.client("198.51.100.1:4000", "alice", "secret");
    relayed(&h.allocate(&c, 2));
    for (i, ip) in ["0.0.0.0", "10.1.2.3", "169.254.169.254", "127.0.0.1", "192.168.0.1"].iter().enumerate() {
        let p = SocketAddr::new(ip.parse().unwrap(), 9);
        let resp = h.request(&c, Method::CREATE_PERMISSION, 10 + i as u8, |b| {
            b.xor_peer_address(p);
        });
        assert_eq!(code_of(&resp), Some(codes::FORBIDDEN), "{ip}");
        let resp = h.request(&c, Method::CHANNEL_BIND, 40 + i as u8, |b| {
            b.channel_number(ChannelNumber::new(0x4000).unwrap()).xor_peer_address(p);
        });
        assert_eq!(code_of(&resp), Some(codes::FORBIDDEN), "{ip}");
    }
    // IPv6 forms against an IPv4 relay: the family check or the policy refuses them.
    for ip in ["::", "::1", "::ffff:127.0.0.1", "::127.0.0.1", "2002:7f00:1::1", "64:ff9b::7f00:1", "fe80::1"] {
        let p = SocketAddr::new(ip.parse().unwrap(), 9);
        let resp = h.request(&c, Method::CREATE_PERMISSION, 90, |b| {
            b.xor_peer_address(p);
        });
        let code = code_of(&resp);
        assert!(code == Some(codes::FORBIDDEN) || code == Some(codes::PEER_ADDRESS_FAMILY_MISMATCH), "{ip}: {code:?}");
    }
    assert!(h.server.stats().peer_denied >= 10);
}

#[test]
fn ipv6_relay_denies_disguised_private_peers_with_403() {
    let mut h = Harness::with(|c| c.relay_ip_v6 = Some("2001:db8:1::10".parse().unwrap()));
    let c = h.client("[2001:db8:2::1]:4000", "alice", "secret");
    let resp = h.request(&c, Method::ALLOCATE, 2, |b| {
        b.requested_transport(17).requested_address_family(stun::AddressFamily::V6);
    });
    assert_eq!(relayed(&resp).ip(), "2001:db8:1::10".parse::<IpAddr>().unwrap());
    for ip in ["::", "::1", "::ffff:127.0.0.1", "::127.0.0.1", "2002:7f00:1::1", "64:ff9b::7f00:1", "fe80::1"] {
        let p = SocketAddr::new(ip.parse().unwrap(), 9);
        let resp = h.request(&c, Method::CREATE_PERMISSION, 3, |b| {
            b.xor_peer_address(p);
        });
        assert_eq!(code_of(&resp), Some(codes::FORBIDDEN), "{ip}");
    }
}

#[test]
fn channel_data_flows_both_ways_after_channel_bind() {
    let mut h = Harness::new();
    let c = h.client("198.51.100.1:4000", "alice", "secret");
    let relay = relayed(&h.allocate(&c, 2));
    let p = peer("203.0.114.7:7000");
    let bad = h.request(&c, Method::CHANNEL_BIND, 3, |b| {
        b.attribute(stun::AttributeType::CHANNEL_NUMBER, &[0x50, 0x00, 0, 0]).xor_peer_address(p);
    });
    assert_eq!(code_of(&bad), Some(codes::BAD_REQUEST), "0x5000 is outside the channel range");
    let ok = h.request(&c, Method::CHANNEL_BIND, 4, |b| {
        b.channel_number(ChannelNumber::new(0x4001).unwrap()).xor_peer_address(p);
    });
    assert_eq!(Message::parse(&ok).unwrap().class(), Class::SuccessResponse);

    let mut packet = Vec::new();
    ChannelData { channel: ChannelNumber::new(0x4001).unwrap(), data: b"hello" }.encode_into(&mut packet, false).unwrap();
    let out = h.server.handle_client(c.addr, &packet, h.now, &mut h.out, &mut AllBind);
    assert_eq!(out, Output::ToPeer { relay, peer: p, data: b"hello" });

    let to = h.server.handle_peer(relay, p, b"world", h.now, &mut h.out);
    assert_eq!(to, Some(c.addr));
    let cd = ChannelData::decode(&h.out).unwrap();
    assert_eq!((cd.channel.value(), cd.data), (0x4001, &b"world"[..]));

    // The same number for another peer, or the same peer on another number, is refused.
    let clash = h.request(&c, Method::CHANNEL_BIND, 5, |b| {
        b.channel_number(ChannelNumber::new(0x4001).unwrap()).xor_peer_address(peer("203.0.114.8:7000"));
    });
    assert_eq!(code_of(&clash), Some(codes::BAD_REQUEST));

    // Channels expire after 10 minutes without refresh; then data is dropped.
    h.advance(Duration::from_secs(601));
    assert_eq!(h.server.handle_client(c.addr, &packet, h.now, &mut h.out, &mut AllBind), Output::None);
}

#[test]
fn rfc5766_channel_numbers_only_when_enabled() {
    for (legacy, expect_ok) in [(false, false), (true, true)] {
        let mut h = Harness::with(|c| c.rfc5766_channels = legacy);
        let c = h.client("198.51.100.1:4000", "alice", "secret");
        let relay = relayed(&h.allocate(&c, 2));
        let p = peer("203.0.114.7:7000");
        let resp = h.request(&c, Method::CHANNEL_BIND, 3, |b| {
            b.attribute(stun::AttributeType::CHANNEL_NUMBER, &[0x7b, 0xf7, 0, 0]).xor_peer_address(p);
        });
        let m = Message::parse(&resp).unwrap();
        assert_eq!(m.class() == Class::SuccessResponse, expect_ok, "legacy={legacy}");
        let packet = [0x7b, 0xf7, 0x00, 0x02, b'h', b'i'];
        let out = h.server.handle_client(c.addr, &packet, h.now, &mut h.out, &mut AllBind);
        if expect_ok {
            assert_eq!(out, Output::ToPeer { relay, peer: p, data: b"hi" });
            assert_eq!(h.server.handle_peer(relay, p, b"yo", h.now, &mut h.out), Some(c.addr));
            assert_eq!(&h.out[..2], &[0x7b, 0xf7]);
        } else {
            assert_eq!(out, Output::None);
        }
    }
}

#[test]
fn send_and_data_indications_need_a_permission() {
    let mut h = Harness::new();
    let c = h.client("198.51.100.1:4000", "alice", "secret");
    let relay = relayed(&h.allocate(&c, 2));
    let p = peer("203.0.114.7:7000");
    let mut send = Vec::new();
    let mut b = MessageBuilder::new(&mut send, Class::Indication, Method::SEND, tid(9));
    b.xor_peer_address(p).data(b"ping");
    b.finish().unwrap();
    assert_eq!(h.server.handle_client(c.addr, &send, h.now, &mut h.out, &mut AllBind), Output::None);
    assert_eq!(h.server.handle_peer(relay, p, b"sneak", h.now, &mut h.out), None);

    let ok = h.request(&c, Method::CREATE_PERMISSION, 3, |b| {
        b.xor_peer_address(p);
    });
    assert_eq!(Message::parse(&ok).unwrap().class(), Class::SuccessResponse);
    assert_eq!(h.server.handle_client(c.addr, &send, h.now, &mut h.out, &mut AllBind), Output::ToPeer { relay, peer: p, data: b"ping" });
    // A permission is per IP: another port of the same peer may answer.
    assert_eq!(h.server.handle_peer(relay, peer("203.0.114.7:7001"), b"pong", h.now, &mut h.out), Some(c.addr));
    let m = Message::parse(&h.out).unwrap();
    assert_eq!((m.class(), m.method()), (Class::Indication, Method::DATA));
    assert_eq!(m.data(), Some(&b"pong"[..]));
    assert_eq!(m.xor_peer_address().unwrap(), Some(peer("203.0.114.7:7001")));

    // Permissions last 300 s.
    h.advance(Duration::from_secs(301));
    assert_eq!(h.server.handle_peer(relay, p, b"late", h.now, &mut h.out), None);
}

#[test]
fn tcp_clients_get_padded_channel_data() {
    let mut h = Harness::new();
    let mut c = h.client("198.51.100.1:4000", "alice", "secret");
    c.addr.transport = Transport::Tcp;
    let mut c = h.client_on(c);
    c.addr.transport = Transport::Tcp;
    let relay = relayed(&h.allocate(&c, 2));
    let p = peer("203.0.114.7:7000");
    h.request(&c, Method::CHANNEL_BIND, 3, |b| {
        b.channel_number(ChannelNumber::new(0x4000).unwrap()).xor_peer_address(p);
    });
    h.server.handle_peer(relay, p, b"abcde", h.now, &mut h.out).unwrap();
    assert_eq!(h.out.len(), 12, "4-byte header + 5 bytes padded to 8");
}

impl Harness {
    /// Re-learns a nonce for `c`'s (possibly changed) address.
    fn client_on(&mut self, c: Client) -> Client {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, tid(201));
        b.requested_transport(17);
        b.finish().unwrap();
        let resp = self.send(c.addr, &buf).unwrap();
        let nonce = Message::parse(&resp).unwrap().nonce().unwrap().unwrap().to_string();
        Client { nonce, ..c }
    }
}

#[test]
fn refresh_zero_deletes_and_time_expires() {
    let mut h = Harness::new();
    let c = h.client("198.51.100.1:4000", "alice", "secret");
    let relay = relayed(&h.allocate(&c, 2));
    h.server.drain_events().for_each(drop);
    let resp = h.request(&c, Method::REFRESH, 3, |b| {
        b.lifetime(0);
    });
    assert_eq!(Message::parse(&resp).unwrap().lifetime().unwrap(), Some(0));
    assert_eq!(h.server.drain_events().collect::<Vec<_>>(), vec![Event::AllocationRemoved { client: c.addr, relay }]);
    assert_eq!(code_of(&h.request(&c, Method::REFRESH, 4, |_| {})), Some(codes::ALLOCATION_MISMATCH));

    let c2 = h.client("198.51.100.1:4001", "alice", "secret");
    relayed(&h.allocate(&c2, 5));
    let resp = h.request(&c2, Method::REFRESH, 6, |b| {
        b.lifetime(99_999);
    });
    assert_eq!(Message::parse(&resp).unwrap().lifetime().unwrap(), Some(3600), "capped at the maximum");
    h.advance(Duration::from_secs(3599));
    assert_eq!(h.server.allocation_count(), 1);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.server.allocation_count(), 0);
    assert_eq!(h.server.stats().allocations_expired, 1);
    let _ = h.t0;
}

#[test]
fn only_the_allocating_user_may_use_the_allocation() {
    let mut h = Harness::new();
    let alice = h.client("198.51.100.1:4000", "alice", "secret");
    relayed(&h.allocate(&alice, 2));
    let mut bob = h.client("198.51.100.1:4000", "bob", "pw");
    bob.addr = alice.addr;
    assert_eq!(code_of(&h.request(&bob, Method::REFRESH, 3, |_| {})), Some(codes::WRONG_CREDENTIALS));
}

#[test]
fn quotas_per_user_total_and_permissions() {
    let mut h = Harness::with(|c| {
        c.quotas.per_user = 2;
        c.quotas.max_allocations = 3;
        c.quotas.permissions_per_allocation = 2;
    });
    for port in 4000..4002 {
        let c = h.client(&format!("198.51.100.1:{port}"), "alice", "secret");
        relayed(&h.allocate(&c, 2));
    }
    let c = h.client("198.51.100.1:4002", "alice", "secret");
    assert_eq!(code_of(&h.allocate(&c, 2)), Some(codes::ALLOCATION_QUOTA_REACHED));
    let b1 = h.client("198.51.100.2:4000", "bob", "pw");
    relayed(&h.allocate(&b1, 2));
    let b2 = h.client("198.51.100.2:4001", "bob", "pw");
    assert_eq!(code_of(&h.allocate(&b2, 2)), Some(codes::INSUFFICIENT_CAPACITY), "total cap");

    for (i, ip) in ["203.0.114.1", "203.0.114.2"].iter().enumerate() {
        let p = SocketAddr::new(ip.parse().unwrap(), 1);
        let r = h.request(&b1, Method::CREATE_PERMISSION, 10 + i as u8, |b| {
            b.xor_peer_address(p);
        });
        assert_eq!(Message::parse(&r).unwrap().class(), Class::SuccessResponse);
    }
    let r = h.request(&b1, Method::CREATE_PERMISSION, 20, |b| {
        b.xor_peer_address(peer("203.0.114.3:1"));
    });
    assert_eq!(code_of(&r), Some(codes::INSUFFICIENT_CAPACITY));
    assert!(h.server.stats().quota_hits >= 3);
}

#[test]
fn rest_users_share_one_quota_whatever_the_expiry() {
    let mut h = Harness::with(|c| c.quotas.per_user = 1);
    for (i, expiry) in [UNIX0 + 100, UNIX0 + 200].iter().enumerate() {
        let username = format!("{expiry}:carol");
        let password = TurnRestPassword::compute(b"rest-secret", &username).unwrap();
        let c = h.client(&format!("198.51.100.9:{}", 5000 + i), &username, password.as_str());
        let resp = h.allocate(&c, 2);
        if i == 0 {
            relayed(&resp);
        } else {
            assert_eq!(code_of(&resp), Some(codes::ALLOCATION_QUOTA_REACHED));
        }
    }
}

#[test]
fn garbage_never_panics_and_is_counted() {
    let mut h = Harness::new();
    let from = udp("198.51.100.1:4000");
    let mut seed = 0x1234_5678u32;
    for len in 0..300usize {
        let packet: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let _ = h.server.handle_client(from, &packet, h.now, &mut h.out, &mut AllBind);
    }
    // A truncated ChannelData and a STUN header claiming more than it has.
    assert_eq!(h.server.handle_client(from, &[0x40, 0x00, 0x00, 0x10, 1], h.now, &mut h.out, &mut AllBind), Output::None);
    assert!(h.server.stats().malformed > 0);
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn unauthenticated_answers_are_not_amplified() {
    let mut h = Harness::new();
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, tid(1));
    b.requested_transport(17);
    b.finish().unwrap();
    let resp = h.send(udp("198.51.100.1:4000"), &buf).unwrap();
    assert!(resp.len() <= 4 * buf.len(), "{} bytes answered to {}", resp.len(), buf.len());
    // Many unauthenticated requests leave no state behind.
    for port in 0..1000u16 {
        h.send(udp(&format!("198.51.100.1:{}", 10000 + port)), &buf);
    }
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn tcp_connection_close_removes_the_allocation() {
    let mut h = Harness::new();
    let c = h.client("198.51.100.1:4000", "alice", "secret");
    relayed(&h.allocate(&c, 2));
    h.server.client_closed(c.addr);
    assert_eq!(h.server.allocation_count(), 0);
    let _ = TransactionId::new([0; 12]);
}

#[test]
fn another_allocation_on_this_server_is_a_valid_peer_but_its_other_ports_are_not() {
    // The relay address is a server address (denied as a peer) and here also private.
    let mut h = Harness::with(|c| c.policy = PeerPolicy::new().add_server_address("192.0.2.10".parse().unwrap()));
    let a = h.client("198.51.100.1:4000", "alice", "secret");
    let b = h.client("198.51.100.2:4000", "bob", "pw");
    let relay_a = relayed(&h.allocate(&a, 2));
    let relay_b = relayed(&h.allocate(&b, 2));

    // Both sides relaying through this server: each may reach the other's relay address.
    let ok = h.request(&a, Method::CREATE_PERMISSION, 3, |m| {
        m.xor_peer_address(relay_b);
    });
    assert_eq!(Message::parse(&ok).unwrap().class(), Class::SuccessResponse);
    let ok = h.request(&b, Method::CHANNEL_BIND, 3, |m| {
        m.channel_number(ChannelNumber::new(0x4000).unwrap()).xor_peer_address(relay_a);
    });
    assert_eq!(Message::parse(&ok).unwrap().class(), Class::SuccessResponse);

    // The server's other ports (its HTTP port, say) stay out of reach: by permission, by channel
    // and by Send indication under the permission just installed for the relay IP.
    let http = SocketAddr::new(relay_b.ip(), 8080);
    let denied = h.request(&b, Method::CREATE_PERMISSION, 4, |m| {
        m.xor_peer_address(http);
    });
    assert_eq!(code_of(&denied), Some(codes::FORBIDDEN));
    let denied = h.request(&b, Method::CHANNEL_BIND, 5, |m| {
        m.channel_number(ChannelNumber::new(0x4001).unwrap()).xor_peer_address(http);
    });
    assert_eq!(code_of(&denied), Some(codes::FORBIDDEN));
    let mut send = Vec::new();
    let mut m = MessageBuilder::new(&mut send, Class::Indication, Method::SEND, tid(9));
    m.xor_peer_address(http).data(b"GET / HTTP/1.0\r\n\r\n");
    m.finish().unwrap();
    assert_eq!(h.server.handle_client(a.addr, &send, h.now, &mut h.out, &mut AllBind), Output::None);
    let mut send = Vec::new();
    let mut m = MessageBuilder::new(&mut send, Class::Indication, Method::SEND, tid(10));
    m.xor_peer_address(relay_b).data(b"media");
    m.finish().unwrap();
    assert_eq!(h.server.handle_client(a.addr, &send, h.now, &mut h.out, &mut AllBind), Output::ToPeer { relay: relay_a, peer: relay_b, data: b"media" });
}

#[test]
fn send_reaches_a_peer_on_the_relay_ip_when_the_policy_allows_that_ip() {
    // The setup of every loopback test (coturn's turnutils_uclient -s with turnutils_peer): relays
    // on 127.0.0.1, loopback peers allowed, the peer on 127.0.0.1 at a port outside the relay
    // range. CreatePermission is granted, so Send must relay too (it used to be dropped silently
    // because the peer shares the relay IP, while ChannelBind to the same peer worked).
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let mut h = Harness::with(|c| {
        c.relay_ip_v4 = Some(lo);
        c.policy = PeerPolicy::new().allow_loopback(true).add_server_address(lo);
    });
    let a = h.client("127.0.0.1:4000", "alice", "secret");
    let relay = relayed(&h.allocate(&a, 2));
    assert_eq!(relay.ip(), lo);
    let echo = peer("127.0.0.1:3480");
    let ok = h.request(&a, Method::CREATE_PERMISSION, 3, |m| {
        m.xor_peer_address(echo);
    });
    assert_eq!(Message::parse(&ok).unwrap().class(), Class::SuccessResponse);
    let mut send = Vec::new();
    let mut m = MessageBuilder::new(&mut send, Class::Indication, Method::SEND, tid(4));
    m.xor_peer_address(echo).data(b"media");
    m.finish().unwrap();
    assert_eq!(h.server.handle_client(a.addr, &send, h.now, &mut h.out, &mut AllBind), Output::ToPeer { relay, peer: echo, data: b"media" });

    // Without the loopback allowance the same peer is a server address off the relay ports:
    // refused by CreatePermission, and a Send under a relay-port permission does not reach it.
    let mut h = Harness::with(|c| {
        c.relay_ip_v4 = Some(lo);
        c.policy = PeerPolicy::new().add_server_address(lo);
    });
    let a = h.client("198.51.100.1:4000", "alice", "secret");
    let relay = relayed(&h.allocate(&a, 2));
    let denied = h.request(&a, Method::CREATE_PERMISSION, 3, |m| {
        m.xor_peer_address(echo);
    });
    assert_eq!(code_of(&denied), Some(codes::FORBIDDEN));
    let ok = h.request(&a, Method::CREATE_PERMISSION, 4, |m| {
        m.xor_peer_address(SocketAddr::new(lo, relay.port()));
    });
    assert_eq!(Message::parse(&ok).unwrap().class(), Class::SuccessResponse);
    let mut send = Vec::new();
    let mut m = MessageBuilder::new(&mut send, Class::Indication, Method::SEND, tid(5));
    m.xor_peer_address(echo).data(b"GET / HTTP/1.0\r\n\r\n");
    m.finish().unwrap();
    assert_eq!(h.server.handle_client(a.addr, &send, h.now, &mut h.out, &mut AllBind), Output::None);
}

/// Binds everything and records what.
struct Recorder<'a>(&'a mut Vec<SocketAddr>);
impl RelayBinder for Recorder<'_> {
    fn bind(&mut self, addr: SocketAddr) -> bool {
        self.0.push(addr);
        true
    }
}

fn allocate_with(h: &mut Harness, c: &Client, t: u8, attrs: impl FnOnce(&mut MessageBuilder<'_>)) -> Vec<u8> {
    h.request(c, Method::ALLOCATE, t, |b| {
        b.requested_transport(17);
        attrs(b);
    })
}

fn token_of(resp: &[u8]) -> [u8; 8] {
    *Message::parse(resp).unwrap().reservation_token().unwrap().expect("RESERVATION-TOKEN")
}

#[test]
fn even_port_with_r_reserves_the_next_port_for_its_token() {
    // coturn's turnutils_uclient without -c: the RTP allocation asks EVEN-PORT with R, the RTCP
    // one names the token it got back and must land on the next port.
    let mut h = Harness::with(|c| c.ports = PortRange::parse("50000-50003").unwrap());
    let rtp = h.client("198.51.100.1:4000", "alice", "secret");
    let mut bound = Vec::new();
    let resp = {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, tid(2));
        b.requested_transport(17).even_port(true);
        b.username(&rtp.username).realm(REALM).nonce(&rtp.nonce).message_integrity(rtp.key.as_bytes()).fingerprint();
        b.finish().unwrap();
        let mut binder = Recorder(&mut bound);
        assert_eq!(h.server.handle_client(rtp.addr, &buf, h.now, &mut h.out, &mut binder), Output::ToClient);
        h.out.clone()
    };
    let relay = relayed(&resp);
    assert_eq!(relay.port() % 2, 0);
    let token = token_of(&resp);
    let held = SocketAddr::new(relay.ip(), relay.port() + 1);
    // Both ports are bound at once, and both sockets are kept (an event each): a held port that
    // was not bound could be taken by another socket (an ephemeral port) before the claim.
    assert_eq!(bound, vec![relay, held]);
    assert_eq!(
        h.server.drain_events().collect::<Vec<_>>(),
        vec![Event::AllocationCreated { client: rtp.addr, relay: held }, Event::AllocationCreated { client: rtp.addr, relay }]
    );
    // Until claimed, datagrams to the held port reach nobody.
    let mut scratch = Vec::new();
    assert_eq!(h.server.handle_peer(held, peer("93.184.216.34:5000"), b"x", h.now, &mut scratch), None);

    // A retransmission of that Allocate gets the same token.
    assert_eq!(token_of(&allocate_with(&mut h, &rtp, 2, |b| {
        b.even_port(true);
    })), token);

    // The held port is not handed to anyone else: two plain allocations take the other pair,
    // the next finds the range full.
    let mut others = Vec::new();
    for (i, addr) in ["198.51.100.2:4000", "198.51.100.2:4001"].into_iter().enumerate() {
        let c = h.client(addr, "bob", "pw");
        others.push(relayed(&h.allocate(&c, 10 + i as u8)).port());
    }
    others.sort();
    assert!(!others.contains(&relay.port()) && !others.contains(&(relay.port() + 1)), "{others:?} {relay}");
    let full = h.client("198.51.100.2:4002", "bob", "pw");
    assert_eq!(code_of(&h.allocate(&full, 12)), Some(codes::INSUFFICIENT_CAPACITY));

    // The RTCP allocation claims the reservation: the next port.
    let rtcp = h.client("198.51.100.1:4001", "alice", "secret");
    h.server.drain_events().for_each(drop);
    let claimed = relayed(&allocate_with(&mut h, &rtcp, 3, |b| {
        b.reservation_token(&token);
    }));
    assert_eq!(claimed, held);
    let events: Vec<_> = h.server.drain_events().collect();
    assert!(events.iter().all(|e| !matches!(e, Event::AllocationRemoved { .. })), "{events:?}");

    // A token works once; an unknown one is refused the same way.
    let again = h.client("198.51.100.1:4002", "alice", "secret");
    assert_eq!(code_of(&allocate_with(&mut h, &again, 4, |b| {
        b.reservation_token(&token);
    })), Some(codes::INSUFFICIENT_CAPACITY));
    assert_eq!(code_of(&allocate_with(&mut h, &again, 5, |b| {
        b.reservation_token(&[7; 8]);
    })), Some(codes::INSUFFICIENT_CAPACITY));
}

#[test]
fn an_unclaimed_reservation_expires_and_frees_its_port() {
    let mut h = Harness::with(|c| c.ports = PortRange::parse("50000-50001").unwrap());
    let rtp = h.client("198.51.100.1:4000", "alice", "secret");
    let resp = allocate_with(&mut h, &rtp, 2, |b| {
        b.even_port(true);
    });
    assert_eq!(relayed(&resp).port(), 50000);
    let token = token_of(&resp);
    let other = h.client("198.51.100.2:4000", "bob", "pw");
    assert_eq!(code_of(&h.allocate(&other, 3)), Some(codes::INSUFFICIENT_CAPACITY), "50001 is held");

    h.server.drain_events().for_each(drop);
    h.advance(RESERVATION_LIFETIME + Duration::from_secs(1));
    // The held socket is closed.
    assert_eq!(
        h.server.drain_events().collect::<Vec<_>>(),
        vec![Event::AllocationRemoved { client: rtp.addr, relay: peer("192.0.2.10:50001") }]
    );
    let late = h.client("198.51.100.1:4001", "alice", "secret");
    assert_eq!(code_of(&allocate_with(&mut h, &late, 4, |b| {
        b.reservation_token(&token);
    })), Some(codes::INSUFFICIENT_CAPACITY));
    let other = h.client("198.51.100.2:4000", "bob", "pw");
    assert_eq!(relayed(&h.allocate(&other, 5)).port(), 50001);
}

#[test]
fn reservation_token_comes_alone() {
    let mut h = Harness::new();
    let rtp = h.client("198.51.100.1:4000", "alice", "secret");
    let token = token_of(&allocate_with(&mut h, &rtp, 2, |b| {
        b.even_port(true);
    }));
    let rtcp = h.client("198.51.100.1:4001", "alice", "secret");
    assert_eq!(code_of(&allocate_with(&mut h, &rtcp, 3, |b| {
        b.reservation_token(&token).even_port(false);
    })), Some(codes::BAD_REQUEST));
    assert_eq!(code_of(&allocate_with(&mut h, &rtcp, 4, |b| {
        b.reservation_token(&token).requested_address_family(stun::AddressFamily::V4);
    })), Some(codes::BAD_REQUEST));
    // The token survives a malformed attempt.
    assert_eq!(relayed(&allocate_with(&mut h, &rtcp, 5, |b| {
        b.reservation_token(&token);
    })).port() % 2, 1);
}

fn dual_harness() -> Harness {
    Harness::with(|c| c.relay_ip_v6 = Some("2001:db8::10".parse().unwrap()))
}

#[test]
fn additional_address_family_makes_a_dual_allocation() {
    // coturn's turnutils_uclient -Z: ADDITIONAL-ADDRESS-FAMILY=IPv6 asks for an IPv4 and an IPv6
    // relay in one allocation (RFC 8656 §7.2); the IPv6 one used to be ignored silently.
    let mut h = dual_harness();
    let c = h.client("198.51.100.1:4000", "alice", "secret");
    h.server.drain_events().for_each(drop);
    let resp = allocate_with(&mut h, &c, 2, |b| {
        b.additional_address_family(stun::AddressFamily::V6);
    });
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.class(), Class::SuccessResponse, "{:?}", error_code(&m));
    let relays: Vec<SocketAddr> = m.xor_relayed_addresses().map(Result::unwrap).collect();
    assert_eq!(relays.len(), 2, "{relays:?}");
    let (v4, v6) = (relays[0], relays[1]);
    assert!(v4.is_ipv4() && v6.is_ipv6(), "{relays:?}");
    assert!(m.address_error_code().unwrap().is_none());
    let events: Vec<_> = h.server.drain_events().collect();
    assert_eq!(events, vec![Event::AllocationCreated { client: c.addr, relay: v4 }, Event::AllocationCreated { client: c.addr, relay: v6 }]);

    // Peers of both families, each reached from the relay of its own family.
    let p4 = peer("93.184.216.34:5000");
    let p6 = peer("[2001:4860::8888]:5000");
    let ok = h.request(&c, Method::CREATE_PERMISSION, 3, |m| {
        m.xor_peer_address(p4).xor_peer_address(p6);
    });
    assert_eq!(Message::parse(&ok).unwrap().class(), Class::SuccessResponse, "{:?}", code_of(&ok));
    let ok = h.request(&c, Method::CHANNEL_BIND, 4, |m| {
        m.channel_number(ChannelNumber::new(0x4000).unwrap()).xor_peer_address(p6);
    });
    assert_eq!(Message::parse(&ok).unwrap().class(), Class::SuccessResponse, "{:?}", code_of(&ok));
    let mut send = Vec::new();
    let mut b = MessageBuilder::new(&mut send, Class::Indication, Method::SEND, tid(5));
    b.xor_peer_address(p4).data(b"four");
    b.finish().unwrap();
    assert_eq!(h.server.handle_client(c.addr, &send, h.now, &mut h.out, &mut AllBind), Output::ToPeer { relay: v4, peer: p4, data: b"four" });
    let mut cd = Vec::new();
    ChannelData { channel: ChannelNumber::new(0x4000).unwrap(), data: b"six" }.encode_into(&mut cd, false).unwrap();
    assert_eq!(h.server.handle_client(c.addr, &cd, h.now, &mut h.out, &mut AllBind), Output::ToPeer { relay: v6, peer: p6, data: b"six" });
    let mut out = Vec::new();
    assert_eq!(h.server.handle_peer(v6, p6, b"back", h.now, &mut out), Some(c.addr));
    assert_eq!(h.server.handle_peer(v4, p4, b"back", h.now, &mut out), Some(c.addr));

    // Refresh may name either family; deleting the IPv6 half keeps the IPv4 one.
    let ok = h.request(&c, Method::REFRESH, 6, |m| {
        m.lifetime(600).requested_address_family(stun::AddressFamily::V6);
    });
    assert_eq!(Message::parse(&ok).unwrap().class(), Class::SuccessResponse, "{:?}", code_of(&ok));
    h.server.drain_events().for_each(drop);
    let ok = h.request(&c, Method::REFRESH, 7, |m| {
        m.lifetime(0).requested_address_family(stun::AddressFamily::V6);
    });
    assert_eq!(Message::parse(&ok).unwrap().class(), Class::SuccessResponse, "{:?}", code_of(&ok));
    assert_eq!(h.server.drain_events().collect::<Vec<_>>(), vec![Event::AllocationRemoved { client: c.addr, relay: v6 }]);
    assert_eq!(h.server.handle_peer(v6, p6, b"late", h.now, &mut out), None);
    assert_eq!(h.server.handle_peer(v4, p4, b"still", h.now, &mut out), Some(c.addr));
    let gone = h.request(&c, Method::REFRESH, 8, |m| {
        m.lifetime(600).requested_address_family(stun::AddressFamily::V6);
    });
    assert_eq!(code_of(&gone), Some(codes::PEER_ADDRESS_FAMILY_MISMATCH));
}

#[test]
fn a_dual_allocation_goes_away_whole() {
    let mut h = dual_harness();
    let c = h.client("198.51.100.1:4000", "alice", "secret");
    let resp = allocate_with(&mut h, &c, 2, |b| {
        b.additional_address_family(stun::AddressFamily::V6);
    });
    let relays: Vec<SocketAddr> = Message::parse(&resp).unwrap().xor_relayed_addresses().map(Result::unwrap).collect();
    h.server.drain_events().for_each(drop);
    let ok = h.request(&c, Method::REFRESH, 3, |m| {
        m.lifetime(0);
    });
    assert_eq!(Message::parse(&ok).unwrap().class(), Class::SuccessResponse);
    let mut removed: Vec<SocketAddr> = h
        .server
        .drain_events()
        .map(|e| match e {
            Event::AllocationRemoved { relay, .. } => relay,
            other => panic!("{other:?}"),
        })
        .collect();
    removed.sort();
    let mut want = relays.clone();
    want.sort();
    assert_eq!(removed, want);
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn dual_allocation_without_ipv6_relays_answers_address_error_code() {
    let mut h = Harness::new();
    let c = h.client("198.51.100.1:4000", "alice", "secret");
    let resp = allocate_with(&mut h, &c, 2, |b| {
        b.additional_address_family(stun::AddressFamily::V6);
    });
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(m.xor_relayed_addresses().count(), 1);
    let e = m.address_error_code().unwrap().expect("ADDRESS-ERROR-CODE");
    assert_eq!(e.error.code, codes::ADDRESS_FAMILY_NOT_SUPPORTED);
    // ADDITIONAL-ADDRESS-FAMILY may only name IPv6.
    let c2 = h.client("198.51.100.1:4001", "alice", "secret");
    assert_eq!(code_of(&allocate_with(&mut h, &c2, 3, |b| {
        b.additional_address_family(stun::AddressFamily::V4);
    })), Some(codes::BAD_REQUEST));
}

#[test]
fn a_draining_server_refuses_new_allocations_but_keeps_existing_ones() {
    let mut h = Harness::new();
    let a = h.client("198.51.100.1:4000", "alice", "secret");
    relayed(&h.allocate(&a, 2));
    h.server.start_draining();
    let b = h.client("198.51.100.2:4000", "bob", "pw");
    assert_eq!(code_of(&h.allocate(&b, 2)), Some(codes::INSUFFICIENT_CAPACITY));
    // The existing allocation may still be refreshed and used.
    let refreshed = h.request(&a, Method::REFRESH, 3, |m| {
        m.lifetime(600);
    });
    assert_eq!(Message::parse(&refreshed).unwrap().class(), Class::SuccessResponse);
    let ok = h.request(&a, Method::CREATE_PERMISSION, 4, |m| {
        m.xor_peer_address(peer("203.0.114.7:7000"));
    });
    assert_eq!(Message::parse(&ok).unwrap().class(), Class::SuccessResponse);
}
