#!/usr/bin/env python3
"""Hostile clients against the release server, and what a real user sees.

Three attacks, each beside a real user's requests, on loopback only (the
attackers connect from 127.0.0.2 and up, the user from 127.0.0.1):

- stalled downloads: 24 exports of a 120 000-call line whose clients read
  the response head and nothing more; a login and a dashboard are timed;
- slow request heads: 300 connections that send part of a request line
  and wait; /api/health is timed, then how long until the server has
  closed them all;
- a sign-in flood: 1 000 failed sign-ins for unknown emails from 20
  addresses, 100 at a time; a real sign-in is timed during it, and the
  server's peak resident memory is read from /proc.

    cargo build --release && python3 bench/attacks.py [--db postgres://…] [--exports 24]

The server runs with its default limits (the README's Security section).
Prints a Markdown table.
"""

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ADMIN = "admin@localhost"
PASSWORD = "attack-bench-password"
SECRET = "attack-bench-secret-0123456789-0123456789-0123"
LINE = "+918047180001"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(base, method, path, body=None, token=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            payload = res.read()
            status = res.status
    except urllib.error.HTTPError as e:
        payload = e.read()
        status = e.code
    return status, payload, time.perf_counter() - t0


def login(base, email=ADMIN, password=PASSWORD):
    status, body, took = request(base, "POST", "/api/auth/login", {"email": email, "password": password})
    token = json.loads(body)["accessToken"] if status == 200 else None
    return status, token, took


async def raw_connect(port, source):
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((source, 0))
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    return sock


async def stalled_download(port, token, path):
    sock = await raw_connect(port, "127.0.0.2")
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await loop.sock_recv(sock, 1)
        if not chunk:
            break
        head += chunk
    return sock, head.split(b"\r\n", 1)[0].decode()


def seed(base, token, n):
    url = "https://recordings.example/" + "r" * 60
    for start in range(0, n, 10_000):
        calls = [
            {
                "providerCallId": f"seed-{i}", "phoneNumber": LINE, "otherParty": f"+9198{i:08d}",
                "direction": "inbound", "status": "completed" if i % 4 else "no-answer",
                "startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400 - 40 * i)),
                "durationSeconds": 30 + i % 300, "flowId": str(i % 7), "flowName": f"Flow {i % 7}",
                "recordingUrl": url,
            }
            for i in range(start, min(n, start + 10_000))
        ]
        status, body, _ = request(base, "POST", "/api/calls", calls, token, timeout=600)
        assert status == 200, body[:300]


def rss_peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


async def stalled_downloads(base, port, token):
    socks = []
    heads = []
    for i in range(24):
        path = "/api/analytics/export.csv?phoneNumber=%2B918047180001" if i % 2 else "/api/analytics/export.csv"
        s, head = await stalled_download(port, token, path)
        socks.append(s)
        heads.append(head)
    await asyncio.sleep(2)
    status_login, user_token, t_login = await asyncio.to_thread(login, base)
    status_dash, _, t_dash = await asyncio.to_thread(
        request, base, "GET", "/api/analytics/dashboard?from=2020-01-01&to=2030-01-01", None, user_token
    )
    for s in socks:
        s.close()
    started = sum(h.startswith("HTTP/1.1 200") for h in heads)
    refused = len(heads) - started
    return [
        ("24 stalled exports of a 120 000-call line", f"{started} started, {refused} refused (429/503)"),
        ("  login beside them", f"{status_login} in {t_login * 1000:.0f} ms (goal < 5 s)"),
        ("  dashboard beside them", f"{status_dash} in {t_dash * 1000:.0f} ms (goal < 5 s)"),
    ]


async def slow_heads(base, port):
    loop = asyncio.get_running_loop()
    socks = []
    for _ in range(300):
        s = await raw_connect(port, "127.0.0.2")
        await loop.sock_sendall(s, b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    opened = time.perf_counter()
    status, _, t_health = await asyncio.to_thread(request, base, "GET", "/api/health")

    async def closed(s):
        while True:
            try:
                data = await loop.sock_recv(s, 4096)
            except OSError:
                return time.perf_counter()
            if not data:
                return time.perf_counter()

    done = await asyncio.wait_for(asyncio.gather(*(closed(s) for s in socks)), 120)
    last = max(done) - opened
    for s in socks:
        s.close()
    return [
        ("300 unfinished requests open", ""),
        ("  /api/health beside them", f"{status} in {t_health * 1000:.0f} ms (goal < 2 s)"),
        ("  all 300 closed by the server after", f"{last:.1f} s (goal: within 40 s)"),
    ]


async def sign_in_flood(base, pid):
    statuses = {}
    sem = asyncio.Semaphore(100)

    def one(i):
        source = f"127.0.0.{10 + i % 20}"
        body = json.dumps({"email": f"nobody{i}@example.com", "password": "not-the-password"}).encode()
        s = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), source_address=(source, 0), timeout=120)
        s.sendall(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
        s.close()
        return int(answer.split(b" ", 2)[1]) if answer else 0

    async def bounded(i):
        async with sem:
            code = await asyncio.to_thread(one, i)
            statuses[code] = statuses.get(code, 0) + 1

    flood = asyncio.ensure_future(asyncio.gather(*(bounded(i) for i in range(1000))))
    await asyncio.sleep(1)
    times = []
    codes = []
    for _ in range(3):
        status, _, took = await asyncio.to_thread(login, base)
        codes.append(status)
        times.append(took)
        await asyncio.sleep(0.5)
    await flood
    return [
        ("1 000 failed sign-ins from 20 addresses, 100 at a time", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))),
        ("  a real sign-in during it (3 tries)", f"{codes}, slowest {max(times) * 1000:.0f} ms (goal < 2 s)"),
        ("  server's peak resident memory", f"{rss_peak_kib(pid) / 1024:.0f} MiB"),
    ]


