//! `Message`: a checked, zero-copy view of one STUN message, with typed
//! accessors for the attributes STUN and TURN use.
//!
//! Parsing checks the header, that the buffer is exactly one message, and
//! every attribute's length and padding. Attribute *values* are decoded
//! lazily by the accessors, which return `Ok(None)` when the attribute is
//! absent and `Err` when it is present but malformed. When an attribute
//! appears more than once, the first occurrence wins (except for the
//! accessors that return every occurrence, for attributes that may repeat).

use std::net::SocketAddr;

use crate::address::{decode_plain, decode_xor, AddressFamily};
use crate::attributes::{
    AttributeType, Attributes, RawAttribute, UnknownComprehensionRequired, Walker,
};
use crate::error::Error;
use crate::error_code::{
    decode_address_error_code, decode_error_code, AddressErrorCode, ErrorCode,
};
use crate::fingerprint::{self, FINGERPRINT_LEN};
use crate::header::{Class, Header, Method, TransactionId, HEADER_LEN};
use crate::integrity::{self, IntegrityAlgorithm, MESSAGE_INTEGRITY_LEN};
use crate::password_algorithm::{decode_password_algorithm, PasswordAlgorithm, PasswordAlgorithms};
use crate::values::{Icmp, UnknownAttributes, MAX_TEXT_LEN, MAX_USERNAME_LEN};
use crate::ChannelNumber;

