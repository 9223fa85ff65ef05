//! Live provider callbacks: Exotel (`?token=` ingest key) and Twilio
//! (`X-Twilio-Signature`). Each callback is folded into the call it reports
//! on, so several callbacks in any order build one record; the answer is a
//! quick empty 200 (providers retry otherwise), sent once the call is stored.
//! Callbacks are written in small batches by [`crate::ingest::batcher`].

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};

use super::ingest_keys::check_key;
use crate::domain::Invalid;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{parse_json, read_body, refuse_nul};
use crate::http::metrics::Way;
use crate::http::openapi as doc;
use crate::ingest::{exotel, twilio};

fn query_pairs(uri: &axum::http::Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"))
}

/// A JSON object's fields as callback pairs (nested values as JSON text).
fn flatten(bytes: &Bytes) -> ApiResult<Vec<(String, String)>> {
    let v: serde_json::Value = parse_json(bytes)?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::invalid("", "a callback body must be a JSON object"))?;
    Ok(obj
        .iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect())
}

fn refused(errs: Vec<Invalid>) -> ApiError {
    ApiError::invalid_fields("the callback was not stored", errs)
}

/// The Exotel callback fields linewise reads (passthru query or
/// StatusCallback body); any others are kept with the call as `raw`.
#[derive(utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(non_snake_case)]
pub struct ExotelCallback {
    /// Identifies the call: later callbacks for it complete the record.
    pub CallSid: Option<String>,
    /// The ExoPhone (the business line).
    pub PhoneNumberSid: Option<String>,
    pub CallFrom: Option<String>,
    pub CallTo: Option<String>,
    pub From: Option<String>,
    pub To: Option<String>,
    /// `incoming`, `inbound`, `outbound-api`, `outbound-dial`.
    pub Direction: Option<String>,
    pub Status: Option<String>,
    pub CallStatus: Option<String>,
    pub DialCallStatus: Option<String>,
    /// `completed`, `client-hangup`, `call-attempt`, `incomplete`.
    pub CallType: Option<String>,
    /// Seconds of talk.
    pub DialCallDuration: Option<String>,
    /// Seconds of talk.
    pub ConversationDuration: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS` in the Exotel account's timezone.
    pub StartTime: Option<String>,
    pub EndTime: Option<String>,
    pub RecordingUrl: Option<String>,
    pub flow_id: Option<String>,
    pub flow_name: Option<String>,
    pub digits: Option<String>,
}

/// The Twilio status-callback fields linewise reads; any others are kept as `raw`.
#[derive(utoipa::ToSchema)]
#[allow(non_snake_case)]
pub struct TwilioCallback {
    pub CallSid: Option<String>,
    pub From: Option<String>,
    pub To: Option<String>,
    pub Called: Option<String>,
    pub Caller: Option<String>,
    pub Direction: Option<String>,
    pub CallStatus: Option<String>,
    /// Seconds.
    pub CallDuration: Option<String>,
    /// RFC 2822.
    pub Timestamp: Option<String>,
}

/// `GET /api/webhooks/exotel?token=KEY&…`: an Exotel passthru callback.
#[utoipa::path(
    get,
    path = "/api/webhooks/exotel",
    tag = "webhooks",
    security(("ingest_key" = [])),
    params(ExotelCallback),
    responses(
        (status = 200, description = "Stored (an empty body)"),
        (status = 422, response = doc::Invalid),
        doc::SignedIn,
    )
)]
pub async fn exotel_passthru(state: State<AppState>, req: Request) -> ApiResult<StatusCode> {
    exotel(state, req).await
}

/// `POST /api/webhooks/exotel?token=KEY`: an Exotel StatusCallback, as a
/// form or a JSON object (nested values are kept as JSON text).
#[utoipa::path(
    post,
    path = "/api/webhooks/exotel",
    tag = "webhooks",
    security(("ingest_key" = [])),
    request_body(content(
        (ExotelCallback = "application/x-www-form-urlencoded"),
        (ExotelCallback = "application/json"),
    )),
    responses(
        (status = 200, description = "Stored (an empty body)"),
        doc::JsonBody,
        doc::SignedIn,
    )
)]
pub async fn exotel_status(state: State<AppState>, req: Request) -> ApiResult<StatusCode> {
    exotel(state, req).await
}

/// Both Exotel callbacks: the query's pairs, then a POST body's.
async fn exotel(State(state): State<AppState>, req: Request) -> ApiResult<StatusCode> {
    let mut pairs = query_pairs(req.uri());
    let token = pairs
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone());
    check_key(&state, token.as_deref()).await?;
    pairs.retain(|(k, _)| k != "token");
    if req.method() == Method::POST {
        let json = is_json(req.headers());
        let body = read_body(req, &state).await?;
        if json {
            pairs.extend(flatten(&body)?);
        } else {
            pairs.extend(form_urlencoded::parse(&body).into_owned());
        }
    }
    refuse_nul(&pairs)?;
    let call = exotel::call_from_callback(&pairs, &state.ingest).map_err(|e| {
        state.metrics.rejected(Way::WebhookExotel, 1);
        refused(e)
    })?;
    state.webhooks.merge(call).await?;
    state.metrics.ingested(Way::WebhookExotel, 1);
    Ok(StatusCode::OK)
}

/// `POST /api/webhooks/twilio`: a status callback, accepted only with a
/// valid `X-Twilio-Signature`.
#[utoipa::path(
    post,
    path = "/api/webhooks/twilio",
    tag = "webhooks",
    security(()),
    params(
        ("X-Twilio-Signature" = Option<String>, Header,
            description = "Base64 HMAC-SHA1 of the public URL and the sorted form parameters, keyed with the auth token"),
    ),
    request_body(content = TwilioCallback, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Stored (an empty body)"),
        (status = 403, response = doc::Forbidden),
        (status = 404, description = "The webhook is off: LINEWISE_TWILIO_AUTH_TOKEN or LINEWISE_PUBLIC_URL is unset", body = crate::http::error::ErrorBody),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 422, response = doc::Invalid),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn twilio(State(state): State<AppState>, req: Request) -> ApiResult<StatusCode> {
    let (Some(token), Some(public)) = (state.twilio_auth_token.as_ref(), state.public_url.as_ref())
    else {
        return Err(ApiError::NotFound(
            "the Twilio webhook is off: set LINEWISE_TWILIO_AUTH_TOKEN and LINEWISE_PUBLIC_URL"
                .into(),
        ));
    };
    let url = match req.uri().query() {
        Some(q) => format!("{}{}?{q}", public.trim_end_matches('/'), req.uri().path()),
        None => format!("{}{}", public.trim_end_matches('/'), req.uri().path()),
    };
    let given = req
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = read_body(req, &state).await?;
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let ok = given.is_some_and(|g| twilio::verify_signature(token.expose(), &url, &params, &g));
    if !ok {
        state.metrics.rejected(Way::WebhookTwilio, 1);
        return Err(ApiError::Forbidden(
            "missing or wrong X-Twilio-Signature".into(),
        ));
    }
    refuse_nul(&params)?;
    let call = twilio::call_from_callback(&params, &state.ingest).map_err(|e| {
        state.metrics.rejected(Way::WebhookTwilio, 1);
        refused(e)
    })?;
    state.webhooks.merge(call).await?;
    state.metrics.ingested(Way::WebhookTwilio, 1);
    Ok(StatusCode::OK)
}
