#!/bin/sh
# PostgreSQL restarted under load: a linewise over a fresh database
# on the machine's cluster takes Exotel callbacks and dashboard reads from 8
# clients; after 5 s the cluster is restarted (`pg_ctlcluster restart`), and
# the load goes on for 15 s more. Reports the statuses seen per route, how
# long linewise answered 503, how long after PostgreSQL was back it answered
# 200 again (the same process: it is not restarted), and whether every
# acknowledged callback is stored.
#
#   bench/pg-restart.sh [DOWN]     (as root or postgres; not run in CI: it
#                                   restarts the PostgreSQL that tests share)
#
# With DOWN (seconds), the cluster is stopped, left down that long, then
# started, instead of `restart`: an outage longer than linewise's 5 s wait
# for a connection, so requests are answered 503 meanwhile.
#
# Needs psql, pg_ctlcluster, curl, python3 and a built linewise
# (target/release, else target/debug). Talks only to 127.0.0.1.
set -eu
cd "$(dirname "$0")/.."
CLUSTER=${PG_CLUSTER:-$(ls /etc/postgresql | head -n1)}
BIN=${CARGO_TARGET_DIR:-target}/release/linewise
[ -x "$BIN" ] || BIN=${CARGO_TARGET_DIR:-target}/debug/linewise
[ -x "$BIN" ] || { echo "build linewise first (cargo build --release)" >&2; exit 1; }
PORT=${LINEWISE_BENCH_PORT:-18438}
DB="linewise_pgrestart_$$"
DIR=$(mktemp -d)
psql -h 127.0.0.1 -U postgres -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DB"
URL="postgres://postgres@127.0.0.1:5432/$DB"
LINEWISE_LOG=warn DATABASE_URL="$URL" LINEWISE_BIND="127.0.0.1:$PORT" \
  LINEWISE_ADMIN_PASSWORD=bench-admin-password "$BIN" serve >"$DIR/server.out" 2>"$DIR/server.log" &
SERVER=$!
cleanup() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1 && break
  sleep 0.2
done
TOKEN=$(curl -sf "http://127.0.0.1:$PORT/api/auth/login" -H 'content-type: application/json' \
  -d '{"email":"admin@localhost","password":"bench-admin-password"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
KEY=$(curl -sf "http://127.0.0.1:$PORT/api/ingest-keys" -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d '{"name":"pg-restart"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

STATUS=0
if DOWN=${1:-0} PORT=$PORT TOKEN=$TOKEN KEY=$KEY CLUSTER=$CLUSTER URL=$URL SERVER=$SERVER python3 - <<'PY'
import collections, os, subprocess, threading, time, urllib.error, urllib.request

base = f"http://127.0.0.1:{os.environ['PORT']}"
token, key, cluster = os.environ["TOKEN"], os.environ["KEY"], os.environ["CLUSTER"]
BEFORE, AFTER = 5.0, 15.0
stop = threading.Event()
log = []            # (time, route, status, ms)
acked = []
lock = threading.Lock()

def send(req):
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code
    except Exception:
        return 0

def hooks(n):
    k = 0
    while not stop.is_set():
        k += 1
        sid = f"pgr-{n}-{k}"
        body = (f"CallSid={sid}&Status=completed&EventType=terminal&PhoneNumberSid=08047180000"
                f"&From=0981234{k % 10000:04d}&To=08047180000&Direction=inbound"
                "&StartTime=2026-03-10+10%3A00%3A00&EndTime=2026-03-10+10%3A02%3A00&ConversationDuration=100").encode()
        req = urllib.request.Request(f"{base}/api/webhooks/exotel?token={key}", data=body,
                                     headers={"content-type": "application/x-www-form-urlencoded"})
        t = time.monotonic()
        s = send(req)
        with lock:
            log.append((t, "webhook", s, (time.monotonic() - t) * 1000))
            if 200 <= s < 300:
                acked.append(sid)

def reads():
    while not stop.is_set():
        req = urllib.request.Request(f"{base}/api/analytics/dashboard?from=2026-03-01&to=2026-03-31",
                                     headers={"authorization": f"Bearer {token}"})
        t = time.monotonic()
        s = send(req)
        with lock:
            log.append((t, "dashboard", s, (time.monotonic() - t) * 1000))
        time.sleep(0.02)

threads = [threading.Thread(target=hooks, args=(n,)) for n in range(6)]
threads += [threading.Thread(target=reads) for _ in range(2)]
for th in threads:
    th.start()
time.sleep(BEFORE)
down = float(os.environ["DOWN"])
ctl = ["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main"]
t0 = time.monotonic()
if down > 0:
    subprocess.run(ctl + ["stop"], check=True)
    time.sleep(down)
    t_start = time.monotonic()
    subprocess.run(ctl + ["start"], check=True)
else:
    t_start = t0
    subprocess.run(ctl + ["restart"], check=True)
t1 = time.monotonic()
while subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"]).returncode != 0:
    time.sleep(0.05)
t_ready = time.monotonic()
time.sleep(AFTER)
stop.set()
for th in threads:
    th.join()

what = f"stop, {down:g} s down, start" if down > 0 else "restart"
print(f"pg_ctlcluster {what} took {t1 - t0:.2f}s; pg_isready {t_ready - t0:.2f}s after it began")
by = collections.defaultdict(collections.Counter)
for _, route, s, _ in log:
    by[route][s] += 1
for route, c in sorted(by.items()):
    print(f"{route}: " + ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(c.items())))
# Times are when the answer came (request start + latency).
bad = [(t + ms / 1000, r, s) for t, r, s, ms in log if not 200 <= s < 300]
if bad:
    first, last = min(t for t, _, _ in bad), max(t for t, _, _ in bad)
    print(f"non-2xx answers from {first - t0:+.2f}s to {last - t0:+.2f}s (relative to the stop/restart)")
    recovered = min((t + ms / 1000 for t, _, s, ms in log if t + ms / 1000 > last and 200 <= s < 300), default=None)
    if recovered is not None:
        print(f"first 2xx answer after the last non-2xx: {recovered - t_start:+.2f}s after the cluster was started")
    print("statuses during the outage: " + ", ".join(f"{s or 'no answer'}: {n}"
          for s, n in sorted(collections.Counter(s for _, _, s in bad).items())))
else:
    print("no non-2xx answer at all")
slow = max((ms for t, _, _, ms in log if t0 <= t <= t_ready), default=0)
print(f"slowest answer while PostgreSQL was down: {slow:.0f} ms")
out = subprocess.run(["psql", os.environ["URL"], "-At", "-c", "select provider_call_id from calls"],
                     capture_output=True, text=True, check=True).stdout.split()
stored = set(out)
lost = [s for s in acked if s not in stored]
print(f"callbacks acknowledged: {len(acked)}; stored: {len(stored)}; lost: {len(lost)}")
alive = subprocess.run(["kill", "-0", os.environ["SERVER"]]).returncode == 0
print(f"linewise still the same process: {'yes' if alive else 'NO'}")
fivehundred = sum(1 for _, _, s, _ in log if s >= 500 and s != 503)
print(f"5xx other than 503: {fivehundred}")
if lost or not alive or fivehundred:
    raise SystemExit(1)
PY
then :; else STATUS=1; fi
echo "server log: $(grep -c -i 'database unavailable' "$DIR/server.log" || true) lines 'database unavailable'; errors (5xx causes):"
grep 'request failed' "$DIR/server.log" | head -5 || true
exit $STATUS
