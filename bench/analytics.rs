//! Analytics benchmark: the dashboard/timeseries/breakdown/compare query
//! mix over N generated calls, answered by linewise (library functions, no
//! cache) and, on the same data in the same run, by naive SQL over the raw
//! `calls` table (SQLite, PostgreSQL), DuckDB and chDB (`bench/peers/run.py`).
//! Every peer's answers are checked against linewise's.
//!
//! Run: `cargo bench --bench analytics`. Environment:
//! - `LINEWISE_BENCH_SIZES` — call counts, default `1000000,10000000`;
//! - `LINEWISE_BENCH_POSTGRES_URL` — also measure PostgreSQL (a schema per size);
//! - `LINEWISE_BENCH_POSTGRES_SIZES` — only these sizes on PostgreSQL (default: all);
//! - `LINEWISE_BENCH_QUERY_SECONDS` (10) and `LINEWISE_BENCH_ITERATIONS` (200):
//!   each query runs until either is reached (at least 3 runs);
//! - `LINEWISE_BENCH_PEERS=0` — skip DuckDB/chDB; `LINEWISE_BENCH_PEER_SIZES`
//!   — run them only at these sizes (default: all);
//! - `LINEWISE_BENCH_PROFILE=NAME` — only time linewise on the queries whose
//!   name contains NAME, on the first engine and size, then exit (for `perf`).
//!
//! Generated databases are kept in `target/bench-data/`, keyed by size and
//! generator version. Writes `bench/results/analytics.md` and
//! `bench/results/analytics-scale.svg`.

#[path = "analytics/mix.rs"]
mod mix;
#[path = "analytics/traffic.rs"]
mod traffic;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

const SQLITE: &str = "SQLite";
const POSTGRES: &str = "PostgreSQL";

struct Config {
    sizes: Vec<u64>,
    pg: Option<String>,
    pg_sizes: Option<Vec<u64>>,
    budget: Duration,
    max_iter: usize,
    peers: bool,
    /// Only these sizes get the Python peers (default: all).
    peer_sizes: Option<Vec<u64>>,
    quick: bool,
    data: PathBuf,
}

fn env_list(name: &str) -> Option<Vec<u64>> {
    std::env::var(name).ok().map(|v| {
        v.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().replace('_', "").parse().expect("a call count"))
            .collect()
    })
}

fn config() -> Config {
    // `cargo bench` passes --bench; `cargo test --benches` runs us too: stay quick then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Config {
        sizes: if quick {
            vec![5_000]
        } else {
            env_list("LINEWISE_BENCH_SIZES").unwrap_or(vec![1_000_000, 10_000_000])
        },
        pg: std::env::var("LINEWISE_BENCH_POSTGRES_URL")
            .ok()
            .filter(|u| !u.trim().is_empty() && !quick),
        pg_sizes: env_list("LINEWISE_BENCH_POSTGRES_SIZES"),
        budget: Duration::from_secs_f64(if quick {
            0.0
        } else {
            std::env::var("LINEWISE_BENCH_QUERY_SECONDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(10.0)
        }),
        max_iter: std::env::var("LINEWISE_BENCH_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200),
        peers: !quick && std::env::var("LINEWISE_BENCH_PEERS").map_or(true, |v| v != "0"),
        peer_sizes: env_list("LINEWISE_BENCH_PEER_SIZES"),
        quick,
        data: if quick {
            std::env::temp_dir().join(format!("linewise-bench-{}", std::process::id()))
        } else {
            root.join("target/bench-data")
        },
    }
}

/// One query's timings on one engine.
struct Measure {
    size: u64,
    engine: String,
    query: String,
    times: Vec<f64>,
    /// Why this engine's answer differs from linewise's, if it does.
    mismatch: Option<String>,
}

impl Measure {
    fn pct(&self, p: f64) -> f64 {
        percentile(&self.times, p)
    }
}

fn percentile(times: &[f64], p: f64) -> f64 {
    if times.is_empty() {
        return f64::NAN;
    }
    let mut t = times.to_vec();
    t.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p * t.len() as f64).ceil() as usize).clamp(1, t.len());
    t[rank - 1]
}

