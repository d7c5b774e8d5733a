#!/usr/bin/env bash
# Peak RSS of `tracewire load` with 1, 8 and 64 recording threads (1M spans
# each run), and at 10k, 100k and 1M spans with one thread, against a
# healthy collector (`tracewire receive --quiet`, every span exported) and
# against a dead one (nothing listens; --no-backpressure, so the span logs
# fill and drop). Memory should be flat in the span count, and grow with
# the thread count by at most one log chunk per thread.
#
#   bash benches/load_rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin tracewire
bin=target/release/tracewire
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc=$(port); http=$(port); dead=$(port)
$bin receive --quiet --grpc "127.0.0.1:$grpc" --http "127.0.0.1:$http" 2>/dev/null & rpid=$!
trap 'kill $rpid 2>/dev/null || true' EXIT
sleep 0.5
rss() { # args... -> "max_rss_kib exported dropped failed seconds"
  /usr/bin/time -f '%M' -o /tmp/tracewire-rss.txt "$@" --json > /tmp/tracewire-load.json 2>/dev/null || true
  python3 - <<'PY'
import json
j = json.loads(open("/tmp/tracewire-load.json").read().strip().splitlines()[-1])
rss = open("/tmp/tracewire-rss.txt").read().split()[-1]
print(rss, j["exported"], j["dropped"], j["failed"], round(j["seconds"], 2))
PY
}
printf "%-8s %-8s %-8s %14s %10s %10s %10s %8s\n" collector threads spans "peak RSS KiB" exported dropped failed seconds
runs() { # threads spans...
  local t=$1; shift
  for n in "$@"; do
    read -r kib exp drop fail secs <<<"$(rss $bin load --threads "$t" --spans "$n" "--tracing.otlp.grpc.endpoint=127.0.0.1:$grpc" --tracing.otlp.grpc.insecure=true)"
    printf "%-8s %-8s %-8s %14s %10s %10s %10s %8s\n" healthy "$t" "$n" "$kib" "$exp" "$drop" "$fail" "$secs"
  done
  for n in "$@"; do
    read -r kib exp drop fail secs <<<"$(rss $bin load --threads "$t" --spans "$n" --no-backpressure "--tracing.otlp.grpc.endpoint=127.0.0.1:$dead" --tracing.otlp.grpc.insecure=true --tracing.batch.exportTimeout=2s)"
    printf "%-8s %-8s %-8s %14s %10s %10s %10s %8s\n" dead "$t" "$n" "$kib" "$exp" "$drop" "$fail" "$secs"
  done
}
runs 1 10000 100000 1000000
runs 8 1000000
runs 64 1000000
