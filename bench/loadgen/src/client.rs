//! HTTP calls to the room server / Collider and WebSocket connection set-up.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// WebSocket over plain TCP.
pub type Ws = WebSocketStream<TcpStream>;
/// Write half of a WebSocket.
pub type WsSink = SplitSink<Ws, Message>;
/// Read half of a WebSocket.
pub type WsStream = SplitStream<Ws>;

/// An error with a stable kind (for counting) and a detail (for the report).
#[derive(Debug)]
pub struct Failure {
    pub kind: &'static str,
    pub detail: String,
}

impl Failure {
    pub fn new(kind: &'static str, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into() }
    }
}

/// Result of a successful `POST /join/<room>`.
#[derive(Debug)]
pub struct Joined {
    pub client_id: String,
    pub is_initiator: bool,
    pub messages: Vec<String>,
}

/// Where the server is, and how to reach it.
pub struct Target {
    /// `http://host:port` without a trailing slash.
    pub base: String,
    /// Socket address the WebSockets connect to.
    pub addr: SocketAddr,
    /// `ws://host:port/ws`.
    pub ws_url: String,
    /// Loopback source addresses to spread WebSockets over.
    source_ips: Vec<Ipv4Addr>,
    next_source: AtomicUsize,
    http: reqwest::Client,
}

impl Target {
    /// Builds a target from a base URL like `http://127.0.0.1:8080`.
    pub fn new(url: &str, source_ips: u8, pool: usize) -> Result<Self, String> {
        let base = url.trim_end_matches('/').to_string();
        let hostport = base
            .strip_prefix("http://")
            .ok_or_else(|| format!("only http:// URLs are supported, got {url}"))?;
        let addr: SocketAddr = hostport
            .parse()
            .map_err(|e| format!("--url must be http://IP:PORT ({e})"))?;
        let source_ips = if addr.ip().is_loopback() && addr.is_ipv4() {
            (1..=source_ips.max(1)).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect()
        } else {
            Vec::new()
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(pool)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            ws_url: format!("ws://{hostport}/ws"),
            base,
            addr,
            source_ips,
            next_source: AtomicUsize::new(0),
            http,
        })
    }

    async fn post(&self, path: &str, body: String, kind: &'static str) -> Result<(u16, String), Failure> {
        let url = format!("{}{}", self.base, path);
        let resp = self
            .http
            .post(&url)
            .header("content-type", "text/plain;charset=UTF-8")
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::new(kind, format!("POST {path}: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| Failure::new(kind, format!("POST {path} body: {e}")))?;
        Ok((status, text))
    }

    /// `POST /join/<room>`; fails unless the result is SUCCESS.
    pub async fn join(&self, room: &str) -> Result<Joined, Failure> {
        let (status, text) = self.post(&format!("/join/{room}"), String::new(), "join_http").await?;
        if status != 200 {
            return Err(Failure::new("join_status", format!("{status}: {text}")));
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| Failure::new("join_json", format!("{e}: {text}")))?;
        let result = v["result"].as_str().unwrap_or("");
        if result != "SUCCESS" {
            let kind = match result {
                "FULL" => "join_full",
                _ => "join_result",
            };
            return Err(Failure::new(kind, text));
        }
        let p = &v["params"];
        let client_id = p["client_id"]
            .as_str()
            .ok_or_else(|| Failure::new("join_json", format!("no client_id: {text}")))?
            .to_string();
        let is_initiator = match p["is_initiator"].as_str() {
            Some("true") => true,
            Some("false") => false,
            _ => return Err(Failure::new("join_json", format!("is_initiator not \"true\"/\"false\": {text}"))),
        };
        let messages = p["messages"]
            .as_array()
            .map(|a| a.iter().filter_map(|m| m.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        Ok(Joined { client_id, is_initiator, messages })
    }

    /// `POST /message/<room>/<client>`; fails unless `{"result":"SUCCESS"}`.
    pub async fn message(&self, room: &str, client: &str, body: String) -> Result<(), Failure> {
        let (status, text) = self
            .post(&format!("/message/{room}/{client}"), body, "http_message")
            .await?;
        if status != 200 || !text.contains("\"SUCCESS\"") {
            return Err(Failure::new("http_message", format!("{status}: {text}")));
        }
        Ok(())
    }

    /// `POST /ws/<room>/<client>` (Collider HTTP path); fails unless 200.
    pub async fn collider_post(&self, room: &str, client: &str, body: String) -> Result<(), Failure> {
        let (status, text) = self
            .post(&format!("/ws/{room}/{client}"), body, "http_collider_post")
            .await?;
        if status != 200 {
            return Err(Failure::new("http_collider_post", format!("{status}: {text}")));
        }
        Ok(())
    }

    /// `DELETE /ws/<room>/<client>`.
    pub async fn collider_delete(&self, room: &str, client: &str) -> Result<(), Failure> {
        let path = format!("/ws/{room}/{client}");
        let resp = self
            .http
            .delete(format!("{}{}", self.base, path))
            .send()
            .await
            .map_err(|e| Failure::new("http_collider_delete", format!("DELETE {path}: {e}")))?;
        let status = resp.status().as_u16();
        let _ = resp.bytes().await;
        if status != 200 {
            return Err(Failure::new("http_collider_delete", format!("DELETE {path}: {status}")));
        }
        Ok(())
    }

    /// `POST /leave/<room>/<client>`; fails unless 200.
    pub async fn leave(&self, room: &str, client: &str) -> Result<(), Failure> {
        let (status, text) = self
            .post(&format!("/leave/{room}/{client}"), String::new(), "leave")
            .await?;
        if status != 200 {
            return Err(Failure::new("leave", format!("{status}: {text}")));
        }
        Ok(())
    }

    /// `GET /status` (Collider counters) as JSON.
    pub async fn status(&self) -> Result<Value, Failure> {
        let resp = self
            .http
            .get(format!("{}/status", self.base))
            .send()
            .await
            .map_err(|e| Failure::new("status", e.to_string()))?;
        let text = resp.text().await.map_err(|e| Failure::new("status", e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| Failure::new("status", format!("{e}: {text}")))
    }

    /// Opens a WebSocket to `/ws`, bound to the next loopback source address.
    pub async fn connect_ws(&self) -> Result<(WsSink, WsStream), Failure> {
        let socket = TcpSocket::new_v4().map_err(|e| Failure::new("ws_socket", e.to_string()))?;
        if !self.source_ips.is_empty() {
            let i = self.next_source.fetch_add(1, Ordering::Relaxed) % self.source_ips.len();
            let local = SocketAddr::new(IpAddr::V4(self.source_ips[i]), 0);
            socket
                .bind(local)
                .map_err(|e| Failure::new("ws_bind", format!("bind {local}: {e}")))?;
        }
        let stream = socket
            .connect(self.addr)
            .await
            .map_err(|e| Failure::new("ws_connect", e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let mut req = self
            .ws_url
            .as_str()
            .into_client_request()
            .map_err(|e| Failure::new("ws_handshake", e.to_string()))?;
        let origin = format!("http://{}", self.addr);
        req.headers_mut()
            .insert("origin", HeaderValue::from_str(&origin).expect("ascii origin"));
        // tungstenite's read buffer is zero-filled before every read, which costs more CPU than
        // most of the client (and RSS per socket); 1 KiB holds a benchmark frame.
        let config = WebSocketConfig::default().read_buffer_size(1024);
        let (ws, _resp) = tokio_tungstenite::client_async_with_config(req, stream, Some(config))
            .await
            .map_err(|e| Failure::new("ws_handshake", e.to_string()))?;
        Ok(ws.split())
    }
}
