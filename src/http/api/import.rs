//! `POST /api/import?format=exotel-json|twilio-json|csv`: an uploaded file,
//! through the same pipeline as `linewise import`.

use axum::Json;
use axum::extract::{Request, State};

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};

use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Admin, QueryPairs, read_body};
use crate::http::metrics::Way;
use crate::http::openapi as doc;
use crate::ingest::Format;
use crate::ingest::import::{ImportError, ImportReport, import};

/// A provider's JSON export: an object (`{"Calls": [...]}`, `{"Call": {...}}`,
/// `{"calls": [...]}` or one call) or an array of calls. A record that is not
/// a call (not even an object) is reported in `errors`, not refused whole.
pub struct ImportJson;

impl utoipa::PartialSchema for ImportJson {
    fn schema() -> RefOr<Schema> {
        let object = || ObjectBuilder::new().schema_type(Type::Object);
        OneOfBuilder::new()
            .item(object())
            .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(SchemaType::AnyValue)))
            .into()
    }
}

impl utoipa::ToSchema for ImportJson {}

/// A CSV file with a header row: bytes, read as `format` says whatever the
/// `Content-Type`.
pub struct CsvFile;

impl utoipa::PartialSchema for CsvFile {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for CsvFile {}

/// What `upload` reads from the query string.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The file's format.
    #[param(pattern = "^(exotel-json|twilio-json|csv)$")]
    pub format: String,
}

/// The file is the whole request body (not a multipart form): a JSON
/// document for `exotel-json` and `twilio-json`, text with a header row for `csv`.
#[utoipa::path(
    post,
    path = "/api/import",
    tag = "calls",
    params(ImportQuery),
    request_body(
        description = "The file, at most 32 MiB",
        content(
            (ImportJson = "application/json"),
            (CsvFile = "text/csv"),
        )
    ),
    responses(
        (status = 200, description = "What was stored and what was rejected, with each rejected record's position", body = ImportReport),
        (status = 403, response = doc::Forbidden),
        doc::JsonBody,
        doc::SignedIn,
    )
)]
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
