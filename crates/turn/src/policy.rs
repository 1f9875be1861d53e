//! Which peer addresses a client may relay to (turn.md, "Secure defaults").
//!
//! Default deny for every address that is not globally routable, judged after canonicalising
//! every IPv4-in-IPv6 form to its embedded IPv4 address — the check coturn's CVE-2020-26262
//! (`0.0.0.0`) and CVE-2026-27624 (`::ffff:127.0.0.1`) got wrong. An explicit allow-list
//! overrides the deny-list; the server's own addresses are always denied unless allowed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why a peer address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The address (or the IPv4 address embedded in it) is in a denied range.
    ReservedRange,
    /// The address is one of this server's own listening or relay addresses.
    ServerAddress,
}

/// The peer policy: deny-by-default ranges, the allow-list that overrides them, and the
/// server's own addresses.
#[derive(Debug, Clone, Default)]
pub struct PeerPolicy {
    allow: Vec<IpNet>,
    allow_loopback: bool,
    server_addresses: Vec<IpAddr>,
}

const DENIED_V4: &[(u8, u8, u8, u8, u8)] = &[
    (0, 0, 0, 0, 8),
    (10, 0, 0, 0, 8),
    (100, 64, 0, 0, 10),
    (127, 0, 0, 0, 8),
    (169, 254, 0, 0, 16),
    (172, 16, 0, 0, 12),
    (192, 0, 0, 0, 24),
    (192, 0, 2, 0, 24),
    (192, 88, 99, 0, 24),
    (192, 168, 0, 0, 16),
    (198, 18, 0, 0, 15),
    (198, 51, 100, 0, 24),
    (203, 0, 113, 0, 24),
    (224, 0, 0, 0, 4),
    (240, 0, 0, 0, 4),
];

impl PeerPolicy {
    /// The secure default: every reserved range denied, nothing allowed beyond public addresses.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows `net` even where the defaults deny it (for a private deployment's own networks).
    pub fn allow(mut self, net: IpNet) -> Self {
        self.allow.push(net.trunc());
        self
    }

    /// Allows loopback peers (127/8, ::1). For tests only: it lets any client reach services on
    /// the server's own machine.
    pub fn allow_loopback(mut self, yes: bool) -> Self {
        self.allow_loopback = yes;
        self
    }

    /// Adds one of the server's own addresses, which peers may never be (unless allowed).
    pub fn add_server_address(mut self, addr: IpAddr) -> Self {
        let canon = canonical(addr);
        if !canon.is_unspecified() && !self.server_addresses.contains(&canon) {
            self.server_addresses.push(canon);
        }
        self
    }

    /// Decides whether a client may relay to `peer`.
    pub fn check(&self, peer: IpAddr) -> Result<(), Denial> {
        let canon = canonical(peer);
        if self.allow.iter().any(|n| n.contains(&canon) || n.contains(&peer)) {
            return Ok(());
        }
        if self.allow_loopback && canon.is_loopback() {
            return Ok(());
        }
        if self.server_addresses.contains(&canon) {
            return Err(Denial::ServerAddress);
        }
        let denied = match canon {
            IpAddr::V4(v4) => v4_denied(v4),
            IpAddr::V6(v6) => v6_denied(v6),
        };
        if denied {
            Err(Denial::ReservedRange)
        } else {
            Ok(())
        }
    }
}

fn v4_denied(ip: Ipv4Addr) -> bool {
    let addr = u32::from(ip);
    DENIED_V4.iter().any(|&(a, b, c, d, len)| {
        let net = u32::from(Ipv4Addr::new(a, b, c, d));
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        addr & mask == net
    })
}

fn v6_denied(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 site local (deprecated)
        || (s[0] & 0xff00) == 0xff00 // ff00::/8 multicast
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // 100::/64 discard
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32 documentation
}

/// The address a packet to `ip` would really reach: the embedded IPv4 address of every
/// IPv4-in-IPv6 form (mapped, compatible, 6to4, NAT64, Teredo), otherwise `ip` itself.
pub fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    let s = v6.segments();
    let o = v6.octets();
    let v4 = |a: u8, b: u8, c: u8, d: u8| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    // ::ffff:a.b.c.d (mapped)
    if s[0..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff {
        return v4(o[12], o[13], o[14], o[15]);
    }
    // ::a.b.c.d (compatible, deprecated); :: and ::1 stay IPv6.
    if s[0..6] == [0, 0, 0, 0, 0, 0] && (s[6] != 0 || s[7] > 1) {
        return v4(o[12], o[13], o[14], o[15]);
    }
    // 64:ff9b::/96 (NAT64 well-known prefix) and 64:ff9b:1::/48 (local-use NAT64).
    if (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0]) || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) {
        return v4(o[12], o[13], o[14], o[15]);
    }
    // 2002:aabb:ccdd::/48 (6to4)
    if s[0] == 0x2002 {
        return v4(o[2], o[3], o[4], o[5]);
    }
    // 2001:0::/32 (Teredo): the client's IPv4 address is the last 32 bits, inverted.
    if s[0] == 0x2001 && s[1] == 0 {
        return v4(!o[12], !o[13], !o[14], !o[15]);
    }
    ip
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_disguise_of_a_private_address_is_denied() {
        let policy = PeerPolicy::new();
        for s in [
            "0.0.0.0",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "2002:7f00:1::1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a00:1",
            "169.254.169.254",
            "10.1.2.3",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "fec0::1",
            "100::1",
            "127.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.88.99.1",
            "::ffff:10.0.0.1",
            "::ffff:0.0.0.0",
            "2001:0:4136:e378:8000:63bf:80ff:fffe", // Teredo for 127.0.0.1
            "2001:db8::1",
        ] {
            assert_eq!(policy.check(ip(s)), Err(Denial::ReservedRange), "{s} must be denied");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        let policy = PeerPolicy::new();
        for s in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "2002:0808:0808::1", "64:ff9b::808:808"] {
            assert_eq!(policy.check(ip(s)), Ok(()), "{s} must be allowed");
        }
    }

    #[test]
    fn the_allow_list_overrides_the_defaults() {
        let policy = PeerPolicy::new().allow("10.0.0.0/8".parse().unwrap());
        assert_eq!(policy.check(ip("10.1.2.3")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:10.1.2.3")), Ok(()));
        assert_eq!(policy.check(ip("192.168.1.1")), Err(Denial::ReservedRange));
    }

    #[test]
    fn loopback_allowance_is_only_loopback() {
        let policy = PeerPolicy::new().allow_loopback(true);
        assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("::1")), Ok(()));
        assert_eq!(policy.check(ip("10.0.0.1")), Err(Denial::ReservedRange));
        assert_eq!(policy.check(ip("0.0.0.0")), Err(Denial::ReservedRange));
    }

    #[test]
    fn the_servers_own_addresses_are_denied() {
        let policy = PeerPolicy::new().add_server_address(ip("203.0.114.5"));
        assert_eq!(policy.check(ip("203.0.114.5")), Err(Denial::ServerAddress));
        assert_eq!(policy.check(ip("::ffff:203.0.114.5")), Err(Denial::ServerAddress));
        assert_eq!(policy.check(ip("203.0.114.6")), Ok(()));
    }
}
