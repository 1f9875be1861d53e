//! `udp-echo`: an efficient UDP echo peer for the TURN benchmark (bench/turn.sh), so that at
//! saturation the peer is not the bottleneck (turnutils_peer uses one socket with the default
//! receive buffer and one recvfrom + sendto per datagram).
//!
//! Binds 127.0.0.1:`--port`, raises the receive and send buffers to `--buf` bytes
//! (SO_RCVBUFFORCE/SO_SNDBUFFORCE when permitted, else SO_RCVBUF/SO_SNDBUF, capped by
//! net.core.{r,w}mem_max) and sends every datagram back, unchanged, to the address it came
//! from, with recvmmsg/sendmmsg batches of up to `--batch`. `--threads N` runs N threads, each
//! with its own SO_REUSEPORT socket on the same port (the kernel spreads the flows by source
//! address). Runs until `--secs` have passed or SIGTERM/SIGINT arrives, then prints one JSON
//! line on stdout: datagrams received and sent, sends refused, the receive-buffer drops the
//! kernel counted on its sockets (SO_MEMINFO), the process's CPU seconds and the buffer sizes.

#[allow(dead_code)]
#[path = "../sys.rs"]
mod sys;

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use sys::{Batch, TERMINATED};

struct Opts {
    port: u16,
    threads: usize,
    batch: usize,
    buf: i32,
    secs: f64,
}

fn usage() -> ! {
    eprintln!("usage: udp-echo --port PORT [--threads 1] [--batch 64] [--buf 16777216] [--secs 600]");
    std::process::exit(2)
}

fn parse() -> Opts {
    let mut o = Opts { port: 0, threads: 1, batch: 64, buf: 16 << 20, secs: 600.0 };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--port" => o.port = v().parse().unwrap_or_else(|_| usage()),
            "--threads" => o.threads = v().parse().unwrap_or_else(|_| usage()),
            "--batch" => o.batch = v().parse().unwrap_or_else(|_| usage()),
            "--buf" => o.buf = v().parse().unwrap_or_else(|_| usage()),
            "--secs" => o.secs = v().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if o.port == 0 { usage() }
    o.threads = o.threads.clamp(1, 64);
    o.batch = o.batch.clamp(1, 1024);
    o.buf = o.buf.clamp(64 << 10, 1 << 30);
    o.secs = o.secs.clamp(0.1, 86_400.0);
    o
}

#[derive(Default)]
struct Counts {
    received: u64,
    sent: u64,
    send_failed: u64,
    calls: u64,
}

fn run(sock: &UdpSocket, batch: usize, deadline: Instant) -> Counts {
    let mut b = Batch::new(batch, 65_536);
    let mut c = Counts::default();
    while !TERMINATED.load(Ordering::Relaxed) && Instant::now() < deadline {
        match b.recv(sock) {
            Ok(k) => {
                c.calls += 1;
                c.received += k as u64;
                let (sent, failed) = b.send_back(sock, k);
                c.sent += sent as u64;
                c.send_failed += failed as u64;
            }
            Err(e) => match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted => {}
                // a pending ICMP error reported on the socket: not fatal for an echo
                std::io::ErrorKind::ConnectionRefused => {}
                _ => panic!("udp-echo recvmmsg: {e}"),
            },
        }
    }
    c
}

fn main() {
    let o = parse();
    sys::install_term_handler();
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, o.port);
    let reuse = o.threads > 1;
    let mut socks = Vec::with_capacity(o.threads);
    let (mut rcvbuf, mut sndbuf, mut forced) = (0, 0, true);
    for _ in 0..o.threads {
        let s = sys::bind_udp(addr, reuse).unwrap_or_else(|e| {
            eprintln!("udp-echo: bind {addr}: {e}");
            std::process::exit(1)
        });
        // short timeout so that each thread notices SIGTERM and the deadline promptly
        s.set_read_timeout(Some(Duration::from_millis(50))).expect("SO_RCVTIMEO");
        let (r, w, f) = sys::set_buffers_force(&s, o.buf);
        (rcvbuf, sndbuf, forced) = (r, w, forced && f);
        socks.push(s);
    }
    eprintln!("udp-echo: listening on {addr}, {} thread(s), rcvbuf {rcvbuf} sndbuf {sndbuf} (forced: {forced})", o.threads);

    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(o.secs);
    let cpu0 = sys::process_cpu_secs();
    let handles: Vec<_> = socks
        .iter()
        .map(|s| {
            let s = s.try_clone().expect("try_clone");
            let batch = o.batch;
            thread::spawn(move || run(&s, batch, deadline))
        })
        .collect();
    let mut t = Counts::default();
    for h in handles {
        let c = h.join().expect("echo thread");
        t.received += c.received;
        t.sent += c.sent;
        t.send_failed += c.send_failed;
        t.calls += c.calls;
    }
    let cpu = sys::process_cpu_secs() - cpu0;
    let elapsed = start.elapsed().as_secs_f64();
    let drops: Option<u64> = socks.iter().map(sys::socket_drops).sum();
    let term = TERMINATED.load(Ordering::Relaxed);
    println!(
        "{{\"peer\":\"udp-echo\",\"port\":{},\"threads\":{},\"batch\":{},\"rcvbuf\":{},\"sndbuf\":{},\"buf_forced\":{},\"secs\":{:.3},\"stopped_by\":\"{}\",\"received\":{},\"sent\":{},\"send_failed\":{},\"socket_drops\":{},\"avg_batch\":{:.2},\"cpu_s\":{:.3},\"cpu_share\":{:.3},\"us_per_pkt\":{:.3}}}",
        o.port, o.threads, o.batch, rcvbuf, sndbuf, forced, elapsed,
        if term { "signal" } else { "secs" },
        t.received, t.sent, t.send_failed,
        drops.map_or("null".to_string(), |d| d.to_string()),
        if t.calls > 0 { t.received as f64 / t.calls as f64 } else { 0.0 },
        cpu, if elapsed > 0.0 { cpu / elapsed } else { 0.0 },
        if t.received > 0 { cpu * 1e6 / t.received as f64 } else { 0.0 },
    );
}
