//! `MessageBuilder`: writes a STUN message into a caller-owned `Vec<u8>`
//! (reuse one per worker: no allocation once it has grown), attribute by
//! attribute, then optionally MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and
//! FINGERPRINT, in the order RFC 8489 requires.
//!
//! Attribute methods chain and never fail on the spot: the first error
//! (value too long, wrong order, …) is remembered and returned by
//! [`MessageBuilder::finish`], which then removes the partial message from the
//! buffer. A builder dropped without `finish` also removes its bytes, so a
//! half-built message can never be sent by mistake.

use std::net::SocketAddr;

use crate::address::{encode_plain, xor, AddressFamily};
use crate::attributes::{padded_len, AttributeType};
use crate::channel_data::ChannelNumber;
use crate::error::Error;
use crate::error_code::{check_code, MAX_REASON_LEN};
use crate::fingerprint::{self, FINGERPRINT_LEN};
use crate::header::{Class, Header, Method, TransactionId, HEADER_LEN};
use crate::integrity::{self, MESSAGE_INTEGRITY_LEN, MESSAGE_INTEGRITY_SHA256_LEN};
use crate::password_algorithm::PasswordAlgorithm;
use crate::values::{Icmp, MAX_TEXT_LEN, MAX_USERNAME_LEN};

/// Largest attributes section: the 16-bit length, rounded down to a multiple of 4.
const MAX_BODY_LEN: usize = 0xFFFC;

/// Which attributes may still be added (RFC 8489 §14.5–§14.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    AfterIntegrity,
    AfterIntegritySha256,
    AfterFingerprint,
}

/// Builds one STUN message into a borrowed `Vec<u8>`.
#[derive(Debug)]
pub struct MessageBuilder<'b> {
    buf: &'b mut Vec<u8>,
    start: usize,
    transaction_id: TransactionId,
    phase: Phase,
    error: Option<Error>,
    finished: bool,
}

