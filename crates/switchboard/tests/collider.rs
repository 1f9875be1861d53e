//! Collider semantics (protocol spec §3, §7.5 items 26–37) over the real server's `/ws`
//! WebSocket and its `/ws/<room>/<client>` HTTP interface.
//!
//! Covers: WS send between two registered clients; duplicate `register` on one socket (error
//! then close); duplicate registration of a live client id from another socket (error, the
//! existing socket unaffected); missing ids; room capacity; HTTP POST delivery; POST before
//! anyone registered is queued and flushed on register (and the queue is emptied); DELETE
//! closes the socket and empties the room; an unregistered POSTer expires after the reconnect
//! window; a closed socket's seat expires after the window but can re-register within it;
//! unknown `cmd` (error, socket stays open); `send` before `register` (error + close);
//! malformed JSON (error + close, others unaffected); binary frames; `/status` fields and
//! counters; OPTIONS/GET/DELETE CORS answers; POST empty body → 500; POST from a third id →
//! 500; WS handshake with and without Origin.

mod common;

use common::*;
use std::time::Duration;

#[tokio::test]
async fn send_between_two_registered_clients() {
    let srv = Server::start();
    let mut a = srv.ws_register("abc", "A1").await;
    let mut b = srv.ws_register("abc", "B1").await;
    a.send_msg("hello").await;
    b.expect_msg("hello").await;
    b.send_msg("hello back").await;
    a.expect_msg("hello back").await;
    // The sender does not get its own message echoed.
    a.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn duplicate_register_same_socket_errors_then_closes() {
    let srv = Server::start();
    let mut a = srv.ws_register("abc", "123").await;
    a.register("abc", "123").await;
    a.expect_error().await;
    a.expect_closed().await;

    // A second register with other ids on one socket is also rejected.
    let mut b = srv.ws_register("abc", "456").await;
    b.register("abc", "789").await;
    b.expect_error().await;
    b.expect_closed().await;
}

#[tokio::test]
async fn duplicate_live_registration_from_another_socket_is_rejected() {
    let srv = Server::start();
    let mut first = srv.ws_register("abc", "111").await;
    srv.wait_openws(1).await;
    let mut dup = srv.ws_register("abc", "111").await;
    dup.expect_error().await;
    dup.expect_closed().await;
    // The existing socket is unaffected: it still receives from a peer.
    let mut peer = srv.ws_register("abc", "222").await;
    peer.send_msg("still there?").await;
    first.expect_msg("still there?").await;
    first.send_msg("yes").await;
    peer.expect_msg("yes").await;
}

#[tokio::test]
async fn register_with_missing_ids_errors_and_closes() {
    let srv = Server::start();
    let mut a = srv.ws().await;
    a.send_text(r#"{"cmd":"register","roomid":"abc"}"#).await;
    a.expect_error().await;
    a.expect_closed().await;
    let mut b = srv.ws().await;
    b.send_text(r#"{"cmd":"register","roomid":"","clientid":"1"}"#).await;
    b.expect_error().await;
    b.expect_closed().await;
}

#[tokio::test]
async fn register_into_room_with_two_other_clients_is_rejected() {
    let srv = Server::start();
    let mut a = srv.ws_register("cap", "1").await;
    let mut b = srv.ws_register("cap", "2").await;
    srv.wait_openws(2).await;
    let mut c = srv.ws_register("cap", "3").await;
    let f = c.expect_error().await;
    assert!(
        f.error().contains("capacity"),
        "expected `Max room capacity reached`, got {:?}",
        f.raw
    );
    c.expect_closed().await;
    a.send_msg("ok").await;
    b.expect_msg("ok").await;
}

#[tokio::test]
async fn http_post_delivers_to_registered_client() {
    let srv = Server::start();
    let mut c = srv.ws_register("abc", "123").await;
    srv.wait_openws(1).await;
    let r = srv.collider_post("abc", "456", "hello!").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body.trim_end(), "OK", "{r:?}");
    c.expect_msg("hello!").await;
}

#[tokio::test]
async fn post_before_anyone_registered_is_queued_and_flushed_once() {
    let srv = Server::start();
    let r = srv.collider_post("abc", "456", "hello!").await;
    assert_eq!(r.status, 200, "{r:?}");
    let mut c = srv.ws_register("abc", "123").await;
    c.expect_msg("hello!").await;
    c.expect_silence(SILENCE).await;
    // The queue was emptied by the flush: re-registering does not deliver it again.
    c.close().await;
    srv.wait_openws(0).await;
    let mut again = srv.ws_register("abc", "123").await;
    again.expect_silence(SILENCE).await;
    // And the room still works: 456 posts again.
    let r = srv.collider_post("abc", "456", "second").await;
    assert_eq!(r.status, 200, "{r:?}");
    again.expect_msg("second").await;
}

#[tokio::test]
async fn queued_messages_flush_in_order() {
    let srv = Server::start();
    for m in ["m1", "m2", "m3"] {
        let r = srv.collider_post("ord", "sender", m).await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let mut c = srv.ws_register("ord", "receiver").await;
    c.expect_msg("m1").await;
    c.expect_msg("m2").await;
    c.expect_msg("m3").await;
}

#[tokio::test]
async fn delete_closes_socket_and_empties_room() {
    let srv = Server::start();
    let mut c = srv.ws_register("abc", "1").await;
    srv.wait_openws(1).await;
    let r = srv.delete("/ws/abc/1").await;
    assert_eq!(r.status, 200, "{r:?}");
    c.expect_closed().await;
    srv.wait_openws(0).await;
    // The room is empty: two fresh ids can register and talk.
    let mut x = srv.ws_register("abc", "2").await;
    let mut y = srv.ws_register("abc", "3").await;
    srv.wait_openws(2).await;
    x.send_msg("fresh").await;
    y.expect_msg("fresh").await;
    // DELETE of unknown ids is a no-op 200.
    let r = srv.delete("/ws/nosuch/9").await;
    assert_eq!(r.status, 200, "{r:?}");
}

#[tokio::test]
async fn unregistered_poster_expires_after_reconnect_window() {
    let srv = Server::start_with(&["--reconnect-window", "1s"]);
    let r = srv.collider_post("abc", "1", "hi").await;
    assert_eq!(r.status, 200, "{r:?}");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    // Client 1 (and its queue) is gone: two other ids fit in the room and "hi" is not
    // delivered to either.
    let mut x = srv.ws_register("abc", "2").await;
    srv.wait_openws(1).await;
    let mut y = srv.ws_register("abc", "3").await;
    match y.next_event(SILENCE).await {
        WsEvent::Timeout => {}
        other => panic!("client 3 should be admitted silently (1 expired), got {other:?}"),
    }
    x.expect_silence(Duration::from_millis(100)).await;
    srv.wait_openws(2).await;
    x.send_msg("after expiry").await;
    y.expect_msg("after expiry").await;
}

#[tokio::test]
async fn closed_socket_keeps_seat_within_window_then_is_removed() {
    let srv = Server::start_with(&["--reconnect-window", "1s"]);
    let a = srv.ws_register("abc", "1").await;
    let mut b = srv.ws_register("abc", "2").await;
    srv.wait_openws(2).await;
    a.close().await;
    srv.wait_openws(1).await;
    // Within the window client 1 still holds its seat: a third id is rejected.
    let mut c = srv.ws_register("abc", "3").await;
    let f = c.expect_error().await;
    assert!(f.error().contains("capacity"), "expected capacity error, got {:?}", f.raw);
    c.expect_closed().await;
    // After the window, client 1 is removed and 3 fits.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let mut c2 = srv.ws_register("abc", "3").await;
    match c2.next_event(SILENCE).await {
        WsEvent::Timeout => {}
        other => panic!("client 3 should be admitted after the window, got {other:?}"),
    }
    srv.wait_openws(2).await;
    b.send_msg("to three").await;
    c2.expect_msg("to three").await;
}

#[tokio::test]
async fn reregister_within_window_gets_queued_messages() {
    let srv = Server::start(); // default window 10s
    let a = srv.ws_register("abc", "1").await;
    let mut b = srv.ws_register("abc", "2").await;
    srv.wait_openws(2).await;
    a.close().await;
    srv.wait_openws(1).await;
    b.send_msg("while away").await;
    let mut a2 = srv.ws_register("abc", "1").await;
    a2.expect_msg("while away").await;
    b.send_msg("after return").await;
    a2.expect_msg("after return").await;
    a2.send_msg("back").await;
    b.expect_msg("back").await;
}

#[tokio::test]
async fn unknown_cmd_errors_but_socket_stays_open() {
    let srv = Server::start();
    let mut a = srv.ws().await;
    a.send_text(r#"{"cmd":"dance"}"#).await;
    a.expect_error().await;
    a.send_text(r#"{"roomid":"abc"}"#).await; // missing cmd
    a.expect_error().await;
    a.expect_silence(Duration::from_millis(300)).await;
    // Still usable.
    a.register("abc", "1").await;
    let mut b = srv.ws_register("abc", "2").await;
    b.send_msg("works").await;
    a.expect_msg("works").await;
}

#[tokio::test]
async fn send_before_register_errors_and_closes() {
    let srv = Server::start();
    let mut a = srv.ws().await;
    a.send_msg("too early").await;
    a.expect_error().await;
    a.expect_closed().await;
}

#[tokio::test]
async fn send_with_empty_msg_errors_and_closes() {
    let srv = Server::start();
    let mut a = srv.ws_register("abc", "1").await;
    a.send_text(r#"{"cmd":"send","msg":""}"#).await;
    a.expect_error().await;
    a.expect_closed().await;
}

#[tokio::test]
async fn malformed_json_errors_and_closes_others_unaffected() {
    let srv = Server::start();
    let mut a = srv.ws_register("abc", "1").await;
    let mut b = srv.ws_register("abc", "2").await;
    let mut bad = srv.ws().await;
    bad.send_text("this is {not json").await;
    bad.expect_error().await;
    bad.expect_closed().await;
    // A registered client in another room sending garbage is closed as well.
    let mut bad2 = srv.ws_register("other", "x").await;
    bad2.send_text("{\"cmd\":").await;
    bad2.expect_error().await;
    bad2.expect_closed().await;
    // Others unaffected.
    a.send_msg("fine").await;
    b.expect_msg("fine").await;
}

#[tokio::test]
async fn binary_frames_are_decoded_as_json() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let srv = Server::start();
    let mut a = srv.ws_register("bin", "1").await;
    let mut b = srv.ws().await;
    b.inner
        .send(Message::binary(
            br#"{"cmd":"register","roomid":"bin","clientid":"2"}"#.to_vec(),
        ))
        .await
        .unwrap();
    b.inner
        .send(Message::binary(br#"{"cmd":"send","msg":"binary hello"}"#.to_vec()))
        .await
        .unwrap();
    a.expect_msg("binary hello").await;
}

#[tokio::test]
async fn status_reports_fields_and_counters() {
    let srv = Server::start();
    let r = srv.get("/status").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("*"), "{r:?}");
    let s = r.json();
    assert!(s["upsec"].is_number(), "upsec must be numeric: {s}");
    assert!(s["upsec"].as_f64().unwrap() >= 0.0);
    for k in ["openws", "totalws", "wserrors", "httperrors"] {
        assert!(s[k].is_u64(), "{k} must be a non-negative integer: {s}");
    }
    assert_eq!(s["openws"], 0, "{s}");
    assert_eq!(s["totalws"], 0, "{s}");

    let mut a = srv.ws_register("st", "1").await;
    srv.wait_openws(1).await;
    let s = srv.status().await;
    assert_eq!(s["totalws"], 1, "{s}");

    // A WS error frame increments wserrors.
    let before = srv.status().await["wserrors"].as_u64().unwrap();
    let mut bad = srv.ws().await;
    bad.send_msg("unregistered").await;
    bad.expect_error().await;
    let s = srv.status().await;
    assert!(s["wserrors"].as_u64().unwrap() > before, "wserrors must increase: {s}");

    // An HTTP error increments httperrors.
    let before = s["httperrors"].as_u64().unwrap();
    let r = srv.collider_post("st", "2", "").await;
    assert_eq!(r.status, 500, "{r:?}");
    let s = srv.status().await;
    assert!(s["httperrors"].as_u64().unwrap() > before, "httperrors must increase: {s}");

    a.send_msg("x").await; // 1 is alone in the room: queued, no error
    a.expect_silence(Duration::from_millis(200)).await;
    a.close().await;
    srv.wait_openws(0).await;
    let s = srv.status().await;
    assert!(s["upsec"].is_number(), "{s}");
}

fn assert_collider_cors(r: &Resp) {
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("*"), "{r:?}");
    let methods = r
        .header("access-control-allow-methods")
        .unwrap_or_else(|| panic!("Access-Control-Allow-Methods missing: {r:?}"));
    assert!(methods.contains("POST"), "{r:?}");
    assert!(methods.contains("DELETE"), "{r:?}");
}

#[tokio::test]
async fn options_get_and_delete_have_cors_headers() {
    let srv = Server::start();
    let r = srv
        .request(
            reqwest::Method::OPTIONS,
            "/ws/a/b",
            &[
                ("origin", "https://other.example"),
                ("access-control-request-method", "DELETE"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_collider_cors(&r);
    let r = srv.get("/ws/a/b").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_collider_cors(&r);
    let r = srv.delete("/ws/a/b").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_collider_cors(&r);
    let r = srv.collider_post("a", "b", "x").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_collider_cors(&r);
}

#[tokio::test]
async fn post_with_empty_body_is_500() {
    let srv = Server::start();
    let r = srv.collider_post("abc", "1", "").await;
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("*"), "{r:?}");
}

#[tokio::test]
async fn post_from_third_id_is_500() {
    let srv = Server::start();
    assert_eq!(srv.collider_post("abc", "1", "from 1").await.status, 200);
    assert_eq!(srv.collider_post("abc", "2", "from 2").await.status, 200);
    let r = srv.collider_post("abc", "3", "from 3").await;
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("Max room capacity reached"), "{r:?}");
}

#[tokio::test]
async fn ws_handshake_with_and_without_origin() {
    let srv = Server::start();
    // No Origin header (tungstenite sends none by default).
    let mut a = srv.ws_register("org", "1").await;
    // With an arbitrary Origin.
    let mut b = WsClient::connect(&srv.ws_url(), &[("origin", "https://appr.tc")]).await;
    b.register("org", "2").await;
    b.send_msg("cross-origin").await;
    a.expect_msg("cross-origin").await;
}

#[tokio::test]
async fn register_accepts_pretty_printed_json_and_extra_keys() {
    let srv = Server::start();
    let mut a = srv.ws().await;
    a.send_text("{\n  \"clientid\" : \"1\",\n  \"cmd\" : \"register\",\n  \"roomid\" : \"pp\",\n  \"extra\": 5\n}")
        .await;
    let mut b = srv.ws_register("pp", "2").await;
    b.send_text("{\n  \"msg\" : \"{\\\"type\\\":\\\"bye\\\"}\",\n  \"cmd\" : \"send\"\n}")
        .await;
    a.expect_msg("{\"type\":\"bye\"}").await;
}
