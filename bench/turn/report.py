#!/usr/bin/env python3
"""Helpers for bench/turn.sh.

  report.py uclient LOG            -> JSON fields parsed from turnutils_uclient's output
  report.py summarize JSONL OUT.json OUT.md META.json
                                   -> aggregate the per-run records into the result files
  report.py render RESULTS.json OUT.md
                                   -> re-render the markdown from a results JSON
"""
import json
import re
import statistics
import sys


def parse_uclient(path):
    series = {}  # second -> (send, recv); last line of each second wins
    out = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"\s*(\d+): : start_mclient: msz=(\d+), tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", line)
            if m:
                series[int(m.group(1))] = (int(m.group(3)), int(m.group(4)))
                continue
            m = re.search(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", line)
            if m:
                out["sent"], out["received"] = int(m.group(1)), int(m.group(2))
            m = re.search(r"Total transmit time is (\d+)", line)
            if m:
                out["transmit_s"] = int(m.group(1))
            m = re.search(r"Total connect time is (\d+)", line)
            if m:
                out["connect_s"] = int(m.group(1))
            m = re.search(r"Average round trip delay ([0-9.]+) ms", line)
            if m:
                out["rtt_avg_ms"] = float(m.group(1))
    # Steady-state rate: best 3-second window of received messages (uclient staggers the
    # clients' start over 1-6 s, so the whole-run average understates the rate).
    secs = sorted(series)
    best = 0.0
    for i, s in enumerate(secs):
        for t in secs[i + 1:]:
            if t - s >= 3:
                best = max(best, (series[t][1] - series[s][1]) / (t - s))
                break
    out["steady_pps"] = round(best)
    best_tx = 0.0
    for i, s in enumerate(secs):
        for t in secs[i + 1:]:
            if t - s >= 3:
                best_tx = max(best_tx, (series[t][0] - series[s][0]) / (t - s))
                break
    out["steady_offered_pps"] = round(best_tx)
    return out


def peak_shares(path, tck):
    """CPU shares (1.0 = one core) of server, uclient and peer over the 3-second window in
    which the server was busiest, from the 0.5 s samples taken by turn.sh."""
    rows = []
    try:
        for line in open(path):
            p = line.split()
            if len(p) == 4 and "x" not in p:
                rows.append([float(v) for v in p])
    except OSError:
        return {}
    best = None
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if b[0] - a[0] >= 3.0:
                dt = b[0] - a[0]
                sh = [(b[k] - a[k]) / tck / dt for k in (1, 2, 3)]
                if best is None or sh[0] > best[0]:
                    best = sh
                break
    if best is None:
        return {}
    return {"peak_server_share": round(best[0], 3), "peak_uclient_share": round(best[1], 3),
            "peak_peer_share": round(best[2], 3)}


def udp_drops(port, peer_port, lo, hi):
    """Per-socket receive-buffer drops from /proc/net/udp (IPv4): the server's listening
    socket(s), its relay sockets (ports lo..hi) and the echo peer's socket."""
    out = {"listener": 0, "relay": 0, "peer": 0}
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            p = line.split()
            if len(p) < 13:
                continue
            lport = int(p[1].split(":")[1], 16)
            drops = int(p[12])
            if lport == port:
                out["listener"] += drops
            elif lport == peer_port:
                out["peer"] += drops
            elif lo <= lport <= hi:
                out["relay"] += drops
    return out


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def enrich(r):
    if r.get("phase") == "relay" and "log" not in r:
        return r
    if r.get("phase") == "relay":
        r.update(parse_uclient(r.pop("log")))
        recv = r.get("received", 0)
        sent = r.get("sent", 0)
        t = max(r.get("transmit_s", 0), 1)
        r["loss_pct"] = round(100.0 * (sent - recv) / sent, 3) if sent else None
        r["delivered_pps"] = round(recv / t)
        r["steady_mbit_s"] = round(r["steady_pps"] * r["len"] * 8 / 1e6, 1)
        r["server_us_per_pkt"] = round(r["server_cpu_s"] * 1e6 / recv, 2) if recv else None
        r["pkts_per_server_cpu_s"] = round(recv / r["server_cpu_s"]) if r["server_cpu_s"] else None
        r.update(peak_shares(r.pop("samples", None), r.pop("tck", 100)))
        if "drops_after" in r:
            a, b = r.pop("drops_after"), r.pop("drops_before")
            r["drops_server_listener"] = a[0]
            r["drops_server_relay"] = a[1]
            r["drops_peer"] = a[2] - b[2]
        ps = r.pop("peer_stats", None)
        if ps:
            for k in ("received", "sent", "send_failed", "socket_drops", "cpu_s", "us_per_pkt", "threads", "rcvbuf", "avg_batch"):
                r["peer_" + k] = ps.get(k)
    elif r.get("phase") == "alloc" and "per_s" not in r:
        g = r["gen"]
        r["per_s"] = g["per_s"]
        r["completed"] = g["completed"]
        r["errors"] = g["errors"]
        r["server_us_per_alloc"] = round(r["server_cpu_s"] * 1e6 / g["completed"], 1) if g["completed"] else None
        r["allocgen_cpu_share"] = round(g["loadgen_cpu_s"] / g["secs"], 3) if g["secs"] else None
        r["server_cpu_share"] = round(r["server_cpu_s"] / g["secs"], 3) if g["secs"] else None
        if r["scenario"] == "hold":
            r["held"] = g["held"]
            r["rss_kb_at_hold"] = g["server_rss_kb_after"]
            r["bytes_per_alloc"] = g["server_bytes_per_alloc"]
    return r


def drops_detail(g):
    if g("drops_peer") is None:
        return ""
    return (f" (server listener {fmt(g('drops_server_listener'))}, relay sockets {fmt(g('drops_server_relay'))}, "
            f"peer {fmt(g('drops_peer'))})")


def fmt(x, nd=0):
    if x is None:
        return "–"
    if isinstance(x, float) and nd:
        return f"{x:,.{nd}f}"
    return f"{round(x):,}"


def ratio(a, b, nd=2):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.{nd}f}x"


