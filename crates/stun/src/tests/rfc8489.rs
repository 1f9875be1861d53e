//! RFC 8489 Appendix B.1: request with long-term authentication,
//! MESSAGE-INTEGRITY-SHA256, PASSWORD-ALGORITHM and USERHASH.
//!
//! The vector as printed in RFC 8489 is wrong: its header length is 0x9c (the
//! whole message, not the attributes), it lacks the PASSWORD-ALGORITHM
//! attribute that a SHA-256 key requires, and its HMAC does not verify.
//! Verified erratum 6268 (https://www.rfc-editor.org/errata/eid6268) gives
//! the corrected message below, which this crate must parse, verify and
//! rebuild byte for byte. The original is kept to show it is rejected.

use crate::tests::rfc5769::{LONG_TERM_PASSWORD, LONG_TERM_USERNAME};
use crate::*;

const TID: [u8; 12] = [
    0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e,
];
const NONCE: &str = "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA";
const REALM: &str = "example.org";

const USERHASH: [u8; 32] = [
    0x4a, 0x3c, 0xf3, 0x8f, 0xef, 0x69, 0x92, 0xbd, 0xa9, 0x52, 0xc6, 0x78, 0x04, 0x17, 0xda, 0x0f,
    0x24, 0x81, 0x94, 0x15, 0x56, 0x9e, 0x60, 0xb2, 0x05, 0xc4, 0x6e, 0x41, 0x40, 0x7f, 0x17, 0x04,
];

/// Appendix B.1 as corrected by erratum 6268.
const SAMPLE_REQUEST_SHA256: [u8; 164] = [
    0x00, 0x01, 0x00, 0x90, // Request type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0x78, 0xad, 0x34, 0x33, // }
    0xc6, 0xad, 0x72, 0xc0, // }  Transaction ID
    0x29, 0xda, 0x41, 0x2e, // }
    0x00, 0x1e, 0x00, 0x20, // USERHASH attribute header
    0x4a, 0x3c, 0xf3, 0x8f, // }
    0xef, 0x69, 0x92, 0xbd, // }
    0xa9, 0x52, 0xc6, 0x78, // }
    0x04, 0x17, 0xda, 0x0f, // }  Userhash value (32 bytes)
    0x24, 0x81, 0x94, 0x15, // }
    0x56, 0x9e, 0x60, 0xb2, // }
    0x05, 0xc4, 0x6e, 0x41, // }
    0x40, 0x7f, 0x17, 0x04, // }
    0x00, 0x15, 0x00, 0x29, // NONCE attribute header
    0x6f, 0x62, 0x4d, 0x61, // }
    0x74, 0x4a, 0x6f, 0x73, // }
    0x32, 0x41, 0x41, 0x41, // }
    0x43, 0x66, 0x2f, 0x2f, // }
    0x34, 0x39, 0x39, 0x6b, // }  Nonce value and padding (3 bytes)
    0x39, 0x35, 0x34, 0x64, // }
    0x36, 0x4f, 0x4c, 0x33, // }
    0x34, 0x6f, 0x4c, 0x39, // }
    0x46, 0x53, 0x54, 0x76, // }
    0x79, 0x36, 0x34, 0x73, // }
    0x41, 0x00, 0x00, 0x00, // }
    0x00, 0x14, 0x00, 0x0b, // REALM attribute header
    0x65, 0x78, 0x61, 0x6d, // }
    0x70, 0x6c, 0x65, 0x2e, // }  Realm value (11 bytes) and padding (1 byte)
    0x6f, 0x72, 0x67, 0x00, // }
    0x00, 0x1d, 0x00, 0x04, // PASSWORD-ALGORITHM attribute header
    0x00, 0x02, 0x00, 0x00, // PASSWORD-ALGORITHM value: SHA-256, no parameters
    0x00, 0x1c, 0x00, 0x20, // MESSAGE-INTEGRITY-SHA256 attribute header
    0xb5, 0xc7, 0xbf, 0x00, // }
    0x5b, 0x6c, 0x52, 0xa2, // }
    0x1c, 0x51, 0xc5, 0xe8, // }
    0x92, 0xf8, 0x19, 0x24, // }  HMAC-SHA256 value
    0x13, 0x62, 0x96, 0xcb, // }
    0x92, 0x7c, 0x43, 0x14, // }
    0x93, 0x09, 0x27, 0x8c, // }
    0xc6, 0x51, 0x8e, 0x65, // }
];

