//! Minimal in-memory stand-in for the room server + Collider, used only to exercise the
//! load generator itself while the real server is not available. NOT a reference for
//! performance figures and not a protocol-complete implementation.
//!
//! `cargo run --release -p switchboard-loadgen --example mock_server` prints
//! `Listening on ADDR` like the real binary.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

#[derive(Default)]
struct Client {
    tx: Option<mpsc::UnboundedSender<String>>,
    queue: Vec<String>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    rooms: HashMap<String, Vec<(String, Vec<String>)>>,
    hub: HashMap<String, HashMap<String, Client>>,
}

type Shared = Arc<Mutex<State>>;

fn frame(msg: &str) -> String {
    format!("{{\"msg\":{},\"error\":\"\"}}\n", serde_json::to_string(msg).unwrap())
}

fn hub_send(st: &mut State, room: &str, src: &str, msg: String) {
    let r = st.hub.entry(room.to_string()).or_default();
    r.entry(src.to_string()).or_default();
    let other = r.iter_mut().find(|(k, _)| k.as_str() != src).map(|(_, c)| c);
    match other.and_then(|c| c.tx.clone()) {
        Some(tx) => {
            let _ = tx.send(frame(&msg));
        }
        None => r.get_mut(src).unwrap().queue.push(msg),
    }
}

fn handle_http(st: &Shared, method: &str, path: &str, body: String) -> (u16, String) {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut st = st.lock().unwrap();
    match (method, parts.as_slice()) {
        ("POST", ["join", room]) => {
            st.next_id += 1;
            let cid = format!("{:08}", st.next_id);
            let r = st.rooms.entry(room.to_string()).or_default();
            if r.len() >= 2 {
                return (200, r#"{"result":"FULL","params":{"messages":[]}}"#.into());
            }
            let init = r.is_empty();
            let msgs = if init { Vec::new() } else { std::mem::take(&mut r[0].1) };
            r.push((cid.clone(), Vec::new()));
            let v = serde_json::json!({"result":"SUCCESS","params":{"client_id":cid,"is_initiator":init.to_string(),"messages":msgs}});
            (200, v.to_string())
        }
        ("POST", ["message", room, cid]) => {
            let Some(r) = st.rooms.get_mut(*room) else { return (200, r#"{"result":"UNKNOWN_ROOM"}"#.into()) };
            if r.len() == 1 {
                r[0].1.push(body);
            } else {
                hub_send(&mut st, room, cid, body);
            }
            (200, r#"{"result":"SUCCESS"}"#.into())
        }
        ("POST", ["leave", room, cid]) => {
            if let Some(r) = st.rooms.get_mut(*room) {
                r.retain(|c| c.0 != *cid);
                if r.is_empty() {
                    st.rooms.remove(*room);
                }
            }
            (200, String::new())
        }
        ("POST", ["ws", room, cid]) => {
            hub_send(&mut st, room, cid, body);
            (200, "OK\n".into())
        }
        ("DELETE", ["ws", room, cid]) => {
            if let Some(r) = st.hub.get_mut(*room) {
                r.remove(*cid);
                if r.is_empty() {
                    st.hub.remove(*room);
                }
            }
            (200, "OK\n".into())
        }
        ("GET", ["status"]) => {
            let open: usize = st.hub.values().flat_map(|r| r.values()).filter(|c| c.tx.is_some()).count();
            (200, format!("{{\"upsec\":1.0,\"openws\":{open},\"totalws\":0,\"wserrors\":0,\"httperrors\":0}}\n"))
        }
        _ => (404, "not found".into()),
    }
}

async fn websocket(st: Shared, ws: WebSocketStream<TcpStream>) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            if sink.send(Message::text(f)).await.is_err() {
                break;
            }
        }
    });
    let mut me: Option<(String, String)> = None;
    while let Some(Ok(m)) = stream.next().await {
        let Message::Text(t) = m else { continue };
        let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
        match v["cmd"].as_str() {
            Some("register") => {
                let (room, cid) = (v["roomid"].as_str().unwrap_or("").to_string(), v["clientid"].as_str().unwrap_or("").to_string());
                let mut s = st.lock().unwrap();
                let r = s.hub.entry(room.clone()).or_default();
                r.entry(cid.clone()).or_default().tx = Some(tx.clone());
                for (k, c) in r.iter_mut() {
                    if *k != cid {
                        for q in c.queue.drain(..) {
                            let _ = tx.send(frame(&q));
                        }
                    }
                }
                me = Some((room, cid));
            }
            Some("send") => {
                if let (Some((room, cid)), Some(msg)) = (&me, v["msg"].as_str()) {
                    hub_send(&mut st.lock().unwrap(), room, cid, msg.to_string());
                }
            }
            _ => {}
        }
    }
    if let Some((room, cid)) = me {
        if let Some(c) = st.lock().unwrap().hub.get_mut(&room).and_then(|r| r.get_mut(&cid)) {
            c.tx = None;
        }
    }
    writer.abort();
}

async fn conn(st: Shared, stream: TcpStream) -> std::io::Result<()> {
    let mut rd = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut it = line.split_whitespace();
        let (method, path) = (it.next().unwrap_or("").to_string(), it.next().unwrap_or("").to_string());
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            rd.read_line(&mut h).await?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        if let Some(key) = headers.get("sec-websocket-key") {
            let resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            );
            let mut s = rd.into_inner();
            s.write_all(resp.as_bytes()).await?;
            let ws = WebSocketStream::from_raw_socket(s, Role::Server, None).await;
            websocket(st, ws).await;
            return Ok(());
        }
        let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; len];
        rd.read_exact(&mut body).await?;
        let (code, text) = handle_http(&st, &method, &path, String::from_utf8_lossy(&body).into_owned());
        let resp = format!("HTTP/1.1 {code} X\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n{text}", text.len());
        rd.get_mut().write_all(resp.as_bytes()).await?;
    }
}

#[tokio::main]
async fn main() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("Listening on {}", l.local_addr().unwrap());
    let st: Shared = Default::default();
    loop {
        let (s, _) = l.accept().await.unwrap();
        let _ = s.set_nodelay(true);
        tokio::spawn(conn(st.clone(), s));
    }
}
