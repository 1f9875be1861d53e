//! The two benchmark modes, as sequences of bounded stages over all rooms.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use serde_json::{json, Value};

use crate::client::{Failure, Target};
use crate::proc_stat::{self, ProcSample};
use crate::report::Report;
use crate::room::{self, Ctx, Room};
use crate::stats::{self, Errors};
use crate::{Cli, HoldArgs, Mode, ThroughputArgs};

/// Runs `f` over `items` with at most `concurrency` spawned tasks in flight; each task is
/// bounded by `until`. Results come back in completion order; timeouts are `None`.
async fn stage<T, R, F, Fut>(items: Vec<T>, concurrency: usize, until: Instant, f: F) -> Vec<Option<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = R> + Send + 'static,
{
    let until = tokio::time::Instant::from_std(until);
    stream::iter(items.into_iter().map(|t| {
        let fut = f(t);
        tokio::spawn(async move { tokio::time::timeout_at(until, fut).await.ok() })
    }))
    .buffer_unordered(concurrency.max(1))
    .map(|r| r.ok().flatten())
    .collect()
    .await
}

/// Samples the server process (if its PID is known) and remembers the result.
struct ServerProbe {
    pid: Option<u32>,
    samples: Vec<(String, ProcSample)>,
}

impl ServerProbe {
    fn mark(&mut self, name: &str) -> Option<ProcSample> {
        let s = proc_stat::sample(Some(self.pid?))?;
        self.samples.push((name.to_string(), s));
        Some(s)
    }
    fn to_json(&self) -> Value {
        let m: serde_json::Map<String, Value> =
            self.samples.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        json!({"pid": self.pid, "samples": m})
    }
}

/// Entry point: builds the shared context and runs the selected mode.
pub async fn run(cli: Cli, nofile: (u64, u64)) -> Result<Report, String> {
    let start = Instant::now();
    crate::proto::now_us(); // pin the epoch
    let deadline = start + cli.timeout();
    let hard_deadline = deadline + Duration::from_secs_f64(cli.cleanup_timeout.max(1.0));
    let (pad, http_fraction) = match &cli.mode {
        Mode::Throughput(t) => ("p".repeat(t.payload_bytes), t.http_fraction.clamp(0.0, 1.0)),
        Mode::Hold(_) => (String::new(), 0.0),
    };
    let target = Target::new(&cli.url, cli.source_ips, cli.concurrency.max(16) * 2)?;
    let ctx = Arc::new(Ctx {
        target,
        errors: Errors::default(),
        join_hist: Mutex::new(stats::new_hist()),
        deadline,
        hard_deadline,
        sent_ws: 0.into(),
        sent_http_message: 0.into(),
        sent_http_collider: 0.into(),
        pad,
        http_fraction,
        send_lag: Default::default(),
    });
    let prefix = cli.room_prefix.clone().unwrap_or_else(|| format!("lg{}", std::process::id()));
    let mut probe = ServerProbe { pid: cli.server_pid, samples: Vec::new() };
    probe.mark("start");
    let mut out = json!({
        "tool": "switchboard-loadgen",
        "url": cli.url,
        "timeout_s": cli.timeout,
        "concurrency": cli.concurrency,
        "source_ips": cli.source_ips,
        "threads": if cli.threads == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { cli.threads },
        "nofile_limit": [nofile.0, nofile.1],
    });
    let body = match &cli.mode {
        Mode::Throughput(t) => throughput(&cli, t, &ctx, &prefix, &mut probe).await,
        Mode::Hold(h) => hold(&cli, h, &ctx, &prefix, &mut probe).await,
    };
    merge(&mut out, body);
    let (counts, samples) = ctx.errors.to_json();
    merge(
        &mut out,
        json!({
            "total_secs": start.elapsed().as_secs_f64(),
            "join_latency_ms": stats::summary_ms(&ctx.join_hist.lock().unwrap()),
            "errors_total": ctx.errors.total(),
            "errors": counts,
            "error_samples": samples,
            "server": probe.to_json(),
            "loadgen_cpu_secs": proc_stat::sample(None).map(|s| s.cpu_secs),
            "loadgen_hwm_kb": proc_stat::sample(None).map(|s| s.hwm_kb),
        }),
    );
    Ok(Report::new(out))
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

fn count_failures<T>(ctx: &Ctx, stage_name: &'static str, results: Vec<Option<Result<T, Failure>>>) -> Vec<T> {
    let mut ok = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Some(Ok(v)) => ok.push(v),
            Some(Err(e)) => ctx.errors.add(e.kind, e.detail),
            None => ctx.errors.add(stage_name, "stage deadline (--timeout) reached"),
        }
    }
    ok
}

