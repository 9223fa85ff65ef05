//! The real `linewise` binary: `--help`, `serve --demo`, `user add`, `demo`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_linewise"));
    // Start from a clean environment for our settings.
    for (k, _) in std::env::vars() {
        if k.starts_with("LINEWISE_") || k == "DATABASE_URL" {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn help_lists_every_setting() {
    let out = bin().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for var in [
        "LINEWISE_BIND",
        "DATABASE_URL",
        "LINEWISE_JWT_SECRET",
        "LINEWISE_TOKEN_TTL",
        "LINEWISE_CACHE",
        "LINEWISE_TIMEZONE",
        "LINEWISE_EXOTEL_TIMEZONE",
        "LINEWISE_DEFAULT_REGION",
        "LINEWISE_TWILIO_AUTH_TOKEN",
        "LINEWISE_PUBLIC_URL",
        "LINEWISE_ADMIN_EMAIL",
        "LINEWISE_ADMIN_PASSWORD",
        "LINEWISE_LOG",
    ] {
        assert!(text.contains(var), "--help does not mention {var}:\n{text}");
    }
    for cmd in ["serve", "user", "demo"] {
        assert!(text.contains(cmd), "--help does not list {cmd}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_runs_the_product_with_demo_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("linewise.db");
    let mut child = bin()
        .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut password, mut base) = (None, None);
    let start = Instant::now();
    while base.is_none() && start.elapsed() < Duration::from_secs(120) {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(rest) = line.split("password: ").nth(1) {
            password = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = rest.split_whitespace().next().map(str::to_string);
        }
    }
    let (password, base) = (
        password.expect("first admin's password printed"),
        base.expect("address printed"),
    );
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "admin@localhost", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["accessToken"]
        .as_str()
        .expect("login with the printed password")
        .to_string();
    let dd: Value = client
        .get(format!("{base}/api/phone-numbers/dropdown"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dd.as_array().unwrap().len(), 6, "{dd}");
    assert_eq!(dd[0]["isPrimary"], true);
    let d: Value = client
        .get(format!(
            "{base}/api/analytics/dashboard?from=2020-01-01&to=2030-01-01"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        d["calls"].as_i64().unwrap() > 10_000,
        "ninety days of demo calls: {d}"
    );
    assert!(d["topFlows"].as_array().unwrap().len() >= 3);
    let (_, groups) = (
        0,
        client
            .get(format!("{base}/api/phone-number-groups"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
    );
    assert_eq!(groups["items"].as_array().unwrap().len(), 2);
    let _ = child.kill();
    let _ = child.wait();

    // The secret is kept beside the database, private to its owner.
    let secret = dir.path().join("linewise.db.jwt-secret");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secret).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // `demo` again adds nothing new; `user add` makes a user who can log in.
    let out = bin()
        .args(["demo"])
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("(0 new,"),
        "a second run refreshes, never duplicates: {text}"
    );
    let out = bin()
        .args(["user", "add", "Manager@Example.com", "--role", "manager"])
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("LINEWISE_PASSWORD", "manager-password-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args(["user", "add", "x@example.com", "--role", "root"])
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("LINEWISE_PASSWORD", "manager-password-1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("root"));
}
