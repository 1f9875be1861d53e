//! Sans-IO STUN/TURN message codec for Switchboard.
//!
//! No sockets, no async, no clock, no `unsafe`. It parses and builds
//! STUN messages (RFC 8489) with the TURN attributes (RFC 8656, RFC 6156,
//! RFC 6062), computes and checks MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256
//! and FINGERPRINT, derives long-term credentials keys, and encodes and
//! decodes ChannelData, the TURN data path's framing.
//!
//! - Parse: [`Message::parse`] gives a zero-copy view; accessors decode
//!   attributes lazily. Every length and padding is checked; no input panics.
//! - Build: [`MessageBuilder`] writes into a reusable `Vec<u8>`.
//! - Data path: [`ChannelData::decode`] reads 4 bytes and borrows the payload.
//! - Streams: [`next_frame`] tells how long the next STUN/ChannelData frame is.
//!
//! ```
//! use stun::{Class, Message, MessageBuilder, Method, TransactionId};
//! let mut buf = Vec::new();
//! let tid = TransactionId::new([1; 12]);
//! let mut b = MessageBuilder::new(&mut buf, Class::SuccessResponse, Method::BINDING, tid);
//! b.xor_mapped_address("192.0.2.1:3478".parse().unwrap()).fingerprint();
//! b.finish().unwrap();
//! let m = Message::parse(&buf).unwrap();
//! assert_eq!(m.xor_mapped_address().unwrap(), Some("192.0.2.1:3478".parse().unwrap()));
//! m.verify_fingerprint().unwrap();
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod address;
mod attributes;
mod builder;
mod channel_data;
mod credentials;
mod error;
mod error_code;
mod fingerprint;
mod framing;
mod header;
mod integrity;
mod message;
mod password_algorithm;
mod values;

#[cfg(test)]
mod tests;

pub use address::{xor as xor_address, AddressFamily};
pub use attributes::{
    padded_len, AttributeType, Attributes, RawAttribute, UnknownComprehensionRequired,
    MAX_UNKNOWN_LISTED,
};
pub use builder::MessageBuilder;
pub use channel_data::{ChannelData, ChannelNumber, CHANNEL_DATA_HEADER_LEN};
pub use credentials::{parse_turn_rest_username, userhash, LongTermKey, TurnRestPassword};
pub use error::Error;
pub use error_code::{codes, default_reason, AddressErrorCode, ErrorCode, MAX_REASON_LEN};
pub use fingerprint::{FINGERPRINT_LEN, FINGERPRINT_XOR};
pub use framing::{frame_kind, next_frame, Frame, FrameKind};
pub use header::{
    message_type, split_message_type, Class, Header, Method, TransactionId, HEADER_LEN,
    MAGIC_COOKIE,
};
pub use integrity::{IntegrityAlgorithm, MESSAGE_INTEGRITY_LEN, MESSAGE_INTEGRITY_SHA256_LEN};
pub use message::Message;
pub use password_algorithm::{PasswordAlgorithm, PasswordAlgorithms};
pub use values::{Icmp, UnknownAttributes, MAX_TEXT_LEN, MAX_USERNAME_LEN};

/// IP protocol numbers for REQUESTED-TRANSPORT.
pub mod transport {
    /// UDP (17): the usual TURN relay.
    pub const UDP: u8 = 17;
    /// TCP (6): RFC 6062 TCP allocations.
    pub const TCP: u8 = 6;
}
