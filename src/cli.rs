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
