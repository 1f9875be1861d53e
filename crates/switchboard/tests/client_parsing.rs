//! Reading the server's responses exactly the way the native clients do (protocol spec §1.6,
//! §2.2, §2.3, §3.2, §4.1), so that a wire-format regression that only breaks Android or iOS
//! is caught here.
//!
//! Covers: the join response parsed like AppRTCMobile Android's `RoomParametersFetcher`
//! (org.json: `params` via getString then re-parse, required keys, `is_initiator` via
//! getBoolean accepting a bool or "true"/"false", `messages` elements parsed as JSON objects by
//! `type`, candidates with string `id` + int `label`, `pc_config.iceServers[].urls` read with
//! getString, `ice_server_url` POSTed with `urls` read as an array); the same for iOS
//! (`ARDJoinResponse`, `/params` → `ice_server_url`); FULL as both clients see it; WebSocket
//! frames read like Android (`getString("msg")` on every frame, including error frames, then
//! `optString("error")`); iOS pretty-printed WS JSON and form Content-Type on `/message`.

mod common;

use common::*;
use serde_json::Value;

const OFFER: &str = r#"{"sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n","type":"offer"}"#;
const CAND: &str = r#"{"type":"candidate","label":0,"id":"0","candidate":"candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host"}"#;

// ------------------------------------------------------------ org.json emulation

/// org.json `getString`: any non-null value, strings verbatim, others as their JSON text.
fn org_get_string(obj: &Value, key: &str) -> Result<String, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(format!("JSONObject[\"{key}\"] not found")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
    }
}

/// org.json `getBoolean`: a JSON bool or the strings "true"/"false" (case-insensitive).
fn org_get_boolean(obj: &Value, key: &str) -> Result<bool, String> {
    match obj.get(key) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(format!("JSONObject[\"{key}\"] is not a boolean: {other:?}")),
    }
}

/// org.json `getInt`: a number or a numeric string.
fn org_get_int(obj: &Value, key: &str) -> Result<i64, String> {
    match obj.get(key) {
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| format!("{key} not an int")),
        Some(Value::String(s)) => s.parse().map_err(|_| format!("{key} not an int")),
        other => Err(format!("JSONObject[\"{key}\"] is not a number: {other:?}")),
    }
}

fn org_parse_object(text: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}: {text:?}"))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(format!("not a JSONObject: {text:?}"))
    }
}

#[derive(Debug)]
#[allow(dead_code)]
enum AndroidMessage {
    Offer(String),
    Candidate { id: String, label: i64, candidate: String },
    Other(String),
}

#[derive(Debug)]
struct AndroidRoom {
    room_id: String,
    client_id: String,
    wss_url: String,
    wss_post_url: String,
    initiator: bool,
    messages: Vec<AndroidMessage>,
    ice_urls: Vec<String>,
    ice_server_url: Option<String>,
}

/// `RoomParametersFetcher.roomHttpResponseParse`, step by step.
fn android_parse_join(response: &str) -> Result<AndroidRoom, String> {
    let room_json = org_parse_object(response)?;
    let result = org_get_string(&room_json, "result")?;
    if result != "SUCCESS" {
        return Err(format!("Room response error: {result}"));
    }
    let params_text = org_get_string(&room_json, "params")?;
    let room_json = org_parse_object(&params_text)?;
    let room_id = org_get_string(&room_json, "room_id")?;
    let client_id = org_get_string(&room_json, "client_id")?;
    let wss_url = org_get_string(&room_json, "wss_url")?;
    let wss_post_url = org_get_string(&room_json, "wss_post_url")?;
    let initiator = org_get_boolean(&room_json, "is_initiator")?;
    let mut messages = Vec::new();
    if !initiator {
        let messages_text = org_get_string(&room_json, "messages")?;
        let arr: Value = serde_json::from_str(&messages_text).map_err(|e| e.to_string())?;
        let arr = arr.as_array().ok_or("messages is not a JSONArray")?;
        for (i, _) in arr.iter().enumerate() {
            // messages.getString(i)
            let text = match &arr[i] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let message = org_parse_object(&text)?;
            let ty = org_get_string(&message, "type")?;
            messages.push(match ty.as_str() {
                "offer" => AndroidMessage::Offer(org_get_string(&message, "sdp")?),
                "candidate" => AndroidMessage::Candidate {
                    id: org_get_string(&message, "id")?,
                    label: org_get_int(&message, "label")?,
                    candidate: org_get_string(&message, "candidate")?,
                },
                other => AndroidMessage::Other(other.to_string()),
            });
        }
    }
    // iceServersFromPCConfigJSON(roomJson.getString("pc_config"))
    let pc_config = org_parse_object(&org_get_string(&room_json, "pc_config")?)?;
    let servers = pc_config
        .get("iceServers")
        .and_then(Value::as_array)
        .ok_or("pc_config.iceServers is not a JSONArray")?;
    let mut ice_urls = Vec::new();
    for s in servers {
        ice_urls.push(org_get_string(s, "urls")?);
    }
    let ice_server_url = if room_json.get("ice_server_url").is_some() {
        Some(org_get_string(&room_json, "ice_server_url")?)
    } else {
        None
    };
    Ok(AndroidRoom {
        room_id,
        client_id,
        wss_url,
        wss_post_url,
        initiator,
        messages,
        ice_urls,
        ice_server_url,
    })
}

