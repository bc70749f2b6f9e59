//! The built-in Stripe emulator: a stateful stand-in for the part of Stripe the
//! shop uses, served over HTTP so async-stripe cannot tell it from Stripe.
//!
//! * `/v1/…` — the API (form-encoded requests, Stripe-shaped JSON and errors, idempotency keys).
//! * `/c/pay/{session}` — the hosted Checkout page; `/p/session/{secret}` — the Billing Portal.
//! * `/_emulator/…` — test clock and fault controls (secret key required).
//!
//! State lives in its own SQLite database; webhooks are signed like Stripe's and delivered by a
//! background worker.

mod address;
mod api;
mod balance;
mod billing;
mod checkout;
mod checkout_page;
mod control;
mod coupons;
mod disputes;
mod error;
pub mod form;
mod objects;
mod pages;
mod payment_methods;
mod payments;
pub mod rate_limits;
mod shipping;
mod store;
mod totals;
mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use diesel::Connection;
use futures_util::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use error::ApiError;
pub use objects::format_amount;
pub use payments::{
    BANK_FAILS, BANK_OK, CARD_3DS, CARD_ATTACH_THEN_FAIL, CARD_DECLINED, CARD_DISPUTED,
    CARD_INSUFFICIENT, CARD_OK, CARD_REFUND_FAILS,
};
pub use store::API_VERSION;

/// Largest request body the API accepts.
pub const MAX_BODY: usize = 256 * 1024;

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// `127.0.0.1:0` in tests.
    pub bind: SocketAddr,
    /// SQLite file path, or `:memory:`.
    pub db: String,
    /// Registered (or updated, idempotently by URL) at start.
    pub webhook: Option<WebhookTarget>,
    /// Stripe's rate limits to enforce (`EMULATOR_RATE_LIMITS`); off by default.
    pub rate_limits: rate_limits::Mode,
}

/// A webhook endpoint to register at start.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub url: url::Url,
    /// `whsec_…`
    pub secret: String,
    /// `["*"]` = all.
    pub enabled_events: Vec<String>,
    /// The API version its events are read in (`None`: the account's default, as on Stripe).
    pub api_version: Option<String>,
}

/// Shared state of one running emulator.
pub(crate) struct Shared {
    pub pool: store::DbPool,
    pub origin: String,
    pub notify: tokio::sync::Notify,
    pub faults: Mutex<control::Faults>,
    pub limiter: Mutex<rate_limits::Limiter>,
}

/// A running emulator.
pub struct Emulator {
    addr: SocketAddr,
    server: ServerHandle,
    worker: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl Emulator {
    /// Bind, migrate, spawn the HTTP server and the webhook delivery worker on the current
    /// tokio runtime; return once listening.
    pub async fn start(config: EmulatorConfig) -> anyhow::Result<Emulator> {
        let db = config.db.clone();
        let pool = web::block(move || store::open(&db))
            .await
            .map_err(|e| anyhow::anyhow!("emulator start: {e}"))??;
        let listener = std::net::TcpListener::bind(config.bind)
            .map_err(|e| anyhow::anyhow!("emulator cannot listen on {}: {e}", config.bind))?;
        let addr = listener.local_addr()?;
        let origin = format!("http://{addr}");
        let shared = Arc::new(Shared {
            pool,
            origin: origin.clone(),
            notify: tokio::sync::Notify::new(),
            faults: Mutex::new(control::Faults::default()),
            limiter: Mutex::new(rate_limits::Limiter::new(config.rate_limits)),
        });

        if let Some(target) = config.webhook.clone() {
            let sh = shared.clone();
            web::block(move || -> Result<(), ApiError> {
                let mut conn = sh
                    .pool
                    .get()
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                conn.immediate_transaction::<_, ApiError, _>(|c| {
                    let mut ctx = store::Ctx::new(c, sh.origin.clone())?;
                    api::ensure_endpoint(&mut ctx, &target)
                })
            })
            .await
            .map_err(|e| anyhow::anyhow!("emulator start: {e}"))?
            .map_err(|e| anyhow::anyhow!("registering the webhook endpoint: {}", e.message))?;
        }

        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .configure(pages::configure)
                .configure(control::configure)
                .default_service(web::to(dispatch))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        let worker = tokio::spawn(webhooks::run(shared.clone()));
        tracing::info!(%origin, "Stripe emulator listening");
        Ok(Emulator {
            addr,
            server: handle,
            worker,
            shared,
        })
    }

    /// `http://127.0.0.1:PORT/` (async-stripe appends `v1/…`).
    pub fn base_url(&self) -> url::Url {
        url::Url::parse(&format!("{}/", self.origin())).expect("emulator origin is a valid URL")
    }

    /// `http://127.0.0.1:PORT`, for the shop's CSP `form-action`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Move the emulator's test clock forward (like `POST /_emulator/clock/advance`) and
    /// run what became due; returns the emulated time (Unix seconds).
    pub async fn advance_clock(&self, seconds: i64) -> anyhow::Result<i64> {
        let v = with_ctx(&self.shared, move |ctx| control::advance_by(ctx, seconds))
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        Ok(v["now"].as_i64().unwrap_or_default())
    }

    /// The emulated time (Unix seconds): the wall clock plus the test clock's offset.
    pub async fn now(&self) -> anyhow::Result<i64> {
        with_ctx(&self.shared, |ctx| Ok(ctx.now))
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))
    }

    /// Run delayed outcomes (bank-debit settlement, disputes, failing refunds) now instead of
    /// a few seconds later; returns how many ran.
    pub async fn run_pending_jobs(&self) -> anyhow::Result<usize> {
        with_ctx(&self.shared, |ctx| {
            store::hurry_jobs(ctx.conn)?;
            webhooks::run_due_jobs(ctx)
        })
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))
    }

    pub async fn stop(self) {
        // Bounded: a stop must never hang its caller (a test, or the shop's shutdown).
        let bound = std::time::Duration::from_secs(5);
        if tokio::time::timeout(bound, self.server.stop(true))
            .await
            .is_err()
        {
            tracing::warn!("emulator: HTTP server did not stop in time");
        }
        self.worker.abort();
        let _ = tokio::time::timeout(bound, self.worker).await;
        drop(self.shared);
    }
}

