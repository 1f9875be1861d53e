//! Client-to-server WebSocket commands (§3.2): `register` and `send`.

use serde_json::{Map, Value};

use crate::SignalingError;

/// One decoded client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `{"cmd":"register","roomid":…,"clientid":…}`; missing ids read as empty.
    Register {
        /// The room id as sent.
        room: String,
        /// The client id as sent.
        client: String,
    },
    /// `{"cmd":"send","msg":"…"}`; a missing message reads as empty.
    Send {
        /// The signaling message text.
        msg: String,
    },
    /// Any other or missing `cmd`.
    Unknown,
}

/// Decodes one frame. Keys match case-insensitively and unknown keys are ignored, as Go's
/// `encoding/json` does; whitespace and key order are free (iOS pretty-prints).
pub fn parse_command(text: &str) -> Result<Command, SignalingError> {
    let value: Value = serde_json::from_str(text).map_err(|e| SignalingError::Malformed(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(SignalingError::Malformed("expected a JSON object".into()));
    };
    let cmd = string_field(&map, "cmd")?;
    match cmd.as_str() {
        "register" => Ok(Command::Register {
            room: string_field(&map, "roomid")?,
            client: string_field(&map, "clientid")?,
        }),
        "send" => Ok(Command::Send { msg: string_field(&map, "msg")? }),
        _ => Ok(Command::Unknown),
    }
}

/// The string value of `key` (case-insensitive); missing or null reads as "", any other type is
/// a decode error as in Go.
fn string_field(map: &Map<String, Value>, key: &str) -> Result<String, SignalingError> {
    let found = map.get(key).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v));
    match found {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(SignalingError::Malformed(format!(
            "json: cannot unmarshal {} into Go struct field wsClientMsg.{key} of type string",
            json_type(other)
        ))),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_register_and_send_leniently() {
        assert_eq!(
            parse_command("{\n  \"clientid\" : \"1\",\n  \"cmd\" : \"register\",\n  \"roomid\" : \"r\", \"x\": 1\n}").unwrap(),
            Command::Register { room: "r".into(), client: "1".into() }
        );
        assert_eq!(parse_command(r#"{"CMD":"send","Msg":"hi"}"#).unwrap(), Command::Send { msg: "hi".into() });
        assert_eq!(parse_command(r#"{"cmd":"send"}"#).unwrap(), Command::Send { msg: String::new() });
        assert_eq!(parse_command(r#"{"cmd":"dance"}"#).unwrap(), Command::Unknown);
        assert_eq!(parse_command(r#"{}"#).unwrap(), Command::Unknown);
    }

    #[test]
    fn rejects_malformed_frames() {
        assert!(matches!(parse_command("{"), Err(SignalingError::Malformed(_))));
        assert!(matches!(parse_command("[1]"), Err(SignalingError::Malformed(_))));
        assert!(matches!(parse_command(r#"{"cmd":"send","msg":{"type":"offer"}}"#), Err(SignalingError::Malformed(_))));
    }
}
