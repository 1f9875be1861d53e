//! Small fixed-format TURN/STUN attribute values that need a type of their
//! own: ICMP (RFC 8656 §18.13) and the UNKNOWN-ATTRIBUTES list
//! (RFC 8489 §14.9), plus the length limits of the text attributes.

use crate::AttributeType;

/// Longest USERNAME value in bytes (RFC 8489 §14.3).
pub const MAX_USERNAME_LEN: usize = 513;
/// Longest REALM, NONCE and SOFTWARE value in bytes
/// ("fewer than 128 characters (which can be as long as 763 bytes)").
pub const MAX_TEXT_LEN: usize = 763;

/// The ICMP attribute: an ICMP error the relay received for a peer,
/// forwarded in a Data indication. Field widths follow the RFC 8656 figure:
/// 16 reserved bits, a 7-bit ICMP type, a 9-bit ICMP code, 32 bits of error
/// data (the next-hop MTU for "packet too big", else 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmp {
    /// The ICMP (v4 or v6) type, 0..=127.
    pub icmp_type: u8,
    /// The ICMP code, 0..=511.
    pub icmp_code: u16,
    /// Error data (next-hop MTU or 0).
    pub error_data: u32,
}

impl Icmp {
    /// Decodes the 8-byte value.
    pub(crate) fn decode(value: &[u8]) -> Option<Icmp> {
        match value {
            [_, _, t0, t1, d0, d1, d2, d3] => {
                let tc = u16::from_be_bytes([*t0, *t1]);
                Some(Icmp {
                    icmp_type: (tc >> 9) as u8,
                    icmp_code: tc & 0x01FF,
                    error_data: u32::from_be_bytes([*d0, *d1, *d2, *d3]),
                })
            }
            _ => None,
        }
    }

    /// Encodes the 8-byte value (type and code masked to their widths).
    pub(crate) fn encode(&self) -> [u8; 8] {
        let tc = (u16::from(self.icmp_type & 0x7F) << 9) | (self.icmp_code & 0x01FF);
        let mut out = [0u8; 8];
        out[2..4].copy_from_slice(&tc.to_be_bytes());
        out[4..8].copy_from_slice(&self.error_data.to_be_bytes());
        out
    }
}

/// The attribute types listed in an UNKNOWN-ATTRIBUTES attribute.
#[derive(Debug, Clone)]
pub struct UnknownAttributes<'a> {
    rest: &'a [u8],
}

impl<'a> UnknownAttributes<'a> {
    /// Wraps a value whose length was checked to be even.
    pub(crate) fn new(value: &'a [u8]) -> UnknownAttributes<'a> {
        UnknownAttributes { rest: value }
    }
}

impl Iterator for UnknownAttributes<'_> {
    type Item = AttributeType;

    fn next(&mut self) -> Option<AttributeType> {
        match self.rest {
            [a, b, rest @ ..] => {
                self.rest = rest;
                Some(AttributeType(u16::from_be_bytes([*a, *b])))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_round_trip() {
        let i = Icmp {
            icmp_type: 3,
            icmp_code: 4,
            error_data: 1400,
        };
        assert_eq!(Icmp::decode(&i.encode()), Some(i));
        assert_eq!(Icmp::decode(&[0; 7]), None);
    }
}
