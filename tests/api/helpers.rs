//! `spawn_app` and friends: a real server on a real socket over a real database.

use std::sync::atomic::{AtomicU64, Ordering};

use linewise::config::Settings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const ADMIN_EMAIL: &str = "admin@localhost";
pub const ADMIN_PASSWORD: &str = "test-admin-password";
/// The JWT secret test servers use, so tests can forge tokens.
pub const JWT_SECRET: &str = "test-secret-0123456789-0123456789-0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// A super_admin's token.
    pub token: String,
    pub backend: Backend,
    /// The server's store, for checks below the API (rollups against a recount).
    pub store: std::sync::Arc<dyn linewise::store::Store>,
    /// The server's database, for tests that must reach under the store.
    pub database_url: String,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL URL for tests, if the suite should run there.
pub fn postgres_url() -> Option<String> {
    match std::env::var("LINEWISE_TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            if std::env::var("LINEWISE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!(
                    "LINEWISE_TEST_REQUIRE_POSTGRES=1 but LINEWISE_TEST_POSTGRES_URL is not set"
                );
            }
            None
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}_{}_{}_{n}",
        std::process::id(),
        jiff::Timestamp::now().as_microsecond() % 1_000_000_000
    )
}

/// A fresh, empty database for one test: a temp SQLite file, or a new
/// schema in the PostgreSQL test database.
pub async fn fresh_database(backend: Backend) -> Option<(String, Option<tempfile::TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("linewise.db").display());
            Some((url, Some(dir)))
        }
        Backend::Postgres => {
            let base = postgres_url()?;
            let schema = unique("t");
            let pool = sqlx::PgPool::connect(&base)
                .await
                .expect("connect to the PostgreSQL test database");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&pool)
                .await
                .expect("create test schema");
            pool.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            Some((format!("{base}{sep}options[search_path]={schema}"), None))
        }
    }
}

/// Test settings for a database URL: a fixed admin password and JWT secret.
pub fn settings(url: &str) -> Settings {
    let mut s = Settings::for_database(url);
    s.admin_password = Some(ADMIN_PASSWORD.into());
    s.jwt_secret = Some(JWT_SECRET.into());
    // The answer cache is on, as in the product; LINEWISE_TEST_CACHE=0
    // runs the whole suite with it off.
    s.cache = std::env::var("LINEWISE_TEST_CACHE").map_or(true, |v| v != "0");
    s
}

/// Starts a server on port 0 over a fresh database; `None` when the backend
/// is PostgreSQL and no test database is configured.
pub async fn try_spawn(backend: Backend) -> Option<TestApp> {
    let (url, dir) = fresh_database(backend).await?;
    Some(spawn_with(settings(&url), backend, dir).await)
}

/// Like [`try_spawn`], with settings changed by `change` first.
pub async fn spawn_configured(
    backend: Backend,
    change: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    let (url, dir) = fresh_database(backend).await?;
    let mut s = settings(&url);
    change(&mut s);
    Some(spawn_with(s, backend, dir).await)
}

pub async fn spawn_with(
    settings: Settings,
    backend: Backend,
    dir: Option<tempfile::TempDir>,
) -> TestApp {
    let (state, _) = linewise::app::build(&settings).await.expect("build app");
    let database_url = settings.database_url.expose().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    let store = state.store.clone();
    tokio::spawn(linewise::http::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let mut app = TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        token: String::new(),
        backend,
        store,
        database_url,
        _dir: dir,
    };
    app.token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    app
}

/// Runs each test body on SQLite and on PostgreSQL:
/// `both! { async fn name(app) { … } }` makes `sqlite::name` and `postgres::name`.
macro_rules! both {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let $app = $crate::helpers::try_spawn($crate::helpers::Backend::Sqlite).await.expect("sqlite app");
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some($app) = $crate::helpers::try_spawn($crate::helpers::Backend::Postgres).await else {
                        eprintln!("PostgreSQL suite not configured (LINEWISE_TEST_POSTGRES_URL); skipped");
                        return;
                    };
                    $body
                }
            )*
        }
    };
}
pub(crate) use both;

