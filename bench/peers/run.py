#!/usr/bin/env python3
"""Peers for the analytics benchmark: the same query mix on DuckDB and chDB.

Spawned by `cargo bench --bench analytics`; not meant to be run by hand,
though it can be:

    python3 bench/peers/run.py --csv calls.csv --parquet calls.parquet \
        --queries queries.json --budget 10 --max-iter 200

The calls come as a CSV exported from the benchmark's SQLite database
(`phone_number,other_party,direction,status,started_at,duration_seconds,flow_id`,
`started_at` in Unix seconds). It is turned into Parquet once (cached next to
it), loaded into each engine's own storage (DuckDB in-memory table sorted by
time; chDB MergeTree ordered by line and time), and then each query of the
mix is run until `--budget` seconds or `--max-iter` runs. Timezones are
handled by UTC bounds precomputed by the Rust side. Prints one JSON object:
{"engines": {"duckdb": {...}, "chdb": {...}}}, each with its version, load
time, and per query the run times in ms and the canonical answer (same shape
as bench/analytics/mix.rs builds).
"""

import argparse
import json
import os
import sys
import time


def counts(n):
    return (
        "COUNT(*), "
        "CAST(COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0) AS BIGINT), "
        "CAST(COALESCE(SUM(CASE WHEN direction = 'inbound' AND status IN ('no-answer', 'busy', 'failed', 'canceled') THEN 1 ELSE 0 END), 0) AS BIGINT), "
        "CAST(COALESCE(SUM(CASE WHEN direction = 'inbound' AND status = 'canceled' THEN 1 ELSE 0 END), 0) AS BIGINT), "
        "CAST(COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT), "
        "CAST(COALESCE(SUM(CASE WHEN status = 'completed' THEN duration_seconds ELSE 0 END), 0) AS BIGINT), "
        "COUNT(DISTINCT other_party)"
    )


def scope_sql(lines):
    if lines is None:
        return ""
    if not lines:
        return " AND 1 = 0"
    return " AND phone_number IN (%s)" % ", ".join("'%s'" % n for n in lines)


def answer(q, rows, intdiv):
    """Runs query `q` with `rows(sql, keys)` and returns the canonical answer."""
    scope = scope_sql(q["lines"])
    c = counts(None)

    def rng(f, t):
        return "started_at >= %d AND started_at < %d%s" % (f, t, scope)

    kind = q["kind"]
    if kind == "dashboard":
        r = rows("SELECT %s FROM calls WHERE %s" % (c, rng(q["from"], q["to"])), 0)[0][1]
        today = rows("SELECT COUNT(*) FROM calls WHERE %s" % rng(q["today_from"], q["today_to"]), 0)[0][1][0]
        active = rows(
            "SELECT COUNT(*) FROM calls WHERE status IN ('ringing', 'queued', 'in-progress') AND started_at > %d%s"
            % (q["active_since"], scope),
            0,
        )[0][1][0]
        top = rows(
            "SELECT flow_id, COUNT(*) FROM calls WHERE flow_id IS NOT NULL AND %s GROUP BY flow_id ORDER BY 2 DESC, 1 LIMIT %d"
            % (rng(q["from"], q["to"]), q["top"]),
            1,
        )
        return {
            "calls": r[0], "answered": r[1], "missed": r[2], "abandoned": r[3],
            "failed": r[4], "talk": r[5], "unique": r[6],
            "today": today, "active": active,
            "top": [[k[0], n[0]] for k, n in top],
        }
    if kind == "timeseries_hour":
        r = rows(
            "SELECT %s AS h, %s FROM calls WHERE %s GROUP BY h ORDER BY h"
            % (intdiv("started_at - %d" % q["from"], 3600), c, rng(q["from"], q["to"])),
            0,
        )
        return {"buckets": [[n[0], n[1], n[2], n[3], n[6]] for _, n in r]}
    if kind == "breakdown_flow":
        r = rows("SELECT flow_id, %s FROM calls WHERE %s GROUP BY flow_id" % (c, rng(q["from"], q["to"])), 1)
        r.sort(key=lambda x: (x[0][0] is not None, x[0][0] or ""))
        return {"rows": [[k[0], n[0], n[1], n[2], n[5]] for k, n in r]}
    if kind == "compare":
        def per(f, t):
            return {
                k[0]: n
                for k, n in rows(
                    "SELECT phone_number, %s FROM calls WHERE %s GROUP BY phone_number" % (c, rng(f, t)), 1
                )
            }

        cur = per(q["from"], q["to"])
        prev = per(q["prev_from"], q["prev_to"])
        zero = [0] * 7
        out = []
        for line in sorted(q["lines"]):
            a, b = cur.get(line, zero), prev.get(line, zero)
            out.append([line, a[0], a[1], a[2], a[5], a[6], b[0], b[1], b[2], b[5], b[6]])
        return {"rows": out}
    raise ValueError("unknown query kind %s" % kind)


