//! The command line: `serve`, `user add`, `demo`.

use clap::{Parser, Subcommand};

use crate::config::Settings;

/// Per-line call analytics for businesses that run many phone lines.
#[derive(Debug, Parser)]
#[command(name = "linewise", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve {
        /// Fill an empty database with demo data before serving.
        #[arg(long)]
        demo: bool,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Import a provider's call records from a file (`-` for stdin).
    Import {
        /// The file to read, or `-` for standard input.
        file: String,
        /// The file's format.
        #[arg(long, value_enum)]
        format: crate::ingest::Format,
    },
    /// Copy a live SQLite database to a new file, consistently, while it serves.
    Backup {
        /// The new file to write.
        file: String,
    },
    /// Print one stored call as JSON, with its provider record (`raw`) as
    /// the provider sent it; exits 1 when there is no such call.
    Call {
        /// The provider: exotel, twilio or manual.
        provider: String,
        /// The provider's id of the call (Exotel's and Twilio's CallSid).
        provider_call_id: String,
    },
    /// Fill the database with realistic demo traffic (safe to run again).
    Demo {
        /// Days of history up to today.
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password comes from LINEWISE_PASSWORD or a prompt.
    Add {
        email: String,
        /// super_admin, admin, manager or agent.
        #[arg(long)]
        role: String,
        /// The user's password (at least 12 characters).
        #[arg(long, env = "LINEWISE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

/// Runs `linewise import`: streams `path` (or `-` for stdin) into the store,
/// with a progress bar on a terminal and plain progress lines otherwise.
pub async fn run_import(
    store: std::sync::Arc<dyn crate::store::Store>,
    ctx: crate::ingest::IngestContext,
    path: &str,
    format: crate::ingest::Format,
) -> Result<crate::ingest::import::ImportReport, crate::ingest::import::ImportError> {
    use std::io::IsTerminal;
    use std::time::{Duration, Instant};

    let (reader, size): (Box<dyn std::io::Read + Send>, Option<u64>) = if path == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let f = std::fs::File::open(path)?;
        let size = f.metadata().ok().map(|m| m.len());
        (Box::new(f), size)
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = match size {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut last = Instant::now();
    let started = Instant::now();
    let report = crate::ingest::import::import(reader, format, ctx, store, |p| {
        let msg = format!(
            "{} read, {} stored, {} rejected",
            p.read, p.stored, p.rejected
        );
        match &bar {
            Some(bar) => {
                bar.set_position(p.bytes);
                bar.set_message(msg);
            }
            None if last.elapsed() >= Duration::from_secs(2) => {
                let pct = size
                    .filter(|n| *n > 0)
                    .map(|n| format!(" ({:.0}%)", p.bytes as f64 * 100.0 / n as f64))
                    .unwrap_or_default();
                eprintln!("import: {msg}{pct}");
                last = Instant::now();
            }
            None => {}
        }
    })
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = report?;
    for r in &report.errors {
        eprintln!("rejected {}: {}", r.position, r.reason);
    }
    if report.rejected as usize > report.errors.len() {
        eprintln!(
            "… and {} more rejected records",
            report.rejected as usize - report.errors.len()
        );
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "imported in {secs:.1}s ({:.0} records/s)",
        report.read as f64 / secs.max(1e-9)
    );
    Ok(report)
}

/// A stored call as `linewise call` prints it: the fields of `POST
/// /api/calls`, `raw` as the provider sent it.
pub fn call_json(c: crate::domain::NewCall) -> serde_json::Value {
    serde_json::json!({
        "provider": c.provider.as_str(),
        "providerCallId": c.provider_call_id,
        "phoneNumber": c.phone_number.as_str(),
        "otherParty": c.other_party,
        "direction": c.direction.as_str(),
        "status": c.status.as_str(),
        "startedAt": c.started_at.to_string(),
        "endedAt": c.ended_at.map(|t| t.to_string()),
        "durationSeconds": c.duration_seconds,
        "flowId": c.flow_id,
        "recordingUrl": c.recording_url,
        "raw": c.raw.into_value(),
    })
}
