//! Collider's WebSocket endpoint `/ws`: one task per socket drives a [`Session`] and writes what
//! the hub delivers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::SinkExt;
use parking_lot::Mutex;
use signaling::{Connection, ConnectionId, Frame, Session, SessionAction, SignalingError};
use tokio::sync::Notify;

use crate::metrics_names as m;
use crate::AppState;

/// Close code for "message too big" (RFC 6455 §7.4.1).
const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for "policy violation", used for idle sockets.
const CLOSE_POLICY: u16 = 1008;
/// Bytes tungstenite reads at a time. It zero-fills this much before every read and keeps the
/// buffer for the socket's life, so it is most of an idle client's memory: 1 KiB holds a
/// typical ICE candidate or `send` frame (an SDP takes a few reads).
const READ_CHUNK_BYTES: usize = 1024;
/// Bytes of frames tungstenite gathers before writing them to the socket: a batch of queued
/// frames goes out in one write, then an explicit flush.
const WRITE_BATCH_BYTES: usize = 16 * 1024;
/// A drained queue bigger than this many slots is freed rather than kept for reuse, so a burst
/// does not leave an idle socket holding memory.
const KEEP_QUEUE_SLOTS: usize = 64;

/// The hub's handle on one socket: a bounded queue of frames for the socket's task, and one
/// wake-up signal for both "frames waiting" and "close".
///
/// A plain locked `VecDeque` rather than a channel: an empty one allocates nothing, so an idle
/// client costs only this struct, and the task takes everything queued at once and writes it
/// with one flush.
pub struct WsConnection {
    id: ConnectionId,
    queue: Mutex<VecDeque<Frame>>,
    capacity: usize,
    wake: Notify,
    /// The hub asked the socket to close.
    close_requested: AtomicBool,
    /// The socket's task has stopped: deliveries fail from now on.
    closed: AtomicBool,
}

impl Connection for WsConnection {
    fn id(&self) -> ConnectionId {
        self.id
    }

