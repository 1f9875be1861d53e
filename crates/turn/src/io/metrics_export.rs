//! Publishes the core's counters as metrics (no usernames, no addresses as labels).

use crate::core::Stats;

/// What was published last, so counters advance by the difference.
#[derive(Default)]
pub(crate) struct Published {
    last: Stats,
}

macro_rules! publish_counters {
    ($now:expr, $last:expr; $($field:ident => $name:expr $(, $k:expr => $v:expr)*;)*) => {
        $(
            let delta = $now.$field.saturating_sub($last.$field);
            if delta > 0 {
                metrics::counter!($name $(, $k => $v)*).increment(delta);
            }
        )*
    };
}

impl Published {
    pub(crate) fn publish(&mut self, now: &Stats, allocations: usize, permissions: usize, channels: usize) {
        metrics::gauge!("switchboard_turn_allocations").set(allocations as f64);
        metrics::gauge!("switchboard_turn_permissions").set(permissions as f64);
        metrics::gauge!("switchboard_turn_channels").set(channels as f64);
        publish_counters!(now, self.last;
            allocations_created => "switchboard_turn_allocations_created_total";
            allocations_expired => "switchboard_turn_allocations_expired_total";
            allocations_deleted => "switchboard_turn_allocations_deleted_total";
            permissions_installed => "switchboard_turn_permissions_installed_total";
            channels_bound => "switchboard_turn_channel_binds_total";
            packets_to_peer => "switchboard_turn_relayed_packets_total", "direction" => "to_peer";
            bytes_to_peer => "switchboard_turn_relayed_bytes_total", "direction" => "to_peer";
            packets_to_client => "switchboard_turn_relayed_packets_total", "direction" => "to_client";
            bytes_to_client => "switchboard_turn_relayed_bytes_total", "direction" => "to_client";
            auth_missing => "switchboard_turn_auth_failures_total", "reason" => "missing";
            auth_bad_credentials => "switchboard_turn_auth_failures_total", "reason" => "bad_credentials";
            auth_stale_nonce => "switchboard_turn_auth_failures_total", "reason" => "stale_nonce";
            peer_denied => "switchboard_turn_peer_denied_total";
            quota_hits => "switchboard_turn_quota_hits_total";
            malformed => "switchboard_turn_malformed_total";
            dropped_no_permission => "switchboard_turn_dropped_total", "reason" => "no_permission";
            tcp_connections_opened => "switchboard_turn_tcp_connections_opened_total";
            tcp_connect_failures => "switchboard_turn_tcp_connect_failures_total";
            tcp_connections_bound => "switchboard_turn_tcp_connections_bound_total";
            tcp_bind_timeouts => "switchboard_turn_tcp_bind_timeouts_total";
        );
        self.last = now.clone();
    }
}
