//! `/_emulator/…`: the test clock and fault controls. Requires the secret key like the API.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::error::ApiError;
use super::form::{P, Params, check, parse_form};
use super::store::Ctx;
use super::{Shared, billing, check_auth, payments, read_body, store, with_ctx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Status(u16),
    /// Wait this many milliseconds, then process the call.
    Stall(u64),
    /// Process the call (the object is made, the idempotency key stored), then wait this many
    /// milliseconds before answering: a client that gives up meanwhile does not know what
    /// happened — the unknown outcome a retry with the same key must resolve.
    StallAfter(u64),
}

#[derive(Debug, Clone)]
pub struct PathFault {
    pub method: Option<String>,
    pub path: String,
    pub kind: FaultKind,
    pub remaining: u32,
}

/// Delivery and API faults; in memory, for tests.
#[derive(Debug, Default)]
pub struct Faults {
    /// Deliver each of the next N events twice.
    pub duplicate_next: u32,
    /// Never deliver the next N events.
    pub drop_next: u32,
    /// Deliver pending events newest first.
    pub reverse: bool,
    /// Hold deliveries until released.
    pub hold: bool,
    pub paths: Vec<PathFault>,
    /// API faults that fired, oldest first (at most [`FIRED_KEPT`]): when, and on what, so a
    /// test can tell an error its client saw from one the emulator caused.
    pub fired: std::collections::VecDeque<Fired>,
}

/// How many fired faults [`Faults::fired`] keeps.
pub const FIRED_KEPT: usize = 10_000;

/// One API fault that fired.
#[derive(Debug, Clone)]
pub struct Fired {
    /// Unix milliseconds.
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    pub kind: FaultKind,
}

/// The rate limiter and request counters (plain data too).
pub(crate) fn limiter(st: &Shared) -> std::sync::MutexGuard<'_, super::rate_limits::Limiter> {
    st.limiter
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The fault settings. Plain data, so still usable after a panic elsewhere poisoned the lock.
pub(crate) fn faults(st: &Shared) -> std::sync::MutexGuard<'_, Faults> {
    st.faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn take_fault(st: &Shared, method: &str, path: &str) -> Option<FaultKind> {
    let mut f = faults(st);
    let pos = f.paths.iter().position(|p| {
        p.path == path
            && p.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    })?;
    let kind = f.paths[pos].kind;
    f.paths[pos].remaining -= 1;
    if f.paths[pos].remaining == 0 {
        f.paths.remove(pos);
    }
    if f.fired.len() == FIRED_KEPT {
        f.fired.pop_front();
    }
    f.fired.push_back(Fired {
        at_ms: store::now_ms(),
        method: method.to_owned(),
        path: path.to_owned(),
        kind,
    });
    Some(kind)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_emulator")
            .route("/clock", web::get().to(clock))
            .route("/clock/advance", web::post().to(advance))
            .route("/webhooks", web::post().to(webhook_faults))
            .route("/webhooks/release", web::post().to(release))
            .route("/deliveries", web::get().to(deliveries))
            .route("/faults", web::post().to(api_fault))
            .route("/disputes/{id}", web::post().to(dispute))
            .route("/refunds/{id}/fail", web::post().to(fail_refund))
            .route("/faults", web::get().to(fired_faults))
            .route("/run_jobs", web::post().to(run_jobs))
            .route("/requests", web::get().to(requests))
            .route("/requests/reset", web::post().to(reset_requests))
            .route("/rate_limits", web::post().to(set_rate_limits)),
    );
}

async fn params(
    req: &HttpRequest,
    payload: web::Payload,
    schema: &'static P,
) -> Result<Value, ApiError> {
    check_auth(req)?;
    let mut body = read_body(payload, super::MAX_BODY).await?;
    if body.is_empty() {
        body = req.query_string().as_bytes().to_vec();
    }
    check(schema, &parse_form(&body)?, "")
}

fn ok(v: Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(v.to_string())
}

async fn clock(req: HttpRequest, payload: web::Payload, st: web::Data<Shared>) -> HttpResponse {
    static S: P = P::Obj(&[]);
    if let Err(e) = params(&req, payload, &S).await {
        return e.response();
    }
    match with_ctx(&st.into_inner(), |ctx| {
        Ok(json!({ "now": ctx.now, "offset": store::clock_offset(ctx.conn)? }))
    })
    .await
    {
        Ok(v) => ok(v),
        Err(e) => e.response(),
    }
}

