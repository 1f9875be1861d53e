//! The typed, validated configuration: defaults ← TOML file ← environment ← flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_api::{HttpConfig, PublicUrl, ServeConfig};
use rooms::RoomLimits;
use signaling::HubConfig;

use crate::options::{LogFormat, Options};
use crate::tls::{AcmeSettings, Challenge, TlsMode};
use turn::core::{PortRange, Quotas, StaticUser};

/// A configuration error that names the key at fault and what would fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML of the expected shape.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the key.
        message: String,
    },
    /// One option has a value that cannot work.
    #[error("invalid value for `{key}` (flag --{flag}, env SWITCHBOARD_{env}): {message}")]
    Invalid {
        /// TOML key.
        key: &'static str,
        /// Flag name.
        flag: String,
        /// Environment variable suffix.
        env: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, flag: key.replace('_', "-"), env: key.to_ascii_uppercase(), message: message.into() }
}

/// Everything the process runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// State directory.
    pub data_dir: PathBuf,
    /// Log filter.
    pub log: String,
    /// Log format.
    pub log_format: LogFormat,
    /// HTTP-layer settings.
    pub http: HttpConfig,
    /// Accept-loop settings.
    pub serve: ServeConfig,
    /// Room server limits.
    pub rooms: RoomLimits,
    /// Signaling limits.
    pub hub: HubConfig,
    /// The built-in STUN/TURN server, unless disabled.
    pub turn: Option<TurnSettings>,
    /// Where the HTTPS certificate comes from.
    pub tls: TlsMode,
    /// TURN over TLS listen address (with TLS on and TURN enabled).
    pub turn_tls_listen: Option<SocketAddr>,
}

/// The built-in TURN server's settings. Not `Debug`: it holds secrets.
#[derive(Clone)]
pub struct TurnSettings {
    /// UDP and TCP listen address.
    pub listen: SocketAddr,
    /// IPv6 listen address (RFC 6156), if any.
    pub listen_v6: ListenV6,
    /// Advertised IPv6 relay address, if set.
    pub external_ip_v6: Option<std::net::IpAddr>,
    /// Relay ports.
    pub relay_ports: PortRange,
    /// Advertised relay address, if set.
    pub external_ip: Option<std::net::IpAddr>,
    /// Realm.
    pub realm: String,
    /// REST secrets; empty means "generate one in the data directory".
    pub secrets: Vec<String>,
    /// Static users.
    pub users: Vec<StaticUser>,
    /// Peer networks allowed despite the deny-list.
    pub allow_peers: Vec<ipnet::IpNet>,
    /// Loopback peers allowed (tests only).
    pub allow_loopback_peers: bool,
    /// RFC 5766 channel range accepted.
    pub rfc5766_channels: bool,
    /// Resource limits.
    pub quotas: Quotas,
    /// UDP worker sockets.
    pub workers: usize,
    /// Lifetime of minted credentials.
    pub credential_ttl: Duration,
}

/// Whether and where TURN listens on IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenV6 {
    /// `[::]` on the TURN port when the IPv4 listen address is 0.0.0.0 and IPv6 works here.
    Auto,
    /// IPv4 only.
    Off,
    /// This address.
    At(SocketAddr),
}

impl std::fmt::Debug for TurnSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnSettings").field("listen", &self.listen).field("realm", &self.realm).finish_non_exhaustive()
    }
}

