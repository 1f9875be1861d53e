//! Room-server HTTP API (protocol spec §1, §7.1 items 2–8), black-box against the binary.
//!
//! Covers: `GET /` (no `roomId:`), `GET /r/<room>` (`roomId: '<room>'`, full page at 2
//! clients), the join sequence SUCCESS/"true" → SUCCESS/"false" → FULL (HTTP 200), leave +
//! rejoin, stored messages returned in POST order and cleared, every §1.4 params key with its
//! JSON type (string booleans, double-encoded JSON strings), `wss_url`/`wss_post_url`/
//! `room_link` derivation (Host, X-Forwarded-*, `--public-url`, `wshpp`/`wstls`, query echo),
//! `/params`, `/v1alpha/iceconfig` (URLs, empty list, CORS, 405 on GET), 405 on `POST /r/x`,
//! UNKNOWN_ROOM / UNKNOWN_CLIENT, leave always 200 + empty, `/bye` alias, missing
//! User-Agent, `/healthz`.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn index_page_has_no_room_id() {
    let srv = Server::start();
    let r = srv.get_h("/", &[("user-agent", "Safari")]).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(!r.body.contains("roomId:"), "GET / must not contain `roomId:`");
}

#[tokio::test]
async fn room_page_contains_room_id() {
    let srv = Server::start();
    let r = srv.get_h("/r/testRoom", &[("user-agent", "Safari")]).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.contains("roomId: 'testRoom'"),
        "GET /r/testRoom must contain `roomId: 'testRoom'`; body: {}",
        r.body.chars().take(3000).collect::<String>()
    );
}

#[tokio::test]
async fn room_page_is_full_page_when_room_has_two_clients() {
    let srv = Server::start();
    srv.join("fullroom").await;
    // One client: still the normal page.
    let r = srv.get("/r/fullroom").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("roomId: 'fullroom'"), "1 client: normal room page expected");
    srv.join("fullroom").await;
    let r = srv.get("/r/fullroom").await;
    assert_eq!(r.status, 200, "full page is served with HTTP 200: {r:?}");
    assert!(
        !r.body.contains("roomId: 'fullroom'"),
        "full room must render the full page, not the room page"
    );
    assert!(
        r.body.to_lowercase().contains("full"),
        "full page should say the room is full; body: {}",
        r.body.chars().take(3000).collect::<String>()
    );
}

#[tokio::test]
async fn join_sequence_initiator_then_callee_then_full() {
    let srv = Server::start();
    let ua = [("user-agent", "Safari")];
    let first = Joined::from_success(srv.join_raw("foo", "", &ua).await);
    assert!(first.is_initiator);
    assert_eq!(first.params["room_id"], "foo");
    assert_eq!(first.params["error_messages"], serde_json::json!([]));
    assert_eq!(first.params["warning_messages"], serde_json::json!([]));
    assert_eq!(first.params["messages"], serde_json::json!([]));

    let second = Joined::from_success(srv.join_raw("foo", "", &ua).await);
    assert!(!second.is_initiator);
    assert_eq!(second.params["room_id"], "foo");
    assert_eq!(second.params["error_messages"], serde_json::json!([]));
    assert_eq!(second.params["warning_messages"], serde_json::json!([]));
    assert_ne!(first.client_id, second.client_id, "client ids must differ");

    let third = srv.join_raw("foo", "", &ua).await; // asserts HTTP 200
    assert_eq!(third["result"], "FULL", "third join: {third}");
    // Error responses carry params with (only) messages: [].
    assert_eq!(third["params"]["messages"], serde_json::json!([]), "{third}");
}

#[tokio::test]
async fn leave_both_then_join_is_initiator_again() {
    let srv = Server::start();
    let a = srv.join("foo").await;
    let b = srv.join("foo").await;
    srv.leave("foo", &a.client_id).await;
    srv.leave("foo", &b.client_id).await;
    let c = srv.join("foo").await;
    assert!(c.is_initiator, "after both left, the next joiner is initiator: {:?}", c.raw);
    assert_eq!(c.messages(), Vec::<String>::new());
}

