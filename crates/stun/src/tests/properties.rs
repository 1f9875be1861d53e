//! Property tests: build → parse round trip of every typed attribute, and
//! no panic on arbitrary or mutated input.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;

use crate::*;

/// One typed attribute the builder can write and the parser can read back.
#[derive(Debug, Clone)]
enum Attr {
    XorMapped(SocketAddr),
    XorPeer(SocketAddr),
    XorRelayed(SocketAddr),
    Username(String),
    Userhash([u8; 32]),
    Realm(String),
    Nonce(String),
    Software(String),
    ErrorCode(u16, String),
    Lifetime(u32),
    RequestedTransport(u8),
    RequestedFamily(bool),
    EvenPort(bool),
    ReservationToken([u8; 8]),
    DontFragment,
    Data(Vec<u8>),
    Channel(u16),
    ConnectionId(u32),
    PasswordAlgorithm(u16, Vec<u8>),
    Icmp(u8, u16, u32),
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    (any::<IpAddr>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

fn attr() -> impl Strategy<Value = Attr> {
    prop_oneof![
        socket_addr().prop_map(Attr::XorMapped),
        socket_addr().prop_map(Attr::XorPeer),
        socket_addr().prop_map(Attr::XorRelayed),
        "\\PC{0,40}"
            .prop_filter("513 bytes", |s| s.len() <= 513)
            .prop_map(Attr::Username),
        any::<[u8; 32]>().prop_map(Attr::Userhash),
        "[a-z.]{0,30}".prop_map(Attr::Realm),
        "[A-Za-z0-9/+]{0,60}".prop_map(Attr::Nonce),
        "\\PC{0,20}".prop_map(Attr::Software),
        (300u16..700, "[A-Za-z ]{0,30}").prop_map(|(c, r)| Attr::ErrorCode(c, r)),
        any::<u32>().prop_map(Attr::Lifetime),
        any::<u8>().prop_map(Attr::RequestedTransport),
        any::<bool>().prop_map(Attr::RequestedFamily),
        any::<bool>().prop_map(Attr::EvenPort),
        any::<[u8; 8]>().prop_map(Attr::ReservationToken),
        Just(Attr::DontFragment),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Attr::Data),
        (0x4000u16..=0x4FFF).prop_map(Attr::Channel),
        any::<u32>().prop_map(Attr::ConnectionId),
        (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..9))
            .prop_map(|(a, p)| Attr::PasswordAlgorithm(a, p)),
        (0u8..128, 0u16..512, any::<u32>()).prop_map(|(t, c, d)| Attr::Icmp(t, c, d)),
    ]
}

fn family(v6: bool) -> AddressFamily {
    if v6 {
        AddressFamily::V6
    } else {
        AddressFamily::V4
    }
}

fn add(b: &mut MessageBuilder<'_>, a: &Attr) {
    match a {
        Attr::XorMapped(x) => b.xor_mapped_address(*x),
        Attr::XorPeer(x) => b.xor_peer_address(*x),
        Attr::XorRelayed(x) => b.xor_relayed_address(*x),
        Attr::Username(s) => b.username(s),
        Attr::Userhash(h) => b.userhash(h),
        Attr::Realm(s) => b.realm(s),
        Attr::Nonce(s) => b.nonce(s),
        Attr::Software(s) => b.software(s),
        Attr::ErrorCode(c, r) => b.error_code(*c, r),
        Attr::Lifetime(l) => b.lifetime(*l),
        Attr::RequestedTransport(p) => b.requested_transport(*p),
        Attr::RequestedFamily(v6) => b.requested_address_family(family(*v6)),
        Attr::EvenPort(r) => b.even_port(*r),
        Attr::ReservationToken(t) => b.reservation_token(t),
        Attr::DontFragment => b.dont_fragment(),
        Attr::Data(d) => b.data(d),
        Attr::Channel(c) => b.channel_number(ChannelNumber::new(*c).unwrap()),
        Attr::ConnectionId(i) => b.connection_id(*i),
        Attr::PasswordAlgorithm(a, p) => b.password_algorithm(PasswordAlgorithm {
            algorithm: *a,
            parameters: p,
        }),
        Attr::Icmp(t, c, d) => b.icmp(Icmp {
            icmp_type: *t,
            icmp_code: *c,
            error_data: *d,
        }),
    };
}

