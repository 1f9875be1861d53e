//! The room table: join, message and leave as pure state transitions (apprtc-protocol.md §1.6–§1.8).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::{ClientId, Room, RoomId, Seat, LOOPBACK_CLIENT_ID, ROOM_CAPACITY};

/// Bounds on what the room table keeps.
#[derive(Debug, Clone)]
pub struct RoomLimits {
    /// A room not written for this long is forgotten (AppRTC: 24 h).
    pub ttl: Duration,
    /// At most this many messages are stored per room while the initiator waits.
    pub max_stored_messages: usize,
    /// At most this many rooms exist at once; a join that would create one more is refused.
    pub max_rooms: usize,
}

impl Default for RoomLimits {
    fn default() -> Self {
        Self { ttl: Duration::from_secs(24 * 3600), max_stored_messages: 256, max_rooms: 100_000 }
    }
}

/// What a join did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The client has a seat.
    Joined {
        /// Whether the client makes the offer.
        is_initiator: bool,
        /// Messages the other client stored before this one joined, oldest first.
        messages: Vec<String>,
    },
    /// The room already seats two clients (AppRTC `FULL`).
    Full,
    /// The minted client id collided with one in the room (AppRTC `DUPLICATE_CLIENT`).
    DuplicateClient,
    /// Creating the room would exceed the room limit.
    TooManyRooms,
}

/// What a posted message should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    /// The sender is alone: the message was stored for the next joiner.
    Stored,
    /// Both seats are taken: the caller hands the message to signaling.
    Forward,
    /// No such room (AppRTC `UNKNOWN_ROOM`).
    UnknownRoom,
    /// The sender has no seat in the room (AppRTC `UNKNOWN_CLIENT`).
    UnknownClient,
    /// The room already stores as many messages as allowed.
    TooManyStored,
}

/// What a leave did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveOutcome {
    /// The client left; `room_deleted` when nobody remains.
    Left {
        /// Whether the room was deleted because it became empty.
        room_deleted: bool,
    },
    /// No such room.
    UnknownRoom,
    /// No such client in the room.
    UnknownClient,
}

/// All rooms of one shard. Sans-IO: time is an argument.
#[derive(Debug, Default)]
pub struct RoomTable {
    rooms: HashMap<RoomId, Room>,
}

