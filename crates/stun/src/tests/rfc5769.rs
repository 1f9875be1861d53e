//! RFC 5769 "Test Vectors for STUN", sections 2.1–2.4, byte for byte.
//! Note 2.1 pads USERNAME with spaces (0x20), not zeros: receivers must
//! ignore padding contents, and this parser does.

use crate::*;

const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";
const TID: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];

/// 2.1 Sample Request (short-term credentials, SOFTWARE, ICE attributes).
pub(crate) const SAMPLE_REQUEST: [u8; 108] = [
    0x00, 0x01, 0x00, 0x58, // Request type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // }
    0xbc, 0x34, 0xd6, 0x86, // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae, // }
    0x80, 0x22, 0x00, 0x10, // SOFTWARE attribute header
    0x53, 0x54, 0x55, 0x4e, // }
    0x20, 0x74, 0x65, 0x73, // }  User-agent...
    0x74, 0x20, 0x63, 0x6c, // }  ...name
    0x69, 0x65, 0x6e, 0x74, // }
    0x00, 0x24, 0x00, 0x04, // PRIORITY attribute header
    0x6e, 0x00, 0x01, 0xff, // ICE priority value
    0x80, 0x29, 0x00, 0x08, // ICE-CONTROLLED attribute header
    0x93, 0x2f, 0xf9, 0xb1, // }  Pseudo-random tie breaker...
    0x51, 0x26, 0x3b, 0x36, // }   ...for ICE control
    0x00, 0x06, 0x00, 0x09, // USERNAME attribute header
    0x65, 0x76, 0x74, 0x6a, // }
    0x3a, 0x68, 0x36, 0x76, // }  Username (9 bytes) and padding (3 bytes)
    0x59, 0x20, 0x20, 0x20, // }
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0x9a, 0xea, 0xa7, 0x0c, // }
    0xbf, 0xd8, 0xcb, 0x56, // }
    0x78, 0x1e, 0xf2, 0xb5, // }  HMAC-SHA1 fingerprint
    0xb2, 0xd3, 0xf2, 0x49, // }
    0xc1, 0xb5, 0x71, 0xa2, // }
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xe5, 0x7a, 0x3b, 0xcf, // CRC32 fingerprint
];

/// 2.2 Sample IPv4 Response.
const SAMPLE_IPV4_RESPONSE: [u8; 80] = [
    0x01, 0x01, 0x00, 0x3c, // Response type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // }
    0xbc, 0x34, 0xd6, 0x86, // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae, // }
    0x80, 0x22, 0x00, 0x0b, // SOFTWARE attribute header
    0x74, 0x65, 0x73, 0x74, // }
    0x20, 0x76, 0x65, 0x63, // }  UTF-8 server name
    0x74, 0x6f, 0x72, 0x20, // }
    0x00, 0x20, 0x00, 0x08, // XOR-MAPPED-ADDRESS attribute header
    0x00, 0x01, 0xa1, 0x47, // Address family (IPv4) and xor'd mapped port number
    0xe1, 0x12, 0xa6, 0x43, // Xor'd mapped IPv4 address
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0x2b, 0x91, 0xf5, 0x99, // }
    0xfd, 0x9e, 0x90, 0xc3, // }
    0x8c, 0x74, 0x89, 0xf9, // }  HMAC-SHA1 fingerprint
    0x2a, 0xf9, 0xba, 0x53, // }
    0xf0, 0x6b, 0xe7, 0xd7, // }
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xc0, 0x7d, 0x4c, 0x96, // CRC32 fingerprint
];

/// 2.3 Sample IPv6 Response.
const SAMPLE_IPV6_RESPONSE: [u8; 92] = [
    0x01, 0x01, 0x00, 0x48, // Response type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // }
    0xbc, 0x34, 0xd6, 0x86, // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae, // }
    0x80, 0x22, 0x00, 0x0b, // SOFTWARE attribute header
    0x74, 0x65, 0x73, 0x74, // }
    0x20, 0x76, 0x65, 0x63, // }  UTF-8 server name
    0x74, 0x6f, 0x72, 0x20, // }
    0x00, 0x20, 0x00, 0x14, // XOR-MAPPED-ADDRESS attribute header
    0x00, 0x02, 0xa1, 0x47, // Address family (IPv6) and xor'd mapped port number
    0x01, 0x13, 0xa9, 0xfa, // }
    0xa5, 0xd3, 0xf1, 0x79, // }  Xor'd mapped IPv6 address
    0xbc, 0x25, 0xf4, 0xb5, // }
    0xbe, 0xd2, 0xb9, 0xd9, // }
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0xa3, 0x82, 0x95, 0x4e, // }
    0x4b, 0xe6, 0x7b, 0xf1, // }
    0x17, 0x84, 0xc9, 0x7c, // }  HMAC-SHA1 fingerprint
    0x82, 0x92, 0xc2, 0x75, // }
    0xbf, 0xe3, 0xed, 0x41, // }
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xc8, 0xfb, 0x0b, 0x4c, // CRC32 fingerprint
];

