//! The one error type of the HTTP layer and its mapping to status codes.
//!
//! Bodies are `{"error": {"code", "message", "field"?, "details"?}}`. A 5xx
//! logs its cause and says nothing of it to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Invalid;
use crate::store::StoreError;

/// One bad item of a batch.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct ItemIssue {
    /// The item's position in the batch (0 for a single form or callback).
    pub index: usize,
    /// The path of the bad field within the item.
    pub field: String,
    pub message: String,
}

/// Every error answer: `{"error": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// The one field at fault (code `invalid`); empty when it is the body itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every bad field of every bad item (code `invalid_items`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<ItemIssue>>,
}

/// What went wrong, for programs; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    Invalid,
    InvalidItems,
    RateLimited,
    Unavailable,
    Busy,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{message}")]
    InvalidItems {
        message: String,
        details: Vec<ItemIssue>,
    },
    #[error("too many attempts; try again in {retry_after} seconds")]
    RateLimited { retry_after: u64 },
    /// Too many requests of one kind at once (per user or in all).
    #[error("{message}")]
    TooMany { message: String, retry_after: u64 },
    #[error("the database is unavailable; try again shortly")]
    Unavailable,
    /// The server is at a bound it keeps to stay responsive.
    #[error("{message}")]
    Busy { message: String, retry_after: u64 },
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid(_) | ApiError::InvalidItems { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::RateLimited { .. } | ApiError::TooMany { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(_) => ErrorCode::BadRequest,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::Invalid(_) => ErrorCode::Invalid,
            ApiError::InvalidItems { .. } => ErrorCode::InvalidItems,
            ApiError::RateLimited { .. } | ApiError::TooMany { .. } => ErrorCode::RateLimited,
            ApiError::Busy { .. } => ErrorCode::Busy,
            ApiError::Unavailable => ErrorCode::Unavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The body this error is answered with.
    pub fn body(&self) -> ErrorBody {
        let mut error = ErrorDetail {
            code: self.code(),
            message: self.to_string(),
            field: None,
            details: None,
        };
        match self {
            ApiError::Invalid(i) => {
                error.field = Some(i.field.clone());
                error.message = format!("{}: {}", i.field, i.message);
            }
            ApiError::InvalidItems { details, .. } => error.details = Some(details.clone()),
            _ => {}
        }
        ErrorBody { error }
    }

    /// Every problem of one item (a form, a callback) as one 422, each
    /// naming its field; `context` opens the message.
    pub fn invalid_fields(context: &str, errs: Vec<Invalid>) -> Self {
        let joined = errs
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::InvalidItems {
            message: if context.is_empty() {
                joined
            } else {
                format!("{context}: {joined}")
            },
            details: errs
                .into_iter()
                .map(|e| ItemIssue {
                    index: 0,
                    field: e.field,
                    message: e.message,
                })
                .collect(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid(Invalid::new(field, message))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid { field, message } => ApiError::invalid(field, message),
            StoreError::Unavailable(m) => {
                tracing::warn!(cause = %m, "database unavailable");
                ApiError::Unavailable
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let mut res = (status, axum::Json(self.body())).into_response();
        match &self {
            ApiError::RateLimited { retry_after }
            | ApiError::TooMany { retry_after, .. }
            | ApiError::Busy { retry_after, .. } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::Unauthorized(_) => {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::Unavailable => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
