//! Collider's HTTP interface (§3.3, §3.4): `POST`/`DELETE` on `<wss_post_url>/<room>/<client>`
//! (here `/ws/<room>/<client>`) and `/status`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use signaling::Frame;

use crate::metrics_names as m;
use crate::room_api::{parse_client, parse_room};
use crate::AppState;

fn with_cors(mut r: Response, methods: &'static str) -> Response {
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods));
    r
}

fn http_error(state: &AppState, kind: &'static str, text: String) -> Response {
    state.http_errors.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(m::ERRORS, "kind" => kind).increment(1);
    (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{text}\n"))
        .into_response()
}

/// Any method on `/ws/<room>/<client>`: POST sends, DELETE removes, others answer 200 empty so a
/// CORS preflight for DELETE succeeds.
pub async fn room_client(
    State(state): State<Arc<AppState>>,
    method: Method,
    Path((room, client)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    const METHODS: &str = "POST, DELETE";
    let (room, client) = match parse_room(&state, &room).and_then(|r| Ok((r, parse_client(&state, &client)?))) {
        Ok(ids) => ids,
        Err(e) => return with_cors(e.into_response(), METHODS),
    };
    let response = match method {
        Method::POST => {
            if body.is_empty() {
                http_error(&state, "empty_body", "Empty request body".into())
            } else {
                match std::str::from_utf8(&body) {
                    Err(_) => http_error(&state, "message_not_utf8", "Failed to send the message: body must be UTF-8".into()),
                    Ok(text) => match state.hub.send(&room, &client, Frame::message(text), Instant::now()) {
                        Ok(()) => "OK\n".into_response(),
                        Err(e) => http_error(&state, crate::ws::error_kind(&e), format!("Failed to send the message: {e}")),
                    },
                }
            }
        }
        Method::DELETE => {
            if state.hub.remove(&room, &client) {
                state.release_seat(&room, &client);
            }
            "OK\n".into_response()
        }
        _ => StatusCode::OK.into_response(),
    };
    with_cors(response, METHODS)
}

/// `/status` (any method): Collider's liveness and counters.
pub async fn status(State(state): State<Arc<AppState>>) -> Response {
    let s = state.hub.status();
    let body = json!({
        "upsec": state.started.elapsed().as_secs_f64(),
        "openws": s.open_ws,
        "totalws": s.total_ws,
        "wserrors": state.ws_errors.load(Ordering::Relaxed),
        "httperrors": state.http_errors.load(Ordering::Relaxed),
    });
    with_cors(([(header::CONTENT_TYPE, "application/json")], format!("{body}\n")).into_response(), "GET")
}