fn resolve_turn(o: &Options) -> Result<Option<TurnSettings>, ConfigError> {
    if !o.turn_enabled.unwrap_or(true) {
        return Ok(None);
    }
    let relay_ports = PortRange::parse(o.turn_relay_ports.as_deref().unwrap_or("49152-65535")).map_err(|m| invalid("turn_relay_ports", m))?;
    let mut users = Vec::new();
    for entry in &o.turn_users {
        let Some((user, pass)) = entry.split_once(':').filter(|(u, p)| !u.is_empty() && !p.is_empty()) else {
            return Err(invalid("turn_users", "each user must be USER:PASSWORD (the value is not shown)"));
        };
        users.push(StaticUser { username: user.to_string(), password: pass.to_string() });
    }
    if o.turn_secrets.iter().any(|s| s.len() < 8) {
        return Err(invalid("turn_secrets", "each secret must be at least 8 characters (the value is not shown)"));
    }
    let mut allow_peers = Vec::new();
    for cidr in &o.turn_allow_peers {
        let net = cidr
            .parse::<ipnet::IpNet>()
            .or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| invalid("turn_allow_peers", format!("{cidr:?} is not a CIDR such as 10.0.0.0/8")))?;
        allow_peers.push(net);
    }
    let quotas = Quotas {
        max_allocations: at_least("turn_max_allocations", o.turn_max_allocations.unwrap_or(10_000), 1)?,
        per_user: at_least("turn_user_quota", o.turn_user_quota.unwrap_or(10), 1)?,
        permissions_per_allocation: at_least("turn_max_permissions", o.turn_max_permissions.unwrap_or(10), 1)?,
        channels_per_allocation: at_least("turn_max_channels", o.turn_max_channels.unwrap_or(64), 1)?,
        tcp_connections_per_allocation: at_least("turn_max_tcp_connections", o.turn_max_tcp_connections.unwrap_or(32), 1)?,
    };
    let listen_v6 = match o.turn_listen_v6.as_deref().unwrap_or("auto") {
        "auto" => ListenV6::Auto,
        "off" => ListenV6::Off,
        other => match other.parse::<SocketAddr>() {
            Ok(addr) if addr.is_ipv6() => ListenV6::At(addr),
            _ => return Err(invalid("turn_listen_v6", format!("{other:?} is not an IPv6 address like [::]:3478, \"auto\" or \"off\""))),
        },
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    Ok(Some(TurnSettings {
        listen: o.turn_listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 3478))),
        listen_v6,
        external_ip_v6: o.turn_external_ip_v6,
        relay_ports,
        external_ip: o.turn_external_ip,
        realm: o.turn_realm.clone().unwrap_or_else(|| "switchboard".into()),
        secrets: o.turn_secrets.clone(),
        users,
        allow_peers,
        allow_loopback_peers: o.turn_allow_loopback_peers.unwrap_or(false),
        rfc5766_channels: o.turn_rfc5766_channels.unwrap_or(false),
        quotas,
        workers: at_least("turn_workers", o.turn_workers.unwrap_or(cores), 1)?,
        credential_ttl: duration("turn_credential_ttl", o.turn_credential_ttl.as_deref(), "24h")?,
    }))
}

impl Config {
    /// Reads the file named by `cli.config` (if any), merges, applies defaults and validates.
    pub fn load(cli: Options) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => Options::default(),
        };
        Self::resolve(cli.over(file))
    }

    /// Applies defaults to merged options and validates them.
    pub fn resolve(o: Options) -> Result<Self, ConfigError> {
        let turn = resolve_turn(&o)?;
        let (tls, listen) = resolve_tls(&o)?;
        let turn_tls_listen = match (&tls, &turn, o.turn_tls_listen.as_deref()) {
            (_, None, _) | (_, _, Some("off")) => None,
            (TlsMode::Off, _, None) => None,
            (_, _, Some(text)) => Some(text.parse::<SocketAddr>().map_err(|_| invalid("turn_tls_listen", format!("{text:?} is not an address like 0.0.0.0:5349, or \"off\"")))?),
            // Beside the TURN port: 5349 (RFC 8656's turns: port), or a free port when TURN
            // itself takes one (tests).
            (_, Some(t), None) => Some(SocketAddr::new(t.listen.ip(), if t.listen.port() == 0 { 0 } else { 5349 })),
        };
        let public_url = o
            .public_url
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| PublicUrl::parse(s).map_err(|m| invalid("public_url", m)))
            .transpose()?;
        let max_id_len = at_least("max_id_len", o.max_id_len.unwrap_or(64), 1)?;
        if max_id_len > 256 {
            return Err(invalid("max_id_len", "must be at most 256"));
        }
        let max_body_bytes = at_least("max_body_bytes", o.max_body_bytes.unwrap_or(64 * 1024), 1024)?;
        let max_ws_frame_bytes = at_least("max_ws_frame_bytes", o.max_ws_frame_bytes.unwrap_or(64 * 1024), 1024)?;
        let ws_idle_timeout = duration("ws_idle_timeout", o.ws_idle_timeout.as_deref(), "120s")?;
        if ws_idle_timeout < Duration::from_secs(3) {
            return Err(invalid("ws_idle_timeout", "must be at least 3s (pings go out every third of it)"));
        }
        let request_timeout = duration("request_timeout", o.request_timeout.as_deref(), "30s")?;
        for url in &o.ice_servers {
            if !["stun:", "stuns:", "turn:", "turns:"].iter().any(|p| url.starts_with(p)) {
                return Err(invalid("ice_servers", format!("{url:?} is not a stun:, stuns:, turn: or turns: URL")));
            }
        }
        let http = HttpConfig {
            public_url,
            max_id_len,
            max_body_bytes,
            max_ws_frame_bytes,
            ws_idle_timeout,
            request_timeout,
            ice_servers: o.ice_servers,
            header_message: o.header_message.unwrap_or_default(),
            bypass_join_confirmation: o.bypass_join_confirmation.unwrap_or(false),
            turn: None,
        };
        let serve = ServeConfig {
            max_connections: at_least("max_connections", o.max_connections.unwrap_or(16_384), 1)?,
            header_read_timeout: request_timeout,
            drain_timeout: duration("drain_timeout", o.drain_timeout.as_deref(), "10s")?,
        };
        let rooms = RoomLimits {
            ttl: duration("room_ttl", o.room_ttl.as_deref(), "24h")?,
            max_stored_messages: at_least("max_stored_messages", o.max_stored_messages.unwrap_or(256), 1)?,
            max_rooms: at_least("max_rooms", o.max_rooms.unwrap_or(100_000), 1)?,
        };
        let hub = HubConfig {
            reconnect_window: duration("reconnect_window", o.reconnect_window.as_deref(), "10s")?,
            max_queued_messages: at_least("max_queued_messages", o.max_queued_messages.unwrap_or(1024), 1)?,
        };
        if rooms.ttl.is_zero() {
            return Err(invalid("room_ttl", "must be more than 0"));
        }
        if hub.reconnect_window.is_zero() {
            return Err(invalid("reconnect_window", "must be more than 0"));
        }
        Ok(Self {
            turn,
            tls,
            turn_tls_listen,
            listen,
            data_dir: o.data_dir.unwrap_or_else(|| PathBuf::from("switchboard-data")),
            log: o.log.unwrap_or_else(|| "info".into()),
            log_format: o.log_format.unwrap_or(LogFormat::Text),
            http,
            serve,
            rooms,
            hub,
        })
    }
}