/// Runs `$body` until the budget or the iteration cap (at least 3 times);
/// returns the run times in ms.
/// Runs `$body` until the time budget is spent (at most `max_iter` times),
/// and at least `$min` times.
macro_rules! timed {
    ($cfg:expr, $min:expr, $body:expr) => {{
        let mut times = Vec::new();
        let start = Instant::now();
        while times.len() < $cfg.max_iter && (times.len() < $min || start.elapsed() < $cfg.budget) {
            let t = Instant::now();
            std::hint::black_box($body);
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times
    }};
}

struct Loaded {
    url: String,
    /// Seconds the load took, when this run did it.
    load_seconds: Option<f64>,
}

async fn load_into(url: &str, n: u64, engine: &str) -> f64 {
    let store = linewise::store::open(url).await.expect("open store");
    let t = Instant::now();
    let mut last = Instant::now();
    traffic::load(store.as_ref(), n, |done| {
        if last.elapsed() > Duration::from_secs(15) {
            last = Instant::now();
            let secs = t.elapsed().as_secs_f64();
            eprintln!(
                "  {engine}: {done}/{n} calls stored, {:.0} calls/s",
                done as f64 / secs
            );
        }
    })
    .await
    .expect("load calls");
    t.elapsed().as_secs_f64()
}

/// The SQLite database with `n` calls, generated unless a finished one is cached.
async fn sqlite_db(cfg: &Config, n: u64) -> Loaded {
    std::fs::create_dir_all(&cfg.data).unwrap();
    let file = cfg
        .data
        .join(format!("analytics_{n}_g{}.db", traffic::GENERATOR_VERSION));
    let done = file.with_extension("db.done");
    let url = format!("sqlite://{}", file.display());
    if done.exists() {
        return Loaded {
            url,
            load_seconds: None,
        };
    }
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", file.display()));
    }
    eprintln!("generating {n} calls into {}", file.display());
    let secs = load_into(&url, n, SQLITE).await;
    std::fs::write(&done, format!("{secs}\n")).unwrap();
    Loaded {
        url,
        load_seconds: Some(secs),
    }
}

