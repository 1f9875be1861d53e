//! Shared black-box harness for the Switchboard integration tests.
//!
//! Every test starts its own `switchboard` process (the real binary built by cargo,
//! `env!("CARGO_BIN_EXE_switchboard")`) on `127.0.0.1:0`, learns the bound address from the
//! `Listening on <addr>` line printed on stdout, and talks to it only over real sockets:
//! HTTP (reqwest) for the room-server and Collider HTTP routes, and WebSocket
//! (tokio-tungstenite) for `/ws`. The process is killed when the [`Server`] is dropped; if the
//! test is panicking, the captured server output is printed to help diagnose the failure.
//!
//! Every wait is bounded: HTTP requests time out after [`HTTP_TIMEOUT`], WebSocket reads after
//! [`STEP`] unless a shorter duration is given, and startup after [`STARTUP_TIMEOUT`].

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Default bound for a single expected event (a frame, a close, a status condition).
pub const STEP: Duration = Duration::from_secs(5);
/// Bound for one HTTP request/response.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(8);
/// Bound for the server to print its `Listening on` line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long "nothing arrives" is observed when a test asserts silence.
pub const SILENCE: Duration = Duration::from_millis(600);

const LOG_CAP: usize = 64 * 1024;

/// A number unique within this test process.
fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A running `switchboard` process, killed on drop.
pub struct Server {
    child: Child,
    /// The bound address printed by the server.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub http: reqwest::Client,
    logs: Arc<Mutex<String>>,
}

fn push_log(logs: &Arc<Mutex<String>>, line: &str) {
    let mut l = logs.lock().unwrap_or_else(|e| e.into_inner());
    l.push_str(line);
    l.push('\n');
    if l.len() > LOG_CAP {
        let cut = l.len() - LOG_CAP / 2;
        let mut cut = cut;
        while !l.is_char_boundary(cut) {
            cut += 1;
        }
        l.drain(..cut);
    }
}

fn drain_lines<R: Read + Send + 'static>(
    r: R,
    logs: Arc<Mutex<String>>,
    listen_tx: Option<mpsc::Sender<Result<SocketAddr, String>>>,
) {
    std::thread::spawn(move || {
        let mut tx = listen_tx;
        let reader = BufReader::new(r);
        for line in reader.split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            push_log(&logs, &line);
            if let Some(sender) = tx.as_ref() {
                if let Some(pos) = line.find("Listening on ") {
                    let rest = &line[pos + "Listening on ".len()..];
                    let token = rest.split_whitespace().next().unwrap_or("");
                    let parsed = token
                        .parse::<SocketAddr>()
                        .map_err(|e| format!("cannot parse address {token:?} in {line:?}: {e}"));
                    let _ = sender.send(parsed);
                    tx = None;
                }
            }
        }
        if let Some(sender) = tx {
            let _ = sender.send(Err("server stdout closed before a `Listening on` line".into()));
        }
    });
}

