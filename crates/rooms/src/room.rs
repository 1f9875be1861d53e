//! One room: its seats and the messages stored for the next joiner.

use std::time::Instant;

use crate::ClientId;

/// A seat in a room, held by one client.
#[derive(Debug, Clone)]
pub struct Seat {
    /// Who holds the seat.
    pub client_id: ClientId,
    /// Whether this client makes the offer. Re-assigned to the one left when the other leaves.
    pub is_initiator: bool,
    /// Messages this client posted while alone in the room, oldest first.
    pub messages: Vec<String>,
}

/// A room: up to two seats, and when it expires unless written again.
#[derive(Debug, Clone)]
pub struct Room {
    /// Seats in join order.
    pub seats: Vec<Seat>,
    /// The room is forgotten at this instant unless a write refreshes it (AppRTC's 24 h TTL).
    pub expires_at: Instant,
}

impl Room {
    /// How many seats are taken (the loopback phantom counts).
    pub fn occupancy(&self) -> usize {
        self.seats.len()
    }

    /// The seat of `client`, if it sits here.
    pub fn seat_mut(&mut self, client: &ClientId) -> Option<&mut Seat> {
        self.seats.iter_mut().find(|s| &s.client_id == client)
    }

    /// Whether `client` sits here.
    pub fn has(&self, client: &ClientId) -> bool {
        self.seats.iter().any(|s| &s.client_id == client)
    }

    /// Messages stored by all seats, counted together against the per-room cap.
    pub fn stored_messages(&self) -> usize {
        self.seats.iter().map(|s| s.messages.len()).sum()
    }
}