/// 2.4 Sample Request with Long-Term Authentication (no FINGERPRINT).
const SAMPLE_REQUEST_LONG_TERM: [u8; 116] = [
    0x00, 0x01, 0x00, 0x60, // Request type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0x78, 0xad, 0x34, 0x33, // }
    0xc6, 0xad, 0x72, 0xc0, // }  Transaction ID
    0x29, 0xda, 0x41, 0x2e, // }
    0x00, 0x06, 0x00, 0x12, // USERNAME attribute header
    0xe3, 0x83, 0x9e, 0xe3, // }
    0x83, 0x88, 0xe3, 0x83, // }
    0xaa, 0xe3, 0x83, 0x83, // }  Username value (18 bytes) and padding (2 bytes)
    0xe3, 0x82, 0xaf, 0xe3, // }
    0x82, 0xb9, 0x00, 0x00, // }
    0x00, 0x15, 0x00, 0x1c, // NONCE attribute header
    0x66, 0x2f, 0x2f, 0x34, // }
    0x39, 0x39, 0x6b, 0x39, // }
    0x35, 0x34, 0x64, 0x36, // }
    0x4f, 0x4c, 0x33, 0x34, // }  Nonce value
    0x6f, 0x4c, 0x39, 0x46, // }
    0x53, 0x54, 0x76, 0x79, // }
    0x36, 0x34, 0x73, 0x41, // }
    0x00, 0x14, 0x00, 0x0b, // REALM attribute header
    0x65, 0x78, 0x61, 0x6d, // }
    0x70, 0x6c, 0x65, 0x2e, // }  Realm value (11 bytes) and padding (1 byte)
    0x6f, 0x72, 0x67, 0x00, // }
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0xf6, 0x70, 0x24, 0x65, // }
    0x6d, 0xd6, 0x4a, 0x3e, // }
    0x02, 0xb8, 0xe0, 0x71, // }  HMAC-SHA1 fingerprint
    0x2e, 0x85, 0xc9, 0xa2, // }
    0x8c, 0xa8, 0x96, 0x66, // }
];

/// "マトリックス" (U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9).
pub(crate) const LONG_TERM_USERNAME: &str = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
/// The password after SASLprep/OpaqueString.
pub(crate) const LONG_TERM_PASSWORD: &str = "TheMatrIX";

#[test]
fn sample_request() {
    let m = Message::parse(&SAMPLE_REQUEST).unwrap();
    assert_eq!(m.class(), Class::Request);
    assert_eq!(m.method(), Method::BINDING);
    assert_eq!(m.transaction_id(), TransactionId::new(TID));
    assert_eq!(m.software().unwrap(), Some("STUN test client"));
    assert_eq!(m.username().unwrap(), Some("evtj:h6vY"));
    assert_eq!(
        m.attribute_value(AttributeType::PRIORITY),
        Some(&[0x6e, 0x00, 0x01, 0xff][..])
    );
    m.verify_fingerprint().unwrap();
    assert_eq!(
        m.verify_integrity(PASSWORD.as_bytes()),
        Ok(IntegrityAlgorithm::Sha1)
    );
    assert_eq!(m.verify_integrity(b"wrong"), Err(Error::IntegrityMismatch));
    // PRIORITY and ICE-CONTROLLED are known, so nothing calls for a 420.
    assert_eq!(m.unknown_comprehension_required().count(), 0);
    let types: Vec<_> = m.attributes().map(|a| a.attribute_type).collect();
    assert_eq!(
        types,
        [
            AttributeType::SOFTWARE,
            AttributeType::PRIORITY,
            AttributeType::ICE_CONTROLLED,
            AttributeType::USERNAME,
            AttributeType::MESSAGE_INTEGRITY,
            AttributeType::FINGERPRINT
        ]
    );
}

