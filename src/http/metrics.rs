//! `GET /metrics`: Prometheus figures for requests and ingest.
//!
//! Off (404) unless `LINEWISE_METRICS=true` or `LINEWISE_METRICS_TOKEN` is
//! set; with a token, a scrape must send it as a Bearer token. Each
//! [`AppState`] keeps its own registry, so servers in one process (the
//! tests) do not mix their figures.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::auth::Secret;

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default)]
pub enum MetricsAccess {
    /// 404: the default.
    #[default]
    Off,
    /// Anyone who can reach the port (keep it private).
    Open,
    /// Only a scrape carrying this Bearer token.
    Token(Secret),
}

/// How calls came in, for the ingest counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Api,
    WebhookExotel,
    WebhookTwilio,
    Import,
}

impl Way {
    pub fn as_str(self) -> &'static str {
        match self {
            Way::Api => "api",
            Way::WebhookExotel => "webhook-exotel",
            Way::WebhookTwilio => "webhook-twilio",
            Way::Import => "import",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WayLabels {
    way: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The service's figures.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    ingested: Family<WayLabels, Counter>,
    rejected: Family<WayLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let ingested = Family::<WayLabels, Counter>::default();
        let rejected = Family::<WayLabels, Counter>::default();
        registry.register(
            "linewise_http_requests",
            "HTTP requests by matched route, method and status",
            requests.clone(),
        );
        registry.register(
            "linewise_http_request_duration_seconds",
            "HTTP request latency by matched route",
            latency.clone(),
        );
        registry.register(
            "linewise_calls_ingested",
            "Call records accepted, by way in (api, webhook-exotel, webhook-twilio, import)",
            ingested.clone(),
        );
        registry.register(
            "linewise_inputs_rejected",
            "Call records or callbacks refused as invalid, by way in",
            rejected.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            ingested,
            rejected,
        }
    }
}

impl Metrics {
    pub fn request(&self, route: &str, method: &str, status: u16, latency: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.into(),
                method: method.into(),
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.into(),
            })
            .observe(latency.as_secs_f64());
    }

    pub fn ingested(&self, way: Way, n: u64) {
        self.ingested
            .get_or_create(&WayLabels {
                way: way.as_str().into(),
            })
            .inc_by(n);
    }

    pub fn rejected(&self, way: Way, n: u64) {
        self.rejected
            .get_or_create(&WayLabels {
                way: way.as_str().into(),
            })
            .inc_by(n);
    }

    /// Counts the analytics cache's hits and misses.
    pub fn register_cache(&mut self, stats: &crate::store::cached::CacheStats) {
        self.registry.register(
            "linewise_cache_hits",
            "Analytics answers served from the cache",
            stats.hits.clone(),
        );
        self.registry.register(
            "linewise_cache_misses",
            "Analytics answers the cache did not hold",
            stats.misses.clone(),
        );
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "The figures, in the OpenMetrics text format",
            content_type = "application/openmetrics-text", body = String),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, description = "Metrics are off (the default): set LINEWISE_METRICS or LINEWISE_METRICS_TOKEN",
            body = super::error::ErrorBody),
    )
)]
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match &state.metrics_access {
        MetricsAccess::Off => {
            return ApiError::NotFound("no route for /metrics".into()).into_response();
        }
        MetricsAccess::Open => {}
        MetricsAccess::Token(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim())
                .unwrap_or("");
            if !bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
                return ApiError::Unauthorized("the metrics token is missing or wrong".into())
                    .into_response();
            }
        }
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}