async def main():
    # Threads enough for every flooding client to be in flight at once.
    asyncio.get_running_loop().set_default_executor(
        __import__("concurrent.futures").futures.ThreadPoolExecutor(max_workers=128)
    )
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="sqlite")
    ap.add_argument("--bin", default="target/release/linewise")
    ap.add_argument("--calls", type=int, default=120_000)
    ap.add_argument(
        "--exports", type=int, default=0,
        help="let this many exports run at once, in all and per user (default: the server's caps)",
    )
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="linewise-attacks-")
    db = f"sqlite://{work}/linewise.db" if args.db == "sqlite" else args.db
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEWISE_")}
    env.update({
        "DATABASE_URL": db, "LINEWISE_ADMIN_PASSWORD": PASSWORD, "LINEWISE_JWT_SECRET": SECRET,
        "LINEWISE_LOG": "warn", "LINEWISE_BIND": f"127.0.0.1:{port}",
    })
    if args.exports:
        env["LINEWISE_MAX_EXPORTS"] = env["LINEWISE_MAX_EXPORTS_PER_USER"] = str(args.exports)
    server = subprocess.Popen([args.bin, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            try:
                request(base, "GET", "/api/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        _, token, _ = login(base)
        rows = []
        # The flood first, so the peak memory read after it is its own.
        rows += await sign_in_flood(base, server.pid)
        rows += await slow_heads(base, port)
        request(base, "POST", "/api/phone-numbers", {"number": LINE, "friendlyName": "Sales"}, token)
        t0 = time.perf_counter()
        seed(base, token, args.calls)
        print(f"seeded {args.calls} calls in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        rows += await stalled_downloads(base, port, token)
        print(f"| attack ({'SQLite' if args.db == 'sqlite' else 'PostgreSQL'}) | what a user sees |")
        print("|---|---|")
        for what, seen in rows:
            print(f"| {what} | {seen} |")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
