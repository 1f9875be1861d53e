//! `POST /v1alpha/iceconfig` (§1.10, §2.4): the ICE servers clients should use.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;

/// Answers `{"iceServers":[{"urls":[…]}]}` with the configured URLs, or `{"iceServers":[]}` when
/// none are configured (an entry with empty `urls` makes RTCPeerConnection throw). CORS is open so
/// a page on another origin can read it.
pub async fn ice_config(State(state): State<Arc<AppState>>) -> Response {
    let servers = if state.config.ice_servers.is_empty() {
        json!([])
    } else {
        json!([{ "urls": state.config.ice_servers }])
    };
    (
        [(header::CONTENT_TYPE, "application/json"), (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        json!({ "iceServers": servers, "lifetimeDuration": "86400s" }).to_string(),
    )
        .into_response()
}