/// Android/iOS parsing of an ICE provider response: `urls` must be an array.
fn parse_ice_provider(body: &str) -> Result<Vec<String>, String> {
    let v = org_parse_object(body)?;
    let servers = v
        .get("iceServers")
        .and_then(Value::as_array)
        .ok_or("iceServers is not an array")?;
    let mut out = Vec::new();
    for s in servers {
        let urls = s
            .get("urls")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("urls must be an array: {s}"))?;
        for u in urls {
            out.push(u.as_str().ok_or("url not a string")?.to_string());
        }
        for k in ["username", "credential"] {
            if let Some(x) = s.get(k) {
                if !x.is_string() {
                    return Err(format!("{k} must be a string: {s}"));
                }
            }
        }
    }
    Ok(out)
}

/// Android POSTs `ice_server_url` when it is non-empty and pc_config has no `turn:` URL.
async fn android_fetch_ice(srv: &Server, room: &AndroidRoom) {
    let Some(url) = room.ice_server_url.as_deref() else { return };
    if url.is_empty() || room.ice_urls.iter().any(|u| u.starts_with("turn:")) {
        return;
    }
    if !url.starts_with(&srv.base) {
        eprintln!("note: ice_server_url {url:?} is not on this server; not fetching it");
        return;
    }
    let r = srv
        .post_h(url, &[("referer", "https://appr.tc"), ("origin", "https://appr.tc")], Vec::new())
        .await;
    assert_eq!(r.status, 200, "Android: non-200 from ice_server_url fails the whole join: {r:?}");
    parse_ice_provider(&r.body).unwrap_or_else(|e| panic!("Android ICE parsing: {e}: {r:?}"));
}

#[tokio::test]
async fn android_reads_join_responses() {
    let srv = Server::start_with(&["--ice-server", "stun:stun.example.com:19302"]);
    let android_headers = [
        ("user-agent", "Dalvik/2.1.0 (Linux; U; Android 14; Pixel)"),
        ("origin", "https://appr.tc"),
        ("content-type", "text/plain; charset=utf-8"),
    ];
    let r = srv.post_h("/join/android1", &android_headers, Vec::new()).await;
    assert_eq!(r.status, 200, "{r:?}");
    let caller = android_parse_join(&r.body).unwrap_or_else(|e| panic!("Android caller: {e}; body {}", r.body));
    assert!(caller.initiator);
    assert_eq!(caller.room_id, "android1");
    assert!(!caller.client_id.is_empty());
    assert!(caller.wss_url.starts_with("ws://") || caller.wss_url.starts_with("wss://"));
    assert!(caller.wss_post_url.starts_with("http"));
    for u in &caller.ice_urls {
        assert!(
            !u.starts_with('['),
            "pc_config.iceServers[].urls must be a single string for Android, got {u:?}"
        );
    }
    android_fetch_ice(&srv, &caller).await;

    // Caller posts offer + candidate (text/plain; charset=utf-8).
    for m in [OFFER, CAND] {
        let r = srv
            .post_h(&format!("/message/android1/{}", caller.client_id), &android_headers, m)
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(org_get_string(&r.json(), "result").unwrap(), "SUCCESS", "{r:?}");
    }

    let r = srv.post_h("/join/android1", &android_headers, Vec::new()).await;
    let callee = android_parse_join(&r.body).unwrap_or_else(|e| panic!("Android callee: {e}; body {}", r.body));
    assert!(!callee.initiator);
    assert_eq!(callee.messages.len(), 2, "{callee:?}");
    match &callee.messages[0] {
        AndroidMessage::Offer(sdp) => assert!(sdp.starts_with("v=0\r\n"), "{sdp:?}"),
        other => panic!("first message must be the offer, got {other:?}"),
    }
    match &callee.messages[1] {
        AndroidMessage::Candidate { id, label, candidate } => {
            assert_eq!(id, "0");
            assert_eq!(*label, 0);
            assert!(candidate.starts_with("candidate:"));
        }
        other => panic!("second message must be a candidate, got {other:?}"),
    }
    // Strict shape: elements are strings, candidate id string and label int.
    let raw = r.json();
    let elems = raw["params"]["messages"].as_array().unwrap();
    for e in elems {
        let s = e.as_str().expect("messages elements must be JSON strings");
        let m: Value = serde_json::from_str(s).unwrap();
        if m["type"] == "candidate" {
            assert!(m["id"].is_string() && m["label"].is_i64(), "{m}");
        }
    }
    android_fetch_ice(&srv, &callee).await;

    // A third Android client sees FULL as a result error.
    let r = srv.post_h("/join/android1", &android_headers, Vec::new()).await;
    assert_eq!(r.status, 200);
    let err = android_parse_join(&r.body).unwrap_err();
    assert_eq!(err, "Room response error: FULL");
}

