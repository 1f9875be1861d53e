//! The hub: Collider's room table (§3.5), sharded by room.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rooms::{ClientId, RoomId, ROOM_CAPACITY};

use crate::{Frame, SignalingError};

/// Identifies one socket, so a late close of an old socket cannot unregister its successor.
pub type ConnectionId = u64;

/// A registered client's socket, as the hub sees it.
pub trait Connection: Send + Sync + 'static {
    /// This socket's id.
    fn id(&self) -> ConnectionId;
    /// Queues `frame` for the socket; `false` when the socket is gone or its outbound queue is
    /// full.
    fn deliver(&self, frame: &Frame) -> bool;
    /// Asks the socket to close.
    fn close(&self);
}

/// Hub limits and timers.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// How long a client without a socket is kept before removal (Collider: 10 s).
    pub reconnect_window: Duration,
    /// Most messages a client may have waiting (Collider: 1024).
    pub max_queued_messages: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self { reconnect_window: Duration::from_secs(10), max_queued_messages: 1024 }
    }
}

/// A client removed from the hub; the room server frees its seat too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The room it was in.
    pub room: RoomId,
    /// The client removed.
    pub client: ClientId,
}

/// Counters for Collider's `/status` page and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubStatus {
    /// Clients with a registered socket now.
    pub open_ws: usize,
    /// Successful registrations since start.
    pub total_ws: u64,
    /// Rooms in the hub now.
    pub rooms: usize,
    /// Clients (with or without socket) in the hub now.
    pub clients: usize,
}

struct Client<C> {
    id: ClientId,
    conn: Option<Arc<C>>,
    queue: VecDeque<Frame>,
    /// When an unregistered client is removed; `None` while a socket is registered.
    expires_at: Option<Instant>,
    /// It left the room (the room server's `/leave`): its socket may still carry its `bye`, but
    /// when that socket closes it is removed at once, with no reconnect window.
    left: bool,
}

/// Room ids are hashed with foldhash, randomly seeded per map, rather than SipHash: a room
/// lookup happens on every relayed message, and ids are short validated strings.
type RoomHasher = foldhash::fast::RandomState;

type Shard<C> = HashMap<RoomId, Vec<Client<C>>, RoomHasher>;

const SHARDS: usize = 64;

/// Collider's room table. Each room has at most two clients; each client owns a queue of
/// messages it sent while nobody could receive them.
pub struct Hub<C: Connection> {
    shards: Box<[Mutex<Shard<C>>]>,
    /// Picks a room's shard; seeded apart from the shards' own maps.
    shard_hasher: RoomHasher,
    config: HubConfig,
    open_ws: AtomicUsize,
    total_ws: AtomicU64,
    rooms: AtomicUsize,
    clients: AtomicUsize,
}

