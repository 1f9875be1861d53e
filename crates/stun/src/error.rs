//! The one error type of the codec: every way a datagram, stream frame or
//! builder call can be rejected, named precisely so the caller can choose the
//! right reaction (drop silently, answer 400, answer 401, close the TCP
//! connection).

use core::fmt;

use crate::attributes::AttributeType;

/// Why a STUN message, ChannelData message or stream frame was rejected, or why
/// a [`MessageBuilder`](crate::MessageBuilder) could not produce a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the fixed part being decoded
    /// (20-byte STUN header, 4-byte ChannelData header, …).
    TooShort {
        /// Bytes needed to go on.
        needed: usize,
        /// Bytes that were available.
        available: usize,
    },
    /// The two most significant bits of the first byte are not `0b00`, so
    /// this is not a STUN message (RFC 8489 §5).
    NotStun,
    /// The magic cookie field is not `0x2112A442` (RFC 8489 §5).
    BadMagicCookie(u32),
    /// The header's message length is not a multiple of 4 (RFC 8489 §5).
    UnalignedLength(u16),
    /// The header's message length disagrees with the bytes present.
    LengthMismatch {
        /// Total length the header claims (20 + message length).
        declared: usize,
        /// Total length of the buffer.
        actual: usize,
    },
    /// An attribute header, value or padding runs past the end of the message.
    AttributeOverrun {
        /// Offset of the attribute header inside the message.
        offset: usize,
    },
    /// An attribute follows FINGERPRINT, which must be last (RFC 8489 §14.7).
    AttributeAfterFingerprint,
    /// An attribute's value has a length its definition does not allow.
    InvalidAttributeLength {
        /// The attribute type.
        attribute: AttributeType,
        /// The length found (or requested, when building).
        len: usize,
    },
    /// A value is longer than the RFC allows for this attribute
    /// (e.g. USERNAME > 513 bytes, REALM/NONCE/SOFTWARE/reason > 763 bytes).
    ValueTooLong {
        /// The attribute type.
        attribute: AttributeType,
        /// The length found (or requested).
        len: usize,
        /// The maximum allowed.
        max: usize,
    },
    /// A text attribute (USERNAME, REALM, …) is not valid UTF-8.
    InvalidUtf8(AttributeType),
    /// An address attribute carries a family other than 0x01 (IPv4) or 0x02 (IPv6).
    InvalidAddressFamily(u8),
    /// ERROR-CODE / ADDRESS-ERROR-CODE with a class outside 3..=6 or a number
    /// outside 0..=99 (RFC 8489 §14.8).
    InvalidErrorCode(u16),
    /// MESSAGE-INTEGRITY / MESSAGE-INTEGRITY-SHA256 was asked for but the
    /// message carries neither.
    MissingIntegrity,
    /// The HMAC in the message does not match the one computed with the key.
    IntegrityMismatch,
    /// FINGERPRINT was asked for but the message carries none.
    MissingFingerprint,
    /// The CRC-32 in FINGERPRINT does not match the message.
    FingerprintMismatch,
    /// A channel number outside 0x4000..=0x4FFF (RFC 8656 §12).
    InvalidChannelNumber(u16),
    /// A ChannelData datagram carries bytes beyond its length and padding.
    ChannelDataTrailingBytes {
        /// Bytes expected at most (header + data + padding).
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// The first byte of a stream frame is neither STUN (`0b00`) nor
    /// ChannelData (`0b01`): the TCP/TLS stream is out of sync.
    UnknownFrame(u8),
    /// Building: the message would exceed the 16-bit message length.
    MessageTooLong,
    /// Building: an attribute was added after MESSAGE-INTEGRITY,
    /// MESSAGE-INTEGRITY-SHA256 or FINGERPRINT in an order RFC 8489 forbids.
    AttributeOrder(AttributeType),
    /// A method number wider than 12 bits.
    InvalidMethod(u16),
    /// The HMAC implementation refused the key (cannot happen for HMAC, which
    /// accepts keys of any length; kept so no code path has to panic).
    InvalidKey,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::TooShort { needed, available } => {
                write!(f, "buffer too short: need {needed} bytes, have {available}")
            }
            Error::NotStun => f.write_str("not a STUN message (first two bits not 0b00)"),
            Error::BadMagicCookie(c) => write!(f, "bad magic cookie {c:#010x}"),
            Error::UnalignedLength(l) => write!(f, "message length {l} is not a multiple of 4"),
            Error::LengthMismatch { declared, actual } => {
                write!(f, "header says {declared} bytes, buffer has {actual}")
            }
            Error::AttributeOverrun { offset } => {
                write!(
                    f,
                    "attribute at offset {offset} runs past the end of the message"
                )
            }
            Error::AttributeAfterFingerprint => f.write_str("attribute after FINGERPRINT"),
            Error::InvalidAttributeLength { attribute, len } => {
                write!(f, "{attribute} has invalid length {len}")
            }
            Error::ValueTooLong {
                attribute,
                len,
                max,
            } => {
                write!(f, "{attribute} is {len} bytes, more than the {max} allowed")
            }
            Error::InvalidUtf8(a) => write!(f, "{a} is not valid UTF-8"),
            Error::InvalidAddressFamily(fam) => write!(f, "invalid address family {fam:#04x}"),
            Error::InvalidErrorCode(c) => write!(f, "invalid error code {c}"),
            Error::MissingIntegrity => f.write_str("no MESSAGE-INTEGRITY(-SHA256) attribute"),
            Error::IntegrityMismatch => f.write_str("message integrity check failed"),
            Error::MissingFingerprint => f.write_str("no FINGERPRINT attribute"),
            Error::FingerprintMismatch => f.write_str("FINGERPRINT does not match"),
            Error::InvalidChannelNumber(c) => {
                write!(f, "channel number {c:#06x} outside 0x4000..=0x4FFF")
            }
            Error::ChannelDataTrailingBytes { expected, actual } => {
                write!(
                    f,
                    "ChannelData datagram has {actual} bytes, at most {expected} expected"
                )
            }
            Error::UnknownFrame(b) => write!(
                f,
                "stream frame starts with {b:#04x}: neither STUN nor ChannelData"
            ),
            Error::MessageTooLong => f.write_str("message would exceed 65535 bytes of attributes"),
            Error::AttributeOrder(a) => {
                write!(f, "{a} cannot follow MESSAGE-INTEGRITY or FINGERPRINT")
            }
            Error::InvalidMethod(m) => write!(f, "method {m:#x} is wider than 12 bits"),
            Error::InvalidKey => f.write_str("HMAC key rejected"),
        }
    }
}

impl std::error::Error for Error {}
