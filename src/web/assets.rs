//! The stylesheet, embedded in the binary so it runs from any directory, cached forever by URL.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use sha2::{Digest, Sha256};

const STYLESHEET: &str = include_str!("../../static/style.css");

static STYLESHEET_PATH: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(STYLESHEET.as_bytes());
    format!("/static/style.css?v={}", &hex::encode(digest)[..12])
});

/// The stylesheet's URL; it changes whenever the content does.
pub fn stylesheet_path() -> &'static str {
    STYLESHEET_PATH.as_str()
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(STYLESHEET)
}

const FAVICON: &str = include_str!("../../static/favicon.svg");

/// `/favicon.svg` and `/favicon.ico` (browsers ask for the latter on their own).
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/svg+xml"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(FAVICON)
}
