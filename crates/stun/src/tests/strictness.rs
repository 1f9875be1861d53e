//! Strict parsing rules and builder misuse: lengths, padding, ordering around
//! MESSAGE-INTEGRITY / FINGERPRINT, duplicates, unknown attributes.

use crate::*;

const TID: TransactionId = TransactionId::new([9; 12]);

/// A message with the given raw attributes (zero padding, correct length).
fn raw(class: Class, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut v = Header {
        class,
        method: Method::ALLOCATE,
        length: 0,
        transaction_id: TID,
    }
    .encode()
    .to_vec();
    for (t, val) in attrs {
        push_attr(&mut v, *t, val);
    }
    v
}

/// Appends one attribute and fixes the header length.
fn push_attr(v: &mut Vec<u8>, t: u16, val: &[u8]) {
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(&(val.len() as u16).to_be_bytes());
    v.extend_from_slice(val);
    v.resize(v.len() + padded_len(val.len()) - val.len(), 0);
    let len = (v.len() - HEADER_LEN) as u16;
    v[2..4].copy_from_slice(&len.to_be_bytes());
}

#[test]
fn length_and_padding_are_checked() {
    let ok = raw(Class::Request, &[(0x0006, b"abcde")]);
    assert!(Message::parse(&ok).is_ok());
    // Trailing byte beyond the declared length.
    let mut v = ok.clone();
    v.push(0);
    assert!(matches!(
        Message::parse(&v),
        Err(Error::LengthMismatch { .. })
    ));
    // Missing padding: cut the last 3 bytes and fix the header length... which
    // then is not a multiple of 4.
    let mut v = ok.clone();
    v.truncate(v.len() - 3);
    v[3] -= 3;
    assert!(matches!(Message::parse(&v), Err(Error::UnalignedLength(_))));
    // Attribute length claiming more than is there.
    let mut v = ok.clone();
    v[HEADER_LEN + 3] = 9;
    assert_eq!(
        Message::parse(&v).err(),
        Some(Error::AttributeOverrun { offset: HEADER_LEN })
    );
    // Length field that leaves a partial attribute header.
    let mut v = ok;
    v.extend_from_slice(&[0, 0x13, 0, 0]);
    v[3] += 2; // 2 bytes of a header: unaligned
    v.truncate(v.len() - 2);
    assert!(Message::parse(&v).is_err());
}

#[test]
fn padding_content_is_ignored() {
    let mut v = raw(Class::Request, &[(0x0006, b"abcde")]);
    v[HEADER_LEN + 4 + 5] = 0x20;
    assert_eq!(
        Message::parse(&v).unwrap().username().unwrap(),
        Some("abcde")
    );
}

#[test]
fn first_duplicate_wins() {
    let v = raw(
        Class::Request,
        &[
            (0x000D, &600u32.to_be_bytes()),
            (0x000D, &30u32.to_be_bytes()),
        ],
    );
    let m = Message::parse(&v).unwrap();
    assert_eq!(m.lifetime().unwrap(), Some(600));
}

#[test]
fn attributes_after_integrity_are_ignored() {
    let key = b"key";
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, TID);
    b.lifetime(600).message_integrity(key);
    b.finish().unwrap();
    // After MESSAGE-INTEGRITY: LIFETIME (ignored), an unknown
    // comprehension-required attribute (ignored), USERNAME (ignored).
    push_attr(&mut buf, 0x000D, &0u32.to_be_bytes());
    push_attr(&mut buf, 0x0077, b"x");
    push_attr(&mut buf, 0x0006, b"mallory");
    let m = Message::parse(&buf).unwrap();
    assert_eq!(m.lifetime().unwrap(), Some(600));
    assert_eq!(m.username().unwrap(), None);
    assert_eq!(m.unknown_comprehension_required().count(), 0);
    assert_eq!(m.attributes().count(), 2);
    // The HMAC still verifies: it covers only what precedes it.
    m.verify_integrity(key).unwrap();
}

#[test]
fn sha256_and_fingerprint_may_follow_integrity() {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::REFRESH, TID);
    b.lifetime(0)
        .message_integrity(b"k1")
        .message_integrity_sha256(b"k2")
        .fingerprint();
    b.finish().unwrap();
    let m = Message::parse(&buf).unwrap();
    m.verify_integrity_sha1(b"k1").unwrap();
    m.verify_integrity_sha256(b"k2").unwrap();
    assert_eq!(m.verify_integrity(b"k2"), Ok(IntegrityAlgorithm::Sha256));
    m.verify_fingerprint().unwrap();
    assert_eq!(m.attributes().count(), 4);
}

