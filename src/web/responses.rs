//! Response shapes every feature uses: Post/Redirect/Get and pages with a status.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use crate::error::AppError;

/// 303 to `location`: the answer to every successful form POST.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

/// A rendered page with a status other than 200 (re-rendered forms, refusals). Pages answered
/// with 200 return their template directly.
pub fn html_page(
    rendered: Result<String, askama::Error>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let html = rendered.map_err(|e| AppError::Internal(e.into()))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}