/// The TLS mode and the HTTP listen address (whose default depends on it: 443 for ACME).
fn resolve_tls(o: &Options) -> Result<(TlsMode, SocketAddr), ConfigError> {
    let explicit_listen = o.listen;
    let mut domains = Vec::new();
    for d in &o.domains {
        domains.push(domain(d)?);
    }
    let mode = o.tls.as_deref().unwrap_or("auto");
    let mode = match mode {
        "auto" if !domains.is_empty() => "acme",
        "auto" if explicit_listen.is_some_and(|l| l.ip().is_loopback()) => "off",
        "auto" => "self-signed",
        other => other,
    };
    let tls = match mode {
        "off" => TlsMode::Off,
        "self-signed" => TlsMode::SelfSigned,
        "files" => match (&o.tls_cert, &o.tls_key) {
            (Some(cert), Some(key)) => TlsMode::Files { cert: cert.clone(), key: key.clone() },
            (None, _) => return Err(invalid("tls_cert", "--tls files needs --tls-cert FILE (PEM certificate chain) and --tls-key FILE")),
            (_, None) => return Err(invalid("tls_key", "--tls files needs --tls-key FILE (PEM private key) beside --tls-cert")),
        },
        "acme" => {
            if domains.is_empty() {
                return Err(invalid("domains", "--tls acme needs at least one --domain NAME (a DNS name pointing at this machine, or its public IP address)"));
            }
            let directory = match o.acme_directory.as_deref().unwrap_or("production") {
                "production" | "letsencrypt" => crate::tls::acme::PRODUCTION.to_string(),
                "staging" => crate::tls::acme::STAGING.to_string(),
                url if url.starts_with("https://") => url.to_string(),
                other => return Err(invalid("acme_directory", format!("{other:?} is not \"production\", \"staging\" or an https:// directory URL"))),
            };
            let email = o.acme_email.clone().filter(|e| !e.is_empty());
            if email.as_ref().is_some_and(|e| !e.contains('@') || e.contains(char::is_whitespace)) {
                return Err(invalid("acme_email", "is not an e-mail address"));
            }
            let http_listen = match o.acme_http_listen.as_deref().unwrap_or("0.0.0.0:80") {
                "off" => None,
                text => Some(text.parse::<SocketAddr>().map_err(|_| invalid("acme_http_listen", format!("{text:?} is not an address like 0.0.0.0:80, or \"off\"")))?),
            };
            let challenge = match o.acme_challenge.as_deref() {
                None | Some("auto") => if http_listen.is_some() { Challenge::Http01 } else { Challenge::TlsAlpn01 },
                Some("http-01") => Challenge::Http01,
                Some("tls-alpn-01") => Challenge::TlsAlpn01,
                Some(other) => return Err(invalid("acme_challenge", format!("{other:?} is not \"http-01\" or \"tls-alpn-01\""))),
            };
            if challenge == Challenge::Http01 && http_listen.is_none() {
                return Err(invalid("acme_challenge", "http-01 needs the plain listener: set --acme-http-listen to an address (port 80), or use tls-alpn-01"));
            }
            TlsMode::Acme(AcmeSettings { domains, directory, email, ca_root: o.acme_ca_root.clone(), challenge, http_listen })
        }
        other => return Err(invalid("tls", format!("{other:?} is not one of auto, off, self-signed, files, acme"))),
    };
    if !matches!(tls, TlsMode::Acme(_)) && !o.domains.is_empty() {
        return Err(invalid("domains", format!("--domain is for --tls acme, but --tls is {}", tls.name())));
    }
    let default_port = if matches!(tls, TlsMode::Acme(_)) { 443 } else { 8080 };
    let listen = explicit_listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], default_port)));
    Ok((tls, listen))
}