#[test]
fn sample_request_any_bit_flip_is_caught() {
    // Flip each bit after the header: parse fails, or integrity/fingerprint does.
    for i in HEADER_LEN * 8..SAMPLE_REQUEST.len() * 8 {
        let mut v = SAMPLE_REQUEST;
        v[i / 8] ^= 1 << (i % 8);
        if let Ok(m) = Message::parse(&v) {
            let ok =
                m.verify_fingerprint().is_ok() && m.verify_integrity(PASSWORD.as_bytes()).is_ok();
            // Padding bytes of USERNAME (offset 69..72) are not covered by
            // anything semantic, but they are covered by the HMAC and CRC.
            assert!(!ok, "bit flip at byte {} not detected", i / 8);
        }
    }
}

#[test]
fn sample_ipv4_response() {
    let m = Message::parse(&SAMPLE_IPV4_RESPONSE).unwrap();
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(m.method(), Method::BINDING);
    assert_eq!(m.software().unwrap(), Some("test vector"));
    assert_eq!(
        m.xor_mapped_address().unwrap(),
        Some("192.0.2.1:32853".parse().unwrap())
    );
    m.verify_fingerprint().unwrap();
    m.verify_integrity_sha1(PASSWORD.as_bytes()).unwrap();
}

#[test]
fn sample_ipv6_response() {
    let m = Message::parse(&SAMPLE_IPV6_RESPONSE).unwrap();
    assert_eq!(m.class(), Class::SuccessResponse);
    assert_eq!(
        m.xor_mapped_address().unwrap(),
        Some(
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
                .parse()
                .unwrap()
        )
    );
    m.verify_fingerprint().unwrap();
    m.verify_integrity_sha1(PASSWORD.as_bytes()).unwrap();
}

#[test]
fn sample_request_long_term() {
    let m = Message::parse(&SAMPLE_REQUEST_LONG_TERM).unwrap();
    assert_eq!(m.username().unwrap(), Some(LONG_TERM_USERNAME));
    assert_eq!(m.nonce().unwrap(), Some("f//499k954d6OL34oL9FSTvy64sA"));
    assert_eq!(m.realm().unwrap(), Some("example.org"));
    assert_eq!(m.verify_fingerprint(), Err(Error::MissingFingerprint));
    let key = LongTermKey::md5(LONG_TERM_USERNAME, "example.org", LONG_TERM_PASSWORD);
    assert_eq!(
        m.verify_integrity(key.as_bytes()),
        Ok(IntegrityAlgorithm::Sha1)
    );
    let wrong = LongTermKey::md5(LONG_TERM_USERNAME, "example.org", "TheMatrix");
    assert_eq!(
        m.verify_integrity(wrong.as_bytes()),
        Err(Error::IntegrityMismatch)
    );
}

/// The builder reproduces the IPv4 and IPv6 responses: identical bytes
/// except SOFTWARE's padding byte, which the RFC sets to 0x20 and the builder
/// to 0x00 — and therefore the MAC and CRC values, which are checked instead.
#[test]
fn builder_reproduces_responses() {
    for (expected, addr) in [
        (&SAMPLE_IPV4_RESPONSE[..], "192.0.2.1:32853"),
        (
            &SAMPLE_IPV6_RESPONSE[..],
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
        ),
    ] {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(
            &mut buf,
            Class::SuccessResponse,
            Method::BINDING,
            TransactionId::new(TID),
        );
        b.software("test vector")
            .xor_mapped_address(addr.parse().unwrap())
            .message_integrity(PASSWORD.as_bytes())
            .fingerprint();
        assert_eq!(b.finish(), Ok(expected.len()));
        let pad = HEADER_LEN + 4 + 11;
        let mi_value = expected.len() - 8 - 20;
        assert_eq!(buf[..pad], expected[..pad]);
        assert_eq!(buf[pad], 0);
        assert_eq!(buf[pad + 1..mi_value], expected[pad + 1..mi_value]);
        assert_eq!(
            buf[mi_value + 20..mi_value + 24],
            expected[mi_value + 20..mi_value + 24]
        );
        let m = Message::parse(&buf).unwrap();
        m.verify_integrity_sha1(PASSWORD.as_bytes()).unwrap();
        m.verify_fingerprint().unwrap();
    }
}

/// The builder reproduces 2.4 exactly (all its padding is zero).
#[test]
fn builder_reproduces_long_term_request() {
    let key = LongTermKey::md5(LONG_TERM_USERNAME, "example.org", LONG_TERM_PASSWORD);
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new([
            0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e,
        ]),
    );
    b.username(LONG_TERM_USERNAME)
        .nonce("f//499k954d6OL34oL9FSTvy64sA")
        .realm("example.org")
        .message_integrity(key.as_bytes());
    b.finish().unwrap();
    assert_eq!(buf, SAMPLE_REQUEST_LONG_TERM);
}
