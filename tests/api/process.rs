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
    let mut c = Command::new(env!("CARGO_BIN_EXE_linewise"));
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
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("linewise.db").display());
        let mut server = Server::start(&url, args, env);
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
        let mut cmd = bin();
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

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
