#!/usr/bin/env bash
# Runs every cargo-fuzz target in turn for SECONDS each (default 600) and
# prints, per target, the executions, the corpus size and any crash.
#
#   bench/fuzz.sh [SECONDS] [TARGET...]
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`);
# CARGO_TARGET_DIR may point the build elsewhere.
# Built without a sanitizer (-s none; the crate forbids unsafe code) and with
# debug assertions (-a), so overflows count as crashes. New inputs that find
# new coverage land in fuzz/corpus/TARGET (committed); a crash leaves its
# input in fuzz/artifacts/TARGET and stops that target.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(exotel twilio csv phone query)
cargo +nightly fuzz build -O -a -s none >/dev/null || exit 1
for t in "${targets[@]}"; do
  log=${TMPDIR:-/tmp}/linewise-fuzz-$t.log
  mkdir -p corpus/$t
  cargo +nightly fuzz run -O -a -s none "$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1
  status=$?
  runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo "?")
  crash=$(ls artifacts/$t 2>/dev/null | wc -l)
  echo "$t: exit $status, ${seconds}s, $runs runs, corpus $(ls corpus/$t | wc -l) files, artifacts $crash"
done