/// The PostgreSQL schema with `n` calls, generated unless a finished one exists.
async fn postgres_db(base: &str, n: u64) -> Loaded {
    let schema = format!("bench_{n}_g{}", traffic::GENERATOR_VERSION);
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");
    let pool = sqlx::PgPool::connect(base)
        .await
        .expect("connect to PostgreSQL");
    let finished: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'bench_loaded'",
    )
    .bind(&schema)
    .fetch_optional(&pool)
    .await
    .unwrap();
    if finished.is_some() {
        pool.close().await;
        return Loaded {
            url,
            load_seconds: None,
        };
    }
    for sql in [
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        format!("CREATE SCHEMA {schema}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    eprintln!("generating {n} calls into PostgreSQL schema {schema}");
    let secs = load_into(&url, n, POSTGRES).await;
    for sql in [
        format!("ANALYZE {schema}.calls"),
        format!("CREATE TABLE {schema}.bench_loaded (seconds DOUBLE PRECISION)"),
        format!("INSERT INTO {schema}.bench_loaded VALUES ({secs})"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    Loaded {
        url,
        load_seconds: Some(secs),
    }
}

/// Table sizes in bytes (each with its indexes), by table.
async fn table_sizes(db: &mix::Naive) -> Result<BTreeMap<String, i64>, String> {
    use sqlx::Row;
    let mut out = BTreeMap::new();
    match db {
        mix::Naive::Sqlite(p) => {
            let rows = sqlx::query(
                "SELECT COALESCE(m.tbl_name, s.name) AS t, SUM(s.pgsize) AS bytes FROM dbstat s \
                 LEFT JOIN sqlite_master m ON m.name = s.name GROUP BY 1",
            )
            .fetch_all(p)
            .await
            .map_err(|e| format!("dbstat unavailable ({e})"))?;
            for r in rows {
                out.insert(r.get::<String, _>(0), r.get::<i64, _>(1));
            }
        }
        mix::Naive::Postgres(p) => {
            let rows = sqlx::query(
                "SELECT c.relname::TEXT, pg_total_relation_size(c.oid)::BIGINT FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')",
            )
            .fetch_all(p)
            .await
            .map_err(|e| e.to_string())?;
            for r in rows {
                out.insert(r.get::<String, _>(0), r.get::<i64, _>(1));
            }
        }
    }
    Ok(out)
}

fn is_rollup(table: &str) -> bool {
    table == "rollups" || table.starts_with("rollup_") || table.starts_with("caller")
}

struct Storage {
    size: u64,
    engine: &'static str,
    raw: i64,
    rollups: Option<i64>,
    rollup_tables: Vec<String>,
    note: Option<String>,
}

/// Measures one engine on one data set; returns linewise's answers.
async fn run_engine(
    cfg: &Config,
    n: u64,
    engine: &'static str,
    url: &str,
    out: &mut Vec<Measure>,
    storage: &mut Vec<Storage>,
) -> (Vec<mix::Query>, Vec<Value>) {
    let store = linewise::store::open(url).await.expect("open store");
    let naive = mix::Naive::connect(url).await;
    let queries = mix::build(store.as_ref()).await;
    if let Ok(name) = std::env::var("LINEWISE_BENCH_PROFILE") {
        // A profiling run: linewise's answer to the named queries, over and
        // over, and nothing else.
        for q in queries.iter().filter(|q| q.name.contains(name.as_str())) {
            let lw = timed!(cfg, 3, mix::linewise(store.as_ref(), q).await);
            eprintln!(
                "  {n} {engine} {:<28} linewise p50 {:>9.3} ms p99 {:>9.3} ms ({} runs)",
                q.name,
                percentile(&lw, 0.5),
                percentile(&lw, 0.99),
                lw.len()
            );
        }
        std::process::exit(0);
    }
    let mut answers = Vec::new();
    for q in &queries {
        let want = mix::linewise(store.as_ref(), q).await;
        let started = Instant::now();
        let got = mix::naive(&naive, q).await;
        let first = started.elapsed().as_secs_f64() * 1e3;
        let mismatch = mix::diff(&want, &got);
        if let Some(m) = &mismatch {
            eprintln!("MISMATCH {engine} naive SQL, {}: {m}", q.name);
        }
        let lw = timed!(cfg, 3, mix::linewise(store.as_ref(), q).await);
        // Naive SQL takes seconds a query at 10 M calls and minutes at
        // 100 M: when the checked run alone overran the budget, it is the
        // one timing.
        let nv = if first >= cfg.budget.as_secs_f64() * 1e3 {
            vec![first]
        } else {
            timed!(cfg, 1, mix::naive(&naive, q).await)
        };
        eprintln!(
            "  {n} {engine} {:<28} linewise p50 {:>9.2} ms p99 {:>9.2} ms ({} runs) | naive p50 {:>9.2} ms ({} runs)",
            q.name,
            percentile(&lw, 0.5),
            percentile(&lw, 0.99),
            lw.len(),
            percentile(&nv, 0.5),
            nv.len()
        );
        out.push(Measure {
            size: n,
            engine: format!("linewise {engine}"),
            query: q.name.into(),
            times: lw,
            mismatch: None,
        });
        out.push(Measure {
            size: n,
            engine: format!("naive SQL {engine}"),
            query: q.name.into(),
            times: nv,
            mismatch,
        });
        answers.push(want);
    }
    // The same mix through the answer cache (`LINEWISE_CACHE=true`): the
    // first run of each query fills it, the timed runs hit it.
    let cached = linewise::store::CachedStore::wrap(store.clone(), url)
        .await
        .expect("cache");
    for q in &queries {
        let want = mix::linewise(store.as_ref(), q).await;
        let got = mix::linewise(&cached, q).await;
        let mismatch = mix::diff(&want, &got);
        let times = timed!(cfg, 3, mix::linewise(&cached, q).await);
        eprintln!(
            "  {n} {engine} {:<28} cache on p50 {:>9.4} ms p99 {:>9.4} ms ({} runs)",
            q.name,
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.len()
        );
        out.push(Measure {
            size: n,
            engine: format!("linewise {engine}, cache on"),
            query: q.name.into(),
            times,
            mismatch,
        });
    }
    match table_sizes(&naive).await {
        Ok(t) => {
            let raw = t.get("calls").copied().unwrap_or(0);
            let rollup_tables: Vec<String> = t.keys().filter(|k| is_rollup(k)).cloned().collect();
            let rollups = (!rollup_tables.is_empty())
                .then(|| rollup_tables.iter().map(|k| t[k]).sum::<i64>());
            storage.push(Storage {
                size: n,
                engine,
                raw,
                rollups,
                rollup_tables,
                note: None,
            });
        }
        Err(e) => {
            let file = linewise::store::sqlite_path(url)
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len() as i64);
            storage.push(Storage {
                size: n,
                engine,
                raw: file,
                rollups: None,
                rollup_tables: vec![],
                note: Some(format!("{e}; whole file size shown")),
            });
        }
    }
    naive.close().await;
    (queries, answers)
}

/// Exports the calls of the SQLite database to CSV for the peers (once).
async fn export_csv(cfg: &Config, n: u64, url: &str) -> PathBuf {
    use futures_util::TryStreamExt;
    use sqlx::Row;
    let path = cfg
        .data
        .join(format!("analytics_{n}_g{}.csv", traffic::GENERATOR_VERSION));
    if path.exists() {
        return path;
    }
    eprintln!("exporting {n} calls to {}", path.display());
    let tmp = path.with_extension("csv.tmp");
    let mix::Naive::Sqlite(pool) = mix::Naive::connect(url).await else {
        unreachable!("a SQLite URL")
    };
    let mut w = csv::Writer::from_path(&tmp).unwrap();
    w.write_record([
        "phone_number",
        "other_party",
        "direction",
        "status",
        "started_at",
        "duration_seconds",
        "flow_id",
    ])
    .unwrap();
    let mut rows = sqlx::query(
        "SELECT phone_number, other_party, direction, status, started_at, duration_seconds, flow_id FROM calls",
    )
    .fetch(&pool);
    while let Some(r) = rows.try_next().await.unwrap() {
        let text = |i: usize| r.get::<Option<String>, _>(i).unwrap_or_default();
        w.write_record([
            text(0),
            text(1),
            text(2),
            text(3),
            r.get::<i64, _>(4).to_string(),
            r.get::<i64, _>(5).to_string(),
            text(6),
        ])
        .unwrap();
    }
    w.flush().unwrap();
    drop(rows);
    pool.close().await;
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// DuckDB and chDB over the same calls; their answers checked against `answers`.
async fn run_peers(
    cfg: &Config,
    n: u64,
    url: &str,
    queries: &[mix::Query],
    answers: &[Value],
    out: &mut Vec<Measure>,
    notes: &mut Vec<String>,
) {
    let csv = export_csv(cfg, n, url).await;
    let spec: Vec<Value> = queries.iter().map(mix::peer_spec).collect();
    let spec_path = cfg.data.join(format!("analytics_{n}_queries.json"));
    std::fs::write(&spec_path, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/peers/run.py");
    eprintln!("running peers (DuckDB, chDB) on {n} calls");
    let run = std::process::Command::new("python3")
        .arg(script)
        .arg("--csv")
        .arg(&csv)
        .arg("--parquet")
        .arg(csv.with_extension("parquet"))
        .arg("--queries")
        .arg(&spec_path)
        .arg("--budget")
        .arg(cfg.budget.as_secs_f64().to_string())
        .arg("--max-iter")
        .arg(cfg.max_iter.to_string())
        .stderr(std::process::Stdio::inherit())
        .output();
    let output = match run {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => {
            notes.push(format!("{n}: peers failed ({})", o.status));
            return;
        }
        Err(e) => {
            notes.push(format!("{n}: cannot run python3 ({e})"));
            return;
        }
    };
    let v: Value = match serde_json::from_slice(&output) {
        Ok(v) => v,
        Err(e) => {
            notes.push(format!("{n}: peers printed no JSON ({e})"));
            return;
        }
    };
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        notes.push(format!("{n}: peers: {e}"));
    }
    let names = [("duckdb", "DuckDB"), ("chdb", "chDB")];
    for (key, label) in names {
        let Some(e) = v["engines"].get(key) else {
            notes.push(format!("{n}: {label} not run"));
            continue;
        };
        if let Some(err) = e.get("error").and_then(Value::as_str) {
            notes.push(format!("{n}: {label} failed: {err}"));
            continue;
        }
        notes.push(format!(
            "{n}: {label} {} (load into its own storage: {:.1} s)",
            e["version"].as_str().unwrap_or("?"),
            e["load_seconds"].as_f64().unwrap_or(f64::NAN)
        ));
        for (q, want) in queries.iter().zip(answers) {
            let r = &e["queries"][q.name];
            let times: Vec<f64> = r["times_ms"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let mismatch = mix::diff(want, &r["answer"]);
            if let Some(m) = &mismatch {
                eprintln!("MISMATCH {label}, {}: {m}", q.name);
            }
            eprintln!(
                "  {n} {label:<10} {:<28} p50 {:>9.2} ms p99 {:>9.2} ms ({} runs)",
                q.name,
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                times.len()
            );
            out.push(Measure {
                size: n,
                engine: label.into(),
                query: q.name.into(),
                times,
                mismatch,
            });
        }
    }
}

fn ms(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else if x < 1.0 {
        format!("{x:.3}")
    } else if x < 10.0 {
        format!("{x:.2}")
    } else if x < 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

fn mb(bytes: i64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn geomean(xs: &[f64]) -> f64 {
    let v: Vec<f64> = xs.iter().copied().filter(|x| *x > 0.0).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()
}

const ENGINES: [&str; 8] = [
    "linewise SQLite",
    "linewise SQLite, cache on",
    "naive SQL SQLite",
    "linewise PostgreSQL",
    "linewise PostgreSQL, cache on",
    "naive SQL PostgreSQL",
    "DuckDB",
    "chDB",
];

/// The `p` quantile of several queries' run times pooled, each query
/// weighing the same however many runs it had.
fn mix_percentile(queries: &[&[f64]], p: f64) -> f64 {
    let mut all: Vec<(f64, f64)> = queries
        .iter()
        .filter(|t| !t.is_empty())
        .flat_map(|t| t.iter().map(move |&x| (x, 1.0 / t.len() as f64)))
        .collect();
    if all.is_empty() {
        return f64::NAN;
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = all.iter().map(|x| x.1).sum();
    let mut acc = 0.0;
    for (x, w) in &all {
        acc += w;
        if acc >= p * total - 1e-9 {
            return *x;
        }
    }
    all.last().map_or(f64::NAN, |x| x.0)
}

fn scale_svg(measures: &[Measure], sizes: &[u64]) -> String {
    let (w, h, left, right, top, bottom) = (760.0, 440.0, 70.0, 200.0, 30.0, 50.0);
    let mut series: Vec<(&str, Vec<(u64, f64)>)> = Vec::new();
    for e in ENGINES {
        let pts: Vec<(u64, f64)> = sizes
            .iter()
            .filter_map(|&n| {
                let p: Vec<f64> = measures
                    .iter()
                    .filter(|m| m.size == n && m.engine == e)
                    .map(|m| m.pct(0.5))
                    .collect();
                (!p.is_empty()).then(|| (n, geomean(&p)))
            })
            .collect();
        if !pts.is_empty() {
            series.push((e, pts));
        }
    }
    let all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .filter(|y| y.is_finite() && *y > 0.0)
        .collect();
    let ymin = all.iter().copied().fold(f64::INFINITY, f64::min).max(1e-3);
    let ymax = all.iter().copied().fold(0.0, f64::max).max(ymin * 10.0);
    let (lo, hi) = (ymin.log10().floor(), ymax.log10().ceil());
    let (xmin, xmax) = (
        (*sizes.iter().min().unwrap_or(&1) as f64).log10(),
        (*sizes.iter().max().unwrap_or(&10) as f64).log10(),
    );
    let xspan = if xmax > xmin { xmax - xmin } else { 1.0 };
    let x = |n: u64| {
        if xmax > xmin {
            left + ((n as f64).log10() - xmin) / xspan * (w - left - right)
        } else {
            left + (w - left - right) / 2.0
        }
    };
    let y = |v: f64| top + (hi - v.log10()) / (hi - lo) * (h - top - bottom);
    let colors = [
        "#1f77b4", "#aec7e8", "#d62728", "#ff9896", "#2ca02c", "#9467bd",
    ];
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"18\" font-size=\"14\">Analytics mix: geometric mean of per-query p50 (ms, log) vs calls stored</text>\n"
    );
    let mut d = lo;
    while d <= hi {
        let yy = y(10f64.powf(d));
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - right,
            left - 6.0,
            yy + 4.0,
            ms(10f64.powf(d))
        );
        d += 1.0;
    }
    for &n in sizes {
        let xx = x(n);
        let _ = writeln!(
            s,
            "<line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{top}\" y2=\"{}\" stroke=\"#eee\"/><text x=\"{xx:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            h - bottom,
            h - bottom + 18.0,
            thousands(n)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">calls</text>",
        (left + w - right) / 2.0,
        h - 12.0
    );
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = colors[ENGINES.iter().position(|e| e == name).unwrap_or(i) % colors.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|(n, v)| format!("{:.1},{:.1}", x(*n), y(*v)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        for (n, v) in pts {
            let _ = writeln!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{c}\"><title>{name} {n}: {} ms</title></circle>",
                x(*n),
                y(*v),
                ms(*v)
            );
        }
        let ly = top + 20.0 + i as f64 * 20.0;
        let _ = writeln!(
            s,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{c}\" stroke-width=\"3\"/><text x=\"{}\" y=\"{}\">{name}</text>",
            w - right + 12.0,
            w - right + 36.0,
            w - right + 42.0,
            ly + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}

#[allow(clippy::too_many_arguments)]
fn report(
    cfg: &Config,
    measures: &[Measure],
    storage: &[Storage],
    loads: &[(u64, &str, Option<f64>)],
    notes: &[String],
    command: &str,
    elapsed: f64,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Analytics benchmark\n\n\
         Generated by `bench/analytics.rs` on {} ({} cores), release build, in {:.0} s. Command:\n\n```sh\n{command}\n```\n",
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        elapsed
    );
    let _ = writeln!(
        s,
        "Data: {} lines (Zipf-like volumes), 3 groups, `metadata.region` on every line, 12 flows, \
         calls over {} days ending {} with a daily and weekly rhythm in {}, 80 % inbound, a status mix with a \
         few calls in progress, repeat callers from a pool of N/8. Deterministic (generator v{}); loaded through \
         `Store::upsert_calls` in batches of {}. Each query runs until {} s or {} runs (at least 3), after one \
         warm-up run whose answer is checked; times are wall-clock per call of the library function (linewise, \
         no cache) or per set of SQL statements (peers), p50/p99 by nearest rank.\n",
        traffic::LINES,
        traffic::DAYS,
        mix::now(),
        traffic::TZ,
        traffic::GENERATOR_VERSION,
        traffic::BATCH,
        cfg.budget.as_secs_f64(),
        cfg.max_iter
    );
    s.push_str(
        "Peers: *naive SQL* is one aggregate over the raw `calls` table \
         (`COUNT`/`SUM(CASE…)`/`COUNT(DISTINCT other_party)` with `started_at` range and `phone_number IN (…)`, \
         `GROUP BY` flow, line or hour) using the table's own indexes, on the same database as linewise. \
         DuckDB and chDB run the same SQL (UTC bounds precomputed) on the same calls exported once to Parquet \
         and loaded into each engine's own storage (DuckDB in-memory table sorted by time; chDB MergeTree ordered by \
         line and time), timed in Python (`bench/peers/run.py`), using all cores.\n\n",
    );
    let sizes: Vec<u64> = cfg.sizes.clone();
    let engines: Vec<&str> = ENGINES
        .iter()
        .copied()
        .filter(|e| measures.iter().any(|m| m.engine == *e))
        .collect();
    for &n in &sizes {
        let ms_n: Vec<&Measure> = measures.iter().filter(|m| m.size == n).collect();
        if ms_n.is_empty() {
            continue;
        }
        let _ = writeln!(s, "## {} calls\n", thousands(n));
        let _ = writeln!(s, "p50 / p99 in ms:\n");
        let cols: Vec<&str> = engines
            .iter()
            .copied()
            .filter(|e| ms_n.iter().any(|m| m.engine == *e))
            .collect();
        let _ = writeln!(s, "| query | {} |", cols.join(" | "));
        let _ = writeln!(s, "|---|{}", "---|".repeat(cols.len()));
        let mut queries: Vec<&str> = Vec::new();
        for m in &ms_n {
            if !queries.contains(&m.query.as_str()) {
                queries.push(&m.query);
            }
        }
        let find = |e: &str, q: &str| ms_n.iter().find(|m| m.engine == e && m.query == q);
        for q in &queries {
            let cells: Vec<String> = cols
                .iter()
                .map(|e| match find(e, q) {
                    Some(m) => format!(
                        "{} / {}{}",
                        ms(m.pct(0.5)),
                        ms(m.pct(0.99)),
                        if m.mismatch.is_some() { " ≠" } else { "" }
                    ),
                    None => "–".into(),
                })
                .collect();
            let _ = writeln!(s, "| {q} | {} |", cells.join(" | "));
        }
        // Worst query of the mix, per engine.
        let cells: Vec<String> = cols
            .iter()
            .map(|e| {
                let of: Vec<&&Measure> = ms_n.iter().filter(|m| m.engine == *e).collect();
                let p50 = of.iter().map(|m| m.pct(0.5)).fold(0.0, f64::max);
                let p99 = of.iter().map(|m| m.pct(0.99)).fold(0.0, f64::max);
                format!("**{} / {}**", ms(p50), ms(p99))
            })
            .collect();
        let _ = writeln!(s, "| *worst query of the mix* | {} |", cells.join(" | "));
        // Every run of the mix pooled, each query weighing the same.
        let cells: Vec<String> = cols
            .iter()
            .map(|e| {
                let of: Vec<&[f64]> = ms_n
                    .iter()
                    .filter(|m| m.engine == *e)
                    .map(|m| m.times.as_slice())
                    .collect();
                format!(
                    "**{} / {}**",
                    ms(mix_percentile(&of, 0.5)),
                    ms(mix_percentile(&of, 0.99))
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "| *whole mix, runs pooled, each query weighing the same* | {} |\n",
            cells.join(" | ")
        );
        // Ratios: peer p50 ÷ linewise p50 (> 1: linewise is faster).
        let pairs: Vec<(&str, &str)> = [
            ("naive SQL SQLite", "linewise SQLite"),
            ("naive SQL PostgreSQL", "linewise PostgreSQL"),
            ("DuckDB", "linewise SQLite"),
            ("chDB", "linewise SQLite"),
            ("DuckDB", "linewise PostgreSQL"),
            ("chDB", "linewise PostgreSQL"),
        ]
        .into_iter()
        .filter(|(a, b)| cols.contains(a) && cols.contains(b))
        .collect();
        if !pairs.is_empty() {
            let _ = writeln!(
                s,
                "Speed-up of linewise over each peer, peer p50 ÷ linewise p50 (> 1: linewise faster):\n"
            );
            let heads: Vec<String> = pairs.iter().map(|(a, b)| format!("{a} ÷ {b}")).collect();
            let _ = writeln!(s, "| query | {} |", heads.join(" | "));
            let _ = writeln!(s, "|---|{}", "---|".repeat(pairs.len()));
            for q in &queries {
                let cells: Vec<String> = pairs
                    .iter()
                    .map(|(a, b)| match (find(a, q), find(b, q)) {
                        (Some(x), Some(y)) => format!("{:.2}×", x.pct(0.5) / y.pct(0.5)),
                        _ => "–".into(),
                    })
                    .collect();
                let _ = writeln!(s, "| {q} | {} |", cells.join(" | "));
            }
            s.push('\n');
        }
        let bad: Vec<&&Measure> = ms_n.iter().filter(|m| m.mismatch.is_some()).collect();
        if bad.is_empty() {
            let _ = writeln!(
                s,
                "Answers: every peer's answer equals linewise's for every query (calls, answered, missed, talk time, \
                 unique callers, calls today, active calls, top flows, per-bucket/flow/line rows).\n"
            );
        } else {
            let _ = writeln!(s, "Answers that differ from linewise's (≠ above):\n");
            for m in bad {
                let _ = writeln!(
                    s,
                    "- {} / {}: `{}`",
                    m.engine,
                    m.query,
                    m.mismatch.as_deref().unwrap_or("")
                );
            }
            s.push('\n');
        }
    }
    if sizes.len() > 1 {
        let _ = writeln!(
            s,
            "## Scale\n\n![scale](analytics-scale.svg)\n\nGeometric mean over the mix of per-query p50, and the worst query's p99, in ms:\n"
        );
        let heads: Vec<String> = sizes.iter().map(|n| thousands(*n)).collect();
        let _ = writeln!(s, "| engine | {} |", heads.join(" | "));
        let _ = writeln!(s, "|---|{}", "---|".repeat(sizes.len()));
        for e in &engines {
            let cells: Vec<String> = sizes
                .iter()
                .map(|&n| {
                    let of: Vec<&Measure> = measures
                        .iter()
                        .filter(|m| m.size == n && m.engine == *e)
                        .collect();
                    if of.is_empty() {
                        return "–".into();
                    }
                    let p50: Vec<f64> = of.iter().map(|m| m.pct(0.5)).collect();
                    let p99 = of.iter().map(|m| m.pct(0.99)).fold(0.0, f64::max);
                    format!("{} (p99 ≤ {})", ms(geomean(&p50)), ms(p99))
                })
                .collect();
            let _ = writeln!(s, "| {e} | {} |", cells.join(" | "));
        }
        s.push('\n');
    }
    s.push_str("## Storage\n\n| calls | engine | raw `calls` (table + indexes) | rollups | rollups ÷ raw | load through `upsert_calls` |\n|---|---|---|---|---|---|\n");
    for st in storage {
        let load = loads
            .iter()
            .find(|l| l.0 == st.size && l.1 == st.engine)
            .and_then(|l| l.2)
            .map_or("cached from an earlier run".into(), |secs| {
                format!("{secs:.0} s ({:.0} calls/s)", st.size as f64 / secs)
            });
        let (roll, ratio) = match st.rollups {
            Some(r) => (
                format!("{} ({})", mb(r), st.rollup_tables.join(", ")),
                format!("{:.1} %", r as f64 * 100.0 / st.raw.max(1) as f64),
            ),
            None => ("none (no `rollups`/`callers` tables)".into(), "–".into()),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {}{} | {roll} | {ratio} | {load} |",
            thousands(st.size),
            st.engine,
            mb(st.raw),
            st.note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        );
    }
    if !notes.is_empty() {
        s.push_str("\n## Notes\n\n");
        for n in notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

fn command_line(cfg: &Config) -> String {
    let mut parts = Vec::new();
    parts.push(format!(
        "LINEWISE_BENCH_SIZES={}",
        cfg.sizes
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    ));
    if let Some(pg) = &cfg.pg {
        parts.push(format!(
            "LINEWISE_BENCH_POSTGRES_URL={}",
            pg.split('?').next().unwrap_or(pg)
        ));
        if let Some(p) = &cfg.pg_sizes {
            parts.push(format!(
                "LINEWISE_BENCH_POSTGRES_SIZES={}",
                p.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
            ));
        }
    }
    for var in [
        "LINEWISE_BENCH_QUERY_SECONDS",
        "LINEWISE_BENCH_ITERATIONS",
        "LINEWISE_BENCH_PEERS",
        "LINEWISE_BENCH_PEER_SIZES",
    ] {
        if let Ok(v) = std::env::var(var) {
            parts.push(format!("{var}={v}"));
        }
    }
    format!(
        "pip install duckdb chdb   # peers\n{} \\\n  cargo bench --bench analytics",
        parts.join(" \\\n  ")
    )
}

fn main() {
    let cfg = config();
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut measures = Vec::new();
    let mut storage = Vec::new();
    let mut loads = Vec::new();
    let mut notes = Vec::new();
    rt.block_on(async {
        for &n in &cfg.sizes {
            let lite = sqlite_db(&cfg, n).await;
            loads.push((n, SQLITE, lite.load_seconds));
            let (queries, answers) =
                run_engine(&cfg, n, SQLITE, &lite.url, &mut measures, &mut storage).await;
            if let Some(pg) = &cfg.pg
                && cfg.pg_sizes.as_ref().is_none_or(|s| s.contains(&n))
            {
                let db = postgres_db(pg, n).await;
                loads.push((n, POSTGRES, db.load_seconds));
                let (_, pg_answers) =
                    run_engine(&cfg, n, POSTGRES, &db.url, &mut measures, &mut storage).await;
                for ((q, a), b) in queries.iter().zip(&answers).zip(&pg_answers) {
                    if let Some(d) = mix::diff(a, b) {
                        notes.push(format!(
                            "{n}: linewise on PostgreSQL differs from SQLite on {}: {d}",
                            q.name
                        ));
                    }
                }
            }
            if cfg.peers && cfg.peer_sizes.as_ref().is_none_or(|s| s.contains(&n)) {
                run_peers(
                    &cfg,
                    n,
                    &lite.url,
                    &queries,
                    &answers,
                    &mut measures,
                    &mut notes,
                )
                .await;
            }
        }
    });
    let bad: Vec<String> = measures
        .iter()
        .filter(|m| m.mismatch.is_some())
        .map(|m| format!("{} {} {}", m.size, m.engine, m.query))
        .collect();
    if cfg.quick {
        let _ = std::fs::remove_dir_all(&cfg.data);
        assert!(bad.is_empty(), "answers differ: {bad:?}");
        println!(
            "analytics bench (quick): {} measures, answers agree",
            measures.len()
        );
        return;
    }
    let md = report(
        &cfg,
        &measures,
        &storage,
        &loads,
        &notes,
        &command_line(&cfg),
        started.elapsed().as_secs_f64(),
    );
    println!("{md}");
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&results).unwrap();
    std::fs::write(results.join("analytics.md"), &md).unwrap();
    std::fs::write(
        results.join("analytics-scale.svg"),
        scale_svg(&measures, &cfg.sizes),
    )
    .unwrap();
    if !bad.is_empty() {
        eprintln!("answers differ: {bad:?}");
    }
}
