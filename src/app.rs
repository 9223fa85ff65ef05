//! Start-up: everything between the settings and a ready [`AppState`].

use std::sync::Arc;

use axum::http::HeaderValue;
use jiff::tz::TimeZone;

use crate::auth::{self, TokenKeys};
use crate::config::Settings;
use crate::domain::{Invalid, Region, Role, parse_timezone};
use crate::http::metrics::MetricsAccess;
use crate::http::{AppState, Inner};
use crate::store::{self, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid setting {0}")]
    Setting(#[from] Invalid),
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] auth::SecretError),
}

/// The first admin, made on first start; `password` is set when it was generated.
#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    pub email: String,
    pub generated_password: Option<String>,
}

/// The validated settings the running service needs.
pub struct Resolved {
    pub tz: TimeZone,
    pub tz_name: String,
    pub region: Region,
    pub exotel_tz: TimeZone,
    pub cors_origins: Vec<HeaderValue>,
    pub metrics_access: MetricsAccess,
    pub connection_limits: crate::http::server::ConnectionLimits,
}

/// Checks `LINEWISE_CORS_ORIGINS`: each an origin (`scheme://host[:port]`),
/// never `*` or a path.
pub fn parse_origins(list: &[String]) -> Result<Vec<HeaderValue>, Invalid> {
    let mut out = Vec::new();
    for raw in list.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        let o = raw.trim_end_matches('/');
        let ok = o.split_once("://").is_some_and(|(scheme, host)| {
            matches!(scheme, "http" | "https")
                && !host.is_empty()
                && !host.contains(['/', '?', '#', '*', '@', ' '])
        });
        let value = HeaderValue::from_str(o)
            .ok()
            .filter(|_| ok)
            .ok_or_else(|| {
                Invalid::new(
                    "LINEWISE_CORS_ORIGINS",
                    format!("'{raw}' is not an origin like https://app.example.com"),
                )
            })?;
        out.push(value);
    }
    Ok(out)
}

pub fn resolve(settings: &Settings) -> Result<Resolved, Invalid> {
    let tz = parse_timezone("LINEWISE_TIMEZONE", &settings.timezone)?;
    let exotel_tz = parse_timezone("LINEWISE_EXOTEL_TIMEZONE", &settings.exotel_timezone)?;
    let region = Region::parse(&settings.default_region)
        .map_err(|e| Invalid::new("LINEWISE_DEFAULT_REGION", e.message))?;
    if settings.token_ttl < 60 {
        return Err(Invalid::new(
            "LINEWISE_TOKEN_TTL",
            "must be at least 60 seconds",
        ));
    }
    let metrics_access = match settings.metrics_token.as_ref().map(|t| t.expose().trim()) {
        Some(t) if !t.is_empty() => {
            if t.len() < 16 {
                return Err(Invalid::new(
                    "LINEWISE_METRICS_TOKEN",
                    "must be at least 16 characters",
                ));
            }
            MetricsAccess::Token(auth::Secret::new(t))
        }
        _ if settings.metrics => MetricsAccess::Open,
        _ => MetricsAccess::Off,
    };
    let at_least_one = |name: &'static str, v: usize| {
        if v == 0 {
            Err(Invalid::new(name, "must be at least 1"))
        } else {
            Ok(v)
        }
    };
    let seconds = |name: &'static str, v: u64| {
        if (1..=3600).contains(&v) {
            Ok(std::time::Duration::from_secs(v))
        } else {
            Err(Invalid::new(
                name,
                format!("must be 1 to 3600 seconds, not {v}"),
            ))
        }
    };
    let connection_limits = crate::http::server::ConnectionLimits {
        header_timeout: seconds("LINEWISE_HEADER_TIMEOUT", settings.header_timeout)?,
        io_timeout: seconds("LINEWISE_IO_TIMEOUT", settings.io_timeout)?,
        max_connections: at_least_one("LINEWISE_MAX_CONNECTIONS", settings.max_connections)?,
        max_connections_per_address: at_least_one(
            "LINEWISE_MAX_CONNECTIONS_PER_ADDRESS",
            settings.max_connections_per_address,
        )?,
    };
    at_least_one("LINEWISE_MAX_EXPORTS", settings.max_exports)?;
    at_least_one(
        "LINEWISE_MAX_EXPORTS_PER_USER",
        settings.max_exports_per_user,
    )?;
    Ok(Resolved {
        connection_limits,
        tz,
        tz_name: settings.timezone.trim().to_string(),
        region,
        exotel_tz,
        cors_origins: parse_origins(&settings.cors_origins)?,
        metrics_access,
    })
}