    fn deliver(&self, frame: &Frame) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        let mut queue = self.queue.lock();
        if queue.len() >= self.capacity {
            return false;
        }
        let was_empty = queue.is_empty();
        queue.push_back(frame.clone());
        drop(queue);
        // A non-empty queue already has a wake-up pending: the task drains all of it at once.
        if was_empty {
            self.wake.notify_one();
        }
        true
    }

    fn close(&self) {
        self.close_requested.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

/// `GET /ws`: upgrades to a WebSocket. A handshake without `Origin` is accepted (Collider
/// refused it, which broke non-browser clients).
pub async fn upgrade(State(state): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    let max = state.config.max_ws_frame_bytes;
    ws.max_frame_size(max)
        .max_message_size(max)
        // Small buffers keep an idle client cheap; signaling frames are small.
        .read_buffer_size(READ_CHUNK_BYTES)
        .write_buffer_size(WRITE_BATCH_BYTES)
        .max_write_buffer_size(max.saturating_mul(4).max(64 * 1024))
        .on_upgrade(move |socket| run(socket, state))
}

async fn run(mut socket: WebSocket, state: Arc<AppState>) {
    state.ws_connections.fetch_add(1, Ordering::Relaxed);
    let capacity = state.hub.config().max_queued_messages.saturating_mul(2).max(16);
    let conn = Arc::new(WsConnection {
        id: state.connection_id(),
        queue: Mutex::new(VecDeque::new()),
        capacity,
        wake: Notify::new(),
        close_requested: AtomicBool::new(false),
        closed: AtomicBool::new(false),
    });
    let mut session = Session::new(state.config.max_id_len);
    let relayed = metrics::counter!(m::MESSAGES_RELAYED);
    let idle_timeout = state.config.ws_idle_timeout;
    let mut ping = tokio::time::interval(idle_timeout / 3);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut last_heard = Instant::now();
    let mut batch = VecDeque::new();

    loop {
        tokio::select! {
            biased;
            _ = conn.wake.notified() => {
                if conn.close_requested.load(Ordering::Relaxed) {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                std::mem::swap(&mut batch, &mut *conn.queue.lock());
                let n = batch.len() as u64;
                if n == 0 {
                    continue;
                }
                if write_batch(&mut socket, &mut batch).await.is_err() {
                    break;
                }
                if batch.capacity() > KEEP_QUEUE_SLOTS {
                    batch = VecDeque::new();
                }
                relayed.increment(n);
            }
            incoming = socket.recv() => {
                last_heard = Instant::now();
                let action = match incoming {
                    None | Some(Ok(Message::Close(_))) => break,
                    Some(Err(e)) => {
                        handle_read_error(&mut socket, &state, &e).await;
                        break;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Text(t))) => session.on_frame(t.as_str(), &state.hub, &conn, Instant::now()),
                    Some(Ok(Message::Binary(b))) => match std::str::from_utf8(&b) {
                        Ok(t) => session.on_frame(t, &state.hub, &conn, Instant::now()),
                        Err(e) => SessionAction::ErrorAndClose(SignalingError::Malformed(e.to_string())),
                    },
                };
                match action {
                    SessionAction::Continue => {}
                    SessionAction::Ignored(e) => {
                        metrics::counter!(m::ERRORS, "kind" => error_kind(&e)).increment(1);
                        tracing::debug!(error = %e, "send dropped");
                    }
                    SessionAction::Error(e) => send_error(&mut socket, &state, &e).await,
                    SessionAction::ErrorAndClose(e) => {
                        send_error(&mut socket, &state, &e).await;
                        let _ = socket.send(Message::Close(None)).await;
                        break;
                    }
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= idle_timeout {
                    metrics::counter!(m::ERRORS, "kind" => "ws_idle_timeout").increment(1);
                    let reason = Utf8Bytes::from_static("idle timeout");
                    let _ = socket.send(Message::Close(Some(CloseFrame { code: CLOSE_POLICY, reason }))).await;
                    break;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    conn.closed.store(true, Ordering::Relaxed);
    conn.queue.lock().clear();
    session.on_close(&state.hub, &conn, Instant::now());
    state.ws_connections.fetch_sub(1, Ordering::Relaxed);
}

/// Writes every queued frame, then flushes once: several frames cost one `write`.
async fn write_batch(socket: &mut WebSocket, batch: &mut VecDeque<Frame>) -> Result<(), axum::Error> {
    while let Some(frame) = batch.pop_front() {
        socket.feed(text_message(frame)).await?;
    }
    socket.flush().await
}

fn text_message(frame: Frame) -> Message {
    Message::Text(Utf8Bytes::try_from(frame.into_bytes()).expect("frames are UTF-8"))
}

async fn send_error(socket: &mut WebSocket, state: &AppState, e: &SignalingError) {
    state.ws_errors.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(m::ERRORS, "kind" => error_kind(e)).increment(1);
    tracing::debug!(error = %e, "signaling error sent to client");
    let _ = socket.send(text_message(Frame::error(&e.to_string()))).await;
}

async fn handle_read_error(socket: &mut WebSocket, state: &AppState, e: &axum::Error) {
    let text = e.to_string();
    if text.contains("too long") || text.contains("Space limit") {
        metrics::counter!(m::ERRORS, "kind" => "ws_frame_too_big").increment(1);
        state.ws_errors.fetch_add(1, Ordering::Relaxed);
        let reason = Utf8Bytes::from(format!("frame larger than {} bytes", state.config.max_ws_frame_bytes));
        let _ = socket.send(Message::Close(Some(CloseFrame { code: CLOSE_TOO_BIG, reason }))).await;
    } else {
        metrics::counter!(m::ERRORS, "kind" => "ws_read").increment(1);
        tracing::debug!(error = %text, "websocket read error");
    }
}

/// A bounded label for each error, for the errors metric.
pub(crate) fn error_kind(e: &SignalingError) -> &'static str {
    match e {
        SignalingError::RoomFull => "room_full",
        SignalingError::TooManyQueued => "too_many_queued",
        SignalingError::DuplicatedRegistration => "duplicated_registration",
        SignalingError::DuplicatedRegisterRequest => "duplicated_register_request",
        SignalingError::InvalidRegister => "invalid_register",
        SignalingError::InvalidId(_) => "invalid_id",
        SignalingError::NotRegistered => "not_registered",
        SignalingError::MissingMsg => "missing_msg",
        SignalingError::UnexpectedCmd => "unexpected_cmd",
        SignalingError::Malformed(_) => "malformed_frame",
    }
}
