//! The I/O layer around [`crate::core::Server`]: data-path worker threads, each with an
//! SO_REUSEPORT listen socket and a share of the relay sockets, read and written in batches; a
//! TCP listener; TCP relays of RFC 6062 allocations (listeners, outgoing connects, splices);
//! and a timer. Everything protocol-shaped is decided by the
//! core; this layer only moves bytes and keeps socket handles.

mod batch;
mod metrics_export;
mod runtime;
mod tcp;
mod tcp_relay;
mod tls;
mod worker;

pub use runtime::{first_lan_ipv4, start, RunningTurn, TurnIoConfig};
pub use tls::{serve_tls, StreamHandle};
