//! Starting the built-in STUN/TURN server from the configuration, and the secret it shares with
//! the room server.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use anyhow::Context;
use turn::core::{Credentials, ServerConfig};
use turn::io::{RunningTurn, TurnIoConfig};
use turn::policy::PeerPolicy;

use crate::config::TurnSettings;

/// The running TURN server and what the room server tells clients about it.
pub struct StartedTurn {
    /// The server's tasks.
    pub running: RunningTurn,
    /// The advertisement for the ICE config.
    pub advert: http_api::TurnAdvert,
}

/// Reads the REST secret from `data_dir/turn-secret`, creating it (mode 0600) on first start.
fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("turn-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 16 {
            return Ok(existing);
        }
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating the data directory {} (option `data_dir`)", data_dir.display()))?;
    let secret: String = (0..32).map(|_| format!("{:02x}", rand_byte())).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(secret.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a TURN REST secret");
    Ok(secret)
}

fn rand_byte() -> u8 {
    rand::random()
}

/// Binds the TURN sockets and starts serving.
pub async fn start(settings: &TurnSettings, data_dir: &Path) -> anyhow::Result<StartedTurn> {
    let mut secrets = settings.secrets.clone();
    if secrets.is_empty() {
        secrets.push(load_or_create_secret(data_dir)?);
    }
    let listen_ip = settings.listen.ip();
    let relay_bind_ip = if listen_ip.is_unspecified() { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { listen_ip };
    let advertised = settings
        .external_ip
        .or_else(|| (!listen_ip.is_unspecified()).then_some(listen_ip))
        .or_else(turn::io::first_lan_ipv4)
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));

    let mut policy = PeerPolicy::new().allow_loopback(settings.allow_loopback_peers);
    for net in &settings.allow_peers {
        policy = policy.allow(*net);
    }
    for ip in [listen_ip, advertised, relay_bind_ip] {
        policy = policy.add_server_address(ip);
    }
    if settings.allow_loopback_peers {
        tracing::warn!("TURN peers on loopback are ALLOWED (--turn-allow-loopback-peers): any TURN user can reach services on this machine. Use this for tests only.");
    }

    let credentials = Credentials::new(&settings.realm, &settings.users, &secrets);
    let mut core = ServerConfig::new(settings.realm.clone(), relay_bind_ip, settings.relay_ports, credentials);
    core.external_ip_v4 = Some(advertised);
    core.policy = policy;
    core.quotas = settings.quotas.clone();
    core.rfc5766_channels = settings.rfc5766_channels;
    let running = turn::io::start(TurnIoConfig { listen: settings.listen, workers: settings.workers, core })
        .await
        .with_context(|| format!("cannot listen for TURN on {} (option `turn_listen`, --turn-listen)", settings.listen))?;
    let bound: SocketAddr = running.local_addr;
    println!("TURN listening on {bound}");
    tracing::info!(%bound, %advertised, relay_ports = %format!("{}-{}", settings.relay_ports.min, settings.relay_ports.max), "TURN serving");

    let host = settings
        .external_ip
        .or_else(|| (!listen_ip.is_unspecified()).then_some(listen_ip))
        .map(|ip| match ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        });
    let advert = http_api::TurnAdvert { secret: secrets[0].clone(), port: bound.port(), host, ttl: settings.credential_ttl };
    Ok(StartedTurn { running, advert })
}
