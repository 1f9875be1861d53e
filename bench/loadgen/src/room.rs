//! One benchmark room with its two clients: join, connect + register, exchange, leave.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::timeout_at;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Failure, Target, WsSink, WsStream};
use crate::proto::{self, Inbound};
use crate::stats::{self, Errors};

/// How long one message may wait for its window slot before the direction is abandoned.
const STALL: Duration = Duration::from_secs(10);
/// How long a connect + register + hello handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(30);

/// Everything the per-room operations share.
pub struct Ctx {
    pub target: Target,
    pub errors: Errors,
    /// Latency of `POST /join` (µs).
    pub join_hist: Mutex<Histogram<u64>>,
    /// Setup/exchange/hold deadline.
    pub deadline: Instant,
    /// Deadline for cleanup (leave/close) and for reader tasks.
    pub hard_deadline: Instant,
    /// Benchmark messages sent, by transport.
    pub sent_ws: AtomicU64,
    pub sent_http_message: AtomicU64,
    pub sent_http_collider: AtomicU64,
    /// Padding put into each benchmark message.
    pub pad: String,
    /// Fraction of benchmark messages sent over HTTP.
    pub http_fraction: f64,
    /// Open loop only: how late each message left against its schedule. Relay latency is
    /// measured from the actual send, so this shows whether the generator kept the offered load.
    pub send_lag: SendLag,
}

