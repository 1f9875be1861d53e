//! The route table.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{any, get, post};
use axum::Router;
use tower_http::timeout::TimeoutLayer;

use crate::{collider_http, ice, ops, pages, room_api, web_assets, ws, AppState};

/// Every route on one port: room server, Collider (`/ws`, `/ws/<room>/<client>`, `/status`),
/// ICE config and operations. Invalid ids and unknown paths get 404, known paths with the
/// wrong method 405, bodies over the limit 413, slow requests 408.
pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.max_body_bytes;
    let timeout = state.config.request_timeout;
    Router::new()
        .route("/", get(pages::index))
        .route("/r/{room}", get(pages::room))
        .route("/static/{name}", get(web_assets::serve))
        .route("/join/{room}", post(room_api::join))
        .route("/message/{room}/{client}", post(room_api::message))
        .route("/leave/{room}/{client}", post(room_api::leave))
        .route("/bye/{room}/{client}", post(room_api::leave))
        .route("/params", get(room_api::params))
        .route("/v1alpha/iceconfig", post(ice::ice_config))
        .route("/turn", get(ice::turn_rest))
        .route("/ws", get(ws::upgrade))
        .route("/ws/{room}/{client}", any(collider_http::room_client))
        .route("/status", any(collider_http::status))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/readyz", get(ops::readyz))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .with_state(state)
}
