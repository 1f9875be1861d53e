//! STUN attribute types and the walk over a message's attribute section
//! (RFC 8489 §14): type-length-value records, each value padded to a
//! multiple of 4 bytes, with the rules about what follows
//! MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT.

use core::fmt;

use crate::error::Error;
use crate::header::HEADER_LEN;

/// A 16-bit STUN attribute type. Types below 0x8000 are
/// comprehension-required: an agent that does not understand one must reject
/// a request with 420 (Unknown Attribute).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributeType(pub u16);

macro_rules! attribute_types {
    ($($(#[$doc:meta])* $name:ident = $value:expr, $text:expr;)*) => {
        impl AttributeType {
            $($(#[$doc])* pub const $name: AttributeType = AttributeType($value);)*

            /// The RFC name of an attribute this crate knows, for logs.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

attribute_types! {
    /// MAPPED-ADDRESS (RFC 8489 §14.1): plain reflexive address, legacy; parsed only.
    MAPPED_ADDRESS = 0x0001, "MAPPED-ADDRESS";
    /// USERNAME (RFC 8489 §14.3): the user name, UTF-8, at most 513 bytes.
    USERNAME = 0x0006, "USERNAME";
    /// MESSAGE-INTEGRITY (RFC 8489 §14.5): HMAC-SHA1 over the message.
    MESSAGE_INTEGRITY = 0x0008, "MESSAGE-INTEGRITY";
    /// ERROR-CODE (RFC 8489 §14.8): class, number and reason phrase.
    ERROR_CODE = 0x0009, "ERROR-CODE";
    /// UNKNOWN-ATTRIBUTES (RFC 8489 §14.9): the types that caused a 420.
    UNKNOWN_ATTRIBUTES = 0x000A, "UNKNOWN-ATTRIBUTES";
    /// CHANNEL-NUMBER (RFC 8656 §18.1): the channel of a ChannelBind.
    CHANNEL_NUMBER = 0x000C, "CHANNEL-NUMBER";
    /// LIFETIME (RFC 8656 §18.2): requested/granted allocation lifetime, seconds.
    LIFETIME = 0x000D, "LIFETIME";
    /// XOR-PEER-ADDRESS (RFC 8656 §18.3): a peer's address; may repeat.
    XOR_PEER_ADDRESS = 0x0012, "XOR-PEER-ADDRESS";
    /// DATA (RFC 8656 §18.4): the application payload of Send/Data indications.
    DATA = 0x0013, "DATA";
    /// REALM (RFC 8489 §14.9): the long-term credential realm.
    REALM = 0x0014, "REALM";
    /// NONCE (RFC 8489 §14.10): the server's nonce.
    NONCE = 0x0015, "NONCE";
    /// XOR-RELAYED-ADDRESS (RFC 8656 §18.5): the relayed transport address.
    XOR_RELAYED_ADDRESS = 0x0016, "XOR-RELAYED-ADDRESS";
    /// REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.6): IPv4 or IPv6 relay wanted.
    REQUESTED_ADDRESS_FAMILY = 0x0017, "REQUESTED-ADDRESS-FAMILY";
    /// EVEN-PORT (RFC 8656 §18.7): ask for an even relay port (R bit: reserve next).
    EVEN_PORT = 0x0018, "EVEN-PORT";
    /// REQUESTED-TRANSPORT (RFC 8656 §18.8): relay protocol (17 = UDP, 6 = TCP).
    REQUESTED_TRANSPORT = 0x0019, "REQUESTED-TRANSPORT";
    /// DONT-FRAGMENT (RFC 8656 §18.9): set DF on relayed packets; no value.
    DONT_FRAGMENT = 0x001A, "DONT-FRAGMENT";
    /// MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6): HMAC-SHA256 over the message.
    MESSAGE_INTEGRITY_SHA256 = 0x001C, "MESSAGE-INTEGRITY-SHA256";
    /// PASSWORD-ALGORITHM (RFC 8489 §14.12): the algorithm the client chose.
    PASSWORD_ALGORITHM = 0x001D, "PASSWORD-ALGORITHM";
    /// USERHASH (RFC 8489 §14.4): SHA-256 of `username:realm`, instead of USERNAME.
    USERHASH = 0x001E, "USERHASH";
    /// XOR-MAPPED-ADDRESS (RFC 8489 §14.2): the reflexive transport address.
    XOR_MAPPED_ADDRESS = 0x0020, "XOR-MAPPED-ADDRESS";
    /// RESERVATION-TOKEN (RFC 8656 §18.10): 8-byte token for a reserved relay port.
    RESERVATION_TOKEN = 0x0022, "RESERVATION-TOKEN";
    /// PRIORITY (RFC 8445): ICE candidate priority (known so it is not "unknown").
    PRIORITY = 0x0024, "PRIORITY";
    /// USE-CANDIDATE (RFC 8445): ICE nomination flag.
    USE_CANDIDATE = 0x0025, "USE-CANDIDATE";
    /// CONNECTION-ID (RFC 6062 §6.2.1): identifies a peer TCP connection.
    CONNECTION_ID = 0x002A, "CONNECTION-ID";
    /// ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.11): ask for a second (IPv6) relay.
    ADDITIONAL_ADDRESS_FAMILY = 0x8000, "ADDITIONAL-ADDRESS-FAMILY";
    /// ADDRESS-ERROR-CODE (RFC 8656 §18.12): why one family of a dual allocation failed.
    ADDRESS_ERROR_CODE = 0x8001, "ADDRESS-ERROR-CODE";
    /// PASSWORD-ALGORITHMS (RFC 8489 §14.11): algorithms the server offers.
    PASSWORD_ALGORITHMS = 0x8002, "PASSWORD-ALGORITHMS";
    /// ALTERNATE-DOMAIN (RFC 8489 §14.16).
    ALTERNATE_DOMAIN = 0x8003, "ALTERNATE-DOMAIN";
    /// ICMP (RFC 8656 §18.13): an ICMP error relayed in a Data indication.
    ICMP = 0x8004, "ICMP";
    /// SOFTWARE (RFC 8489 §14.14): agent description (off by default in Switchboard).
    SOFTWARE = 0x8022, "SOFTWARE";
    /// ALTERNATE-SERVER (RFC 8489 §14.15).
    ALTERNATE_SERVER = 0x8023, "ALTERNATE-SERVER";
    /// FINGERPRINT (RFC 8489 §14.7): CRC-32 of the message xor 0x5354554E; last.
    FINGERPRINT = 0x8028, "FINGERPRINT";
    /// ICE-CONTROLLED (RFC 8445).
    ICE_CONTROLLED = 0x8029, "ICE-CONTROLLED";
    /// ICE-CONTROLLING (RFC 8445).
    ICE_CONTROLLING = 0x802A, "ICE-CONTROLLING";
}

impl AttributeType {
    /// True for types 0x0000..=0x7FFF, which an agent must understand
    /// (RFC 8489 §14): unknown ones in a request call for a 420 response.
    pub const fn is_comprehension_required(self) -> bool {
        self.0 < 0x8000
    }

    /// True if this crate knows the attribute (has a name for it).
    pub const fn is_known(self) -> bool {
        self.name().is_some()
    }
}

impl fmt::Debug for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "AttributeType({:#06x})", self.0),
        }
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Rounds a value length up to the next multiple of 4 (attribute padding).
pub const fn padded_len(len: usize) -> usize {
    (len + 3) & !3
}

/// One attribute as it sits in the message: its type, its value (without
/// padding) and where its 4-byte header starts in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    /// The attribute type.
    pub attribute_type: AttributeType,
    /// The value bytes, padding excluded.
    pub value: &'a [u8],
    /// Offset of the attribute header from the start of the message.
    pub offset: usize,
}

/// Where the walker stands relative to the integrity attributes, which decide
/// whether later attributes count (RFC 8489 §14.5–§14.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing special seen yet: every attribute counts.
    Open,
    /// After MESSAGE-INTEGRITY: only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count.
    AfterIntegrity,
    /// After MESSAGE-INTEGRITY-SHA256: only FINGERPRINT counts.
    AfterIntegritySha256,
    /// After FINGERPRINT: nothing may follow.
    AfterFingerprint,
}

/// Walks every attribute record of a whole message (header included in
/// `message`), checking lengths and padding, and says for each whether it
/// counts or must be ignored because it follows MESSAGE-INTEGRITY(-SHA256).
#[derive(Debug, Clone)]
pub(crate) struct Walker<'a> {
    message: &'a [u8],
    pos: usize,
    phase: Phase,
}

impl<'a> Walker<'a> {
    /// Starts after the header. `message` must be exactly the message.
    pub(crate) fn new(message: &'a [u8]) -> Walker<'a> {
        Walker {
            message,
            pos: HEADER_LEN,
            phase: Phase::Open,
        }
    }

    /// Next record and whether it counts; `Ok(None)` at the end.
    pub(crate) fn next_record(&mut self) -> Result<Option<(RawAttribute<'a>, bool)>, Error> {
        let offset = self.pos;
        let rest = match self.message.get(offset..) {
            Some(r) if !r.is_empty() => r,
            _ => return Ok(None),
        };
        let overrun = Error::AttributeOverrun { offset };
        let (typ, len) = match rest {
            [t0, t1, l0, l1, ..] => (
                u16::from_be_bytes([*t0, *t1]),
                usize::from(u16::from_be_bytes([*l0, *l1])),
            ),
            _ => return Err(overrun),
        };
        let value = rest.get(4..4 + len).ok_or(overrun)?;
        let total = 4 + padded_len(len);
        if rest.len() < total {
            return Err(overrun);
        }
        if self.phase == Phase::AfterFingerprint {
            return Err(Error::AttributeAfterFingerprint);
        }
        self.pos = offset + total;
        let attribute_type = AttributeType(typ);
        let counts = match (self.phase, attribute_type) {
            (_, AttributeType::FINGERPRINT) => {
                self.phase = Phase::AfterFingerprint;
                true
            }
            (Phase::Open, AttributeType::MESSAGE_INTEGRITY) => {
                self.phase = Phase::AfterIntegrity;
                true
            }
            (Phase::Open | Phase::AfterIntegrity, AttributeType::MESSAGE_INTEGRITY_SHA256) => {
                self.phase = Phase::AfterIntegritySha256;
                true
            }
            (Phase::Open, _) => true,
            _ => false,
        };
        Ok(Some((
            RawAttribute {
                attribute_type,
                value,
                offset,
            },
            counts,
        )))
    }
}

/// Iterator over the attributes of a parsed [`Message`](crate::Message) that
/// count: those after MESSAGE-INTEGRITY(-SHA256) other than the ones RFC 8489
/// allows there are skipped, as the RFC says they must be ignored.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    walker: Walker<'a>,
}

impl<'a> Attributes<'a> {
    pub(crate) fn new(message: &'a [u8]) -> Attributes<'a> {
        Attributes {
            walker: Walker::new(message),
        }
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = RawAttribute<'a>;

    fn next(&mut self) -> Option<RawAttribute<'a>> {
        // The message was validated by `Message::parse`, so an error cannot
        // occur here; stop quietly if it somehow does.
        while let Ok(Some((attr, counts))) = self.walker.next_record() {
            if counts {
                return Some(attr);
            }
        }
        None
    }
}

/// Most distinct unknown attribute types reported for one message: enough
/// for any honest 420, and keeps hostile 64 KiB messages with thousands of
/// bogus attributes linear to scan and small to answer.
pub const MAX_UNKNOWN_LISTED: usize = 16;

/// Iterator over the distinct comprehension-required attribute types of a
/// message that the caller does not understand (see
/// [`Message::unknown_comprehension_required`](crate::Message::unknown_comprehension_required)).
#[derive(Debug, Clone)]
pub struct UnknownComprehensionRequired<'a, F> {
    attributes: Attributes<'a>,
    understood: F,
    listed: [AttributeType; MAX_UNKNOWN_LISTED],
    count: usize,
}

impl<'a, F: Fn(AttributeType) -> bool> UnknownComprehensionRequired<'a, F> {
    pub(crate) fn new(attributes: Attributes<'a>, understood: F) -> Self {
        UnknownComprehensionRequired {
            attributes,
            understood,
            listed: [AttributeType(0); MAX_UNKNOWN_LISTED],
            count: 0,
        }
    }
}

impl<F: Fn(AttributeType) -> bool> Iterator for UnknownComprehensionRequired<'_, F> {
    type Item = AttributeType;

    fn next(&mut self) -> Option<AttributeType> {
        if self.count >= MAX_UNKNOWN_LISTED {
            return None;
        }
        for a in self.attributes.by_ref() {
            let t = a.attribute_type;
            if !t.is_comprehension_required() || (self.understood)(t) {
                continue;
            }
            let listed = self.listed.get(..self.count).unwrap_or_default();
            if listed.contains(&t) {
                continue;
            }
            if let Some(slot) = self.listed.get_mut(self.count) {
                *slot = t;
            }
            self.count += 1;
            return Some(t);
        }
        None
    }
}
