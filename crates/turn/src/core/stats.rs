//! Counters the core keeps; the I/O layer publishes them as metrics. Never per-user.

/// Monotonic counters and current sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Allocations created since start.
    pub allocations_created: u64,
    /// Allocations that expired (not refreshed) since start.
    pub allocations_expired: u64,
    /// Allocations deleted by the client (Refresh with lifetime 0).
    pub allocations_deleted: u64,
    /// Permissions created or refreshed.
    pub permissions_installed: u64,
    /// Channel bindings created or refreshed.
    pub channels_bound: u64,
    /// Packets relayed client → peer.
    pub packets_to_peer: u64,
    /// Bytes relayed client → peer.
    pub bytes_to_peer: u64,
    /// Packets relayed peer → client.
    pub packets_to_client: u64,
    /// Bytes relayed peer → client.
    pub bytes_to_client: u64,
    /// Requests without credentials (answered 401 with a nonce).
    pub auth_missing: u64,
    /// Requests with an unknown user or a wrong MAC.
    pub auth_bad_credentials: u64,
    /// Requests with an expired or forged nonce (438).
    pub auth_stale_nonce: u64,
    /// Peer addresses refused by policy (403).
    pub peer_denied: u64,
    /// Requests refused by a quota (486/508).
    pub quota_hits: u64,
    /// Datagrams or frames that could not be parsed.
    pub malformed: u64,
    /// Packets dropped for lack of a permission or channel.
    pub dropped_no_permission: u64,
    /// TCP peer connections established (RFC 6062: by Connect or by the peer).
    pub tcp_connections_opened: u64,
    /// Connect requests answered 447 (the peer refused, or no answer in time).
    pub tcp_connect_failures: u64,
    /// TCP peer connections bound to a client data connection.
    pub tcp_connections_bound: u64,
    /// TCP peer connections closed for want of a ConnectionBind in time.
    pub tcp_bind_timeouts: u64,
}
