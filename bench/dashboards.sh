#!/bin/sh
# Dashboard reads over HTTP on loopback, with the answer cache on and then
# off: the release server over 90 days of demo traffic (about 32 000 calls on
# six lines) in SQLite, and wrk (a separate process) asking a mix of
# dashboards (all lines and one line; today, 7, 30 and 90 days; a group; a
# metadata filter; IST and Nepal time) with an admin's token.
#
#   bench/dashboards.sh [seconds] [connections]     (defaults: 20, 32)
#
# Needs wrk, curl and python3. Builds the release binary (LINEWISE_BIN names
# another build instead).
set -eu
SECS=${1:-20}
CONNS=${2:-32}
cd "$(dirname "$0")/.."
if [ -z "${LINEWISE_BIN:-}" ]; then
  cargo build --release --quiet --bin linewise
fi
BIN=${LINEWISE_BIN:-${CARGO_TARGET_DIR:-target}/release/linewise}
DIR=$(mktemp -d)
PORT=${LINEWISE_BENCH_PORT:-18438}
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT
export LINEWISE_LOG=warn DATABASE_URL="sqlite://$DIR/dash.db" LINEWISE_BIND="127.0.0.1:$PORT" \
  LINEWISE_ADMIN_PASSWORD=bench-admin-password
"$BIN" demo --days 90 >/dev/null
D7=$(date -u -d '6 days ago' +%F)
D30=$(date -u -d '29 days ago' +%F)
D90=$(date -u -d '89 days ago' +%F)
cat >"$DIR/mix.lua" <<LUA
-- One of these per request, in turn.
local paths = {
  "/api/analytics/dashboard?tz=Asia/Kolkata",
  "/api/analytics/dashboard?tz=Asia/Kolkata&from=$D7",
  "/api/analytics/dashboard?tz=Asia/Kolkata&from=$D30",
  "/api/analytics/dashboard?tz=Asia/Kathmandu&from=$D90",
  "/api/analytics/dashboard?tz=Asia/Kolkata&from=$D30&phoneNumbers=%2B918047180000",
  "/api/analytics/dashboard?tz=Asia/Kolkata&from=$D7&groupId=1",
  "/api/analytics/dashboard?tz=Asia/Kolkata&from=$D30&metadata.region=south",
}
local i = 0
function request()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], { ["Authorization"] = "Bearer @TOKEN@" })
end
local bad = 0
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("non-200: %d; p50 %.2f ms, p99 %.2f ms\n", bad,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
for CACHE in true false; do
  LINEWISE_CACHE=$CACHE "$BIN" serve >"$DIR/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  TOKEN=$(curl -sf "http://127.0.0.1:$PORT/api/auth/login" -H 'content-type: application/json' \
    -d '{"email":"admin@localhost","password":"bench-admin-password"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
  sed "s/@TOKEN@/$TOKEN/" "$DIR/mix.lua" >"$DIR/run.lua"
  echo "== LINEWISE_CACHE=$CACHE: wrk -t2 -c$CONNS -d${SECS}s"
  wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$DIR/run.lua" "http://127.0.0.1:$PORT" |
    grep -E 'Requests/sec|non-200|Socket errors|requests in'
  kill $SERVER; wait $SERVER 2>/dev/null || true
done
