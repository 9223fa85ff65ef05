//! `POST /api/import?format=exotel-json|twilio-json|csv`: an uploaded file,
//! through the same pipeline as `linewise import`.

use axum::Json;
use axum::extract::{Request, State};

use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Admin, QueryPairs, read_body};
use crate::http::metrics::Way;
use crate::ingest::Format;
use crate::ingest::import::{ImportError, ImportReport, import};

pub async fn upload(
    State(state): State<AppState>,
    _: Admin,
    q: QueryPairs,
    req: Request,
) -> ApiResult<Json<ImportReport>> {
    q.only(&["format"])?;
    let format = Format::parse(q.get("format").ok_or_else(|| {
        ApiError::invalid("format", "is required: exotel-json, twilio-json or csv")
    })?)?;
    let body = read_body(req, &state).await?;
    if body.is_empty() {
        return Err(ApiError::invalid("", "the uploaded file is empty"));
    }
    // Refuse a broken JSON document before storing any of it.
    if format != Format::Csv {
        serde_json::from_slice::<serde::de::IgnoredAny>(&body)
            .map_err(|e| ApiError::BadRequest(format!("the file is not valid JSON: {e}")))?;
    }
    let reader = std::io::Cursor::new(body.to_vec());
    let report = import(
        reader,
        format,
        state.ingest.clone(),
        state.store.clone(),
        |_| {},
    )
    .await
    .map_err(|e| match e {
        ImportError::Format(m) => ApiError::invalid("file", m),
        ImportError::Store(s) => s.into(),
        ImportError::Io(io) => ApiError::BadRequest(io.to_string()),
    })?;
    state.metrics.ingested(
        Way::Import,
        report.created + report.updated + report.unchanged,
    );
    state.metrics.rejected(Way::Import, report.rejected);
    Ok(Json(report))
}
