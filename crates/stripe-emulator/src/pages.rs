//! Hosted pages: Checkout (`/c/pay/{session}`, see [`checkout_page`]; 3-D Secure) and the
//! Billing Portal.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde_json::{Value, json};

use super::checkout_page;
use super::error::ApiError;
use super::objects::{Card, format_amount};
use super::payments::{self, Method, Outcome};
use super::store::Ctx;
use super::{Shared, with_ctx};

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; base-uri 'none'; frame-ancestors 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/c/pay/{id}", web::get().to(checkout_page::get))
        .route("/c/pay/{id}", web::post().to(checkout_page::post))
        .route(
            "/c/pay/{id}/promotion_code",
            web::post().to(checkout_page::promotion_code),
        )
        // The code form's answer leaves this URL in the address bar; reloading it goes back.
        .route(
            "/c/pay/{id}/promotion_code",
            web::get().to(|path: web::Path<String>| async move {
                redirect(&format!("/c/pay/{}", path.into_inner()))
            }),
        )
        .route("/c/pay/{id}/3ds", web::get().to(three_ds_get))
        .route("/c/pay/{id}/3ds", web::post().to(three_ds_post))
        .route("/c/done/{id}", web::get().to(done))
        .route("/p/session/{secret}", web::get().to(portal_get))
        .route("/p/session/{secret}/{action}", web::post().to(portal_post));
}

#[derive(Template)]
#[template(path = "emulator/three_ds.html")]
struct ThreeDsPage {
    id: String,
    total: String,
    last4: String,
}

#[derive(Template)]
#[template(path = "emulator/message.html")]
struct MessagePage {
    heading: String,
    message: String,
}

struct SubView {
    id: String,
    name: String,
    price: String,
    status: String,
    period_end: String,
    cancel_at_period_end: bool,
    options: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "emulator/portal.html")]
struct PortalPage {
    secret: String,
    email: String,
    error: Option<String>,
    subscriptions: Vec<SubView>,
    can_cancel: bool,
    card: String,
    return_url: Option<String>,
}

pub(super) fn html(status: u16, body: Result<String, askama::Error>) -> HttpResponse {
    match body {
        Ok(b) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::OK),
        )
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(b),
        Err(e) => {
            tracing::error!(error = %e, "emulator template");
            HttpResponse::InternalServerError().body("template error")
        }
    }
}

pub(super) fn message(status: u16, heading: &str, text: &str) -> HttpResponse {
    html(
        status,
        MessagePage {
            heading: heading.into(),
            message: text.into(),
        }
        .render(),
    )
}

pub(super) fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .finish()
}

pub(super) fn form_map(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub(super) fn interval_label(recurring: &Value) -> Option<String> {
    let interval = recurring["interval"].as_str()?;
    let n = recurring["interval_count"].as_i64().unwrap_or(1);
    Some(if n == 1 {
        interval.to_string()
    } else {
        format!("{n} {interval}s")
    })
}

pub(super) async fn load_session(st: &Arc<Shared>, id: String) -> Result<Option<Value>, ApiError> {
    with_ctx(st, move |ctx| {
        payments::lazy_expire(ctx, &id)?;
        match ctx.get(&id)?.filter(|s| s["object"] == "checkout.session") {
            Some(mut s) => {
                super::payment_methods::decorate(ctx, &mut s)?;
                Ok(Some(s))
            }
            None => Ok(None),
        }
    })
    .await
}

/// Luhn check, expiry and CVC, with Stripe's messages.
pub fn parse_card(number: &str, expiry: &str, cvc: &str, now: i64) -> Result<Card, String> {
    let digits: String = number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if digits.len() < 12 || digits.len() > 19 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err("Your card number is invalid.".into());
    }
    let sum: u32 = digits
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap_or(0);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    if sum % 10 != 0 {
        return Err("Your card number is invalid.".into());
    }
    let exp: String = expiry.chars().filter(|c| c.is_ascii_digit()).collect();
    let (mm, yy) = match exp.len() {
        4 => (&exp[..2], format!("20{}", &exp[2..])),
        6 => (&exp[..2], exp[2..].to_string()),
        _ => return Err("Your card's expiration date is incomplete.".into()),
    };
    let month: i64 = mm.parse().unwrap_or(0);
    let year: i64 = yy.parse().unwrap_or(0);
    if !(1..=12).contains(&month) {
        return Err("Your card's expiration month is invalid.".into());
    }
    let today = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
    use chrono::Datelike;
    let (cy, cm) = (i64::from(today.year()), i64::from(today.month()));
    if year < cy || (year == cy && month < cm) {
        return Err("Your card's expiration year is in the past.".into());
    }
    let cvc_ok = (3..=4).contains(&cvc.len()) && cvc.chars().all(|c| c.is_ascii_digit());
    if !cvc_ok {
        return Err("Your card's security code is incomplete.".into());
    }
    Ok(Card {
        number: digits,
        exp_month: month,
        exp_year: year,
    })
}

