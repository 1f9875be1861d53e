//! Collider's WebSocket endpoint `/ws`: one task per socket drives a [`Session`] and writes what
//! the hub delivers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use signaling::{encode_frame, Connection, ConnectionId, Session, SessionAction, SignalingError};
use tokio::sync::{mpsc, Notify};

use crate::metrics_names as m;
use crate::AppState;

/// Close code for "message too big" (RFC 6455 §7.4.1).
const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for "policy violation", used for idle sockets.
const CLOSE_POLICY: u16 = 1008;

/// The hub's handle on one socket: a bounded queue to the socket's task, and a close signal.
pub struct WsConnection {
    id: ConnectionId,
    outbound: mpsc::Sender<Arc<str>>,
    close: Notify,
    closed: AtomicBool,
}

impl Connection for WsConnection {
    fn id(&self) -> ConnectionId {
        self.id
    }

    fn deliver(&self, msg: &Arc<str>) -> bool {
        !self.closed.load(Ordering::Relaxed) && self.outbound.try_send(msg.clone()).is_ok()
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.close.notify_one();
    }
}

/// `GET /ws`: upgrades to a WebSocket. A handshake without `Origin` is accepted (Collider
/// refused it, which broke non-browser clients).
pub async fn upgrade(State(state): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    let max = state.config.max_ws_frame_bytes;
    ws.max_frame_size(max)
        .max_message_size(max)
        // Small buffers keep an idle client cheap; signaling frames are small.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(max.saturating_mul(4).max(64 * 1024))
        .on_upgrade(move |socket| run(socket, state))
}

async fn run(mut socket: WebSocket, state: Arc<AppState>) {
    state.ws_connections.fetch_add(1, Ordering::Relaxed);
    let queue_capacity = state.hub.config().max_queued_messages.saturating_mul(2).max(16);
    let (tx, mut rx) = mpsc::channel::<Arc<str>>(queue_capacity);
    let conn = Arc::new(WsConnection { id: state.connection_id(), outbound: tx, close: Notify::new(), closed: AtomicBool::new(false) });
    let mut session = Session::new(state.config.max_id_len);
    let relayed = metrics::counter!(m::MESSAGES_RELAYED);
    let idle_timeout = state.config.ws_idle_timeout;
    let mut ping = tokio::time::interval(idle_timeout / 3);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut last_heard = Instant::now();

    loop {
        tokio::select! {
            biased;
            _ = conn.close.notified() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
            Some(msg) = rx.recv() => {
                if socket.send(Message::Text(Utf8Bytes::from(encode_frame(&msg, "")))).await.is_err() {
                    break;
                }
                relayed.increment(1);
            }
            incoming = socket.recv() => {
                last_heard = Instant::now();
                let text = match incoming {
                    None | Some(Ok(Message::Close(_))) => break,
                    Some(Err(e)) => {
                        handle_read_error(&mut socket, &state, &e).await;
                        break;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(b))) => match String::from_utf8(b.to_vec()) {
                        Ok(t) => t,
                        Err(e) => {
                            send_error(&mut socket, &state, &SignalingError::Malformed(e.to_string())).await;
                            break;
                        }
                    },
                };
                match session.on_frame(&text, &state.hub, &conn, Instant::now()) {
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
    session.on_close(&state.hub, &conn, Instant::now());
    state.ws_connections.fetch_sub(1, Ordering::Relaxed);
}

async fn send_error(socket: &mut WebSocket, state: &AppState, e: &SignalingError) {
    state.ws_errors.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(m::ERRORS, "kind" => error_kind(e)).increment(1);
    tracing::debug!(error = %e, "signaling error sent to client");
    let _ = socket.send(Message::Text(Utf8Bytes::from(encode_frame("", &e.to_string())))).await;
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
