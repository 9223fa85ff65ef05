//! Load benchmark: mixed traffic against the release server over SQLite on
//! loopback, every route at once, closed loop (each client sends its next
//! request when the last is answered), so the rate is the highest this
//! machine holds with these clients:
//!
//! - 32 Exotel StatusCallback clients, each callback a new CallSid;
//! - 4 `POST /api/calls` clients, 100 new calls a batch;
//! - 3 admins and 3 agents (an agent sees 3 of the 10 lines) alternating the
//!   dashboard and the daily timeseries over a 7, 30 or 90 day window.
//!
//! The database starts with 100 000 calls (`linewise import`). Every call a
//! 2xx acknowledged is looked up afterwards, in the file itself, once the
//! server has stopped: `lost` must be 0, and so must the 5xx count.
//!
//!   cargo bench --bench load               (60 s; writes bench/results/load.md)
//!   cargo bench --bench load -- --secs 20
//!
//! The server is a separate process (`target/release/linewise`); the clients
//! run here, on the same 2 cores. Only 127.0.0.1 is used.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "load-admin-password";
const JWT_SECRET: &str = "load-bench-secret-0123456789-0123456789-0123";
const LINES: usize = 10;
const SEED_CALLS: usize = 100_000;
const BATCH: usize = 100;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Route {
    Webhook,
    Batch,
    DashboardAdmin,
    TimeseriesAdmin,
    DashboardAgent,
    TimeseriesAgent,
}

const ROUTES: [(Route, &str); 6] = [
    (Route::Webhook, "POST /api/webhooks/exotel"),
    (Route::Batch, "POST /api/calls (100 calls)"),
    (
        Route::DashboardAdmin,
        "GET /api/analytics/dashboard (admin)",
    ),
    (
        Route::TimeseriesAdmin,
        "GET /api/analytics/timeseries (admin)",
    ),
    (
        Route::DashboardAgent,
        "GET /api/analytics/dashboard (agent, 3 lines)",
    ),
    (
        Route::TimeseriesAgent,
        "GET /api/analytics/timeseries (agent, 3 lines)",
    ),
];

/// One answered (or failed) request.
struct Sample {
    route: Route,
    micros: u64,
    /// 0: no HTTP answer (connection error).
    status: u16,
}

#[derive(Default)]
struct Tally {
    samples: Vec<Sample>,
    acked: Vec<String>,
    sent: usize,
}

fn line(i: usize) -> String {
    format!("+91804718{:04}", i)
}

