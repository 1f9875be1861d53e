//! AppRTC room semantics, sans-IO.
//!
//! A room has at most two seats. The first joiner is the initiator; until a second client joins,
//! the initiator's signaling messages are stored and then handed to the second joiner in its join
//! response (apprtc-protocol.md §1.6–§1.8). Nothing here touches a socket or reads the clock:
//! callers pass `now` in, which keeps every rule a fast deterministic unit test.
#![forbid(unsafe_code)]

mod id;
mod room;
mod store;
mod table;

pub use id::{ClientId, IdError, RoomId};
pub use room::{Room, Seat};
pub use store::{MemoryRoomStore, RoomStore};
pub use table::{JoinOutcome, LeaveOutcome, MessageOutcome, RoomLimits, RoomTable};

/// The phantom client the room server seats beside the caller in loopback mode (`debug=loopback`).
pub const LOOPBACK_CLIENT_ID: &str = "LOOPBACK_CLIENT_ID";

/// How many clients a room seats, in the room server and the signaling hub alike.
pub const ROOM_CAPACITY: usize = 2;
