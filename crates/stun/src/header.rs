//! The 20-byte STUN message header (RFC 8489 §5): message type (class and
//! method interleaved in 14 bits), message length, magic cookie and the
//! 96-bit transaction ID.

use core::fmt;

use crate::error::Error;

/// The fixed value in bytes 4..8 of every RFC 5389/8489 STUN message.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// Length of the STUN message header in bytes.
pub const HEADER_LEN: usize = 20;

/// The class of a STUN message: what kind of transaction step it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// A request, expecting a success or error response.
    Request,
    /// An indication: no response is sent (e.g. TURN Send/Data).
    Indication,
    /// A success response to a request.
    SuccessResponse,
    /// An error response to a request (carries ERROR-CODE).
    ErrorResponse,
}

impl Class {
    /// The two class bits `C1 C0` as a number 0..=3.
    const fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::SuccessResponse => 0b10,
            Class::ErrorResponse => 0b11,
        }
    }

    const fn from_bits(b: u16) -> Class {
        match b & 0b11 {
            0b00 => Class::Request,
            0b01 => Class::Indication,
            0b10 => Class::SuccessResponse,
            _ => Class::ErrorResponse,
        }
    }
}

/// A STUN method: a 12-bit number saying what the transaction does
/// (Binding, Allocate, …). Methods the codec does not know are still carried.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(u16);

impl Method {
    /// Binding (RFC 8489): learn the reflexive transport address.
    pub const BINDING: Method = Method(0x001);
    /// Allocate (RFC 8656): create a relayed transport address.
    pub const ALLOCATE: Method = Method(0x003);
    /// Refresh (RFC 8656): extend or delete (LIFETIME 0) an allocation.
    pub const REFRESH: Method = Method(0x004);
    /// Send (RFC 8656, indication only): relay DATA to XOR-PEER-ADDRESS.
    pub const SEND: Method = Method(0x006);
    /// Data (RFC 8656, indication only): DATA received from XOR-PEER-ADDRESS.
    pub const DATA: Method = Method(0x007);
    /// CreatePermission (RFC 8656): install permissions for peer IPs.
    pub const CREATE_PERMISSION: Method = Method(0x008);
    /// ChannelBind (RFC 8656): bind a channel number to a peer address.
    pub const CHANNEL_BIND: Method = Method(0x009);
    /// Connect (RFC 6062): open a TCP connection to a peer.
    pub const CONNECT: Method = Method(0x00A);
    /// ConnectionBind (RFC 6062): attach a client data connection to a peer connection.
    pub const CONNECTION_BIND: Method = Method(0x00B);
    /// ConnectionAttempt (RFC 6062, indication): a peer connected to the relay.
    pub const CONNECTION_ATTEMPT: Method = Method(0x00C);

    /// Builds a method from its number; `Err` if wider than 12 bits.
    pub const fn new(value: u16) -> Result<Method, Error> {
        if value > 0x0FFF {
            Err(Error::InvalidMethod(value))
        } else {
            Ok(Method(value))
        }
    }

    /// The method number (0..=0xFFF).
    pub const fn value(self) -> u16 {
        self.0
    }