/// The calls the database starts with: 2026-08-01 to 2026-10-29, ten lines.
fn seed_csv(path: &std::path::Path) {
    let mut text = String::from(
        "providerCallId,phoneNumber,otherParty,direction,status,startedAt,durationSeconds\n",
    );
    let start = 1_785_542_400_i64; // 2026-08-01T00:00:00Z
    for i in 0..SEED_CALLS {
        let at = start + (i as i64 * 7_777) % (90 * 86_400);
        let ts = jiff::Timestamp::from_second(at).unwrap();
        let status = ["completed", "completed", "completed", "no-answer", "busy"][i % 5];
        text.push_str(&format!(
            "seed-{i},{},+9198{:08},{},{status},{ts},{}\n",
            line(i % LINES),
            (i * 7919) % 40_000,
            if i.is_multiple_of(4) {
                "outbound"
            } else {
                "inbound"
            },
            if status == "completed" {
                20 + i % 400
            } else {
                0
            }
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn linewise(url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linewise"));
    for (k, _) in std::env::vars() {
        if k.starts_with("LINEWISE_") || k == "DATABASE_URL" {
            c.env_remove(k);
        }
    }
    c.env("DATABASE_URL", url)
        .env("LINEWISE_JWT_SECRET", JWT_SECRET)
        .env("LINEWISE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("LINEWISE_LOG", "warn");
    c
}

fn start_server(url: &str, logs: &std::path::Path) -> (Child, String) {
    use std::io::BufRead;
    let mut child = linewise(url)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(logs).unwrap()))
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let l = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(rest) = l.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

/// The server's user + system CPU seconds so far (Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    ticks / hz
}

async fn json_ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn setup(client: &reqwest::Client, base: &str) -> (String, String, String) {
    let login = |email: &'static str, password: &'static str| {
        client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    let admin =
        json_ok(login("admin@localhost", ADMIN_PASSWORD).await.unwrap()).await["accessToken"]
            .as_str()
            .unwrap()
            .to_string();
    let mut ids = Vec::new();
    for i in 0..LINES {
        let body = json_ok(
            client
                .post(format!("{base}/api/phone-numbers"))
                .bearer_auth(&admin)
                .json(&json!({"number": line(i), "friendlyName": format!("Line {i}")}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        ids.push(body["id"].as_i64().unwrap());
    }
    json_ok(
        client
            .post(format!("{base}/api/users"))
            .bearer_auth(&admin)
            .json(
                &json!({"email": "agent@example.com", "password": "agent-password-123",
                          "role": "agent", "phoneNumberIds": &ids[..3]}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    let agent = json_ok(
        login("agent@example.com", "agent-password-123")
            .await
            .unwrap(),
    )
    .await["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let key = json_ok(
        client
            .post(format!("{base}/api/ingest-keys"))
            .bearer_auth(&admin)
            .json(&json!({"name": "load"}))
            .send()
            .await
            .unwrap(),
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    (admin, agent, key)
}

/// One closed-loop client of `route` until `stop`.
async fn client_loop(
    route: Route,
    n: usize,
    client: reqwest::Client,
    base: String,
    token: String,
    stop: Arc<AtomicBool>,
) -> Tally {
    let mut t = Tally::default();
    let mut k = 0usize;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let (req, ids): (reqwest::RequestBuilder, Vec<String>) = match route {
            Route::Webhook => {
                let sid = format!("hook-{n}-{k}");
                let day = 1 + (n + k) % 29;
                let form = format!(
                    "CallSid={sid}&Status=completed&EventType=terminal&PhoneNumberSid=0804718{:04}\
                     &From=0981234{:04}&To=0804718{:04}&Direction=inbound\
                     &StartTime=2026-10-{day:02}+10%3A00%3A00&EndTime=2026-10-{day:02}+10%3A02%3A00&ConversationDuration={}",
                    k % LINES,
                    k % 5000,
                    k % LINES,
                    k % 120
                );
                (
                    client
                        .post(format!("{base}/api/webhooks/exotel?token={token}"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(form),
                    vec![sid],
                )
            }
            Route::Batch => {
                let ids: Vec<String> = (0..BATCH).map(|i| format!("batch-{n}-{k}-{i}")).collect();
                let calls: Vec<Value> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| {
                        json!({"providerCallId": id, "phoneNumber": line((k + i) % LINES),
                               "otherParty": format!("+9197{:08}", (k * BATCH + i) % 60_000),
                               "direction": "inbound", "status": if i.is_multiple_of(4) { "no-answer" } else { "completed" },
                               "startedAt": format!("2026-10-{:02}T{:02}:{:02}:00Z", 1 + k % 29, i % 24, k % 60),
                               "durationSeconds": if i.is_multiple_of(4) { 0 } else { 30 + i }})
                    })
                    .collect();
                (
                    client
                        .post(format!("{base}/api/calls"))
                        .bearer_auth(&token)
                        .json(&calls),
                    ids,
                )
            }
            _ => {
                let days = [7, 30, 90][(n + k) % 3];
                let from = jiff::civil::date(2026, 10, 30)
                    .checked_sub(jiff::Span::new().days(days))
                    .unwrap();
                let path = match route {
                    Route::DashboardAdmin | Route::DashboardAgent => "dashboard?",
                    _ => "timeseries?interval=day&",
                };
                (
                    client
                        .get(format!(
                            "{base}/api/analytics/{path}from={from}&to=2026-10-30&tz=Asia/Kolkata"
                        ))
                        .bearer_auth(&token),
                    vec![],
                )
            }
        };
        t.sent += ids.len();
        let started = Instant::now();
        let status = match req.send().await {
            Ok(res) => {
                let s = res.status().as_u16();
                match res.bytes().await {
                    Ok(_) => s,
                    Err(_) => 0,
                }
            }
            Err(_) => 0,
        };
        t.samples.push(Sample {
            route,
            micros: started.elapsed().as_micros() as u64,
            status,
        });
        if (200..300).contains(&status) {
            t.acked.extend(ids);
        }
    }
    t
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; `cargo test --benches` runs us too: stay short then.
    let full = args.iter().any(|a| a == "--bench");
    let secs: u64 = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 60 } else { 3 });
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("load.db").display());

    let csv = dir.path().join("seed.csv");
    seed_csv(&csv);
    let seeded = Instant::now();
    let out = linewise(&url)
        .args(["import", csv.to_str().unwrap(), "--format", "csv"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "seed import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "seeded {SEED_CALLS} calls in {:.1}s",
        seeded.elapsed().as_secs_f64()
    );

    let logs = dir.path().join("server.log");
    let (mut server, base) = start_server(&url, &logs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let (admin, agent, key) = rt.block_on(setup(&client, &base));

    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = cpu_seconds(server.id());
    let started = Instant::now();
    let tallies: Vec<Tally> = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        let plan = [
            (Route::Webhook, 32, &key),
            (Route::Batch, 4, &admin),
            (Route::DashboardAdmin, 2, &admin),
            (Route::TimeseriesAdmin, 1, &admin),
            (Route::DashboardAgent, 2, &agent),
            (Route::TimeseriesAgent, 1, &agent),
        ];
        for (route, clients, token) in plan {
            for n in 0..clients {
                set.spawn(client_loop(
                    route,
                    n,
                    client.clone(),
                    base.clone(),
                    token.clone(),
                    stop.clone(),
                ));
            }
        }
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        set.join_all().await
    });
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(server.id()) - cpu_before;

    // Stop the server (SIGTERM: it drains), then read the file itself.
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let exit = server.wait().unwrap();
    let (stored, drift, total) = rt.block_on(async {
        use linewise::store::{CallQuery, LineScope};
        let store = linewise::store::open(&url).await.unwrap();
        let mut ids = HashSet::new();
        let mut after = None;
        loop {
            let page = store
                .list_calls(
                    &LineScope::All,
                    &CallQuery {
                        period: None,
                        after,
                        limit: 20_000,
                    },
                )
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some((last.started_at, last.id));
            ids.extend(page.into_iter().map(|c| c.provider_call_id));
        }
        let drift = store.rollup_drift().await.unwrap();
        let total = ids.len();
        (ids, drift, total)
    });

    let mut samples: Vec<Sample> = Vec::new();
    let (mut acked, mut sent) = (Vec::new(), 0);
    for t in tallies {
        samples.extend(t.samples);
        acked.extend(t.acked);
        sent += t.sent;
    }
    let lost = acked.iter().filter(|id| !stored.contains(*id)).count();
    let fivexx = samples.iter().filter(|s| s.status >= 500).count();
    let failed = samples.iter().filter(|s| s.status == 0).count();
    let refused = samples
        .iter()
        .filter(|s| s.status != 0 && s.status < 500 && !(200..300).contains(&s.status))
        .count();
    let logs_text = std::fs::read_to_string(&logs).unwrap_or_default();
    let locked = logs_text.matches("locked").count();

    let mut md = format!(
        "## Load: {secs} s of mixed traffic, SQLite, release build\n\n\
         Server CPU {cpu:.1} s over {wall:.1} s ({:.2} cores of 2); clients in the bench process on the same cores.\n\n\
         | route | clients | requests | req/s | p50 ms | p99 ms | max ms | 5xx | other non-2xx | no answer |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        cpu / wall
    );
    for (route, name) in ROUTES {
        let mine: Vec<&Sample> = samples.iter().filter(|s| s.route == route).collect();
        let mut lat: Vec<u64> = mine.iter().map(|s| s.micros).collect();
        lat.sort_unstable();
        let clients = match route {
            Route::Webhook => 32,
            Route::Batch => 4,
            Route::TimeseriesAdmin | Route::TimeseriesAgent => 1,
            _ => 2,
        };
        md.push_str(&format!(
            "| {name} | {clients} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} | {} |\n",
            mine.len(),
            mine.len() as f64 / wall,
            pct(&lat, 0.50),
            pct(&lat, 0.99),
            lat.last().copied().unwrap_or(0) as f64 / 1000.0,
            mine.iter().filter(|s| s.status >= 500).count(),
            mine.iter()
                .filter(|s| s.status != 0 && s.status < 500 && !(200..300).contains(&s.status))
                .count(),
            mine.iter().filter(|s| s.status == 0).count(),
        ));
    }
    md.push_str(&format!(
        "\n| calls | count |\n|---|---|\n\
         | sent (webhooks + batches) | {sent} |\n\
         | acknowledged (2xx) | {} |\n\
         | acknowledged and stored | {} |\n\
         | **lost** (acknowledged, not stored) | **{lost}** |\n\
         | stored in all (with the {SEED_CALLS} seeded) | {total} |\n\n\
         5xx: **{fivexx}**; requests without an answer: {failed}; \"locked\" in the server's log: {locked}; \
         rollup rows differing from a recount: {}; server exit: {exit}.\n",
        acked.len(),
        acked.len() - lost,
        drift.len()
    ));
    println!("{md}");
    if full {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/results/load.md");
        std::fs::write(path, &md).unwrap();
        eprintln!("written to {path}");
    }
    assert_eq!(lost, 0, "acknowledged calls lost");
    assert_eq!(fivexx, 0, "5xx answers");
    assert_eq!(refused, 0, "4xx answers: the bench's requests are wrong");
    assert!(drift.is_empty(), "rollups differ from a recount: {drift:?}");
}