#[tokio::test]
async fn leave_one_then_join_is_callee() {
    let srv = Server::start();
    let a = srv.join("foo").await;
    let _b = srv.join("foo").await;
    srv.leave("foo", &a.client_id).await;
    let c = srv.join("foo").await;
    assert!(!c.is_initiator, "one client remains, so the newcomer is not initiator");
}

#[tokio::test]
async fn stored_messages_returned_in_order_then_cleared() {
    let srv = Server::start();
    let a = srv.join("foo").await;
    for body in ["1", "2", "3"] {
        let v = srv.message("foo", &a.client_id, body).await;
        assert_eq!(v, serde_json::json!({"result": "SUCCESS"}), "message {body}");
    }
    let b = srv.join("foo").await;
    assert!(!b.is_initiator);
    assert_eq!(b.params["messages"], serde_json::json!(["1", "2", "3"]));
    // The list was handed over and cleared: a later callee gets nothing.
    srv.leave("foo", &b.client_id).await;
    let c = srv.join("foo").await;
    assert!(!c.is_initiator);
    assert_eq!(c.messages(), Vec::<String>::new(), "stored list must be cleared after hand-over");
}

fn assert_string(params: &Value, key: &str) -> String {
    params[key]
        .as_str()
        .unwrap_or_else(|| panic!("params.{key} must be a JSON string; params: {params}"))
        .to_string()
}

fn assert_string_bool(params: &Value, key: &str, expected: &str) {
    assert_eq!(
        params[key].as_str(),
        Some(expected),
        "params.{key} must be the string {expected:?}; params: {params}"
    );
}

#[tokio::test]
async fn join_params_have_every_key_with_the_right_json_type() {
    let srv = Server::start();
    let a = srv.join("typed").await;
    let p = &a.params;
    assert!(p.is_object(), "params must be an object: {}", a.raw);

    // header_message: string or null
    assert!(
        p["header_message"].is_string() || p.get("header_message") == Some(&Value::Null),
        "header_message must be string or null: {p}"
    );
    assert!(p.get("header_message").is_some(), "header_message key must be present: {p}");
    assert!(p["error_messages"].is_array(), "error_messages must be an array: {p}");
    assert!(p["warning_messages"].is_array(), "warning_messages must be an array: {p}");
    for m in p["error_messages"].as_array().unwrap().iter().chain(p["warning_messages"].as_array().unwrap()) {
        assert!(m.is_string(), "error/warning messages must be strings: {p}");
    }
    assert_string_bool(p, "is_loopback", "false");
    assert_string_bool(p, "bypass_join_confirmation", "false");
    assert_string_bool(p, "is_initiator", "true");

    let pc_config = double_decoded(p, "pc_config");
    assert!(pc_config["iceServers"].is_array(), "pc_config.iceServers: {pc_config}");
    assert_eq!(pc_config["bundlePolicy"], "max-bundle", "{pc_config}");
    assert_eq!(pc_config["rtcpMuxPolicy"], "require", "{pc_config}");

    let pc_constraints = double_decoded(p, "pc_constraints");
    assert!(pc_constraints["optional"].is_array(), "pc_constraints.optional: {pc_constraints}");

    let offer_options = double_decoded(p, "offer_options");
    assert!(offer_options.is_object(), "offer_options: {offer_options}");

    let media = double_decoded(p, "media_constraints");
    assert!(media.get("audio").is_some() && media.get("video").is_some(), "media_constraints: {media}");

    // version_info: a string holding JSON (an object or `null`).
    let _version = double_decoded(p, "version_info");

    assert_string(p, "ice_server_url");
    assert_eq!(assert_string(p, "ice_server_transports"), "");
    assert_eq!(assert_string(p, "include_loopback_js"), "");
    assert_string(p, "wss_url");
    assert_string(p, "wss_post_url");
    assert_eq!(assert_string(p, "room_id"), "typed");
    assert_string(p, "room_link");
    let cid = assert_string(p, "client_id");
    assert!(
        cid.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "client_id must be usable in URL paths: {cid:?}"
    );
    assert!(p["messages"].is_array(), "messages must be an array: {p}");

    // The callee's params have the same shape, with is_initiator "false".
    let b = srv.join("typed").await;
    assert_string_bool(&b.params, "is_initiator", "false");
    double_decoded(&b.params, "pc_config");
    assert!(b.params["messages"].is_array());
}

