//! FINGERPRINT (RFC 8489 §14.7): CRC-32 (ISO 3309, as in zlib) of the
//! message up to the attribute, xor'ed with 0x5354554E ("STUN"). It lets a
//! receiver tell STUN from other protocols multiplexed on the same port.

use crate::error::Error;

/// The constant xor'ed into the CRC-32 ("STUN" in ASCII).
pub const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// Length of the FINGERPRINT value.
pub const FINGERPRINT_LEN: usize = 4;

/// The FINGERPRINT value for a message whose bytes before the attribute are
/// `preceding` (header length field already counting the FINGERPRINT).
pub fn compute(preceding: &[u8]) -> u32 {
    crc32fast::hash(preceding) ^ FINGERPRINT_XOR
}

/// Checks a received FINGERPRINT value against `preceding`.
pub(crate) fn check(preceding: &[u8], received: &[u8]) -> Result<(), Error> {
    let received: [u8; 4] = received
        .try_into()
        .map_err(|_| Error::FingerprintMismatch)?;
    if u32::from_be_bytes(received) == compute(preceding) {
        Ok(())
    } else {
        Err(Error::FingerprintMismatch)
    }
}
