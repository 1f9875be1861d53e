//! The I/O layer around [`crate::core::Server`]: UDP workers on SO_REUSEPORT sockets, a TCP
//! listener, one UDP socket per relay, and a timer. Everything protocol-shaped is decided by the
//! core; this layer only moves bytes and keeps socket handles.

mod metrics_export;
mod relay;
mod runtime;
mod tcp;
mod udp;

pub use runtime::{first_lan_ipv4, start, RunningTurn, TurnIoConfig};
