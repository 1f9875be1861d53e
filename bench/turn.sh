#!/usr/bin/env bash
# TURN benchmark: Switchboard's built-in TURN server vs coturn (Debian `turnserver`), A B A B.
#
#   bash bench/turn.sh              # full run, ~12-15 min
#   QUICK=1 bash bench/turn.sh      # smoke run, < 2 min (1 round, short loads)
#
# For each round, each server (Switchboard, then coturn) is started fresh for every test with
# the same options: loopback listener on $PORT (never 3478), relay ports $RELAY_PORTS (same
# range size), one static user, loopback peers allowed, no TLS/DTLS, quotas raised (coturn's
# uclient never frees its allocations), and then driven by the same load:
#   relay   turnutils_uclient (ChannelData over UDP, -c, -X) against an echo peer ($PEER, started
#           fresh for every run, the same for both servers): a fixed offered rate (CPU per
#           packet) and saturating loads at 100 and 1000 bytes.
#           Delivered packets/s, Mbit/s, loss (from uclient's final counters), server
#           CPU-seconds (/proc/<pid>/stat utime+stime) and peak RSS (VmHWM); uclient's and the
#           peer's CPU as well, to show whether the load generator was the bottleneck.
#   alloc   target/release/turn-allocgen (bench/udp-forward): allocate+delete cycles per second,
#           then RSS growth at $HOLD_ALLOCS live allocations (memory per allocation).
# Before the A/B rounds, the machine's reference limit: target/release/udp-forward, a minimal
# two-hop loopback UDP forwarder, with per-packet syscalls and with 32-packet batches.
#
# Results: bench/results/turn-<date>.json (every run + medians) and turn-<date>.md (tables).
#
# Environment knobs (defaults in brackets):
#   QUICK [0]        1 = one round, short loads (a smoke test: the rates are not meaningful),
#                    5,000-cycle allocation test; writes turn-<date>-quick.{json,md}
#   ROUNDS [2]       A/B rounds
#   PIN [0]          1 = taskset the server on CPU 0 and the load (uclient, peer, allocgen) on CPU 1
#                    (results go to turn-<date>-pinned.*)
#   TAG [""]         suffix for the result files: turn-<date>-<TAG>.{json,md}
#   PORT [13491]     TURN listen port (UDP+TCP, 127.0.0.1); PEER_PORT [13492] echo peer port
#   PEER [echo]      echo peer for the relay scenarios: echo = target/release/udp-echo
#                    (bench/udp-forward: recvmmsg/sendmmsg batches, $ECHO_BUF-byte socket
#                    buffers via SO_RCVBUFFORCE, $ECHO_THREADS SO_REUSEPORT sockets/threads;
#                    it reports what it received, sent and saw dropped); turnutils = coturn's
#                    turnutils_peer (one socket, default ~200 KiB receive buffer, one
#                    recvfrom/sendto per packet: at saturation it, not the server, drops most)
#   ECHO_THREADS [1] ECHO_BUF [16777216]  udp-echo threads and socket buffer bytes
#   RELAY_PORTS [17000-32499]  relay port range for both servers (15,500 ports)
#   RELAY ["fixed100:100:100:2:4000 sat100:100:300:1:4000 sat1000:1000:300:1:4000"]
#           relay scenarios name:bytes:clients(-m):interval ms(-z):messages per client(-n);
#           the first one is the moderate fixed-load one used for CPU per packet: 100 clients
#           every 2 ms = 50,000 pkt/s nominal (uclient catches up late sends in bursts, up to
#           50 per client per 1 ms tick, so its offered rate is measured and reported); 300
#           clients every 1 ms offer more than either server relays on 2 cores. uclient starts
#           each client 1-6 s after connecting all, and connects ~10 clients/s.
#   ALLOC_CYCLES [60000] ALLOC_CONCURRENCY [64] ALLOC_SECS [60]  allocate+delete cycles
#   HOLD_ALLOCS [10000]  live allocations for memory per allocation
#   FWD_SECS [5]     seconds per forwarder run; FWD_RATE [50000] its fixed offered rate
#   UCLIENT_TIMEOUT [180] time bound per uclient run (s)
#   SKIP ["" ]       space-separated phases to skip: forward relay alloc
#   SERVERS ["switchboard coturn"]
#   NO_BUILD [0]     1 = do not run cargo build
#   SNAPSHOT [0]     1 = build and measure `git archive HEAD` (target/turn-bench-snapshot), so
#                    that uncommitted changes in the working tree are not measured
#   SERVER_BIN [target/release/switchboard]  SB_COMMIT [git HEAD] commit recorded for the binary
set -euo pipefail