impl Server {
    /// Start with default options.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Start with `--listen 127.0.0.1:0` plus `args`.
    pub fn start_with(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// Start with `--listen 127.0.0.1:0` plus `args`, and the given `SWITCHBOARD_*`
    /// environment variables (all others are removed).
    pub fn start_with_env(args: &[&str], envs: &[(&str, &str)]) -> Server {
        Server::launch(Some("127.0.0.1:0"), args, envs)
    }

    /// Starts the binary with `--listen listen` (if given), `args`, and only the given
    /// `SWITCHBOARD_*` environment variables.
    fn launch(listen: Option<&str>, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let bin = env!("CARGO_BIN_EXE_switchboard");
        let mut cmd = Command::new(bin);
        if let Some(listen) = listen {
            cmd.arg("--listen").arg(listen);
        }
        // The built-in TURN server starts too: keep it off the default port and out of the
        // source tree (its generated secret goes to the data directory).
        if !args.iter().any(|a| a.starts_with("--turn-listen") || a.starts_with("--turn-enabled")) {
            cmd.arg("--turn-listen").arg("127.0.0.1:0");
        }
        if !args.iter().any(|a| a.starts_with("--data-dir")) {
            let dir = std::env::temp_dir().join(format!("switchboard-test-{}-{}", std::process::id(), next_id()));
            cmd.arg("--data-dir").arg(dir);
        }
        cmd.args(args);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SWITCHBOARD_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {bin}: {e}"));
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        drain_lines(child.stdout.take().unwrap(), logs.clone(), Some(tx));
        drain_lines(child.stderr.take().unwrap(), logs.clone(), None);

        let addr = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(addr)) => addr,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                // Give the drain threads a moment to collect the last output.
                std::thread::sleep(Duration::from_millis(100));
                let out = logs.lock().unwrap_or_else(|e| e.into_inner()).clone();
                panic!(
                    "switchboard {args:?} did not print `Listening on <addr>` within {STARTUP_TIMEOUT:?}: {other:?}\n--- server output ---\n{out}"
                );
            }
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .expect("reqwest client");
        Server {
            child,
            addr,
            base: format!("http://{addr}"),
            http,
            logs,
        }
    }

    /// The server's process id (for reading its memory use from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The captured stdout+stderr of the server so far (tail).
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Absolute URL for `path` (or `path` itself if it is already absolute).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    /// `ws://127.0.0.1:PORT/ws`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    // ----------------------------------------------------------------- HTTP

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let url = self.url(path);
        let mut rb = self.http.request(method.clone(), &url);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let resp = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url} failed: {e:?}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: reading body failed: {e:?}"));
        Resp {
            method: method.to_string(),
            url,
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(reqwest::Method::GET, path, &[], None).await
    }

    pub async fn get_h(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.request(reqwest::Method::GET, path, headers, None).await
    }

    pub async fn post(&self, path: &str, body: impl Into<Vec<u8>>) -> Resp {
        self.request(reqwest::Method::POST, path, &[], Some(body.into()))
            .await
    }

    pub async fn post_h(&self, path: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Resp {
        self.request(reqwest::Method::POST, path, headers, Some(body.into()))
            .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.request(reqwest::Method::DELETE, path, &[], None).await
    }

    // ---------------------------------------------------------- room server

    /// `POST /join/<room><query>` (query includes the leading `?` if any); asserts HTTP 200
    /// and returns the JSON response.
    pub async fn join_raw(&self, room: &str, query: &str, headers: &[(&str, &str)]) -> Value {
        let r = self
            .post_h(&format!("/join/{room}{query}"), headers, Vec::new())
            .await;
        assert_eq!(r.status, 200, "join {room}{query}: {r:?}");
        r.json()
    }

    pub async fn join_json(&self, room: &str) -> Value {
        self.join_raw(room, "", &[]).await
    }

    /// Join and assert `result == SUCCESS`.
    pub async fn join(&self, room: &str) -> Joined {
        self.join_q(room, "").await
    }

    pub async fn join_q(&self, room: &str, query: &str) -> Joined {
        let v = self.join_raw(room, query, &[]).await;
        Joined::from_success(v)
    }

    /// Join and return the `result` string (e.g. `FULL`).
    pub async fn join_result(&self, room: &str) -> String {
        let v = self.join_json(room).await;
        v["result"]
            .as_str()
            .unwrap_or_else(|| panic!("join {room}: no string result: {v}"))
            .to_string()
    }

    /// `POST /message/<room>/<client>`; asserts HTTP 200 and returns the JSON.
    pub async fn message(&self, room: &str, client: &str, body: &str) -> Value {
        let r = self
            .post_h(
                &format!("/message/{room}/{client}"),
                &[("content-type", "text/plain;charset=UTF-8")],
                body,
            )
            .await;
        assert_eq!(r.status, 200, "message {room}/{client}: {r:?}");
        r.json()
    }

    /// `POST /message/...` and assert `{"result":"SUCCESS"}`.
    pub async fn message_ok(&self, room: &str, client: &str, body: &str) {
        let v = self.message(room, client, body).await;
        assert_eq!(v["result"], "SUCCESS", "message {room}/{client} {body:?}: {v}");
    }

    /// `POST /leave/<room>/<client>`; asserts 200 with an empty body.
    pub async fn leave(&self, room: &str, client: &str) {
        let r = self.post(&format!("/leave/{room}/{client}"), Vec::new()).await;
        assert_eq!(r.status, 200, "leave {room}/{client}: {r:?}");
        assert_eq!(r.body, "", "leave {room}/{client} must have an empty body");
    }

    // ------------------------------------------------------------- collider

    /// `GET /status` as JSON.
    pub async fn status(&self) -> Value {
        let r = self.get("/status").await;
        assert_eq!(r.status, 200, "/status: {r:?}");
        r.json()
    }

    /// Poll `/status` until `openws == n` (bounded by [`STEP`]).
    pub async fn wait_openws(&self, n: u64) {
        let deadline = Instant::now() + STEP;
        loop {
            let s = self.status().await;
            if s["openws"].as_u64() == Some(n) {
                return;
            }
            if Instant::now() > deadline {
                panic!("/status openws did not become {n} within {STEP:?}; last: {s}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Open a WebSocket to `/ws` (no Origin header).
    pub async fn ws(&self) -> WsClient {
        WsClient::connect(&self.ws_url(), &[]).await
    }

    /// Open a WebSocket and send `register` for `(room, client)` (registration is silent).
    pub async fn ws_register(&self, room: &str, client: &str) -> WsClient {
        let mut ws = self.ws().await;
        ws.register(room, client).await;
        ws
    }

    /// `POST /ws/<room>/<client>` (Collider HTTP interface).
    pub async fn collider_post(&self, room: &str, client: &str, body: &str) -> Resp {
        self.post(&format!("/ws/{room}/{client}"), body).await
    }

    /// Full smoke check that `room` (fresh) works end to end: two joins, both register,
    /// WS send from the callee reaches the caller, and the caller's `/message` reaches the
    /// callee over its WebSocket.
    pub async fn assert_room_works(&self, room: &str) {
        let a = self.join(room).await;
        assert!(a.is_initiator, "{room}: first joiner must be initiator");
        let b = self.join(room).await;
        assert!(!b.is_initiator, "{room}: second joiner must not be initiator");
        let mut wa = self.ws_register(room, &a.client_id).await;
        let mut wb = self.ws_register(room, &b.client_id).await;
        let from_b = r#"{"type":"answer","sdp":"v=0\r\nfrom-b\r\n"}"#;
        wb.send_msg(from_b).await;
        wa.expect_msg(from_b).await;
        let from_a = r#"{"type":"candidate","label":0,"id":"0","candidate":"candidate:from-a"}"#;
        self.message_ok(room, &a.client_id, from_a).await;
        wb.expect_msg(from_a).await;
        wa.close().await;
        wb.close().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            std::thread::sleep(Duration::from_millis(50));
            eprintln!(
                "--- switchboard output (addr {}) ---\n{}\n--- end of switchboard output ---",
                self.addr,
                self.logs()
            );
        }
    }
}

/// A complete HTTP response.
pub struct Resp {
    pub method: String,
    pub url: String,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body: String = self.body.chars().take(2000).collect();
        write!(
            f,
            "{} {} -> {} headers={:?} body={:?}",
            self.method, self.url, self.status, self.headers, body
        )
    }
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.body.trim_end())
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {self:?}"))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }
}

/// A successful join response.
#[derive(Debug, Clone)]
pub struct Joined {
    pub raw: Value,
    pub params: Value,
    pub client_id: String,
    pub is_initiator: bool,
}

impl Joined {
    pub fn from_success(v: Value) -> Joined {
        assert_eq!(v["result"], "SUCCESS", "join result must be SUCCESS: {v}");
        let params = v["params"].clone();
        let client_id = params["client_id"]
            .as_str()
            .unwrap_or_else(|| panic!("params.client_id must be a string: {v}"))
            .to_string();
        assert!(!client_id.is_empty(), "client_id must be non-empty: {v}");
        let is_initiator = match params["is_initiator"].as_str() {
            Some("true") => true,
            Some("false") => false,
            _ => panic!("params.is_initiator must be the string \"true\"/\"false\": {v}"),
        };
        Joined {
            raw: v,
            params,
            client_id,
            is_initiator,
        }
    }

    /// `params.messages` as a vector of strings (asserting every element is a string).
    pub fn messages(&self) -> Vec<String> {
        let arr = self.params["messages"]
            .as_array()
            .unwrap_or_else(|| panic!("params.messages must be an array: {}", self.raw));
        arr.iter()
            .map(|m| {
                m.as_str()
                    .unwrap_or_else(|| panic!("messages elements must be strings: {}", self.raw))
                    .to_string()
            })
            .collect()
    }

    pub fn str_param(&self, key: &str) -> String {
        self.params[key]
            .as_str()
            .unwrap_or_else(|| panic!("params.{key} must be a string: {}", self.raw))
            .to_string()
    }
}

// ------------------------------------------------------------------ WebSocket

pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One server→client frame, as text.
#[derive(Debug, Clone)]
pub struct Frame {
    pub raw: String,
    pub json: Value,
}

impl Frame {
    /// The `msg` field; panics if it is absent or not a string (Android calls
    /// `getString("msg")` on every frame).
    pub fn msg(&self) -> &str {
        self.json
            .get("msg")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("frame has no string \"msg\": {:?}", self.raw))
    }

    /// The `error` field, `""` if absent.
    pub fn error(&self) -> &str {
        self.json.get("error").and_then(Value::as_str).unwrap_or("")
    }
}

