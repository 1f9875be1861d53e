#!/usr/bin/env bash
# Signaling benchmark for Switchboard's room server + Collider-compatible relay.
#
# Builds release binaries, then for each scenario starts a fresh server
#   target/release/switchboard --listen 127.0.0.1:0 --turn-enabled false --tls off --max-connections 30000 --log warn
# and drives it with target/release/switchboard-loadgen:
#   A  100 rooms exchanging messages (throughput)
#   B  1,000 rooms exchanging messages as fast as possible (closed loop, throughput)
#   B2 1,000 rooms at a fixed offered load of 2x Collider's 53,000 msgs/s (open loop, latency)
#   C  19,000 idle registered WebSocket clients (memory per client)
# Server CPU-seconds come from /proc/<pid>/stat (utime+stime / CLK_TCK), memory from
# /proc/<pid>/status (VmRSS, VmHWM). Results: bench/results/signaling-<date>.json plus a
# markdown table on stdout.
#
# Environment knobs (defaults in brackets):
#   MSGS_A [10000]  messages per room in A      MSGS_B [1500]  messages per room in B
#   ROOMS_A [100]   ROOMS_B [1000]              CLIENTS_C [19000]
#   WINDOW [1]      in-flight messages per direction per room
#   HTTP_FRACTION [0.02] share of messages sent over POST /message and POST /ws/<room>/<client>
#   THREADS [0]     loadgen tokio worker threads (0 = all CPUs)
#   PIN [0]         1 = taskset server on CPU 0 and loadgen on CPU 1
#   TIMEOUT [300]   per-scenario loadgen time bound (s)
#   NO_BUILD [0]    1 = skip cargo build
#   RATE_B2 [106000] offered msgs/s in B2      WINDOW_B2 [32]
#   SCENARIOS ["A B B2 C"]
#   SERVER_BIN [target/release/switchboard]   LOADGEN_BIN [target/release/switchboard-loadgen]
#   TAG [""]       suffix of the result file name (signaling-<date>-<tag>.json), for A/B runs
# Each scenario records the 1-minute load average before it starts: other work on the
# machine shows up there, and the figures should be read with it.
set -euo pipefail

cd "$(dirname "$0")/.."
MSGS_A=${MSGS_A:-10000}
MSGS_B=${MSGS_B:-1500}
ROOMS_A=${ROOMS_A:-100}
ROOMS_B=${ROOMS_B:-1000}
CLIENTS_C=${CLIENTS_C:-19000}
WINDOW=${WINDOW:-1}
HTTP_FRACTION=${HTTP_FRACTION:-0.02}
THREADS=${THREADS:-0}
PIN=${PIN:-0}
TIMEOUT=${TIMEOUT:-300}
NO_BUILD=${NO_BUILD:-0}
RATE_B2=${RATE_B2:-106000}
WINDOW_B2=${WINDOW_B2:-32}
SCENARIOS=${SCENARIOS:-"A B B2 C"}

SERVER=${SERVER_BIN:-target/release/switchboard}
LOADGEN=${LOADGEN_BIN:-target/release/switchboard-loadgen}
DATE=$(date +%Y-%m-%d)
OUTDIR=bench/results
TAG=${TAG:-}
OUT=$OUTDIR/signaling-$DATE${TAG:+-$TAG}.json
WORK=$(mktemp -d /tmp/sb-signaling.XXXXXX)
TCK=$(getconf CLK_TCK)
mkdir -p "$OUTDIR"

if [[ $NO_BUILD != 1 ]]; then
  cargo build --release -p switchboard -p switchboard-loadgen
fi

SERVER_PID=""
ADDR=""
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

pin() { # pin <cpu> -> prefix command
  if [[ $PIN == 1 ]]; then echo "taskset -c $1"; fi
}

start_server() { # start_server <name>
  local log=$WORK/server-$1
  # shellcheck disable=SC2046
  $(pin 0) "$SERVER" --listen 127.0.0.1:0 --turn-enabled false --tls off --max-connections 30000 --log warn >"$log.out" 2>"$log.err" &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    ADDR=$(sed -n 's/^Listening on //p' "$log.out" | head -n1)
    [[ -n $ADDR ]] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server exited during start-up:" >&2; cat "$log.err" >&2; return 1
    fi
    sleep 0.1
  done
  [[ -n $ADDR ]] || { echo "server did not print 'Listening on'" >&2; return 1; }
  sleep 0.5 # let it settle before the idle sample
}

STATE=""
stop_server() { # sets STATE to whether the server was still alive at the end
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
    STATE=alive
  else
    local rc=0; wait "$SERVER_PID" 2>/dev/null || rc=$?
    STATE="dead (exit $rc)"
  fi
  SERVER_PID=""
}

cpu_secs() { awk -v t="$TCK" '{ s=$0; sub(/^.*\) /, "", s); split(s, f, " "); printf "%.2f", (f[12]+f[13])/t }' "/proc/$1/stat"; }
kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }

snapshot() { # snapshot <pid> -> JSON {cpu_secs, rss_kb, hwm_kb}
  jq -n --argjson c "$(cpu_secs "$1")" --argjson r "$(kb "$1" VmRSS)" --argjson h "$(kb "$1" VmHWM)" \
    '{cpu_secs:$c, rss_kb:$r, hwm_kb:$h}'
}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"

run_throughput() { # run_throughput <name> <rooms> <messages per room> <window> [<rate>]
  local name=$1 rooms=$2 msgs=$3 window=$4 rate=${5:-0}
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  start_server "$name"
  local idle; idle=$(snapshot "$SERVER_PID")
  local cmd=("$LOADGEN" --url "http://$ADDR" --timeout "$TIMEOUT" --threads "$THREADS" --server-pid "$SERVER_PID"
    throughput --rooms "$rooms" --messages "$msgs" --window "$window" --rate "$rate" --http-fraction "$HTTP_FRACTION")
  echo "== scenario $name: ${cmd[*]}" >&2
  local rc=0
  # shellcheck disable=SC2046
  $(pin 1) "${cmd[@]}" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
  cat "$WORK/$name.err" >&2
  local after; after=$(snapshot "$SERVER_PID" 2>/dev/null || echo null)
  stop_server; local state=$STATE
  local lg; lg=$(tail -n1 "$WORK/$name.out"); [[ $lg == \{* ]] || lg=null
  jq -nc --arg name "$name" --arg cmd "${cmd[*]}" --argjson rc "$rc" --argjson idle "$idle" --argjson after "$after" \
    --arg state "$state" --argjson lg "$lg" --arg serr "$(tail -c 2000 "$WORK/server-$name.err")" --argjson load "$load" \
    '{name:$name, command:$cmd, loadavg_1m_before:$load, loadgen_exit:$rc, server_idle:$idle, server_after:$after,
      server_state_after:$state, server_stderr_tail:$serr,
      server_run_cpu_secs:(if $after then $after.cpu_secs - $idle.cpu_secs else null end),
      loadgen:$lg}' >>"$RESULTS"
}

run_hold() { # run_hold <name> <clients>
  local name=$1 clients=$2
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  start_server "$name"
  sleep 1
  local idle; idle=$(snapshot "$SERVER_PID")
  local cmd=("$LOADGEN" --url "http://$ADDR" --timeout "$TIMEOUT" --threads "$THREADS" --server-pid "$SERVER_PID"
    hold --clients "$clients")
  echo "== scenario $name: ${cmd[*]}" >&2
  # shellcheck disable=SC2046
  $(pin 1) "${cmd[@]}" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  local lg_pid=$!
  local ready="" loaded=null
  for _ in $(seq 1 $((TIMEOUT * 10))); do
    ready=$(grep -m1 '^READY' "$WORK/$name.out" || true)
    [[ -n $ready ]] && break
    kill -0 "$lg_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -n $ready ]]; then
    sleep 3 # let the server settle (pending writes, allocator)
    loaded=$(snapshot "$SERVER_PID")
    kill -TERM "$lg_pid" 2>/dev/null || true
  fi
  local rc=0; wait "$lg_pid" || rc=$?
  cat "$WORK/$name.err" >&2
  stop_server; local state=$STATE
  local lg; lg=$(tail -n1 "$WORK/$name.out"); [[ $lg == \{* ]] || lg=null
  jq -nc --arg name "$name" --arg cmd "${cmd[*]}" --argjson rc "$rc" --argjson idle "$idle" --argjson loaded "$loaded" \
    --arg ready "$ready" --arg state "$state" --argjson lg "$lg" --arg serr "$(tail -c 2000 "$WORK/server-$name.err")" --argjson load "$load" \
    '{name:$name, command:$cmd, loadavg_1m_before:$load, loadgen_exit:$rc, ready_line:$ready, server_idle:$idle, server_loaded:$loaded,
      server_state_after:$state, server_stderr_tail:$serr, loadgen:$lg,
      clients:($lg.clients_connected // null),
      rss_delta_kb:(if $loaded then $loaded.rss_kb - $idle.rss_kb else null end),
      rss_per_client_kb:(if $loaded and ($lg.clients_connected // 0) > 0
        then (($loaded.rss_kb - $idle.rss_kb) / $lg.clients_connected) else null end)}' >>"$RESULTS"
}

for s in $SCENARIOS; do
  case $s in
    A) run_throughput A "$ROOMS_A" "$MSGS_A" "$WINDOW" ;;
    B) run_throughput B "$ROOMS_B" "$MSGS_B" "$WINDOW" ;;
    B2) run_throughput B2 "$ROOMS_B" "$MSGS_B" "$WINDOW_B2" "$RATE_B2" ;;
    C) run_hold C "$CLIENTS_C" ;;
  esac
