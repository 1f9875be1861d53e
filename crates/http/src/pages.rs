//! `GET /` and `GET /r/<room>` (§1.5): the page with `loadingParams`, or the room-full page.
//!
//! The page is `web/index.html` (embedded by `web_assets`) with the same `loadingParams` object
//! AppRTC's template rendered filled in server-side, so tools and tests can read it; the client
//! (`/static/app.js`, an ES module) reads `window.loadingParams` and shows the landing page (no
//! `roomId`) or the room page.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value};

use crate::params::{html_escape, room_parameters, RoomPart};
use crate::room_api::{parse_room, ClientRequest};
use crate::web_assets::{FULL_PAGE, INDEX_TEMPLATE};
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
    let header_html =
        if header.is_empty() { String::new() } else { format!("<header class=\"banner\">{}</header>", html_escape(header)) };
    let title = room_id.map_or_else(|| "Switchboard".to_string(), |r| format!("Switchboard — room {r}"));
    // One pass over the template, so a value can never be mistaken for a later placeholder.
    let mut out = String::with_capacity(INDEX_TEMPLATE.len() + loading.len() + 256);
    let mut rest = INDEX_TEMPLATE;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let (value, len) = if after.starts_with("{{TITLE}}") {
            (html_escape(&title), "{{TITLE}}".len())
        } else if after.starts_with("{{HEADER}}") {
            (header_html.clone(), "{{HEADER}}".len())
        } else if after.starts_with("{{LOADING_PARAMS}}") {
            (loading.clone(), "{{LOADING_PARAMS}}".len())
        } else {
            ("{{".to_string(), 2)
        };
        out.push_str(&value);
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}
