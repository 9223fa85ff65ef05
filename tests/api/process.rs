//! The real `linewise` binary as a child process: started with `serve` on
//! port 0, its address read from what it prints, killed when dropped. Tests
//! that need a process of their own (signals, `kill -9`, several nodes, a
//! database behind a proxy) use [`Server`]; the rest use `helpers::spawn_app`.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD};

/// How long a start may take (migrations on a cold PostgreSQL, a demo fill).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// `linewise` with none of this process's `LINEWISE_*`/`DATABASE_URL` settings.
pub fn bin() -> Command {
    without_settings(Command::new(env!("CARGO_BIN_EXE_linewise")))
}

/// [`bin`] with the file mode creation mask `umask`, whatever this
/// process's is (set by `sh`, which then becomes `linewise`: same process).
/// Runs a command to its end; panics with its stderr unless it succeeded.
pub fn succeeded(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn bin_with_umask(umask: u32) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("umask {umask:03o} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_linewise"));
    without_settings(c)
}

fn without_settings(mut c: Command) -> Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("LINEWISE_") || k == "DATABASE_URL" {
            c.env_remove(k);
        }
    }
    c
}

/// A running `linewise serve`. Its stderr (the logs) goes to [`Server::logs`],
/// kept across restarts; its stdout up to "listening on" is in
/// [`Server::printed`].
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT` of the current process (a restart gets a new port).
    pub base: String,
    /// The database URL it serves.
    pub url: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// The file mode creation mask it starts with, if not this process's.
    umask: Option<u32>,
    /// The lines printed before "listening on" by the latest start.
    pub printed: Vec<String>,
    pub logs: PathBuf,
    _logs_dir: tempfile::TempDir,
    _db_dir: Option<tempfile::TempDir>,
}

impl Server {
    /// `linewise serve ARGS` over the database at `url`, with `env` added to
    /// a clean environment. The first admin's password is
    /// `helpers::ADMIN_PASSWORD` unless `env` sets `LINEWISE_ADMIN_PASSWORD`;
    /// an empty value unsets a variable.
    pub fn start(url: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_with(url, args, env, None)
    }

    fn start_with(url: &str, args: &[&str], env: &[(&str, &str)], umask: Option<u32>) -> Server {
        let logs_dir = tempfile::tempdir().unwrap();
        let mut server = Server {
            child: None,
            base: String::new(),
            url: url.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            umask,
            printed: Vec::new(),
            logs: logs_dir.path().join("stderr.log"),
            _logs_dir: logs_dir,
            _db_dir: None,
        };
        server.launch();
        server
    }

    /// Like [`Server::start`], over a fresh SQLite file of its own.
    pub fn sqlite(args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::sqlite_with(args, env, None)
    }

    /// Like [`Server::sqlite`], started (and restarted) with the file mode
    /// creation mask `umask`.
    pub fn sqlite_with_umask(umask: u32, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::sqlite_with(args, env, Some(umask))
    }

    fn sqlite_with(args: &[&str], env: &[(&str, &str)], umask: Option<u32>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("linewise.db").display());
        let mut server = Server::start_with(&url, args, env, umask);
        server._db_dir = Some(dir);
        server
    }

    /// The SQLite file's folder, for a server made by [`Server::sqlite`].
    pub fn dir(&self) -> &std::path::Path {
        self._db_dir
            .as_ref()
            .expect("a server over its own SQLite file")
            .path()
    }

    fn launch(&mut self) {
        let mut cmd = self.umask.map_or_else(bin, bin_with_umask);
        cmd.arg("serve")
            .args(&self.args)
            .args(["--bind", "127.0.0.1:0"])
            .env("DATABASE_URL", &self.url)
            .env("LINEWISE_ADMIN_PASSWORD", ADMIN_PASSWORD);
        for (k, v) in &self.env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.logs)
            .unwrap();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap();
        // A thread reads stdout to its end, so the server never blocks on a
        // full pipe, and hands its lines over until the address is seen.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        self.child = Some(child);
        self.printed.clear();
        let started = Instant::now();
        loop {
            let left = START_TIMEOUT.saturating_sub(started.elapsed());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        self.base = rest.split_whitespace().next().unwrap().to_string();
                        return;
                    }
                    self.printed.push(line);
                }
                Err(e) => {
                    self.stop();
                    panic!(
                        "linewise did not start ({e:?}); printed {:?}; logs:\n{}",
                        self.printed,
                        self.log_text()
                    );
                }
            }
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What the server has logged so far, across restarts.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.logs).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running server").id()
    }

    /// `kill -9`: the process ends at once, nothing flushed or drained.
    pub fn kill_9(&mut self) {
        let child = self.child.as_mut().expect("a running server");
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        self.child = None;
    }

    /// Starts the server again on the same database, settings and arguments
    /// (on a new port: read [`Server::base`] again). Kills it first if it runs.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// The exit status, if the process has ended.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().unwrap())
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM failed");
    }

    /// Waits for the process to end (at most 30 s) and returns its exit status.
    pub fn wait(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("a running server");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            if start.elapsed() > Duration::from_secs(30) {
                self.stop();
                panic!("the server did not stop within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Waits (at most 30 s) until the server has read every byte sent so
    /// far on `conn`: its end of the connection has nothing left to read.
    pub async fn wait_until_read(&self, conn: &tokio::net::TcpStream) {
        let client = conn.local_addr().unwrap().port();
        let start = Instant::now();
        loop {
            match unread(self.port(), client) {
                Some(0) => return,
                Some(_) => {}
                // No /proc/net/tcp (not Linux): give it time instead.
                None => return tokio::time::sleep(Duration::from_millis(300)).await,
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the server did not read its connection within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits (at most 30 s) until the server refuses new connections, as it
    /// does once it has begun to shut down.
    pub async fn wait_until_not_listening(&self) {
        let addr = format!("127.0.0.1:{}", self.port());
        let start = Instant::now();
        while tokio::net::TcpStream::connect(&addr).await.is_ok() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the server still takes connections 30 s on"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Logs in as the first admin and returns the access token.
    pub async fn login(&self) -> String {
        let password = self
            .env
            .iter()
            .find(|(k, _)| k == "LINEWISE_ADMIN_PASSWORD")
            .map_or(ADMIN_PASSWORD, |(_, v)| v.as_str());
        self.login_as(ADMIN_EMAIL, password).await
    }

    /// Logs in and returns the access token; panics unless it works.
    pub async fn login_as(&self, email: &str, password: &str) -> String {
        let res = reqwest::Client::new()
            .post(format!("{}/api/auth/login", self.base))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login of {email}");
        let body: Value = res.json().await.unwrap();
        body["accessToken"].as_str().expect("a token").to_string()
    }
}

/// Bytes received and not yet read on this machine's end of the TCP
/// connection from `remote_port` to `local_port` (Linux: `/proc/net/tcp`).
fn unread(local_port: u16, remote_port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port = |address: &str| u16::from_str_radix(address.rsplit(':').next()?, 16).ok();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 4 && port(f[1]) == Some(local_port) && port(f[2]) == Some(remote_port) {
            let (_, rx) = f[4].split_once(':')?;
            return u64::from_str_radix(rx, 16).ok();
        }
    }
    panic!("no connection from port {remote_port} to port {local_port} in /proc/net/tcp");
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The SQLite database holds password hashes: the file, the `-wal` and
/// `-shm` beside it, the JWT secret and `linewise backup`'s copy are
/// readable by their owner only, even under a umask that lets everyone
/// read new files. Files found readable by others are made 0600 again at
/// the next start, with a warning naming each.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let env = [("LINEWISE_LOG_FORMAT", "json")];
    let mut server = Server::sqlite_with_umask(0o022, &[], &env);
    let token = server.login().await;
    // A write, so that the log and its index are in use.
    let res = reqwest::Client::new()
        .post(format!("{}/api/calls", server.base))
        .bearer_auth(&token)
        .json(&json!({"providerCallId": "mode-1", "phoneNumber": "+918041234567", "direction": "inbound",
                      "status": "completed", "startedAt": "2026-01-10T10:00:00Z", "durationSeconds": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let dir = server.dir().to_path_buf();
    let mode = |name: &str| {
        let meta = std::fs::metadata(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        meta.permissions().mode() & 0o777
    };
    let database = ["linewise.db", "linewise.db-wal", "linewise.db-shm"];
    for name in database.iter().chain(&["linewise.db.jwt-secret"]) {
        assert_eq!(mode(name), 0o600, "{name} is {:o}", mode(name));
    }

    let copy = dir.join("copy.db");
    succeeded(
        bin_with_umask(0o022)
            .args(["backup", copy.to_str().unwrap()])
            .env("DATABASE_URL", &server.url),
    );
    assert_eq!(
        mode("copy.db"),
        0o600,
        "the backup is {:o}",
        mode("copy.db")
    );

    // Killed, the server leaves the log and its index behind; all three
    // are made readable by everyone before it starts again.
    server.kill_9();
    for name in database {
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    server.restart();
    let logs = server.log_text();
    for name in database {
        assert_eq!(
            mode(name),
            0o600,
            "{name} is {:o} after a restart",
            mode(name)
        );
        let path = dir.join(name).display().to_string();
        assert!(
            logs.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .any(|l| l["level"] == "WARN" && l["file"] == path.as_str()),
            "no warning naming {path}:\n{logs}"
        );
    }
}