#[tokio::test]
async fn join_urls_default_to_request_host() {
    let srv = Server::start();
    let a = srv.join("urls").await;
    let port = srv.port();
    assert_eq!(a.str_param("wss_url"), format!("ws://127.0.0.1:{port}/ws"));
    assert_eq!(a.str_param("wss_post_url"), format!("http://127.0.0.1:{port}/ws"));
    assert_eq!(a.str_param("room_link"), format!("http://127.0.0.1:{port}/r/urls"));
}

#[tokio::test]
async fn join_urls_honor_forwarded_headers() {
    let srv = Server::start();
    let v = srv
        .join_raw(
            "fwd",
            "",
            &[("x-forwarded-proto", "https"), ("x-forwarded-host", "example.com")],
        )
        .await;
    let a = Joined::from_success(v);
    assert_eq!(a.str_param("wss_url"), "wss://example.com/ws");
    assert_eq!(a.str_param("wss_post_url"), "https://example.com/ws");
    let link = a.str_param("room_link");
    assert!(link.starts_with("https://example.com/r/"), "room_link: {link}");
    assert_eq!(link, "https://example.com/r/fwd");
}

#[tokio::test]
async fn public_url_flag_wins_over_request_and_forwarded_headers() {
    let srv = Server::start_with(&["--public-url", "https://calls.example.org"]);
    let v = srv
        .join_raw(
            "pub",
            "",
            &[("x-forwarded-proto", "http"), ("x-forwarded-host", "other.example.net")],
        )
        .await;
    let a = Joined::from_success(v);
    assert_eq!(a.str_param("wss_url"), "wss://calls.example.org/ws");
    assert_eq!(a.str_param("wss_post_url"), "https://calls.example.org/ws");
    assert_eq!(a.str_param("room_link"), "https://calls.example.org/r/pub");
    // Also without forwarded headers.
    let b = srv.join("pub").await;
    assert_eq!(b.str_param("wss_url"), "wss://calls.example.org/ws");
    assert_eq!(b.str_param("wss_post_url"), "https://calls.example.org/ws");
}

#[tokio::test]
async fn wshpp_and_wstls_override_collider_urls() {
    let srv = Server::start();
    let a = srv.join_q("hpp", "?wshpp=localhost:8089&wstls=false").await;
    assert_eq!(a.str_param("wss_url"), "ws://localhost:8089/ws");
    assert_eq!(a.str_param("wss_post_url"), "http://localhost:8089");
    // wstls anything other than `false` → wss/https.
    let b = srv.join_q("hpp", "?wshpp=localhost:8089").await;
    assert_eq!(b.str_param("wss_url"), "wss://localhost:8089/ws");
    assert_eq!(b.str_param("wss_post_url"), "https://localhost:8089");
}

#[tokio::test]
async fn room_link_echoes_query_args() {
    let srv = Server::start();
    let port = srv.port();
    let a = srv.join_q("echo", "?foo=bar&vrc=VP8").await;
    assert_eq!(
        a.str_param("room_link"),
        format!("http://127.0.0.1:{port}/r/echo?foo=bar&vrc=VP8")
    );
    let b = srv.join_q("echo", "?wshpp=localhost:8089&wstls=false").await;
    let link = b.str_param("room_link");
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{port}/r/echo?")),
        "room_link: {link}"
    );
    assert!(link.contains("wshpp=localhost:8089"), "room_link: {link}");
    assert!(link.contains("wstls=false"), "room_link: {link}");
}