/// Join + connect stages shared by both modes. Returns connected rooms and a JSON part.
async fn setup(cli: &Cli, ctx: &Arc<Ctx>, ids: Vec<String>, window: usize, expect: (u64, u64), probe: &mut ServerProbe) -> (Vec<Room>, Value) {
    let n_rooms = ids.len();
    let t0 = Instant::now();
    let joined = stage(ids, cli.concurrency, ctx.deadline, |id| room::join_room(ctx.clone(), id)).await;
    let joined = count_failures(ctx, "timeout_join", joined);
    let join_secs = t0.elapsed().as_secs_f64();
    probe.mark("after_join");
    eprintln!("joined {}/{} rooms in {join_secs:.2}s", joined.len(), n_rooms);

    let t1 = Instant::now();
    let connected = stage(joined, cli.concurrency, ctx.deadline, |j| {
        room::connect_room(ctx.clone(), j, window, expect.0, expect.1)
    })
    .await;
    let rooms = count_failures(ctx, "timeout_connect", connected);
    let connect_secs = t1.elapsed().as_secs_f64();
    probe.mark("after_connect");
    eprintln!("connected {}/{} rooms in {connect_secs:.2}s", rooms.len(), n_rooms);
    let joins = ctx.join_hist.lock().unwrap().len(); // one entry per successful join
    let part = json!({
        "rooms_requested": n_rooms,
        "joins_ok": joins,
        "join_stage_secs": join_secs,
        "joins_per_sec": joins as f64 / join_secs.max(1e-9),
        "rooms_connected": rooms.len(),
        "clients_registered": rooms.len() * 2,
        "connect_stage_secs": connect_secs,
        "registrations_per_sec": (rooms.len() * 2) as f64 / connect_secs.max(1e-9),
    });
    (rooms, part)
}

/// Leave stage shared by both modes; returns the merged relay-latency histogram.
async fn teardown(cli: &Cli, ctx: &Arc<Ctx>, rooms: Vec<Room>, probe: &mut ServerProbe) -> (hdrhistogram::Histogram<u64>, f64) {
    let t = Instant::now();
    let hists = stage(rooms, cli.concurrency, ctx.hard_deadline, |r| room::leave_room(ctx.clone(), r)).await;
    let mut hist = stats::new_hist();
    for h in hists {
        match h {
            Some(h) => {
                let _ = hist.add(h);
            }
            None => ctx.errors.add("timeout_leave", "cleanup deadline reached"),
        }
    }
    probe.mark("after_leave");
    (hist, t.elapsed().as_secs_f64())
}

