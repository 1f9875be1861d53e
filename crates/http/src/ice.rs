//! ICE configuration for clients: `POST /v1alpha/iceconfig` (§1.10, §2.4) and the legacy TURN
//! REST endpoint `GET /turn` (§2.7). Both mint short-lived credentials for the built-in TURN
//! server: username `<expiry>:<id>`, password `base64(HMAC-SHA1(secret, username))`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::origin::Origin;
use crate::room_api::ClientRequest;
use crate::{AppState, TurnAdvert};

/// Credentials and URIs for the built-in TURN server.
struct Minted {
    username: String,
    password: String,
    ttl: u64,
    uris: Vec<String>,
}

fn mint(turn: &TurnAdvert, origin: &Origin, user: &str) -> Option<Minted> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    let ttl = turn.ttl.as_secs();
    let username = if user.is_empty() { format!("{}", now + ttl) } else { format!("{}:{user}", now + ttl) };
    let password = stun::TurnRestPassword::compute(turn.secret.as_bytes(), &username).ok()?.as_str().to_string();
    let host = turn.host.clone().unwrap_or_else(|| host_without_port(&origin.host).to_string());
    let port = turn.port;
    let mut uris = vec![
        format!("stun:{host}:{port}"),
        format!("turn:{host}:{port}?transport=udp"),
        format!("turn:{host}:{port}?transport=tcp"),
    ];
    if let Some(tls_port) = turn.tls_port {
        // The certificate names the host the page was loaded from, not the relay's IP.
        uris.push(format!("turns:{}:{tls_port}?transport=tcp", host_without_port(&origin.host)));
    }
    Some(Minted { username, password, ttl, uris })
}

/// `example.org:8080` → `example.org`; `[::1]:8080` → `[::1]`.
fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &host[..=h.len()]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

/// A random id for the username's user part, so credentials are not shared between clients.
fn random_user() -> String {
    format!("{:08}", rand::random::<u32>() % 100_000_000)
}

/// Answers `{"iceServers":[…]}`: the built-in TURN server with fresh credentials, then any
/// configured URLs. `{"iceServers":[]}` when there is neither (an entry with empty `urls` makes
/// RTCPeerConnection throw). CORS is open so a page on another origin can read it.
pub async fn ice_config(State(state): State<Arc<AppState>>, req: ClientRequest) -> Response {
    let mut servers: Vec<Value> = Vec::new();
    if let Some(m) = state.config.turn.as_ref().and_then(|t| mint(t, &req.origin, &random_user())) {
        servers.push(json!({ "urls": m.uris, "username": m.username, "credential": m.password }));
    }
    if !state.config.ice_servers.is_empty() {
        servers.push(json!({ "urls": state.config.ice_servers }));
    }
    let lifetime = state.config.turn.as_ref().map_or(86_400, |t| t.ttl.as_secs());
    (
        [(header::CONTENT_TYPE, "application/json"), (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        json!({ "iceServers": servers, "lifetimeDuration": format!("{lifetime}s") }).to_string(),
    )
        .into_response()
}

/// `GET /turn?username=…&key=…`: the legacy TURN REST answer `{username, password, ttl, uris}`
/// that old AppRTC clients fetch from `turn_url`. 404 when the built-in TURN server is off.
pub async fn turn_rest(State(state): State<Arc<AppState>>, req: ClientRequest) -> Response {
    let user: String = req.query.get("username").chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').take(64).collect();
    let user = if user.is_empty() { random_user() } else { user };
    match state.config.turn.as_ref().and_then(|t| mint(t, &req.origin, &user)) {
        Some(m) => (
            [(header::CONTENT_TYPE, "application/json"), (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
            json!({ "username": m.username, "password": m.password, "ttl": m.ttl, "uris": m.uris }).to_string(),
        )
            .into_response(),
        None => (axum::http::StatusCode::NOT_FOUND, "the built-in TURN server is disabled\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ports_from_hosts() {
        assert_eq!(host_without_port("example.org:8080"), "example.org");
        assert_eq!(host_without_port("example.org"), "example.org");
        assert_eq!(host_without_port("[::1]:8080"), "[::1]");
        assert_eq!(host_without_port("10.0.0.2:80"), "10.0.0.2");
    }

    #[test]
    fn minted_credentials_verify_with_the_secret() {
        let turn = TurnAdvert { secret: "0123456789".into(), port: 3478, host: None, ttl: std::time::Duration::from_secs(600), tls_port: Some(5349) };
        let origin = Origin { scheme: "http".into(), host: "calls.example.org:8080".into() };
        let m = mint(&turn, &origin, "42").unwrap();
        assert!(m.username.ends_with(":42"));
        let expected = stun::TurnRestPassword::compute(b"0123456789", &m.username).unwrap();
        assert_eq!(m.password, expected.as_str());
        assert_eq!(m.uris[1], "turn:calls.example.org:3478?transport=udp");
        assert_eq!(m.ttl, 600);
        assert_eq!(m.uris[3], "turns:calls.example.org:5349?transport=tcp");
    }
}
