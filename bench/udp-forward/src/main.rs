//! `udp-forward`: the machine's reference limit for a TURN relay.
//!
//! One process, five threads, all on 127.0.0.1:
//!
//! ```text
//! client --> [L] forwarder [R] --> echo
//! client <-- [L] forwarder [R] <-- echo
//! ```
//!
//! The forwarder owns two sockets, like a TURN server's listening socket and relay socket,
//! and runs one thread per direction. `--mode single` uses one `recvfrom` + one `sendto`
//! per datagram; `--mode batch` uses `recvmmsg`/`sendmmsg` with up to `--batch` datagrams
//! per call. The client and the echo always use batched I/O so that they stay cheap.
//! Each thread reads its own CPU clock, so the forwarder's CPU cost per delivered
//! (round-trip) packet is measured exactly, independent of the client and the echo.
//!
//! The client either offers a fixed rate (`--rate`, packets/s, paced every 200 µs) or, with
//! `--rate 0`, keeps `--window` packets in flight (closed loop, saturation).
//! Prints one JSON line on stdout.

#[allow(dead_code)] // process_cpu_secs is for turn-allocgen
mod sys;

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sys::{thread_cpu_secs, Batch};

struct Opts {
    mode: String,
    batch: usize,
    size: usize,
    rate: u64,
    window: u64,
    secs: f64,
}

fn usage() -> ! {
    eprintln!("usage: udp-forward [--mode single|batch] [--batch 32] [--size 100] [--rate PPS|0] [--window 256] [--secs 5]");
    std::process::exit(2)
}

fn parse() -> Opts {
    let mut o = Opts { mode: "single".into(), batch: 32, size: 100, rate: 50_000, window: 256, secs: 5.0 };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--mode" => o.mode = v(),
            "--batch" => o.batch = v().parse().unwrap_or_else(|_| usage()),
            "--size" => o.size = v().parse().unwrap_or_else(|_| usage()),
            "--rate" => o.rate = v().parse().unwrap_or_else(|_| usage()),
            "--window" => o.window = v().parse().unwrap_or_else(|_| usage()),
            "--secs" => o.secs = v().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if o.mode != "single" && o.mode != "batch" { usage() }
    o.batch = o.batch.clamp(1, 1024);
    o.size = o.size.clamp(1, 65_000);
    o.secs = o.secs.clamp(0.1, 600.0);
    o
}

fn v4(s: &UdpSocket) -> SocketAddrV4 {
    match s.local_addr().expect("local_addr") {
        SocketAddr::V4(a) => a,
        _ => unreachable!("bound to 127.0.0.1"),
    }
}

fn bind() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    s.set_read_timeout(Some(Duration::from_millis(50))).expect("SO_RCVTIMEO");
    s
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted)
}

/// One forwarder direction: datagrams arriving on `from` go out of `to`, addressed to `dest`.
/// Returns (datagrams forwarded, thread CPU seconds).
fn forward(from: UdpSocket, to: UdpSocket, dest: SocketAddrV4, mode: String, batch: usize,
           stop: Arc<AtomicBool>) -> (u64, f64) {
    let cpu0 = thread_cpu_secs();
    let mut n = 0u64;
    if mode == "single" {
        let mut buf = vec![0u8; 65_536];
        let dest = SocketAddr::V4(dest);
        while !stop.load(Ordering::Relaxed) {
            match from.recv_from(&mut buf) {
                Ok((len, _src)) => {
                    if to.send_to(&buf[..len], dest).is_ok() { n += 1; }
                }
                Err(e) if timed_out(&e) => {}
                Err(e) => panic!("forwarder recv: {e}"),
            }
        }
    } else {
        let mut b = Batch::new(batch, 65_536);
        let mut lens = vec![0usize; batch];
        while !stop.load(Ordering::Relaxed) {
            match b.recv(&from) {
                Ok(k) => {
                    for (i, l) in lens.iter_mut().enumerate().take(k) { *l = b.len(i); }
                    n += b.send(&to, &lens[..k], Some(dest)).unwrap_or(0) as u64;
                }
                Err(e) if timed_out(&e) => {}
                Err(e) => panic!("forwarder recvmmsg: {e}"),
            }
        }
    }
    (n, thread_cpu_secs() - cpu0)
}

/// Large socket buffers so that bursts are not dropped by the kernel before the forwarder runs.
fn set_bufs(s: &UdpSocket) {
    sys::set_buffers(s, 4 << 20);
}

