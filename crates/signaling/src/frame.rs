//! Server-to-client frames, byte-compatible with Collider's Go `json.Encoder` output.

/// Encodes `{"msg":…,"error":…}` followed by `\n`, escaping as Go's `encoding/json` does
/// (`<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX`). Android reads `msg` from every frame, so both
/// keys are always present. Hand-written because serde_json cannot reproduce Go's HTML escaping
/// and this runs once per relayed message.
pub fn encode_frame(msg: &str, error: &str) -> String {
    let mut out = String::with_capacity(msg.len() + error.len() + 24);
    out.push_str("{\"msg\":");
    push_go_json_string(&mut out, msg);
    out.push_str(",\"error\":");
    push_go_json_string(&mut out, error);
    out.push_str("}\n");
    out
}

fn push_go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
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
    }

    #[test]
    fn output_is_valid_json_with_the_same_text() {
        let tricky = "a\"b\\c\u{0}\u{7f}é\u{2028}😀</script>";
        let frame = encode_frame(tricky, "e");
        let v: serde_json::Value = serde_json::from_str(frame.trim_end()).unwrap();
        assert_eq!(v["msg"], tricky);
        assert_eq!(v["error"], "e");
    }
}