#[tokio::test]
async fn params_endpoint_is_room_independent() {
    let srv = Server::start();
    let r = srv.get("/params").await;
    assert_eq!(r.status, 200, "{r:?}");
    let p = r.json();
    assert!(p.is_object(), "/params must be a bare object: {p}");
    assert!(p.get("result").is_none(), "/params has no result wrapper: {p}");
    for k in ["room_id", "room_link", "client_id", "is_initiator", "messages"] {
        assert!(p.get(k).is_none(), "/params must not contain {k}: {p}");
    }
    assert!(p["ice_server_url"].is_string(), "/params.ice_server_url (iOS reads it): {p}");
    let port = srv.port();
    assert_eq!(p["wss_url"], format!("ws://127.0.0.1:{port}/ws"), "{p}");
    assert_eq!(p["wss_post_url"], format!("http://127.0.0.1:{port}/ws"), "{p}");
    double_decoded(&p, "pc_config");
    double_decoded(&p, "pc_constraints");
    double_decoded(&p, "media_constraints");
    assert_eq!(p["is_loopback"], "false");
}

#[tokio::test]
async fn iceconfig_returns_configured_urls_with_cors() {
    let srv = Server::start_with(&[
        "--ice-server",
        "stun:stun.example.com:19302",
        "--ice-server",
        "turn:turn.example.com:3478?transport=udp",
    ]);
    let r = srv.post("/v1alpha/iceconfig?key=", Vec::new()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("*"), "{r:?}");
    let v = r.json();
    let servers = v["iceServers"].as_array().unwrap_or_else(|| panic!("iceServers array: {v}"));
    assert!(!servers.is_empty(), "{v}");
    let mut all = Vec::new();
    for s in servers {
        let urls = s["urls"]
            .as_array()
            .unwrap_or_else(|| panic!("iceServers[].urls must be an array (Android/iOS/web): {v}"));
        for u in urls {
            all.push(u.as_str().unwrap_or_else(|| panic!("url must be a string: {v}")).to_string());
        }
        if let Some(u) = s.get("username") {
            assert!(u.is_string(), "username must be a string: {v}");
        }
        if let Some(c) = s.get("credential") {
            assert!(c.is_string(), "credential must be a string: {v}");
        }
    }
    assert!(all.iter().any(|u| u == "stun:stun.example.com:19302"), "urls: {all:?}");
    assert!(all.iter().any(|u| u == "turn:turn.example.com:3478?transport=udp"), "urls: {all:?}");
}

