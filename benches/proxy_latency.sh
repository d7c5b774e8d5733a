#!/usr/bin/env bash
# The latency tracing adds to a proxy, as its users measure it: the same
# requests through examples/proxy.rs in four modes, alternating, round
# after round, under three loads; p50, p99 and p99.9 of every run, and the
# median over rounds of each.
#
#   bash benches/proxy_latency.sh [ROUNDS] [SECONDS]
#
# Modes (MODES to choose, space-separated):
#   off        --no-tracing: the proxy alone
#   tracewire  tracewire, OTLP/gRPC, default batch settings, sampleRate=1
#   sampled0   tracewire with --tracing.sampleRate=0 and an incoming
#              traceparent that is not sampled: nothing is recorded, the
#              context is propagated. (With a *sampled* incoming parent,
#              sampleRate=0 still records every span: Traefik's sampler is
#              ParentBased, the parent decides.)
#   sdk        --sdk: the OpenTelemetry Rust SDK with opentelemetry-otlp's
#              gRPC exporter, default batch settings, sampleRate=1
# Loads (LOADS to choose):
#   c1         wrk, 1 connection, closed loop (CONNECTIONS_SMALL)
#   c16        wrk, 16 connections, closed loop (CONNECTIONS_LARGE)
#   rate       examples/loadgen.rs, open loop: RATE requests/s (default
#              2000) over 16 connections, each request timed from when it
#              was due, so a slow response is not hidden by the requests a
#              closed loop stops sending meanwhile
#
# Placement, on a machine with two CPUs or more: the proxies (with their
# export threads) on CPU 0; wrk, the upstream and the receiver on CPU 1.
# The receiver (`tracewire receive`, standing in for a Collector) runs at
# SCHED_IDLE: a real Collector is on another machine, and here its decoding
# of each batch would otherwise delay the upstream and wrk on CPU 1 by
# 2-3 ms every batch, a cost of the harness that the proxy never pays
# (measured: BENCHMARKS.md, "Latency a proxy pays").
#
# Installs wrk (apt-get) when it is missing; builds the release binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
seconds="${2:-10}"
modes="${MODES:-off tracewire sampled0 sdk}"
loads="${LOADS:-c1 c16 rate}"
rate="${RATE:-2000}"
small="${CONNECTIONS_SMALL:-1}"
large="${CONNECTIONS_LARGE:-16}"

if ! command -v wrk >/dev/null; then
  echo "== installing wrk" >&2
  if command -v apt-get >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    $sudo apt-get install -y -qq wrk >/dev/null 2>&1 || { $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk; }
  fi
  command -v wrk >/dev/null || { echo "wrk is needed and could not be installed: install it (Debian: apt-get install wrk)" >&2; exit 1; }
fi
cargo build --release --quiet --features tower --bin tracewire --example proxy --example upstream --example loadgen

pin0=""; pin1=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin0="taskset -c 0"; pin1="taskset -c 1"; fi
idle=""
if command -v chrt >/dev/null && chrt -i 0 true 2>/dev/null; then idle="chrt -i 0"; fi

pids=()
tmp=$(mktemp -d)
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(port); grpc=$(port); http=$(port)
$pin1 target/release/examples/upstream "127.0.0.1:$up" 2>/dev/null & pids+=($!)
$pin1 $idle target/release/tracewire receive --quiet --grpc "127.0.0.1:$grpc" --http "127.0.0.1:$http" 2>"$tmp/receive.log" & pids+=($!)

declare -A proxy_port
common=(--upstream "http://127.0.0.1:$up" "--tracing.otlp.grpc.endpoint=127.0.0.1:$grpc" --tracing.otlp.grpc.insecure=true
        --tracing.capturedRequestHeaders=X-Request-Id --tracing.safeQueryParams=page)
for m in $modes; do
  p=$(port); proxy_port[$m]=$p
  case "$m" in
    off) extra=(--no-tracing) ;;
    tracewire) extra=() ;;
    sampled0) extra=(--tracing.sampleRate=0) ;;
    sdk) extra=(--sdk) ;;
    *) echo "unknown mode $m (off tracewire sampled0 sdk)" >&2; exit 2 ;;
  esac
  $pin0 target/release/examples/proxy --listen "127.0.0.1:$p" "${common[@]}" "${extra[@]}" 2>"$tmp/proxy-$m.log" & pids+=($!)