done

jq -s --arg date "$DATE" --arg nproc "$(nproc)" --arg cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -n1)" \
  --arg mem "$(free -h | awk '/^Mem:/ {print $2}')" --arg kernel "$(uname -r)" \
  --arg pin "$PIN" --arg threads "$THREADS" '
  {date:$date,
   machine:{nproc:($nproc|tonumber), cpu:$cpu, mem_total:$mem, kernel:$kernel,
            note:"server and load generator share the same 2 cores", pinned:($pin=="1"), loadgen_threads:($threads|tonumber)},
   collider_reference:{kb_per_client:25, msgs_per_s_100_rooms:68000, p99_ms_100_rooms:6,
                       msgs_per_s_1000_rooms:53000, p99_ms_1000_rooms:39, cpu_s_per_100k_msgs:2.2},
   targets:{kb_per_client_max:8, msgs_per_s_1000_rooms_min:106000, p99_ms_1000_rooms_max:10, cpu_s_per_100k_msgs_max:1},
   scenarios:(map({key:.name, value:.}) | from_entries)}' "$RESULTS" >"$OUT"
echo "results: $OUT" >&2

# Markdown table.
jq -r '
  def f(d): if . == null then "n/a" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
  def tp(s): .scenarios[s].loadgen;
  "| Scenario | Switchboard | Collider (reference) | Target |",
  "|---|---|---|---|",
  (if .scenarios.A then
    "| A: 100 rooms, msgs/s | \(tp("A").msgs_per_sec | f(0)) | 68,000 | — |",
    "| A: relay latency p50 / p99 / max (ms) | \(tp("A").latency_ms.p50 | f(2)) / \(tp("A").latency_ms.p99 | f(2)) / \(tp("A").latency_ms.max | f(1)) | p99 6 | — |",
    "| A: server CPU-s per 100k msgs (exchange phase) | \(tp("A").server_exchange.cpu_secs_per_100k_msgs | f(2)) | 2.2 | ≤ 1 |",
    "| A: joins/s (join stage) | \(tp("A").joins_per_sec | f(0)) | — | — |",
    "| A: errors | \(tp("A").errors_total) \(tp("A").errors | tostring) | — | 0 |"
   else empty end),
  (if .scenarios.B then
    "| B: 1,000 rooms, msgs/s | \(tp("B").msgs_per_sec | f(0)) | 53,000 | ≥ 106,000 |",
    "| B: relay latency p50 / p99 / max (ms) | \(tp("B").latency_ms.p50 | f(2)) / \(tp("B").latency_ms.p99 | f(2)) / \(tp("B").latency_ms.max | f(1)) | p99 39 | p99 < 10 |",
    "| B: server CPU-s per 100k msgs (exchange phase) | \(tp("B").server_exchange.cpu_secs_per_100k_msgs | f(2)) | 2.2 | ≤ 1 |",
    "| B: joins/s (join stage) | \(tp("B").joins_per_sec | f(0)) | — | — |",
    "| B: errors | \(tp("B").errors_total) \(tp("B").errors | tostring) | — | 0 |"
   else empty end),
  (if .scenarios.B2 then
    "| B2: 1,000 rooms, offered \(tp("B2").offered_rate) msgs/s → delivered msgs/s | \(tp("B2").msgs_per_sec | f(0)) | 53,000 | ≥ 106,000 |",
    "| B2: relay latency p50 / p99 / max (ms) | \(tp("B2").latency_ms.p50 | f(2)) / \(tp("B2").latency_ms.p99 | f(2)) / \(tp("B2").latency_ms.max | f(1)) | p99 39 | p99 < 10 |",
    "| B2: generator send lag behind schedule, mean / max (ms) | \(tp("B2").send_lag.mean_ms | f(2)) / \(tp("B2").send_lag.max_ms | f(1)) | — | small vs latency |",
    "| B2: server CPU-s per 100k msgs (exchange phase) | \(tp("B2").server_exchange.cpu_secs_per_100k_msgs | f(2)) | 2.2 | ≤ 1 |",
    "| B2: errors | \(tp("B2").errors_total) \(tp("B2").errors | tostring) | — | 0 |"
   else empty end),
  (if .scenarios.C then
    "| C: clients held / server RSS idle → loaded (MiB) | \(.scenarios.C.clients) / \(.scenarios.C.server_idle.rss_kb / 1024 | f(1)) → \(.scenarios.C.server_loaded.rss_kb / 1024 | f(1)) | — | — |",
    "| C: server RSS per connected client (KiB) | \(.scenarios.C.rss_per_client_kb | f(2)) | 25 | ≤ 8 |",
    "| C: errors | \(tp("C").errors_total) \(tp("C").errors | tostring) | — | 0 |"
   else empty end)
' "$OUT"