#[derive(Debug)]
pub enum WsEvent {
    Frame(Frame),
    /// Close frame (with its code, if any) or EOF/reset (`None`).
    Closed(Option<u16>),
    Timeout,
}

pub struct WsClient {
    pub inner: WsStream,
    closed: bool,
}

impl WsClient {
    /// Connect to `url` with extra handshake headers.
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> WsClient {
        let mut req = url
            .into_client_request()
            .unwrap_or_else(|e| panic!("bad ws url {url}: {e}"));
        for (k, v) in headers {
            req.headers_mut().insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let (ws, _resp) = tokio::time::timeout(STEP, tokio_tungstenite::connect_async(req))
            .await
            .unwrap_or_else(|_| panic!("WebSocket connect to {url} timed out"))
            .unwrap_or_else(|e| panic!("WebSocket connect to {url} failed: {e:?}"));
        WsClient {
            inner: ws,
            closed: false,
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        tokio::time::timeout(STEP, self.inner.send(Message::text(text.to_string())))
            .await
            .expect("ws send timed out")
            .unwrap_or_else(|e| panic!("ws send failed: {e:?}"));
    }

    /// Send text, ignoring failures (for frames the server may reject by closing).
    pub async fn try_send_text(&mut self, text: &str) -> bool {
        matches!(
            tokio::time::timeout(STEP, self.inner.send(Message::text(text.to_string()))).await,
            Ok(Ok(()))
        )
    }

    pub async fn send_json(&mut self, v: &Value) {
        self.send_text(&v.to_string()).await;
    }

    pub async fn register(&mut self, room: &str, client: &str) {
        self.send_json(&json!({"cmd": "register", "roomid": room, "clientid": client}))
            .await;
    }

    /// `{"cmd":"send","msg":msg}`
    pub async fn send_msg(&mut self, msg: &str) {
        self.send_json(&json!({"cmd": "send", "msg": msg})).await;
    }

    /// Next frame / close / timeout within `dur`. Ping/pong frames are skipped.
    pub async fn next_event(&mut self, dur: Duration) -> WsEvent {
        if self.closed {
            return WsEvent::Closed(None);
        }
        let deadline = tokio::time::Instant::now() + dur;
        loop {
            let next = tokio::time::timeout_at(deadline, self.inner.next()).await;
            let msg = match next {
                Err(_) => return WsEvent::Timeout,
                Ok(None) | Ok(Some(Err(_))) => {
                    self.closed = true;
                    return WsEvent::Closed(None);
                }
                Ok(Some(Ok(m))) => m,
            };
            let raw = match msg {
                Message::Text(t) => t.as_str().to_string(),
                Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                Message::Close(cf) => {
                    self.closed = true;
                    return WsEvent::Closed(cf.map(|c| u16::from(c.code)));
                }
            };
            let trimmed = raw.strip_suffix('\n').unwrap_or(&raw);
            let json: Value = serde_json::from_str(trimmed)
                .unwrap_or_else(|e| panic!("server frame is not a JSON object ({e}): {raw:?}"));
            assert!(json.is_object(), "server frame must be a JSON object: {raw:?}");
            return WsEvent::Frame(Frame { raw, json });
        }
    }

    /// Next frame within [`STEP`]; panics on close or timeout.
    pub async fn expect_frame(&mut self) -> Frame {
        match self.next_event(STEP).await {
            WsEvent::Frame(f) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Next frame must be a delivery of exactly `msg` with an empty error.
    pub async fn expect_msg(&mut self, msg: &str) {
        let f = self.expect_frame().await;
        assert_eq!(f.error(), "", "expected delivery of {msg:?}, got error frame {:?}", f.raw);
        assert_eq!(f.msg(), msg, "unexpected delivered msg (frame {:?})", f.raw);
    }

    /// Next frame must be an error frame (non-empty `error`); returns it.
    pub async fn expect_error(&mut self) -> Frame {
        let f = self.expect_frame().await;
        assert!(!f.error().is_empty(), "expected an error frame, got {:?}", f.raw);
        f
    }

    /// The connection must be closed (close frame or EOF) within [`STEP`], with no further
    /// frames. Returns the close code if a close frame was received.
    pub async fn expect_closed(&mut self) -> Option<u16> {
        match self.next_event(STEP).await {
            WsEvent::Closed(code) => code,
            other => panic!("expected the connection to be closed, got {other:?}"),
        }
    }

    /// No frame and no close for `dur`.
    pub async fn expect_silence(&mut self, dur: Duration) {
        match self.next_event(dur).await {
            WsEvent::Timeout => {}
            other => panic!("expected silence for {dur:?}, got {other:?}"),
        }
    }

    /// Close politely and wait (bounded) for the server to finish the close.
    pub async fn close(mut self) {
        if self.closed {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.inner.close(None)).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            match tokio::time::timeout_at(deadline, self.inner.next()).await {
                Ok(Some(Ok(_))) => continue,
                _ => break,
            }
        }
    }
}

/// A unique-enough room name for readability in logs.
pub fn room(tag: &str) -> String {
    format!("{tag}-{}", std::process::id())
}

/// Parse a JSON value that must be a string holding JSON (double encoding).
pub fn double_decoded(params: &Value, key: &str) -> Value {
    let s = params[key]
        .as_str()
        .unwrap_or_else(|| panic!("params.{key} must be a string holding JSON, got {}", params[key]));
    serde_json::from_str(s).unwrap_or_else(|e| panic!("params.{key} = {s:?} is not JSON: {e}"))
}

// ------------------------------------------------------------ TLS tests

pub mod tls;

impl Server {
    /// Start with exactly `args` (no `--listen` added, so TLS tests can choose it), a data
    /// directory of its own unless given, and TURN on a free port unless configured.
    pub fn start_exact(args: &[&str]) -> Server {
        Server::launch(None, args, &[])
    }

    /// Sends `signal` (e.g. "TERM", "HUP") to the server process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (bounded by `limit`) until the server's output contains `needle` `count` times.
    pub fn wait_log(&self, needle: &str, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if self.logs().matches(needle).count() >= count {
                return;
            }
            if Instant::now() > deadline {
                panic!("server output did not show {needle:?} {count} time(s) within {limit:?}\n--- server output ---\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process has exited (reaping it if so).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

/// A TCP port that was free on 127.0.0.1 a moment ago (never 80, 443 or 3478).
pub fn free_tcp_port() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().unwrap().port();
        if ![80, 443, 3478, 5349].contains(&port) {
            return port;
        }
    }
}
