#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 30 s each) from its
# committed seed corpus. Installs cargo-fuzz when missing. Stable toolchain:
# no sanitizer (-s none); see README.md for AddressSanitizer.
#
#   bash fuzz/smoke.sh            # 30 s per target
#   bash fuzz/smoke.sh 300        # 5 min per target
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
targets=(encode_roundtrip traceparent propagators config responses receive split)
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${seconds}s"
  # Work on a copy so the committed seeds stay small and reviewable.
  work="$(mktemp -d)"
  cp -r "corpus/$t/." "$work/"
  cargo fuzz run -s none "$t" "$work" -- -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 2>&1 | tail -n 3
  rm -rf "$work"
done
echo "== all fuzz targets ran ${seconds}s without a crash"
