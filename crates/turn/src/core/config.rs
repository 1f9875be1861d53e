//! What the TURN core is configured with.

use std::net::IpAddr;
use std::time::Duration;

use crate::core::{Credentials, PortRange};
use crate::policy::PeerPolicy;

/// Limits that keep one user, or everyone together, from exhausting the relay.
#[derive(Debug, Clone)]
pub struct Quotas {
    /// Allocations at once, all users together (508 beyond).
    pub max_allocations: usize,
    /// Allocations at once per username (486 beyond).
    pub per_user: usize,
    /// Permissions per allocation (508 beyond).
    pub permissions_per_allocation: usize,
    /// Channels per allocation (508 beyond).
    pub channels_per_allocation: usize,
    /// TCP peer connections per TCP allocation (RFC 6062), outgoing and incoming together
    /// (Connect answered 508 beyond; incoming connections closed).
    pub tcp_connections_per_allocation: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Self { max_allocations: 10_000, per_user: 10, permissions_per_allocation: 10, channels_per_allocation: 64, tcp_connections_per_allocation: 32 }
    }
}

/// Everything the core needs to decide.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The realm in 401 answers and key derivation.
    pub realm: String,
    /// The IPv4 address relay sockets bind to.
    pub relay_ip_v4: Option<IpAddr>,
    /// The IPv6 address relay sockets bind to (RFC 6156), if any.
    pub relay_ip_v6: Option<IpAddr>,
    /// The IPv4 address advertised in XOR-RELAYED-ADDRESS (behind 1:1 NAT it differs from the bind address).
    pub external_ip_v4: Option<IpAddr>,
    /// The IPv6 address advertised for IPv6 relays, when it differs from the bind address.
    pub external_ip_v6: Option<IpAddr>,
    /// Relay ports to choose from.
    pub ports: PortRange,
    /// Who may authenticate.
    pub credentials: Credentials,
    /// Where clients may relay to.
    pub policy: PeerPolicy,
    /// Resource limits.
    pub quotas: Quotas,
    /// Allocation lifetime when the client asks for none or less (RFC 8656: 600 s).
    pub default_lifetime: Duration,
    /// Longest allocation lifetime granted (RFC 8656: 3600 s).
    pub max_lifetime: Duration,
    /// How long a nonce stays valid before 438 (stateless: checked by its embedded time).
    pub nonce_lifetime: Duration,
    /// Accept RFC 5766's channel numbers 0x4000..=0x7FFF instead of RFC 8656's 0x4000..=0x4FFF.
    /// coturn's client tools pick channels up to 0x7FFF; browsers stay in the RFC 8656 range.
    pub rfc5766_channels: bool,
}

impl ServerConfig {
    /// A configuration with RFC defaults for `realm`, relaying on `relay_ip_v4` within `ports`.
    pub fn new(realm: impl Into<String>, relay_ip_v4: IpAddr, ports: PortRange, credentials: Credentials) -> Self {
        Self {
            realm: realm.into(),
            relay_ip_v4: Some(relay_ip_v4),
            relay_ip_v6: None,
            external_ip_v4: None,
            external_ip_v6: None,
            ports,
            credentials,
            policy: PeerPolicy::new(),
            quotas: Quotas::default(),
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            nonce_lifetime: Duration::from_secs(600),
            rfc5766_channels: false,
        }
    }
}

/// Permission lifetime (RFC 8656 §9).
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// Channel binding lifetime (RFC 8656 §12).
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);
