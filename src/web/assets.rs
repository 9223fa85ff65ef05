//! The embedded stylesheet and script, served with a content-hash version
//! so a page always asks for the one it was rendered with.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use sha2::{Digest, Sha256};

pub const CSS: &str = include_str!("style.css");
pub const JS: &str = include_str!("app.js");

fn short_hash(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().take(5).map(|b| format!("{b:02x}")).collect()
}

static CSS_URL: LazyLock<String> =
    LazyLock::new(|| format!("/assets/style.css?v={}", short_hash(CSS)));
static JS_URL: LazyLock<String> = LazyLock::new(|| format!("/assets/app.js?v={}", short_hash(JS)));

pub fn css_url() -> &'static str {
    &CSS_URL
}

pub fn js_url() -> &'static str {
    &JS_URL
}

const CACHE: &str = "public, max-age=86400";

pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        CSS,
    )
}

pub async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        JS,
    )
}
