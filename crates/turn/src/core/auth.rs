//! Long-term credentials: static users and TURN REST shared secrets (turn.md "Long-term
//! credentials"). Keys for static users are derived once; REST passwords are recomputed per
//! request from each secret, so secrets can be rotated by listing the new one first.

use std::collections::HashMap;

use stun::{parse_turn_rest_username, LongTermKey, TurnRestPassword};

/// One static `user:password`.
#[derive(Clone)]
pub struct StaticUser {
    /// The username.
    pub username: String,
    /// The password (never logged).
    pub password: String,
}

impl std::fmt::Debug for StaticUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StaticUser({:?}, ..)", self.username)
    }
}

/// Who may authenticate.
#[derive(Clone, Default)]
pub struct Credentials {
    static_keys: HashMap<String, LongTermKey>,
    secrets: Vec<Vec<u8>>,
    realm: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({} static users, {} secrets)", self.static_keys.len(), self.secrets.len())
    }
}

/// Why credentials were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialError {
    /// No such static user, and not a REST username (or no secrets configured).
    UnknownUser,
    /// A REST username whose expiry time has passed.
    Expired,
}

impl Credentials {
    /// Credentials for `realm` from static users and REST secrets.
    pub fn new(realm: &str, users: &[StaticUser], secrets: &[String]) -> Self {
        Self {
            static_keys: users
                .iter()
                .map(|u| (u.username.clone(), LongTermKey::md5(&u.username, realm, &u.password)))
                .collect(),
            secrets: secrets.iter().map(|s| s.as_bytes().to_vec()).collect(),
            realm: realm.to_string(),
        }
    }

    /// Whether any way to authenticate is configured.
    pub fn is_empty(&self) -> bool {
        self.static_keys.is_empty() && self.secrets.is_empty()
    }

    /// The candidate keys for `username` at `unix_now`: one for a static user, one per secret
    /// for an unexpired REST username.
    pub fn keys(&self, username: &str, unix_now: u64) -> Result<Vec<LongTermKey>, CredentialError> {
        if let Some(k) = self.static_keys.get(username) {
            return Ok(vec![k.clone()]);
        }
        if self.secrets.is_empty() {
            return Err(CredentialError::UnknownUser);
        }
        let Some((expiry, _user)) = parse_turn_rest_username(username) else {
            return Err(CredentialError::UnknownUser);
        };
        if expiry < unix_now {
            return Err(CredentialError::Expired);
        }
        Ok(self
            .secrets
            .iter()
            .filter_map(|s| TurnRestPassword::compute(s, username).ok())
            .map(|p| LongTermKey::md5(username, &self.realm, p.as_str()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_and_rest_users() {
        let c = Credentials::new(
            "r",
            &[StaticUser { username: "alice".into(), password: "pw".into() }],
            &["new".into(), "old".into()],
        );
        assert_eq!(c.keys("alice", 0).unwrap().len(), 1);
        assert_eq!(c.keys("bob", 0).unwrap_err(), CredentialError::UnknownUser);
        assert_eq!(c.keys("2000:bob", 1000).unwrap().len(), 2);
        assert_eq!(c.keys("999:bob", 1000).unwrap_err(), CredentialError::Expired);
        let expected = LongTermKey::md5("2000:bob", "r", TurnRestPassword::compute(b"old", "2000:bob").unwrap().as_str());
        assert!(c.keys("2000:bob", 1000).unwrap().iter().any(|k| k.as_bytes() == expected.as_bytes()));
    }
}
