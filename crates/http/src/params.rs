//! The "room parameters" object of apprtc-protocol.md §1.4, shared by `/join`, `/params` and the
//! pages. Several values are JSON texts inside the JSON (double-encoded) and booleans are the
//! strings "true"/"false": the web client compares `is_initiator === 'true'`.

use serde_json::{json, Map, Value};

use crate::origin::Origin;
use crate::query::QueryArgs;
use crate::HttpConfig;

/// What the room-independent parameters are built from.
pub struct ParamsInput<'a> {
    /// The request's query arguments.
    pub query: &'a QueryArgs,
    /// The request's `User-Agent`, "" when absent.
    pub user_agent: &'a str,
    /// Where the client reached us.
    pub origin: &'a Origin,
    /// Server configuration.
    pub config: &'a HttpConfig,
}

/// The per-room part, present on `/join` and `/r/<room>`.
pub struct RoomPart<'a> {
    /// The room id.
    pub room_id: &'a str,
    /// Set on join: `(client_id, is_initiator, stored messages)`.
    pub joined: Option<(&'a str, bool, Vec<String>)>,
}

/// Builds the §1.4 object.
pub fn room_parameters(input: &ParamsInput<'_>, room: Option<RoomPart<'_>>) -> Map<String, Value> {
    let q = input.query;
    let mut warnings: Vec<String> = Vec::new();
    let loopback = q.get("debug") == "loopback";

    let media = media_constraints(q, input.user_agent, &mut warnings);
    if !q.get("minre").is_empty() || !q.get("maxre").is_empty() {
        warnings.push("The \"minre\" and \"maxre\" parameters are no longer supported. Use \"video\" instead.".into());
    }

    let mut pc_config = json!({"iceServers": [], "bundlePolicy": "max-bundle", "rtcpMuxPolicy": "require"});
    if !q.get("it").is_empty() {
        pc_config["iceTransports"] = Value::String(q.get("it").to_string());
    }

    let mut optional = Vec::new();
    let dtls = if loopback { "false" } else { q.get("dtls") };
    push_bool_constraint(&mut optional, "DtlsSrtpKeyAgreement", dtls);
    push_bool_constraint(&mut optional, "googDscp", q.get("dscp"));
    push_bool_constraint(&mut optional, "googIPv6", q.get("ipv6"));

    let (wss_url, wss_post_url) = wss_urls(q, input.origin);
    let header = &input.config.header_message;

    let mut p = Map::new();
    p.insert("header_message".into(), Value::String(header.clone()));
    p.insert("error_messages".into(), json!([]));
    p.insert("warning_messages".into(), json!(warnings));
    p.insert("is_loopback".into(), bool_string(loopback));
    p.insert("pc_config".into(), Value::String(pc_config.to_string()));
    p.insert("pc_constraints".into(), Value::String(json!({"optional": optional}).to_string()));
    p.insert("offer_options".into(), Value::String("{}".into()));
    p.insert("media_constraints".into(), Value::String(media.to_string()));
    p.insert("ice_server_url".into(), Value::String(ice_server_url(q, input.origin)));
    p.insert("ice_server_transports".into(), Value::String(q.get("tt").to_string()));
    p.insert(
        "include_loopback_js".into(),
        Value::String(if loopback { "<script src=\"/js/loopback.js\"></script>".into() } else { String::new() }),
    );
    p.insert("wss_url".into(), Value::String(wss_url));
    p.insert("wss_post_url".into(), Value::String(wss_post_url));
    p.insert("bypass_join_confirmation".into(), bool_string(input.config.bypass_join_confirmation));
    p.insert("version_info".into(), Value::String(version_info()));
    if input.config.turn.is_some() {
        // Old AppRTCDemo Android forks read `turn_url` unconditionally and GET it (§1.14).
        p.insert("turn_url".into(), Value::String(format!("{}/turn?username=&key=", input.origin.base_url())));
    }

    if let Some(room) = room {
        p.insert("room_id".into(), Value::String(room.room_id.to_string()));
        p.insert("room_link".into(), Value::String(room_link(input.origin, room.room_id, q)));
        if let Some((client_id, is_initiator, messages)) = room.joined {
            p.insert("client_id".into(), Value::String(client_id.to_string()));
            p.insert("is_initiator".into(), bool_string(is_initiator));
            p.insert("messages".into(), json!(messages));
        }
    }
    p
}

