//! Starting the built-in STUN/TURN server from the configuration, and the secret it shares with
//! the room server.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use anyhow::Context;
use turn::core::{Credentials, ServerConfig};
use turn::io::{RunningTurn, TurnIoConfig};
use turn::policy::PeerPolicy;

use crate::config::{ListenV6, TurnSettings};

/// Whether this machine can bind an IPv6 socket at all.
fn ipv6_works() -> bool {
    std::net::UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).is_ok()
}

/// The first global (not loopback, not link-local) IPv6 address of this machine.
fn first_global_ipv6() -> Option<IpAddr> {
    if_addrs::get_if_addrs().ok()?.into_iter().map(|i| i.ip()).find(|ip| match ip {
        IpAddr::V6(v6) => !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80,
        IpAddr::V4(_) => false,
    })
}

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

    let listen_v6 = match settings.listen_v6 {
        ListenV6::Off => None,
        ListenV6::At(addr) => Some(addr),
        ListenV6::Auto if listen_ip.is_unspecified() && ipv6_works() => Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), settings.listen.port())),
        ListenV6::Auto => None,
    };
    let advertised_v6 = listen_v6.map(|addr| {
        settings
            .external_ip_v6
            .or_else(|| (!addr.ip().is_unspecified()).then_some(addr.ip()))
            .or_else(first_global_ipv6)
            .unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST))
    });

    let mut policy = PeerPolicy::new().allow_loopback(settings.allow_loopback_peers);
    for net in &settings.allow_peers {
        policy = policy.allow(*net);
    }
    for ip in [listen_ip, advertised, relay_bind_ip].into_iter().chain(listen_v6.map(|a| a.ip())).chain(advertised_v6) {
        policy = policy.add_server_address(ip);
    }
    if settings.allow_loopback_peers {
        tracing::warn!("TURN peers on loopback are ALLOWED (--turn-allow-loopback-peers): any TURN user can reach services on this machine. Use this for tests only.");
    }

    let credentials = Credentials::new(&settings.realm, &settings.users, &secrets);
    let mut core = ServerConfig::new(settings.realm.clone(), relay_bind_ip, settings.relay_ports, credentials);
    core.external_ip_v4 = Some(advertised);
    core.relay_ip_v6 = listen_v6.map(|a| a.ip());
    core.external_ip_v6 = advertised_v6;
    core.policy = policy;
    core.quotas = settings.quotas.clone();
    core.rfc5766_channels = settings.rfc5766_channels;
    let running = turn::io::start(TurnIoConfig { listen: settings.listen, listen_v6, workers: settings.workers, core })
        .await
        .with_context(|| format!("cannot listen for TURN on {} (option `turn_listen`, --turn-listen)", settings.listen))?;
    let bound: SocketAddr = running.local_addr;
    println!("TURN listening on {bound}");
    if let Some(v6) = running.local_addr_v6 {
        println!("TURN listening on {v6}");
    }
    tracing::info!(%bound, %advertised, relay_ports = %format!("{}-{}", settings.relay_ports.min, settings.relay_ports.max), "TURN serving");

    let host = settings
        .external_ip
        .or_else(|| (!listen_ip.is_unspecified()).then_some(listen_ip))
        .map(|ip| match ip {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        });
    let advert = http_api::TurnAdvert { secret: secrets[0].clone(), port: bound.port(), host, ttl: settings.credential_ttl, tls_port: None };
    Ok(StartedTurn { running, advert })
}