/// The tail of B.1 as printed in the RFC (before erratum 6268): no
/// PASSWORD-ALGORITHM, and this MESSAGE-INTEGRITY-SHA256 value.
const ORIGINAL_MI_SHA256: [u8; 32] = [
    0xe4, 0x68, 0x6c, 0x8f, 0x0e, 0xde, 0xb5, 0x90, 0x13, 0xe0, 0x70, 0x90, 0x01, 0x0a, 0x93, 0xef,
    0xcc, 0xbc, 0xcc, 0x54, 0x4c, 0x0a, 0x45, 0xd9, 0xf8, 0x30, 0xaa, 0x6d, 0x6f, 0x73, 0x5a, 0x01,
];

#[test]
fn userhash_vector() {
    assert_eq!(userhash(LONG_TERM_USERNAME, REALM), USERHASH);
}

#[test]
fn parses_and_verifies_corrected_b1() {
    let m = Message::parse(&SAMPLE_REQUEST_SHA256).unwrap();
    assert_eq!(m.class(), Class::Request);
    assert_eq!(m.method(), Method::BINDING);
    assert_eq!(m.transaction_id(), TransactionId::new(TID));
    assert_eq!(m.userhash().unwrap(), Some(&USERHASH));
    assert_eq!(m.username().unwrap(), None);
    assert_eq!(m.nonce().unwrap(), Some(NONCE));
    assert_eq!(m.realm().unwrap(), Some(REALM));
    assert_eq!(
        m.password_algorithm().unwrap(),
        Some(PasswordAlgorithm::SHA256)
    );
    let key = LongTermKey::sha256(LONG_TERM_USERNAME, REALM, LONG_TERM_PASSWORD);
    assert_eq!(
        m.verify_integrity(key.as_bytes()),
        Ok(IntegrityAlgorithm::Sha256)
    );
    let md5 = LongTermKey::md5(LONG_TERM_USERNAME, REALM, LONG_TERM_PASSWORD);
    assert_eq!(
        m.verify_integrity(md5.as_bytes()),
        Err(Error::IntegrityMismatch)
    );
    assert_eq!(
        m.verify_integrity_sha1(key.as_bytes()),
        Err(Error::MissingIntegrity)
    );
}

#[test]
fn builds_corrected_b1_byte_for_byte() {
    let key = LongTermKey::for_algorithm(
        PasswordAlgorithm::SHA256,
        LONG_TERM_USERNAME,
        REALM,
        LONG_TERM_PASSWORD,
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(
        &mut buf,
        Class::Request,
        Method::BINDING,
        TransactionId::new(TID),
    );
    b.userhash(&userhash(LONG_TERM_USERNAME, REALM))
        .nonce(NONCE)
        .realm(REALM)
        .password_algorithm(PasswordAlgorithm::SHA256)
        .message_integrity_sha256(key.as_bytes());
    b.finish().unwrap();
    assert_eq!(buf, SAMPLE_REQUEST_SHA256);
}

#[test]
fn original_b1_is_not_honest() {
    // As printed: header length 0x9c = the whole 156-byte message, which the
    // strict parser rejects.
    let mut original = Vec::new();
    original.extend_from_slice(&SAMPLE_REQUEST_SHA256[..HEADER_LEN + 36 + 48 + 16]);
    original.extend_from_slice(&[0x00, 0x1c, 0x00, 0x20]);
    original.extend_from_slice(&ORIGINAL_MI_SHA256);
    original[2..4].copy_from_slice(&[0x00, 0x9c]);
    assert_eq!(original.len(), 0x9c);
    assert_eq!(
        Message::parse(&original).err(),
        Some(Error::LengthMismatch {
            declared: 0x9c + 20,
            actual: 0x9c
        })
    );
    // With the length fixed to 0x88, the printed MAC still verifies with
    // neither key derivation: the printed value cannot be tested honestly.
    original[2..4].copy_from_slice(&[0x00, 0x88]);
    let m = Message::parse(&original).unwrap();
    for key in [
        LongTermKey::sha256(LONG_TERM_USERNAME, REALM, LONG_TERM_PASSWORD),
        LongTermKey::md5(LONG_TERM_USERNAME, REALM, LONG_TERM_PASSWORD),
    ] {
        assert_eq!(
            m.verify_integrity(key.as_bytes()),
            Err(Error::IntegrityMismatch)
        );
    }
}
