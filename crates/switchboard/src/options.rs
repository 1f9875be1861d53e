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
    /// Serve the room server, signaling, web client and TURN (the default).
    Serve,
    /// Run only the STUN/TURN server, for a dedicated relay node (takes the --turn-* options).
    Turn,
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
    #[arg(global = true, long, env = "SWITCHBOARD_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// HTTP (and WebSocket) listen address. [default: 0.0.0.0:8080]
    #[arg(global = true, long, env = "SWITCHBOARD_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Public base URL (scheme://host[:port]) used for room links and WebSocket URLs. [default:
    /// taken from each request's Host, X-Forwarded-Proto and X-Forwarded-Host headers]
    #[arg(global = true, long, env = "SWITCHBOARD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Directory for state kept across restarts (secrets, certificates). [default: ./switchboard-data]
    #[arg(global = true, long, env = "SWITCHBOARD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives such as
    /// "info,http_api=debug". [default: info]
    #[arg(global = true, long, env = "SWITCHBOARD_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// Log line format. [default: text]
    #[arg(global = true, long, env = "SWITCHBOARD_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// How long a client whose WebSocket closed keeps its place before it is removed and its room
    /// seat freed (Collider's 10 s register timeout). [default: 10s]
    #[arg(global = true, long, env = "SWITCHBOARD_RECONNECT_WINDOW", value_name = "DURATION")]
    pub reconnect_window: Option<String>,

    /// A room not written for this long is forgotten. [default: 24h]
    #[arg(global = true, long, env = "SWITCHBOARD_ROOM_TTL", value_name = "DURATION")]
    pub room_ttl: Option<String>,

    /// A WebSocket that sends nothing, not even a pong to the server's pings, for this long is
    /// closed. Pings go out every third of it. [default: 120s]
    #[arg(global = true, long, env = "SWITCHBOARD_WS_IDLE_TIMEOUT", value_name = "DURATION")]
    pub ws_idle_timeout: Option<String>,

    /// Longest time for one HTTP request, and for a client to send its request headers. [default: 30s]
    #[arg(global = true, long, env = "SWITCHBOARD_REQUEST_TIMEOUT", value_name = "DURATION")]
    pub request_timeout: Option<String>,

    /// On SIGTERM or SIGINT, how long calls in progress (WebSockets, TURN allocations) may go on
    /// while new joins are refused and /readyz answers 503; the process exits sooner when they
    /// all end. A second signal exits at once. [default: 10s]
    #[arg(global = true, long, env = "SWITCHBOARD_DRAIN_TIMEOUT", value_name = "DURATION")]
    pub drain_timeout: Option<String>,

    /// Longest room or client id; ids are [A-Za-z0-9_-]. [default: 64]
    #[arg(global = true, long, env = "SWITCHBOARD_MAX_ID_LEN", value_name = "N")]
    pub max_id_len: Option<usize>,

    /// Largest HTTP request body; larger gets 413. [default: 65536]
    #[arg(global = true, long, env = "SWITCHBOARD_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Most messages a room stores while its first client waits for the second. [default: 256]
    #[arg(global = true, long, env = "SWITCHBOARD_MAX_STORED_MESSAGES", value_name = "N")]
    pub max_stored_messages: Option<usize>,

    /// Most messages queued per signaling client while its peer is not connected. [default: 1024]
    #[arg(global = true, long, env = "SWITCHBOARD_MAX_QUEUED_MESSAGES", value_name = "N")]
    pub max_queued_messages: Option<usize>,

    /// Largest WebSocket frame or message; larger closes that socket with code 1009. [default: 65536]
    #[arg(global = true, long, env = "SWITCHBOARD_MAX_WS_FRAME_BYTES", value_name = "BYTES")]
    pub max_ws_frame_bytes: Option<usize>,

    /// Most TCP connections open at once, WebSockets included; more are answered 503. The
    /// open-file limit is raised at start to fit. [default: 16384]
    #[arg(global = true, long, env = "SWITCHBOARD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Most rooms at once; a join that would create one more gets result ERROR. [default: 100000]
    #[arg(global = true, long, env = "SWITCHBOARD_MAX_ROOMS", value_name = "N")]
    pub max_rooms: Option<usize>,

    /// An ICE server URL (stun:, stuns:, turn:, turns:) returned by POST /v1alpha/iceconfig.
    /// Repeat the flag, or separate with commas in the environment variable. [default: none]
    #[arg(global = true, long = "ice-server", env = "SWITCHBOARD_ICE_SERVERS", value_name = "URL", value_delimiter = ',')]
    #[serde(default)]
    pub ice_servers: Vec<String>,

    /// Banner text the web client shows above the call. [default: none]
    #[arg(global = true, long, env = "SWITCHBOARD_HEADER_MESSAGE", value_name = "TEXT")]
    pub header_message: Option<String>,

    /// Join a room from its link without asking first. [default: false]
    #[arg(global = true, long, env = "SWITCHBOARD_BYPASS_JOIN_CONFIRMATION", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub bypass_join_confirmation: Option<bool>,

    /// TLS for the HTTP listener (HTTPS and WSS on one port): "auto", "off", "self-signed",
    /// "files" or "acme". "auto" picks "acme" when --domain is given, "off" when listening on
    /// loopback only (browsers treat http://localhost as secure), and "self-signed" otherwise: a
    /// camera needs HTTPS on any other address, so a first start on a LAN works after accepting
    /// the certificate once. "off" is also for running behind a TLS proxy (X-Forwarded-* is then
    /// honoured). [default: auto]
    #[arg(global = true, long, env = "SWITCHBOARD_TLS", value_name = "MODE")]
    pub tls: Option<String>,

    /// Certificate chain (PEM) for --tls files; reloaded when the file changes and on SIGHUP.
    #[arg(global = true, long, env = "SWITCHBOARD_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) for --tls files; reloaded with the certificate.
    #[arg(global = true, long, env = "SWITCHBOARD_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// A DNS name or IP address to get an ACME certificate for (repeatable; the first is the
    /// certificate's main name). Giving one turns on --tls acme under "auto". [default: none]
    #[arg(global = true, long = "domain", env = "SWITCHBOARD_DOMAINS", value_name = "NAME", value_delimiter = ',')]
    #[serde(default)]
    pub domains: Vec<String>,

    /// ACME directory: "production" (Let's Encrypt), "staging" (Let's Encrypt's staging CA, for
    /// trying a setup without rate limits) or a directory URL. [default: production]
    #[arg(global = true, long, env = "SWITCHBOARD_ACME_DIRECTORY", value_name = "URL")]
    pub acme_directory: Option<String>,

    /// Contact e-mail given to the ACME CA (expiry warnings). [default: none]
    #[arg(global = true, long, env = "SWITCHBOARD_ACME_EMAIL", value_name = "EMAIL")]
    pub acme_email: Option<String>,

    /// Extra root CA (PEM) trusted for the ACME directory's own HTTPS, for private or test CAs
    /// such as pebble. [default: the Mozilla roots]
    #[arg(global = true, long, env = "SWITCHBOARD_ACME_CA_ROOT", value_name = "FILE")]
    pub acme_ca_root: Option<PathBuf>,

    /// ACME challenge: "http-01" (the CA fetches http://NAME/.well-known/acme-challenge/ on
    /// port 80, answered by --acme-http-listen) or "tls-alpn-01" (the CA connects to port 443,
    /// answered by the HTTPS listener). [default: http-01 when --acme-http-listen is on, else
    /// tls-alpn-01]
    #[arg(global = true, long, env = "SWITCHBOARD_ACME_CHALLENGE", value_name = "TYPE")]
    pub acme_challenge: Option<String>,

    /// Plain-HTTP listener for --tls acme: answers HTTP-01 challenges and redirects everything
    /// else to https. An address, or "off". [default: 0.0.0.0:80]
    #[arg(global = true, long, env = "SWITCHBOARD_ACME_HTTP_LISTEN", value_name = "ADDR|off")]
    pub acme_http_listen: Option<String>,

    /// TURN over TLS (turns:) listen address with the HTTPS certificate, or "off". STUN over TLS
    /// arriving on the HTTPS port is served too, whatever this says. [default: 0.0.0.0:5349
    /// when TLS is on and TURN enabled, else off]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_TLS_LISTEN", value_name = "ADDR|off")]
    pub turn_tls_listen: Option<String>,

    /// Run the built-in STUN/TURN server beside the room server. With false, give clients an
    /// external TURN server with --ice-server. [default: true]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_ENABLED", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub turn_enabled: Option<bool>,

    /// STUN/TURN listen address, UDP and TCP on the same port. [default: 0.0.0.0:3478]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_LISTEN", value_name = "ADDR")]
    pub turn_listen: Option<SocketAddr>,

    /// IPv6 listen address for IPv6 clients and relays (RFC 6156): an address, "auto" ([::] on
    /// the TURN port when --turn-listen is 0.0.0.0, if the machine has IPv6) or "off". [default: auto]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_LISTEN_V6", value_name = "ADDR|auto|off")]
    pub turn_listen_v6: Option<String>,

    /// The IPv6 relay address advertised to clients. [default: the IPv6 listen address, or the
    /// first global IPv6 address]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_EXTERNAL_IP_V6", value_name = "IP")]
    pub turn_external_ip_v6: Option<std::net::IpAddr>,

    /// Relay ports, LO-HI. [default: 49152-65535]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_RELAY_PORTS", value_name = "LO-HI")]
    pub turn_relay_ports: Option<String>,

    /// The relay address advertised to clients, when the machine sits behind 1:1 NAT or listens
    /// on all interfaces. [default: the listen address, or the first LAN address]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_EXTERNAL_IP", value_name = "IP")]
    pub turn_external_ip: Option<std::net::IpAddr>,

    /// TURN realm. [default: switchboard]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_REALM", value_name = "REALM")]
    pub turn_realm: Option<String>,

    /// TURN REST shared secret (repeat for rotation: the first mints, all verify). With none, one
    /// is generated and kept in the data directory. [default: generated]
    #[arg(global = true, long = "turn-secret", env = "SWITCHBOARD_TURN_SECRETS", value_name = "SECRET", value_delimiter = ',', hide_env_values = true)]
    #[serde(default)]
    pub turn_secrets: Vec<String>,

    /// Static TURN user as USER:PASSWORD (repeatable). [default: none]
    #[arg(global = true, long = "turn-user", env = "SWITCHBOARD_TURN_USERS", value_name = "USER:PASS", value_delimiter = ',', hide_env_values = true)]
    #[serde(default)]
    pub turn_users: Vec<String>,

    /// Peer network (CIDR) clients may relay to even though it is private or reserved
    /// (repeatable). [default: none: only public addresses]
    #[arg(global = true, long = "turn-allow-peer", env = "SWITCHBOARD_TURN_ALLOW_PEERS", value_name = "CIDR", value_delimiter = ',')]
    #[serde(default)]
    pub turn_allow_peers: Vec<String>,

    /// Let clients relay to loopback addresses. FOR TESTS ONLY: it exposes services on this
    /// machine to every TURN user. [default: false]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_ALLOW_LOOPBACK_PEERS", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub turn_allow_loopback_peers: Option<bool>,

    /// Accept RFC 5766 channel numbers (0x4000-0x7FFF) besides RFC 8656's 0x4000-0x4FFF, for
    /// older clients such as coturn's turnutils_uclient. [default: false]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_RFC5766_CHANNELS", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub turn_rfc5766_channels: Option<bool>,

    /// Allocations at once, all users together. [default: 10000]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_MAX_ALLOCATIONS", value_name = "N")]
    pub turn_max_allocations: Option<usize>,

    /// Allocations at once per user. [default: 10]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_USER_QUOTA", value_name = "N")]
    pub turn_user_quota: Option<usize>,

    /// Permissions per allocation. [default: 10]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_MAX_PERMISSIONS", value_name = "N")]
    pub turn_max_permissions: Option<usize>,

    /// Channels per allocation. [default: 64]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_MAX_CHANNELS", value_name = "N")]
    pub turn_max_channels: Option<usize>,

    /// TCP peer connections per TCP allocation (RFC 6062). [default: 32]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_MAX_TCP_CONNECTIONS", value_name = "N")]
    pub turn_max_tcp_connections: Option<usize>,

    /// UDP worker sockets. [default: the number of cores]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_WORKERS", value_name = "N")]
    pub turn_workers: Option<usize>,

    /// Lifetime of the TURN credentials the room server hands out. [default: 24h]
    #[arg(global = true, long, env = "SWITCHBOARD_TURN_CREDENTIAL_TTL", value_name = "DURATION")]
    pub turn_credential_ttl: Option<String>,
}