cd "$(dirname "$0")/.."
QUICK=${QUICK:-0}
PIN=${PIN:-0}
if [[ $QUICK == 1 ]]; then
  ROUNDS=${ROUNDS:-1}
  RELAY=${RELAY:-"fixed100:100:20:1:500 sat100:100:50:1:600 sat1000:1000:50:1:600"}
  ALLOC_CYCLES=${ALLOC_CYCLES:-5000}
  ALLOC_SECS=${ALLOC_SECS:-15}
  HOLD_ALLOCS=${HOLD_ALLOCS:-10000}
  FWD_SECS=${FWD_SECS:-1}
else
  ROUNDS=${ROUNDS:-2}
  RELAY=${RELAY:-"fixed100:100:100:2:4000 sat100:100:300:1:4000 sat1000:1000:300:1:4000"}
  ALLOC_CYCLES=${ALLOC_CYCLES:-60000}
  ALLOC_SECS=${ALLOC_SECS:-60}
  HOLD_ALLOCS=${HOLD_ALLOCS:-10000}
  FWD_SECS=${FWD_SECS:-5}
fi
PORT=${PORT:-13491}
PEER_PORT=${PEER_PORT:-13492}
RELAY_PORTS=${RELAY_PORTS:-17000-32499}
ALLOC_CONCURRENCY=${ALLOC_CONCURRENCY:-64}
FWD_RATE=${FWD_RATE:-50000}
UCLIENT_TIMEOUT=${UCLIENT_TIMEOUT:-180}
SKIP=${SKIP:-}
SERVERS=${SERVERS:-"switchboard coturn"}
NO_BUILD=${NO_BUILD:-0}
SB=${SERVER_BIN:-target/release/switchboard}
ALLOCGEN=target/release/turn-allocgen
FWD=target/release/udp-forward
ECHO=target/release/udp-echo
PEER=${PEER:-echo}
ECHO_THREADS=${ECHO_THREADS:-1}
ECHO_BUF=${ECHO_BUF:-16777216}
case $PEER in
  echo|turnutils) ;;
  *) echo "bench/turn.sh: PEER must be echo or turnutils" >&2; exit 2 ;;