/// `POST /_emulator/clock/advance` with `seconds=N` or `to=UNIX_TIME`: moves the clock, then
/// runs what became due (session expiry, renewals, period-end cancellations, delayed jobs).
async fn advance(req: HttpRequest, payload: web::Payload, st: web::Data<Shared>) -> HttpResponse {
    static S: P = P::Obj(&[("seconds", P::Int), ("to", P::Int)]);
    let p = match params(&req, payload, &S).await {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    let res = with_ctx(&st.into_inner(), move |ctx| {
        let delta = match (p.i("seconds"), p.i("to")) {
            (Some(s), None) => s,
            (None, Some(t)) => t.saturating_sub(ctx.now),
            _ => return Err(ApiError::invalid("Give exactly one of `seconds` or `to`.")),
        };
        advance_by(ctx, delta)
    })
    .await;
    match res {
        Ok(v) => ok(v),
        Err(e) => e.response(),
    }
}

/// Move the test clock forward by `delta` seconds and run what became due: session expiry,
/// renewals, period-end cancellations; delayed jobs run right after.
pub fn advance_by(ctx: &mut Ctx, delta: i64) -> Result<Value, ApiError> {
    if delta < 0 {
        return Err(ApiError::param(
            "seconds",
            "The test clock can only move forward.",
        ));
    }
    if delta > 100 * 365 * 86_400 {
        return Err(ApiError::param(
            "seconds",
            "The test clock moves at most 100 years at a time.",
        ));
    }
    let offset = store::clock_offset(ctx.conn)?;
    if offset.saturating_add(delta) > 1000 * 365 * 86_400 {
        return Err(ApiError::param(
            "seconds",
            "The test clock stays within 1000 years of today.",
        ));
    }
    store::set_clock_offset(ctx.conn, offset + delta)?;
    ctx.now += delta;
    payments::sweep_expired(ctx)?;
    billing::advance_subscriptions(ctx)?;
    store::hurry_jobs(ctx.conn)?;
    Ok(json!({ "now": ctx.now, "offset": offset + delta }))
}

/// `POST /_emulator/webhooks` with any of `duplicate=N`, `drop=N`, `reverse=true|false`,
/// `hold=true|false`.
async fn webhook_faults(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<Shared>,
) -> HttpResponse {
    static S: P = P::Obj(&[
        ("duplicate", P::Int),
        ("drop", P::Int),
        ("reverse", P::Bool),
        ("hold", P::Bool),
    ]);
    let p = match params(&req, payload, &S).await {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    let v = {
        let mut f = faults(&st);
        if let Some(n) = p.i("duplicate") {
            f.duplicate_next = n.clamp(0, 1000) as u32;
        }
        if let Some(n) = p.i("drop") {
            f.drop_next = n.clamp(0, 1000) as u32;
        }
        if let Some(b) = p.b("reverse") {
            f.reverse = b;
        }
        if let Some(b) = p.b("hold") {
            f.hold = b;
        }
        json!({ "duplicate": f.duplicate_next, "drop": f.drop_next, "reverse": f.reverse, "hold": f.hold })
    };
    st.notify.notify_one();
    ok(v)
}

/// `GET /_emulator/faults`: the API faults still armed and those that fired (with the time,
/// in Unix milliseconds, and the call they hit).
async fn fired_faults(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<Shared>,
) -> HttpResponse {
    static S: P = P::Obj(&[]);
    if let Err(e) = params(&req, payload, &S).await {
        return e.response();
    }
    let f = faults(&st);
    let kind = |k: &FaultKind| match k {
        FaultKind::Status(s) => json!({ "status": s }),
        FaultKind::Stall(ms) => json!({ "stall_ms": ms }),
        FaultKind::StallAfter(ms) => json!({ "stall_after_ms": ms }),
    };
    let armed: Vec<Value> = f
        .paths
        .iter()
        .map(|p| json!({ "method": p.method, "path": p.path, "remaining": p.remaining, "fault": kind(&p.kind) }))
        .collect();
    let fired: Vec<Value> = f
        .fired
        .iter()
        .map(|x| json!({ "at_ms": x.at_ms, "method": x.method, "path": x.path, "fault": kind(&x.kind) }))
        .collect();
    ok(json!({ "armed": armed, "fired": fired }))
}

async fn release(req: HttpRequest, payload: web::Payload, st: web::Data<Shared>) -> HttpResponse {
    static S: P = P::Obj(&[]);
    if let Err(e) = params(&req, payload, &S).await {
        return e.response();
    }
    faults(&st).hold = false;
    st.notify.notify_one();
    ok(json!({ "hold": false }))
}

/// `POST /_emulator/faults` with `path=/v1/…`, optional `method`, one of `status=500|429|409`,
/// `stall_ms=N` (wait, then process) or `stall_after_ms=N` (process, then wait before
/// answering), and `count` (default 1): the next matching API calls fail that way.
async fn api_fault(req: HttpRequest, payload: web::Payload, st: web::Data<Shared>) -> HttpResponse {
    static S: P = P::Obj(&[
        ("path", P::Str),
        ("method", P::Enum(&["GET", "POST", "DELETE"])),
        ("status", P::Enum(&["500", "429", "409"])),
        ("stall_ms", P::Int),
        ("stall_after_ms", P::Int),
        ("count", P::Int),
        ("clear", P::Bool),
    ]);
    let p = match params(&req, payload, &S).await {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    if p.b("clear") == Some(true) {
        let mut f = faults(&st);
        let cleared = f.paths.len();
        f.paths.clear();
        return ok(json!({ "cleared": cleared }));
    }
    let Some(path) = p.s("path").filter(|s| s.starts_with("/v1/")) else {
        return ApiError::param(
            "path",
            "`path` must be an API path such as /v1/checkout/sessions.",
        )
        .response();
    };
    let kind = match (p.s("status"), p.i("stall_ms"), p.i("stall_after_ms")) {
        (Some(s), None, None) => FaultKind::Status(s.parse().unwrap_or(500)),
        (None, Some(ms), None) => FaultKind::Stall(ms.clamp(0, 600_000) as u64),
        (None, None, Some(ms)) => FaultKind::StallAfter(ms.clamp(0, 600_000) as u64),
        _ => {
            return ApiError::invalid(
                "Give exactly one of `status`, `stall_ms` or `stall_after_ms`.",
            )
            .response();
        }
    };
    let count = p.i("count").unwrap_or(1).clamp(1, 1000) as u32;
    faults(&st).paths.push(PathFault {
        method: p.s("method"),
        path: path.clone(),
        kind,
        remaining: count,
    });
    ok(json!({ "path": path, "count": count }))
}

/// Delivery log, for tests and debugging.
async fn deliveries(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<Shared>,
) -> HttpResponse {
    static S: P = P::Obj(&[]);
    if let Err(e) = params(&req, payload, &S).await {
        return e.response();
    }
    match with_ctx(&st.into_inner(), |ctx| Ok(store::delivery_log(ctx.conn)?)).await {
        Ok(v) => ok(json!({ "object": "list", "data": v })),
        Err(e) => e.response(),
    }
}

/// Run delayed work (bank settlements, disputes, failing refunds) now.
async fn run_jobs(req: HttpRequest, payload: web::Payload, st: web::Data<Shared>) -> HttpResponse {
    static S: P = P::Obj(&[]);
    if let Err(e) = params(&req, payload, &S).await {
        return e.response();
    }
    let res = with_ctx(&st.into_inner(), |ctx| {
        store::hurry_jobs(ctx.conn)?;
        super::webhooks::run_due_jobs(ctx)
    })
    .await;
    match res {
        Ok(n) => ok(json!({ "ran": n })),
        Err(e) => e.response(),
    }
}

/// `POST /_emulator/disputes/{id}` with `status=under_review|won|lost|warning_closed`: what the
/// card network decided (with the events Stripe sends for it).
async fn dispute(
    req: HttpRequest,
    payload: web::Payload,
    path: web::Path<String>,
    st: web::Data<Shared>,
) -> HttpResponse {
    static S: P = P::Obj(&[("status", P::Str)]);
    let p = match params(&req, payload, &S).await {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    let id = path.into_inner();
    let Some(status) = p.s("status") else {
        return ApiError::missing("status").response();
    };
    let res = with_ctx(&st.into_inner(), move |ctx| {
        super::disputes::decide(ctx, &id, &status).map(|d| store::public(&d))
    })
    .await;
    match res {
        Ok(v) => ok(v),
        Err(e) => e.response(),
    }
}

/// `POST /_emulator/refunds/{id}/fail`: a pending or succeeded refund fails (the card was
/// closed), with `refund.updated`, `refund.failed` and `charge.refund.updated`.
async fn fail_refund(
    req: HttpRequest,
    payload: web::Payload,
    path: web::Path<String>,
    st: web::Data<Shared>,
) -> HttpResponse {
    static S: P = P::Obj(&[]);
    if let Err(e) = params(&req, payload, &S).await {
        return e.response();
    }
    let id = path.into_inner();
    let res = with_ctx(&st.into_inner(), move |ctx| {
        payments::fail_refund(ctx, &id, true)?;
        ctx.fetch("refund", &id).map(|r| store::public(&r))
    })
    .await;
    match res {
        Ok(v) => ok(v),
        Err(e) => e.response(),
    }
}

/// `GET /_emulator/requests`: API requests counted per endpoint since the start (or the last
/// reset), with the 429s the limits answered, and the limits' mode.
async fn requests(req: HttpRequest, payload: web::Payload, st: web::Data<Shared>) -> HttpResponse {
    static S: P = P::Obj(&[]);
    if let Err(e) = params(&req, payload, &S).await {
        return e.response();
    }
    ok(limiter(&st).report())
}

/// `POST /_emulator/requests/reset`: the counters start again from zero.
async fn reset_requests(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<Shared>,
) -> HttpResponse {
    static S: P = P::Obj(&[]);
    if let Err(e) = params(&req, payload, &S).await {
        return e.response();
    }
    let mut l = limiter(&st);
    l.reset_counts();
    ok(l.report())
}

/// `POST /_emulator/rate_limits` with `mode=off|test|live`.
async fn set_rate_limits(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<Shared>,
) -> HttpResponse {
    static S: P = P::Obj(&[("mode", P::Enum(&["off", "test", "live"]))]);
    let p = match params(&req, payload, &S).await {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    let Some(mode) = p["mode"].as_str().and_then(super::rate_limits::Mode::parse) else {
        return ApiError::missing("mode").response();
    };
    let mut l = limiter(&st);
    l.mode = mode;
    ok(l.report())
}