impl<'b> MessageBuilder<'b> {
    /// Clears `buf` and starts a message in it.
    pub fn new(
        buf: &'b mut Vec<u8>,
        class: Class,
        method: Method,
        transaction_id: TransactionId,
    ) -> MessageBuilder<'b> {
        buf.clear();
        MessageBuilder::append_to(buf, class, method, transaction_id)
    }

    /// Starts a message at the end of `buf`, keeping what is there (for
    /// batching several messages into one stream write).
    pub fn append_to(
        buf: &'b mut Vec<u8>,
        class: Class,
        method: Method,
        transaction_id: TransactionId,
    ) -> MessageBuilder<'b> {
        let start = buf.len();
        let header = Header {
            class,
            method,
            length: 0,
            transaction_id,
        };
        buf.extend_from_slice(&header.encode());
        MessageBuilder {
            buf,
            start,
            transaction_id,
            phase: Phase::Open,
            error: None,
            finished: false,
        }
    }

    /// The transaction ID, for XOR-…-ADDRESS encoding and the caller's bookkeeping.
    pub fn transaction_id(&self) -> TransactionId {
        self.transaction_id
    }

    /// The first error recorded so far, if any.
    pub fn error(&self) -> Option<Error> {
        self.error
    }

    fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Checks ordering rules for `t`, and moves the phase on.
    fn admit(&mut self, t: AttributeType) -> bool {
        let next = match (self.phase, t) {
            (Phase::AfterFingerprint, _) => None,
            (_, AttributeType::FINGERPRINT) => Some(Phase::AfterFingerprint),
            (Phase::Open | Phase::AfterIntegrity, AttributeType::MESSAGE_INTEGRITY_SHA256) => {
                Some(Phase::AfterIntegritySha256)
            }
            (Phase::Open, AttributeType::MESSAGE_INTEGRITY) => Some(Phase::AfterIntegrity),
            (Phase::Open, _) => Some(Phase::Open),
            _ => None,
        };
        match next {
            Some(p) => {
                self.phase = p;
                true
            }
            None => {
                self.fail(Error::AttributeOrder(t));
                false
            }
        }
    }

    /// Appends an attribute of `len` value bytes produced by `write`, with
    /// header and zero padding. The header's message length is updated
    /// *before* `write` runs, so it already counts this attribute (which
    /// FINGERPRINT relies on).
    fn put(&mut self, t: AttributeType, len: usize, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        let body = self.buf.len() - self.start - HEADER_LEN;
        let new_body = body.saturating_add(4).saturating_add(padded_len(len));
        let (Ok(len16), Ok(new_body16)) = (u16::try_from(len), u16::try_from(new_body)) else {
            self.fail(Error::MessageTooLong);
            return self;
        };
        if new_body > MAX_BODY_LEN {
            self.fail(Error::MessageTooLong);
            return self;
        }
        if !self.admit(t) {
            return self;
        }
        if let Some(l) = self.buf.get_mut(self.start + 2..self.start + 4) {
            l.copy_from_slice(&new_body16.to_be_bytes());
        }
        self.buf.extend_from_slice(&t.0.to_be_bytes());
        self.buf.extend_from_slice(&len16.to_be_bytes());
        let before = self.buf.len();
        write(self.buf);
        debug_assert_eq!(self.buf.len() - before, len);
        self.buf.resize(before + padded_len(len), 0);
        self
    }

    fn put_bytes(&mut self, t: AttributeType, value: &[u8]) -> &mut Self {
        self.put(t, value.len(), |b| b.extend_from_slice(value))
    }

    fn put_text(&mut self, t: AttributeType, text: &str, max: usize) -> &mut Self {
        if text.len() > max {
            self.fail(Error::ValueTooLong {
                attribute: t,
                len: text.len(),
                max,
            });
            return self;
        }
        self.put_bytes(t, text.as_bytes())
    }

    /// Adds any attribute from its raw value. MESSAGE-INTEGRITY(-SHA256) and
    /// FINGERPRINT must be added with their own methods instead.
    pub fn attribute(&mut self, t: AttributeType, value: &[u8]) -> &mut Self {
        if matches!(
            t,
            AttributeType::MESSAGE_INTEGRITY
                | AttributeType::MESSAGE_INTEGRITY_SHA256
                | AttributeType::FINGERPRINT
        ) {
            self.fail(Error::AttributeOrder(t));
            return self;
        }
        self.put_bytes(t, value)
    }

    fn put_xor_address(&mut self, t: AttributeType, addr: SocketAddr) -> &mut Self {
        let x = xor(addr, &self.transaction_id);
        let len = crate::address::encoded_len(AddressFamily::of(&addr.ip()));
        self.put(t, len, |b| encode_plain(x, b))
    }

    /// XOR-MAPPED-ADDRESS: the client's reflexive transport address.
    pub fn xor_mapped_address(&mut self, addr: SocketAddr) -> &mut Self {
        self.put_xor_address(AttributeType::XOR_MAPPED_ADDRESS, addr)
    }

    /// XOR-PEER-ADDRESS (may be added several times).
    pub fn xor_peer_address(&mut self, addr: SocketAddr) -> &mut Self {
        self.put_xor_address(AttributeType::XOR_PEER_ADDRESS, addr)
    }

    /// XOR-RELAYED-ADDRESS (twice in a dual-stack Allocate response).
    pub fn xor_relayed_address(&mut self, addr: SocketAddr) -> &mut Self {
        self.put_xor_address(AttributeType::XOR_RELAYED_ADDRESS, addr)
    }

    /// USERNAME (at most 513 bytes).
    pub fn username(&mut self, username: &str) -> &mut Self {
        self.put_text(AttributeType::USERNAME, username, MAX_USERNAME_LEN)
    }

    /// USERHASH (see [`userhash`](crate::userhash)).
    pub fn userhash(&mut self, hash: &[u8; 32]) -> &mut Self {
        self.put_bytes(AttributeType::USERHASH, hash)
    }

    /// REALM (at most 763 bytes).
    pub fn realm(&mut self, realm: &str) -> &mut Self {
        self.put_text(AttributeType::REALM, realm, MAX_TEXT_LEN)
    }

    /// NONCE (at most 763 bytes).
    pub fn nonce(&mut self, nonce: &str) -> &mut Self {
        self.put_text(AttributeType::NONCE, nonce, MAX_TEXT_LEN)
    }

    /// SOFTWARE (at most 763 bytes). Switchboard leaves it off by default.
    pub fn software(&mut self, software: &str) -> &mut Self {
        self.put_text(AttributeType::SOFTWARE, software, MAX_TEXT_LEN)
    }

    fn write_algorithm(b: &mut Vec<u8>, a: &PasswordAlgorithm<'_>) {
        b.extend_from_slice(&a.algorithm.to_be_bytes());
        // Length checked by `check_algorithm` before `put`.
        let plen = u16::try_from(a.parameters.len()).unwrap_or(u16::MAX);
        b.extend_from_slice(&plen.to_be_bytes());
        b.extend_from_slice(a.parameters);
        b.resize(
            b.len() + padded_len(a.parameters.len()) - a.parameters.len(),
            0,
        );
    }

    fn check_algorithm(&mut self, t: AttributeType, a: &PasswordAlgorithm<'_>) -> bool {
        if a.parameters.len() > usize::from(u16::MAX) {
            self.fail(Error::InvalidAttributeLength {
                attribute: t,
                len: a.parameters.len(),
            });
            return false;
        }
        true
    }

    /// PASSWORD-ALGORITHMS: the algorithms offered, in order of preference.
    pub fn password_algorithms(&mut self, algorithms: &[PasswordAlgorithm<'_>]) -> &mut Self {
        let t = AttributeType::PASSWORD_ALGORITHMS;
        if algorithms.is_empty() {
            self.fail(Error::InvalidAttributeLength {
                attribute: t,
                len: 0,
            });
            return self;
        }
        for a in algorithms {
            if !self.check_algorithm(t, a) {
                return self;
            }
        }
        let len = algorithms.iter().map(PasswordAlgorithm::encoded_len).sum();
        self.put(t, len, |b| {
            algorithms.iter().for_each(|a| Self::write_algorithm(b, a))
        })
    }

    /// PASSWORD-ALGORITHM: the algorithm chosen.
    pub fn password_algorithm(&mut self, algorithm: PasswordAlgorithm<'_>) -> &mut Self {
        let t = AttributeType::PASSWORD_ALGORITHM;
        if !self.check_algorithm(t, &algorithm) {
            return self;
        }
        self.put(t, algorithm.encoded_len(), |b| {
            Self::write_algorithm(b, &algorithm)
        })
    }

    fn code_and_reason(
        &mut self,
        t: AttributeType,
        family: u8,
        code: u16,
        reason: &str,
    ) -> &mut Self {
        let (class, number) = match check_code(code) {
            Ok(cn) => cn,
            Err(e) => {
                self.fail(e);
                return self;
            }
        };
        if reason.len() > MAX_REASON_LEN {
            self.fail(Error::ValueTooLong {
                attribute: t,
                len: reason.len(),
                max: MAX_REASON_LEN,
            });
            return self;
        }
        self.put(t, 4 + reason.len(), |b| {
            b.extend_from_slice(&[family, 0, class, number]);
            b.extend_from_slice(reason.as_bytes());
        })
    }

    /// ERROR-CODE with `code` in 300..=699 and a reason phrase
    /// (see [`default_reason`](crate::default_reason)).
    pub fn error_code(&mut self, code: u16, reason: &str) -> &mut Self {
        self.code_and_reason(AttributeType::ERROR_CODE, 0, code, reason)
    }

    /// ADDRESS-ERROR-CODE: which family of a dual allocation failed, and why.
    pub fn address_error_code(
        &mut self,
        family: AddressFamily,
        code: u16,
        reason: &str,
    ) -> &mut Self {
        self.code_and_reason(
            AttributeType::ADDRESS_ERROR_CODE,
            family.value(),
            code,
            reason,
        )
    }

    /// UNKNOWN-ATTRIBUTES, listing the types that caused a 420.
    pub fn unknown_attributes(&mut self, types: &[AttributeType]) -> &mut Self {
        self.put(
            AttributeType::UNKNOWN_ATTRIBUTES,
            types.len().saturating_mul(2),
            |b| {
                for t in types {
                    b.extend_from_slice(&t.0.to_be_bytes());
                }
            },
        )
    }

    /// LIFETIME in seconds.
    pub fn lifetime(&mut self, seconds: u32) -> &mut Self {
        self.put_bytes(AttributeType::LIFETIME, &seconds.to_be_bytes())
    }

    /// REQUESTED-TRANSPORT with an IP protocol number (17 = UDP, 6 = TCP).
    pub fn requested_transport(&mut self, protocol: u8) -> &mut Self {
        self.put_bytes(AttributeType::REQUESTED_TRANSPORT, &[protocol, 0, 0, 0])
    }

    /// REQUESTED-ADDRESS-FAMILY.
    pub fn requested_address_family(&mut self, family: AddressFamily) -> &mut Self {
        self.put_bytes(
            AttributeType::REQUESTED_ADDRESS_FAMILY,
            &[family.value(), 0, 0, 0],
        )
    }

    /// ADDITIONAL-ADDRESS-FAMILY (RFC 8656 allows only IPv6).
    pub fn additional_address_family(&mut self, family: AddressFamily) -> &mut Self {
        self.put_bytes(
            AttributeType::ADDITIONAL_ADDRESS_FAMILY,
            &[family.value(), 0, 0, 0],
        )
    }

    /// EVEN-PORT; `reserve_next` sets the R bit (reserve the next port too).
    pub fn even_port(&mut self, reserve_next: bool) -> &mut Self {
        self.put_bytes(
            AttributeType::EVEN_PORT,
            &[if reserve_next { 0x80 } else { 0 }],
        )
    }

    /// RESERVATION-TOKEN.
    pub fn reservation_token(&mut self, token: &[u8; 8]) -> &mut Self {
        self.put_bytes(AttributeType::RESERVATION_TOKEN, token)
    }

    /// DONT-FRAGMENT (no value).
    pub fn dont_fragment(&mut self) -> &mut Self {
        self.put_bytes(AttributeType::DONT_FRAGMENT, &[])
    }

    /// DATA: the payload of a Send or Data indication.
    pub fn data(&mut self, data: &[u8]) -> &mut Self {
        self.put_bytes(AttributeType::DATA, data)
    }

    /// CHANNEL-NUMBER.
    pub fn channel_number(&mut self, channel: ChannelNumber) -> &mut Self {
        let v = channel.value().to_be_bytes();
        self.put_bytes(AttributeType::CHANNEL_NUMBER, &[v[0], v[1], 0, 0])
    }

    /// CONNECTION-ID (RFC 6062).
    pub fn connection_id(&mut self, id: u32) -> &mut Self {
        self.put_bytes(AttributeType::CONNECTION_ID, &id.to_be_bytes())
    }

    /// ICMP (in Data indications).
    pub fn icmp(&mut self, icmp: Icmp) -> &mut Self {
        self.put_bytes(AttributeType::ICMP, &icmp.encode())
    }

    /// Appends MESSAGE-INTEGRITY: HMAC-SHA1 with `key` over everything so far.
    /// Only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT may follow.
    pub fn message_integrity(&mut self, key: &[u8]) -> &mut Self {
        let t = AttributeType::MESSAGE_INTEGRITY;
        let offset = self.buf.len() - self.start;
        let mac =
            match integrity::hmac_sha1(self.buf.get(self.start..).unwrap_or_default(), offset, key)
            {
                Ok(m) => m,
                Err(e) => {
                    self.fail(e);
                    return self;
                }
            };
        self.put(t, MESSAGE_INTEGRITY_LEN, |b| b.extend_from_slice(&mac))
    }

    /// Appends MESSAGE-INTEGRITY-SHA256 (full 32 bytes) with `key`.
    /// Only FINGERPRINT may follow.
    pub fn message_integrity_sha256(&mut self, key: &[u8]) -> &mut Self {
        let t = AttributeType::MESSAGE_INTEGRITY_SHA256;
        let offset = self.buf.len() - self.start;
        let message = self.buf.get(self.start..).unwrap_or_default();
        let mac = match integrity::hmac_sha256(message, offset, MESSAGE_INTEGRITY_SHA256_LEN, key) {
            Ok(m) => m,
            Err(e) => {
                self.fail(e);
                return self;
            }
        };
        self.put(t, MESSAGE_INTEGRITY_SHA256_LEN, |b| {
            b.extend_from_slice(&mac)
        })
    }

    /// Appends FINGERPRINT; nothing may follow.
    pub fn fingerprint(&mut self) -> &mut Self {
        let start = self.start;
        self.put(AttributeType::FINGERPRINT, FINGERPRINT_LEN, |b| {
            // `put` has already set the header length to count FINGERPRINT;
            // the CRC covers everything before the attribute's own header.
            let crc = fingerprint::compute(b.get(start..b.len() - 4).unwrap_or_default());
            b.extend_from_slice(&crc.to_be_bytes());
        })
    }

    /// Completes the message. Returns its length (the message is the last that
    /// many bytes of the buffer), or the first error recorded, in which case
    /// the partial message is removed from the buffer.
    pub fn finish(mut self) -> Result<usize, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.finished = true;
        Ok(self.buf.len() - self.start)
    }
}

impl Drop for MessageBuilder<'_> {
    /// Removes an unfinished or failed message from the buffer.
    fn drop(&mut self) {
        if !self.finished {
            self.buf.truncate(self.start);
        }
    }
}
