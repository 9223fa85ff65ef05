#!/bin/sh
# Sustained single-callback webhook ingest over HTTP on loopback: the release
# server over a fresh SQLite file, and wrk (a separate process) sending Exotel
# StatusCallbacks, each for a new CallSid, from 64 keep-alive connections.
#
#   bench/webhooks.sh [seconds] [connections]     (defaults: 30, 64)
#
# Needs wrk (`apt-get install wrk`), curl and python3. Builds the release binary.
set -eu
SECS=${1:-30}
CONNS=${2:-64}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin linewise
BIN=${CARGO_TARGET_DIR:-target}/release/linewise
DIR=$(mktemp -d)
PORT=${LINEWISE_BENCH_PORT:-18437}
LINEWISE_LOG=warn DATABASE_URL="sqlite://$DIR/hooks.db" LINEWISE_BIND="127.0.0.1:$PORT" \
  LINEWISE_ADMIN_PASSWORD=bench-admin-password "$BIN" serve >"$DIR/server.log" 2>&1 &
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
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s bench/webhook.lua \
  "http://127.0.0.1:$PORT/api/webhooks/exotel?token=$KEY"
DB="$DIR/hooks.db" python3 - <<'PY'
import os, sqlite3
db = sqlite3.connect(os.environ["DB"])
print("calls stored:", db.execute("select count(*) from calls").fetchone()[0])
PY