    /// The RFC name of a known method, for logs.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x001 => "Binding",
            0x003 => "Allocate",
            0x004 => "Refresh",
            0x006 => "Send",
            0x007 => "Data",
            0x008 => "CreatePermission",
            0x009 => "ChannelBind",
            0x00A => "Connect",
            0x00B => "ConnectionBind",
            0x00C => "ConnectionAttempt",
            _ => return None,
        })
    }
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Method({:#05x})", self.0),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Packs class and method into the 14-bit STUN message type
/// (`M11..M7 C1 M6..M4 C0 M3..M0`).
pub const fn message_type(class: Class, method: Method) -> u16 {
    let m = method.0;
    let c = class.bits();
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

/// Splits a 14-bit STUN message type into class and method.
pub const fn split_message_type(t: u16) -> (Class, Method) {
    let m = (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80);
    let c = ((t >> 4) & 1) | ((t >> 7) & 2);
    (Class::from_bits(c), Method(m))
}

/// The 96-bit transaction ID that pairs a response with its request.
/// Must be chosen uniformly at random by the sender (RFC 8489 §6); this
/// crate has no RNG, so the caller supplies the bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TransactionId(pub [u8; 12]);

impl TransactionId {
    /// Wraps 12 (random) bytes.
    pub const fn new(bytes: [u8; 12]) -> TransactionId {
        TransactionId(bytes)
    }

    /// The raw 12 bytes.
    pub const fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransactionId(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// A decoded and checked STUN header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The message class.
    pub class: Class,
    /// The message method.
    pub method: Method,
    /// Length of the attributes section in bytes (excludes the header).
    pub length: u16,
    /// The transaction ID.
    pub transaction_id: TransactionId,
}

impl Header {
    /// Decodes and checks the first 20 bytes of `buf`: leading bits `0b00`,
    /// length a multiple of 4, magic cookie. Does not look at the rest.
    pub fn decode(buf: &[u8]) -> Result<Header, Error> {
        let h: &[u8; HEADER_LEN] = buf
            .get(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(Error::TooShort {
                needed: HEADER_LEN,
                available: buf.len(),
            })?;
        if h[0] & 0xC0 != 0 {
            return Err(Error::NotStun);
        }
        let t = u16::from_be_bytes([h[0], h[1]]);
        let length = u16::from_be_bytes([h[2], h[3]]);
        let cookie = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        if cookie != MAGIC_COOKIE {
            return Err(Error::BadMagicCookie(cookie));
        }
        if length & 3 != 0 {
            return Err(Error::UnalignedLength(length));
        }
        let mut tid = [0u8; 12];
        tid.copy_from_slice(&h[8..20]);
        let (class, method) = split_message_type(t);
        Ok(Header {
            class,
            method,
            length,
            transaction_id: TransactionId(tid),
        })
    }

    /// Encodes this header into 20 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..2].copy_from_slice(&message_type(self.class, self.method).to_be_bytes());
        out[2..4].copy_from_slice(&self.length.to_be_bytes());
        out[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out[8..20].copy_from_slice(&self.transaction_id.0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_round_trip() {
        for m in 0..=0xFFFu16 {
            for c in [
                Class::Request,
                Class::Indication,
                Class::SuccessResponse,
                Class::ErrorResponse,
            ] {
                let method = Method(m);
                let t = message_type(c, method);
                assert!(t < 0x4000);
                assert_eq!(split_message_type(t), (c, method));
            }
        }
    }

    #[test]
    fn known_message_types() {
        assert_eq!(message_type(Class::Request, Method::BINDING), 0x0001);
        assert_eq!(
            message_type(Class::SuccessResponse, Method::BINDING),
            0x0101
        );
        assert_eq!(message_type(Class::ErrorResponse, Method::BINDING), 0x0111);
        assert_eq!(message_type(Class::Indication, Method::SEND), 0x0016);
        assert_eq!(message_type(Class::Indication, Method::DATA), 0x0017);
        assert_eq!(message_type(Class::Request, Method::ALLOCATE), 0x0003);
        assert_eq!(message_type(Class::ErrorResponse, Method::ALLOCATE), 0x0113);
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(matches!(
            Header::decode(&[0; 19]),
            Err(Error::TooShort { .. })
        ));
        let mut h = [0u8; 20];
        h[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        assert!(Header::decode(&h).is_ok());
        h[0] = 0x40;
        assert_eq!(Header::decode(&h), Err(Error::NotStun));
        h[0] = 0;
        h[3] = 2;
        assert_eq!(Header::decode(&h), Err(Error::UnalignedLength(2)));
        h[3] = 0;
        h[4] = 0;
        assert!(matches!(Header::decode(&h), Err(Error::BadMagicCookie(_))));
    }
}
