//! Logging: `tracing` to stdout, pretty or JSON; one line per request with a request id.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use rand::RngCore as _;
use tracing::Instrument as _;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::state::AppState;

/// Installs the global subscriber (once; later calls are ignored, which suits tests).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The path as logged: a download link's signature and a recovery e-mail's token are credentials
/// (good for days), so they are cut.
fn redacted(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("/recovery/") {
        return match rest.split_once('/') {
            Some((_, tail)) => format!("/recovery/[redacted]/{tail}"),
            None => "/recovery/[redacted]".to_owned(),
        };
    }
    match path.strip_prefix("/downloads/") {
        Some(rest) => match rest.rsplit_once('/') {
            Some((head, _)) => format!("/downloads/{head}/[redacted]"),
            None => "/downloads/[redacted]".to_owned(),
        },
        None => path.to_owned(),
    }
}

/// Middleware: logs method, route pattern, path (never the query string, which may carry ids or
/// tokens), status and time, and counts the request in the app's metrics by route pattern.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let mut id = [0u8; 8];
    rand::rng().fill_bytes(&mut id);
    let request_id = hex::encode(id);
    let method = req.method().clone();
    let path = redacted(req.path());
    // Lines logged while handling the request (Stripe calls, webhook outcomes) carry its id.
    let span = tracing::info_span!("request", %request_id);
    let mut res = next.call(req).instrument(span).await?;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    let ms = elapsed.as_secs_f64() * 1000.0;
    // The pattern (`/products/{slug}`), not the path: a bounded label that names no customer.
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
        state
            .metrics
            .http_request(&route, method.as_str(), status, elapsed);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    if status >= 500 {
        tracing::error!(%request_id, %method, %route, %path, status, ms, "request");
    } else {
        tracing::info!(%request_id, %method, %route, %path, status, ms, "request");
    }
    Ok(res)
}

#[cfg(test)]
mod redaction_tests {
    #[test]
    fn download_signatures_never_reach_the_log() {
        assert_eq!(
            super::redacted("/downloads/12/1900000000/c2VjcmV0"),
            "/downloads/12/1900000000/[redacted]"
        );
        assert_eq!(
            super::redacted("/products/canvas-tote"),
            "/products/canvas-tote"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn credentials_in_paths_are_cut() {
        assert_eq!(redacted("/recovery/abcDEF123_-"), "/recovery/[redacted]");
        assert_eq!(
            redacted("/recovery/abcDEF123_-/unsubscribe"),
            "/recovery/[redacted]/unsubscribe"
        );
        assert_eq!(redacted("/downloads/7/sig"), "/downloads/7/[redacted]");
        assert_eq!(redacted("/cart"), "/cart");
    }
}