async fn three_ds_get(path: web::Path<String>, st: web::Data<Shared>) -> HttpResponse {
    let st = st.into_inner();
    match load_session(&st, path.into_inner()).await {
        Ok(Some(s)) if s["status"] == "open" && s["_pending_card"].is_object() => {
            let cur = s["currency"].as_str().unwrap_or("usd");
            let number = s["_pending_card"]["number"].as_str().unwrap_or_default();
            html(
                200,
                ThreeDsPage {
                    id: s["id"].as_str().unwrap_or_default().to_string(),
                    total: format_amount(s["amount_total"].as_i64().unwrap_or(0), cur),
                    last4: number[number.len().saturating_sub(4)..].to_string(),
                }
                .render(),
            )
        }
        Ok(Some(s)) => redirect(&format!("/c/pay/{}", s["id"].as_str().unwrap_or_default())),
        Ok(None) => message(404, "Not found", "This Checkout Session does not exist."),
        Err(e) => message(500, "Error", &e.message),
    }
}

async fn three_ds_post(
    path: web::Path<String>,
    body: web::Bytes,
    st: web::Data<Shared>,
) -> HttpResponse {
    let st = st.into_inner();
    let id = path.into_inner();
    let f = form_map(&body);
    let approve = f.get("action").map(String::as_str) == Some("approve");
    let sid = id.clone();
    let res = with_ctx(&st, move |ctx: &mut Ctx| {
        let s = ctx.fetch("checkout.session", &sid)?;
        let pending = s["_pending_card"].clone();
        if !pending.is_object() {
            return Ok(None);
        }
        let card = Card {
            number: pending["number"].as_str().unwrap_or_default().to_string(),
            exp_month: pending["exp_month"].as_i64().unwrap_or(12),
            exp_year: pending["exp_year"].as_i64().unwrap_or(2099),
        };
        let email = pending["email"].as_str().unwrap_or_default().to_string();
        let out =
            payments::pay_session(ctx, &sid, &email, Some(Method::Card(card)), Some(approve))?;
        let mut s = ctx.fetch("checkout.session", &sid)?;
        super::payment_methods::decorate(ctx, &mut s)?;
        Ok(Some((out, s, email)))
    })
    .await;
    match res {
        Ok(None) => redirect(&format!("/c/pay/{id}")),
        Ok(Some((Outcome::Completed(Some(url)), _, _))) => redirect(&url),
        Ok(Some((Outcome::Completed(None), _, _))) => redirect(&format!("/c/done/{id}")),
        Ok(Some((Outcome::Declined(e), s, email))) => {
            let typed = checkout_page::Typed {
                email,
                ..Default::default()
            };
            html(
                402,
                checkout_page::page_for(&s, &typed, Some(e.message), None).render(),
            )
        }
        Ok(Some((Outcome::NeedsAction, _, _))) => redirect(&format!("/c/pay/{id}/3ds")),
        Err(e) => message(e.status, "Error", &e.message),
    }
}

async fn done(path: web::Path<String>, st: web::Data<Shared>) -> HttpResponse {
    let st = st.into_inner();
    match load_session(&st, path.into_inner()).await {
        Ok(Some(s)) if s["status"] == "complete" => {
            message(200, "Thank you", "Your payment is complete.")
        }
        Ok(Some(s)) => redirect(&format!("/c/pay/{}", s["id"].as_str().unwrap_or_default())),
        Ok(None) => message(404, "Not found", "This Checkout Session does not exist."),
        Err(e) => message(500, "Error", &e.message),
    }
}

