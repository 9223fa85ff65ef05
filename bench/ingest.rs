//! Ingest benchmark: CSV import of N calls into SQLite (and PostgreSQL when
//! `LINEWISE_BENCH_POSTGRES_URL` is set), and sustained single-callback
//! webhook ingest over HTTP on loopback.
//!
//! Run: `cargo bench --bench ingest` (N = 1 000 000; `LINEWISE_BENCH_CALLS`
//! to change it; `LINEWISE_BENCH_ONLY_IMPORT=1` stops after the first SQLite
//! import, for profiling). Writes `bench/results/ingest.md`.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use linewise::ingest::{Format, IngestContext};

fn calls_wanted() -> u64 {
    std::env::var("LINEWISE_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// A deterministic CSV of `n` calls over 30 lines and 90 days.
fn make_csv(n: u64) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("calls_{n}.csv"));
    if path.exists() {
        return path;
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(f, "providerCallId,phoneNumber,otherParty,direction,status,startedAt,endedAt,durationSeconds,flowId").unwrap();
    let statuses = [
        "completed",
        "completed",
        "completed",
        "completed",
        "no-answer",
        "busy",
        "canceled",
        "failed",
    ];
    let start = 1_767_225_600i64; // 2026-01-01T00:00:00Z
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let line = 9_876_543_000 + (x % 30);
        let caller = 9_812_000_000 + (x >> 8) % 500_000;
        let status = statuses[((x >> 20) % 8) as usize];
        let t = start + (i as i64 * 90 * 86_400) / n as i64;
        let dur = if status == "completed" {
            20 + (x >> 30) % 600
        } else {
            0
        };
        let started = jiff::Timestamp::from_second(t).unwrap();
        let ended = jiff::Timestamp::from_second(t + dur as i64 + 5).unwrap();
        let dir = if (x >> 40).is_multiple_of(7) {
            "outbound"
        } else {
            "inbound"
        };
        writeln!(
            f,
            "b-{i},+91{line},+91{caller},{dir},{status},{started},{ended},{dur},{}",
            200 + (x >> 44) % 12
        )
        .unwrap();
    }
    f.flush().unwrap();
    path
}

/// CPU seconds this process has used, user and system (Linux: fields 14
/// and 15 of `/proc/self/stat`, in the fixed 100 ticks a second of that
/// file); `None` elsewhere.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count from its ')'.
    let mut rest = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    let user: f64 = rest.nth(11)?.parse().ok()?;
    let system: f64 = rest.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// The CPU an import used a call, in microseconds, as a table cell.
fn cpu_cell(cpu: Option<f64>, n: u64) -> String {
    cpu.map_or("-".into(), |c| format!("{:.1}", c / n as f64 * 1e6))
}