/// Lateness of paced sends against their schedule.
#[derive(Default)]
pub struct SendLag {
    count: AtomicU64,
    late_1ms: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl SendLag {
    fn record(&self, lag: Duration) {
        let us = lag.as_micros() as u64;
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
        if us > 1000 {
            self.late_1ms.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `{count, late_over_1ms, mean_ms, max_ms}`, or null when nothing was paced.
    pub fn to_json(&self) -> serde_json::Value {
        let n = self.count.load(Ordering::Relaxed);
        if n == 0 {
            return serde_json::Value::Null;
        }
        serde_json::json!({
            "count": n,
            "late_over_1ms": self.late_1ms.load(Ordering::Relaxed),
            "mean_ms": self.sum_us.load(Ordering::Relaxed) as f64 / n as f64 / 1000.0,
            "max_ms": self.max_us.load(Ordering::Relaxed) as f64 / 1000.0,
        })
    }
}

/// State shared by one client's reader task and the code driving that client.
pub struct Peer {
    /// One permit per handshake `hello` received.
    hello: Semaphore,
    /// Window for messages *to* this client: the peer's sender takes a permit per message,
    /// this client's reader returns one per message received.
    window: Semaphore,
    /// Benchmark messages received.
    pub received: AtomicU64,
    /// Number of benchmark messages this client expects.
    expected: u64,
    /// One permit once `received == expected`.
    done: Semaphore,
    /// Set when we close on purpose (suppresses close/read errors).
    closing: AtomicBool,
}

impl Peer {
    fn new(window: usize, expected: u64) -> Arc<Self> {
        Arc::new(Self {
            hello: Semaphore::new(0),
            window: Semaphore::new(window.max(1)),
            received: AtomicU64::new(0),
            expected,
            done: Semaphore::new(0),
            closing: AtomicBool::new(false),
        })
    }
}

/// Room after both `/join`s.
pub struct JoinedRoom {
    pub id: String,
    pub a: String,
    pub b: String,
}

/// One connected client.
pub struct Side {
    pub cid: String,
    sink: WsSink,
    reader: JoinHandle<Option<Histogram<u64>>>,
    pub peer: Arc<Peer>,
}

impl Side {
    /// Whether the reader already stopped (socket closed).
    pub fn reader_finished(&self) -> bool {
        self.reader.is_finished()
    }
}

/// Room with both clients registered.
pub struct Room {
    pub id: String,
    pub a: Side,
    pub b: Side,
}

/// Joins A (initiator), stores an offer from A, joins B and checks B got the offer.
pub async fn join_room(ctx: Arc<Ctx>, id: String) -> Result<JoinedRoom, Failure> {
    let timed_join = |room: String| {
        let ctx = ctx.clone();
        async move {
            let t0 = Instant::now();
            let r = ctx.target.join(&room).await;
            if r.is_ok() {
                let us = t0.elapsed().as_micros() as u64;
                stats::record(&mut ctx.join_hist.lock().unwrap(), us);
            }
            r
        }
    };
    let a = timed_join(id.clone()).await?;
    if !a.is_initiator {
        return Err(Failure::new("join_a_not_initiator", format!("room {id}")));
    }
    ctx.target.message(&id, &a.client_id, proto::OFFER.to_string()).await?;
    let b = timed_join(id.clone()).await?;
    if b.is_initiator {
        return Err(Failure::new("join_b_initiator", format!("room {id}")));
    }
    if b.messages.len() != 1 || b.messages[0] != proto::OFFER {
        ctx.errors.add("join_b_stored_messages", format!("room {id}: {:?}", b.messages));
    }
    Ok(JoinedRoom { id, a: a.client_id, b: b.client_id })
}

async fn open_side(ctx: &Arc<Ctx>, room: &str, cid: &str, peer: Arc<Peer>) -> Result<Side, Failure> {
    let (mut sink, stream) = ctx.target.connect_ws().await?;
    let reader = tokio::spawn(read_loop(stream, peer.clone(), ctx.clone()));
    if let Err(e) = sink.send(Message::text(proto::register_frame(room, cid))).await {
        reader.abort();
        return Err(Failure::new("ws_send", format!("register: {e}")));
    }
    Ok(Side { cid: cid.to_string(), sink, reader, peer })
}

/// Opens and registers both WebSockets, then has each side send `hello` and waits until
/// each received the other's, which proves both registrations took effect.
pub async fn connect_room(ctx: Arc<Ctx>, j: JoinedRoom, window: usize, expect_a: u64, expect_b: u64) -> Result<Room, Failure> {
    let a = open_side(&ctx, &j.id, &j.a, Peer::new(window, expect_a)).await?;
    let b = match open_side(&ctx, &j.id, &j.b, Peer::new(window, expect_b)).await {
        Ok(b) => b,
        Err(e) => {
            a.reader.abort();
            return Err(e);
        }
    };
    let mut room = Room { id: j.id, a, b };
    match handshake(&mut room).await {
        Ok(()) => Ok(room),
        Err(e) => {
            room.a.reader.abort();
            room.b.reader.abort();
            Err(e)
        }
    }
}

async fn handshake(room: &mut Room) -> Result<(), Failure> {
    for side in [&mut room.a, &mut room.b] {
        side.sink
            .send(Message::text(proto::send_frame(proto::HELLO)))
            .await
            .map_err(|e| Failure::new("ws_send", format!("hello: {e}")))?;
    }
    let until = tokio::time::Instant::now() + HANDSHAKE;
    for side in [&room.a, &room.b] {
        match timeout_at(until, side.peer.hello.acquire()).await {
            Ok(Ok(p)) => p.forget(),
            _ => {
                return Err(Failure::new(
                    "register_handshake_timeout",
                    format!("room {} client {}: no hello from peer within {HANDSHAKE:?}", room.id, side.cid),
                ))
            }
        }
    }
    Ok(())
}

/// Reads one client's socket until it closes or the hard deadline passes; returns the
/// relay-latency histogram (µs) of the benchmark messages it received.
async fn read_loop(mut stream: WsStream, peer: Arc<Peer>, ctx: Arc<Ctx>) -> Option<Histogram<u64>> {
    // Created on the first benchmark message only: idle clients (hold mode) need none.
    let mut hist: Option<Histogram<u64>> = None;
    let stop = tokio::time::sleep_until(tokio::time::Instant::from_std(ctx.hard_deadline));
    tokio::pin!(stop);
    loop {
        let item = tokio::select! {
            biased;
            item = stream.next() => match item {
                Some(item) => item,
                None => break,
            },
            _ = &mut stop => break,
        };
        let text = match item {
            Ok(Message::Text(t)) => t,
            Ok(Message::Binary(b)) => match String::from_utf8(b.to_vec()) {
                Ok(s) => s.into(),
                Err(_) => {
                    ctx.errors.add("ws_malformed_frame", "non-UTF-8 binary frame");
                    continue;
                }
            },
            Ok(Message::Close(frame)) => {
                if !peer.closing.load(Ordering::Relaxed) {
                    ctx.errors.add("ws_closed_by_server", format!("{frame:?}"));
                }
                continue; // the stream ends right after
            }
            Ok(_) => continue, // ping/pong (pongs are sent automatically)
            Err(e) => {
                if !peer.closing.load(Ordering::Relaxed) {
                    ctx.errors.add("ws_read", e.to_string());
                }
                break;
            }
        };
        match proto::parse_frame(text.as_str()) {
            Inbound::Bench { send_us } => {
                let h = hist.get_or_insert_with(stats::new_hist);
                stats::record(h, proto::now_us().saturating_sub(send_us));
                let n = peer.received.fetch_add(1, Ordering::Relaxed) + 1;
                peer.window.add_permits(1);
                if n == peer.expected {
                    peer.done.add_permits(1);
                }
            }
            Inbound::Hello => peer.hello.add_permits(1),
            Inbound::Bye | Inbound::Other => {}
            Inbound::ServerError(e) => ctx.errors.add("ws_error_frame", e),
            Inbound::Malformed(e) => ctx.errors.add("ws_malformed_frame", e),
        }
    }
    hist
}

/// Sends `n` benchmark messages from `from` to the client whose `Peer` is `to`.
/// Open-loop pacing for one sender: message `seq` is due at `start + seq * interval`.
#[derive(Clone, Copy)]
pub struct Pace {
    pub start: tokio::time::Instant,
    pub interval: std::time::Duration,
}

async fn send_dir(ctx: &Ctx, room: &str, from: &mut Side, to: &Peer, n: u64, pace: Option<Pace>) {
    let deadline = tokio::time::Instant::from_std(ctx.deadline);
    let mut http_sent = 0u64;
    for seq in 0..n {
        if let Some(p) = pace {
            // Late messages go out at once (no catch-up limit): the offered load stays fixed.
            tokio::time::sleep_until(p.start + p.interval.mul_f64(seq as f64)).await;
        }
        // Fast path without a timer: a free window slot.
        if let Ok(p) = to.window.try_acquire() {
            p.forget();
        } else {
            let until = deadline.min(tokio::time::Instant::now() + STALL);
            match timeout_at(until, to.window.acquire()).await {
                Ok(Ok(p)) => p.forget(),
                _ => {
                    let why = if tokio::time::Instant::now() >= deadline { "deadline" } else { "stall" };
                    ctx.errors.add(
                        "exchange_stalled",
                        format!("room {room} from {}: window not released ({why}) at seq {seq}/{n}", from.cid),
                    );
                    return;
                }
            }
        }
        if let Some(p) = pace {
            let due = p.start + p.interval.mul_f64(seq as f64);
            ctx.send_lag.record(tokio::time::Instant::now().saturating_duration_since(due));
        }
        let f = ctx.http_fraction;
        let use_http = f > 0.0 && ((seq + 1) as f64 * f).floor() > (seq as f64 * f).floor();
        if use_http {
            let msg = proto::bench_msg(seq, &ctx.pad);
            let r = if http_sent % 2 == 0 {
                ctx.sent_http_message.fetch_add(1, Ordering::Relaxed);
                ctx.target.message(room, &from.cid, msg).await
            } else {
                ctx.sent_http_collider.fetch_add(1, Ordering::Relaxed);
                ctx.target.collider_post(room, &from.cid, msg).await
            };
            http_sent += 1;
            if let Err(e) = r {
                ctx.errors.add(e.kind, e.detail);
                to.window.add_permits(1); // that message will not arrive
            }
        } else {
            ctx.sent_ws.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = from.sink.send(Message::text(proto::bench_send_frame(seq, &ctx.pad))).await {
                ctx.errors.add("ws_send", format!("room {room}: {e}"));
                return;
            }
        }
    }
}

/// Both directions at once, then waits until each side received all it expects.
///
/// With `pace` (one per direction), senders follow a fixed schedule instead of sending as
/// fast as the window allows.
pub async fn exchange_room(ctx: Arc<Ctx>, mut room: Room, n_ab: u64, n_ba: u64, pace: Option<(Pace, Pace)>) -> Room {
    let Room { id, a, b } = &mut room;
    let (pa, pb) = (a.peer.clone(), b.peer.clone());
    tokio::join!(
        send_dir(&ctx, id, a, &pb, n_ab, pace.map(|p| p.0)),
        send_dir(&ctx, id, b, &pa, n_ba, pace.map(|p| p.1))
    );
    let deadline = tokio::time::Instant::from_std(ctx.deadline);
    for (p, n) in [(&pb, n_ab), (&pa, n_ba)] {
        if n == 0 {
            continue;
        }
        let until = deadline.min(tokio::time::Instant::now() + STALL);
        if let Ok(Ok(permit)) = timeout_at(until, p.done.acquire()).await {
            permit.forget();
        }
    }
    room
}

/// Web-client hangup order for each side: `/leave`, WS `bye`, close, `DELETE /ws/...`.
/// Returns the merged relay-latency histogram of both readers.
pub async fn leave_room(ctx: Arc<Ctx>, room: Room) -> Histogram<u64> {
    let Room { id, a, b } = room;
    a.peer.closing.store(true, Ordering::Relaxed);
    b.peer.closing.store(true, Ordering::Relaxed);
    let mut hist = stats::new_hist();
    for mut side in [a, b] {
        if let Err(e) = ctx.target.leave(&id, &side.cid).await {
            ctx.errors.add(e.kind, e.detail);
        }
        let _ = side.sink.send(Message::text(proto::send_frame(proto::BYE))).await;
        let _ = side.sink.close().await;
        if let Err(e) = ctx.target.collider_delete(&id, &side.cid).await {
            ctx.errors.add(e.kind, e.detail);
        }
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        match timeout_at(until, &mut side.reader).await {
            Ok(Ok(Some(h))) => {
                let _ = hist.add(h);
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => ctx.errors.add("reader_task", e.to_string()),
            Err(_) => {
                ctx.errors.add("ws_close_timeout", format!("room {id} client {}", side.cid));
                side.reader.abort();
            }
        }
    }
    hist
}
