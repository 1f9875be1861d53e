//! Resource limits and input validation from the interface contract (`--max-*` flags, id
//! syntax), each followed by a check that an unrelated room still works end to end
//! (join, register, WS send, `/message` forwarding).
//!
//! Covers: POST body over `--max-body-bytes` → 413 on `/message` and `/ws/<room>/<client>`;
//! invalid room/client ids (`bad.id`, too long, `%20`, empty, trailing slash) → 404 on room
//! routes and an error frame on WS register, honoring `--max-id-len`; `/message` over
//! `--max-stored-messages` → 200 `{"result":"ERROR"}`; a WS frame over
//! `--max-ws-frame-bytes` closes only that socket (close code 1009); Collider queue over
//! `--max-queued-messages` → 500 "Too many messages queued"; `/join` over `--max-rooms` →
//! 200 `{"result":"ERROR"}`.

mod common;

use common::*;
use std::time::Duration;

#[tokio::test]
async fn body_over_max_body_bytes_is_413() {
    let srv = Server::start_with(&["--max-body-bytes", "1024"]);
    let a = srv.join("big").await;
    let ok_body = "x".repeat(1000);
    srv.message_ok("big", &a.client_id, &ok_body).await;
    let big = "y".repeat(4096);
    let r = srv.post(&format!("/message/big/{}", a.client_id), big.clone()).await;
    assert_eq!(r.status, 413, "{r:?}");
    let r = srv.post("/ws/big/someone", big).await;
    assert_eq!(r.status, 413, "{r:?}");
    // The oversized message was not stored.
    let b = srv.join("big").await;
    assert_eq!(b.messages(), vec![ok_body]);
    srv.assert_room_works("other").await;
}

#[tokio::test]
async fn invalid_room_ids_are_404() {
    let srv = Server::start();
    let long = "a".repeat(65);
    for path in [
        "/join/bad.id".to_string(),
        format!("/join/{long}"),
        "/join/a%20b".to_string(),
        "/join/".to_string(),
        "/join/abc/".to_string(),
        "/message/bad.id/12345678".to_string(),
        "/message/abc/bad.id".to_string(),
        "/leave/bad.id/12345678".to_string(),
    ] {
        let r = srv.post(&path, "{}").await;
        assert_eq!(r.status, 404, "POST {path}: {r:?}");
    }
    for path in ["/r/bad.id".to_string(), format!("/r/{long}"), "/r/a%20b".to_string()] {
        let r = srv.get(&path).await;
        assert_eq!(r.status, 404, "GET {path}: {r:?}");
    }
    // Exactly 64 characters (the default --max-id-len) is fine.
    let ok = "b".repeat(64);
    srv.join(&ok).await;
    srv.assert_room_works("valid_room-1").await;
}

#[tokio::test]
async fn max_id_len_is_configurable_and_applies_to_ws_register() {
    let srv = Server::start_with(&["--max-id-len", "8"]);
    srv.join("abcdefgh").await;
    let r = srv.post("/join/abcdefghi", Vec::new()).await;
    assert_eq!(r.status, 404, "{r:?}");

    let mut w = srv.ws().await;
    w.register("abcdefghi", "1").await;
    w.expect_error().await;
    w.expect_closed().await;
    let mut w = srv.ws().await;
    w.register("room1", "123456789").await;
    w.expect_error().await;
    w.expect_closed().await;
    let mut w = srv.ws().await;
    w.register("bad.id", "1").await;
    w.expect_error().await;
    w.expect_closed().await;
    srv.assert_room_works("room2").await;
}

#[tokio::test]
async fn stored_messages_over_limit_is_error() {
    let srv = Server::start_with(&["--max-stored-messages", "3"]);
    let a = srv.join("store").await;
    for m in ["1", "2", "3"] {
        srv.message_ok("store", &a.client_id, m).await;
    }
    let v = srv.message("store", &a.client_id, "4").await; // HTTP 200
    assert_eq!(v["result"], "ERROR", "{v}");
    let b = srv.join("store").await;
    assert_eq!(b.messages(), vec!["1", "2", "3"]);
    srv.assert_room_works("other").await;
}

#[tokio::test]
async fn ws_frame_over_limit_closes_only_that_socket() {
    let srv = Server::start_with(&["--max-ws-frame-bytes", "1024"]);
    let mut a = srv.ws_register("frame", "1").await;
    let mut b = srv.ws_register("frame", "2").await;
    let mut other1 = srv.ws_register("elsewhere", "x").await;
    let mut other2 = srv.ws_register("elsewhere", "y").await;
    srv.wait_openws(4).await;

    let huge = serde_json::json!({"cmd": "send", "msg": "z".repeat(3000)}).to_string();
    let _ = a.try_send_text(&huge).await;
    let code = a.expect_closed().await;
    assert_eq!(code, Some(1009), "oversized frame must close with code 1009");
    // b did not get the oversized message and is still open.
    b.expect_silence(Duration::from_millis(300)).await;
    srv.wait_openws(3).await;
    // Other sockets are unaffected.
    other1.send_msg("still here").await;
    other2.expect_msg("still here").await;
    // Client 1 can come back on a new socket (within the reconnect window) and talk to b.
    let mut a2 = srv.ws_register("frame", "1").await;
    b.send_msg("welcome back").await;
    a2.expect_msg("welcome back").await;
    srv.assert_room_works("fresh").await;
}

#[tokio::test]
async fn collider_queue_over_limit_is_500() {
    let srv = Server::start_with(&["--max-queued-messages", "3"]);
    for m in ["q1", "q2", "q3"] {
        let r = srv.collider_post("queue", "sender", m).await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let r = srv.collider_post("queue", "sender", "q4").await;
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("Too many messages queued"), "{r:?}");
    let mut rx = srv.ws_register("queue", "receiver").await;
    rx.expect_msg("q1").await;
    rx.expect_msg("q2").await;
    rx.expect_msg("q3").await;
    rx.expect_silence(Duration::from_millis(300)).await;
    srv.assert_room_works("other").await;
}

#[tokio::test]
async fn max_rooms_reached_join_is_error() {
    let srv = Server::start_with(&["--max-rooms", "2"]);
    let r1 = srv.join("room1").await;
    let r2 = srv.join("room2").await;
    let v = srv.join_json("room3").await; // HTTP 200
    assert_eq!(v["result"], "ERROR", "{v}");
    // Existing rooms keep working: second seat, register, send, forwarding.
    let b1 = srv.join("room1").await;
    assert!(!b1.is_initiator);
    let mut wa = srv.ws_register("room1", &r1.client_id).await;
    let mut wb = srv.ws_register("room1", &b1.client_id).await;
    wb.send_msg("answer").await;
    wa.expect_msg("answer").await;
    srv.message_ok("room1", &r1.client_id, "cand").await;
    wb.expect_msg("cand").await;
    // Freeing a room makes space for a new one.
    srv.leave("room2", &r2.client_id).await;
    srv.assert_room_works("room3").await;
}
