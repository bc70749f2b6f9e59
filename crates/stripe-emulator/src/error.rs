//! Stripe-shaped API errors: `{"error":{"type","code","message","param","decline_code"}}`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub kind: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub param: Option<String>,
    pub decline_code: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            kind: "invalid_request_error",
            code: None,
            message: message.into(),
            param: None,
            decline_code: None,
        }
    }

    pub fn param(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            param: Some(param.into()),
            ..Self::invalid(message)
        }
    }

    pub fn code(mut self, code: &str) -> Self {
        self.code = Some(code.to_string());
        self
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn missing(param: &str) -> Self {
        Self::param(param, format!("Missing required param: {param}.")).code("parameter_missing")
    }

    pub fn unknown_param(param: &str) -> Self {
        Self::param(param, format!("Received unknown parameter: {param}")).code("parameter_unknown")
    }

    /// 404 for an object that does not exist (`No such checkout.session: 'cs_…'`).
    pub fn no_such(what: &str, id: &str, param: Option<&str>) -> Self {
        ApiError {
            status: 404,
            kind: "invalid_request_error",
            code: Some("resource_missing".into()),
            message: format!("No such {what}: '{id}'"),
            param: param.map(str::to_string),
            decline_code: None,
        }
    }

    pub fn card(code: &str, decline_code: Option<&str>, message: &str) -> Self {
        ApiError {
            status: 402,
            kind: "card_error",
            code: Some(code.into()),
            message: message.into(),
            param: None,
            decline_code: decline_code.map(str::to_string),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            status: 401,
            ..Self::invalid(message)
        }
    }

    pub fn idempotency(key: &str) -> Self {
        ApiError {
            status: 400,
            kind: "idempotency_error",
            code: None,
            message: format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
            ),
            param: None,
            decline_code: None,
        }
    }

    /// 409: another request with the same idempotency key is still being processed.
    pub fn idempotency_in_flight() -> Self {
        ApiError {
            status: 409,
            kind: "idempotency_error",
            code: None,
            message: "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through). Please try again later.".into(),
            param: None,
            decline_code: None,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: 500,
            kind: "api_error",
            code: None,
            message: message.into(),
            param: None,
            decline_code: None,
        }
    }

    pub fn rate_limited() -> Self {
        ApiError {
            status: 429,
            kind: "invalid_request_error",
            code: Some("rate_limit".into()),
            message: "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.".into(),
            param: None,
            decline_code: None,
        }
    }

    pub fn body(&self) -> Value {
        let mut e = serde_json::Map::new();
        e.insert("type".into(), json!(self.kind));
        e.insert("message".into(), json!(self.message));
        if let Some(c) = &self.code {
            e.insert("code".into(), json!(c));
            e.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    c.replace('_', "-")
                )),
            );
        }
        if let Some(p) = &self.param {
            e.insert("param".into(), json!(p));
        }
        if let Some(d) = &self.decline_code {
            e.insert("decline_code".into(), json!(d));
        }
        json!({ "error": Value::Object(e) })
    }

    pub fn response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        );
        // A body we stopped reading leaves the connection unusable.
        if self.status == 413 {
            b.force_close();
        }
        b.content_type("application/json")
            .body(self.body().to_string())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        tracing::error!(error = %e, "emulator database error");
        ApiError::internal("An unexpected error occurred in the emulator's database.")
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        tracing::error!(error = %e, "emulator stored JSON is invalid");
        ApiError::internal("An unexpected error occurred reading stored state.")
    }
}
