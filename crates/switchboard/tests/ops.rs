//! Operational contract of the binary (notes/interface.md): configuration sources and their
//! precedence (defaults ← TOML `--config` file ← `SWITCHBOARD_*` env ← flags), `/metrics`,
//! `--max-connections`, and `--ws-idle-timeout` (server pings; a peer that never answers is
//! closed, one that answers stays open).

mod common;

use common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Observe the effective `max_stored_messages` of a server: how many `/message` POSTs succeed
/// before `ERROR` (probing up to `limit + 1`).
async fn stored_limit(srv: &Server, room: &str, probe_max: usize) -> usize {
    let a = srv.join(room).await;
    for i in 0..probe_max {
        let v = srv.message(room, &a.client_id, &format!("m{i}")).await;
        if v["result"] != "SUCCESS" {
            assert_eq!(v["result"], "ERROR", "{v}");
            return i;
        }
    }
    probe_max
}

fn temp_config(name: &str, body: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "switchboard-test-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::write(&path, body).unwrap();
    path
}

#[tokio::test]
async fn config_file_env_and_flags_precedence() {
    let cfg = temp_config(
        "precedence",
        "max_stored_messages = 5\nice_servers = [\"stun:file.example.com:3478\"]\n",
    );
    let cfg_s = cfg.to_str().unwrap();

    // File only.
    let srv = Server::start_with(&["--config", cfg_s]);
    assert_eq!(stored_limit(&srv, "f", 8).await, 5, "TOML max_stored_messages");
    let ice = srv.post("/v1alpha/iceconfig", Vec::new()).await.json();
    assert!(ice.to_string().contains("stun:file.example.com:3478"), "TOML ice_servers: {ice}");
    drop(srv);

    // File + env: env wins.
    let srv = Server::start_with_env(
        &["--config", cfg_s],
        &[
            ("SWITCHBOARD_MAX_STORED_MESSAGES", "3"),
            ("SWITCHBOARD_ICE_SERVERS", "stun:env1.example.com,stun:env2.example.com"),
        ],
    );
    assert_eq!(stored_limit(&srv, "e", 8).await, 3, "env beats file");
    let ice = srv.post("/v1alpha/iceconfig", Vec::new()).await.json();
    let text = ice.to_string();
    assert!(text.contains("stun:env1.example.com") && text.contains("stun:env2.example.com"), "{ice}");
    drop(srv);

    // File + env + flag: flag wins.
    let srv = Server::start_with_env(
        &["--config", cfg_s, "--max-stored-messages", "2"],
        &[("SWITCHBOARD_MAX_STORED_MESSAGES", "3")],
    );
    assert_eq!(stored_limit(&srv, "g", 8).await, 2, "flag beats env");
    drop(srv);
    let _ = std::fs::remove_file(cfg);
}

#[tokio::test]
async fn env_public_url_is_used() {
    let srv = Server::start_with_env(&[], &[("SWITCHBOARD_PUBLIC_URL", "https://env.example.org")]);
    let a = srv.join("envpub").await;
    assert_eq!(a.str_param("wss_url"), "wss://env.example.org/ws");
    assert_eq!(a.str_param("room_link"), "https://env.example.org/r/envpub");
}

#[tokio::test]
async fn metrics_is_prometheus_text() {
    let srv = Server::start();
    srv.assert_room_works("m").await;
    let r = srv.get("/metrics").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.contains("# TYPE") || r.body.lines().any(|l| !l.starts_with('#') && l.contains(' ')),
        "Prometheus exposition text expected: {r:?}"
    );
}

/// Send a plain HTTP/1.1 request on a raw TCP connection and report whether an HTTP response
/// came back within `dur` (false on EOF, reset, refusal or silence).
async fn raw_http_served(addr: std::net::SocketAddr, dur: Duration) -> bool {
    let fut = async {
        let mut s = match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(_) => return false,
        };
        let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        if s.write_all(req.as_bytes()).await.is_err() {
            return false;
        }
        let mut buf = vec![0u8; 256];
        match s.read(&mut buf).await {
            Ok(n) if n > 0 => buf[..n].starts_with(b"HTTP/1.1 200"),
            _ => false,
        }
    };
    tokio::time::timeout(dur, fut).await.unwrap_or(false)
}

#[tokio::test]
async fn max_connections_caps_open_connections() {
    let srv = Server::start_with(&["--max-connections", "2"]);
    let mut a = srv.ws_register("mc", "1").await;
    let b = srv.ws_register("mc", "2").await;
    // reqwest's pool may hold no connection yet; the two WebSockets use both slots.
    assert!(
        !raw_http_served(srv.addr, Duration::from_secs(2)).await,
        "a third connection must be refused or closed while 2 are open"
    );
    // The existing connections keep working.
    a.send_msg("still ok").await;
    let mut b = b;
    b.expect_msg("still ok").await;
    // Freeing a slot lets new connections in again.
    b.close().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if raw_http_served(srv.addr, Duration::from_secs(1)).await {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot was not released after a close");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn ws_idle_timeout_closes_silent_peers_only() {
    // The server refuses idle timeouts below 3s (pings every third of it).
    let srv = Server::start_with(&["--ws-idle-timeout", "3s"]);

    // A raw client that completes the handshake and then never answers anything.
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        srv.addr
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let silent = tokio::spawn(async move {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        let outcome = tokio::time::timeout(Duration::from_secs(9), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return started.elapsed(),
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        (String::from_utf8_lossy(&head).into_owned(), outcome)
    });

    // A well-behaved client (tungstenite answers pings while reading) stays open.
    let mut good = srv.ws_register("idle", "1").await;
    good.expect_silence(Duration::from_millis(4500)).await;

    let (head, outcome) = silent.await.unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "handshake must succeed: {head:?}");
    let closed_after = outcome.unwrap_or_else(|_| {
        panic!("a peer that never answers pings must be closed after the idle timeout")
    });
    assert!(
        closed_after >= Duration::from_millis(2500),
        "the silent peer was closed after {closed_after:?}, before the 3s idle timeout"
    );

    // The good client is still there.
    let mut peer = srv.ws_register("idle", "2").await;
    peer.send_msg("alive").await;
    good.expect_msg("alive").await;
}
