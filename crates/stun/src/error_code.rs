//! ERROR-CODE (RFC 8489 §14.8) and ADDRESS-ERROR-CODE (RFC 8656 §18.12):
//! a 3-digit code split into class (hundreds, 3..=6) and number (0..=99),
//! followed by a UTF-8 reason phrase.

use crate::error::Error;
use crate::AttributeType;

/// Longest reason phrase allowed: "fewer than 128 characters (which can be as
/// long as 763 bytes)" — this crate enforces the byte bound.
pub const MAX_REASON_LEN: usize = 763;

/// The error codes STUN and TURN servers send, by their RFC names.
pub mod codes {
    /// 300: the client should contact ALTERNATE-SERVER.
    pub const TRY_ALTERNATE: u16 = 300;
    /// 400: malformed request.
    pub const BAD_REQUEST: u16 = 400;
    /// 401: missing or wrong credentials.
    pub const UNAUTHENTICATED: u16 = 401;
    /// 403: request valid but refused (e.g. peer address denied by policy).
    pub const FORBIDDEN: u16 = 403;
    /// 420: comprehension-required attributes the server does not understand.
    pub const UNKNOWN_ATTRIBUTE: u16 = 420;
    /// 437: allocation mismatch (exists already / does not exist).
    pub const ALLOCATION_MISMATCH: u16 = 437;
    /// 438: the nonce is no longer valid; retry with the new one.
    pub const STALE_NONCE: u16 = 438;
    /// 440: the requested address family is not supported.
    pub const ADDRESS_FAMILY_NOT_SUPPORTED: u16 = 440;
    /// 441: credentials differ from those that created the allocation.
    pub const WRONG_CREDENTIALS: u16 = 441;
    /// 442: REQUESTED-TRANSPORT names a protocol the server does not relay.
    pub const UNSUPPORTED_TRANSPORT_PROTOCOL: u16 = 442;
    /// 443: peer address family differs from the relayed address family.
    pub const PEER_ADDRESS_FAMILY_MISMATCH: u16 = 443;
    /// 446: RFC 6062 connection already exists.
    pub const CONNECTION_ALREADY_EXISTS: u16 = 446;
    /// 447: RFC 6062 connection timeout or failure.
    pub const CONNECTION_TIMEOUT_OR_FAILURE: u16 = 447;
    /// 486: allocation quota reached.
    pub const ALLOCATION_QUOTA_REACHED: u16 = 486;
    /// 487: ICE role conflict.
    pub const ROLE_CONFLICT: u16 = 487;
    /// 500: server error.
    pub const SERVER_ERROR: u16 = 500;
    /// 508: insufficient capacity (no relay ports left).
    pub const INSUFFICIENT_CAPACITY: u16 = 508;
}

/// The RFC's suggested reason phrase for a code, or `""` for unknown codes.
pub const fn default_reason(code: u16) -> &'static str {
    match code {
        300 => "Try Alternate",
        400 => "Bad Request",
        401 => "Unauthenticated",
        403 => "Forbidden",
        420 => "Unknown Attribute",
        437 => "Allocation Mismatch",
        438 => "Stale Nonce",
        440 => "Address Family not Supported",
        441 => "Wrong Credentials",
        442 => "Unsupported Transport Protocol",
        443 => "Peer Address Family Mismatch",
        446 => "Connection Already Exists",
        447 => "Connection Timeout or Failure",
        486 => "Allocation Quota Reached",
        487 => "Role Conflict",
        500 => "Server Error",
        508 => "Insufficient Capacity",
        _ => "",
    }
}

/// A decoded ERROR-CODE: the numeric code (300..=699) and the reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode<'a> {
    /// The code, e.g. 401.
    pub code: u16,
    /// The reason phrase (may be empty).
    pub reason: &'a str,
}

/// A decoded ADDRESS-ERROR-CODE: which family of a dual-stack allocation
/// failed and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressErrorCode<'a> {
    /// The family the error is about.
    pub family: crate::AddressFamily,
    /// Code and reason.
    pub error: ErrorCode<'a>,
}

/// Checks that `code` splits into class 3..=6 and number 0..=99.
pub(crate) const fn check_code(code: u16) -> Result<(u8, u8), Error> {
    let class = code / 100;
    let number = code % 100;
    if class < 3 || class > 6 {
        return Err(Error::InvalidErrorCode(code));
    }
    Ok((class as u8, number as u8))
}

/// Decodes the class/number/reason part shared by both attributes; `value`
/// starts at the byte holding the class bits' 32-bit word.
pub(crate) fn decode_code_and_reason(
    value: &[u8],
    attribute: AttributeType,
) -> Result<ErrorCode<'_>, Error> {
    let (class, number, reason) = match value {
        [_, _, c, n, reason @ ..] => (u16::from(*c & 0x07), u16::from(*n), reason),
        _ => {
            return Err(Error::InvalidAttributeLength {
                attribute,
                len: value.len(),
            })
        }
    };
    let code = class * 100 + number;
    if !(3..=6).contains(&class) || number > 99 {
        return Err(Error::InvalidErrorCode(code));
    }
    if reason.len() > MAX_REASON_LEN {
        return Err(Error::ValueTooLong {
            attribute,
            len: reason.len(),
            max: MAX_REASON_LEN,
        });
    }
    let reason = core::str::from_utf8(reason).map_err(|_| Error::InvalidUtf8(attribute))?;
    Ok(ErrorCode { code, reason })
}

/// Decodes an ERROR-CODE value.
pub(crate) fn decode_error_code(value: &[u8]) -> Result<ErrorCode<'_>, Error> {
    decode_code_and_reason(value, AttributeType::ERROR_CODE)
}

/// Decodes an ADDRESS-ERROR-CODE value (family in the first byte).
pub(crate) fn decode_address_error_code(value: &[u8]) -> Result<AddressErrorCode<'_>, Error> {
    let family = match value.first() {
        Some(f) => crate::AddressFamily::from_value(*f)?,
        None => {
            return Err(Error::InvalidAttributeLength {
                attribute: AttributeType::ADDRESS_ERROR_CODE,
                len: 0,
            })
        }
    };
    let error = decode_code_and_reason(value, AttributeType::ADDRESS_ERROR_CODE)?;
    Ok(AddressErrorCode { family, error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_validates() {
        let v = [0, 0, 4, 1, b'U', b'n'];
        assert_eq!(
            decode_error_code(&v).unwrap(),
            ErrorCode {
                code: 401,
                reason: "Un"
            }
        );
        assert_eq!(
            decode_error_code(&[0, 0, 2, 1]),
            Err(Error::InvalidErrorCode(201))
        );
        assert_eq!(
            decode_error_code(&[0, 0, 4, 100]),
            Err(Error::InvalidErrorCode(500))
        );
        assert!(decode_error_code(&[0, 0, 4]).is_err());
        assert_eq!(
            decode_error_code(&[0, 0, 4, 1, 0xff]),
            Err(Error::InvalidUtf8(AttributeType::ERROR_CODE))
        );
        assert!(check_code(699).is_ok());
        assert!(check_code(700).is_err());
        assert!(check_code(299).is_err());
    }
}
