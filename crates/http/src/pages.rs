//! `GET /` and `GET /r/<room>` (§1.5): the page with `loadingParams`, or the room-full page.
//!
//! This is the minimal page the room server needs until the web client is embedded: it carries
//! the same `loadingParams` object AppRTC's template rendered, so tools and tests can read it.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value};

use crate::params::{html_escape, room_parameters, RoomPart};
use crate::room_api::{parse_room, ClientRequest};
use crate::AppState;

/// `GET /`: room selection, no room id.
pub async fn index(State(state): State<Arc<AppState>>, req: ClientRequest) -> Response {
    let params = room_parameters(&req.params_input(&state), None);
    Html(render_page(&params, None)).into_response()
}

/// `GET /r/<room>`: the room page, or the room-full page (status 200) when two clients sit there.
pub async fn room(State(state): State<Arc<AppState>>, Path(room): Path<String>, req: ClientRequest) -> Response {
    let room = match parse_room(&state, &room) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if state.rooms.occupancy(&room, Instant::now()) >= rooms::ROOM_CAPACITY {
        return Html(FULL_PAGE).into_response();
    }
    let params = room_parameters(&req.params_input(&state), Some(RoomPart { room_id: room.as_str(), joined: None }));
    Html(render_page(&params, Some(room.as_str()))).into_response()
}

/// A JSON value made safe to embed inside a `<script>` element.
fn script_json(v: &Value) -> String {
    v.to_string().replace("</", "<\\/").replace("<!--", "<\\!--")
}

fn raw(params: &Map<String, Value>, key: &str) -> String {
    params.get(key).and_then(Value::as_str).unwrap_or("null").to_string()
}

fn quoted(params: &Map<String, Value>, key: &str) -> String {
    script_json(params.get(key).unwrap_or(&Value::Null))
}

fn render_page(params: &Map<String, Value>, room_id: Option<&str>) -> String {
    let mut loading = String::new();
    loading.push_str(&format!("      errorMessages: {},\n", quoted(params, "error_messages")));
    loading.push_str(&format!("      warningMessages: {},\n", quoted(params, "warning_messages")));
    loading.push_str(&format!("      isLoopback: {},\n", raw(params, "is_loopback")));
    if let Some(room) = room_id {
        // Room ids are validated as [A-Za-z0-9_-], so they are safe inside quotes.
        loading.push_str(&format!("      roomId: '{room}',\n"));
        loading.push_str(&format!("      roomLink: {},\n", quoted(params, "room_link")));
    }
    for (js, key) in [
        ("mediaConstraints", "media_constraints"),
        ("offerOptions", "offer_options"),
        ("peerConnectionConfig", "pc_config"),
        ("peerConnectionConstraints", "pc_constraints"),
        ("bypassJoinConfirmation", "bypass_join_confirmation"),
        ("versionInfo", "version_info"),
    ] {
        let v: Value = serde_json::from_str(&raw(params, key)).unwrap_or(Value::Null);
        loading.push_str(&format!("      {js}: {},\n", script_json(&v)));
    }
    for (js, key) in [
        ("iceServerRequestUrl", "ice_server_url"),
        ("iceServerTransports", "ice_server_transports"),
        ("wssUrl", "wss_url"),
        ("wssPostUrl", "wss_post_url"),
    ] {
        loading.push_str(&format!("      {js}: {},\n", quoted(params, key)));
    }
    let header = params.get("header_message").and_then(Value::as_str).unwrap_or_default();
    let header_html = if header.is_empty() { String::new() } else { format!("<header>{}</header>", html_escape(header)) };
    let title = room_id.map_or_else(|| "Switchboard".to_string(), |r| format!("Switchboard — room {r}"));
    let body = match room_id {
        Some(room) => format!("<h1>Room <code>{room}</code></h1><p>Share this page's link with the other person.</p>"),
        None => "<h1>Switchboard</h1><p>Open <code>/r/&lt;room name&gt;</code> to start a call.</p>".to_string(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n</head>\n\
         <body>\n{header_html}\n{body}\n<script>\n    var loadingParams = {{\n{loading}    }};\n</script>\n</body>\n</html>\n"
    )
}

/// AppRTC's room-full page: a message and a way to a new room.
const FULL_PAGE: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Room full — Switchboard</title>\n</head>\n\
<body>\n<h1>Sorry, this room is full.</h1>\n<p><a id=\"new-room\" href=\"/\">OPEN A NEW ROOM</a></p>\n</body>\n</html>\n";
