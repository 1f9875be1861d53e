//! Client-to-server WebSocket commands (§3.2): `register` and `send`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

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

/// One decoded client frame, borrowing from the frame's text where it holds no escapes (the
/// relay path decodes every message, so it should not allocate for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandRef<'a> {
    /// See [`Command::Register`].
    Register {
        /// The room id as sent.
        room: Cow<'a, str>,
        /// The client id as sent.
        client: Cow<'a, str>,
    },
    /// See [`Command::Send`].
    Send {
        /// The signaling message text.
        msg: Cow<'a, str>,
    },
    /// Any other or missing `cmd`.
    Unknown,
}

impl CommandRef<'_> {
    /// An owned copy.
    pub fn into_owned(self) -> Command {
        match self {
            CommandRef::Register { room, client } => Command::Register { room: room.into_owned(), client: client.into_owned() },
            CommandRef::Send { msg } => Command::Send { msg: msg.into_owned() },
            CommandRef::Unknown => Command::Unknown,
        }
    }
}

/// Decodes one frame. Keys match case-insensitively and unknown keys are ignored, as Go's
/// `encoding/json` does; whitespace and key order are free (iOS pretty-prints).
pub fn parse_command(text: &str) -> Result<Command, SignalingError> {
    parse_command_ref(text).map(CommandRef::into_owned)
}

/// [`parse_command`] without copying the strings it finds, when it can.
pub fn parse_command_ref(text: &str) -> Result<CommandRef<'_>, SignalingError> {
    let raw: RawCommand<'_> = serde_json::from_str(text).map_err(|e| SignalingError::Malformed(e.to_string()))?;
    let cmd = raw.cmd.into_string("cmd")?;
    match &*cmd {
        "register" => Ok(CommandRef::Register { room: raw.roomid.into_string("roomid")?, client: raw.clientid.into_string("clientid")? }),
        "send" => Ok(CommandRef::Send { msg: raw.msg.into_string("msg")? }),
        _ => Ok(CommandRef::Unknown),
    }
}

/// A field's value as Go would see it when decoding into a `string`.
#[derive(Debug, Default)]
enum FieldValue<'a> {
    /// Absent or `null`: reads as "".
    #[default]
    Missing,
    Str(Cow<'a, str>),
    /// Any other JSON type, by Go's name for it: a decode error if the field is used.
    Other(&'static str),
}

impl<'a> FieldValue<'a> {
    fn into_string(self, key: &str) -> Result<Cow<'a, str>, SignalingError> {
        match self {
            FieldValue::Missing => Ok(Cow::Borrowed("")),
            FieldValue::Str(s) => Ok(s),
            FieldValue::Other(t) => Err(SignalingError::Malformed(format!(
                "json: cannot unmarshal {t} into Go struct field wsClientMsg.{key} of type string"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for FieldValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(FieldValue::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FieldValue::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(FieldValue::Str(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(FieldValue::Missing)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(FieldValue::Missing)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(FieldValue::Other("bool"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(FieldValue::Other("number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(FieldValue::Other("number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(FieldValue::Other("number"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FieldValue::Other("array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(FieldValue::Other("object"))
            }
        }
        d.deserialize_any(V)
    }
}

/// The four fields of Collider's `wsClientMsg`.
#[derive(Debug, Default)]
struct RawCommand<'a> {
    cmd: FieldValue<'a>,
    roomid: FieldValue<'a>,
    clientid: FieldValue<'a>,
    msg: FieldValue<'a>,
}

/// Which field a key names: an exact key wins over a case-insensitive one; among keys of the
/// same kind the last one wins.
#[derive(Default)]
struct Exact {
    cmd: bool,
    roomid: bool,
    clientid: bool,
    msg: bool,
}

impl<'de> Deserialize<'de> for RawCommand<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawCommand<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = RawCommand::default();
                let mut exact = Exact::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let slot = match () {
                        _ if key.eq_ignore_ascii_case("cmd") => Some((&mut out.cmd, &mut exact.cmd, key == "cmd")),
                        _ if key.eq_ignore_ascii_case("roomid") => Some((&mut out.roomid, &mut exact.roomid, key == "roomid")),
                        _ if key.eq_ignore_ascii_case("clientid") => {
                            Some((&mut out.clientid, &mut exact.clientid, key == "clientid"))
                        }
                        _ if key.eq_ignore_ascii_case("msg") => Some((&mut out.msg, &mut exact.msg, key == "msg")),
                        _ => None,
                    };
                    match slot {
                        Some((value, had_exact, is_exact)) if is_exact || !*had_exact => {
                            *value = map.next_value()?;
                            *had_exact |= is_exact;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V).map_err(|e| {
            if e.to_string().starts_with("invalid type") {
                de::Error::custom("expected a JSON object")
            } else {
                e
            }
        })
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
        assert_eq!(parse_command(r#"{"cmd":"send","msg":null}"#).unwrap(), Command::Send { msg: String::new() });
        assert_eq!(parse_command(r#"{"cmd":"dance"}"#).unwrap(), Command::Unknown);
        assert_eq!(parse_command(r#"{}"#).unwrap(), Command::Unknown);
        assert_eq!(parse_command(r#"{"cmd":"send","msg":"a","MSG":"b"}"#).unwrap(), Command::Send { msg: "a".into() });
        assert_eq!(parse_command(r#"{"cmd":"send","Msg":"a","mSG":"b"}"#).unwrap(), Command::Send { msg: "b".into() });
        assert_eq!(
            parse_command(r#"{"cmd":"register","roomid":1,"clientid":"c","x":{"y":[1,{}]}}"#).unwrap_err(),
            SignalingError::Malformed("json: cannot unmarshal number into Go struct field wsClientMsg.roomid of type string".into())
        );
        assert_eq!(parse_command(r#"{"cmd":"send","msg":"x","roomid":[1]}"#).unwrap(), Command::Send { msg: "x".into() });
    }

    #[test]
    fn borrows_unescaped_strings_and_decodes_escaped_ones() {
        let CommandRef::Send { msg } = parse_command_ref(r#"{"cmd":"send","msg":"plain"}"#).unwrap() else { panic!() };
        assert!(matches!(msg, Cow::Borrowed("plain")));
        let CommandRef::Send { msg } = parse_command_ref(r#"{"cmd":"send","msg":"a\"b\u003c"}"#).unwrap() else { panic!() };
        assert_eq!(msg, "a\"b<");
    }

    #[test]
    fn rejects_malformed_frames() {
        assert!(matches!(parse_command("{"), Err(SignalingError::Malformed(_))));
        assert!(matches!(parse_command("[1]"), Err(SignalingError::Malformed(_))));
        assert!(matches!(parse_command(r#""s""#), Err(SignalingError::Malformed(_))));
        assert!(matches!(parse_command(r#"{"cmd":"send"} x"#), Err(SignalingError::Malformed(_))));
        assert!(matches!(parse_command(r#"{"cmd":"send","msg":{"type":"offer"}}"#), Err(SignalingError::Malformed(_))));
    }
}