impl RoomTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many rooms exist (including any expired but not yet swept).
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether no room exists.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// The live room `id`, if any.
    pub fn get(&self, id: &RoomId, now: Instant) -> Option<&Room> {
        self.rooms.get(id).filter(|r| r.expires_at > now)
    }

    /// Seats `client` in `room`. `rooms_elsewhere` counts rooms held outside this table (other
    /// shards) so the global room limit can be enforced.
    pub fn join(
        &mut self,
        room: &RoomId,
        client: ClientId,
        loopback: bool,
        now: Instant,
        limits: &RoomLimits,
        rooms_elsewhere: usize,
    ) -> JoinOutcome {
        self.drop_if_expired(room, now);
        if !self.rooms.contains_key(room) && self.rooms.len() + rooms_elsewhere >= limits.max_rooms {
            return JoinOutcome::TooManyRooms;
        }
        let entry = self
            .rooms
            .entry(room.clone())
            .or_insert_with(|| Room { seats: Vec::with_capacity(ROOM_CAPACITY), expires_at: now });
        let outcome = if entry.occupancy() >= ROOM_CAPACITY {
            JoinOutcome::Full
        } else if entry.has(&client) {
            JoinOutcome::DuplicateClient
        } else if entry.occupancy() == 0 {
            entry.seats.push(Seat { client_id: client, is_initiator: true, messages: Vec::new() });
            if loopback {
                entry.seats.push(Seat {
                    client_id: loopback_client_id(),
                    is_initiator: false,
                    messages: Vec::new(),
                });
            }
            JoinOutcome::Joined { is_initiator: true, messages: Vec::new() }
        } else {
            let messages = entry.seats.iter_mut().flat_map(|s| std::mem::take(&mut s.messages)).collect();
            entry.seats.push(Seat { client_id: client, is_initiator: false, messages: Vec::new() });
            JoinOutcome::Joined { is_initiator: false, messages }
        };
        if matches!(outcome, JoinOutcome::Joined { .. }) {
            entry.expires_at = now + limits.ttl;
        } else if entry.occupancy() == 0 {
            self.rooms.remove(room);
        }
        outcome
    }

    /// Stores or routes a message posted by `client` (§1.7).
    pub fn message(
        &mut self,
        room: &RoomId,
        client: &ClientId,
        body: String,
        now: Instant,
        limits: &RoomLimits,
    ) -> MessageOutcome {
        self.drop_if_expired(room, now);
        let Some(entry) = self.rooms.get_mut(room) else {
            return MessageOutcome::UnknownRoom;
        };
        if !entry.has(client) {
            return MessageOutcome::UnknownClient;
        }
        if entry.occupancy() >= ROOM_CAPACITY {
            return MessageOutcome::Forward;
        }
        if entry.stored_messages() >= limits.max_stored_messages {
            return MessageOutcome::TooManyStored;
        }
        if let Some(seat) = entry.seat_mut(client) {
            seat.messages.push(body);
        }
        entry.expires_at = now + limits.ttl;
        MessageOutcome::Stored
    }

    /// Removes `client` from `room` (§1.8). The loopback phantom leaves with it; the one left
    /// becomes the initiator.
    pub fn leave(&mut self, room: &RoomId, client: &ClientId, now: Instant) -> LeaveOutcome {
        self.drop_if_expired(room, now);
        let Some(entry) = self.rooms.get_mut(room) else {
            return LeaveOutcome::UnknownRoom;
        };
        if !entry.has(client) {
            return LeaveOutcome::UnknownClient;
        }
        entry.seats.retain(|s| &s.client_id != client && s.client_id.as_str() != LOOPBACK_CLIENT_ID);
        if let Some(remaining) = entry.seats.first_mut() {
            remaining.is_initiator = true;
            LeaveOutcome::Left { room_deleted: false }
        } else {
            self.rooms.remove(room);
            LeaveOutcome::Left { room_deleted: true }
        }
    }

    /// Forgets every room whose TTL passed; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.rooms.len();
        self.rooms.retain(|_, r| r.expires_at > now);
        before - self.rooms.len()
    }

    fn drop_if_expired(&mut self, room: &RoomId, now: Instant) {
        if self.rooms.get(room).is_some_and(|r| r.expires_at <= now) {
            self.rooms.remove(room);
        }
    }
}

