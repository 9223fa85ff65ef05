#!/bin/sh
# Sustained single-callback webhook ingest over HTTP on loopback: the release
# server over a fresh SQLite file, and wrk (a separate process) sending Exotel
# StatusCallbacks, each for a new CallSid, from 64 keep-alive connections.
#
#   bench/webhooks.sh [seconds] [connections] [rate]     (defaults: 30, 64, none)
#
# Without a rate, wrk runs closed loop (each connection sends its next
# callback when the last is answered): the highest rate the machine holds,
# and the latency at that saturation. With a rate (callbacks a second), oha
# sends open loop at that rate, Exotel passthru GETs each with a new random
# CallSid, and counts each callback's latency from when it was due to be
# sent (--latency-correction), so a stall is charged to every callback that
# waited behind it: the latency a provider sees at that load (after 3 s of
# warm-up at the same rate; LINEWISE_BENCH_OHA_DB=FILE keeps every request's
# times in FILE, oha's SQLite).
#
# Needs wrk (`apt-get install wrk`), oha for a rate (`cargo install oha`),
# curl and python3. Builds the release binary.
set -eu
SECS=${1:-30}
CONNS=${2:-64}
RATE=${3:-}
cd "$(dirname "$0")/.."
# LINEWISE_BENCH_BIN: a server binary to measure instead (to compare builds).
BIN=${LINEWISE_BENCH_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release --quiet --bin linewise
  BIN=${CARGO_TARGET_DIR:-target}/release/linewise
fi
DIR=$(mktemp -d)
PORT=${LINEWISE_BENCH_PORT:-18437}
# LINEWISE_LOG (default warn) and LINEWISE_BENCH_SERVER_LOG=FILE (kept after
# the run) show the server's side, e.g. LINEWISE_LOG=linewise::ingest::batcher=debug
# for each callback batch's size, wait and write time.
LINEWISE_LOG=${LINEWISE_LOG:-warn} DATABASE_URL="sqlite://$DIR/hooks.db" LINEWISE_BIND="127.0.0.1:$PORT" \
  LINEWISE_ADMIN_PASSWORD=bench-admin-password "$BIN" serve >"${LINEWISE_BENCH_SERVER_LOG:-$DIR/server.log}" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1 && break
  sleep 0.2
done
TOKEN=$(curl -sf "http://127.0.0.1:$PORT/api/auth/login" -H 'content-type: application/json' \
  -d '{"email":"admin@localhost","password":"bench-admin-password"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
KEY=$(curl -sf "http://127.0.0.1:$PORT/api/ingest-keys" -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"name":"bench"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
if [ -n "$RATE" ]; then
  # A regex (special characters in brackets): every request draws its own
  # CallSid. The first 3 s open the connections and warm the server; the
  # second run is the one measured.
  URL="http://127[.]0[.]0[.]1:$PORT/api/webhooks/exotel[?]token=$KEY&CallSid=oha[0-9a-f]{20}&CallFrom=09812345678&CallTo=08047180000&Direction=incoming&DialCallStatus=completed&DialCallDuration=170&StartTime=2026-01-16[+]10:00:00"
  oha --no-tui -z 3s -c "$CONNS" -q "$RATE" --rand-regex-url "$URL" >/dev/null
  oha --no-tui ${LINEWISE_BENCH_OHA_DB:+--db-url "$LINEWISE_BENCH_OHA_DB"} -z "${SECS}s" -c "$CONNS" -q "$RATE" \
    --latency-correction --rand-regex-url "$URL"
else
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s bench/webhook.lua \
    "http://127.0.0.1:$PORT/api/webhooks/exotel?token=$KEY"
fi
DB="$DIR/hooks.db" python3 - <<'PY'
import os, sqlite3
db = sqlite3.connect(os.environ["DB"])
print("calls stored:", db.execute("select count(*) from calls").fetchone()[0])
PY