fn attr_type(a: &Attr) -> AttributeType {
    match a {
        Attr::XorMapped(_) => AttributeType::XOR_MAPPED_ADDRESS,
        Attr::XorPeer(_) => AttributeType::XOR_PEER_ADDRESS,
        Attr::XorRelayed(_) => AttributeType::XOR_RELAYED_ADDRESS,
        Attr::Username(_) => AttributeType::USERNAME,
        Attr::Userhash(_) => AttributeType::USERHASH,
        Attr::Realm(_) => AttributeType::REALM,
        Attr::Nonce(_) => AttributeType::NONCE,
        Attr::Software(_) => AttributeType::SOFTWARE,
        Attr::ErrorCode(..) => AttributeType::ERROR_CODE,
        Attr::Lifetime(_) => AttributeType::LIFETIME,
        Attr::RequestedTransport(_) => AttributeType::REQUESTED_TRANSPORT,
        Attr::RequestedFamily(_) => AttributeType::REQUESTED_ADDRESS_FAMILY,
        Attr::EvenPort(_) => AttributeType::EVEN_PORT,
        Attr::ReservationToken(_) => AttributeType::RESERVATION_TOKEN,
        Attr::DontFragment => AttributeType::DONT_FRAGMENT,
        Attr::Data(_) => AttributeType::DATA,
        Attr::Channel(_) => AttributeType::CHANNEL_NUMBER,
        Attr::ConnectionId(_) => AttributeType::CONNECTION_ID,
        Attr::PasswordAlgorithm(..) => AttributeType::PASSWORD_ALGORITHM,
        Attr::Icmp(..) => AttributeType::ICMP,
    }
}

/// Checks that `m` reads back `a`, given that `a` is the first of its type.
fn check(m: &Message<'_>, a: &Attr) {
    match a {
        Attr::XorMapped(x) => assert_eq!(m.xor_mapped_address().unwrap(), Some(*x)),
        Attr::XorPeer(x) => assert_eq!(m.xor_peer_address().unwrap(), Some(*x)),
        Attr::XorRelayed(x) => assert_eq!(m.xor_relayed_address().unwrap(), Some(*x)),
        Attr::Username(s) => assert_eq!(m.username().unwrap(), Some(s.as_str())),
        Attr::Userhash(h) => assert_eq!(m.userhash().unwrap(), Some(h)),
        Attr::Realm(s) => assert_eq!(m.realm().unwrap(), Some(s.as_str())),
        Attr::Nonce(s) => assert_eq!(m.nonce().unwrap(), Some(s.as_str())),
        Attr::Software(s) => assert_eq!(m.software().unwrap(), Some(s.as_str())),
        Attr::ErrorCode(c, r) => assert_eq!(
            m.error_code().unwrap(),
            Some(ErrorCode {
                code: *c,
                reason: r
            })
        ),
        Attr::Lifetime(l) => assert_eq!(m.lifetime().unwrap(), Some(*l)),
        Attr::RequestedTransport(p) => assert_eq!(m.requested_transport().unwrap(), Some(*p)),
        Attr::RequestedFamily(v6) => {
            assert_eq!(m.requested_address_family().unwrap(), Some(family(*v6)))
        }
        Attr::EvenPort(r) => assert_eq!(m.even_port().unwrap(), Some(*r)),
        Attr::ReservationToken(t) => assert_eq!(m.reservation_token().unwrap(), Some(t)),
        Attr::DontFragment => assert!(m.dont_fragment().unwrap()),
        Attr::Data(d) => assert_eq!(m.data(), Some(d.as_slice())),
        Attr::Channel(c) => assert_eq!(
            m.channel_number().unwrap().map(ChannelNumber::value),
            Some(*c)
        ),
        Attr::ConnectionId(i) => assert_eq!(m.connection_id().unwrap(), Some(*i)),
        Attr::PasswordAlgorithm(a, p) => {
            assert_eq!(
                m.password_algorithm().unwrap(),
                Some(PasswordAlgorithm {
                    algorithm: *a,
                    parameters: p
                })
            )
        }
        Attr::Icmp(t, c, d) => assert_eq!(
            m.icmp().unwrap(),
            Some(Icmp {
                icmp_type: *t,
                icmp_code: *c,
                error_data: *d
            })
        ),
    }
}