fn loopback_client_id() -> ClientId {
    ClientId::parse(LOOPBACK_CLIENT_ID, LOOPBACK_CLIENT_ID.len()).expect("constant is a valid id")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(s: &str) -> RoomId {
        RoomId::parse(s, 64).unwrap()
    }
    fn client(s: &str) -> ClientId {
        ClientId::parse(s, 64).unwrap()
    }

    fn joined(o: JoinOutcome) -> (bool, Vec<String>) {
        match o {
            JoinOutcome::Joined { is_initiator, messages } => (is_initiator, messages),
            other => panic!("expected Joined, got {other:?}"),
        }
    }

    #[test]
    fn first_is_initiator_second_gets_stored_messages_third_is_full() {
        let mut t = RoomTable::new();
        let l = RoomLimits::default();
        let now = Instant::now();
        let r = room("foo");
        assert_eq!(joined(t.join(&r, client("1"), false, now, &l, 0)), (true, vec![]));
        for m in ["1", "2", "3"] {
            assert_eq!(t.message(&r, &client("1"), m.into(), now, &l), MessageOutcome::Stored);
        }
        let (init, msgs) = joined(t.join(&r, client("2"), false, now, &l, 0));
        assert!(!init);
        assert_eq!(msgs, vec!["1", "2", "3"]);
        assert_eq!(t.join(&r, client("3"), false, now, &l, 0), JoinOutcome::Full);
        assert_eq!(t.message(&r, &client("1"), "4".into(), now, &l), MessageOutcome::Forward);
    }

    #[test]
    fn full_is_checked_before_duplicate() {
        let mut t = RoomTable::new();
        let l = RoomLimits::default();
        let now = Instant::now();
        let r = room("foo");
        joined(t.join(&r, client("1"), false, now, &l, 0));
        assert_eq!(t.join(&r, client("1"), false, now, &l, 0), JoinOutcome::DuplicateClient);
        joined(t.join(&r, client("2"), false, now, &l, 0));
        assert_eq!(t.join(&r, client("1"), false, now, &l, 0), JoinOutcome::Full);
    }

    #[test]
    fn leave_makes_the_remaining_client_initiator_and_deletes_empty_rooms() {
        let mut t = RoomTable::new();
        let l = RoomLimits::default();
        let now = Instant::now();
        let r = room("foo");
        joined(t.join(&r, client("1"), false, now, &l, 0));
        joined(t.join(&r, client("2"), false, now, &l, 0));
        assert_eq!(t.leave(&r, &client("1"), now), LeaveOutcome::Left { room_deleted: false });
        assert!(t.get(&r, now).unwrap().seats[0].is_initiator);
        assert_eq!(t.leave(&r, &client("9"), now), LeaveOutcome::UnknownClient);
        assert_eq!(t.leave(&r, &client("2"), now), LeaveOutcome::Left { room_deleted: true });
        assert_eq!(t.leave(&r, &client("2"), now), LeaveOutcome::UnknownRoom);
        assert_eq!(joined(t.join(&r, client("3"), false, now, &l, 0)).0, true);
    }

    #[test]
    fn loopback_seats_a_phantom_that_leaves_with_the_caller() {
        let mut t = RoomTable::new();
        let l = RoomLimits::default();
        let now = Instant::now();
        let r = room("loop");
        assert!(joined(t.join(&r, client("1"), true, now, &l, 0)).0);
        assert_eq!(t.get(&r, now).unwrap().occupancy(), 2);
        assert_eq!(t.message(&r, &client("1"), "offer".into(), now, &l), MessageOutcome::Forward);
        assert_eq!(t.leave(&r, &client("1"), now), LeaveOutcome::Left { room_deleted: true });
    }

    #[test]
    fn unknown_room_and_client_on_message() {
        let mut t = RoomTable::new();
        let l = RoomLimits::default();
        let now = Instant::now();
        assert_eq!(t.message(&room("x"), &client("1"), "m".into(), now, &l), MessageOutcome::UnknownRoom);
        joined(t.join(&room("x"), client("1"), false, now, &l, 0));
        assert_eq!(t.message(&room("x"), &client("2"), "m".into(), now, &l), MessageOutcome::UnknownClient);
    }

    #[test]
    fn stored_messages_are_capped() {
        let mut t = RoomTable::new();
        let l = RoomLimits { max_stored_messages: 2, ..RoomLimits::default() };
        let now = Instant::now();
        let r = room("cap");
        joined(t.join(&r, client("1"), false, now, &l, 0));
        assert_eq!(t.message(&r, &client("1"), "a".into(), now, &l), MessageOutcome::Stored);
        assert_eq!(t.message(&r, &client("1"), "b".into(), now, &l), MessageOutcome::Stored);
        assert_eq!(t.message(&r, &client("1"), "c".into(), now, &l), MessageOutcome::TooManyStored);
    }

    #[test]
    fn rooms_expire_after_ttl_and_writes_refresh_it() {
        let mut t = RoomTable::new();
        let l = RoomLimits { ttl: Duration::from_secs(10), ..RoomLimits::default() };
        let t0 = Instant::now();
        let r = room("ttl");
        joined(t.join(&r, client("1"), false, t0, &l, 0));
        let t1 = t0 + Duration::from_secs(8);
        assert_eq!(t.message(&r, &client("1"), "a".into(), t1, &l), MessageOutcome::Stored);
        assert!(t.get(&r, t0 + Duration::from_secs(15)).is_some());
        assert!(t.get(&r, t0 + Duration::from_secs(19)).is_none());
        assert_eq!(t.expire(t0 + Duration::from_secs(19)), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn room_limit_refuses_new_rooms_only() {
        let mut t = RoomTable::new();
        let l = RoomLimits { max_rooms: 1, ..RoomLimits::default() };
        let now = Instant::now();
        joined(t.join(&room("a"), client("1"), false, now, &l, 0));
        assert_eq!(t.join(&room("b"), client("2"), false, now, &l, 0), JoinOutcome::TooManyRooms);
        joined(t.join(&room("a"), client("3"), false, now, &l, 0));
    }
}