/// A parsed STUN message borrowing the datagram (or stream frame) it came from.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    bytes: &'a [u8],
    header: Header,
    /// Value of the MESSAGE-INTEGRITY attribute that counts, and its offset.
    integrity: Option<(usize, &'a [u8])>,
    /// Value of the MESSAGE-INTEGRITY-SHA256 attribute that counts, and its offset.
    integrity_sha256: Option<(usize, &'a [u8])>,
    /// Value of FINGERPRINT and its offset.
    fingerprint: Option<(usize, &'a [u8])>,
}

impl<'a> Message<'a> {
    /// Parses `bytes`, which must be exactly one STUN message (a UDP datagram,
    /// or a frame cut from a stream with [`next_frame`](crate::next_frame)).
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, Error> {
        let header = Header::decode(bytes)?;
        let declared = HEADER_LEN + usize::from(header.length);
        if bytes.len() != declared {
            return Err(Error::LengthMismatch {
                declared,
                actual: bytes.len(),
            });
        }
        let mut msg = Message {
            bytes,
            header,
            integrity: None,
            integrity_sha256: None,
            fingerprint: None,
        };
        let mut walker = Walker::new(bytes);
        while let Some((attr, counts)) = walker.next_record()? {
            if !counts {
                continue;
            }
            let len = attr.value.len();
            let slot = match attr.attribute_type {
                AttributeType::MESSAGE_INTEGRITY => {
                    if len != MESSAGE_INTEGRITY_LEN {
                        return Err(Error::InvalidAttributeLength {
                            attribute: attr.attribute_type,
                            len,
                        });
                    }
                    &mut msg.integrity
                }
                AttributeType::MESSAGE_INTEGRITY_SHA256 => {
                    if !integrity::valid_sha256_len(len) {
                        return Err(Error::InvalidAttributeLength {
                            attribute: attr.attribute_type,
                            len,
                        });
                    }
                    &mut msg.integrity_sha256
                }
                AttributeType::FINGERPRINT => {
                    if len != FINGERPRINT_LEN {
                        return Err(Error::InvalidAttributeLength {
                            attribute: attr.attribute_type,
                            len,
                        });
                    }
                    &mut msg.fingerprint
                }
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some((attr.offset, attr.value));
            }
        }
        Ok(msg)
    }

    /// The whole message as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The message class (request, indication, success or error response).
    pub fn class(&self) -> Class {
        self.header.class
    }

    /// The method (Binding, Allocate, …).
    pub fn method(&self) -> Method {
        self.header.method
    }

    /// The transaction ID.
    pub fn transaction_id(&self) -> TransactionId {
        self.header.transaction_id
    }

    /// The attributes that count, in order (attributes that RFC 8489 says to
    /// ignore because they follow MESSAGE-INTEGRITY(-SHA256) are skipped).
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(self.bytes)
    }

    /// The first counting attribute of type `t`.
    pub fn attribute(&self, t: AttributeType) -> Option<RawAttribute<'a>> {
        self.attributes().find(|a| a.attribute_type == t)
    }

    /// The value of the first counting attribute of type `t`.
    pub fn attribute_value(&self, t: AttributeType) -> Option<&'a [u8]> {
        self.attribute(t).map(|a| a.value)
    }

    /// Every counting attribute of type `t`, for attributes that may repeat.
    pub fn attributes_of(&self, t: AttributeType) -> impl Iterator<Item = RawAttribute<'a>> + 'a {
        self.attributes().filter(move |a| a.attribute_type == t)
    }

    /// Comprehension-required attributes (type < 0x8000) for which
    /// `understood` returns false, each listed once, at most
    /// [`MAX_UNKNOWN_LISTED`](crate::MAX_UNKNOWN_LISTED) of them: the content of
    /// UNKNOWN-ATTRIBUTES in a 420 response. Linear in the message size.
    pub fn unknown_comprehension_required_with<F>(
        &self,
        understood: F,
    ) -> UnknownComprehensionRequired<'a, F>
    where
        F: Fn(AttributeType) -> bool,
    {
        UnknownComprehensionRequired::new(self.attributes(), understood)
    }

    /// [`unknown_comprehension_required_with`](Self::unknown_comprehension_required_with)
    /// using the attributes this crate knows ([`AttributeType::is_known`]).
    pub fn unknown_comprehension_required(
        &self,
    ) -> UnknownComprehensionRequired<'a, fn(AttributeType) -> bool> {
        self.unknown_comprehension_required_with(
            AttributeType::is_known as fn(AttributeType) -> bool,
        )
    }

    // ---- address attributes ----

    fn xor_address(&self, t: AttributeType) -> Result<Option<SocketAddr>, Error> {
        self.attribute_value(t)
            .map(|v| decode_xor(v, &self.header.transaction_id, t))
            .transpose()
    }

    fn xor_addresses(
        &self,
        t: AttributeType,
    ) -> impl Iterator<Item = Result<SocketAddr, Error>> + 'a {
        let tid = self.header.transaction_id;
        self.attributes_of(t)
            .map(move |a| decode_xor(a.value, &tid, t))
    }

    /// XOR-MAPPED-ADDRESS: the client's reflexive transport address.
    pub fn xor_mapped_address(&self) -> Result<Option<SocketAddr>, Error> {
        self.xor_address(AttributeType::XOR_MAPPED_ADDRESS)
    }

    /// The first XOR-PEER-ADDRESS.
    pub fn xor_peer_address(&self) -> Result<Option<SocketAddr>, Error> {
        self.xor_address(AttributeType::XOR_PEER_ADDRESS)
    }

    /// Every XOR-PEER-ADDRESS (CreatePermission may carry several).
    pub fn xor_peer_addresses(&self) -> impl Iterator<Item = Result<SocketAddr, Error>> + 'a {
        self.xor_addresses(AttributeType::XOR_PEER_ADDRESS)
    }

    /// The first XOR-RELAYED-ADDRESS.
    pub fn xor_relayed_address(&self) -> Result<Option<SocketAddr>, Error> {
        self.xor_address(AttributeType::XOR_RELAYED_ADDRESS)
    }

    /// Every XOR-RELAYED-ADDRESS (a dual-stack Allocate response carries two).
    pub fn xor_relayed_addresses(&self) -> impl Iterator<Item = Result<SocketAddr, Error>> + 'a {
        self.xor_addresses(AttributeType::XOR_RELAYED_ADDRESS)
    }

    /// MAPPED-ADDRESS (legacy, not xor'ed). Parsed only; Switchboard never sends it.
    pub fn mapped_address(&self) -> Result<Option<SocketAddr>, Error> {
        self.attribute_value(AttributeType::MAPPED_ADDRESS)
            .map(|v| decode_plain(v, AttributeType::MAPPED_ADDRESS))
            .transpose()
    }

    // ---- credentials ----

    fn text(&self, t: AttributeType, max: usize) -> Result<Option<&'a str>, Error> {
        self.attribute_value(t)
            .map(|v| {
                if v.len() > max {
                    return Err(Error::ValueTooLong {
                        attribute: t,
                        len: v.len(),
                        max,
                    });
                }
                core::str::from_utf8(v).map_err(|_| Error::InvalidUtf8(t))
            })
            .transpose()
    }

    /// USERNAME (UTF-8, at most 513 bytes; no SASLprep/OpaqueString applied).
    pub fn username(&self) -> Result<Option<&'a str>, Error> {
        self.text(AttributeType::USERNAME, MAX_USERNAME_LEN)
    }

    /// USERHASH: 32 bytes, SHA-256 of `username:realm` (see [`userhash`](crate::userhash)).
    pub fn userhash(&self) -> Result<Option<&'a [u8; 32]>, Error> {
        self.fixed(AttributeType::USERHASH)
    }

    /// REALM (UTF-8, at most 763 bytes).
    pub fn realm(&self) -> Result<Option<&'a str>, Error> {
        self.text(AttributeType::REALM, MAX_TEXT_LEN)
    }

    /// NONCE (UTF-8, at most 763 bytes).
    pub fn nonce(&self) -> Result<Option<&'a str>, Error> {
        self.text(AttributeType::NONCE, MAX_TEXT_LEN)
    }

    /// PASSWORD-ALGORITHMS: the algorithms a server offers, checked as a whole.
    pub fn password_algorithms(&self) -> Result<Option<PasswordAlgorithms<'a>>, Error> {
        self.attribute_value(AttributeType::PASSWORD_ALGORITHMS)
            .map(PasswordAlgorithms::decode)
            .transpose()
    }

    /// PASSWORD-ALGORITHM: the algorithm the client chose.
    pub fn password_algorithm(&self) -> Result<Option<PasswordAlgorithm<'a>>, Error> {
        self.attribute_value(AttributeType::PASSWORD_ALGORITHM)
            .map(decode_password_algorithm)
            .transpose()
    }

    /// SOFTWARE (UTF-8, at most 763 bytes).
    pub fn software(&self) -> Result<Option<&'a str>, Error> {
        self.text(AttributeType::SOFTWARE, MAX_TEXT_LEN)
    }

    // ---- errors ----

    /// ERROR-CODE: code (300..=699) and reason phrase.
    pub fn error_code(&self) -> Result<Option<ErrorCode<'a>>, Error> {
        self.attribute_value(AttributeType::ERROR_CODE)
            .map(decode_error_code)
            .transpose()
    }

    /// ADDRESS-ERROR-CODE: the family that failed in a dual allocation, and why.
    pub fn address_error_code(&self) -> Result<Option<AddressErrorCode<'a>>, Error> {
        self.attribute_value(AttributeType::ADDRESS_ERROR_CODE)
            .map(decode_address_error_code)
            .transpose()
    }

    /// UNKNOWN-ATTRIBUTES: the types a 420 response lists.
    pub fn unknown_attributes(&self) -> Result<Option<UnknownAttributes<'a>>, Error> {
        self.attribute_value(AttributeType::UNKNOWN_ATTRIBUTES)
            .map(|v| {
                if v.len() % 2 != 0 {
                    return Err(Error::InvalidAttributeLength {
                        attribute: AttributeType::UNKNOWN_ATTRIBUTES,
                        len: v.len(),
                    });
                }
                Ok(UnknownAttributes::new(v))
            })
            .transpose()
    }

    // ---- TURN ----

    fn fixed<const N: usize>(&self, t: AttributeType) -> Result<Option<&'a [u8; N]>, Error> {
        self.attribute_value(t)
            .map(|v| {
                <&[u8; N]>::try_from(v).map_err(|_| Error::InvalidAttributeLength {
                    attribute: t,
                    len: v.len(),
                })
            })
            .transpose()
    }

    fn u32_value(&self, t: AttributeType) -> Result<Option<u32>, Error> {
        Ok(self.fixed::<4>(t)?.map(|b| u32::from_be_bytes(*b)))
    }

    /// LIFETIME in seconds (0 in a Refresh deletes the allocation).
    pub fn lifetime(&self) -> Result<Option<u32>, Error> {
        self.u32_value(AttributeType::LIFETIME)
    }

    /// REQUESTED-TRANSPORT: the IP protocol number (17 = UDP, 6 = TCP).
    pub fn requested_transport(&self) -> Result<Option<u8>, Error> {
        Ok(self
            .fixed::<4>(AttributeType::REQUESTED_TRANSPORT)?
            .map(|b| b[0]))
    }

    fn family(&self, t: AttributeType) -> Result<Option<AddressFamily>, Error> {
        self.fixed::<4>(t)?
            .map(|b| AddressFamily::from_value(b[0]))
            .transpose()
    }

    /// REQUESTED-ADDRESS-FAMILY: the family of relay address wanted.
    pub fn requested_address_family(&self) -> Result<Option<AddressFamily>, Error> {
        self.family(AttributeType::REQUESTED_ADDRESS_FAMILY)
    }

    /// ADDITIONAL-ADDRESS-FAMILY: asks for a second relay address (RFC 8656
    /// allows only IPv6 here; this accessor reports what was sent).
    pub fn additional_address_family(&self) -> Result<Option<AddressFamily>, Error> {
        self.family(AttributeType::ADDITIONAL_ADDRESS_FAMILY)
    }

    /// EVEN-PORT: `Some(reserve_next)` if present, where `reserve_next` is the R bit.
    pub fn even_port(&self) -> Result<Option<bool>, Error> {
        Ok(self
            .fixed::<1>(AttributeType::EVEN_PORT)?
            .map(|b| b[0] & 0x80 != 0))
    }

    /// RESERVATION-TOKEN: 8 bytes naming a reserved relay port.
    pub fn reservation_token(&self) -> Result<Option<&'a [u8; 8]>, Error> {
        self.fixed(AttributeType::RESERVATION_TOKEN)
    }

    /// DONT-FRAGMENT: whether it is present (its value must be empty).
    pub fn dont_fragment(&self) -> Result<bool, Error> {
        Ok(self.fixed::<0>(AttributeType::DONT_FRAGMENT)?.is_some())
    }

    /// DATA: the payload of a Send or Data indication, borrowed.
    pub fn data(&self) -> Option<&'a [u8]> {
        self.attribute_value(AttributeType::DATA)
    }

    /// CHANNEL-NUMBER, checked to be in 0x4000..=0x4FFF.
    pub fn channel_number(&self) -> Result<Option<ChannelNumber>, Error> {
        self.fixed::<4>(AttributeType::CHANNEL_NUMBER)?
            .map(|b| ChannelNumber::new(u16::from_be_bytes([b[0], b[1]])))
            .transpose()
    }

    /// CONNECTION-ID (RFC 6062).
    pub fn connection_id(&self) -> Result<Option<u32>, Error> {
        self.u32_value(AttributeType::CONNECTION_ID)
    }

    /// ICMP: an ICMP error relayed in a Data indication.
    pub fn icmp(&self) -> Result<Option<Icmp>, Error> {
        self.attribute_value(AttributeType::ICMP)
            .map(|v| {
                Icmp::decode(v).ok_or(Error::InvalidAttributeLength {
                    attribute: AttributeType::ICMP,
                    len: v.len(),
                })
            })
            .transpose()
    }

    // ---- integrity and fingerprint ----

    /// The MESSAGE-INTEGRITY value (HMAC-SHA1), if present.
    pub fn message_integrity(&self) -> Option<&'a [u8]> {
        self.integrity.map(|(_, v)| v)
    }

    /// The MESSAGE-INTEGRITY-SHA256 value (16..=32 bytes), if present.
    pub fn message_integrity_sha256(&self) -> Option<&'a [u8]> {
        self.integrity_sha256.map(|(_, v)| v)
    }

    /// The FINGERPRINT value, if present.
    pub fn fingerprint(&self) -> Option<u32> {
        let (_, v) = self.fingerprint?;
        <[u8; 4]>::try_from(v).ok().map(u32::from_be_bytes)
    }

    /// Verifies the message's integrity with `key` (the short-term password,
    /// or a long-term key from [`LongTermKey`](crate::LongTermKey)).
    /// Uses MESSAGE-INTEGRITY-SHA256 when present (RFC 8489 §9:
    /// with both present, the SHA-256 one is used), else MESSAGE-INTEGRITY.
    /// Returns which algorithm was checked, so a response can use the same.
    pub fn verify_integrity(&self, key: &[u8]) -> Result<IntegrityAlgorithm, Error> {
        if self.integrity_sha256.is_some() {
            self.verify_integrity_sha256(key)
                .map(|()| IntegrityAlgorithm::Sha256)
        } else {
            self.verify_integrity_sha1(key)
                .map(|()| IntegrityAlgorithm::Sha1)
        }
    }

    /// Verifies MESSAGE-INTEGRITY (HMAC-SHA1) only.
    pub fn verify_integrity_sha1(&self, key: &[u8]) -> Result<(), Error> {
        let (offset, value) = self.integrity.ok_or(Error::MissingIntegrity)?;
        let computed = integrity::hmac_sha1(self.bytes, offset, key)?;
        integrity::check(value, &computed)
    }

    /// Verifies MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, possibly truncated) only.
    pub fn verify_integrity_sha256(&self, key: &[u8]) -> Result<(), Error> {
        let (offset, value) = self.integrity_sha256.ok_or(Error::MissingIntegrity)?;
        let computed = integrity::hmac_sha256(self.bytes, offset, value.len(), key)?;
        integrity::check(value, &computed)
    }

    /// Verifies FINGERPRINT (CRC-32 xor 0x5354554E).
    pub fn verify_fingerprint(&self) -> Result<(), Error> {
        let (offset, value) = self.fingerprint.ok_or(Error::MissingFingerprint)?;
        let preceding = self
            .bytes
            .get(..offset)
            .ok_or(Error::AttributeOverrun { offset })?;
        fingerprint::check(preceding, value)
    }
}
