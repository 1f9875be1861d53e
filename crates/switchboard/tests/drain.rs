//! Graceful shutdown: after SIGTERM a call in progress keeps signaling (WebSocket and
//! `/message`) until `--drain-timeout`, `/readyz` answers 503 `draining`, a new join gets 503
//! with an error saying the server is shutting down, and the process exits at the timeout.
//! With no call in progress it exits at once.

mod common;

use std::time::{Duration, Instant};

use common::Server;

fn wait_exit(server: &mut Server, limit: Duration) -> Duration {
    let start = Instant::now();
    while server.exited().is_none() {
        assert!(start.elapsed() < limit, "the server did not exit within {limit:?}\n{}", server.logs());
        std::thread::sleep(Duration::from_millis(25));
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_in_progress_survives_sigterm_until_the_drain_timeout() {
    let mut server = Server::start_with(&["--drain-timeout", "3s"]);
    let room = common::room("drain");
    let a = server.join(&room).await;
    let b = server.join(&room).await;
    let mut wa = server.ws_register(&room, &a.client_id).await;
    let mut wb = server.ws_register(&room, &b.client_id).await;

    let signalled = Instant::now();
    server.signal("TERM");
    server.wait_log("Draining:", 1, Duration::from_secs(3));

    let r = server.get("/readyz").await;
    assert_eq!((r.status, r.body.as_str()), (503, "draining\n"));
    let r = server.post("/join/another-room", Vec::new()).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.body.contains("shutting down"), "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");

    // The call goes on: both directions of signaling work during the drain.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    wb.send_msg("during-drain-ws").await;
    wa.expect_msg("during-drain-ws").await;
    server.message_ok(&room, &a.client_id, "during-drain-http").await;
    wb.expect_msg("during-drain-http").await;
    assert!(server.exited().is_none(), "exited before the drain timeout");

    let total = signalled.elapsed() + wait_exit(&mut server, Duration::from_secs(8));
    assert!(total >= Duration::from_millis(2900), "exited after {total:?}, before the 3 s drain timeout");
    assert!(matches!(wa.next_event(Duration::from_secs(2)).await, common::WsEvent::Closed(_)));
}

#[tokio::test]
async fn exits_at_once_without_calls() {
    let mut server = Server::start_with(&["--drain-timeout", "30s"]);
    server.get("/healthz").await;
    server.signal("TERM");
    let took = wait_exit(&mut server, Duration::from_secs(5));
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(server.logs().contains("drain complete"), "{}", server.logs());
}

/// Sends one STUN request over UDP and returns the parsed response's class and error code.
fn turn_request(socket: &std::net::UdpSocket, turn: std::net::SocketAddr, build: impl FnOnce(&mut stun::MessageBuilder<'_>)) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = stun::MessageBuilder::new(&mut buf, stun::Class::Request, stun::Method::ALLOCATE, stun::TransactionId::new(rand_tid()));
    build(&mut b);
    b.finish().expect("a valid request");
    socket.send_to(&buf, turn).expect("send");
    let mut resp = vec![0u8; 2048];
    let n = socket.recv(&mut resp).expect("a TURN answer within the timeout");
    resp.truncate(n);
    resp
}

fn rand_tid() -> [u8; 12] {
    static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);
    [NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed); 12]
}

/// Allocates with long-term credentials; returns the error code (None on success).
fn allocate(turn: std::net::SocketAddr) -> Option<u16> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let challenge = turn_request(&socket, turn, |b| {
        b.requested_transport(17);
    });
    let m = stun::Message::parse(&challenge).unwrap();
    assert_eq!(m.error_code().unwrap().map(|e| e.code), Some(401));
    let nonce = m.nonce().unwrap().unwrap().to_string();
    let realm = m.realm().unwrap().unwrap().to_string();
    let key = stun::LongTermKey::md5("drainer", &realm, "pw");
    let resp = turn_request(&socket, turn, |b| {
        b.requested_transport(17).username("drainer").realm(&realm).nonce(&nonce).message_integrity(key.as_bytes()).fingerprint();
    });
    stun::Message::parse(&resp).unwrap().error_code().unwrap().map(|e| e.code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_refuses_new_allocations_during_the_drain() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let turn: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut server = Server::start_with(&["--drain-timeout", "3s", "--turn-listen", &turn.to_string(), "--turn-user", "drainer:pw"]);
    assert_eq!(allocate(turn), None, "an allocation before the drain succeeds");
    server.signal("TERM");
    server.wait_log("Draining:", 1, Duration::from_secs(3));
    assert_eq!(allocate(turn), Some(508), "a new allocation during the drain gets 508");
    wait_exit(&mut server, Duration::from_secs(8));
}