/// For the `storefront emulator` command: start, print the URL, run until Ctrl-C/SIGTERM.
pub async fn run_standalone(config: EmulatorConfig) -> anyhow::Result<()> {
    let emu = Emulator::start(config).await?;
    println!("Stripe emulator listening on {}", emu.base_url());
    println!(
        "Use any secret key starting with sk_test_; control API under {}/_emulator/",
        emu.origin()
    );
    wait_for_shutdown().await;
    emu.stop().await;
    Ok(())
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Accepts `Authorization: Bearer sk_test_…` (or HTTP Basic with the key as user name).
pub(crate) fn check_auth(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        ));
    };
    let value = value.to_str().unwrap_or_default();
    let key = if let Some(k) = value.strip_prefix("Bearer ") {
        k.trim().to_string()
    } else if let Some(b) = value.strip_prefix("Basic ") {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .map(|s| s.split(':').next().unwrap_or_default().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    if key.starts_with("sk_test_") && key.len() > "sk_test_".len() {
        Ok(())
    } else {
        let shown: String = key.chars().take(12).collect();
        Err(ApiError::unauthorized(format!(
            "Invalid API Key provided: {shown}{}",
            if key.len() > 12 { "****" } else { "" }
        )))
    }
}

/// Read a body, failing with a Stripe-shaped 413 past `limit`.
pub(crate) async fn read_body(
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::invalid(format!("Could not read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::invalid(format!(
                "The request body is too large (the limit is {limit} bytes)."
            ))
            .status(413));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

struct Reply {
    status: u16,
    body: String,
    replayed: bool,
    emitted: bool,
}

fn json_response(status: u16, body: String, request_id: &str) -> HttpResponse {
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
    )
    .content_type("application/json")
    .insert_header(("Request-Id", request_id.to_string()))
    .insert_header(("Stripe-Version", API_VERSION))
    .body(body)
}

