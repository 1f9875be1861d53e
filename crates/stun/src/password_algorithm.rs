//! PASSWORD-ALGORITHM and PASSWORD-ALGORITHMS (RFC 8489 §14.11–§14.12):
//! which hash turns `username:realm:password` into the long-term key.
//! Each entry is a 16-bit algorithm, a 16-bit parameters length, and the
//! parameters padded to a multiple of 4 bytes.

use crate::attributes::padded_len;
use crate::error::Error;
use crate::AttributeType;

/// One password algorithm with its (normally empty) parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PasswordAlgorithm<'a> {
    /// Algorithm number: 0x0001 MD5, 0x0002 SHA-256.
    pub algorithm: u16,
    /// Algorithm parameters; empty for MD5 and SHA-256.
    pub parameters: &'a [u8],
}

impl PasswordAlgorithm<'static> {
    /// MD5 (RFC 8489 §18.5.1.1): the RFC 5389 key, `MD5(username:realm:password)`.
    pub const MD5: PasswordAlgorithm<'static> = PasswordAlgorithm {
        algorithm: 0x0001,
        parameters: &[],
    };
    /// SHA-256 (RFC 8489 §18.5.1.2): `SHA-256(username:realm:password)`.
    pub const SHA256: PasswordAlgorithm<'static> = PasswordAlgorithm {
        algorithm: 0x0002,
        parameters: &[],
    };
}

impl PasswordAlgorithm<'_> {
    /// Bytes this entry takes on the wire, padding included.
    pub(crate) const fn encoded_len(&self) -> usize {
        4 + padded_len(self.parameters.len())
    }
}

/// Decodes one entry at the start of `value`; returns it and the bytes used.
fn decode_entry(
    value: &[u8],
    attribute: AttributeType,
) -> Result<(PasswordAlgorithm<'_>, usize), Error> {
    let bad = Error::InvalidAttributeLength {
        attribute,
        len: value.len(),
    };
    let (algorithm, plen) = match value {
        [a0, a1, l0, l1, ..] => (
            u16::from_be_bytes([*a0, *a1]),
            usize::from(u16::from_be_bytes([*l0, *l1])),
        ),
        _ => return Err(bad),
    };
    let parameters = value.get(4..4 + plen).ok_or(bad)?;
    let used = 4 + padded_len(plen);
    if value.len() < used {
        return Err(bad);
    }
    Ok((
        PasswordAlgorithm {
            algorithm,
            parameters,
        },
        used,
    ))
}

/// Decodes a PASSWORD-ALGORITHM value: exactly one entry.
pub(crate) fn decode_password_algorithm(value: &[u8]) -> Result<PasswordAlgorithm<'_>, Error> {
    let attribute = AttributeType::PASSWORD_ALGORITHM;
    let (alg, used) = decode_entry(value, attribute)?;
    if used != value.len() {
        return Err(Error::InvalidAttributeLength {
            attribute,
            len: value.len(),
        });
    }
    Ok(alg)
}

/// The entries of a PASSWORD-ALGORITHMS attribute, checked when the accessor
/// returned it, in the server's order of preference.
#[derive(Debug, Clone)]
pub struct PasswordAlgorithms<'a> {
    rest: &'a [u8],
}

impl<'a> PasswordAlgorithms<'a> {
    /// Checks the whole value, so iteration cannot fail.
    pub(crate) fn decode(value: &'a [u8]) -> Result<PasswordAlgorithms<'a>, Error> {
        let attribute = AttributeType::PASSWORD_ALGORITHMS;
        if value.is_empty() {
            return Err(Error::InvalidAttributeLength { attribute, len: 0 });
        }
        let mut rest = value;
        while !rest.is_empty() {
            let (_, used) = decode_entry(rest, attribute)?;
            rest = rest.get(used..).unwrap_or_default();
        }
        Ok(PasswordAlgorithms { rest: value })
    }
}

impl<'a> Iterator for PasswordAlgorithms<'a> {
    type Item = PasswordAlgorithm<'a>;

    fn next(&mut self) -> Option<PasswordAlgorithm<'a>> {
        let (alg, used) = decode_entry(self.rest, AttributeType::PASSWORD_ALGORITHMS).ok()?;
        self.rest = self.rest.get(used..).unwrap_or_default();
        Some(alg)
    }
}
