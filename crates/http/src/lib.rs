//! The HTTP face of Switchboard: AppRTC's room API, Collider's WebSocket and HTTP interface,
//! ICE configuration, the web pages, health and metrics — all on one port.
//!
//! Handlers are thin: they validate ids at the edge, call the sans-IO cores (`rooms`,
//! `signaling`) and turn the outcome into the wire format the AppRTC clients parse.
#![forbid(unsafe_code)]

mod collider_http;
mod config;
mod ice;
mod metrics_names;
mod ops;
mod origin;
mod pages;
mod params;
mod query;
mod room_api;
mod router;
mod serve;
mod state;
mod web_assets;
mod ws;

pub use config::{HttpConfig, PublicUrl, TurnAdvert};
pub use metrics_names::describe_metrics;
pub use router::router;
pub use serve::{serve, serve_with, DivertedIo, ServeConfig, StreamDivert, TlsServe, ACME_TLS_ALPN};
pub use state::AppState;
pub use ws::WsConnection;