done
sleep 1

cat >"$tmp/report.lua" <<'EOF'
done = function(summary, latency, requests)
  io.write(string.format("%.1f %.1f %.1f %.0f %d\n", latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), summary.requests / (summary.duration / 1e6),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
EOF

path="/api/v1/users/42?page=2&q=secret"
traceparent() { # mode -> the incoming traceparent
  if [ "$1" = sampled0 ]; then echo "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
  else echo "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; fi
}
run() { # load mode -> "p50_us p99_us p999_us req_per_s errors"
  local url="http://127.0.0.1:${proxy_port[$2]}$path" tp; tp=$(traceparent "$2")
  case "$1" in
    c1|c16)
      local c=$small; [ "$1" = c16 ] && c=$large
      $pin1 wrk -t1 -c"$c" -d"${seconds}s" -s "$tmp/report.lua" -H 'X-Request-Id: req-1' -H "traceparent: $tp" "$url" | tail -n 1 ;;
    rate)
      $pin1 target/release/examples/loadgen "$url" --rate "$rate" --connections "$large" --seconds "$seconds" \
        -H 'X-Request-Id: req-1' -H "traceparent: $tp" | awk '{print $1, $2, $3, $5, $6}' ;;
  esac
}

read -ra mode_list <<<"$modes"
echo "rounds $rounds x ${seconds}s; loads: $loads (c1: $small conn, c16: $large conns, rate: $rate req/s open loop); receiver ${idle:-at normal priority}"
printf "%-5s %-5s %-10s %10s %10s %10s %9s %6s\n" round load mode "p50 us" "p99 us" "p99.9 us" "req/s" errors
for r in $(seq 1 "$rounds"); do
  for load in $loads; do
    # Rotate the order each round, so no mode always runs first.
    n=${#mode_list[@]}
    for k in $(seq 0 $((n - 1))); do
      m=${mode_list[$(( (k + r) % n ))]}
      res=$(run "$load" "$m")
      echo "$load $m $res" >>"$tmp/results"
      read -r a b c d e <<<"$res"
      printf "%-5s %-5s %-10s %10s %10s %10s %9s %6s\n" "$r" "$load" "$m" "$a" "$b" "$c" "$d" "$e"
    done
  done
done

median() { sort -n | awk '{v[NR]=$1} END { if (NR == 0) print 0; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2 }'; }
col() { awk -v l="$1" -v m="$2" -v c="$3" '$1==l && $2==m {print $c}' "$tmp/results" | median; }
echo
echo "median over $rounds rounds (and the change from off, where off ran)"
printf "%-5s %-10s %10s %10s %10s %9s %12s %12s\n" load mode "p50 us" "p99 us" "p99.9 us" "req/s" "p99 vs off" "p99.9 vs off"
for load in $loads; do
  off99=""; off999=""
  if [[ " $modes " == *" off "* ]]; then off99=$(col "$load" off 4); off999=$(col "$load" off 5); fi
  for m in $modes; do
    p50=$(col "$load" "$m" 3); p99=$(col "$load" "$m" 4); p999=$(col "$load" "$m" 5); rps=$(col "$load" "$m" 6)
    d99="-"; d999="-"
    if [ -n "$off99" ] && [ "$m" != off ]; then
      d99=$(awk -v a="$p99" -v b="$off99" 'BEGIN { if (b > 0) printf "%+.0f%%", (a - b) * 100 / b; else print "-" }')
      d999=$(awk -v a="$p999" -v b="$off999" 'BEGIN { if (b > 0) printf "%+.0f%%", (a - b) * 100 / b; else print "-" }')
    fi
    printf "%-5s %-10s %10s %10s %10s %9s %12s %12s\n" "$load" "$m" "$p50" "$p99" "$p999" "$rps" "$d99" "$d999"
  done
done

echo
for m in tracewire sampled0; do
  [[ " $modes " == *" $m "* ]] || continue
  stats=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "http://127.0.0.1:${proxy_port[$m]}/metrics" 2>/dev/null | grep -E '^tracewire_spans_(recorded|exported|dropped|shed|failed)_total ' | awk '{printf "%s=%s ", $1, $2}' | sed 's/tracewire_spans_//g; s/_total//g')
  echo "$m pipeline: ${stats:-(no /metrics)}"
done
