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

/// The demo catalogue's pictures (drawn as SVG; uploads go through `catalog::images` instead).
const PRODUCT_PICTURES: &[(&str, &str)] = &[
    (
        "brass-pen.svg",
        include_str!("../../static/products/brass-pen.svg"),
    ),
    (
        "canvas-tote.svg",
        include_str!("../../static/products/canvas-tote.svg"),
    ),
    (
        "coffee-beans.svg",
        include_str!("../../static/products/coffee-beans.svg"),
    ),
    (
        "coffee-club.svg",
        include_str!("../../static/products/coffee-club.svg"),
    ),
    (
        "enamel-mug.svg",
        include_str!("../../static/products/enamel-mug.svg"),
    ),
    (
        "field-guide-app.svg",
        include_str!("../../static/products/field-guide-app.svg"),
    ),
    (
        "field-notebook.svg",
        include_str!("../../static/products/field-notebook.svg"),
    ),
    (
        "harbour-map.svg",
        include_str!("../../static/products/harbour-map.svg"),
    ),
    (
        "harbour-print.svg",
        include_str!("../../static/products/harbour-print.svg"),
    ),
    (
        "linen-apron.svg",
        include_str!("../../static/products/linen-apron.svg"),
    ),
    (
        "merino-beanie.svg",
        include_str!("../../static/products/merino-beanie.svg"),
    ),
];

/// `/static/products/{file}`: a demo product's picture.
pub async fn product_picture(file: actix_web::web::Path<String>) -> HttpResponse {
    match PRODUCT_PICTURES
        .iter()
        .find(|(name, _)| *name == file.as_str())
    {
        Some((_, svg)) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "image/svg+xml"))
            .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
            .body(*svg),
        None => HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("No such picture."),
    }
}
