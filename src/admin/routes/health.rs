//! `GET /admin/health`: the `storefront stripe doctor` checks, on a page.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;

use super::render;
use crate::accounts::auth::Admin;
use crate::error::AppError;
use crate::state::AppState;
use crate::stripe_doctor::{self, Check};
use crate::web::layout::Layout;

#[derive(Template)]
#[template(path = "admin/health.html")]
struct HealthPage {
    layout: Layout,
    checks: Vec<Check>,
    failed: bool,
}

pub async fn health(
    state: web::Data<AppState>,
    layout: Layout,
    _admin: Admin,
) -> Result<HttpResponse, AppError> {
    let report = stripe_doctor::run(&state).await;
    let html = HealthPage {
        layout,
        failed: report.failed(),
        checks: report.checks,
    }
    .render();
    render(html, StatusCode::OK)
}
