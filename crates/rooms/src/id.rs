//! Room and client identifiers, validated once at the edge.

use std::fmt;
use std::sync::Arc;

/// Why an identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The identifier was empty.
    #[error("identifier is empty")]
    Empty,
    /// The identifier was longer than the configured maximum.
    #[error("identifier is longer than {max} characters")]
    TooLong {
        /// The configured maximum length.
        max: usize,
    },
    /// The identifier had a character outside `[A-Za-z0-9_-]`.
    #[error("identifier may only contain A-Z, a-z, 0-9, '_' and '-'")]
    BadCharacter,
}

fn validate(s: &str, max_len: usize) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > max_len {
        return Err(IdError::TooLong { max: max_len });
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(IdError::BadCharacter);
    }
    Ok(())
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates `s` as `[A-Za-z0-9_-]{1,max_len}`.
            pub fn parse(s: &str, max_len: usize) -> Result<Self, IdError> {
                validate(s, max_len)?;
                Ok(Self(Arc::from(s)))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }
    };
}

define_id!(
    /// A room name, as it appears in `/r/<room>` and `/join/<room>`.
    RoomId
);
define_id!(
    /// A client id: 8 random digits minted at join (kept as text: it may start with 0), or the
    /// loopback phantom's name.
    ClientId
);

impl ClientId {
    /// Mints a fresh client id of 8 random decimal digits, as AppRTC does.
    pub fn random() -> Self {
        use rand::Rng;
        let mut rng = rand::rng();
        let digits: String = (0..8).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect();
        Self(Arc::from(digits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_apprtc_alphabet() {
        assert!(RoomId::parse("abc_DEF-123", 64).is_ok());
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(RoomId::parse("", 64), Err(IdError::Empty));
        assert_eq!(RoomId::parse("a.b", 64), Err(IdError::BadCharacter));
        assert_eq!(RoomId::parse("a b", 64), Err(IdError::BadCharacter));
        assert_eq!(RoomId::parse("ñsaer3", 64), Err(IdError::BadCharacter));
        assert_eq!(RoomId::parse(&"a".repeat(65), 64), Err(IdError::TooLong { max: 64 }));
    }

    #[test]
    fn random_client_id_is_eight_digits() {
        for _ in 0..100 {
            let id = ClientId::random();
            assert_eq!(id.as_str().len(), 8);
            assert!(id.as_str().bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
