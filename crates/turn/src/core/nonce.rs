//! Stateless nonces (turn.md "Nonces"): a nonce is its issue time and a MAC over that time and
//! the client's address, so an unauthenticated Allocate costs the server no state.

use std::net::SocketAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a nonce check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued by us, to this client, recently enough.
    Valid,
    /// Issued by us to this client, but too long ago: answer 438 with a fresh one.
    Stale,
    /// Not one of ours (or for another client): answer 438 too, with a fresh one.
    Invalid,
}

/// The secret nonces are MACed with; random per process.
#[derive(Clone)]
pub struct NonceKey([u8; 32]);

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

const NONCE_LEN: usize = 32;

impl NonceKey {
    /// A fresh random key.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// A fixed key (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    fn mac(&self, issued: u64, client: SocketAddr) -> [u8; 8] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(&issued.to_be_bytes());
        match client {
            SocketAddr::V4(a) => mac.update(&a.ip().octets()),
            SocketAddr::V6(a) => mac.update(&a.ip().octets()),
        }
        mac.update(&client.port().to_be_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; 8];
        out.copy_from_slice(&tag[..8]);
        out
    }

    /// A nonce for `client` issued at `now_secs` (32 hex characters).
    pub fn issue(&self, client: SocketAddr, now_secs: u64) -> String {
        let mut s = String::with_capacity(NONCE_LEN);
        push_hex(&mut s, &now_secs.to_be_bytes());
        push_hex(&mut s, &self.mac(now_secs, client));
        s
    }

    /// Checks a nonce a client sent back.
    pub fn check(&self, nonce: &str, client: SocketAddr, now_secs: u64, lifetime_secs: u64) -> NonceCheck {
        if nonce.len() != NONCE_LEN {
            return NonceCheck::Invalid;
        }
        let (Some(issued), Some(tag)) = (parse_hex::<8>(&nonce[..16]), parse_hex::<8>(&nonce[16..])) else {
            return NonceCheck::Invalid;
        };
        let issued = u64::from_be_bytes(issued);
        let expected = self.mac(issued, client);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&tag[..], &expected[..])) {
            return NonceCheck::Invalid;
        }
        if issued > now_secs || now_secs - issued >= lifetime_secs {
            return NonceCheck::Stale;
        }
        NonceCheck::Valid
    }
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
}

fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let bytes = s.as_bytes();
    if bytes.len() != N * 2 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibble(bytes[2 * i])? << 4) | nibble(bytes[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_bound_to_client_and_time() {
        let k = NonceKey::from_bytes([7; 32]);
        let a: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let b: SocketAddr = "192.0.2.1:5001".parse().unwrap();
        let n = k.issue(a, 1000);
        assert_eq!(n.len(), 32);
        assert_eq!(k.check(&n, a, 1000, 600), NonceCheck::Valid);
        assert_eq!(k.check(&n, a, 1599, 600), NonceCheck::Valid);
        assert_eq!(k.check(&n, a, 1600, 600), NonceCheck::Stale);
        assert_eq!(k.check(&n, b, 1000, 600), NonceCheck::Invalid);
        assert_eq!(NonceKey::from_bytes([8; 32]).check(&n, a, 1000, 600), NonceCheck::Invalid);
        assert_eq!(k.check("zz", a, 1000, 600), NonceCheck::Invalid);
        assert_eq!(k.check(&"g".repeat(32), a, 1000, 600), NonceCheck::Invalid);
    }
}