fn find_portal(ctx: &mut Ctx, secret: &str) -> Result<Option<Value>, ApiError> {
    Ok(ctx
        .all("billing_portal.session")?
        .into_iter()
        .find(|s| s["_secret"] == secret))
}

fn portal_page(
    ctx: &mut Ctx,
    secret: &str,
    error: Option<String>,
) -> Result<Option<PortalPage>, ApiError> {
    let Some(ps) = find_portal(ctx, secret)? else {
        return Ok(None);
    };
    let cid = ps["customer"].as_str().unwrap_or_default().to_string();
    let cus = ctx.get(&cid)?.unwrap_or(json!({}));
    let cfg = ctx
        .get(ps["configuration"].as_str().unwrap_or_default())?
        .unwrap_or(json!({}));
    let all_prices = ctx.all("price")?;
    let mut subscriptions = Vec::new();
    for sub in ctx.all("subscription")? {
        if sub["customer"] != cid.as_str()
            || sub["status"] == "canceled"
            || sub["status"] == "incomplete_expired"
        {
            continue;
        }
        let item = &sub["items"]["data"][0];
        let price = &item["price"];
        let cur = price["currency"].as_str().unwrap_or("usd");
        let product = ctx
            .get(price["product"].as_str().unwrap_or_default())?
            .unwrap_or(json!({}));
        let allowed: Vec<Value> = cfg["features"]["subscription_update"]["products"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let update_enabled = cfg["features"]["subscription_update"]["enabled"] == true;
        let options = if update_enabled {
            all_prices
                .iter()
                .filter(|p| {
                    p["active"] == true
                        && p["type"] == "recurring"
                        && p["currency"] == cur
                        && p["id"] != price["id"]
                })
                .filter(|p| {
                    allowed.is_empty()
                        || allowed.iter().any(|a| {
                            a["prices"]
                                .as_array()
                                .is_some_and(|ps| ps.contains(&p["id"]))
                        })
                })
                .map(|p| {
                    let label = format!(
                        "{} / {}",
                        format_amount(p["unit_amount"].as_i64().unwrap_or(0), cur),
                        interval_label(&p["recurring"]).unwrap_or_default()
                    );
                    (p["id"].as_str().unwrap_or_default().to_string(), label)
                })
                .collect()
        } else {
            vec![]
        };
        let end = item["current_period_end"].as_i64().unwrap_or(0);
        subscriptions.push(SubView {
            id: sub["id"].as_str().unwrap_or_default().to_string(),
            name: product["name"]
                .as_str()
                .unwrap_or("Subscription")
                .to_string(),
            price: format!(
                "{} / {}",
                format_amount(price["unit_amount"].as_i64().unwrap_or(0), cur),
                interval_label(&price["recurring"]).unwrap_or_default()
            ),
            status: sub["status"].as_str().unwrap_or_default().to_string(),
            period_end: chrono::DateTime::from_timestamp(end, 0)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            cancel_at_period_end: sub["cancel_at_period_end"] == true,
            options,
        });
    }
    let pm_id = cus["invoice_settings"]["default_payment_method"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let card = match ctx.get(&pm_id)? {
        Some(pm) if pm["card"].is_object() => format!(
            "{} ending in {}",
            pm["card"]["brand"].as_str().unwrap_or("card"),
            pm["card"]["last4"].as_str().unwrap_or("????")
        ),
        _ => "none".into(),
    };
    Ok(Some(PortalPage {
        secret: secret.to_string(),
        email: cus["email"].as_str().unwrap_or("(no email)").to_string(),
        error,
        subscriptions,
        can_cancel: cfg["features"]["subscription_cancel"]["enabled"] != false,
        card,
        return_url: ps["return_url"].as_str().map(str::to_string),
    }))
}

async fn portal_get(path: web::Path<String>, st: web::Data<Shared>) -> HttpResponse {
    let st = st.into_inner();
    let secret = path.into_inner();
    match with_ctx(&st, move |ctx| portal_page(ctx, &secret, None)).await {
        Ok(Some(p)) => html(200, p.render()),
        Ok(None) => message(
            404,
            "Not found",
            "This billing portal session does not exist or has expired.",
        ),
        Err(e) => message(500, "Error", &e.message),
    }
}

async fn portal_post(
    path: web::Path<(String, String)>,
    body: web::Bytes,
    st: web::Data<Shared>,
) -> HttpResponse {
    let st = st.into_inner();
    let (secret, action) = path.into_inner();
    let f = form_map(&body);
    let sec = secret.clone();
    let res = with_ctx(&st, move |ctx| {
        let Some(ps) = find_portal(ctx, &sec)? else { return Ok(None) };
        let cid = ps["customer"].as_str().unwrap_or_default().to_string();
        let cfg = ctx.get(ps["configuration"].as_str().unwrap_or_default())?.unwrap_or(json!({}));
        let sub_for = |ctx: &mut Ctx, f: &HashMap<String, String>| -> Result<Value, ApiError> {
            let sid = f.get("subscription").cloned().unwrap_or_default();
            let sub = ctx.fetch("subscription", &sid)?;
            if sub["customer"] != cid.as_str() {
                return Err(ApiError::no_such("subscription", &sid, None));
            }
            Ok(sub)
        };
        let result: Result<(), ApiError> = (|| {
            match action.as_str() {
                "cancel" | "resume" => {
                    let sub = sub_for(ctx, &f)?;
                    let id = sub["id"].as_str().unwrap_or_default().to_string();
                    if action == "cancel" && cfg["features"]["subscription_cancel"]["mode"] == "immediately" {
                        super::billing::cancel_now(ctx, sub, "cancellation_requested")?;
                    } else {
                        let v = if action == "cancel" { "true" } else { "false" };
                        super::api::route(ctx, "POST", &["subscriptions", &id], &json!({ "cancel_at_period_end": v }))?;
                    }
                }
                "switch" => {
                    let sub = sub_for(ctx, &f)?;
                    let id = sub["id"].as_str().unwrap_or_default().to_string();
                    let item = sub["items"]["data"][0]["id"].as_str().unwrap_or_default().to_string();
                    let price = f.get("price").cloned().unwrap_or_default();
                    let behavior = cfg["features"]["subscription_update"]["proration_behavior"].as_str().unwrap_or("create_prorations").to_string();
                    super::api::route(
                        ctx,
                        "POST",
                        &["subscriptions", &id],
                        &json!({ "items": { "0": { "id": item, "price": price } }, "proration_behavior": behavior }),
                    )?;
                }
                "card" => {
                    let get = |k: &str| f.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
                    let card = parse_card(&get("card_number"), &get("card_expiry"), &get("card_cvc"), chrono::Utc::now().timestamp())
                        .map_err(ApiError::invalid)?;
                    // Cards that are declined outright cannot be saved; 0341 can (its charges fail later).
                    if matches!(card.number.as_str(), payments::CARD_DECLINED | payments::CARD_INSUFFICIENT) {
                        return Err(payments::decline_for(&card.number).unwrap_or_else(|| ApiError::invalid("declined")));
                    }
                    let mut cus = ctx.fetch("customer", &cid)?;
                    let email = cus["email"].as_str().unwrap_or_default().to_string();
                    let mut pm = payments::payment_method(ctx, &Method::Card(card), &email)?;
                    pm["customer"] = json!(cid);
                    ctx.put(&pm)?;
                    ctx.emit("payment_method.attached", &pm, None)?;
                    let before = cus.clone();
                    cus["invoice_settings"]["default_payment_method"] = pm["id"].clone();
                    ctx.put(&cus)?;
                    ctx.emit("customer.updated", &cus, Some(super::api::previous(&before, &cus)))?;
                    for sub in ctx.all("subscription")? {
                        if sub["customer"] == cid.as_str() && sub["status"] != "canceled" {
                            let id = sub["id"].as_str().unwrap_or_default().to_string();
                            let pm_id = pm["id"].as_str().unwrap_or_default().to_string();
                            super::api::route(ctx, "POST", &["subscriptions", &id], &json!({ "default_payment_method": pm_id }))?;
                        }
                    }
                }
                _ => return Err(ApiError::invalid("Unknown portal action.").status(404)),
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(Some(None)),
            Err(e) => Ok(Some(portal_page(ctx, &sec, Some(e.message))?)),
        }
    })
    .await;
    match res {
        Ok(Some(None)) => redirect(&format!("/p/session/{secret}")),
        Ok(Some(Some(page))) => html(400, page.render()),
        Ok(None) => message(
            404,
            "Not found",
            "This billing portal session does not exist or has expired.",
        ),
        Err(e) => message(500, "Error", &e.message),
    }
}
