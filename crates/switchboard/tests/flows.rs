//! End-to-end signaling flows (protocol spec §4.3–§4.5) through the room server and the
//! built-in Collider of one binary, using the URLs the join response advertises.
//!
//! Covers: the normal call (A joins and posts offer + candidates, B joins and receives them in
//! order, B registers and answers over WS, A receives it, A's later `/message` is forwarded to
//! B's WS, including while B is not yet registered); a web-style non-initiator POSTing to
//! `wss_post_url` (iOS style); hangup with leave + bye + DELETE, the remaining peer becoming
//! initiator whose new offer is stored for the next joiner; rejoin after leave; third joiner
//! FULL; stale seats freed after `--reconnect-window` when a socket closes without `/leave`,
//! but kept when it re-registers in time; web and iOS loopback mode.

mod common;

use common::*;
use std::time::{Duration, Instant};

const OFFER: &str = r#"{"sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n","type":"offer"}"#;
const ANSWER: &str = r#"{"sdp":"v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n","type":"answer"}"#;

fn cand(n: u32) -> String {
    format!(
        r#"{{"type":"candidate","label":0,"id":"0","candidate":"candidate:{n} 1 udp 2122260223 192.0.2.{n} 5{n}000 typ host"}}"#
    )
}

#[tokio::test]
async fn normal_call_sequence() {
    let srv = Server::start();
    // A: join, open wss_url, register.
    let a = srv.join("call").await;
    assert!(a.is_initiator);
    let wss_url = a.str_param("wss_url");
    let mut wa = WsClient::connect(&wss_url, &[("origin", srv.base.as_str())]).await;
    wa.register("call", &a.client_id).await;

    // A posts offer + candidates: stored (room has one client).
    srv.message_ok("call", &a.client_id, OFFER).await;
    srv.message_ok("call", &a.client_id, &cand(1)).await;
    srv.message_ok("call", &a.client_id, &cand(2)).await;
    // Nothing is delivered to A itself.
    wa.expect_silence(Duration::from_millis(300)).await;

    // B joins and gets them in order.
    let b = srv.join("call").await;
    assert!(!b.is_initiator);
    assert_eq!(b.messages(), vec![OFFER.to_string(), cand(1), cand(2)]);

    // A's candidate posted after B joined but before B registered: queued in Collider.
    srv.message_ok("call", &a.client_id, &cand(3)).await;

    // B registers on the advertised wss_url and gets the queued candidate.
    let mut wb = WsClient::connect(&b.str_param("wss_url"), &[]).await;
    wb.register("call", &b.client_id).await;
    wb.expect_msg(&cand(3)).await;

    // B answers over the WS; A receives it.
    wb.send_msg(ANSWER).await;
    wa.expect_msg(ANSWER).await;
    wb.send_msg(&cand(4)).await;
    wa.expect_msg(&cand(4)).await;

    // A's later candidates are forwarded to B's WS.
    srv.message_ok("call", &a.client_id, &cand(5)).await;
    wb.expect_msg(&cand(5)).await;

    // Room is full for a third party.
    assert_eq!(srv.join_result("call").await, "FULL");
    wa.expect_silence(Duration::from_millis(200)).await;
    wb.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn non_initiator_posts_to_wss_post_url_when_not_registered() {
    let srv = Server::start();
    let a = srv.join("ios").await;
    let mut wa = srv.ws_register("ios", &a.client_id).await;
    srv.message_ok("ios", &a.client_id, OFFER).await;
    let b = srv.join("ios").await;
    assert_eq!(b.messages(), vec![OFFER.to_string()]);
    let post_url = format!("{}/ios/{}", b.str_param("wss_post_url"), b.client_id);
    // iOS sets no Content-Type of its own; NSURLSession may add a form type.
    let r = srv
        .post_h(&post_url, &[("content-type", "application/x-www-form-urlencoded")], ANSWER)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    wa.expect_msg(ANSWER).await;
}

#[tokio::test]
async fn hangup_bye_and_remaining_peer_becomes_initiator() {
    let srv = Server::start();
    let a = srv.join("hang").await;
    let b = srv.join("hang").await;
    let mut wa = srv.ws_register("hang", &a.client_id).await;
    let mut wb = srv.ws_register("hang", &b.client_id).await;
    wb.send_msg(ANSWER).await;
    wa.expect_msg(ANSWER).await;

    // Web hangup order: leave, bye over WS, close WS, DELETE.
    srv.leave("hang", &a.client_id).await;
    wa.send_msg(r#"{"type":"bye"}"#).await;
    wb.expect_msg(r#"{"type":"bye"}"#).await;
    wa.close().await;
    let r = srv.delete(&format!("/ws/hang/{}", a.client_id)).await;
    assert_eq!(r.status, 200, "{r:?}");

    // B is now alone; its new offer is stored (not forwarded) for the next joiner.
    srv.message_ok("hang", &b.client_id, OFFER).await;
    srv.message_ok("hang", &b.client_id, &cand(7)).await;
    wb.expect_silence(Duration::from_millis(200)).await;

    let c = srv.join("hang").await;
    assert!(!c.is_initiator);
    assert_eq!(c.messages(), vec![OFFER.to_string(), cand(7)]);
    let mut wc = srv.ws_register("hang", &c.client_id).await;
    wc.send_msg(ANSWER).await;
    wb.expect_msg(ANSWER).await;
    srv.message_ok("hang", &b.client_id, &cand(8)).await;
    wc.expect_msg(&cand(8)).await;

    // A rejoining now finds the room full.
    assert_eq!(srv.join_result("hang").await, "FULL");
}

#[tokio::test]
async fn rejoin_after_everyone_left() {
    let srv = Server::start();
    let a = srv.join("rejoin").await;
    let b = srv.join("rejoin").await;
    let wa = srv.ws_register("rejoin", &a.client_id).await;
    let wb = srv.ws_register("rejoin", &b.client_id).await;
    srv.leave("rejoin", &a.client_id).await;
    wa.close().await;
    srv.delete(&format!("/ws/rejoin/{}", a.client_id)).await;
    srv.leave("rejoin", &b.client_id).await;
    wb.close().await;
    srv.delete(&format!("/ws/rejoin/{}", b.client_id)).await;

    let a2 = srv.join("rejoin").await;
    assert!(a2.is_initiator, "{:?}", a2.raw);
    assert_ne!(a2.client_id, a.client_id, "rejoin gets a new client id");
    let b2 = srv.join("rejoin").await;
    assert!(!b2.is_initiator);
    let mut wa2 = srv.ws_register("rejoin", &a2.client_id).await;
    let mut wb2 = srv.ws_register("rejoin", &b2.client_id).await;
    wb2.send_msg(ANSWER).await;
    wa2.expect_msg(ANSWER).await;
    srv.message_ok("rejoin", &a2.client_id, &cand(1)).await;
    wb2.expect_msg(&cand(1)).await;
}

#[tokio::test]
async fn third_joiner_is_full() {
    let srv = Server::start();
    srv.join("three").await;
    srv.join("three").await;
    let v = srv.join_json("three").await; // HTTP 200
    assert_eq!(v["result"], "FULL", "{v}");
}

/// Poll `/join/<room>` (FULL has no side effects) until SUCCESS or the deadline.
async fn join_until_success(srv: &Server, room: &str, deadline: Instant) -> Joined {
    loop {
        let v = srv.join_json(room).await;
        if v["result"] == "SUCCESS" {
            return Joined::from_success(v);
        }
        assert_eq!(v["result"], "FULL", "unexpected join result: {v}");
        if Instant::now() > deadline {
            panic!("room {room} still FULL at the deadline: stale seat was not freed");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn stale_seat_is_freed_after_reconnect_window() {
    let srv = Server::start_with(&["--reconnect-window", "1s"]);
    let a = srv.join("stale").await;
    let b = srv.join("stale").await;
    let mut wa = srv.ws_register("stale", &a.client_id).await;
    let wb = srv.ws_register("stale", &b.client_id).await;
    srv.wait_openws(2).await;
    // B vanishes without /leave (no close handshake, just drop the TCP connection).
    drop(wb);
    srv.wait_openws(1).await;
    // Still within the window: the seat is held.
    assert_eq!(srv.join_result("stale").await, "FULL");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let c = join_until_success(&srv, "stale", Instant::now() + Duration::from_secs(3)).await;
    assert!(!c.is_initiator, "A is still there, so C is the callee: {:?}", c.raw);
    // And the new pair works. (The server may tell A that B is gone with a synthesized
    // `{"type":"bye"}` — not in AppRTC, but harmless for all clients — so skip one.)
    let mut wc = srv.ws_register("stale", &c.client_id).await;
    wc.send_msg(ANSWER).await;
    let f = wa.expect_frame().await;
    if f.msg() == r#"{"type":"bye"}"# {
        wa.expect_msg(ANSWER).await;
    } else {
        assert_eq!(f.msg(), ANSWER, "frame {:?}", f.raw);
    }
    srv.message_ok("stale", &a.client_id, &cand(2)).await;
    wc.expect_msg(&cand(2)).await;
}

#[tokio::test]
async fn seat_kept_when_socket_reregisters_within_window() {
    let srv = Server::start_with(&["--reconnect-window", "1s"]);
    let a = srv.join("roam").await;
    let b = srv.join("roam").await;
    let mut wa = srv.ws_register("roam", &a.client_id).await;
    let wb = srv.ws_register("roam", &b.client_id).await;
    srv.wait_openws(2).await;
    wb.close().await;
    srv.wait_openws(1).await;
    // Network roaming: B reconnects right away.
    let mut wb2 = srv.ws_register("roam", &b.client_id).await;
    srv.wait_openws(2).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(srv.join_result("roam").await, "FULL", "B re-registered in time; seat must be kept");
    wb2.send_msg(ANSWER).await;
    wa.expect_msg(ANSWER).await;
}

#[tokio::test]
async fn web_loopback_mode() {
    let srv = Server::start();
    let a = srv.join_q("loop", "?debug=loopback").await;
    assert!(a.is_initiator, "{:?}", a.raw);
    assert_eq!(a.params["is_loopback"], "true", "{:?}", a.raw);
    let pcc = double_decoded(&a.params, "pc_constraints");
    let optional = pcc["optional"].as_array().unwrap_or_else(|| panic!("{pcc}"));
    assert!(
        optional.iter().any(|o| o["DtlsSrtpKeyAgreement"] == serde_json::json!(false)),
        "pc_constraints must contain {{\"DtlsSrtpKeyAgreement\": false}}: {pcc}"
    );
    assert!(
        a.str_param("include_loopback_js").contains("loopback"),
        "include_loopback_js should reference loopback.js: {:?}",
        a.raw
    );
    // The phantom makes the room full.
    assert_eq!(srv.join_result("loop").await, "FULL");

    // Caller's socket and the web loopback socket (lower-case id).
    let mut wa = srv.ws_register("loop", &a.client_id).await;
    let mut wl = srv.ws_register("loop", "loopback_client_id").await;
    srv.message_ok("loop", &a.client_id, OFFER).await;
    wl.expect_msg(OFFER).await;
    srv.message_ok("loop", &a.client_id, &cand(1)).await;
    wl.expect_msg(&cand(1)).await;
    // loopback.js sends the rewritten answer and echoes candidates.
    wl.send_msg(ANSWER).await;
    wa.expect_msg(ANSWER).await;
    wl.send_msg(&cand(1)).await;
    wa.expect_msg(&cand(1)).await;

    // Leaving removes the phantom too.
    srv.leave("loop", &a.client_id).await;
    wa.close().await;
    wl.close().await;
    let n = srv.join("loop").await;
    assert!(n.is_initiator, "after the loopback caller left the room is empty: {:?}", n.raw);
}

#[tokio::test]
async fn ios_loopback_mode() {
    let srv = Server::start();
    let a = srv.join_q("iloop", "?debug=loopback").await;
    assert!(a.is_initiator);
    let mut wa = srv.ws_register("iloop", &a.client_id).await;
    let mut wl = srv.ws_register("iloop", "LOOPBACK_CLIENT_ID").await;
    srv.message_ok("iloop", &a.client_id, OFFER).await;
    wl.expect_msg(OFFER).await;
    wl.send_msg(ANSWER).await;
    wa.expect_msg(ANSWER).await;
}

#[tokio::test]
async fn loopback_offer_posted_before_loopback_socket_registers_is_delivered() {
    let srv = Server::start();
    let a = srv.join_q("lateloop", "?debug=loopback").await;
    let _wa = srv.ws_register("lateloop", &a.client_id).await;
    srv.message_ok("lateloop", &a.client_id, OFFER).await;
    let mut wl = srv.ws_register("lateloop", "loopback_client_id").await;
    wl.expect_msg(OFFER).await;
}

#[tokio::test]
async fn collider_delete_frees_the_room_seat() {
    // Android hangs up with DELETE on Collider; Collider's removal notifies the room server
    // (`/bye`, §3.5), which the port implements as leave (§1.14), so the seat is freed.
    let srv = Server::start();
    let a = srv.join("del").await;
    let b = srv.join("del").await;
    let mut wa = srv.ws_register("del", &a.client_id).await;
    let mut wb = srv.ws_register("del", &b.client_id).await;
    srv.wait_openws(2).await;
    wb.send_msg(r#"{"type": "bye"}"#).await;
    wa.expect_msg(r#"{"type": "bye"}"#).await;
    let r = srv.delete(&format!("/ws/del/{}", b.client_id)).await;
    assert_eq!(r.status, 200, "{r:?}");
    wb.expect_closed().await;
    let deadline = Instant::now() + Duration::from_secs(2);
    let c = join_until_success(&srv, "del", deadline).await;
    assert!(!c.is_initiator);
}