/// Imports the CSV into a store at `url`: seconds taken, the report, and
/// the CPU seconds the whole process used meanwhile (parsers, writer,
/// SQLite's threads; 2 cores here).
async fn import_into(
    url: &str,
    csv: &std::path::Path,
) -> (f64, linewise::ingest::import::ImportReport, Option<f64>) {
    let store = linewise::store::open(url).await.unwrap();
    let file = std::fs::File::open(csv).unwrap();
    let cpu = process_cpu_seconds();
    let t = Instant::now();
    let report = linewise::ingest::import::import(
        file,
        Format::Csv,
        IngestContext::default(),
        store,
        |_| {},
    )
    .await
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu.zip(process_cpu_seconds()).map(|(a, b)| b - a);
    (secs, report, cpu)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn webhooks(
    dir: &std::path::Path,
    total: usize,
    clients: usize,
    limit: Duration,
) -> (usize, f64, Duration, Duration, usize) {
    let mut settings = linewise::config::Settings::for_database(&format!(
        "sqlite://{}",
        dir.join("hooks.db").display()
    ));
    settings.admin_password = Some("bench-admin-password".into());
    let (state, _) = linewise::app::build(&settings).await.unwrap();
    let key = "lwk_benchbenchbenchbenchbenchbench";
    state
        .store
        .create_ingest_key(
            "bench",
            &linewise::http::api::ingest_keys::hash_key(key),
            "lwk_bench",
            None,
            linewise::http::audit::system("bench"),
        )
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(linewise::http::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let url = format!("http://{addr}/api/webhooks/exotel?token={key}");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (url, next) = (url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total || started.elapsed() > limit {
                    break;
                }
                let body = format!(
                    "CallSid=hook{i}&Status=completed&EventType=terminal&PhoneNumberSid=08047180000&From=09812345678&To=08047180000\
                     &Direction=inbound&StartTime=2026-01-16+10%3A00%3A00&EndTime=2026-01-16+10%3A03%3A00&ConversationDuration=170"
                );
                let t = Instant::now();
                let ok = client
                    .post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                lat.push(t.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.unwrap();
        all.extend(lat);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    (
        all.len(),
        secs,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        errors,
    )
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs us too: stay quick then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick { 2_000 } else { calls_wanted() };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let csv = make_csv(n);
    let size_mb = std::fs::metadata(&csv).unwrap().len() as f64 / 1e6;
    let dir = tempfile::tempdir().unwrap();
    let mut out = String::new();
    out.push_str(&format!("## Ingest ({n} calls, CSV {size_mb:.0} MB)\n\n| what | engine | calls | seconds | calls/s | CPU µs a call (process) |\n|---|---|---|---|---|---|\n"));
    let url = format!("sqlite://{}", dir.path().join("import.db").display());
    let (secs, report, cpu) = rt.block_on(import_into(&url, &csv));
    assert_eq!(report.created, n);
    out.push_str(&format!(
        "| CSV import | SQLite | {n} | {secs:.2} | {:.0} | {} |\n",
        n as f64 / secs,
        cpu_cell(cpu, n)
    ));
    if std::env::var_os("LINEWISE_BENCH_ONLY_IMPORT").is_some() {
        // A profiling run: the first import alone.
        println!("{out}");
        return;
    }
    let (secs, report, cpu) = rt.block_on(import_into(&url, &csv));
    assert_eq!(report.unchanged, n);
    out.push_str(&format!(
        "| CSV re-import (all unchanged) | SQLite | {n} | {secs:.2} | {:.0} | {} |\n",
        n as f64 / secs,
        cpu_cell(cpu, n)
    ));
    if let Ok(pg) = std::env::var("LINEWISE_BENCH_POSTGRES_URL") {
        let schema = format!("bench_{}", std::process::id());
        rt.block_on(async {
            let pool = sqlx::PgPool::connect(&pg).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&pool)
                .await
                .unwrap();
        });
        let sep = if pg.contains('?') { '&' } else { '?' };
        let url = format!("{pg}{sep}options[search_path]={schema}");
        let (secs, report, cpu) = rt.block_on(import_into(&url, &csv));
        assert_eq!(report.created, n);
        out.push_str(&format!(
            "| CSV import | PostgreSQL | {n} | {secs:.2} | {:.0} | {} |\n",
            n as f64 / secs,
            cpu_cell(cpu, n)
        ));
    }
    let (total, limit) = if quick {
        (500, Duration::from_secs(5))
    } else {
        (200_000, Duration::from_secs(30))
    };
    let (done, secs, p50, p99, errors) = rt.block_on(webhooks(dir.path(), total, 64, limit));
    out.push_str(&format!(
        "\n| webhook (Exotel StatusCallback, 64 connections, client in-process) | callbacks | seconds | callbacks/s | p50 | p99 | errors |\n|---|---|---|---|---|---|---|\n| SQLite | {done} | {secs:.1} | {:.0} | {:.2} ms | {:.2} ms | {errors} |\n",
        done as f64 / secs,
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    ));
    println!("{out}");
    if !quick {
        let results = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results");
        std::fs::create_dir_all(&results).unwrap();
        std::fs::write(results.join("ingest.md"), &out).unwrap();
    }
}
