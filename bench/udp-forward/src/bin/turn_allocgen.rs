//! `turn-allocgen`: TURN allocation load generator (UDP, long-term credentials), used to
//! drive Switchboard and coturn identically.
//!
//! Each allocation uses its own client socket (its own 5-tuple) and goes:
//! `Allocate` (no credentials) -> 401 with REALM/NONCE -> `Allocate` with USERNAME, REALM,
//! NONCE, MESSAGE-INTEGRITY -> success (a 438 stale nonce is retried once with the new nonce).
//!
//! * `--mode cycle`: every cycle is allocate + `Refresh` with LIFETIME 0 (delete), then the
//!   socket is closed. Reports completed cycles per second.
//! * `--mode hold`: allocations are kept (sockets stay open) until `--count` are live; with
//!   `--server-pid`, the server's VmRSS is read before the first and after the last, giving
//!   memory per live allocation. Then waits `--hold-secs` and exits without freeing (the
//!   server is expected to be stopped by the calling script).
//!
//! `--concurrency` transactions run in flight on a single-threaded runtime; the whole run is
//! bounded by `--count` and `--secs`; every request is retransmitted at most 3 times
//! (500 ms apart). Prints one JSON line on stdout.

#[allow(dead_code)]
#[path = "../sys.rs"]
mod sys;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use tokio::net::UdpSocket;

const MAGIC: u32 = 0x2112_A442;
const ALLOCATE: u16 = 0x0003;
const REFRESH: u16 = 0x0004;
const A_USERNAME: u16 = 0x0006;
const A_MESSAGE_INTEGRITY: u16 = 0x0008;
const A_ERROR_CODE: u16 = 0x0009;
const A_LIFETIME: u16 = 0x000D;
const A_REALM: u16 = 0x0014;
const A_NONCE: u16 = 0x0015;
const A_REQUESTED_TRANSPORT: u16 = 0x0019;

struct Opts {
    server: SocketAddr,
    user: String,
    pass: String,
    mode: String,
    count: u64,
    concurrency: usize,
    secs: f64,
    server_pid: Option<u32>,
    hold_secs: f64,
}

fn usage() -> ! {
    eprintln!("usage: turn-allocgen --server 127.0.0.1:PORT --user U --pass P [--mode cycle|hold] [--count 20000] [--concurrency 64] [--secs 30] [--server-pid PID] [--hold-secs 0]");
    std::process::exit(2)
}

fn parse() -> Opts {
    let mut o = Opts {
        server: "127.0.0.1:3478".parse().unwrap(),
        user: String::new(),
        pass: String::new(),
        mode: "cycle".into(),
        count: 20_000,
        concurrency: 64,
        secs: 30.0,
        server_pid: None,
        hold_secs: 0.0,
    };
    let mut args = std::env::args().skip(1);
    let mut seen_server = false;
    while let Some(a) = args.next() {
        let mut v = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--server" => { o.server = v().parse().unwrap_or_else(|_| usage()); seen_server = true; }
            "--user" => o.user = v(),
            "--pass" => o.pass = v(),
            "--mode" => o.mode = v(),
            "--count" => o.count = v().parse().unwrap_or_else(|_| usage()),
            "--concurrency" => o.concurrency = v().parse().unwrap_or_else(|_| usage()),
            "--secs" => o.secs = v().parse().unwrap_or_else(|_| usage()),
            "--server-pid" => o.server_pid = Some(v().parse().unwrap_or_else(|_| usage())),
            "--hold-secs" => o.hold_secs = v().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if !seen_server || o.user.is_empty() || (o.mode != "cycle" && o.mode != "hold") { usage() }
    o.concurrency = o.concurrency.clamp(1, 4096);
    o.secs = o.secs.clamp(0.5, 3600.0);
    o.hold_secs = o.hold_secs.clamp(0.0, 3600.0);
    o
}

/// Encode a STUN request; with `key`, append MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 14.5).
fn build(msg_type: u16, txid: &[u8; 12], attrs: &[(u16, &[u8])], key: Option<&[u8]>) -> Vec<u8> {
    let mut m = Vec::with_capacity(256);
    m.extend_from_slice(&msg_type.to_be_bytes());
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&MAGIC.to_be_bytes());
    m.extend_from_slice(txid);
    for (t, v) in attrs {
        m.extend_from_slice(&t.to_be_bytes());
        m.extend_from_slice(&(v.len() as u16).to_be_bytes());
        m.extend_from_slice(v);
        while m.len() % 4 != 0 { m.push(0); }
    }
    if let Some(key) = key {
        let len = (m.len() - 20 + 24) as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        let mut mac = <Hmac<sha1::Sha1>>::new_from_slice(key).expect("hmac key");
        mac.update(&m);
        let tag = mac.finalize().into_bytes();
        m.extend_from_slice(&A_MESSAGE_INTEGRITY.to_be_bytes());
        m.extend_from_slice(&20u16.to_be_bytes());
        m.extend_from_slice(&tag);
    } else {
        let len = (m.len() - 20) as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
    }
    m
}

