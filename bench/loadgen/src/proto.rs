//! Wire formats: Collider WebSocket commands, server frames and the benchmark's own
//! signaling-message payloads (which carry a send timestamp).

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Instant;

use serde::Deserialize;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Microseconds since the process-wide epoch (monotonic; sender and receiver share it).
pub fn now_us() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// `{"cmd":"register",...}` frame.
pub fn register_frame(room: &str, client: &str) -> String {
    format!(r#"{{"cmd":"register","roomid":"{room}","clientid":"{client}"}}"#)
}

/// `{"cmd":"send","msg":<inner as JSON string>}` frame.
pub fn send_frame(inner: &str) -> String {
    let quoted = serde_json::to_string(inner).expect("string encodes");
    format!(r#"{{"cmd":"send","msg":{quoted}}}"#)
}

/// Benchmark message: `{"type":"bench","s":seq,"t":send_us,"p":"xxx…"}`.
pub fn bench_msg(seq: u64, pad: &str) -> String {
    format!(
        r#"{{"type":"bench","s":{seq},"t":{},"p":"{pad}"}}"#,
        now_us()
    )
}

/// The WebSocket `send` frame carrying a benchmark message, built in one buffer (the
/// generator must stay cheaper than the server it measures). Same bytes as
/// `send_frame(&bench_msg(seq, pad))` for a pad of plain ASCII letters; the timestamp is taken
/// here, just before the frame goes to the socket.
pub fn bench_send_frame(seq: u64, pad: &str) -> String {
    debug_assert!(pad.bytes().all(|b| b.is_ascii_alphanumeric()));
    use std::fmt::Write;
    let mut out = String::with_capacity(80 + pad.len());
    let _ = write!(
        out,
        r#"{{"cmd":"send","msg":"{{\"type\":\"bench\",\"s\":{seq},\"t\":{},\"p\":\"{pad}\"}}"}}"#,
        now_us()
    );
    out
}

/// Handshake message proving both sides are registered.
pub const HELLO: &str = r#"{"type":"hello"}"#;
/// Stored offer-like message posted by the initiator before the peer joins.
pub const OFFER: &str = r#"{"type":"offer","sdp":"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}"#;
/// Hangup message.
pub const BYE: &str = r#"{"type":"bye"}"#;

/// A server → client frame `{"msg":"…","error":"…"}`.
#[derive(Deserialize)]
struct RawFrame<'a> {
    #[serde(borrow, default)]
    msg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
}

/// What a server frame carried, as far as the benchmark cares.
#[derive(Debug, PartialEq)]
pub enum Inbound {
    /// A benchmark message with its sequence number and send timestamp (µs).
    Bench { send_us: u64 },
    /// Handshake.
    Hello,
    /// Peer hung up.
    Bye,
    /// Any other well-formed relayed message (e.g. the offer).
    Other,
    /// `error` was non-empty.
    ServerError(String),
    /// The frame is not what the protocol specifies (e.g. `msg` key missing).
    Malformed(String),
}

/// Parses one server text frame.
pub fn parse_frame(text: &str) -> Inbound {
    let f: RawFrame = match serde_json::from_str(text) {
        Ok(f) => f,
        Err(e) => return Inbound::Malformed(format!("{e}: {text}")),
    };
    if let Some(err) = f.error.as_deref() {
        if !err.is_empty() {
            return Inbound::ServerError(err.to_string());
        }
    }
    let Some(msg) = f.msg else {
        return Inbound::Malformed(format!("no \"msg\" key: {text}"));
    };
    if f.error.is_none() {
        return Inbound::Malformed(format!("no \"error\" key: {text}"));
    }
    classify(&msg)
}

/// Classifies a relayed signaling message (the `msg` string).
pub fn classify(msg: &str) -> Inbound {
    if msg.starts_with(r#"{"type":"bench""#) {
        match field_u64(msg, r#""t":"#) {
            Some(send_us) => Inbound::Bench { send_us },
            None => Inbound::Malformed(format!("bench message without timestamp: {msg}")),
        }
    } else if msg == HELLO {
        Inbound::Hello
    } else if msg == BYE {
        Inbound::Bye
    } else {
        Inbound::Other
    }
}

fn field_u64(s: &str, key: &str) -> Option<u64> {
    let start = s.find(key)? + key.len();
    let digits: &str = &s[start..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_bench() {
        let m = bench_msg(7, "xx");
        let frame = format!(
            "{{\"msg\":{},\"error\":\"\"}}\n",
            serde_json::to_string(&m).unwrap()
        );
        assert!(matches!(parse_frame(&frame), Inbound::Bench { .. }));
        assert_eq!(
            parse_frame(r#"{"msg":"","error":"Duplicated registration"}"#),
            Inbound::ServerError("Duplicated registration".into())
        );
        assert!(matches!(parse_frame(r#"{"error":""}"#), Inbound::Malformed(_)));
        let hello = format!(r#"{{"msg":{},"error":""}}"#, serde_json::to_string(HELLO).unwrap());
        assert_eq!(parse_frame(&hello), Inbound::Hello);
        assert!(send_frame(HELLO).contains(r#"\"type\""#));
        let f = bench_send_frame(7, "pp");
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        let inner = v["msg"].as_str().unwrap();
        assert!(inner.starts_with(r#"{"type":"bench","s":7,"t":"#) && inner.ends_with(r#","p":"pp"}"#));
        assert!(matches!(classify(inner), Inbound::Bench { .. }));
        let t = field_u64(inner, r#""t":"#).unwrap();
        assert_eq!(f, send_frame(&format!(r#"{{"type":"bench","s":7,"t":{t},"p":"pp"}}"#)));
    }
}