fn bool_string(b: bool) -> Value {
    Value::String(if b { "true" } else { "false" }.into())
}

fn push_bool_constraint(optional: &mut Vec<Value>, key: &str, value: &str) {
    match value {
        "true" => optional.push(json!({ key: true })),
        "false" => optional.push(json!({ key: false })),
        _ => {}
    }
}

/// `wss_url` and `wss_post_url`: this server's own `/ws` by default; `wshpp` names another
/// Collider host:port and `wstls=false` selects ws/http, as in AppRTC.
fn wss_urls(q: &QueryArgs, origin: &Origin) -> (String, String) {
    let wstls = q.get("wstls");
    let hpp = q.get("wshpp");
    if !hpp.is_empty() {
        return if wstls == "false" {
            (format!("ws://{hpp}/ws"), format!("http://{hpp}"))
        } else {
            (format!("wss://{hpp}/ws"), format!("https://{hpp}"))
        };
    }
    let secure = match wstls {
        "false" => false,
        "true" => true,
        _ => origin.scheme == "https",
    };
    let (ws, http) = if secure { ("wss", "https") } else { ("ws", "http") };
    (format!("{ws}://{}/ws", origin.host), format!("{http}://{}/ws", origin.host))
}

/// Where clients fetch ICE servers: this server's `/v1alpha/iceconfig` unless `ts` names another
/// provider; `ts=` (present, empty) disables fetching.
fn ice_server_url(q: &QueryArgs, origin: &Origin) -> String {
    if q.has("ts") && q.get("ts").is_empty() {
        return String::new();
    }
    let base = if q.get("ts").is_empty() { origin.base_url() } else { q.get("ts").to_string() };
    format!("{base}/v1alpha/iceconfig?key={}", q.get("apikey"))
}

/// `<origin>/r/<room>` plus every request argument, HTML-escaped and not URL-encoded (§1.4).
fn room_link(origin: &Origin, room_id: &str, q: &QueryArgs) -> String {
    let mut link = format!("{}/r/{room_id}", origin.for_room_link(q).base_url());
    for (i, (k, v)) in q.iter().enumerate() {
        link.push(if i == 0 { '?' } else { '&' });
        link.push_str(&html_escape(k));
        link.push('=');
        link.push_str(&html_escape(v));
    }
    link
}

/// Escapes `& < > "` as Python's `cgi.escape(s, True)` does.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn media_constraints(q: &QueryArgs, user_agent: &str, warnings: &mut Vec<String>) -> Value {
    let hd = q.get("hd");
    let mut video = q.get("video").to_string();
    if !hd.is_empty() && !video.is_empty() {
        warnings.push(format!("The \"hd\" parameter has overridden video={video}"));
    }
    if hd == "true" {
        video = "mandatory:minWidth=1280,mandatory:minHeight=720".into();
    } else if hd.is_empty() && video.is_empty() && user_agent.contains("Chrome") && !user_agent.contains("Android") {
        video = "optional:minWidth=1280,optional:minHeight=720".into();
    }
    let mut m = Map::new();
    m.insert("audio".into(), track_constraints(q.get("audio")));
    m.insert("video".into(), track_constraints(&video));
    if !q.get("firefox_fake_device").is_empty() {
        m.insert("fake".into(), Value::Bool(true));
    }
    Value::Object(m)
}