#[tokio::test]
async fn android_reads_pc_config_ice_servers_as_single_strings_when_configured() {
    let srv = Server::start_with(&[
        "--ice-server",
        "stun:stun.example.com:19302",
        "--ice-server",
        "turn:turn.example.com:3478",
    ]);
    let r = srv.post("/join/android2", Vec::new()).await;
    let room = android_parse_join(&r.body).unwrap_or_else(|e| panic!("{e}; body {}", r.body));
    for u in &room.ice_urls {
        assert!(
            !u.starts_with('[') && !u.contains(','),
            "pc_config.iceServers[].urls must be one URL string, got {u:?}"
        );
    }
    android_fetch_ice(&srv, &room).await;
}

/// `ARDJoinResponse` + `ARDAppClient` reading.
fn ios_parse_join(body: &str) -> Result<(bool, String, String, String, String, Vec<Value>), String> {
    let v: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    match v.get("result").and_then(Value::as_str) {
        Some("SUCCESS") => {}
        Some("FULL") => return Err("Room is full.".into()),
        other => return Err(format!("unknown error {other:?}")),
    }
    let p = v.get("params").ok_or("no params")?;
    // boolValue on NSString or NSNumber
    let initiator = match p.get("is_initiator") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "1" || s.eq_ignore_ascii_case("yes"),
        other => return Err(format!("is_initiator unreadable: {other:?}")),
    };
    let get = |k: &str| -> Result<String, String> {
        p.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("{k} must be a string"))
    };
    let room_id = get("room_id")?;
    let client_id = get("client_id")?;
    let wss_url = get("wss_url")?;
    let wss_post_url = get("wss_post_url")?;
    let mut messages = Vec::new();
    for m in p.get("messages").and_then(Value::as_array).ok_or("messages must be an array")? {
        let s = m.as_str().ok_or("iOS needs messages as strings")?;
        let parsed: Value = serde_json::from_str(s).map_err(|e| e.to_string())?;
        if parsed.get("type").and_then(Value::as_str).is_none() {
            return Err(format!("message without type: {s}"));
        }
        messages.push(parsed);
    }
    Ok((initiator, room_id, client_id, wss_url, wss_post_url, messages))
}

