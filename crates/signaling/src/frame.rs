//! Server-to-client frames, byte-compatible with Collider's Go `json.Encoder` output.

use bytes::Bytes;

/// One encoded server frame, `{"msg":…,"error":…}\n`, ready for the socket.
///
/// Encoded once when a message enters the hub, so a queued or relayed message is never
/// re-encoded, and cloned by reference count. Always valid UTF-8.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame(Bytes);

impl Frame {
    /// A relayed signaling message (`error` empty).
    pub fn message(msg: &str) -> Self {
        Self::encode(msg, "")
    }

    /// An error frame (`msg` empty).
    pub fn error(error: &str) -> Self {
        Self::encode("", error)
    }

    /// `{"msg":<msg>,"error":<error>}\n` with Go's escaping. The buffer is sized exactly, so
    /// turning it into [`Bytes`] neither reallocates nor allocates a shared header.
    pub fn encode(msg: &str, error: &str) -> Self {
        let len = PREFIX.len() + go_json_len(msg) + MIDDLE.len() + go_json_len(error) + SUFFIX.len();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(PREFIX);
        push_go_json_string(&mut out, msg);
        out.extend_from_slice(MIDDLE);
        push_go_json_string(&mut out, error);
        out.extend_from_slice(SUFFIX);
        debug_assert_eq!(out.len(), len);
        Self(Bytes::from(out))
    }

    /// The frame's text.
    pub fn as_str(&self) -> &str {
        // Built only from `&str` pieces and ASCII escapes.
        std::str::from_utf8(&self.0).expect("frames are UTF-8")
    }

    /// The frame's bytes (UTF-8), for the socket layer.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: a frame holds at least its two keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Frame").field(&self.as_str()).finish()
    }
}

/// A relayed message (the HTTP paths hand the hub an `Arc<str>`).
impl From<std::sync::Arc<str>> for Frame {
    fn from(msg: std::sync::Arc<str>) -> Self {
        Self::message(&msg)
    }
}

impl From<&str> for Frame {
    fn from(msg: &str) -> Self {
        Self::message(msg)
    }
}

const PREFIX: &[u8] = b"{\"msg\":";
const MIDDLE: &[u8] = b",\"error\":";
const SUFFIX: &[u8] = b"}\n";

/// Encodes `{"msg":…,"error":…}` followed by `\n`, escaping as Go's `encoding/json` does
/// (`<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX`). Android reads `msg` from every frame, so both
/// keys are always present. Hand-written because serde_json cannot reproduce Go's HTML escaping
/// and this runs once per relayed message.
pub fn encode_frame(msg: &str, error: &str) -> String {
    Frame::encode(msg, error).as_str().to_owned()
}

/// What byte `b` becomes inside a Go JSON string: `0` = itself, `1` = a two-byte escape,
/// `6` = `\u00XX`. U+2028/U+2029 (`E2 80 A8/A9`) are handled apart.
const fn escape_class(b: u8) -> u8 {
    match b {
        b'"' | b'\\' | b'\n' | b'\r' | b'\t' => 1,
        b'<' | b'>' | b'&' => 6,
        0..=0x1f => 6,
        _ => 0,
    }
}

static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = escape_class(i as u8);
        i += 1;
    }
    t[0xE2] = 0xFF; // may start U+2028/U+2029
    t
};

/// Whether `s[i..]` starts U+2028 or U+2029.
fn is_line_separator(s: &[u8], i: usize) -> bool {
    s.len() >= i + 3 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)
}

/// Encoded length of `s` as a quoted Go JSON string.
fn go_json_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut len = b.len() + 2;
    for (i, &c) in b.iter().enumerate() {
        match ESCAPE[c as usize] {
            0 => {}
            1 => len += 1,
            6 => len += 5,
            _ => {
                if is_line_separator(b, i) {
                    len += 3; // 3 bytes become `\u2028` (6)
                }
            }
        }
    }
    len
}

fn push_go_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let b = s.as_bytes();
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let class = ESCAPE[c as usize];
        if class == 0 || (class == 0xFF && !is_line_separator(b, i)) {
            i += 1;
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0xE2 => {
                out.extend_from_slice(if b[i + 2] == 0xA8 { b"\\u2028" } else { b"\\u2029" });
                i += 2;
            }
            _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(c >> 4) as usize], HEX[(c & 0xF) as usize]]),
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_go_encoder_bytes() {
        assert_eq!(encode_frame("hello", ""), "{\"msg\":\"hello\",\"error\":\"\"}\n");
        assert_eq!(
            encode_frame("{\"sdp\":\"v=0\r\na=<x>&\"}", ""),
            "{\"msg\":\"{\\\"sdp\\\":\\\"v=0\\r\\na=\\u003cx\\u003e\\u0026\\\"}\",\"error\":\"\"}\n"
        );
        assert_eq!(encode_frame("", "Client not registered"), "{\"msg\":\"\",\"error\":\"Client not registered\"}\n");
        assert_eq!(encode_frame("\u{1}", ""), "{\"msg\":\"\\u0001\",\"error\":\"\"}\n");
        assert_eq!(encode_frame("\u{1f}\u{2028}x\u{2029}\u{2027}", ""), "{\"msg\":\"\\u001f\\u2028x\\u2029\u{2027}\",\"error\":\"\"}\n");
    }

    #[test]
    fn output_is_valid_json_with_the_same_text() {
        let tricky = "a\"b\\c\u{0}\u{7f}é\u{2028}😀</script>\u{e2}\u{2030}";
        let frame = encode_frame(tricky, "e");
        let v: serde_json::Value = serde_json::from_str(frame.trim_end()).unwrap();
        assert_eq!(v["msg"], tricky);
        assert_eq!(v["error"], "e");
    }

    #[test]
    fn every_char_round_trips_with_exact_length() {
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let s = format!("a{c}b{c}");
            let f = Frame::message(&s);
            assert_eq!(f.len(), go_json_len(&s) + go_json_len("") + PREFIX.len() + MIDDLE.len() + SUFFIX.len());
            let v: serde_json::Value = serde_json::from_str(f.as_str().trim_end()).unwrap();
            assert_eq!(v["msg"], s.as_str(), "char U+{:04X}", c as u32);
            let escaped = f.as_str();
            assert!(!escaped.contains('<') && !escaped.contains('\u{2028}'));
        }
    }
}