/// Opens the store (migrating it), loads the JWT secret and makes the first
/// admin when there are no users.
pub async fn build(settings: &Settings) -> Result<(AppState, Option<BootstrapAdmin>), StartError> {
    let resolved = resolve(settings)?;
    let mut store = store::open(&settings.database_url).await?;
    let mut metrics = crate::http::metrics::Metrics::default();
    if settings.cache {
        let cached = store::CachedStore::wrap(store, &settings.database_url).await?;
        metrics.register_cache(&cached.stats);
        store = Arc::new(cached);
    }
    let secret = auth::load_or_create_secret(
        settings.jwt_secret().as_ref(),
        &settings.database_url,
        store.as_ref(),
    )
    .await?;
    let admin = bootstrap_admin(settings, store.as_ref()).await?;
    auth::warm_up().await;
    let state = AppState::new(Inner {
        webhooks: crate::ingest::batcher::Batcher::start(store.clone()),
        store,
        keys: TokenKeys::new(&secret, settings.token_ttl),
        tz: resolved.tz,
        tz_name: resolved.tz_name,
        region: resolved.region,
        login_limiter: Default::default(),
        password_checks: auth::PasswordChecks::new(settings.login_queue),
        exports: crate::http::api::analytics::ExportSlots::new(
            settings.max_exports,
            settings.max_exports_per_user,
        ),
        connection_limits: resolved.connection_limits.fit_to_open_files(),
        ingest: crate::ingest::IngestContext {
            region: resolved.region,
            exotel_tz: resolved.exotel_tz,
        },
        twilio_auth_token: settings
            .twilio_auth_token
            .clone()
            .filter(|t| !t.expose().is_empty()),
        public_url: settings.public_url.clone().filter(|u| !u.is_empty()),
        cors_origins: resolved.cors_origins,
        metrics,
        metrics_access: resolved.metrics_access,
    });
    Ok((state, admin))
}

async fn bootstrap_admin(
    settings: &Settings,
    store: &dyn store::Store,
) -> Result<Option<BootstrapAdmin>, StartError> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let email = crate::http::api::users::parse_email(&settings.admin_email)
        .map_err(|e| Invalid::new("LINEWISE_ADMIN_EMAIL", e.message))?;
    let (password, generated) = match &settings.admin_password {
        Some(p) => {
            crate::http::api::users::check_password(p.expose())
                .map_err(|e| Invalid::new("LINEWISE_ADMIN_PASSWORD", e.message))?;
            (p.expose().to_string(), None)
        }
        None => {
            let p = auth::random_token(20);
            (p.clone(), Some(p))
        }
    };
    let hash = auth::hash_password_blocking(password).await;
    match store
        .create_user(
            &email,
            &hash,
            Role::SuperAdmin,
            &[],
            crate::http::audit::system("first-run"),
        )
        .await
    {
        Ok(_) => Ok(Some(BootstrapAdmin {
            email,
            generated_password: generated,
        })),
        // Another node made the first admin at the same moment.
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_are_origins() {
        let ok = parse_origins(&[
            " https://ops.example.com/ ".into(),
            "http://localhost:5173".into(),
            "".into(),
        ])
        .unwrap();
        assert_eq!(ok, ["https://ops.example.com", "http://localhost:5173"]);
        for bad in [
            "*",
            "ops.example.com",
            "https://ops.example.com/path",
            "https://*.example.com",
            "ftp://ops.example.com",
            "https://",
        ] {
            assert!(parse_origins(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
