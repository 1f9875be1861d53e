//! One allocation: a relayed transport address owned by one client 5-tuple, with its
//! permissions and channel bindings (RFC 8656 §2.2).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// The client-side transport of a 5-tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP to the server's listen port.
    Udp,
    /// A TCP connection to the server's listen port (or TLS, which looks the same here).
    Tcp,
}

/// The client end of a 5-tuple. The server end is the one listen address, so this identifies the
/// 5-tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr {
    /// UDP or TCP.
    pub transport: Transport,
    /// The client's address as the server sees it.
    pub addr: SocketAddr,
}

/// A permission: peers at this IP may send to the relay address until `expires`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Permission {
    pub ip: IpAddr,
    pub expires: Instant,
}

/// A channel binding: ChannelData on `number` goes to `peer` until `expires`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelBinding {
    pub number: u16,
    pub peer: SocketAddr,
    pub expires: Instant,
}

/// A live allocation.
#[derive(Clone)]
pub struct Allocation {
    /// Who owns it.
    pub client: ClientAddr,
    /// The address the relay socket is bound to.
    pub relay: SocketAddr,
    /// The address given to the client in XOR-RELAYED-ADDRESS.
    pub advertised: SocketAddr,
    /// How the relay talks to peers: UDP (RFC 8656), or TCP with peer connections (RFC 6062).
    pub relay_transport: Transport,
    /// The IPv6 half of a dual allocation (ADDITIONAL-ADDRESS-FAMILY, RFC 8656 §7.2): its relay
    /// socket address and the address advertised for it.
    pub additional: Option<(SocketAddr, SocketAddr)>,
    /// The username that created it; later requests must use the same.
    pub username: String,
    /// The quota bucket (for REST usernames, the part after the expiry).
    pub(crate) quota_user: String,
    /// When it expires unless refreshed.
    pub expires: Instant,
    /// The Allocate transaction that created it (a retransmission gets the same answer).
    pub(crate) created_by: [u8; 12],
    /// The RESERVATION-TOKEN handed out with it (EVEN-PORT with R), for a retransmitted Allocate.
    pub(crate) reservation: Option<[u8; 8]>,
    pub(crate) permissions: Vec<Permission>,
    pub(crate) channels: Vec<ChannelBinding>,
}

impl std::fmt::Debug for Allocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Allocation")
            .field("client", &self.client)
            .field("relay", &self.relay)
            .field("additional", &self.additional.map(|(relay, _)| relay))
            .field("permissions", &self.permissions.len())
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

impl Allocation {
    /// The relay address of `peer`'s family (RFC 8656: a peer is reached from the relay of its
    /// own family), if this allocation has one.
    pub fn relay_for(&self, peer: IpAddr) -> Option<SocketAddr> {
        if peer.is_ipv4() == self.relay.is_ipv4() {
            return Some(self.relay);
        }
        self.additional.map(|(relay, _)| relay).filter(|relay| relay.is_ipv4() == peer.is_ipv4())
    }

    /// Whether a live permission covers `ip`.
    pub(crate) fn permits(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions.iter().any(|p| p.ip == ip && p.expires > now)
    }

    /// Installs or refreshes a permission.
    pub(crate) fn permit(&mut self, ip: IpAddr, expires: Instant) {
        match self.permissions.iter_mut().find(|p| p.ip == ip) {
            Some(p) => p.expires = expires,
            None => self.permissions.push(Permission { ip, expires }),
        }
    }

    /// The live channel bound to `number`.
    pub(crate) fn channel(&self, number: u16, now: Instant) -> Option<&ChannelBinding> {
        self.channels.iter().find(|c| c.number == number && c.expires > now)
    }

    /// The live channel bound to `peer`.
    pub(crate) fn channel_for_peer(&self, peer: SocketAddr, now: Instant) -> Option<&ChannelBinding> {
        self.channels.iter().find(|c| c.peer == peer && c.expires > now)
    }

    /// Drops expired permissions and channels.
    pub(crate) fn prune(&mut self, now: Instant) {
        self.permissions.retain(|p| p.expires > now);
        self.channels.retain(|c| c.expires > now);
    }
}
