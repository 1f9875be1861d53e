//! MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) and
//! MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, §14.6).
//!
//! The HMAC covers the message up to (not including) the integrity attribute,
//! with the header's length field rewritten as if the integrity attribute
//! were the last one. The message buffer is never modified: the adjusted
//! header is fed to the HMAC separately. Comparison is constant-time.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::Error;
use crate::header::HEADER_LEN;

/// Length of the MESSAGE-INTEGRITY value (HMAC-SHA1).
pub const MESSAGE_INTEGRITY_LEN: usize = 20;
/// Full length of the MESSAGE-INTEGRITY-SHA256 value; RFC 8489 §14.6 allows
/// truncation to 16..=32 bytes in multiples of 4, which verification accepts.
pub const MESSAGE_INTEGRITY_SHA256_LEN: usize = 32;

/// Which HMAC protected a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegrityAlgorithm {
    /// MESSAGE-INTEGRITY, HMAC-SHA1.
    Sha1,
    /// MESSAGE-INTEGRITY-SHA256, HMAC-SHA256.
    Sha256,
}

/// True if `len` is an allowed MESSAGE-INTEGRITY-SHA256 value length.
pub(crate) const fn valid_sha256_len(len: usize) -> bool {
    len >= 16 && len <= 32 && len & 3 == 0
}

/// The 20-byte header of `message` with its length field set so the message
/// would end right after an attribute of `value_len` bytes at `offset`.
fn adjusted_header(
    message: &[u8],
    offset: usize,
    value_len: usize,
) -> Result<[u8; HEADER_LEN], Error> {
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(message.get(..HEADER_LEN).ok_or(Error::TooShort {
        needed: HEADER_LEN,
        available: message.len(),
    })?);
    let len = offset
        .checked_sub(HEADER_LEN)
        .map(|l| l + 4 + value_len)
        .and_then(|l| u16::try_from(l).ok())
        .ok_or(Error::MessageTooLong)?;
    header[2..4].copy_from_slice(&len.to_be_bytes());
    Ok(header)
}

/// HMAC-SHA1 over `message[..offset]` with the adjusted header: the value a
/// MESSAGE-INTEGRITY attribute at `offset` must carry.
pub(crate) fn hmac_sha1(message: &[u8], offset: usize, key: &[u8]) -> Result<[u8; 20], Error> {
    let header = adjusted_header(message, offset, MESSAGE_INTEGRITY_LEN)?;
    let body = message
        .get(HEADER_LEN..offset)
        .ok_or(Error::AttributeOverrun { offset })?;
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).map_err(|_| Error::InvalidKey)?;
    mac.update(&header);
    mac.update(body);
    Ok(mac.finalize().into_bytes().into())
}

/// HMAC-SHA256 over `message[..offset]` with the header adjusted for a
/// MESSAGE-INTEGRITY-SHA256 value of `value_len` bytes at `offset`.
pub(crate) fn hmac_sha256(
    message: &[u8],
    offset: usize,
    value_len: usize,
    key: &[u8],
) -> Result<[u8; 32], Error> {
    let header = adjusted_header(message, offset, value_len)?;
    let body = message
        .get(HEADER_LEN..offset)
        .ok_or(Error::AttributeOverrun { offset })?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| Error::InvalidKey)?;
    mac.update(&header);
    mac.update(body);
    Ok(mac.finalize().into_bytes().into())
}

/// Constant-time comparison of a received MAC with (a prefix of) the computed one.
pub(crate) fn check(received: &[u8], computed: &[u8]) -> Result<(), Error> {
    match computed.get(..received.len()) {
        Some(c) if bool::from(c.ct_eq(received)) => Ok(()),
        _ => Err(Error::IntegrityMismatch),
    }
}
