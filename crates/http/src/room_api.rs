//! AppRTC's room API (§1.6–§1.10): join, message, leave, params.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rooms::{ClientId, IdError, JoinOutcome, MessageOutcome, RoomId};
use serde_json::{json, Value};

use crate::metrics_names as m;
use crate::origin::Origin;
use crate::params::{room_parameters, ParamsInput, RoomPart};
use crate::query::QueryArgs;
use crate::AppState;

/// Marks a request that arrived over TLS (set by the TLS listener as a request extension).
#[derive(Debug, Clone, Copy)]
pub struct ArrivedOverTls;

/// What every room-API handler reads from the request besides the path.
pub struct ClientRequest {
    /// Query arguments in order.
    pub query: QueryArgs,
    /// Where the client reached us.
    pub origin: Origin,
    /// `User-Agent`, "" when absent (AppRTC crashed without one).
    pub user_agent: String,
}

impl FromRequestParts<Arc<AppState>> for ClientRequest {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let tls = parts.extensions.get::<ArrivedOverTls>().is_some();
        // HTTP/2 (what browsers speak over TLS) carries the host in `:authority`, not `Host`.
        let with_authority;
        let headers = match parts.uri.authority() {
            Some(authority) if !parts.headers.contains_key(header::HOST) => {
                let mut h = parts.headers.clone();
                if let Ok(v) = authority.as_str().parse() {
                    h.insert(header::HOST, v);
                }
                with_authority = h;
                &with_authority
            }
            _ => &parts.headers,
        };
        Ok(Self {
            query: QueryArgs::parse(parts.uri.query()),
            origin: Origin::of_request(headers, tls, state.config.public_url.as_ref()),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
        })
    }
}

impl ClientRequest {
    /// The input for [`room_parameters`].
    pub fn params_input<'a>(&'a self, state: &'a AppState) -> ParamsInput<'a> {
        ParamsInput { query: &self.query, user_agent: &self.user_agent, origin: &self.origin, config: &state.config }
    }
}

/// An id that failed validation: 404, as AppRTC's routing regex gives.
pub struct InvalidId {
    what: &'static str,
    error: IdError,
}

impl IntoResponse for InvalidId {
    fn into_response(self) -> Response {
        metrics::counter!(m::ERRORS, "kind" => "invalid_id").increment(1);
        (StatusCode::NOT_FOUND, format!("invalid {}: {}\n", self.what, self.error)).into_response()
    }
}

/// Validates a room id from the path.
pub fn parse_room(state: &AppState, s: &str) -> Result<RoomId, InvalidId> {
    RoomId::parse(s, state.config.max_id_len).map_err(|error| InvalidId { what: "room id", error })
}

/// Validates a client id from the path.
pub fn parse_client(state: &AppState, s: &str) -> Result<ClientId, InvalidId> {
    ClientId::parse(s, state.config.max_id_len).map_err(|error| InvalidId { what: "client id", error })
}

/// A JSON answer with HTTP 200.
pub fn json_ok(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn result(name: &str) -> Response {
    json_ok(json!({ "result": name }))
}

/// `POST /join/<room>` (§1.6).
pub async fn join(State(state): State<Arc<AppState>>, Path(room): Path<String>, req: ClientRequest) -> Response {
    let room = match parse_room(&state, &room) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if state.is_draining() {
        metrics::counter!(m::JOINS, "result" => "DRAINING").increment(1);
        let body = json!({ "result": "ERROR", "params": { "messages": [] },
            "error": "the server is shutting down and takes no new calls; calls in progress continue. Try again in a moment." });
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "application/json"), (header::RETRY_AFTER, "5")], body.to_string()).into_response();
    }
    let loopback = req.query.get("debug") == "loopback";
    let (client, outcome) = state.rooms.join(&room, loopback, Instant::now());
    let name = match &outcome {
        JoinOutcome::Joined { .. } => "SUCCESS",
        JoinOutcome::Full => "FULL",
        JoinOutcome::DuplicateClient => "DUPLICATE_CLIENT",
        JoinOutcome::TooManyRooms => "ERROR",
    };
    metrics::counter!(m::JOINS, "result" => name).increment(1);
    match outcome {
        JoinOutcome::Joined { is_initiator, messages } => {
            tracing::debug!(%room, %client, is_initiator, "joined");
            let part = RoomPart { room_id: room.as_str(), joined: Some((client.as_str(), is_initiator, messages)) };
            let params = room_parameters(&req.params_input(&state), Some(part));
            json_ok(json!({ "result": "SUCCESS", "params": params }))
        }
        JoinOutcome::TooManyRooms => {
            tracing::warn!(limit = "max_rooms", "join refused: room limit reached");
            json_ok(json!({ "result": name, "params": { "messages": [] }, "error": "the server has reached its room limit (max_rooms)" }))
        }
        _ => json_ok(json!({ "result": name, "params": { "messages": [] } })),
    }
}

/// `POST /message/<room>/<client>` (§1.7): stored while the sender is alone, handed to the
/// signaling hub in-process once the room has two clients.
pub async fn message(
    State(state): State<Arc<AppState>>,
    Path((room, client)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (room, client) = match parse_room(&state, &room).and_then(|r| Ok((r, parse_client(&state, &client)?))) {
        Ok(ids) => ids,
        Err(e) => return e.into_response(),
    };
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        metrics::counter!(m::ERRORS, "kind" => "message_not_utf8").increment(1);
        return json_ok(json!({ "result": "ERROR", "error": "message body must be UTF-8 text" }));
    };
    let now = Instant::now();
    let forward = text.clone();
    match state.rooms.message(&room, &client, text, now) {
        MessageOutcome::Stored => {
            metrics::counter!(m::MESSAGES_STORED).increment(1);
            result("SUCCESS")
        }
        MessageOutcome::Forward => match state.hub.send(&room, &client, Arc::from(forward), now) {
            Ok(()) => result("SUCCESS"),
            Err(e) => {
                metrics::counter!(m::ERRORS, "kind" => crate::ws::error_kind(&e)).increment(1);
                (StatusCode::INTERNAL_SERVER_ERROR, format!("Failed to send the message: {e}\n")).into_response()
            }
        },
        MessageOutcome::UnknownRoom => result("UNKNOWN_ROOM"),
        MessageOutcome::UnknownClient => result("UNKNOWN_CLIENT"),
        MessageOutcome::TooManyStored => {
            metrics::counter!(m::ERRORS, "kind" => "too_many_stored_messages").increment(1);
            json_ok(json!({ "result": "ERROR", "error": "too many messages stored for this room (max_stored_messages)" }))
        }
    }
}

/// `POST /leave/<room>/<client>` and its `/bye/…` alias (§1.8): always 200 with an empty body.
pub async fn leave(State(state): State<Arc<AppState>>, Path((room, client)): Path<(String, String)>) -> Response {
    let (room, client) = match parse_room(&state, &room).and_then(|r| Ok((r, parse_client(&state, &client)?))) {
        Ok(ids) => ids,
        Err(e) => return e.into_response(),
    };
    let outcome = state.rooms.leave(&room, &client, Instant::now());
    let signaling_removed = state.hub.leave(&room, &client);
    tracing::debug!(%room, %client, ?outcome, signaling_removed, "leave");
    StatusCode::OK.into_response()
}

/// `GET /params` (§1.9): the room-independent parameters as a bare object.
pub async fn params(State(state): State<Arc<AppState>>, req: ClientRequest) -> Response {
    json_ok(Value::Object(room_parameters(&req.params_input(&state), None)))
}
