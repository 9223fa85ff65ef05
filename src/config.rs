//! Every setting, as a flag and an environment variable (`linewise --help`
//! lists them all).

use clap::Args;

use crate::auth::Secret;

/// Settings shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "LINEWISE_BIND",
        default_value = "0.0.0.0:3001",
        global = true
    )]
    pub bind: String,

    /// Database: `sqlite://FILE` (embedded, created on first start) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://linewise.db",
        global = true
    )]
    pub database_url: DatabaseUrl,

    /// JWT signing secret (at least 32 characters). Unset: generated once and
    /// kept beside the SQLite file (mode 0600), or in the PostgreSQL database.
    #[arg(
        long,
        env = "LINEWISE_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<Secret>,

    /// How long an access token lives, in seconds.
    #[arg(long, env = "LINEWISE_TOKEN_TTL", default_value_t = 8 * 3600, global = true)]
    pub token_ttl: i64,

    /// Answer analytics (and the user behind each token, and each ingest
    /// key) from memory until the next write. Every write empties it; with
    /// PostgreSQL, every node's writes empty every node's cache (a key
    /// revoked through another node stops working here within 60 s even if
    /// its notification is lost); with SQLite, so do another process's
    /// (seen in the header SQLite rewrites at every commit), except that a key it revokes stops
    /// working here within 1 s. `--cache false` turns it off.
    #[arg(
        long,
        env = "LINEWISE_CACHE",
        default_value_t = true,
        action = clap::ArgAction::Set,
        global = true
    )]
    pub cache: bool,

    /// The business's IANA timezone, for "today" and for dates.
    #[arg(long, env = "LINEWISE_TIMEZONE", default_value = "UTC", global = true)]
    pub timezone: String,

    /// The Exotel account's timezone (Exotel sends naive local times).
    #[arg(
        long,
        env = "LINEWISE_EXOTEL_TIMEZONE",
        default_value = "Asia/Kolkata",
        global = true
    )]
    pub exotel_timezone: String,

    /// Region whose national numbers (`09876543210`) are read without a country code.
    #[arg(
        long,
        env = "LINEWISE_DEFAULT_REGION",
        default_value = "IN",
        global = true
    )]
    pub default_region: String,

    /// Twilio auth token, to check `X-Twilio-Signature`. Unset: Twilio webhook off.
    #[arg(
        long,
        env = "LINEWISE_TWILIO_AUTH_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub twilio_auth_token: Option<Secret>,

    /// The public URL linewise is reached at (for webhook signatures and cookies).
    #[arg(long, env = "LINEWISE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Email of the first admin, made on first start when there are no users.
    #[arg(
        long,
        env = "LINEWISE_ADMIN_EMAIL",
        default_value = "admin@localhost",
        global = true
    )]
    pub admin_email: String,

    /// Password of the first admin. Unset: a random one, printed once.
    #[arg(
        long,
        env = "LINEWISE_ADMIN_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub admin_password: Option<Secret>,

    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `linewise=debug`.
    #[arg(long, env = "LINEWISE_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Log lines as human-readable `text` or as one JSON object per line.
    #[arg(
        long,
        env = "LINEWISE_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Origins (comma-separated, e.g. `https://ops.example.com`) whose pages
    /// may call the API from a browser. Unset: no cross-origin access.
    #[arg(
        long,
        env = "LINEWISE_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Vec<String>,

    /// Serve Prometheus figures at `GET /metrics` (404 when off).
    #[arg(long, env = "LINEWISE_METRICS", default_value_t = false, global = true)]
    pub metrics: bool,

    /// Serve `/metrics` only to scrapes with this Bearer token (turns metrics on).
    #[arg(
        long,
        env = "LINEWISE_METRICS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub metrics_token: Option<Secret>,

    /// Seconds a client has to send a request's head; also how long a
    /// kept-alive connection may wait for its next request.
    #[arg(
        long,
        env = "LINEWISE_HEADER_TIMEOUT",
        default_value_t = 20,
        global = true
    )]
    pub header_timeout: u64,

    /// Seconds a request body may send nothing, and a response may wait for
    /// the client to read, before the connection is closed.
    #[arg(long, env = "LINEWISE_IO_TIMEOUT", default_value_t = 30, global = true)]
    pub io_timeout: u64,

    /// Connections open at once (lowered to what the open-files limit allows).
    #[arg(
        long,
        env = "LINEWISE_MAX_CONNECTIONS",
        default_value_t = 10_000,
        global = true
    )]
    pub max_connections: usize,

    /// Connections open at once from one client address.
    #[arg(
        long,
        env = "LINEWISE_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256,
        global = true
    )]
    pub max_connections_per_address: usize,

    /// CSV exports (API and pages) running at once, in all.
    #[arg(long, env = "LINEWISE_MAX_EXPORTS", default_value_t = 8, global = true)]
    pub max_exports: usize,

    /// CSV exports running at once for one user.
    #[arg(
        long,
        env = "LINEWISE_MAX_EXPORTS_PER_USER",
        default_value_t = 2,
        global = true
    )]
    pub max_exports_per_user: usize,

    /// Sign-ins waiting for a password check beyond those being checked
    /// (one per core); more are refused with 503 and `Retry-After`.
    #[arg(
        long,
        env = "LINEWISE_LOGIN_QUEUE",
        default_value_t = 32,
        global = true
    )]
    pub login_queue: usize,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Settings {
    /// Defaults for a database URL, ignoring the environment (for tests and tools).
    pub fn for_database(url: &str) -> Settings {
        Settings {
            bind: "127.0.0.1:0".into(),
            database_url: DatabaseUrl::from(url),
            jwt_secret: None,
            token_ttl: 8 * 3600,
            cache: true,
            timezone: "UTC".into(),
            exotel_timezone: "Asia/Kolkata".into(),
            default_region: "IN".into(),
            twilio_auth_token: None,
            public_url: None,
            admin_email: "admin@localhost".into(),
            admin_password: None,
            log: "info".into(),
            log_format: LogFormat::Text,
            cors_origins: Vec::new(),
            metrics: false,
            metrics_token: None,
            header_timeout: 20,
            io_timeout: 30,
            max_connections: 10_000,
            max_connections_per_address: 256,
            max_exports: 8,
            max_exports_per_user: 2,
            login_queue: 32,
        }
    }

    pub fn jwt_secret(&self) -> Option<Secret> {
        self.jwt_secret.clone()
    }
}