/// Everything that is not a hosted page or a control route: the `/v1` API.
async fn dispatch(req: HttpRequest, payload: web::Payload, st: web::Data<Shared>) -> HttpResponse {
    let request_id = format!("req_{}", store::random_token(14));
    let path = req.path().to_string();
    let method = req.method().as_str().to_string();
    let Some(rest) = path.strip_prefix("/v1/") else {
        return ApiError::invalid(format!("Unrecognized request URL ({method}: {path})."))
            .status(404)
            .response();
    };
    // Injected faults (500, 429, 409, stall before or after processing) for the next call to
    // this path.
    let mut answer_late = None;
    if let Some(fault) = control::take_fault(&st, &method, &path) {
        match fault {
            control::FaultKind::Status(500) => {
                return ApiError::internal("An unknown error occurred (injected by the emulator).")
                    .response();
            }
            control::FaultKind::Status(409) => {
                return ApiError::idempotency_in_flight().response();
            }
            control::FaultKind::Status(_) => return ApiError::rate_limited().response(),
            control::FaultKind::Stall(ms) => {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            control::FaultKind::StallAfter(ms) => answer_late = Some(ms),
        }
    }
    if let Err(e) = check_auth(&req) {
        return e.response();
    }
    // Counted (and, when limits are on, refused) before any work, as Stripe does.
    let endpoint = rate_limits::endpoint_of(&method, &path);
    if !control::limiter(&st).admit(&endpoint, std::time::Instant::now()) {
        return ApiError::rate_limited().response();
    }
    let body = match read_body(payload, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return e.response(),
    };
    let input: Vec<u8> = if method == "POST" {
        body.clone()
    } else {
        req.query_string().as_bytes().to_vec()
    };
    let raw = match form::parse_form(&input) {
        Ok(v) => v,
        Err(e) => return e.response(),
    };
    let idem = if method == "POST" {
        req.headers()
            .get("Idempotency-Key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    } else {
        None
    };
    if let Some(k) = &idem {
        if k.len() > 255 || k.is_empty() {
            return ApiError::param(
                "Idempotency-Key",
                "Idempotency keys must be 1 to 255 characters long.",
            )
            .response();
        }
    }
    let fingerprint = {
        let mut h = Sha256::new();
        h.update(method.as_bytes());
        h.update(b" ");
        h.update(path.as_bytes());
        h.update(b"\n");
        h.update(&input);
        hex::encode(h.finalize())
    };
    let segs: Vec<String> = rest.split('/').map(str::to_string).collect();
    let sh = st.clone().into_inner();
    let rid = request_id.clone();
    let result = web::block(move || -> Result<Reply, ApiError> {
        let mut conn = sh
            .pool
            .get()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        conn.immediate_transaction::<_, ApiError, _>(|c| {
            if let Some(key) = &idem {
                if let Some((fp, status, body)) = store::idem_get(c, key)? {
                    if fp == fingerprint {
                        return Ok(Reply {
                            status: status as u16,
                            body,
                            replayed: true,
                            emitted: false,
                        });
                    }
                    let e = ApiError::idempotency(key);
                    return Ok(Reply {
                        status: e.status,
                        body: e.body().to_string(),
                        replayed: false,
                        emitted: false,
                    });
                }
            }
            let outcome = c.transaction::<_, ApiError, _>(|c2| {
                let mut ctx = store::Ctx::new(c2, sh.origin.clone())?;
                ctx.request_key = idem.clone();
                ctx.request_id = Some(rid.clone());
                let seg_refs: Vec<&str> = segs.iter().map(String::as_str).collect();
                let v: Value = guarded(|| api::route(&mut ctx, &method, &seg_refs, &raw))?;
                Ok((v, ctx.events_emitted > 0))
            });
            let reply = match outcome {
                Ok((v, emitted)) => Reply {
                    status: 200,
                    body: v.to_string(),
                    replayed: false,
                    emitted,
                },
                Err(e) => Reply {
                    status: e.status,
                    body: e.body().to_string(),
                    replayed: false,
                    emitted: false,
                },
            };
            if let Some(key) = &idem {
                if reply.status < 500 {
                    store::idem_put(c, key, &fingerprint, reply.status, &reply.body)?;
                }
            }
            Ok(reply)
        })
    })
    .await;
    let response = match result {
        Ok(Ok(reply)) => {
            if reply.emitted {
                st.notify.notify_one();
            }
            let mut resp = json_response(reply.status, reply.body, &request_id);
            if reply.replayed {
                resp.headers_mut().insert(
                    header::HeaderName::from_static("idempotent-replayed"),
                    header::HeaderValue::from_static("true"),
                );
            }
            resp
        }
        Ok(Err(e)) => e.response(),
        Err(_) => ApiError::internal("The emulator could not process the request.").response(),
    };
    // Events of the call are already on their way; only the answer is late.
    if let Some(ms) = answer_late {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    response
}

/// A bug must not leave the connection inside an open transaction (with `:memory:` a discarded
/// connection loses the database): a panic becomes a 500 and the transaction rolls back.
fn guarded<T>(f: impl FnOnce() -> Result<T, ApiError>) -> Result<T, ApiError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(ApiError::internal(
            "An unexpected error occurred in the emulator.",
        ))
    })
}

/// Run a closure in one immediate transaction with a [`store::Ctx`], off the async executor.
pub(crate) async fn with_ctx<T, F>(st: &Arc<Shared>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut store::Ctx) -> Result<T, ApiError> + Send + 'static,
{
    let sh = st.clone();
    let (res, emitted) = web::block(move || -> Result<(T, bool), ApiError> {
        let mut conn = sh
            .pool
            .get()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        conn.immediate_transaction::<_, ApiError, _>(|c| {
            let mut ctx = store::Ctx::new(c, sh.origin.clone())?;
            let v = guarded(|| f(&mut ctx))?;
            Ok((v, ctx.events_emitted > 0))
        })
    })
    .await
    .map_err(|_| ApiError::internal("The emulator could not process the request."))??;
    if emitted {
        st.notify.notify_one();
    }
    Ok(res)
}