#[test]
fn only_fingerprint_may_follow_integrity_sha256() {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::REFRESH, TID);
    b.message_integrity_sha256(b"k");
    b.finish().unwrap();
    // MESSAGE-INTEGRITY after MESSAGE-INTEGRITY-SHA256 is ignored.
    push_attr(&mut buf, 0x0008, &[0; 20]);
    let m = Message::parse(&buf).unwrap();
    assert_eq!(m.message_integrity(), None);
    assert_eq!(m.verify_integrity(b"k"), Ok(IntegrityAlgorithm::Sha256));
}

#[test]
fn nothing_may_follow_fingerprint() {
    let mut v = raw(Class::Indication, &[(0x8028, &[0; 4])]);
    push_attr(&mut v, 0x0013, b"data");
    assert_eq!(
        Message::parse(&v).err(),
        Some(Error::AttributeAfterFingerprint)
    );
}

#[test]
fn integrity_lengths_are_checked() {
    let v = raw(Class::Request, &[(0x0008, &[0; 16])]);
    assert!(matches!(
        Message::parse(&v),
        Err(Error::InvalidAttributeLength { .. })
    ));
    let v = raw(Class::Request, &[(0x001C, &[0; 12])]);
    assert!(matches!(
        Message::parse(&v),
        Err(Error::InvalidAttributeLength { .. })
    ));
    let v = raw(Class::Request, &[(0x8028, &[0; 8])]);
    assert!(matches!(
        Message::parse(&v),
        Err(Error::InvalidAttributeLength { .. })
    ));
}

#[test]
fn truncated_sha256_integrity_verifies() {
    // RFC 8489 §14.6 allows 16..=32 bytes; the header length used in the MAC
    // counts the truncated attribute.
    let mut buf = raw(Class::Request, &[(0x000D, &600u32.to_be_bytes())]);
    let mac = crate::integrity::hmac_sha256(&buf, buf.len(), 16, b"k").unwrap();
    let mut naive = buf.clone();
    push_attr(&mut buf, 0x001C, &mac[..16]);
    let m = Message::parse(&buf).unwrap();
    assert_eq!(m.verify_integrity(b"k"), Ok(IntegrityAlgorithm::Sha256));
    // Truncating a full-length MAC without recomputing it does not verify.
    let full = crate::integrity::hmac_sha256(&naive, naive.len(), 32, b"k").unwrap();
    push_attr(&mut naive, 0x001C, &full[..16]);
    assert_eq!(
        Message::parse(&naive).unwrap().verify_integrity(b"k"),
        Err(Error::IntegrityMismatch)
    );
}

#[test]
fn unknown_comprehension_required_listed_once() {
    let v = raw(
        Class::Request,
        &[
            (0x0077, b""),
            (0x8077, b""),
            (0x0077, b""),
            (0x0019, &[17, 0, 0, 0]),
            (0x0078, b""),
        ],
    );
    let m = Message::parse(&v).unwrap();
    let unknown: Vec<_> = m.unknown_comprehension_required().collect();
    assert_eq!(unknown, [AttributeType(0x0077), AttributeType(0x0078)]);
    let custom: Vec<_> = m
        .unknown_comprehension_required_with(|t| t == AttributeType(0x0077))
        .collect();
    assert_eq!(
        custom,
        [AttributeType::REQUESTED_TRANSPORT, AttributeType(0x0078)]
    );
}

#[test]
fn typed_values_are_checked() {
    let v = raw(
        Class::Request,
        &[
            (0x001A, b"x"),
            (0x000C, &[0x50, 0, 0, 0]),
            (0x000D, &[0, 0, 1]),
            (0x0017, &[3, 0, 0, 0]),
            (0x0006, &[0xff]),
            (0x0020, &[0, 1, 0, 0]),
            (0x000A, &[0, 1, 0]),
            (0x001D, &[0, 1, 0, 4, 0, 0]),
        ],
    );
    let m = Message::parse(&v).unwrap();
    assert!(m.dont_fragment().is_err());
    assert_eq!(m.channel_number(), Err(Error::InvalidChannelNumber(0x5000)));
    assert!(m.lifetime().is_err());
    assert_eq!(
        m.requested_address_family(),
        Err(Error::InvalidAddressFamily(3))
    );
    assert_eq!(
        m.username(),
        Err(Error::InvalidUtf8(AttributeType::USERNAME))
    );
    assert!(m.xor_mapped_address().is_err());
    assert!(m.unknown_attributes().is_err());
    assert!(m.password_algorithm().is_err());
    let long = "a".repeat(514);
    let v = raw(Class::Request, &[(0x0006, long.as_bytes())]);
    assert!(matches!(
        Message::parse(&v).unwrap().username(),
        Err(Error::ValueTooLong { .. })
    ));
}