#[tokio::test]
async fn iceconfig_without_servers_is_empty_list() {
    let srv = Server::start_with(&["--turn-enabled", "false"]);
    let r = srv.post("/v1alpha/iceconfig", Vec::new()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin").as_deref(), Some("*"), "{r:?}");
    // Extra informational keys (e.g. `lifetimeDuration`, §2.4) are allowed.
    let v = r.json();
    assert_eq!(v["iceServers"], serde_json::json!([]), "{v}");
}

#[tokio::test]
async fn iceconfig_get_is_405() {
    let srv = Server::start();
    let r = srv.get("/v1alpha/iceconfig").await;
    assert_eq!(r.status, 405, "{r:?}");
}

#[tokio::test]
async fn post_to_room_page_is_405() {
    let srv = Server::start();
    let r = srv.post("/r/x", Vec::new()).await;
    assert_eq!(r.status, 405, "{r:?}");
}

#[tokio::test]
async fn message_to_unknown_room_or_client() {
    let srv = Server::start();
    let v = srv.message("nosuchroom", "12345678", "{\"type\":\"bye\"}").await; // asserts 200
    assert_eq!(v["result"], "UNKNOWN_ROOM", "{v}");
    let a = srv.join("known").await;
    let v = srv.message("known", "99999999", "{\"type\":\"bye\"}").await;
    assert_eq!(v["result"], "UNKNOWN_CLIENT", "{v}");
    // The real client is still fine.
    srv.message_ok("known", &a.client_id, "{\"type\":\"bye\"}").await;
}

#[tokio::test]
async fn leave_is_always_200_with_empty_body() {
    let srv = Server::start();
    srv.leave("nosuchroom", "12345678").await;
    let a = srv.join("lv").await;
    srv.leave("lv", "99999999").await;
    srv.leave("lv", &a.client_id).await;
    srv.leave("lv", &a.client_id).await; // twice
    // A query string (Android appends its URL parameters) is fine too.
    let r = srv.post("/leave/lv/123?wshpp=localhost:8089&wstls=false", Vec::new()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, "");
}

#[tokio::test]
async fn bye_route_is_an_alias_of_leave() {
    let srv = Server::start();
    let a = srv.join("byeroom").await;
    let b = srv.join("byeroom").await;
    assert_eq!(srv.join_result("byeroom").await, "FULL");
    let r = srv.post(&format!("/bye/byeroom/{}", a.client_id), Vec::new()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, "", "bye must answer like leave (empty body)");
    let c = srv.join("byeroom").await;
    assert!(!c.is_initiator, "B remains, so C is the callee");
    // Unknown ids are fine.
    let r = srv.post("/bye/nosuch/1", Vec::new()).await;
    assert_eq!(r.status, 200, "{r:?}");
    srv.leave("byeroom", &b.client_id).await;
    srv.leave("byeroom", &c.client_id).await;
    assert!(srv.join("byeroom").await.is_initiator);
}

#[tokio::test]
async fn missing_user_agent_and_various_user_agents_work() {
    let srv = Server::start();
    // reqwest sends no User-Agent by default.
    let r = srv.post("/join/ua1", Vec::new()).await;
    assert_eq!(r.status, 200, "join without User-Agent: {r:?}");
    assert!(r.header("user-agent").is_none());
    Joined::from_success(r.json());
    let r = srv.get("/r/ua1").await;
    assert_eq!(r.status, 200, "room page without User-Agent: {r:?}");
    let r = srv.get("/").await;
    assert_eq!(r.status, 200, "index without User-Agent: {r:?}");
    let r = srv.get("/params").await;
    assert_eq!(r.status, 200, "/params without User-Agent: {r:?}");
    for ua in [
        "Safari",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "Dalvik/2.1.0 (Linux; U; Android 14)",
    ] {
        let v = srv.join_raw("ua2", "", &[("user-agent", ua)]).await;
        assert!(
            v["result"] == "SUCCESS" || v["result"] == "FULL",
            "join with UA {ua:?}: {v}"
        );
        if v["result"] == "SUCCESS" {
            double_decoded(&v["params"], "media_constraints");
        }
    }
}

#[tokio::test]
async fn healthz_is_ok() {
    let srv = Server::start();
    let r = srv.get("/healthz").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body.trim(), "ok");
}

#[tokio::test]
async fn header_message_and_bypass_flags_are_reflected() {
    let srv = Server::start_with(&["--header-message", "Hello there", "--bypass-join-confirmation"]);
    let a = srv.join("hdr").await;
    assert_eq!(a.params["header_message"], "Hello there", "{}", a.raw);
    assert_eq!(a.params["bypass_join_confirmation"], "true", "{}", a.raw);
}