/// Calls every accessor and verifier; used on hostile input, must not panic.
pub(crate) fn exercise(bytes: &[u8]) {
    if let Ok(m) = Message::parse(bytes) {
        for a in m.attributes() {
            let _ = (a.attribute_type.name(), a.value.len());
        }
        let _ = m.unknown_comprehension_required().count();
        let _ = (
            m.xor_mapped_address(),
            m.xor_peer_addresses().count(),
            m.xor_relayed_addresses().count(),
        );
        let _ = (
            m.mapped_address(),
            m.username(),
            m.userhash(),
            m.realm(),
            m.nonce(),
            m.software(),
        );
        let _ = m.password_algorithms().map(|o| o.map(|i| i.count()));
        let _ = (
            m.password_algorithm(),
            m.error_code(),
            m.address_error_code(),
        );
        let _ = m.unknown_attributes().map(|o| o.map(|i| i.count()));
        let _ = (
            m.lifetime(),
            m.requested_transport(),
            m.requested_address_family(),
            m.additional_address_family(),
        );
        let _ = (
            m.even_port(),
            m.reservation_token(),
            m.dont_fragment(),
            m.data(),
            m.channel_number(),
        );
        let _ = (
            m.connection_id(),
            m.icmp(),
            m.fingerprint(),
            m.message_integrity(),
            m.message_integrity_sha256(),
        );
        let _ = (
            m.verify_integrity(b"key"),
            m.verify_integrity_sha1(b"key"),
            m.verify_fingerprint(),
        );
    }
    let _ = ChannelData::decode(bytes);
    let _ = next_frame(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn build_parse_round_trip(
        tid in any::<[u8; 12]>(),
        method in 0u16..0x1000,
        class in 0u8..4,
        attrs in proptest::collection::vec(attr(), 0..12),
        key in proptest::collection::vec(any::<u8>(), 0..40),
        sha1 in any::<bool>(),
        sha256 in any::<bool>(),
        fp in any::<bool>(),
    ) {
        let class = [Class::Request, Class::Indication, Class::SuccessResponse, Class::ErrorResponse][usize::from(class)];
        let method = Method::new(method).unwrap();
        let mut buf = vec![0xAA; 7]; // garbage that `new` must clear
        let mut b = MessageBuilder::new(&mut buf, class, method, TransactionId::new(tid));
        for a in &attrs {
            add(&mut b, a);
        }
        if sha1 { b.message_integrity(&key); }
        if sha256 { b.message_integrity_sha256(&key); }
        if fp { b.fingerprint(); }
        let len = b.finish().unwrap();
        prop_assert_eq!(len, buf.len());

        let m = Message::parse(&buf).unwrap();
        prop_assert_eq!(m.class(), class);
        prop_assert_eq!(m.method(), method);
        prop_assert_eq!(m.transaction_id(), TransactionId::new(tid));
        let mut seen = Vec::new();
        for a in &attrs {
            let t = attr_type(a);
            if !seen.contains(&t) {
                check(&m, a);
                seen.push(t);
            }
        }
        let peers: Vec<_> = attrs.iter().filter_map(|a| match a { Attr::XorPeer(x) => Some(*x), _ => None }).collect();
        prop_assert_eq!(m.xor_peer_addresses().collect::<Result<Vec<_>, _>>().unwrap(), peers);
        prop_assert_eq!(m.attributes().count(), attrs.len() + usize::from(sha1) + usize::from(sha256) + usize::from(fp));
        if sha1 { prop_assert!(m.verify_integrity_sha1(&key).is_ok()); }
        if sha256 { prop_assert!(m.verify_integrity_sha256(&key).is_ok()); }
        if sha1 || sha256 {
            prop_assert!(m.verify_integrity(&key).is_ok());
            let mut other = key.clone();
            other.push(1);
            prop_assert_eq!(m.verify_integrity(&other), Err(Error::IntegrityMismatch));
        } else {
            prop_assert_eq!(m.verify_integrity(&key), Err(Error::MissingIntegrity));
        }
        if fp { prop_assert!(m.verify_fingerprint().is_ok()); }
        prop_assert_eq!(next_frame(&buf).unwrap(), Some(Frame { kind: FrameKind::Stun, len: buf.len() }));
        exercise(&buf);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        exercise(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(
        attrs in proptest::collection::vec(attr(), 0..8),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, TransactionId::new([3; 12]));
        for a in &attrs {
            add(&mut b, a);
        }
        b.message_integrity(b"key").fingerprint();
        b.finish().unwrap();
        exercise(&buf);
        for (at, byte) in edits {
            let i = at % buf.len();
            buf[i] = byte;
            exercise(&buf);
        }
        buf.truncate(cut % (buf.len() + 1));
        exercise(&buf);
    }

    #[test]
    fn channel_data_round_trip(ch in 0x4000u16..=0x4FFF, data in proptest::collection::vec(any::<u8>(), 0..300), padded in any::<bool>()) {
        let mut buf = Vec::new();
        let cd = ChannelData { channel: ChannelNumber::new(ch).unwrap(), data: &data };
        cd.encode_into(&mut buf, padded).unwrap();
        prop_assert_eq!(ChannelData::decode(&buf).unwrap(), cd);
        let frame = next_frame(&buf).unwrap().unwrap();
        prop_assert_eq!(frame.kind, FrameKind::ChannelData);
        if padded { prop_assert_eq!(frame.len, buf.len()); }
    }
}
