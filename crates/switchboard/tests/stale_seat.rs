//! AppRTC's stale "room full", fixed: a client whose WebSocket closed without `/leave` and did not
//! come back within the reconnect window loses its seat, and the client left behind is told with
//! a `bye` so it re-offers for the next joiner, who then connects normally.

mod common;

use std::time::Duration;

use common::{room, Server, WsEvent};

#[tokio::test]
async fn vanished_peer_is_replaced_by_the_next_joiner() {
    let server = Server::start_with(&["--reconnect-window", "1s"]);
    let r = room("stale");
    let a = server.join(&r).await;
    let b = server.join(&r).await;
    assert_eq!(server.join_result(&r).await, "FULL");
    let mut ws_a = server.ws_register(&r, &a.client_id).await;
    let ws_b = server.ws_register(&r, &b.client_id).await;
    server.wait_openws(2).await;

    // B's browser crashes: the socket goes away, no /leave, no bye.
    drop(ws_b);
    // Within the window the seat is still held (B may reconnect).
    assert_eq!(server.join_result(&r).await, "FULL");

    // After the window, A hears a bye as if B had hung up.
    match ws_a.next_event(Duration::from_secs(5)).await {
        WsEvent::Frame(f) => {
            assert_eq!(f.error(), "");
            assert_eq!(f.msg(), "{\"type\":\"bye\"}");
        }
        other => panic!("expected a bye for the vanished peer, got {other:?}"),
    }

    // A, now alone and initiator again, re-offers; the offer is stored for the next joiner.
    server.message_ok(&r, &a.client_id, "{\"type\":\"offer\",\"sdp\":\"v=0\"}").await;
    let c = server.join(&r).await;
    assert!(!c.is_initiator, "the new joiner must answer A's offer");
    assert_eq!(c.messages(), vec!["{\"type\":\"offer\",\"sdp\":\"v=0\"}".to_string()]);
    let mut ws_c = server.ws_register(&r, &c.client_id).await;
    ws_c.send_msg("{\"type\":\"answer\",\"sdp\":\"v=0\"}").await;
    ws_a.expect_msg("{\"type\":\"answer\",\"sdp\":\"v=0\"}").await;
}

#[tokio::test]
async fn a_peer_that_reconnects_within_the_window_keeps_its_seat() {
    let server = Server::start_with(&["--reconnect-window", "2s"]);
    let r = room("roam");
    let a = server.join(&r).await;
    let b = server.join(&r).await;
    let mut ws_a = server.ws_register(&r, &a.client_id).await;
    let ws_b = server.ws_register(&r, &b.client_id).await;
    server.wait_openws(2).await;
    drop(ws_b);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut ws_b = server.ws_register(&r, &b.client_id).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(server.join_result(&r).await, "FULL", "B came back in time: the room is still B's and A's");
    ws_b.send_msg("still here").await;
    ws_a.expect_msg("still here").await;
}

#[tokio::test]
async fn a_peer_that_left_frees_its_signaling_seat_when_its_socket_closes_without_delete() {
    // A long window: the newcomer must not have to wait for it.
    let server = Server::start_with(&["--reconnect-window", "30s"]);
    let r = room("leftseat");
    let a = server.join(&r).await;
    let b = server.join(&r).await;
    let mut ws_a = server.ws_register(&r, &a.client_id).await;
    let mut ws_b = server.ws_register(&r, &b.client_id).await;
    server.wait_openws(2).await;

    // B hangs up as a closing tab does: /leave, its bye over the socket, and the socket goes
    // without the DELETE.
    let left = server.post(&format!("/leave/{r}/{}", b.client_id), Vec::new()).await;
    assert_eq!(left.status, 200);
    ws_b.send_msg("{\"type\":\"bye\"}").await;
    ws_a.expect_msg("{\"type\":\"bye\"}").await;
    drop(ws_b);
    server.wait_openws(1).await;

    // C takes B's place at once, on the room server and on the signaling side.
    let c = server.join(&r).await;
    let mut ws_c = server.ws_register(&r, &c.client_id).await;
    ws_c.send_msg("hello from C").await;
    ws_a.expect_msg("hello from C").await;
}