#[tokio::test]
async fn join_accepts_any_body_and_content_type() {
    let srv = Server::start();
    let r = srv
        .post_h(
            "/join/bodyroom",
            &[("content-type", "application/x-www-form-urlencoded")],
            "a=b&c=d",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    Joined::from_success(r.json());
    let r = srv
        .post_h("/join/bodyroom", &[("content-type", "application/json")], "{\"x\":1}")
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    Joined::from_success(r.json());
}

#[tokio::test]
async fn join_query_parameters_shape_params() {
    let srv = Server::start();
    let a = srv
        .join_q(
            "qp",
            "?it=relay&tt=udp&dtls=false&dscp=true&ipv6=false&audio=false&hd=true&firefox_fake_device=1&ts=",
        )
        .await;
    let p = &a.params;
    let pc_config = double_decoded(p, "pc_config");
    assert_eq!(pc_config["iceTransports"], "relay", "it=relay: {pc_config}");
    assert_eq!(p["ice_server_transports"], "udp", "tt=udp: {p}");
    assert_eq!(p["ice_server_url"], "", "present-but-empty ts= disables ice_server_url: {p}");
    let pcc = double_decoded(p, "pc_constraints");
    let optional = pcc["optional"].as_array().unwrap_or_else(|| panic!("{pcc}"));
    for (k, v) in [("DtlsSrtpKeyAgreement", false), ("googDscp", true), ("googIPv6", false)] {
        assert!(
            optional.iter().any(|o| o[k] == serde_json::json!(v)),
            "pc_constraints.optional must contain {{{k:?}: {v}}}: {pcc}"
        );
    }
    let media = double_decoded(p, "media_constraints");
    assert_eq!(media["audio"], serde_json::json!(false), "audio=false: {media}");
    assert_eq!(media["video"]["mandatory"]["minWidth"], "1280", "hd=true: {media}");
    assert_eq!(media["video"]["mandatory"]["minHeight"], "720", "hd=true: {media}");
    assert_eq!(media["fake"], serde_json::json!(true), "firefox_fake_device: {media}");

    // Warnings: minre/maxre are unsupported; hd overrides video.
    let b = srv.join_q("qp2", "?minre=640").await;
    let warnings = b.params["warning_messages"].as_array().unwrap();
    assert!(!warnings.is_empty(), "minre must add a warning: {}", b.raw);
    let c = srv.join_q("qp3", "?hd=true&video=false").await;
    let warnings = c.params["warning_messages"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w.as_str().unwrap_or("").contains("hd")),
        "hd + video must add the override warning: {}",
        c.raw
    );
    // Defaults: no query → no warnings, dtls constraint absent.
    let d = srv.join("qp4").await;
    assert_eq!(d.params["warning_messages"], serde_json::json!([]));
    assert_eq!(double_decoded(&d.params, "pc_constraints"), serde_json::json!({"optional": []}));
}

#[tokio::test]
async fn wstls_true_on_http_request_makes_room_link_https() {
    let srv = Server::start();
    let port = srv.port();
    let a = srv.join_q("tls", "?wshpp=localhost:8089&wstls=true").await;
    assert_eq!(a.str_param("wss_url"), "wss://localhost:8089/ws");
    assert_eq!(a.str_param("wss_post_url"), "https://localhost:8089");
    assert_eq!(
        a.str_param("room_link"),
        format!("https://127.0.0.1:{port}/r/tls?wshpp=localhost:8089&wstls=true"),
        "spec §1.4 example / §1.2 `wstls=true` stunnel rewrite"
    );
}

#[tokio::test]
async fn non_utf8_message_body_is_error() {
    let srv = Server::start();
    let a = srv.join("utf").await;
    let r = srv
        .post(&format!("/message/utf/{}", a.client_id), vec![b'{', 0xff, 0xfe, b'}'])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["result"], "ERROR", "{r:?}");
    // Valid text is still fine and the bad body was not stored.
    srv.message_ok("utf", &a.client_id, "{\"type\":\"bye\"}").await;
    let b = srv.join("utf").await;
    assert_eq!(b.messages(), vec!["{\"type\":\"bye\"}".to_string()]);
}

#[tokio::test]
async fn room_expires_after_room_ttl() {
    let srv = Server::start_with(&["--room-ttl", "1s"]);
    let a = srv.join("ttl").await;
    srv.message_ok("ttl", &a.client_id, "1").await;
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    let b = srv.join("ttl").await;
    assert!(b.is_initiator, "room must have expired after --room-ttl: {:?}", b.raw);
    assert_eq!(b.messages(), Vec::<String>::new());
}