#[tokio::test]
async fn ios_reads_join_and_params() {
    let srv = Server::start_with(&["--ice-server", "stun:stun.example.com:19302"]);
    // /params → ice_server_url (iOS fetches this first).
    let r = srv.get_h("/params", &[("user-agent", "AppRTCMobile/1 CFNetwork Darwin")]).await;
    assert_eq!(r.status, 200);
    let p = r.json();
    let ice_url = p["ice_server_url"].as_str().expect("ice_server_url string").to_string();
    if !ice_url.is_empty() && ice_url.starts_with(&srv.base) {
        let r = srv.post_h(&ice_url, &[("referer", "https://appr.tc")], Vec::new()).await;
        assert_eq!(r.status, 200, "{r:?}");
        parse_ice_provider(&r.body).unwrap_or_else(|e| panic!("iOS ICE parsing: {e}: {r:?}"));
    }

    // iOS joins without a Content-Type or body.
    let r = srv.post("/join/ios1", Vec::new()).await;
    let (init, room_id, a_id, wss_url, wss_post_url, msgs) =
        ios_parse_join(&r.body).unwrap_or_else(|e| panic!("{e}; {}", r.body));
    assert!(init);
    assert_eq!(room_id, "ios1");
    assert!(msgs.is_empty());
    assert!(wss_url.ends_with("/ws"), "{wss_url}");
    assert!(wss_post_url.starts_with("http"), "{wss_post_url}");
    // iOS posts with no Content-Type of its own: NSURLSession adds a form type.
    let r = srv
        .post_h(
            &format!("/message/ios1/{a_id}"),
            &[("content-type", "application/x-www-form-urlencoded")],
            OFFER,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["result"], "SUCCESS");
    let r = srv.post("/join/ios1", Vec::new()).await;
    let (init, _, _, _, _, msgs) = ios_parse_join(&r.body).unwrap_or_else(|e| panic!("{e}; {}", r.body));
    assert!(!init);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["type"], "offer");
    assert_eq!(msgs[0]["sdp"].as_str().unwrap(), "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
    // The form-typed body was stored verbatim.
    assert_eq!(r.json()["params"]["messages"][0], OFFER);

    let r = srv.post("/join/ios1", Vec::new()).await;
    assert_eq!(ios_parse_join(&r.body).unwrap_err(), "Room is full.");
}

/// Android's `WebSocketChannelClient` frame handling.
fn android_read_frame(f: &Frame) -> Result<(String, String), String> {
    let json = org_parse_object(f.raw.trim_end_matches('\n'))?;
    let msg = org_get_string(&json, "msg")?; // getString: must be present on every frame
    let error = match json.get("error") {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(), // optString
    };
    Ok((msg, error))
}

#[tokio::test]
async fn android_reads_websocket_frames_including_errors() {
    let srv = Server::start();
    let a = srv.join("wsandroid").await;
    let b = srv.join("wsandroid").await;
    let mut wa = srv.ws_register("wsandroid", &a.client_id).await;
    let mut wb = srv.ws_register("wsandroid", &b.client_id).await;

    wb.send_msg(CAND).await;
    let f = wa.expect_frame().await;
    let (msg, error) = android_read_frame(&f).unwrap_or_else(|e| panic!("{e}: {:?}", f.raw));
    assert_eq!(error, "");
    assert_eq!(msg, CAND);
    // Both keys are present on delivery frames.
    assert_eq!(f.json["error"], "", "delivery frames carry \"error\":\"\": {:?}", f.raw);
    let m = org_parse_object(&msg).unwrap();
    assert_eq!(m["type"], "candidate");
    assert!(m["id"].is_string() && m["label"].is_i64());

    // Forwarded /message deliveries look the same.
    srv.message_ok("wsandroid", &a.client_id, OFFER).await;
    let f = wb.expect_frame().await;
    let (msg, error) = android_read_frame(&f).unwrap_or_else(|e| panic!("{e}: {:?}", f.raw));
    assert_eq!((msg.as_str(), error.as_str()), (OFFER, ""));

    // Error frames must carry "msg" too (Android calls getString("msg") first).
    let mut bad = srv.ws().await;
    bad.send_msg("not registered yet").await;
    let f = bad.expect_error().await;
    let (msg, error) = android_read_frame(&f)
        .unwrap_or_else(|e| panic!("Android cannot read error frame ({e}): {:?}", f.raw));
    assert_eq!(msg, "", "error frames carry \"msg\":\"\": {:?}", f.raw);
    assert!(!error.is_empty());

    let mut dup = srv.ws_register("wsandroid", &a.client_id).await; // live duplicate
    let f = dup.expect_error().await;
    android_read_frame(&f).unwrap_or_else(|e| panic!("Android cannot read error frame ({e}): {:?}", f.raw));
}

#[tokio::test]
async fn frames_are_json_text_optionally_newline_terminated() {
    let srv = Server::start();
    let mut a = srv.ws_register("nl", "1").await;
    let mut b = srv.ws_register("nl", "2").await;
    a.send_msg("<b>&amp;</b>").await;
    let f = b.expect_frame().await;
    let body = f.raw.strip_suffix('\n').unwrap_or(&f.raw);
    assert!(!body.contains('\n'), "one JSON object per frame: {:?}", f.raw);
    assert_eq!(f.msg(), "<b>&amp;</b>", "HTML characters must round-trip: {:?}", f.raw);
}
