//! The HTTP API: state, router and server.

pub mod access;
pub mod api;
pub mod audit;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
mod router;
pub mod server;
mod telemetry;

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use jiff::tz::TimeZone;

use crate::auth::TokenKeys;
use crate::domain::Region;
use crate::store::Store;

pub use router::{CONTENT_SECURITY_POLICY, router};

/// Largest JSON body on most routes.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Largest body for call batches (10 000 calls).
pub const BATCH_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub keys: TokenKeys,
    /// The business timezone, for "today" and dates when a request names none.
    pub tz: TimeZone,
    pub tz_name: String,
    /// Region for national numbers.
    pub region: Region,
    pub login_limiter: api::auth::LoginLimiter,
    /// The bound on password checks in flight and waiting.
    pub password_checks: crate::auth::PasswordChecks,
    /// The bound on CSV exports running at once.
    pub exports: api::analytics::ExportSlots,
    /// Timeouts and caps on connections.
    pub connection_limits: server::ConnectionLimits,
    /// What the provider parsers need (region, Exotel's timezone).
    pub ingest: crate::ingest::IngestContext,
    /// Twilio webhook: the auth token and the public URL; off when either is unset.
    pub twilio_auth_token: Option<crate::auth::Secret>,
    pub public_url: Option<String>,
    /// Group commit for the provider callbacks.
    pub webhooks: crate::ingest::batcher::Batcher,
    /// Origins allowed to call the API from a browser (`LINEWISE_CORS_ORIGINS`); none by default.
    pub cors_origins: Vec<axum::http::HeaderValue>,
    /// Request and ingest figures, and who may read them at `/metrics`.
    pub metrics: metrics::Metrics,
    pub metrics_access: metrics::MetricsAccess,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Serves the API on `listener` until `shutdown` completes, then lets
/// in-flight requests finish and stores the queued callbacks.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.connection_limits;
    let served = server::run(listener, router(state.clone()), limits, shutdown).await;
    state.webhooks.close().await;
    served
}