/// `true`, `false`, or `{"mandatory":{k:"v"},"optional":[{k:"v"}]}` from `[mandatory:|optional:]k=v,…`.
fn track_constraints(s: &str) -> Value {
    if s.is_empty() || s.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if s.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    let mut mandatory = Map::new();
    let mut optional = Vec::new();
    for part in s.split(',') {
        let Some((key, value)) = part.split_once('=').filter(|(_, v)| !v.contains('=')) else {
            continue;
        };
        if let Some(k) = key.strip_prefix("mandatory:") {
            mandatory.insert(k.to_string(), Value::String(value.to_string()));
        } else {
            let k = key.strip_prefix("optional:").unwrap_or(key);
            optional.push(json!({ k: value }));
        }
    }
    json!({"mandatory": mandatory, "optional": optional})
}

fn version_info() -> String {
    json!({"gitHash": "", "branch": "", "time": "", "version": env!("CARGO_PKG_VERSION")}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(query: &str, ua: &str) -> Map<String, Value> {
        let q = QueryArgs::parse(Some(query));
        let origin = Origin { scheme: "http".into(), host: "host:8080".into() };
        let config = HttpConfig::default();
        room_parameters(&ParamsInput { query: &q, user_agent: ua, origin: &origin, config: &config }, None)
    }

    fn inner(p: &Map<String, Value>, key: &str) -> Value {
        serde_json::from_str(p[key].as_str().unwrap()).unwrap()
    }

    #[test]
    fn defaults_are_double_encoded_and_point_at_this_server() {
        let p = build("", "Safari");
        assert_eq!(p["is_loopback"], "false");
        assert_eq!(inner(&p, "pc_config")["bundlePolicy"], "max-bundle");
        assert_eq!(inner(&p, "pc_constraints"), json!({"optional": []}));
        assert_eq!(inner(&p, "media_constraints"), json!({"audio": true, "video": true}));
        assert_eq!(p["wss_url"], "ws://host:8080/ws");
        assert_eq!(p["wss_post_url"], "http://host:8080/ws");
        assert_eq!(p["ice_server_url"], "http://host:8080/v1alpha/iceconfig?key=");
        assert!(!p.contains_key("room_id"));
    }

    #[test]
    fn chrome_desktop_gets_optional_hd_and_hd_true_mandatory() {
        let p = build("", "Mozilla/5.0 Chrome/120");
        assert_eq!(
            inner(&p, "media_constraints")["video"],
            json!({"mandatory": {}, "optional": [{"minWidth": "1280"}, {"minHeight": "720"}]})
        );
        let p = build("hd=true&video=false", "Safari");
        assert_eq!(inner(&p, "media_constraints")["video"], json!({"mandatory": {"minWidth": "1280", "minHeight": "720"}, "optional": []}));
        assert_eq!(p["warning_messages"], json!(["The \"hd\" parameter has overridden video=false"]));
    }

    #[test]
    fn loopback_disables_dtls_and_it_sets_ice_transports() {
        let p = build("debug=loopback&it=relay&ipv6=true", "");
        assert_eq!(p["is_loopback"], "true");
        assert_eq!(inner(&p, "pc_constraints"), json!({"optional": [{"DtlsSrtpKeyAgreement": false}, {"googIPv6": true}]}));
        assert_eq!(inner(&p, "pc_config")["iceTransports"], "relay");
    }

    #[test]
    fn wshpp_and_ts_overrides() {
        let p = build("wshpp=localhost:8089&wstls=false&ts=", "");
        assert_eq!(p["wss_url"], "ws://localhost:8089/ws");
        assert_eq!(p["wss_post_url"], "http://localhost:8089");
        assert_eq!(p["ice_server_url"], "");
    }

    #[test]
    fn room_link_echoes_arguments_escaped() {
        let q = QueryArgs::parse(Some("wshpp=localhost:8089&wstls=true&x=%3Cb%3E"));
        let origin = Origin { scheme: "http".into(), host: "host:8080".into() };
        assert_eq!(room_link(&origin, "abc", &q), "https://host:8080/r/abc?wshpp=localhost:8089&wstls=true&x=&lt;b&gt;");
    }
}
