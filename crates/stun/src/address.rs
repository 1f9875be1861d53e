//! Transport address attributes (RFC 8489 §14.1–§14.2, RFC 8656 §18.3/§18.5):
//! MAPPED-ADDRESS and the XOR-… family, whose port and address are xor'ed
//! with the magic cookie (and, for IPv6, the transaction ID) so that NATs
//! that rewrite addresses inside payloads leave them alone.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::Error;
use crate::header::{TransactionId, MAGIC_COOKIE};

/// An address family as carried in STUN/TURN attributes
/// (XOR-…-ADDRESS, REQUESTED-ADDRESS-FAMILY, ADDRESS-ERROR-CODE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// IPv4, wire value 0x01.
    V4,
    /// IPv6, wire value 0x02.
    V6,
}

impl AddressFamily {
    /// The wire value (0x01 or 0x02).
    pub const fn value(self) -> u8 {
        match self {
            AddressFamily::V4 => 0x01,
            AddressFamily::V6 => 0x02,
        }
    }

    /// Decodes a wire value.
    pub const fn from_value(v: u8) -> Result<AddressFamily, Error> {
        match v {
            0x01 => Ok(AddressFamily::V4),
            0x02 => Ok(AddressFamily::V6),
            other => Err(Error::InvalidAddressFamily(other)),
        }
    }

    /// The family of an IP address.
    pub const fn of(ip: &IpAddr) -> AddressFamily {
        match ip {
            IpAddr::V4(_) => AddressFamily::V4,
            IpAddr::V6(_) => AddressFamily::V6,
        }
    }
}

/// Length of an encoded address value for the family (8 or 20 bytes).
pub(crate) const fn encoded_len(family: AddressFamily) -> usize {
    match family {
        AddressFamily::V4 => 8,
        AddressFamily::V6 => 20,
    }
}

/// The 16-byte xor mask: magic cookie then transaction ID.
fn xor_mask(tid: &TransactionId) -> [u8; 16] {
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    mask[4..].copy_from_slice(&tid.0);
    mask
}

/// Decodes a MAPPED-ADDRESS-style value (no xor). `len` mismatch with the
/// family is an error; the first (reserved) byte is ignored.
pub(crate) fn decode_plain(
    value: &[u8],
    attribute: crate::AttributeType,
) -> Result<SocketAddr, Error> {
    let bad_len = Error::InvalidAttributeLength {
        attribute,
        len: value.len(),
    };
    let (fam, port) = match value {
        [_, fam, p0, p1, ..] => (*fam, u16::from_be_bytes([*p0, *p1])),
        _ => return Err(bad_len),
    };
    let family = AddressFamily::from_value(fam)?;
    if value.len() != encoded_len(family) {
        return Err(bad_len);
    }
    let ip = match family {
        AddressFamily::V4 => {
            let mut b = [0u8; 4];
            b.copy_from_slice(&value[4..8]);
            IpAddr::V4(Ipv4Addr::from(b))
        }
        AddressFamily::V6 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&value[4..20]);
            IpAddr::V6(Ipv6Addr::from(b))
        }
    };
    Ok(SocketAddr::new(ip, port))
}

/// Decodes an XOR-…-ADDRESS value with the message's transaction ID.
pub(crate) fn decode_xor(
    value: &[u8],
    tid: &TransactionId,
    attribute: crate::AttributeType,
) -> Result<SocketAddr, Error> {
    let plain = decode_plain(value, attribute)?;
    Ok(xor(plain, tid))
}

/// Applies (or removes — it is its own inverse) the XOR-…-ADDRESS mask.
pub fn xor(addr: SocketAddr, tid: &TransactionId) -> SocketAddr {
    let mask = xor_mask(tid);
    let port = addr.port() ^ u16::from_be_bytes([mask[0], mask[1]]);
    let ip = match addr.ip() {
        IpAddr::V4(v4) => {
            let mut b = v4.octets();
            for (x, m) in b.iter_mut().zip(&mask[..4]) {
                *x ^= m;
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        IpAddr::V6(v6) => {
            let mut b = v6.octets();
            for (x, m) in b.iter_mut().zip(&mask) {
                *x ^= m;
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
    };
    SocketAddr::new(ip, port)
}

/// Writes an address value (8 or 20 bytes) without xor into `out`.
pub(crate) fn encode_plain(addr: SocketAddr, out: &mut Vec<u8>) {
    out.push(0);
    out.push(AddressFamily::of(&addr.ip()).value());
    out.extend_from_slice(&addr.port().to_be_bytes());
    match addr.ip() {
        IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out.extend_from_slice(&v6.octets()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttributeType;

    #[test]
    fn xor_round_trip_v4_v6() {
        let tid = TransactionId([7; 12]);
        for a in [
            "192.0.2.1:32853",
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853",
        ] {
            let a: SocketAddr = a.parse().unwrap();
            let mut v = Vec::new();
            encode_plain(xor(a, &tid), &mut v);
            assert_eq!(
                decode_xor(&v, &tid, AttributeType::XOR_MAPPED_ADDRESS).unwrap(),
                a
            );
        }
    }

    #[test]
    fn rejects_family_length_mismatch() {
        let v = [0, 2, 0, 1, 1, 2, 3, 4];
        assert!(decode_plain(&v, AttributeType::MAPPED_ADDRESS).is_err());
        let v = [0, 3, 0, 1, 1, 2, 3, 4];
        assert_eq!(
            decode_plain(&v, AttributeType::MAPPED_ADDRESS),
            Err(Error::InvalidAddressFamily(3))
        );
    }
}
