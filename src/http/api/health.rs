use axum::Json;
use serde_json::{Value, json};

/// `GET /api/health`: 200 without a token.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
