//! The startup banner: where to point a browser.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

/// Prints the bound address (a stable `Listening on ADDR` line that scripts parse), the TLS
/// note (certificate source and SHA-256 fingerprint) and the URLs to open: localhost and each
/// LAN address when listening on all interfaces.
pub fn print(bound: SocketAddr, public_url: Option<&str>, tls: Option<&str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Switchboard {} — rooms, signaling and web client on one port", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "Listening on {bound}");
    if let Some(note) = tls {
        let _ = writeln!(out, "{note}");
    }
    let _ = writeln!(out, "Open in a browser:");
    let scheme = if tls.is_some() { "https" } else { "http" };
    for url in urls(bound, public_url).into_iter().map(|u| match u.strip_prefix("http://") {
        Some(rest) => format!("{scheme}://{rest}"),
        None => u,
    }) {
        let _ = writeln!(out, "  {url}");
    }
    let _ = out.flush();
}

fn urls(bound: SocketAddr, public_url: Option<&str>) -> Vec<String> {
    let port = bound.port();
    let mut urls = Vec::new();
    if let Some(p) = public_url {
        urls.push(format!("{}/", p.trim_end_matches('/')));
    }
    let ip = bound.ip();
    if ip.is_unspecified() {
        urls.push(format!("http://localhost:{port}/"));
        if let Ok(interfaces) = if_addrs::get_if_addrs() {
            for iface in interfaces.into_iter().filter(|i| !i.is_loopback()) {
                let addr = iface.ip();
                let reachable = match addr {
                    IpAddr::V4(_) => true,
                    IpAddr::V6(v6) => ip.is_ipv6() && (v6.segments()[0] & 0xffc0) != 0xfe80,
                };
                if reachable {
                    urls.push(format!("http://{}/", SocketAddr::new(addr, port)));
                }
            }
        }
    } else if ip.is_loopback() {
        urls.push(format!("http://localhost:{port}/"));
    } else {
        urls.push(format!("http://{bound}/"));
    }
    urls
}
