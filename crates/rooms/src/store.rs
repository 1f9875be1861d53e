//! Where rooms live: the [`RoomStore`] trait and its in-memory implementation.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use crate::{ClientId, JoinOutcome, LeaveOutcome, MessageOutcome, RoomId, RoomLimits, RoomTable};

/// Room storage as the HTTP layer sees it. One process uses [`MemoryRoomStore`]; a store shared
/// by several nodes implements the same calls.
pub trait RoomStore: Send + Sync + 'static {
    /// Seats a new client in `room`, minting its id.
    fn join(&self, room: &RoomId, loopback: bool, now: Instant) -> (ClientId, JoinOutcome);
    /// Stores or routes a message posted by `client`.
    fn message(&self, room: &RoomId, client: &ClientId, body: String, now: Instant) -> MessageOutcome;
    /// Frees `client`'s seat in `room`.
    fn leave(&self, room: &RoomId, client: &ClientId, now: Instant) -> LeaveOutcome;
    /// How many seats of `room` are taken (0 when it does not exist).
    fn occupancy(&self, room: &RoomId, now: Instant) -> usize;
    /// How many rooms exist.
    fn room_count(&self) -> usize;
    /// Forgets rooms whose TTL passed; returns how many.
    fn expire(&self, now: Instant) -> usize;
}

const SHARDS: usize = 64;

/// Rooms in this process's memory, sharded by room id so unrelated rooms never wait on one lock.
pub struct MemoryRoomStore {
    shards: Box<[Mutex<RoomTable>]>,
    limits: RoomLimits,
    rooms: AtomicUsize,
}

impl MemoryRoomStore {
    /// An empty store enforcing `limits`.
    pub fn new(limits: RoomLimits) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(RoomTable::new())).collect(),
            limits,
            rooms: AtomicUsize::new(0),
        }
    }

    fn shard(&self, room: &RoomId) -> &Mutex<RoomTable> {
        let mut h = DefaultHasher::new();
        room.hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    /// Runs `f` on the shard of `room` and keeps the global room count in step.
    fn with_shard<T>(&self, room: &RoomId, f: impl FnOnce(&mut RoomTable, usize) -> T) -> T {
        let mut table = self.shard(room).lock();
        let before = table.len();
        let elsewhere = self.rooms.load(Ordering::Relaxed).saturating_sub(before);
        let out = f(&mut table, elsewhere);
        let after = table.len();
        if after > before {
            self.rooms.fetch_add(after - before, Ordering::Relaxed);
        } else if before > after {
            self.rooms.fetch_sub(before - after, Ordering::Relaxed);
        }
        out
    }
}

impl RoomStore for MemoryRoomStore {
    fn join(&self, room: &RoomId, loopback: bool, now: Instant) -> (ClientId, JoinOutcome) {
        let client = ClientId::random();
        let outcome = self.with_shard(room, |t, elsewhere| {
            t.join(room, client.clone(), loopback, now, &self.limits, elsewhere)
        });
        (client, outcome)
    }

    fn message(&self, room: &RoomId, client: &ClientId, body: String, now: Instant) -> MessageOutcome {
        self.with_shard(room, |t, _| t.message(room, client, body, now, &self.limits))
    }

    fn leave(&self, room: &RoomId, client: &ClientId, now: Instant) -> LeaveOutcome {
        self.with_shard(room, |t, _| t.leave(room, client, now))
    }

    fn occupancy(&self, room: &RoomId, now: Instant) -> usize {
        self.shard(room).lock().get(room, now).map_or(0, |r| r.occupancy())
    }

    fn room_count(&self) -> usize {
        self.rooms.load(Ordering::Relaxed)
    }

    fn expire(&self, now: Instant) -> usize {
        let mut total = 0;
        for shard in self.shards.iter() {
            let n = shard.lock().expire(now);
            self.rooms.fetch_sub(n, Ordering::Relaxed);
            total += n;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_rooms_across_shards_and_enforces_the_global_limit() {
        let store = MemoryRoomStore::new(RoomLimits { max_rooms: 3, ..RoomLimits::default() });
        let now = Instant::now();
        for name in ["r1", "r2", "r3"] {
            let (_, o) = store.join(&RoomId::parse(name, 64).unwrap(), false, now);
            assert!(matches!(o, JoinOutcome::Joined { .. }));
        }
        assert_eq!(store.room_count(), 3);
        let (_, o) = store.join(&RoomId::parse("r4", 64).unwrap(), false, now);
        assert_eq!(o, JoinOutcome::TooManyRooms);
        assert_eq!(store.room_count(), 3);
    }
}