/// A `--domain` value: an IP address, or a DNS name (no wildcards: HTTP-01 and TLS-ALPN-01
/// cannot prove them).
fn domain(text: &str) -> Result<String, ConfigError> {
    let t = text.trim().trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = t.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        return Ok(ip.to_string());
    }
    let label_ok = |l: &str| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if t.len() > 253 || !t.split('.').all(label_ok) {
        return Err(invalid("domains", format!("{text:?} is not a DNS name or IP address (wildcards need DNS-01, which is not supported)")));
    }
    Ok(t)
}

fn read_file(path: &Path) -> Result<Options, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })
}

fn duration(key: &'static str, value: Option<&str>, default: &str) -> Result<Duration, ConfigError> {
    let text = value.unwrap_or(default);
    humantime::parse_duration(text).map_err(|e| invalid(key, format!("{text:?} is not a duration ({e}); write e.g. 10s, 500ms, 24h")))
}

fn at_least(key: &'static str, value: usize, min: usize) -> Result<usize, ConfigError> {
    if value < min {
        return Err(invalid(key, format!("{value} is too small; the minimum is {min}")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_work_on_a_laptop() {
        let c = Config::resolve(Options::default()).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
        assert!(matches!(c.tls, TlsMode::SelfSigned), "a LAN needs HTTPS for the camera");
        assert_eq!(c.hub.reconnect_window, Duration::from_secs(10));
        assert_eq!(c.hub.max_queued_messages, 1024);
        assert_eq!(c.rooms.ttl, Duration::from_secs(86_400));
    }

    #[test]
    fn flags_win_over_file_which_wins_over_defaults() {
        let file: Options = toml::from_str("listen = \"127.0.0.1:9000\"\nreconnect_window = \"3s\"\nmax_rooms = 5\n").unwrap();
        let cli = Options::parse_from(["switchboard", "--reconnect-window", "1s"]);
        let c = Config::resolve(cli.over(file)).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(c.hub.reconnect_window, Duration::from_secs(1));
        assert_eq!(c.rooms.max_rooms, 5);
    }

    #[test]
    fn errors_name_the_key() {
        let o = Options { reconnect_window: Some("soon".into()), ..Options::default() };
        let e = Config::resolve(o).unwrap_err().to_string();
        assert!(e.contains("reconnect_window") && e.contains("--reconnect-window") && e.contains("SWITCHBOARD_RECONNECT_WINDOW"), "{e}");
        let o = Options { public_url: Some("calls.example.org".into()), ..Options::default() };
        assert!(Config::resolve(o).unwrap_err().to_string().contains("public_url"));
        let e = toml::from_str::<Options>("listne = \"x\"").unwrap_err().to_string();
        assert!(e.contains("listne"), "{e}");
        let o = Options { ice_servers: vec!["http://x".into()], ..Options::default() };
        assert!(Config::resolve(o).unwrap_err().to_string().contains("ice_servers"));
    }

    #[test]
    fn tls_defaults_follow_the_listen_address_and_domains() {
        let local = Options { listen: Some("127.0.0.1:0".parse().unwrap()), ..Options::default() };
        assert!(matches!(Config::resolve(local).unwrap().tls, TlsMode::Off));
        let o = Options { domains: vec!["Calls.Example.org".into(), "203.0.113.7".into()], ..Options::default() };
        let c = Config::resolve(o).unwrap();
        assert_eq!(c.listen.port(), 443);
        let TlsMode::Acme(a) = c.tls else { panic!("acme expected") };
        assert_eq!(a.domains, vec!["calls.example.org".to_string(), "203.0.113.7".to_string()]);
        assert_eq!(a.challenge, Challenge::Http01);
        assert!(a.directory.contains("letsencrypt"));
        let o = Options { tls: Some("files".into()), ..Options::default() };
        assert!(Config::resolve(o).unwrap_err().to_string().contains("--tls-cert"));
        let o = Options { domains: vec!["*.example.org".into()], ..Options::default() };
        assert!(Config::resolve(o).unwrap_err().to_string().contains("domains"));
        let o = Options { tls: Some("acme".into()), ..Options::default() };
        assert!(Config::resolve(o).unwrap_err().to_string().contains("--domain"));
        let o = Options { tls: Some("acme".into()), domains: vec!["a.test".into()], acme_http_listen: Some("off".into()), ..Options::default() };
        let TlsMode::Acme(a) = Config::resolve(o).unwrap().tls else { panic!() };
        assert_eq!(a.challenge, Challenge::TlsAlpn01);
    }
}
