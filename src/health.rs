//! `GET /healthz`: 200 when the database answers, 503 otherwise.

use actix_web::{HttpResponse, web};
use diesel::connection::SimpleConnection;

use crate::db::DbError;
use crate::state::AppState;

pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let ok = crate::db::run(&state.pool, |conn| {
        conn.batch_execute("SELECT 1").map_err(DbError::from)
    })
    .await;
    match ok {
        Ok(()) => HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ok"}"#),
        Err(e) => {
            tracing::warn!(error = %crate::error::Report(&e), "health check: database unreachable");
            HttpResponse::ServiceUnavailable()
                .content_type("application/json")
                .body(r#"{"status":"unavailable","database":"unreachable"}"#)
        }
    }
}