def split(row, keys):
    return ([None if v is None else str(v) for v in row[:keys]], [int(v) for v in row[keys:]])


def measure(q, rows, intdiv, budget, max_iter):
    first = answer(q, rows, intdiv)  # warm-up, and the answer to check
    times = []
    start = time.perf_counter()
    while len(times) < max_iter and (len(times) < 3 or time.perf_counter() - start < budget):
        t = time.perf_counter()
        answer(q, rows, intdiv)
        times.append((time.perf_counter() - t) * 1e3)
    return {"times_ms": times, "answer": first}


def parquet_from_csv(csv, parquet):
    if os.path.exists(parquet):
        return
    import duckdb

    tmp = parquet + ".tmp"
    duckdb.connect().execute(
        "COPY (SELECT * FROM read_csv(?, header = true, columns = {"
        "'phone_number': 'VARCHAR', 'other_party': 'VARCHAR', 'direction': 'VARCHAR', "
        "'status': 'VARCHAR', 'started_at': 'BIGINT', 'duration_seconds': 'BIGINT', 'flow_id': 'VARCHAR'})) "
        "TO '%s' (FORMAT parquet)" % tmp,
        [csv],
    )
    os.replace(tmp, parquet)


def run_duckdb(args, queries):
    import duckdb

    con = duckdb.connect()
    t = time.perf_counter()
    con.execute("CREATE TABLE calls AS SELECT * FROM read_parquet('%s') ORDER BY started_at" % args.parquet)
    load = time.perf_counter() - t

    def rows(sql, keys):
        return [split(r, keys) for r in con.execute(sql).fetchall()]

    intdiv = lambda a, b: "(%s) // %d" % (a, b)
    out = {"version": duckdb.__version__, "load_seconds": load, "queries": {}}
    for q in queries:
        out["queries"][q["name"]] = measure(q, rows, intdiv, args.budget, args.max_iter)
    return out


def run_chdb(args, queries):
    import tempfile

    import chdb
    from chdb import session

    path = tempfile.mkdtemp(prefix="linewise-chdb-")
    sess = session.Session(path)
    t = time.perf_counter()
    sess.query(
        "CREATE TABLE calls (phone_number String, other_party Nullable(String), direction LowCardinality(String), "
        "status LowCardinality(String), started_at Int64, duration_seconds Int64, flow_id Nullable(String)) "
        "ENGINE = MergeTree ORDER BY (phone_number, started_at)"
    )
    sess.query("INSERT INTO calls SELECT * FROM file('%s', Parquet)" % args.parquet)
    sess.query("OPTIMIZE TABLE calls FINAL")
    load = time.perf_counter() - t

    def rows(sql, keys):
        res = sess.query(sql, "TabSeparated")
        out = []
        for line in str(res).splitlines():
            cells = [None if v == "\\N" else v for v in line.split("\t")]
            out.append(split(cells, keys))
        return out

    intdiv = lambda a, b: "intDiv(%s, %d)" % (a, b)
    out = {"version": chdb.__version__, "load_seconds": load, "queries": {}}
    for q in queries:
        out["queries"][q["name"]] = measure(q, rows, intdiv, args.budget, args.max_iter)
    sess.close()
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--csv", required=True)
    p.add_argument("--parquet", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--budget", type=float, default=10.0)
    p.add_argument("--max-iter", type=int, default=200)
    p.add_argument("--engines", default="duckdb,chdb")
    args = p.parse_args()
    with open(args.queries) as f:
        queries = json.load(f)
    engines = {}
    try:
        parquet_from_csv(args.csv, args.parquet)
    except Exception as e:  # duckdb missing: no Parquet, no peers
        print(json.dumps({"engines": {}, "error": "cannot build Parquet: %r" % e}))
        return
    for name, fn in (("duckdb", run_duckdb), ("chdb", run_chdb)):
        if name not in args.engines.split(","):
            continue
        try:
            engines[name] = fn(args, queries)
        except Exception as e:
            engines[name] = {"error": "%s: %s" % (type(e).__name__, e)}
        print("peer %s done" % name, file=sys.stderr)
    print(json.dumps({"engines": engines}))


if __name__ == "__main__":
    main()
