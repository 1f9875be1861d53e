//! Connection-level limits and configuration errors, end to end: the connection cap answers 503
//! (WebSockets count against it) and recovers, slow request headers are cut off, invalid options
//! stop the start with the key named, and `--help` lists every option.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, WsClient};

fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A refused connection may already be closing: a failed write still leaves an answer to read.
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[tokio::test]
async fn connection_cap_refuses_with_503_and_recovers() {
    let server = Server::start_with(&["--max-connections", "3"]);
    let addr = server.addr;
    let fillers: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).expect("connect filler")).collect();
    // Let the server accept all three before the probe.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = tokio::task::spawn_blocking(move || raw_get(addr, "/healthz")).await.unwrap();
    assert!(refused.starts_with("HTTP/1.1 503"), "expected 503 at the cap, got {refused:?}");
    assert!(refused.contains("connection limit"), "{refused:?}");

    drop(fillers);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = tokio::task::spawn_blocking(move || raw_get(addr, "/healthz")).await.unwrap();
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "server did not recover after connections closed: {answer:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.assert_room_works(&common::room("capok")).await;
}

#[tokio::test]
async fn websockets_count_against_the_connection_cap() {
    let server = Server::start_with(&["--max-connections", "2"]);
    let a = WsClient::connect(&server.ws_url(), &[]).await;
    let b = WsClient::connect(&server.ws_url(), &[]).await;
    let addr = server.addr;
    let refused = tokio::task::spawn_blocking(move || raw_get(addr, "/healthz")).await.unwrap();
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused:?}");
    drop(a);
    drop(b);
}

#[tokio::test]
async fn slow_request_headers_are_cut_off() {
    let server = Server::start_with(&["--request-timeout", "1s"]);
    let addr = server.addr;
    let outcome = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap_or(0);
        (started.elapsed(), String::from_utf8_lossy(&buf[..n]).into_owned())
    })
    .await
    .unwrap();
    assert!(outcome.0 < Duration::from_secs(4), "connection with unfinished headers was kept open: {outcome:?}");
    assert!(outcome.1.is_empty() || outcome.1.starts_with("HTTP/1.1 408"), "{outcome:?}");
    server.assert_room_works(&common::room("slowok")).await;
}

fn run_expecting_failure(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run switchboard");
    assert!(!out.status.success(), "switchboard {args:?} should refuse to start");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn invalid_options_stop_the_start_with_the_key_named() {
    let err = run_expecting_failure(&["--listen", "127.0.0.1:0", "--reconnect-window", "soon"]);
    assert!(err.contains("reconnect_window") && err.contains("--reconnect-window"), "{err}");
    let err = run_expecting_failure(&["--listen", "127.0.0.1:0", "--public-url", "calls.example.org"]);
    assert!(err.contains("public_url"), "{err}");
    let dir = std::env::temp_dir().join(format!("sb-bad-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "lisen = \"127.0.0.1:0\"\n").unwrap();
    let err = run_expecting_failure(&["--config", path.to_str().unwrap()]);
    assert!(err.contains("lisen"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_documents_every_option() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard")).arg("--help").output().expect("run --help");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config", "--listen", "--public-url", "--data-dir", "--log", "--log-format", "--reconnect-window", "--room-ttl",
        "--ws-idle-timeout", "--request-timeout", "--drain-timeout", "--max-id-len", "--max-body-bytes",
        "--max-stored-messages", "--max-queued-messages", "--max-ws-frame-bytes", "--max-connections", "--max-rooms",
        "--ice-server", "--header-message", "--bypass-join-confirmation",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
    assert!(help.contains("SWITCHBOARD_LISTEN"), "--help should name the environment variables");
}