struct Resp {
    class_ok: bool,
    error: Option<u16>,
    realm: Option<Vec<u8>>,
    nonce: Option<Vec<u8>>,
}

fn parse_resp(b: &[u8], txid: &[u8; 12]) -> Option<Resp> {
    if b.len() < 20 || u32::from_be_bytes(b[4..8].try_into().ok()?) != MAGIC || &b[8..20] != txid {
        return None;
    }
    let t = u16::from_be_bytes([b[0], b[1]]);
    let class = ((t >> 7) & 2) | ((t >> 4) & 1);
    let len = (u16::from_be_bytes([b[2], b[3]]) as usize).min(b.len() - 20);
    let mut r = Resp { class_ok: class == 2, error: None, realm: None, nonce: None };
    let mut i = 20;
    while i + 4 <= 20 + len {
        let at = u16::from_be_bytes([b[i], b[i + 1]]);
        let al = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        let v = b.get(i + 4..i + 4 + al)?;
        match at {
            A_ERROR_CODE if al >= 4 => r.error = Some((v[2] & 7) as u16 * 100 + v[3] as u16),
            A_REALM => r.realm = Some(v.to_vec()),
            A_NONCE => r.nonce = Some(v.to_vec()),
            _ => {}
        }
        i += 4 + (al + 3) / 4 * 4;
    }
    Some(r)
}

struct Shared {
    opts: Opts,
    started: AtomicU64,
    done: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    held: Mutex<Vec<UdpSocket>>,
    deadline: Instant,
    txn: AtomicU64,
    tuple: AtomicU64,
}

impl Shared {
    fn error(&self, what: String) {
        *self.errors.lock().unwrap().entry(what).or_insert(0) += 1;
    }
    fn txid(&self) -> [u8; 12] {
        let n = self.txn.fetch_add(1, Ordering::Relaxed);
        let mut t = [0u8; 12];
        t[..8].copy_from_slice(&n.to_be_bytes());
        t[8..].copy_from_slice(&std::process::id().to_be_bytes());
        t
    }
}

/// One request/response exchange with retransmission (3 retries, 500 ms apart).
async fn transact(sh: &Shared, sock: &UdpSocket, msg: &[u8], txid: &[u8; 12]) -> Result<Resp, String> {
    let mut buf = [0u8; 1500];
    for _ in 0..4 {
        sock.send(msg).await.map_err(|e| format!("send: {}", e.kind()))?;
        let until = tokio::time::Instant::now() + Duration::from_millis(500);
        loop {
            match tokio::time::timeout_at(until, sock.recv(&mut buf)).await {
                Err(_) => break, // retransmit
                Ok(Err(e)) => return Err(format!("recv: {}", e.kind())),
                Ok(Ok(n)) => {
                    if let Some(r) = parse_resp(&buf[..n], txid) { return Ok(r); }
                }
            }
        }
        if Instant::now() >= sh.deadline { break; }
    }
    Err("timeout".into())
}

/// Authenticated request; one retry on 438 (stale nonce) with the fresh nonce.
async fn auth_request(sh: &Shared, sock: &UdpSocket, t: u16, extra: &[(u16, &[u8])], key: &[u8],
                      realm: &[u8], nonce: &mut Vec<u8>) -> Result<(), String> {
    for _ in 0..2 {
        let txid = sh.txid();
        let mut attrs: Vec<(u16, &[u8])> = extra.to_vec();
        attrs.push((A_USERNAME, sh.opts.user.as_bytes()));
        attrs.push((A_REALM, realm));
        attrs.push((A_NONCE, nonce));
        let msg = build(t, &txid, &attrs, Some(key));
        let r = transact(sh, sock, &msg, &txid).await?;
        if r.class_ok { return Ok(()); }
        match r.error {
            Some(438) => { if let Some(n) = r.nonce { *nonce = n; } }
            Some(c) => return Err(format!("error {c}")),
            None => return Err("error response without ERROR-CODE".into()),
        }
    }
    Err("error 438 twice".into())
}

/// Bind a client socket on a 5-tuple not used before in this run: coturn keeps a deleted
/// allocation's 5-tuple for a while and answers 437 to a new Allocate from it, and real
/// clients do not reuse 5-tuples at this rate anyway. Source addresses 127.0.0.2-127.0.0.251
/// times ports 33000-60999, in order (7 million tuples); ports in use are skipped.
async fn bind_fresh(sh: &Shared) -> Result<UdpSocket, String> {
    for _ in 0..1000 {
        let k = sh.tuple.fetch_add(1, Ordering::Relaxed);
        let ip = 2 + (k % 250) as u8;
        let port = 33_000 + ((k / 250) % 28_000) as u16;
        let addr = SocketAddr::from(([127, 0, 0, ip], port));
        match UdpSocket::bind(addr).await {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(format!("bind: {}", e.kind())),
        }
    }
    Err("bind: no free 5-tuple".into())
}