fn main() {
    let o = parse();
    let stop = Arc::new(AtomicBool::new(false));

    let echo = bind();
    let fl = bind(); // forwarder listening socket (client side)
    let fr = bind(); // forwarder relay socket (peer side)
    let client = bind();
    let (echo_a, fl_a, fr_a, client_a) = (v4(&echo), v4(&fl), v4(&fr), v4(&client));
    echo.connect(fr_a).expect("connect echo");
    client.connect(fl_a).expect("connect client");
    for s in [&echo, &fl, &fr, &client] {
        set_bufs(s);
    }

    // Echo: always batched.
    let echo_t = {
        let stop = stop.clone();
        thread::spawn(move || {
            let cpu0 = thread_cpu_secs();
            let mut b = Batch::new(64, 65_536);
            let mut lens = vec![0usize; 64];
            while !stop.load(Ordering::Relaxed) {
                match b.recv(&echo) {
                    Ok(k) => {
                        for (i, l) in lens.iter_mut().enumerate().take(k) { *l = b.len(i); }
                        let _ = b.send(&echo, &lens[..k], None);
                    }
                    Err(e) if timed_out(&e) => {}
                    Err(e) => panic!("echo recvmmsg: {e}"),
                }
            }
            thread_cpu_secs() - cpu0
        })
    };

    let fwd_a = {
        let (from, to, stop, mode) = (fl.try_clone().unwrap(), fr.try_clone().unwrap(), stop.clone(), o.mode.clone());
        let batch = o.batch;
        thread::spawn(move || forward(from, to, echo_a, mode, batch, stop))
    };
    let fwd_b = {
        let (from, to, stop, mode) = (fr, fl, stop.clone(), o.mode.clone());
        let batch = o.batch;
        thread::spawn(move || forward(from, to, client_a, mode, batch, stop))
    };

    // Client receiver.
    let received = Arc::new(AtomicU64::new(0));
    let window = Arc::new((Mutex::new(()), Condvar::new()));
    let rx_stop = Arc::new(AtomicBool::new(false));
    let rx_t = {
        let (sock, received, window, rx_stop) = (client.try_clone().unwrap(), received.clone(), window.clone(), rx_stop.clone());
        thread::spawn(move || {
            let cpu0 = thread_cpu_secs();
            let mut b = Batch::new(64, 65_536);
            while !rx_stop.load(Ordering::Relaxed) {
                match b.recv(&sock) {
                    Ok(k) => {
                        received.fetch_add(k as u64, Ordering::Relaxed);
                        window.1.notify_one();
                    }
                    Err(e) if timed_out(&e) => {}
                    Err(e) => panic!("client recvmmsg: {e}"),
                }
            }
            thread_cpu_secs() - cpu0
        })
    };

    // Client sender (this thread).
    let cpu0 = thread_cpu_secs();
    let mut b = Batch::new(32, o.size);
    for i in 0..32 { b.buf_mut(i).fill(0x5a); }
    let lens = vec![o.size; 32];
    let start = Instant::now();
    let dur = Duration::from_secs_f64(o.secs);
    let mut sent = 0u64;
    let mut written_off = 0u64; // closed loop only: in-flight packets given up as lost
    while start.elapsed() < dur {
        let want = if o.rate > 0 {
            let due = (start.elapsed().as_secs_f64() * o.rate as f64) as u64;
            due.saturating_sub(sent).min(32)
        } else {
            let inflight = sent.saturating_sub(received.load(Ordering::Relaxed) + written_off);
            o.window.saturating_sub(inflight).min(32)
        };
        if want == 0 {
            if o.rate > 0 {
                thread::sleep(Duration::from_micros(200));
            } else {
                let before = received.load(Ordering::Relaxed);
                let g = window.0.lock().unwrap();
                let _ = window.1.wait_timeout(g, Duration::from_millis(5)).unwrap();
                let now = received.load(Ordering::Relaxed);
                // Nothing came back for 5 ms with a full window: the rest were dropped.
                if now == before {
                    written_off = sent.saturating_sub(now);
                }
            }
            continue;
        }
        match b.send(&client, &lens[..want as usize], None) {
            Ok(k) => sent += k as u64,
            Err(_) => thread::sleep(Duration::from_micros(100)),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let client_tx_cpu = thread_cpu_secs() - cpu0;
    thread::sleep(Duration::from_millis(300));
    rx_stop.store(true, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let client_rx_cpu = rx_t.join().unwrap();
    let echo_cpu = echo_t.join().unwrap();
    let (na, ca) = fwd_a.join().unwrap();
    let (nb, cb) = fwd_b.join().unwrap();
    let recv = received.load(Ordering::Relaxed);
    let fwd_cpu = ca + cb;
    let loss = if sent > 0 { 100.0 * sent.saturating_sub(recv) as f64 / sent as f64 } else { 0.0 };
    println!(
        "{{\"mode\":\"{}\",\"batch\":{},\"size\":{},\"offered_pps\":{},\"window\":{},\"secs\":{:.3},\"sent\":{},\"received\":{},\"loss_pct\":{:.3},\"pps\":{:.0},\"mbit_s\":{:.1},\"fwd_packets_out\":{},\"fwd_packets_back\":{},\"fwd_cpu_s\":{:.3},\"fwd_us_per_pkt\":{:.2},\"client_cpu_s\":{:.3},\"echo_cpu_s\":{:.3}}}",
        o.mode, if o.mode == "batch" { o.batch } else { 1 }, o.size, o.rate, o.window, elapsed,
        sent, recv, loss,
        recv as f64 / elapsed, recv as f64 * o.size as f64 * 8.0 / elapsed / 1e6,
        na, nb, fwd_cpu, if recv > 0 { fwd_cpu * 1e6 / recv as f64 } else { 0.0 },
        client_tx_cpu + client_rx_cpu, echo_cpu,
    );
}
