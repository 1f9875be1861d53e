//! The sans-IO TURN server: allocations, permissions, channels, long-term authentication with
//! stateless nonces, peer policy and quotas. No sockets, no clock: time is an argument.

mod allocation;
mod auth;
mod config;
mod nonce;
mod ports;
mod server;
mod stats;
mod tcp_relay;

pub use allocation::{Allocation, ClientAddr, Transport};
pub use auth::{Credentials, StaticUser};
pub use config::{Quotas, ServerConfig};
pub use nonce::NonceKey;
pub use ports::PortRange;
pub use server::{Event, Output, RelayBinder, Server, RESERVATION_LIFETIME};
pub use stats::Stats;
pub use tcp_relay::{ConnectionId, CONNECTION_BIND_TIMEOUT, CONNECT_TIMEOUT};

#[cfg(test)]
mod tests;
