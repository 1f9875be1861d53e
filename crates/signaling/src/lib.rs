//! Collider signaling semantics, sans-IO (apprtc-protocol.md §3).
//!
//! Clients register a WebSocket under `(room, client)`; a message sent by one client goes to the
//! other client of the room, or waits in the sender's queue until that client registers. A client
//! whose socket closes keeps its entry for a reconnect window, then is removed. The [`Hub`] holds
//! that state; sockets are reached through the [`Connection`] trait, so tests use a fake one and
//! the HTTP layer a channel to the socket's task. Time is passed in.
#![forbid(unsafe_code)]

mod command;
mod error;
mod frame;
mod hub;
mod session;

pub use command::{parse_command, parse_command_ref, Command, CommandRef};
pub use error::SignalingError;
pub use frame::{encode_frame, Frame};
pub use hub::{Connection, ConnectionId, Hub, HubConfig, HubStatus, Removal};
pub use session::{Session, SessionAction};