#[test]
fn builder_enforces_order_and_cleans_up() {
    let mut buf = b"keep".to_vec();
    {
        let mut b = MessageBuilder::append_to(&mut buf, Class::Request, Method::BINDING, TID);
        b.fingerprint().lifetime(1);
        assert_eq!(
            b.finish(),
            Err(Error::AttributeOrder(AttributeType::LIFETIME))
        );
    }
    assert_eq!(buf, b"keep");
    {
        let mut b = MessageBuilder::append_to(&mut buf, Class::Request, Method::BINDING, TID);
        b.message_integrity(b"k").realm("x");
        assert_eq!(b.error(), Some(Error::AttributeOrder(AttributeType::REALM)));
        // dropped without finish
    }
    assert_eq!(buf, b"keep");
    {
        let mut b = MessageBuilder::append_to(&mut buf, Class::Request, Method::BINDING, TID);
        b.attribute(AttributeType::FINGERPRINT, &[0; 4]);
        assert!(b.finish().is_err());
    }
    let mut b = MessageBuilder::append_to(&mut buf, Class::Request, Method::BINDING, TID);
    b.lifetime(1);
    assert_eq!(b.finish(), Ok(28));
    assert_eq!(&buf[..4], b"keep");
    assert!(Message::parse(&buf[4..]).is_ok());
}

#[test]
fn builder_limits() {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID);
    b.username(&"u".repeat(514));
    assert!(matches!(b.finish(), Err(Error::ValueTooLong { .. })));
    assert!(buf.is_empty());
    let mut b = MessageBuilder::new(&mut buf, Class::Indication, Method::SEND, TID);
    b.data(&[0; 40_000]).data(&[0; 40_000]);
    assert_eq!(b.finish(), Err(Error::MessageTooLong));
    let mut b = MessageBuilder::new(&mut buf, Class::Indication, Method::SEND, TID);
    b.data(&[0; 0xFFF8]);
    assert_eq!(b.finish(), Ok(HEADER_LEN + 0xFFFC));
    assert!(Message::parse(&buf).is_ok());
    let mut b = MessageBuilder::new(&mut buf, Class::ErrorResponse, Method::BINDING, TID);
    b.error_code(700, "");
    assert_eq!(b.finish(), Err(Error::InvalidErrorCode(700)));
}

#[test]
fn error_response_with_unknown_attributes() {
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, Class::ErrorResponse, Method::ALLOCATE, TID);
    b.error_code(codes::UNKNOWN_ATTRIBUTE, default_reason(420))
        .unknown_attributes(&[
            AttributeType(0x0077),
            AttributeType(0x0078),
            AttributeType(0x0079),
        ]);
    b.finish().unwrap();
    let m = Message::parse(&buf).unwrap();
    assert_eq!(
        m.error_code().unwrap(),
        Some(ErrorCode {
            code: 420,
            reason: "Unknown Attribute"
        })
    );
    let listed: Vec<_> = m.unknown_attributes().unwrap().unwrap().collect();
    assert_eq!(
        listed,
        [
            AttributeType(0x0077),
            AttributeType(0x0078),
            AttributeType(0x0079)
        ]
    );
}

#[test]
fn unknown_listing_is_capped_and_linear() {
    // 16 000 zero-length unknown comprehension-required attributes in a
    // 64 KiB message: the listing stops at MAX_UNKNOWN_LISTED distinct types.
    let mut v = raw(Class::Request, &[]);
    for i in 0..16_000u16 {
        push_attr(&mut v, 0x0100 + (i % 4000), b"");
    }
    let m = Message::parse(&v).unwrap();
    let listed: Vec<_> = m.unknown_comprehension_required().collect();
    assert_eq!(listed.len(), MAX_UNKNOWN_LISTED);
    assert_eq!(listed[0], AttributeType(0x0100));
    assert_eq!(listed[15], AttributeType(0x010F));
}
