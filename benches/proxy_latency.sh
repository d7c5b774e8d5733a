#!/usr/bin/env bash
# The latency tracing adds to a proxy: the same wrk load through
# examples/proxy.rs with tracing off and on (exporting over OTLP/gRPC to
# `tracewire receive --quiet`), alternating, several rounds; p50 and p99 of
# each run, and the median over rounds of each.
#
#   bash benches/proxy_latency.sh [ROUNDS] [SECONDS] [CONNECTIONS]
#
# Needs wrk (Debian: apt-get install wrk). Builds the release binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
seconds="${2:-10}"
conns="${3:-1}"
# Pin the proxy (and so its export worker) to CPU 0, everything else to
# CPU 1, when taskset exists and there are two CPUs: the proxy then competes
# only with its own tracing.
pin0=""; pin1=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin0="taskset -c 0"; pin1="taskset -c 1"; fi
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet --features tower --bin tracewire --example proxy --example upstream

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(port); grpc=$(port); http=$(port); p_off=$(port); p_on=$(port)

$pin1 target/release/examples/upstream "127.0.0.1:$up" 2>/dev/null & pids+=($!)
$pin1 target/release/tracewire receive --quiet --grpc "127.0.0.1:$grpc" --http "127.0.0.1:$http" 2>/tmp/tracewire-latency-receive.log & pids+=($!)
$pin0 target/release/examples/proxy --listen "127.0.0.1:$p_off" --upstream "http://127.0.0.1:$up" --no-tracing 2>/dev/null & pids+=($!)
$pin0 target/release/examples/proxy --listen "127.0.0.1:$p_on" --upstream "http://127.0.0.1:$up" \
  "--tracing.otlp.grpc.endpoint=127.0.0.1:$grpc" --tracing.otlp.grpc.insecure=true \
  --tracing.capturedRequestHeaders=X-Request-Id --tracing.safeQueryParams=page 2>/dev/null & pids+=($!)
sleep 1

run() { # url -> "p50_us p99_us requests_per_s"
  $pin1 wrk -t1 -c"$conns" -d"${seconds}s" --latency -H 'X-Request-Id: req-1' \
      -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' "$1" |
  awk '
    function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1e6; return v }
    $1=="50%" {p50=us($2)} $1=="99%" {p99=us($2)} /Requests\/sec/ {rps=$2}
    END { printf "%.1f %.1f %.0f\n", p50, p99, rps }'
}

path="/api/v1/users/42?page=2&q=secret"
off=(); on=()
echo "round  tracing-off p50/p99 (us)  tracing-on p50/p99 (us)   req/s off/on"
for r in $(seq 1 "$rounds"); do
  a=$(run "http://127.0.0.1:$p_off$path"); b=$(run "http://127.0.0.1:$p_on$path")
  off+=("$a"); on+=("$b")
  read -r a50 a99 arps <<<"$a"; read -r b50 b99 brps <<<"$b"
  printf "%5d  %10s / %-10s      %10s / %-10s   %s / %s\n" "$r" "$a50" "$a99" "$b50" "$b99" "$arps" "$brps"
done
median() { sort -n | awk '{v[NR]=$1} END { if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2 }'; }
off50=$(printf '%s\n' "${off[@]}" | awk '{print $1}' | median); off99=$(printf '%s\n' "${off[@]}" | awk '{print $2}' | median)
on50=$(printf '%s\n' "${on[@]}" | awk '{print $1}' | median); on99=$(printf '%s\n' "${on[@]}" | awk '{print $2}' | median)
echo "median over $rounds rounds: off p50 ${off50} us, p99 ${off99} us; on p50 ${on50} us, p99 ${on99} us"
echo "added: p50 $(echo "$on50 - $off50" | bc) us, p99 $(echo "$on99 - $off99" | bc) us"
kill "${pids[1]}" 2>/dev/null; sleep 0.5
tail -n 1 /tmp/tracewire-latency-receive.log