macro_rules! merge_fields {
    ($hi:ident, $lo:ident; $($field:ident),*) => {
        Options {
            command: $hi.command.or($lo.command),
            config: $hi.config.or($lo.config),
            ice_servers: if $hi.ice_servers.is_empty() { $lo.ice_servers } else { $hi.ice_servers },
            turn_secrets: if $hi.turn_secrets.is_empty() { $lo.turn_secrets } else { $hi.turn_secrets },
            turn_users: if $hi.turn_users.is_empty() { $lo.turn_users } else { $hi.turn_users },
            turn_allow_peers: if $hi.turn_allow_peers.is_empty() { $lo.turn_allow_peers } else { $hi.turn_allow_peers },
            domains: if $hi.domains.is_empty() { $lo.domains } else { $hi.domains },
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
            bypass_join_confirmation, turn_enabled, turn_listen, turn_listen_v6, turn_external_ip_v6, turn_relay_ports, turn_external_ip, turn_realm,
            turn_allow_loopback_peers, turn_rfc5766_channels, turn_max_allocations, turn_user_quota, turn_max_permissions, turn_max_channels,
            turn_max_tcp_connections, turn_workers, turn_credential_ttl, tls, tls_cert, tls_key, acme_directory, acme_email, acme_ca_root,
            acme_challenge, acme_http_listen, turn_tls_listen)
    }
}
