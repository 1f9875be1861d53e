//! Every option, once: the same struct is parsed from the command line (with `SWITCHBOARD_*`
//! environment variables) and from the TOML file, then merged flags/env over file over defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use serde::Deserialize;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands; none serves everything.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the room server, signaling and web client (the default).
    Serve,
}

/// Switchboard: a complete self-hosted WebRTC calling service in one program — AppRTC-compatible
/// room server and Collider-compatible signaling on one port.
///
/// Every option can be given as a flag, as an environment variable (SWITCHBOARD_<NAME>), or as a
/// key in the TOML file named by --config (the flag name with '-' as '_'). Flags and environment
/// win over the file; the file wins over defaults. Durations are written like 10s, 500ms, 24h.
#[derive(Debug, Clone, Default, Parser, Deserialize)]
#[command(name = "switchboard", version, about, long_about, max_term_width = 100)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Subcommand (default: serve).
    #[command(subcommand)]
    #[serde(skip)]
    pub command: Option<Command>,

    /// TOML configuration file.
    #[arg(long, env = "SWITCHBOARD_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// HTTP (and WebSocket) listen address. [default: 0.0.0.0:8080]
    #[arg(long, env = "SWITCHBOARD_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Public base URL (scheme://host[:port]) used for room links and WebSocket URLs. [default:
    /// taken from each request's Host, X-Forwarded-Proto and X-Forwarded-Host headers]
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Directory for state kept across restarts (secrets, certificates). [default: ./switchboard-data]
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives such as
    /// "info,http_api=debug". [default: info]
    #[arg(long, env = "SWITCHBOARD_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// Log line format. [default: text]
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// How long a client whose WebSocket closed keeps its place before it is removed and its room
    /// seat freed (Collider's 10 s register timeout). [default: 10s]
    #[arg(long, env = "SWITCHBOARD_RECONNECT_WINDOW", value_name = "DURATION")]
    pub reconnect_window: Option<String>,

    /// A room not written for this long is forgotten. [default: 24h]
    #[arg(long, env = "SWITCHBOARD_ROOM_TTL", value_name = "DURATION")]
    pub room_ttl: Option<String>,

    /// A WebSocket that sends nothing, not even a pong to the server's pings, for this long is
    /// closed. Pings go out every third of it. [default: 120s]
    #[arg(long, env = "SWITCHBOARD_WS_IDLE_TIMEOUT", value_name = "DURATION")]
    pub ws_idle_timeout: Option<String>,

    /// Longest time for one HTTP request, and for a client to send its request headers. [default: 30s]
    #[arg(long, env = "SWITCHBOARD_REQUEST_TIMEOUT", value_name = "DURATION")]
    pub request_timeout: Option<String>,

    /// On SIGTERM or SIGINT, how long open connections may finish before the process exits. [default: 10s]
    #[arg(long, env = "SWITCHBOARD_DRAIN_TIMEOUT", value_name = "DURATION")]
    pub drain_timeout: Option<String>,

    /// Longest room or client id; ids are [A-Za-z0-9_-]. [default: 64]
    #[arg(long, env = "SWITCHBOARD_MAX_ID_LEN", value_name = "N")]
    pub max_id_len: Option<usize>,

    /// Largest HTTP request body; larger gets 413. [default: 65536]
    #[arg(long, env = "SWITCHBOARD_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Most messages a room stores while its first client waits for the second. [default: 256]
    #[arg(long, env = "SWITCHBOARD_MAX_STORED_MESSAGES", value_name = "N")]
    pub max_stored_messages: Option<usize>,

    /// Most messages queued per signaling client while its peer is not connected. [default: 1024]
    #[arg(long, env = "SWITCHBOARD_MAX_QUEUED_MESSAGES", value_name = "N")]
    pub max_queued_messages: Option<usize>,

    /// Largest WebSocket frame or message; larger closes that socket with code 1009. [default: 65536]
    #[arg(long, env = "SWITCHBOARD_MAX_WS_FRAME_BYTES", value_name = "BYTES")]
    pub max_ws_frame_bytes: Option<usize>,

    /// Most TCP connections open at once, WebSockets included; more are answered 503. The
    /// open-file limit is raised at start to fit. [default: 16384]
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Most rooms at once; a join that would create one more gets result ERROR. [default: 100000]
    #[arg(long, env = "SWITCHBOARD_MAX_ROOMS", value_name = "N")]
    pub max_rooms: Option<usize>,

    /// An ICE server URL (stun:, stuns:, turn:, turns:) returned by POST /v1alpha/iceconfig.
    /// Repeat the flag, or separate with commas in the environment variable. [default: none]
    #[arg(long = "ice-server", env = "SWITCHBOARD_ICE_SERVERS", value_name = "URL", value_delimiter = ',')]
    #[serde(default)]
    pub ice_servers: Vec<String>,

    /// Banner text the web client shows above the call. [default: none]
    #[arg(long, env = "SWITCHBOARD_HEADER_MESSAGE", value_name = "TEXT")]
    pub header_message: Option<String>,

    /// Join a room from its link without asking first. [default: false]
    #[arg(long, env = "SWITCHBOARD_BYPASS_JOIN_CONFIRMATION", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub bypass_join_confirmation: Option<bool>,
}

macro_rules! merge_fields {
    ($hi:ident, $lo:ident; $($field:ident),*) => {
        Options {
            command: $hi.command.or($lo.command),
            config: $hi.config.or($lo.config),
            ice_servers: if $hi.ice_servers.is_empty() { $lo.ice_servers } else { $hi.ice_servers },
            $($field: $hi.$field.or($lo.$field),)*
        }
    };
}

impl Options {
    /// `self` where set, otherwise `lower`.
    pub fn over(self, lower: Options) -> Options {
        let hi = self;
        let lo = lower;
        merge_fields!(hi, lo; listen, public_url, data_dir, log, log_format, reconnect_window, room_ttl,
            ws_idle_timeout, request_timeout, drain_timeout, max_id_len, max_body_bytes, max_stored_messages,
            max_queued_messages, max_ws_frame_bytes, max_connections, max_rooms, header_message,
            bypass_join_confirmation)
    }
}