esac
TURN_USER=bench
TURN_PASS=bench-pass-1
TURN_SECRET=bench-rest-secret-1
REALM=bench.switchboard.test
MIN_PORT=${RELAY_PORTS%-*}
MAX_PORT=${RELAY_PORTS#*-}

DATE=$(date -u +%Y-%m-%d)
OUTDIR=bench/results
OUT_JSON=$OUTDIR/turn-$DATE.json
OUT_MD=$OUTDIR/turn-$DATE.md
TAG=${TAG:-}
if [[ $QUICK == 1 ]]; then TAG=${TAG:+$TAG-}quick; fi
if [[ $PIN == 1 ]]; then TAG=${TAG:+$TAG-}pinned; fi
if [[ -n $TAG ]]; then OUT_JSON=$OUTDIR/turn-$DATE-$TAG.json; OUT_MD=$OUTDIR/turn-$DATE-$TAG.md; fi
WORK=$(mktemp -d /tmp/sb-turnbench.XXXXXX)
RESULTS=$WORK/runs.jsonl
trap 'rm -rf "$WORK"' EXIT
TCK=$(getconf CLK_TCK)
mkdir -p "$OUTDIR"
: > "$RESULTS"

skip() { [[ " $SKIP " == *" $1 "* ]]; }
log() { printf '[turn-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

for t in turnserver turnutils_uclient turnutils_peer python3 ss; do
  have "$t" || { echo "bench/turn.sh: $t not found (apt-get install coturn iproute2 python3)" >&2; exit 1; }
done
TIME_BIN=/usr/bin/time
[[ -x $TIME_BIN ]] || { echo "bench/turn.sh: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }

SNAPSHOT=${SNAPSHOT:-0}
if [[ $SNAPSHOT == 1 ]]; then
  # Measure the committed HEAD, not the working tree (others may have work in progress):
  # build a `git archive HEAD` copy with its own target directory (kept for incremental builds).
  SNAP_COMMIT=$(git rev-parse --short=12 HEAD)
  log "building release binaries from a snapshot of HEAD ($SNAP_COMMIT)"
  mkdir -p "$WORK/src"
  git archive HEAD | tar -x -C "$WORK/src"
  SNAP_TARGET=$PWD/target/turn-bench-snapshot
  CARGO_TARGET_DIR=$SNAP_TARGET cargo build --release --manifest-path "$WORK/src/Cargo.toml" \
    -p switchboard -p switchboard-udp-forward
  SB=$SNAP_TARGET/release/switchboard
  ALLOCGEN=$SNAP_TARGET/release/turn-allocgen
  FWD=$SNAP_TARGET/release/udp-forward
  ECHO=$SNAP_TARGET/release/udp-echo
  SB_COMMIT=$SNAP_COMMIT
elif [[ $NO_BUILD != 1 ]]; then
  log "building release binaries"
  cargo build --release -p switchboard -p switchboard-udp-forward
fi
BINS=("$SB" "$ALLOCGEN" "$FWD")
if [[ $PEER == echo ]]; then BINS+=("$ECHO"); fi
for b in "${BINS[@]}"; do [[ -x $b ]] || { echo "bench/turn.sh: missing $b" >&2; exit 1; }; done

if [[ $PIN == 1 ]]; then PIN_S="taskset -c 0"; PIN_C="taskset -c 1"; else PIN_S=""; PIN_C=""; fi

SERVER_PID=""
PEER_PID=""
cleanup() {
  for p in $SERVER_PID $PEER_PID; do kill "$p" 2>/dev/null || true; done
  for p in $SERVER_PID $PEER_PID; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { [[ -n $(ss -Hlnu "sport = :$1") || -n $(ss -Hlnt "sport = :$1") ]]; }
for p in $PORT $PEER_PORT; do
  if port_busy "$p"; then echo "bench/turn.sh: port $p is in use; set PORT/PEER_PORT" >&2; exit 1; fi
done

# system-wide UDP counters "InDatagrams RcvbufErrors" (other processes on the machine count too)
udp_errs() { awk '$1=="Udp:" && $2 ~ /^[0-9]+$/ {print $2, $6}' /proc/net/snmp; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }
secs_since() { python3 -c "import time,sys; print(round(time.time()-float(sys.argv[1]),3))" "$1"; }

start_server() { # $1 = switchboard|coturn
  local name=$1 d=$WORK/$1-$RANDOM
  mkdir -p "$d"
  if [[ $name == switchboard ]]; then
    $PIN_S "$SB" turn --turn-listen "127.0.0.1:$PORT" --turn-listen-v6 off \
      --turn-relay-ports "$MIN_PORT-$MAX_PORT" --turn-realm "$REALM" \
      --turn-user "$TURN_USER:$TURN_PASS" --turn-secret "$TURN_SECRET" \
      --turn-allow-loopback-peers --turn-rfc5766-channels \
      --turn-max-allocations 100000 --turn-user-quota 100000 \
      --data-dir "$d/data" --log warn >"$d/server.log" 2>&1 &
  else
    # coturn cannot mix static users with --use-auth-secret (the secret disables them), so it
    # gets the static user only; every load here authenticates as that user on both servers.
    $PIN_S turnserver -n --no-cli --no-tls --no-dtls --no-rfc5780 \
      --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --listening-port "$PORT" \
      --min-port "$MIN_PORT" --max-port "$MAX_PORT" --realm "$REALM" \
      --lt-cred-mech --user "$TURN_USER:$TURN_PASS" --allow-loopback-peers \
      --total-quota 0 --user-quota 0 \
      --userdb "$d/turndb" --log-file "$d/server.log" --simple-log --no-stdout-log >"$d/stdout.log" 2>&1 &
  fi
  SERVER_PID=$!
  SERVER_DIR=$d
  for _ in $(seq 100); do
    [[ -n $(ss -Hlnu "sport = :$PORT") ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "bench/turn.sh: $name exited; log:" >&2; cat "$d"/*.log >&2; exit 1; }
    sleep 0.1
  done
  [[ -n $(ss -Hlnu "sport = :$PORT") ]] || { echo "bench/turn.sh: $name did not listen on $PORT" >&2; exit 1; }
  sleep 0.5
}

start_peer() { # $1 = run id; the echo peer, fresh for every relay run
  local plog=$WORK/peer-$1.log
  if [[ $PEER == echo ]]; then
    # bounded even if nothing stops it; stop_peer ends it with SIGTERM
    $PIN_C "$ECHO" --port "$PEER_PORT" --threads "$ECHO_THREADS" --buf "$ECHO_BUF" \
      --secs $(( UCLIENT_TIMEOUT + 120 )) >"$plog" 2>"$plog.err" &
  else
    $PIN_C turnutils_peer -L 127.0.0.1 -p "$PEER_PORT" >"$plog" 2>&1 &
  fi
  PEER_PID=$!
  for _ in $(seq 50); do
    [[ -n $(ss -Hlnu "sport = :$PEER_PORT") ]] && break
    kill -0 "$PEER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! kill -0 "$PEER_PID" 2>/dev/null || [[ -z $(ss -Hlnu "sport = :$PEER_PORT") ]]; then
    echo "bench/turn.sh: echo peer ($PEER) failed to start; log:" >&2; cat "$plog"* >&2; exit 1
  fi
}

stop_peer() { # $1 = run id; sets PEER_STATS: udp-echo's JSON summary, or null for turnutils_peer
  local plog=$WORK/peer-$1.log
  kill -TERM "$PEER_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$PEER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$PEER_PID" 2>/dev/null || true
  wait "$PEER_PID" 2>/dev/null || true
  PEER_PID=""
  for _ in $(seq 50); do [[ -z $(ss -Hlnu "sport = :$PEER_PORT") ]] && break; sleep 0.1; done
  PEER_STATS=null
  if [[ $PEER == echo ]]; then PEER_STATS=$(grep -m1 '^{' "$plog" || true); PEER_STATS=${PEER_STATS:-null}; fi
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  # let the relay ports and socket memory settle before the next server
  for _ in $(seq 50); do [[ -z $(ss -Hlnu "sport = :$PORT") ]] && break; sleep 0.1; done
}

relay_run() { # server round name len m z n
  local srv=$1 round=$2 name=$3 len=$4 m=$5 z=$6 n=$7
  local id=$srv-$round-$name ulog=$WORK/uclient-$srv-$round-$name.log
  start_server "$srv"
  start_peer "$id"
  local c0 p0 t0 wall c1 p1 uc hwm rss pstats
  c0=$(ticks "$SERVER_PID"); p0=$(ticks "$PEER_PID"); t0=$(date +%s.%N)
  local u0 u1
  u0=$(udp_errs)
  local d0 d1
  d0=$(python3 bench/turn/report.py udpdrops "$PORT" "$PEER_PORT" "$MIN_PORT" "$MAX_PORT")
  log "relay $name on $srv (round $round): uclient -m $m -n $n -l $len -z $z"
  $TIME_BIN -f "%U %S" -o "$WORK/time-$id" timeout "$UCLIENT_TIMEOUT" $PIN_C turnutils_uclient \
    -p "$PORT" -u "$TURN_USER" -w "$TURN_PASS" -e 127.0.0.1 -r "$PEER_PORT" \
    -m "$m" -n "$n" -l "$len" -z "$z" -c -X 127.0.0.1 >"$ulog" 2>&1 &
  local tpid=$! upid=""
  # Sample CPU ticks of server, uclient and peer every 0.5 s, to find the peak window.
  # our uclient is the grandchild of /usr/bin/time (time -> timeout -> uclient)
  for _ in $(seq 50); do
    upid=$(pgrep -P "$(pgrep -P "$tpid" | head -1 || true)" 2>/dev/null | head -1 || true)
    [[ -n $upid ]] && break
    sleep 0.1
  done
  while kill -0 "$tpid" 2>/dev/null; do
    if [[ -n $upid ]] && [[ -r /proc/$upid/stat ]]; then
      echo "$(date +%s.%N) $(ticks "$SERVER_PID") $(ticks "$upid" 2>/dev/null || echo x) $(ticks "$PEER_PID")" >>"$WORK/samp-$id" 2>/dev/null || true
    fi
    sleep 0.5
  done
  wait "$tpid" || log "uclient exited non-zero (see $ulog)"
  wall=$(secs_since "$t0")
  c1=$(ticks "$SERVER_PID"); p1=$(ticks "$PEER_PID")
  hwm=$(status_kb "$SERVER_PID" VmHWM); rss=$(status_kb "$SERVER_PID" VmRSS)
  u1=$(udp_errs)
  d1=$(python3 bench/turn/report.py udpdrops "$PORT" "$PEER_PORT" "$MIN_PORT" "$MAX_PORT")
  uc=$(awk 'END {print $1+$2}' "$WORK/time-$id")
  stop_peer "$id"; pstats=$PEER_STATS
  stop_server
  cp "$ulog" "$WORK/keep-$id.log"
  printf '{"phase":"relay","server":"%s","round":%s,"scenario":"%s","len":%s,"m":%s,"z":%s,"n":%s,"wall_s":%s,"server_cpu_s":%s,"server_hwm_kb":%s,"server_rss_kb":%s,"uclient_cpu_s":%s,"peer_cpu_s":%s,"log":"%s","samples":"%s","tck":%s,"udp_rcvbuf_errors":%s,"udp_in_datagrams":%s,"drops_before":[%s],"drops_after":[%s],"peer":"%s","peer_stats":%s}\n' \
    "$srv" "$round" "$name" "$len" "$m" "$z" "$n" "$wall" \
    "$(python3 -c "print(round(($c1-$c0)/$TCK,2))")" "$hwm" "$rss" "$uc" \
    "$(python3 -c "print(round(($p1-$p0)/$TCK,2))")" "$WORK/keep-$id.log" "$WORK/samp-$id" "$TCK" \
    "$(( ${u1#* } - ${u0#* } ))" "$(( ${u1% *} - ${u0% *} ))" "${d0// /,}" "${d1// /,}" "$PEER" "$pstats" >>"$RESULTS"
  python3 bench/turn/report.py uclient "$ulog" | sed "s/^/[turn-bench]   /" >&2
  [[ $pstats == null ]] || log "  peer: $pstats"
}

alloc_run() { # server round cycle|hold
  local srv=$1 round=$2 mode=$3 count
  if [[ $mode == cycle ]]; then count=$ALLOC_CYCLES; else count=$HOLD_ALLOCS; fi
  start_server "$srv"
  local c0 c1 out
  log "alloc $mode on $srv (round $round): $count allocations, concurrency $ALLOC_CONCURRENCY"
  c0=$(ticks "$SERVER_PID")
  out=$($PIN_C "$ALLOCGEN" --server "127.0.0.1:$PORT" --user "$TURN_USER" --pass "$TURN_PASS" \
        --mode "$mode" --count "$count" --concurrency "$ALLOC_CONCURRENCY" --secs "$ALLOC_SECS" \
        --server-pid "$SERVER_PID")
  c1=$(ticks "$SERVER_PID")
  local hwm rss
  hwm=$(status_kb "$SERVER_PID" VmHWM); rss=$(status_kb "$SERVER_PID" VmRSS)
  stop_server
  log "  $out"
  printf '{"phase":"alloc","server":"%s","round":%s,"scenario":"%s","server_cpu_s":%s,"server_hwm_kb":%s,"server_rss_kb":%s,"gen":%s}\n' \
    "$srv" "$round" "$mode" "$(python3 -c "print(round(($c1-$c0)/$TCK,2))")" "$hwm" "$rss" "$out" >>"$RESULTS"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
COMMIT=${SB_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
DIRTY=false
if [[ -z ${SB_COMMIT:-} && -n $(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null) ]]; then DIRTY=true; fi
log "Switchboard $COMMIT (dirty: $DIRTY), coturn $(turnserver --version 2>/dev/null | head -1), peer $PEER, load average $LOAD_BEFORE"

# ---------------------------------------------------------------- forwarder reference
FWD_SCEN=("rate${FWD_RATE}-100B:100:$FWD_RATE" "sat-100B:100:0" "sat-1000B:1000:0")
if ! skip forward; then
  for s in "${FWD_SCEN[@]}"; do
    IFS=: read -r name size rate <<<"$s"
    for mode in single batch; do
      log "forwarder $name $mode"
      out=$("$FWD" --mode "$mode" --batch 32 --size "$size" --rate "$rate" --window 256 --secs "$FWD_SECS")
      log "  $out"
      printf '{"phase":"forward","scenario":"%s",%s\n' "$name" "${out#\{}" >>"$RESULTS"
    done
  done
fi

# ---------------------------------------------------------------- A/B rounds
RELAY_NAMES=()
for s in $RELAY; do RELAY_NAMES+=("${s%%:*}"); done
for round in $(seq "$ROUNDS"); do
  for srv in $SERVERS; do
    if ! skip relay; then
      for s in $RELAY; do
        IFS=: read -r name len m z n <<<"$s"
        relay_run "$srv" "$round" "$name" "$len" "$m" "$z" "$n"
      done
    fi
    if ! skip alloc; then
      alloc_run "$srv" "$round" cycle
      alloc_run "$srv" "$round" hold
    fi
  done
done

# ---------------------------------------------------------------- report
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$WORK/meta.json" <<PY
import json, sys, platform
cpu = next((l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
json.dump({
  "date": "$DATE", "commit": "$COMMIT", "dirty": $( [[ $DIRTY == true ]] && echo True || echo False ),
  "coturn_version": "$(turnserver --version 2>/dev/null | head -1)",
  "cpus": $(nproc), "cpu_model": cpu, "kernel": platform.release(),
  "load_before": "$LOAD_BEFORE", "load_after": "$LOAD_AFTER",
  "quick": $( [[ $QUICK == 1 ]] && echo True || echo False ), "rounds": $ROUNDS,
  "pin": "$( [[ $PIN == 1 ]] && echo 'server CPU 0, load CPU 1' || echo none )",
  "relay_scenarios": "${RELAY_NAMES[*]}".split(), "relay_spec": "$RELAY",
  "fwd_scenarios": [s.split(":")[0] for s in "${FWD_SCEN[*]}".split()],
  "alloc_cycles": $ALLOC_CYCLES, "alloc_concurrency": $ALLOC_CONCURRENCY, "hold_allocs": $HOLD_ALLOCS,
  "relay_ports": "$RELAY_PORTS", "port": $PORT,
  "peer": "$PEER", "echo_threads": $ECHO_THREADS, "echo_buf": $ECHO_BUF,
}, open(sys.argv[1], "w"), indent=1)
PY
python3 bench/turn/report.py summarize "$RESULTS" "$OUT_JSON" "$OUT_MD" "$WORK/meta.json"
log "wrote $OUT_JSON and $OUT_MD"