/// Runs `$body` with `$pool` connected to the app's database (either engine).
macro_rules! under_the_store {
    ($app:expr, $pool:ident, $body:block) => {
        match $app.backend {
            Backend::Sqlite => {
                let $pool = sqlx::SqlitePool::connect(&$app.database_url)
                    .await
                    .expect("open SQLite");
                let out = $body;
                $pool.close().await;
                out
            }
            Backend::Postgres => {
                let $pool = sqlx::PgPool::connect(&$app.database_url)
                    .await
                    .expect("open PostgreSQL");
                let out = $body;
                $pool.close().await;
                out
            }
        }
    };
}

impl TestApp {
    /// Sends a body too large for the route. `None` when the server's early
    /// answer and close beat the client's last write (a broken pipe while
    /// sending): a refusal too, just without a readable status.
    pub async fn send_oversized(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> Option<(reqwest::StatusCode, serde_json::Value)> {
        // A client of its own: the server closes this connection after its
        // 413, and a pooled client could hand the dead connection to the
        // test's next request (hyper's IncompleteMessage).
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let res = client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await;
        match res {
            Ok(r) => {
                let status = r.status();
                Some((status, r.json().await.unwrap_or(serde_json::Value::Null)))
            }
            Err(e) => {
                assert!(
                    e.is_request() && format!("{e:?}").contains("BodyWrite"),
                    "{e:?}"
                );
                None
            }
        }
    }

    /// Runs one statement on the server's database, under the store.
    pub async fn sql(&self, statement: &str) {
        let sql = sqlx::AssertSqlSafe(statement.to_string());
        under_the_store!(self, pool, {
            sqlx::query(sql).execute(&pool).await.expect(statement);
        })
    }

    /// The one integer a query under the store answers.
    pub async fn sql_count(&self, query: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(query.to_string());
        under_the_store!(self, pool, {
            sqlx::query_scalar(sql).fetch_one(&pool).await.expect(query)
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// Sends raw bytes as a JSON body.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, Some(&self.token), None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(&self.token), Some(&body))
            .await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PUT, path, Some(&self.token), Some(&body))
            .await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PATCH, path, Some(&self.token), Some(&body))
            .await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, path, Some(&self.token), None)
            .await
    }

    /// Logs in and returns the access token; panics unless it works.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .send(
                Method::POST,
                "/api/auth/login",
                None,
                Some(&json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login of {email}: {body}");
        body["accessToken"]
            .as_str()
            .expect("accessToken")
            .to_string()
    }

    /// Creates a user through the API and returns `(id, token)`.
    pub async fn user(&self, email: &str, role: &str, lines: &[i64]) -> (i64, String) {
        let password = "a-long-enough-password";
        let (status, body) = self
            .post("/api/users", json!({"email": email, "password": password, "role": role, "phoneNumberIds": lines}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["id"].as_i64().unwrap(),
            self.login(email, password).await,
        )
    }

    /// Registers a line and returns its id.
    pub async fn line(&self, number: &str, name: &str, metadata: Value) -> i64 {
        let (status, body) = self
            .post(
                "/api/phone-numbers",
                json!({"number": number, "friendlyName": name, "metadata": metadata}),
            )
            .await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{body}"
        );
        body["id"].as_i64().unwrap()
    }

    /// Posts calls; asserts they were stored.
    pub async fn calls(&self, calls: Value) -> Value {
        let (status, body) = self.post("/api/calls", calls).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// A call in the `calls` shape.
pub fn call(id: &str, line: &str, status: &str, started_at: &str, duration: i64) -> Value {
    json!({
        "providerCallId": id, "phoneNumber": line, "otherParty": "+919812345678",
        "direction": "inbound", "status": status, "startedAt": started_at, "durationSeconds": duration,
    })
}

/// Percent-encodes a query value (a `+` must arrive as `%2B` unless a test means otherwise).
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