impl<C: Connection> Hub<C> {
    /// An empty hub.
    pub fn new(config: HubConfig) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::with_hasher(RoomHasher::default()))).collect(),
            shard_hasher: RoomHasher::default(),
            config,
            open_ws: AtomicUsize::new(0),
            total_ws: AtomicU64::new(0),
            rooms: AtomicUsize::new(0),
            clients: AtomicUsize::new(0),
        }
    }

    /// The hub's configuration.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    fn shard(&self, room: &RoomId) -> &Mutex<Shard<C>> {
        &self.shards[(self.shard_hasher.hash_one(room) as usize) % SHARDS]
    }

    /// Finds or creates `client` in `room`; a new client starts unregistered with a removal
    /// deadline. Returns its index. It fails only when the room already holds two other clients,
    /// so a failure never leaves an empty room behind.
    fn get_or_create(
        &self,
        shard: &mut Shard<C>,
        room: &RoomId,
        client: &ClientId,
        now: Instant,
    ) -> Result<usize, SignalingError> {
        let clients = match shard.get_mut(room) {
            Some(c) => c,
            None => {
                self.rooms.fetch_add(1, Ordering::Relaxed);
                shard.entry(room.clone()).or_insert_with(|| Vec::with_capacity(ROOM_CAPACITY))
            }
        };
        if let Some(i) = clients.iter().position(|c| &c.id == client) {
            return Ok(i);
        }
        if clients.len() >= ROOM_CAPACITY {
            return Err(SignalingError::RoomFull);
        }
        clients.push(Client {
            id: client.clone(),
            conn: None,
            queue: VecDeque::new(),
            expires_at: Some(now + self.config.reconnect_window),
            left: false,
        });
        self.clients.fetch_add(1, Ordering::Relaxed);
        Ok(clients.len() - 1)
    }

    /// Drops a room left with no clients.
    fn drop_if_empty(&self, shard: &mut Shard<C>, room: &RoomId) {
        if shard.get(room).is_some_and(|c| c.is_empty()) {
            shard.remove(room);
            self.rooms.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Binds `conn` to `(room, client)` and flushes the other client's queue to it (§3.2).
    pub fn register(&self, room: &RoomId, client: &ClientId, conn: Arc<C>, now: Instant) -> Result<(), SignalingError> {
        let mut shard = self.shard(room).lock();
        let index = self.get_or_create(&mut shard, room, client, now)?;
        let clients = shard.get_mut(room).expect("room exists after get_or_create");
        if clients[index].conn.is_some() {
            return Err(SignalingError::DuplicatedRegistration);
        }
        for other in clients.iter_mut().filter(|c| &c.id != client) {
            for msg in other.queue.drain(..) {
                conn.deliver(&msg);
            }
        }
        let me = &mut clients[index];
        me.conn = Some(conn);
        me.expires_at = None;
        self.open_ws.fetch_add(1, Ordering::Relaxed);
        self.total_ws.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Sends `msg` from `src` to the other client of `room`, or queues it in `src`'s queue when
    /// that client is absent or cannot take it now (§3.5). Creates room and sender as needed.
    /// The message is encoded as a server frame once, here, outside the lock.
    pub fn send(&self, room: &RoomId, src: &ClientId, msg: impl Into<Frame>, now: Instant) -> Result<(), SignalingError> {
        let msg: Frame = msg.into();
        let mut shard = self.shard(room).lock();
        let index = self.get_or_create(&mut shard, room, src, now)?;
        let clients = shard.get_mut(room).expect("room exists after get_or_create");
        let delivered = clients
            .iter()
            .find(|c| &c.id != src)
            .and_then(|dst| dst.conn.as_ref())
            .is_some_and(|conn| conn.deliver(&msg));
        if delivered {
            return Ok(());
        }
        let me = &mut clients[index];
        if me.queue.len() >= self.config.max_queued_messages {
            return Err(SignalingError::TooManyQueued);
        }
        me.queue.push_back(msg);
        Ok(())
    }

    /// Unbinds socket `conn` from `(room, client)` after the socket closed; the client stays for
    /// the reconnect window. A socket that is no longer the registered one is ignored.
    pub fn deregister(&self, room: &RoomId, client: &ClientId, conn: ConnectionId, now: Instant) {
        let mut shard = self.shard(room).lock();
        let Some(c) = shard.get_mut(room).and_then(|cs| cs.iter_mut().find(|c| &c.id == client)) else {
            return;
        };
        if c.conn.as_ref().is_some_and(|s| s.id() == conn) {
            c.conn = None;
            c.expires_at = Some(now + self.config.reconnect_window);
            self.open_ws.fetch_sub(1, Ordering::Relaxed);
            if c.left {
                drop(shard);
                self.remove(room, client);
            }
        }
    }

    /// The client left the room for good (the room server's `/leave`, which AppRTC's clients
    /// send before their `bye`). Without a socket it is removed now; with one, the socket stays
    /// to carry the `bye`, and the client goes when it closes instead of holding its seat for the
    /// reconnect window (a closed tab's `DELETE` often never arrives). Returns whether it was
    /// removed now.
    pub fn leave(&self, room: &RoomId, client: &ClientId) -> bool {
        let mut shard = self.shard(room).lock();
        let Some(c) = shard.get_mut(room).and_then(|cs| cs.iter_mut().find(|c| &c.id == client)) else {
            return false;
        };
        if c.conn.is_some() {
            c.left = true;
            return false;
        }
        drop(shard);
        self.remove(room, client)
    }

    /// Removes `(room, client)` at once: closes its socket and drops its queue (Collider's
    /// DELETE). Returns whether it existed.
    pub fn remove(&self, room: &RoomId, client: &ClientId) -> bool {
        let mut shard = self.shard(room).lock();
        let Some(clients) = shard.get_mut(room) else {
            return false;
        };
        let Some(i) = clients.iter().position(|c| &c.id == client) else {
            return false;
        };
        let removed = clients.swap_remove(i);
        self.forget(removed);
        self.drop_if_empty(&mut shard, room);
        true
    }

    fn forget(&self, client: Client<C>) {
        if let Some(conn) = client.conn {
            conn.close();
            self.open_ws.fetch_sub(1, Ordering::Relaxed);
        }
        self.clients.fetch_sub(1, Ordering::Relaxed);
    }

    /// Removes every client whose reconnect window has passed, and returns them.
    pub fn expire(&self, now: Instant) -> Vec<Removal> {
        let mut removed = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            let mut emptied = Vec::new();
            for (room, clients) in shard.iter_mut() {
                let mut i = 0;
                while i < clients.len() {
                    if clients[i].expires_at.is_some_and(|t| t <= now) {
                        let c = clients.swap_remove(i);
                        removed.push(Removal { room: room.clone(), client: c.id.clone() });
                        self.forget(c);
                    } else {
                        i += 1;
                    }
                }
                if clients.is_empty() {
                    emptied.push(room.clone());
                }
            }
            for room in emptied {
                self.drop_if_empty(&mut shard, &room);
            }
        }
        removed
    }

    /// Delivers `msg` to every registered client of `room`; returns how many got it. Used to
    /// tell the remaining client that its peer is gone for good.
    pub fn deliver_to_room(&self, room: &RoomId, msg: impl AsRef<str>) -> usize {
        let msg = &Frame::message(msg.as_ref());
        let shard = self.shard(room).lock();
        let Some(clients) = shard.get(room) else {
            return 0;
        };
        clients.iter().filter_map(|c| c.conn.as_ref()).filter(|conn| conn.deliver(msg)).count()
    }

    /// Counters for `/status` and metrics.
    pub fn status(&self) -> HubStatus {
        HubStatus {
            open_ws: self.open_ws.load(Ordering::Relaxed),
            total_ws: self.total_ws.load(Ordering::Relaxed),
            rooms: self.rooms.load(Ordering::Relaxed),
            clients: self.clients.load(Ordering::Relaxed),
        }
    }

    /// How many messages `client` has waiting (for tests and diagnostics).
    pub fn queued(&self, room: &RoomId, client: &ClientId) -> Option<usize> {
        let shard = self.shard(room).lock();
        shard.get(room)?.iter().find(|c| &c.id == client).map(|c| c.queue.len())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// A socket that records what it was given.
    #[derive(Default)]
    pub struct FakeConnection {
        pub id: ConnectionId,
        pub got: Mutex<Vec<String>>,
        pub closed: AtomicBool,
        pub full: AtomicBool,
    }

    impl FakeConnection {
        pub fn new(id: ConnectionId) -> Arc<Self> {
            Arc::new(Self { id, ..Self::default() })
        }
        pub fn messages(&self) -> Vec<String> {
            self.got.lock().clone()
        }
    }

    impl Connection for FakeConnection {
        fn id(&self) -> ConnectionId {
            self.id
        }
        fn deliver(&self, frame: &Frame) -> bool {
            if self.closed.load(Ordering::Relaxed) || self.full.load(Ordering::Relaxed) {
                return false;
            }
            let v: serde_json::Value = serde_json::from_str(frame.as_str().trim_end()).expect("frame is JSON");
            assert_eq!(v["error"], "", "relayed frames carry an empty error");
            self.got.lock().push(v["msg"].as_str().expect("msg is a string").to_string());
            true
        }
        fn close(&self) {
            self.closed.store(true, Ordering::Relaxed);
        }
    }

    pub fn room(s: &str) -> RoomId {
        RoomId::parse(s, 64).unwrap()
    }
    pub fn client(s: &str) -> ClientId {
        ClientId::parse(s, 64).unwrap()
    }
    fn msg(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    #[test]
    fn delivers_between_registered_clients() {
        let hub = Hub::new(HubConfig::default());
        let now = Instant::now();
        let (a, b) = (FakeConnection::new(1), FakeConnection::new(2));
        hub.register(&room("abc"), &client("a"), a.clone(), now).unwrap();
        hub.register(&room("abc"), &client("b"), b.clone(), now).unwrap();
        hub.send(&room("abc"), &client("a"), msg("hello"), now).unwrap();
        assert_eq!(b.messages(), vec!["hello"]);
        assert!(a.messages().is_empty());
        assert_eq!(hub.status().open_ws, 2);
        assert_eq!(hub.status().total_ws, 2);
    }

    #[test]
    fn queues_until_the_peer_registers_then_flushes_in_order() {
        let hub = Hub::new(HubConfig::default());
        let now = Instant::now();
        hub.send(&room("abc"), &client("456"), msg("hello!"), now).unwrap();
        hub.send(&room("abc"), &client("456"), msg("again"), now).unwrap();
        assert_eq!(hub.status().rooms, 1);
        let c = FakeConnection::new(1);
        hub.register(&room("abc"), &client("123"), c.clone(), now).unwrap();
        assert_eq!(c.messages(), vec!["hello!", "again"]);
        assert_eq!(hub.queued(&room("abc"), &client("456")), Some(0));
    }

    #[test]
    fn send_to_unregistered_peer_queues_in_senders_queue() {
        let hub = Hub::new(HubConfig::default());
        let now = Instant::now();
        let a = FakeConnection::new(1);
        hub.register(&room("r"), &client("a"), a, now).unwrap();
        hub.send(&room("r"), &client("b"), msg("x"), now).unwrap();
        assert_eq!(hub.queued(&room("r"), &client("b")), Some(0), "a is registered: delivered");
        hub.send(&room("r"), &client("a"), msg("y"), now).unwrap();
        assert_eq!(hub.queued(&room("r"), &client("a")), Some(1), "b has no socket: queued");
    }

    #[test]
    fn third_client_is_refused() {
        let hub = Hub::new(HubConfig::default());
        let now = Instant::now();
        hub.register(&room("r"), &client("a"), FakeConnection::new(1), now).unwrap();
        hub.register(&room("r"), &client("b"), FakeConnection::new(2), now).unwrap();
        assert_eq!(hub.register(&room("r"), &client("c"), FakeConnection::new(3), now), Err(SignalingError::RoomFull));
        assert_eq!(hub.send(&room("r"), &client("c"), msg("m"), now), Err(SignalingError::RoomFull));
        assert_eq!(hub.status().clients, 2);
    }

    #[test]
    fn duplicate_registration_leaves_the_live_socket_alone() {
        let hub = Hub::new(HubConfig::default());
        let now = Instant::now();
        let first = FakeConnection::new(1);
        hub.register(&room("r"), &client("a"), first.clone(), now).unwrap();
        assert_eq!(
            hub.register(&room("r"), &client("a"), FakeConnection::new(2), now),
            Err(SignalingError::DuplicatedRegistration)
        );
        assert!(!first.closed.load(Ordering::Relaxed));
        assert_eq!(hub.status().open_ws, 1);
    }

    #[test]
    fn queue_is_capped() {
        let hub: Hub<FakeConnection> = Hub::new(HubConfig { max_queued_messages: 1024, ..HubConfig::default() });
        let now = Instant::now();
        for _ in 0..1024 {
            hub.send(&room("r"), &client("a"), msg("m"), now).unwrap();
        }
        assert_eq!(hub.send(&room("r"), &client("a"), msg("m"), now), Err(SignalingError::TooManyQueued));
    }

    #[test]
    fn full_outbound_queue_falls_back_to_the_senders_queue() {
        let hub = Hub::new(HubConfig::default());
        let now = Instant::now();
        let b = FakeConnection::new(2);
        hub.register(&room("r"), &client("b"), b.clone(), now).unwrap();
        b.full.store(true, Ordering::Relaxed);
        hub.send(&room("r"), &client("a"), msg("m"), now).unwrap();
        assert_eq!(hub.queued(&room("r"), &client("a")), Some(1));
    }

    #[test]
    fn closed_socket_keeps_the_client_for_the_window_then_expires() {
        let window = Duration::from_secs(1);
        let hub: Hub<FakeConnection> = Hub::new(HubConfig { reconnect_window: window, ..HubConfig::default() });
        let t0 = Instant::now();
        let a = FakeConnection::new(1);
        hub.register(&room("r"), &client("a"), a, t0).unwrap();
        hub.deregister(&room("r"), &client("a"), 1, t0);
        assert_eq!(hub.status().open_ws, 0);
        assert_eq!(hub.status().clients, 1);
        assert!(hub.expire(t0 + Duration::from_millis(500)).is_empty());
        let removed = hub.expire(t0 + Duration::from_secs(2));
        assert_eq!(removed, vec![Removal { room: room("r"), client: client("a") }]);
        assert_eq!(hub.status(), HubStatus { open_ws: 0, total_ws: 1, rooms: 0, clients: 0 });
    }

    #[test]
    fn reregister_within_the_window_cancels_removal() {
        let window = Duration::from_secs(1);
        let hub: Hub<FakeConnection> = Hub::new(HubConfig { reconnect_window: window, ..HubConfig::default() });
        let t0 = Instant::now();
        hub.register(&room("r"), &client("a"), FakeConnection::new(1), t0).unwrap();
        hub.deregister(&room("r"), &client("a"), 1, t0);
        hub.register(&room("r"), &client("a"), FakeConnection::new(2), t0 + Duration::from_millis(500)).unwrap();
        assert!(hub.expire(t0 + Duration::from_secs(5)).is_empty());
        // A late close of the old socket must not unregister the new one.
        hub.deregister(&room("r"), &client("a"), 1, t0 + Duration::from_secs(5));
        assert_eq!(hub.status().open_ws, 1);
    }

    #[test]
    fn unregistered_sender_expires_with_its_queue() {
        let hub: Hub<FakeConnection> = Hub::new(HubConfig { reconnect_window: Duration::from_secs(1), ..HubConfig::default() });
        let t0 = Instant::now();
        hub.send(&room("abc"), &client("1"), msg("hi"), t0).unwrap();
        assert_eq!(hub.expire(t0 + Duration::from_secs(2)).len(), 1);
        assert_eq!(hub.status().rooms, 0);
    }

    #[test]
    fn deliver_to_room_reaches_registered_clients_only() {
        let hub = Hub::new(HubConfig::default());
        let now = Instant::now();
        let a = FakeConnection::new(1);
        hub.register(&room("r"), &client("a"), a.clone(), now).unwrap();
        hub.send(&room("r"), &client("b"), msg("queued"), now).unwrap();
        assert_eq!(hub.deliver_to_room(&room("r"), msg("bye")), 1);
        assert_eq!(a.messages(), vec!["queued", "bye"]);
        assert_eq!(hub.deliver_to_room(&room("none"), msg("bye")), 0);
    }

    #[test]
    fn a_client_that_left_goes_when_its_socket_closes_without_a_reconnect_window() {
        let hub: Hub<FakeConnection> = Hub::new(HubConfig::default());
        let (r, a, b, c) = (room("r1"), client("a"), client("b"), client("c"));
        let now = Instant::now();
        let ca = FakeConnection::new(1);
        hub.register(&r, &a, ca.clone(), now).unwrap();
        hub.register(&r, &b, FakeConnection::new(2), now).unwrap();
        assert!(!hub.leave(&r, &a), "a registered client keeps its socket for its bye");
        hub.send(&r, &a, msg("{\"type\":\"bye\"}"), now).unwrap();
        hub.deregister(&r, &a, ca.id(), now);
        assert_eq!(hub.queued(&r, &a), None, "removed when its socket closed");
        hub.register(&r, &c, FakeConnection::new(3), now).unwrap();
    }

    #[test]
    fn a_client_that_left_without_a_socket_is_removed_at_once() {
        let hub: Hub<FakeConnection> = Hub::new(HubConfig::default());
        let (r, a) = (room("r1"), client("a"));
        let now = Instant::now();
        hub.send(&r, &a, msg("offer"), now).unwrap();
        assert!(hub.leave(&r, &a));
        assert_eq!(hub.status().clients, 0);
        assert!(!hub.leave(&r, &a), "a second leave finds nobody");
    }

    #[test]
    fn remove_closes_the_socket_and_empties_the_room() {
        let hub = Hub::new(HubConfig::default());
        let now = Instant::now();
        let a = FakeConnection::new(1);
        hub.register(&room("abc"), &client("1"), a.clone(), now).unwrap();
        assert!(hub.remove(&room("abc"), &client("1")));
        assert!(a.closed.load(Ordering::Relaxed));
        assert_eq!(hub.status(), HubStatus { open_ws: 0, total_ws: 1, rooms: 0, clients: 0 });
        assert!(!hub.remove(&room("abc"), &client("1")));
    }
}