def summarize(jsonl, out_json, out_md, meta_path):
    meta = json.load(open(meta_path))
    recs = [enrich(json.loads(l)) for l in open(jsonl) if l.strip()]
    render(meta, recs, out_json, out_md)


def rerender(in_json, out_md):
    d = json.load(open(in_json))
    render(d["meta"], d["runs"], None, out_md)


PEER_DESC = {
    "turnutils": "`turnutils_peer` (coturn's test peer: one socket, default receive buffer, one recvfrom + sendto per packet)",
    "echo": "`udp-echo` (bench/udp-forward: recvmmsg/sendmmsg batches of up to 64, {buf} socket buffers via "
            "SO_RCVBUFFORCE/SO_SNDBUFFORCE, {threads} SO_REUSEPORT socket(s)/thread(s); started fresh for every run)",
}


def peer_desc(meta):
    peer = meta.get("peer", "turnutils")  # results from before the PEER knob used turnutils_peer
    d = PEER_DESC.get(peer, peer)
    return d.format(buf=f"{(meta.get('echo_buf') or 0) // 1048576} MiB", threads=meta.get("echo_threads", 1))


def render(meta, recs, out_json, out_md):
    servers = ["switchboard", "coturn"]
    peer = meta.get("peer", "turnutils")
    peer_name = "udp-echo" if peer == "echo" else "turnutils_peer"
    agg = {}
    for r in recs:
        key = (r["phase"], r["scenario"], r.get("server", r.get("mode")))
        agg.setdefault(key, []).append(r)

    def m(phase, scen, srv, field):
        return med([r.get(field) for r in agg.get((phase, scen, srv), [])])

    summary = {}
    for (phase, scen, srv), rs in agg.items():
        fields = {}
        for k in rs[0]:
            vals = [r.get(k) for r in rs]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
                fields[k] = med(vals)
        summary.setdefault(phase, {}).setdefault(scen, {})[srv] = fields
    if out_json:
        json.dump({"meta": meta, "median": summary, "runs": recs}, open(out_json, "w"), indent=1)

    L = []
    L.append(f"## TURN relay: Switchboard vs coturn {meta.get('coturn_version','')} ({meta['date']})")
    L.append("")
    L.append(f"Switchboard commit `{meta['commit']}`{' (working tree had local changes)' if meta.get('dirty') else ''}; "
             f"{meta['cpus']} CPUs ({meta['cpu_model']}), kernel {meta['kernel']}; "
             f"load average before the run: {meta['load_before']}, after: {meta.get('load_after','?')}. "
             f"Mode: {'QUICK' if meta['quick'] else 'full'}, {meta['rounds']} A/B round(s) (median shown), "
             f"pinning: {meta['pin']}.")
    L.append("")
    L.append("Method: `bash bench/turn.sh` — the two servers run one after the other (Switchboard, coturn, Switchboard, "
             "coturn: A B A B), each test against a freshly started server with the same options: listener "
             f"127.0.0.1:{meta.get('port')} (UDP+TCP), relay ports {meta.get('relay_ports')} on 127.0.0.1, one static "
             "long-term-credential user, loopback peers allowed, no TLS/DTLS, quotas raised (coturn `--total-quota 0 "
             "--user-quota 0`; Switchboard `--turn-max-allocations 100000 --turn-user-quota 100000 "
             "--turn-rfc5766-channels`, plus a REST secret, which coturn cannot combine with static users), default "
             "worker/relay-thread counts (one per core). Relay load: `turnutils_uclient -c -X -m M -n N -l LEN -z MS` "
             f"({meta.get('relay_spec')}) to the echo peer {peer_desc(meta)}, the same peer for both servers. "
             "Everything on one 2-core machine, unpinned unless "
             "stated: server, load generator and peer compete for the same cores.")
    L.append("")
    L.append(f"### Relayed traffic (turnutils_uclient, ChannelData over UDP, echo peer {peer_name})")
    L.append("")
    L.append("| scenario | server | offered pkt/s | delivered pkt/s (steady / whole run) | Mbit/s | loss | server CPU-s | µs CPU per pkt | pkts per CPU-s | peak RSS | CPU at peak: server | uclient | peer | UDP rcvbuf drops |")
    L.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for scen in meta["relay_scenarios"]:
        for srv in servers:
            g = lambda f: m("relay", scen, srv, f)
            if g("received") is None:
                continue
            L.append(f"| {scen} | {srv} | {fmt(g('steady_offered_pps'))} | {fmt(g('steady_pps'))} / {fmt(g('delivered_pps'))} | "
                     f"{fmt(g('steady_mbit_s'),1)} | {fmt(g('loss_pct'),2)} % | {fmt(g('server_cpu_s'),2)} | "
                     f"{fmt(g('server_us_per_pkt'),1)} | {fmt(g('pkts_per_server_cpu_s'))} | {fmt((g('server_hwm_kb') or 0)/1024,1)} MB | "
                     f"{fmt(100*(g('peak_server_share') or 0),0)} % | {fmt(100*(g('peak_uclient_share') or 0),0)} % | {fmt(100*(g('peak_peer_share') or 0),0)} % | {fmt(g('udp_rcvbuf_errors'))}{drops_detail(g)} |")
    L.append("")
    L.append("A packet is one uclient message that made the full round trip client → server → peer → server → client "
             "(the server relays it twice). Offered and delivered pkt/s: best 3-second window of uclient's per-second counters "
             "(uclient staggers its clients' start, so the whole-run average is lower). Loss: from uclient's final counters. "
             "Server CPU-s: utime+stime of the whole run (connect phase included). CPU at peak: CPU-seconds per second "
             "(100 % = one core) of each process over the 3 s in which the server was busiest — the machine has "
             f"{meta['cpus']} cores in all, shared by server, uclient and peer. UDP rcvbuf drops: the machine-wide "
             "RcvbufErrors delta of /proc/net/snmp over the run (datagrams dropped because some socket's receive buffer "
             "was full — server, uclient or peer; other processes on the machine count too), and in brackets the drops "
             "counted on the server's listening and relay sockets and on the peer's socket (/proc/net/udp); the rest "
             "were dropped on uclient's sockets or elsewhere.")
    L.append("")
    if any(m("relay", scen, srv, "peer_received") is not None for scen in meta["relay_scenarios"] for srv in servers):
        L.append("Echo peer's own counts (udp-echo, printed at exit):")
        L.append("")
        L.append("| scenario | server | peer received | peer sent | send failures | drops on peer socket(s) | peer CPU-s | peer µs per pkt | avg batch |")
        L.append("|---|---|--:|--:|--:|--:|--:|--:|--:|")
        for scen in meta["relay_scenarios"]:
            for srv in servers:
                g = lambda f: m("relay", scen, srv, f)
                if g("peer_received") is None:
                    continue
                L.append(f"| {scen} | {srv} | {fmt(g('peer_received'))} | {fmt(g('peer_sent'))} | {fmt(g('peer_send_failed'))} | "
                         f"{fmt(g('peer_socket_drops'))} | {fmt(g('peer_cpu_s'),2)} | {fmt(g('peer_us_per_pkt'),2)} | {fmt(g('peer_avg_batch'),1)} |")
        L.append("")
    L.append("### Allocations (bench/udp-forward turn-allocgen: UDP, long-term credentials, 401 round trip included)")
    L.append("")
    L.append("| test | server | result | server CPU µs each | server RSS after | allocgen CPU | errors |")
    L.append("|---|---|--:|--:|--:|--:|---|")
    for srv in servers:
        g = lambda f: m("alloc", "cycle", srv, f)
        if g("per_s") is None:
            continue
        errs = agg[("alloc", "cycle", srv)][0].get("errors") or {}
        L.append(f"| allocate + delete cycles ({fmt(g('completed'))}) | {srv} | {fmt(g('per_s'))} /s | {fmt(g('server_us_per_alloc'),1)} | "
                 f"{fmt((g('server_rss_kb') or 0)/1024,1)} MB | {fmt(100*(g('allocgen_cpu_share') or 0))} % | {json.dumps(errs) if errs else 'none'} |")
    for srv in servers:
        g = lambda f: m("alloc", "hold", srv, f)
        if g("held") is None:
            continue
        errs = agg[("alloc", "hold", srv)][0].get("errors") or {}
        L.append(f"| {fmt(g('held'))} live allocations | {srv} | {fmt(g('bytes_per_alloc'))} B each | {fmt(g('server_us_per_alloc'),1)} | "
                 f"{fmt((g('rss_kb_at_hold') or 0)/1024,1)} MB | {fmt(100*(g('allocgen_cpu_share') or 0))} % | {json.dumps(errs) if errs else 'none'} |")
    L.append("")
    L.append("allocgen CPU: the load generator's CPU-seconds per second of its run (single-threaded: near 100 % means "
             "it, not the server, set the rate, and the figure is a lower bound).")
    L.append("")
    L.append("### Reference: minimal two-hop loopback UDP forwarder (bench/udp-forward)")
    L.append("")
    L.append("| scenario | I/O | delivered pkt/s | Mbit/s | loss | forwarder µs CPU per pkt | client+echo CPU-s |")
    L.append("|---|---|--:|--:|--:|--:|--:|")
    for scen in meta["fwd_scenarios"]:
        for mode in ["single", "batch"]:
            g = lambda f: m("forward", scen, mode, f)
            if g("pps") is None:
                continue
            L.append(f"| {scen} | {'recvfrom/sendto' if mode=='single' else 'recvmmsg/sendmmsg ×32'} | {fmt(g('pps'))} | {fmt(g('mbit_s'),1)} | "
                     f"{fmt(g('loss_pct'),2)} % | {fmt(g('fwd_us_per_pkt'),2)} | {fmt((g('client_cpu_s') or 0)+(g('echo_cpu_s') or 0),2)} |")
    L.append("")
    # Goals
    L.append("### Against the goals")
    L.append("")
    fx = meta["relay_scenarios"][0]
    sb_eff, ct_eff = m("relay", fx, "switchboard", "pkts_per_server_cpu_s"), m("relay", fx, "coturn", "pkts_per_server_cpu_s")
    sb_a, ct_a = m("alloc", "cycle", "switchboard", "per_s"), m("alloc", "cycle", "coturn", "per_s")
    bpa = m("alloc", "hold", "switchboard", "bytes_per_alloc")
    L.append("| goal | Switchboard | coturn | ratio | met? |")
    L.append("|---|--:|--:|--:|---|")
    ok = lambda c: "yes" if c else "**no**"
    if sb_eff and ct_eff:
        L.append(f"| ≥ 1.5x delivered packets per server CPU-second ({fx}) | {fmt(sb_eff)} | {fmt(ct_eff)} | {ratio(sb_eff, ct_eff)} | {ok(sb_eff >= 1.5*ct_eff)} |")
    for scen in meta["relay_scenarios"][1:]:
        a, b = m("relay", scen, "switchboard", "pkts_per_server_cpu_s"), m("relay", scen, "coturn", "pkts_per_server_cpu_s")
        if a and b:
            L.append(f"| (packets per server CPU-second, {scen}) | {fmt(a)} | {fmt(b)} | {ratio(a, b)} | {ok(a >= 1.5*b)} |")
    if sb_a and ct_a:
        L.append(f"| ≥ 1.5x allocations/s | {fmt(sb_a)} | {fmt(ct_a)} | {ratio(sb_a, ct_a)} | {ok(sb_a >= 1.5*ct_a)} |")
    for scen in meta["relay_scenarios"][1:]:
        a, b = m("relay", scen, "switchboard", "steady_pps"), m("relay", scen, "coturn", "steady_pps")
        la, lb = m("relay", scen, "switchboard", "loss_pct"), m("relay", scen, "coturn", "loss_pct")
        if a and b:
            L.append(f"| more packets/s than coturn at saturation ({scen}) | {fmt(a)} | {fmt(b)} | {ratio(a, b)} | {ok(a > b)} |")
            verdict = "tie (no loss on either)" if (la == 0 and lb == 0) else ok(la is not None and lb is not None and la < lb)
            L.append(f"| less loss at saturation ({scen}) | {fmt(la,2)} % | {fmt(lb,2)} % | | {verdict} |")
    if bpa:
        cb = m("alloc", "hold", "coturn", "bytes_per_alloc")
        L.append(f"| ≤ 4 KB per allocation (RSS growth / live allocations) | {fmt(bpa)} B | {fmt(cb)} B | | {ok(bpa <= 4096)} |")
    L.append("")
    open(out_md, "w").write("\n".join(L) + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    if sys.argv[1] == "udpdrops":
        d = udp_drops(*map(int, sys.argv[2:6]))
        print(d["listener"], d["relay"], d["peer"])
    elif sys.argv[1] == "uclient":
        print(json.dumps(parse_uclient(sys.argv[2])))
    elif sys.argv[1] == "summarize":
        summarize(*sys.argv[2:6])
    elif sys.argv[1] == "render":
        rerender(*sys.argv[2:4])
    else:
        sys.exit(__doc__)