/// A database URL; its `Debug` hides the password it may carry, so
/// printing the settings never shows it.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL as given, password and all, to connect with.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for DatabaseUrl {
    fn from(url: &str) -> Self {
        DatabaseUrl(url.to_string())
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl::from(url))
    }
}

impl std::ops::Deref for DatabaseUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // scheme://user:password@host… → scheme://user:***@host…
        let url = &self.0;
        let masked = match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let userinfo = &url[scheme + 3..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                    None => url.clone(),
                }
            }
            _ => url.clone(),
        };
        f.debug_tuple("DatabaseUrl").field(&masked).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    #[test]
    fn printing_the_settings_never_shows_a_secret() {
        let cli = Cli::parse_from([
            "linewise",
            "--database-url",
            "postgres://app:db-pass-123@db.example:5432/linewise",
            "--jwt-secret",
            "jwt-secret-0123456789-0123456789-0123",
            "--admin-password",
            "admin-pass-123",
            "--twilio-auth-token",
            "twilio-token-123",
            "--metrics-token",
            "metrics-token-0123456789",
        ]);
        let printed = format!("{:?}", cli.settings);
        for secret in [
            "db-pass-123",
            "jwt-secret-0123456789",
            "admin-pass-123",
            "twilio-token-123",
            "metrics-token-0123456789",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(
            printed.contains("postgres://app:***@db.example:5432/linewise"),
            "{printed}"
        );
        assert_eq!(
            cli.settings.database_url.expose(),
            "postgres://app:db-pass-123@db.example:5432/linewise"
        );
        assert_eq!(
            cli.settings.jwt_secret().unwrap().expose(),
            "jwt-secret-0123456789-0123456789-0123"
        );
    }
}
