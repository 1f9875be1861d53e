//! Long-term credentials (RFC 8489 §9.2): the key derived from
//! `username:realm:password`, USERHASH, and the TURN REST API credentials of
//! draft-uberti-behave-turn-rest (password = base64(HMAC-SHA1(secret, username))).
//!
//! Inputs are taken as already processed: this crate does not apply
//! SASLprep / OpaqueString (RFC 8265) to user names or passwords.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::password_algorithm::PasswordAlgorithm;

/// The key used for MESSAGE-INTEGRITY(-SHA256) under long-term credentials.
/// Precompute it once per user and realm; it is what servers should store.
/// Deliberately not `PartialEq`: keys are only ever used as HMAC keys.
#[derive(Clone)]
pub enum LongTermKey {
    /// `MD5(username ":" realm ":" password)`: the RFC 5389 key, PASSWORD-ALGORITHM MD5.
    Md5([u8; 16]),
    /// `SHA-256(username ":" realm ":" password)`: PASSWORD-ALGORITHM SHA-256.
    Sha256([u8; 32]),
}

impl LongTermKey {
    /// Derives the MD5 key (the default when no PASSWORD-ALGORITHM is negotiated).
    pub fn md5(username: &str, realm: &str, password: &str) -> LongTermKey {
        let mut h = Md5::new();
        feed_triplet(&mut h, username, realm, password);
        LongTermKey::Md5(h.finalize().into())
    }

    /// Derives the SHA-256 key.
    pub fn sha256(username: &str, realm: &str, password: &str) -> LongTermKey {
        let mut h = Sha256::new();
        feed_triplet(&mut h, username, realm, password);
        LongTermKey::Sha256(h.finalize().into())
    }

    /// Derives the key for a PASSWORD-ALGORITHM; `None` for algorithms other
    /// than MD5 (0x0001) and SHA-256 (0x0002), or with non-empty parameters.
    pub fn for_algorithm(
        algorithm: PasswordAlgorithm<'_>,
        username: &str,
        realm: &str,
        password: &str,
    ) -> Option<LongTermKey> {
        if !algorithm.parameters.is_empty() {
            return None;
        }
        match algorithm.algorithm {
            0x0001 => Some(LongTermKey::md5(username, realm, password)),
            0x0002 => Some(LongTermKey::sha256(username, realm, password)),
            _ => None,
        }
    }

    /// The key bytes, to pass to `verify_integrity` or the builder.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            LongTermKey::Md5(k) => k,
            LongTermKey::Sha256(k) => k,
        }
    }
}

impl core::fmt::Debug for LongTermKey {
    /// Never prints key material.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LongTermKey::Md5(_) => f.write_str("LongTermKey::Md5(..)"),
            LongTermKey::Sha256(_) => f.write_str("LongTermKey::Sha256(..)"),
        }
    }
}

fn feed_triplet<D: Digest>(h: &mut D, username: &str, realm: &str, password: &str) {
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
}

/// USERHASH value (RFC 8489 §14.4): `SHA-256(username ":" realm)`.
pub fn userhash(username: &str, realm: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.finalize().into()
}

/// A TURN REST API password: base64 of a 20-byte HMAC-SHA1, always 28 ASCII
/// bytes, kept inline so computing one does not allocate. Deliberately not
/// `PartialEq`, so no one compares secrets in variable time.
#[derive(Clone)]
pub struct TurnRestPassword([u8; 28]);

impl TurnRestPassword {
    /// `base64(HMAC-SHA1(secret, username))` (draft-uberti-behave-turn-rest §2.2).
    pub fn compute(secret: &[u8], username: &str) -> Result<TurnRestPassword, Error> {
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).map_err(|_| Error::InvalidKey)?;
        mac.update(username.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; 28];
        base64::engine::general_purpose::STANDARD
            .encode_slice(tag, &mut out)
            .map_err(|_| Error::InvalidKey)?;
        Ok(TurnRestPassword(out))
    }

    /// The password as text (base64 is ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl core::fmt::Debug for TurnRestPassword {
    /// Never prints the password.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TurnRestPassword(..)")
    }
}

/// Splits a TURN REST username `"<expiry-unix-time>:<user>"` into the expiry
/// and the user part (which may be empty; a bare `"<expiry>"` is accepted too).
/// `None` if the expiry is not a decimal number. The caller compares the
/// expiry with its clock: this crate has none.
pub fn parse_turn_rest_username(username: &str) -> Option<(u64, &str)> {
    let (expiry, user) = username.split_once(':').unwrap_or((username, ""));
    if expiry.is_empty() || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((expiry.parse().ok()?, user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_password_known_value() {
        // HMAC-SHA1 with key "key" over "The quick brown fox jumps over the lazy dog"
        // is de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9 (RFC 2104 style well-known vector).
        let p = TurnRestPassword::compute(b"key", "The quick brown fox jumps over the lazy dog")
            .unwrap();
        assert_eq!(p.as_str(), "3nybhbi3iqa8ino29wqQcBydtNk=");
    }

    #[test]
    fn rest_username() {
        assert_eq!(
            parse_turn_rest_username("1700000000:alice"),
            Some((1_700_000_000, "alice"))
        );
        assert_eq!(
            parse_turn_rest_username("1700000000"),
            Some((1_700_000_000, ""))
        );
        assert_eq!(parse_turn_rest_username("alice:1700000000"), None);
        assert_eq!(parse_turn_rest_username("+1:a"), None);
        assert_eq!(parse_turn_rest_username("99999999999999999999999:a"), None);
    }
}
