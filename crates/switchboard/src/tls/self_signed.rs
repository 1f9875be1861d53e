//! `--tls self-signed`: a certificate made here at first start (rcgen, ECDSA P-256), kept in the
//! data directory, naming localhost, this machine's host name (and `NAME.local` for mDNS) and
//! every address of its interfaces, so a phone on the same LAN can open `https://ADDRESS:PORT`
//! after accepting the certificate once. When an address appears that the kept certificate does
//! not name (a new DHCP lease), or it nears its end, a new one is made (its fingerprint changes).

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, SanType};

use super::store::{self, write_private};

/// Lifetime of a generated certificate: under Apple's 825-day limit for any TLS server
/// certificate, user-trusted ones included.
const LIFETIME: Duration = Duration::from_secs(800 * 86_400);
/// A kept certificate with less left than this is replaced.
const MIN_LEFT: Duration = Duration::from_secs(30 * 86_400);

/// The names a LAN certificate should carry.
pub fn wanted_names() -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    if let Some(host) = hostname() {
        names.push(host.clone());
        if !host.contains('.') {
            names.push(format!("{host}.local"));
        }
    }
    let mut ips: Vec<IpAddr> = vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST)];
    if let Ok(interfaces) = if_addrs::get_if_addrs() {
        ips.extend(interfaces.into_iter().map(|i| i.ip()).filter(|ip| match ip {
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
            IpAddr::V4(_) => true,
        }));
    }
    for ip in ips {
        let s = ip.to_string();
        if !names.contains(&s) {
            names.push(s);
        }
    }
    names
}

fn hostname() -> Option<String> {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").or_else(|_| std::fs::read_to_string("/etc/hostname")).ok()?;
    let host = raw.trim().to_ascii_lowercase();
    let valid = !host.is_empty() && host != "localhost" && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then_some(host)
}

/// The kept certificate and key (PEM) if they cover `names` and have time left; otherwise new
/// ones, written to `dir` (key 0600).
pub fn load_or_create(dir: &Path, names: &[String]) -> anyhow::Result<(Vec<u8>, Vec<u8>, bool)> {
    let cert_path = dir.join("self-signed-cert.pem");
    let key_path = dir.join("self-signed-key.pem");
    let mut keep_names: Vec<String> = Vec::new();
    if let (Ok(cert), Ok(key)) = (std::fs::read(&cert_path), std::fs::read(&key_path)) {
        if let Ok(ck) = store::certified_key(&cert, &key, "self-signed certificate") {
            let leaf = ck.cert[0].as_ref();
            let have = store::subject_names(leaf);
            let fresh = store::validity(leaf).is_ok_and(|(_, not_after)| not_after > SystemTime::now() + MIN_LEFT);
            if fresh && names.iter().all(|n| have.contains(n)) {
                return Ok((cert, key, false));
            }
            // Keep names an older certificate had (an interface that is down right now).
            keep_names = have;
        }
    }
    let mut all: Vec<String> = names.to_vec();
    for n in keep_names {
        if !all.contains(&n) {
            all.push(n);
        }
    }
    let (cert, key) = generate(&all)?;
    write_private(&key_path, key.as_bytes())?;
    write_private(&cert_path, cert.as_bytes())?;
    Ok((cert.into_bytes(), key.into_bytes(), true))
}

/// A new self-signed server certificate for `names` (DNS names or IP addresses), as PEM.
pub fn generate(names: &[String]) -> anyhow::Result<(String, String)> {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "Switchboard (self-signed)");
    params.distinguished_name.push(DnType::OrganizationName, "Switchboard");
    for name in names {
        let san = match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(name.clone().try_into().with_context(|| format!("{name:?} is not a DNS name"))?),
        };
        params.subject_alt_names.push(san);
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::try_from(LIFETIME).unwrap_or(time::Duration::days(800));
    let key = KeyPair::generate().context("generating a key pair")?;
    let cert = params.self_signed(&key).context("signing the self-signed certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_until_a_name_is_missing() {
        let dir = std::env::temp_dir().join(format!("sb-selfsigned-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let (c1, _, new1) = load_or_create(&dir, &names).unwrap();
        assert!(new1);
        let (c2, _, new2) = load_or_create(&dir, &names).unwrap();
        assert!(!new2);
        assert_eq!(c1, c2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("self-signed-key.pem")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let more = vec!["localhost".to_string(), "10.1.2.3".to_string()];
        let (c3, _, new3) = load_or_create(&dir, &more).unwrap();
        assert!(new3 && c3 != c1);
        let ck = store::certified_key(&c3, &std::fs::read(dir.join("self-signed-key.pem")).unwrap(), "t").unwrap();
        let have = store::subject_names(ck.cert[0].as_ref());
        assert!(have.contains(&"127.0.0.1".to_string()) && have.contains(&"10.1.2.3".to_string()), "{have:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