async fn throughput(cli: &Cli, t: &ThroughputArgs, ctx: &Arc<Ctx>, prefix: &str, probe: &mut ServerProbe) -> Value {
    let n_ab = t.messages.div_ceil(2);
    let n_ba = t.messages / 2;
    let ids: Vec<String> = (0..t.rooms).map(|i| format!("{prefix}t{i}")).collect();
    let (rooms, setup_part) = setup(cli, ctx, ids, t.window, (n_ba, n_ab), probe).await;
    let n_rooms = rooms.len() as u64;

    let before = probe.mark("exchange_start");
    let t0 = Instant::now();
    // Open-loop mode: each of the 2 * rooms senders gets rate / (2 * rooms) msgs/s, with
    // start offsets spread evenly over one interval so senders do not fire in lockstep.
    let senders = 2 * n_rooms.max(1);
    let pace_for = |i: u64| -> Option<room::Pace> {
        (t.rate > 0.0).then(|| {
            let interval = Duration::from_secs_f64(senders as f64 / t.rate);
            let start = tokio::time::Instant::now() + Duration::from_millis(5) + interval.mul_f64(i as f64 / senders as f64);
            room::Pace { start, interval }
        })
    };
    let items: Vec<(u64, Room)> = (0..).zip(rooms).collect();
    let results = stage(items, usize::MAX, ctx.hard_deadline, |(i, r)| {
        let pace = pace_for(2 * i).zip(pace_for(2 * i + 1));
        room::exchange_room(ctx.clone(), r, n_ab, n_ba, pace)
    })
    .await;
    let exchange_secs = t0.elapsed().as_secs_f64();
    let after = probe.mark("exchange_end");
    let rooms: Vec<Room> = results.into_iter().flatten().collect();
    let received: u64 = rooms
        .iter()
        .map(|r| r.a.peer.received.load(Ordering::Relaxed) + r.b.peer.received.load(Ordering::Relaxed))
        .sum();
    let sent = ctx.sent_ws.load(Ordering::Relaxed)
        + ctx.sent_http_message.load(Ordering::Relaxed)
        + ctx.sent_http_collider.load(Ordering::Relaxed);
    let expected = n_rooms * t.messages;
    if received < expected {
        ctx.errors.add("messages_missing", format!("received {received} of {expected} expected (sent {sent})"));
    }
    eprintln!("exchanged {received}/{expected} messages in {exchange_secs:.2}s");

    let (hist, leave_secs) = teardown(cli, ctx, rooms, probe).await;
    let server_cpu = match (before, after) {
        (Some(b), Some(a)) => json!({
            "exchange_cpu_secs": a.cpu_secs - b.cpu_secs,
            "cpu_secs_per_100k_msgs": (a.cpu_secs - b.cpu_secs) * 100_000.0 / (received.max(1) as f64),
            "rss_kb_exchange_end": a.rss_kb,
        }),
        _ => Value::Null,
    };
    let mut v = json!({
        "mode": "throughput",
        "messages_per_room": t.messages,
        "window": t.window,
        "offered_rate": if t.rate > 0.0 { json!(t.rate) } else { json!("closed-loop") },
        "http_fraction": t.http_fraction,
        "payload_bytes": t.payload_bytes,
        "messages_expected": expected,
        "messages_sent": sent,
        "messages_sent_ws": ctx.sent_ws.load(Ordering::Relaxed),
        "messages_sent_http_message": ctx.sent_http_message.load(Ordering::Relaxed),
        "messages_sent_http_collider": ctx.sent_http_collider.load(Ordering::Relaxed),
        "messages_received": received,
        "exchange_secs": exchange_secs,
        "msgs_per_sec": received as f64 / exchange_secs.max(1e-9),
        "latency_ms": stats::summary_ms(&hist),
        "send_lag": ctx.send_lag.to_json(),
        "leave_stage_secs": leave_secs,
        "server_exchange": server_cpu,
    });
    merge(&mut v, setup_part);
    v
}

async fn wait_for_stop(hold_secs: f64, deadline: Instant) -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let mut until = tokio::time::Instant::from_std(deadline);
    if hold_secs > 0.0 {
        until = until.min(tokio::time::Instant::now() + Duration::from_secs_f64(hold_secs));
    }
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = tokio::time::sleep_until(until) => "duration",
    }
}

async fn hold(cli: &Cli, h: &HoldArgs, ctx: &Arc<Ctx>, prefix: &str, probe: &mut ServerProbe) -> Value {
    let n_rooms = h.clients.div_ceil(2);
    let ids: Vec<String> = (0..n_rooms).map(|i| format!("{prefix}h{i}")).collect();
    let (rooms, setup_part) = setup(cli, ctx, ids, 1, (0, 0), probe).await;
    let clients = rooms.len() * 2;
    let status = ctx.target.status().await.ok();
    let openws = status.as_ref().and_then(|s| s["openws"].as_u64());
    let s = probe.mark("all_connected");
    {
        use std::io::Write;
        let mut o = std::io::stdout().lock();
        let _ = writeln!(
            o,
            "READY clients={clients} rooms={} openws={} server_rss_kb={}",
            rooms.len(),
            openws.map_or("?".into(), |n| n.to_string()),
            s.map_or("?".into(), |s| s.rss_kb.to_string())
        );
        let _ = o.flush();
    }
    eprintln!("all {clients} clients connected; holding");
    let held_from = Instant::now();
    let why = wait_for_stop(h.hold_secs, ctx.deadline).await;
    let held_secs = held_from.elapsed().as_secs_f64();
    probe.mark("hold_end");
    let dropped = rooms
        .iter()
        .flat_map(|r| [&r.a, &r.b])
        .filter(|s| s.reader_finished())
        .count();
    if dropped > 0 {
        ctx.errors.add("ws_closed_during_hold", format!("{dropped} sockets closed while holding"));
    }
    let status_end = ctx.target.status().await.ok();
    let (_, leave_secs) = teardown(cli, ctx, rooms, probe).await;
    let mut v = json!({
        "mode": "hold",
        "clients_requested": h.clients,
        "clients_connected": clients,
        "status_at_ready": status,
        "status_at_hold_end": status_end,
        "held_secs": held_secs,
        "hold_ended_by": why,
        "sockets_dropped_during_hold": dropped,
        "leave_stage_secs": leave_secs,
    });
    merge(&mut v, setup_part);
    v
}