async fn one(sh: &Shared) -> Result<Option<UdpSocket>, String> {
    let sock = bind_fresh(sh).await?;
    sock.connect(sh.opts.server).await.map_err(|e| format!("connect: {}", e.kind()))?;
    let transport: &[u8] = &[17, 0, 0, 0];
    let txid = sh.txid();
    let msg = build(ALLOCATE, &txid, &[(A_REQUESTED_TRANSPORT, transport)], None);
    let r = transact(sh, &sock, &msg, &txid).await?;
    if r.class_ok { return Err("unauthenticated Allocate succeeded".into()); }
    if r.error != Some(401) { return Err(format!("first Allocate: error {:?}", r.error)); }
    let realm = r.realm.ok_or("401 without REALM")?;
    let mut nonce = r.nonce.ok_or("401 without NONCE")?;
    let mut h = Md5::new();
    h.update(sh.opts.user.as_bytes());
    h.update(b":");
    h.update(&realm);
    h.update(b":");
    h.update(sh.opts.pass.as_bytes());
    let key = h.finalize();
    auth_request(sh, &sock, ALLOCATE, &[(A_REQUESTED_TRANSPORT, transport)], &key, &realm, &mut nonce).await?;
    if sh.opts.mode == "cycle" {
        auth_request(sh, &sock, REFRESH, &[(A_LIFETIME, &[0, 0, 0, 0])], &key, &realm, &mut nonce)
            .await
            .map_err(|e| format!("Refresh(0): {e}"))?;
        Ok(None)
    } else {
        Ok(Some(sock))
    }
}

async fn worker(sh: Arc<Shared>) {
    loop {
        if Instant::now() >= sh.deadline { return; }
        if sh.started.fetch_add(1, Ordering::Relaxed) >= sh.opts.count { return; }
        match one(&sh).await {
            Ok(s) => {
                if let Some(s) = s { sh.held.lock().unwrap().push(s); }
                sh.done.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => sh.error(e),
        }
    }
}

/// (VmRSS, VmHWM) in kB.
fn rss(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let get = |k: &str| s.lines().find(|l| l.starts_with(k))?.split_whitespace().nth(1)?.parse().ok();
    Some((get("VmRSS:")?, get("VmHWM:")?))
}

fn main() {
    let opts = parse();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let rss0 = opts.server_pid.and_then(rss);
    let cpu0 = sys::process_cpu_secs();
    let start = Instant::now();
    let sh = Arc::new(Shared {
        deadline: start + Duration::from_secs_f64(opts.secs),
        opts,
        started: AtomicU64::new(0),
        done: AtomicU64::new(0),
        errors: Mutex::new(BTreeMap::new()),
        held: Mutex::new(Vec::new()),
        txn: AtomicU64::new(1),
        tuple: AtomicU64::new(0),
    });
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..sh.opts.concurrency {
            tasks.push(tokio::spawn(worker(sh.clone())));
        }
        for t in tasks { let _ = t.await; }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = sys::process_cpu_secs() - cpu0;
    std::thread::sleep(Duration::from_millis(if sh.opts.mode == "hold" { 1000 } else { 0 }));
    let rss1 = sh.opts.server_pid.and_then(rss);
    let done = sh.done.load(Ordering::Relaxed);
    let held = sh.held.lock().unwrap().len();
    let errs: Vec<String> = sh.errors.lock().unwrap().iter().map(|(k, v)| format!("\"{}\":{}", k.replace('"', "'"), v)).collect();
    let (r0, r1, hwm1) = match (rss0, rss1) {
        (Some(a), Some(b)) => (a.0, b.0, b.1),
        _ => (0, 0, 0),
    };
    let per_alloc = if held > 0 && r1 > 0 { (r1 as f64 - r0 as f64) * 1024.0 / held as f64 } else { 0.0 };
    println!(
        "{{\"mode\":\"{}\",\"count\":{},\"concurrency\":{},\"completed\":{},\"held\":{},\"secs\":{:.3},\"per_s\":{:.0},\"errors\":{{{}}},\"loadgen_cpu_s\":{:.3},\"server_rss_kb_before\":{},\"server_rss_kb_after\":{},\"server_hwm_kb_after\":{},\"server_bytes_per_alloc\":{:.0}}}",
        sh.opts.mode, sh.opts.count, sh.opts.concurrency, done, held, elapsed, done as f64 / elapsed,
        errs.join(","), cpu, r0, r1, hwm1, per_alloc
    );
    if sh.opts.mode == "hold" && sh.opts.hold_secs > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(sh.opts.hold_secs));
    }
}
