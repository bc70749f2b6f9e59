//! Paying a Checkout Session (test cards, 3-D Secure, bank debit), refunds, and delayed outcomes.

use serde_json::{Value, json};

use super::api::{Routed, expand_of, previous};
use super::checkout::expire_now;
use super::error::{ApiError, ApiResult};
use super::form::{P, Params, check};
use super::objects::{self, Card};
use super::store::{Ctx, new_id};

pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_INSUFFICIENT: &str = "4000000000009995";
pub const CARD_3DS: &str = "4000002500003155";
pub const CARD_ATTACH_THEN_FAIL: &str = "4000000000000341";
pub const CARD_REFUND_FAILS: &str = "4000000000005126";
pub const CARD_DISPUTED: &str = "4000000000000259";
/// Bank-debit test accounts (as on Stripe): the first settles, the second fails.
pub const BANK_OK: &str = "000123456789";
pub const BANK_FAILS: &str = "000111111113";
/// How long a bank debit takes to settle, and a dispute to arrive.
pub const SETTLE_MS: i64 = 2_000;

#[derive(Debug, Clone)]
pub enum Method {
    Card(Card),
    Bank { account: String },
}

#[derive(Debug)]
pub enum Outcome {
    /// Paid (or, for bank debits, completed and processing): redirect here.
    Completed(Option<String>),
    /// Declined; the page shows the message.
    Declined(ApiError),
    /// 3-D Secure challenge needed.
    NeedsAction,
}

/// Expire an open session whose `expires_at` has passed (on the emulated clock).
pub fn lazy_expire(ctx: &mut Ctx, id: &str) -> ApiResult<()> {
    if let Some(s) = ctx.get(id)? {
        if s["object"] == "checkout.session"
            && s["status"] == "open"
            && s["expires_at"].as_i64().unwrap_or(i64::MAX) <= ctx.now
        {
            expire_now(ctx, s)?;
        }
    }
    Ok(())
}

/// Expire every overdue open session.
pub fn sweep_expired(ctx: &mut Ctx) -> ApiResult<()> {
    let now = ctx.now;
    for s in ctx.all("checkout.session")? {
        if s["status"] == "open" && s["expires_at"].as_i64().unwrap_or(i64::MAX) <= now {
            expire_now(ctx, s)?;
        }
    }
    Ok(())
}

/// Decline for a test card, if it is one that fails.
pub fn decline_for(number: &str) -> Option<ApiError> {
    match number {
        CARD_DECLINED | CARD_ATTACH_THEN_FAIL => Some(ApiError::card(
            "card_declined",
            Some("generic_decline"),
            "Your card was declined.",
        )),
        CARD_INSUFFICIENT => Some(ApiError::card(
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        )),
        _ => None,
    }
}

fn payment_error_json(e: &ApiError, charge: Option<&str>) -> Value {
    json!({
        "type": e.kind,
        "code": e.code,
        "decline_code": e.decline_code,
        "message": e.message,
        "charge": charge,
        "doc_url": e.code.as_ref().map(|c| format!("https://stripe.com/docs/error-codes/{}", c.replace('_', "-"))),
    })
}

pub fn payment_method(ctx: &mut Ctx, method: &Method, email: &str) -> ApiResult<Value> {
    let id = new_id("pm_");
    let mut pm = json!({
        "id": id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": { "address": objects::empty_address(), "email": email, "name": null, "phone": null, "tax_id": null },
        "created": ctx.now,
        "customer": null,
        "livemode": false,
        "metadata": {},
    });
    match method {
        Method::Card(c) => {
            pm["type"] = json!("card");
            let mut d = objects::card_details(c);
            if let Some(m) = d.as_object_mut() {
                for k in [
                    "amount_authorized",
                    "authorization_code",
                    "installments",
                    "mandate",
                    "network_token",
                    "network_transaction_id",
                    "three_d_secure",
                    "network",
                ] {
                    m.remove(k);
                }
            }
            d["networks"] = json!({ "available": [c.brand()], "preferred": null });
            d["display_brand"] = json!(c.brand());
            d["generated_from"] = Value::Null;
            d["three_d_secure_usage"] = json!({ "supported": true });
            d["wallet"] = Value::Null;
            pm["card"] = d;
            pm["_number"] = json!(c.number);
        }
        Method::Bank { account } => {
            pm["type"] = json!("us_bank_account");
            let mut d = objects::bank_details();
            d["last4"] = json!(&account[account.len().saturating_sub(4)..]);
            d["networks"] = json!({ "preferred": "ach", "supported": ["ach"] });
            d["status_details"] = Value::Null;
            pm["us_bank_account"] = d;
            pm["_account"] = json!(account);
        }
    }
    ctx.put(&pm)?;
    Ok(pm)
}

fn method_details(method: &Method) -> Value {
    match method {
        Method::Card(c) => json!({ "type": "card", "card": objects::card_details(c) }),
        Method::Bank { account } => {
            let mut d = objects::bank_details();
            d["last4"] = json!(&account[account.len().saturating_sub(4)..]);
            json!({ "type": "us_bank_account", "us_bank_account": d })
        }
    }
}

/// The session's payment intent, created on the first attempt.
fn ensure_intent(ctx: &mut Ctx, s: &mut Value) -> ApiResult<Value> {
    let key = if s["mode"] == "payment" {
        "payment_intent"
    } else {
        "_payment_intent"
    };
    if let Some(id) = s[key].as_str().map(str::to_string) {
        return ctx.fetch("payment_intent", &id);
    }
    let mut pi = objects::payment_intent(
        ctx.now,
        s["amount_total"].as_i64().unwrap_or(0),
        s["currency"].as_str().unwrap_or("usd"),
    );
    pi["payment_method_types"] = s["payment_method_types"].clone();
    pi["customer"] = s["customer"].clone();
    if let Some(pid) = s.get("_payment_intent_data") {
        if let Some(m) = pid.get("metadata") {
            pi["metadata"] = m.clone();
        }
        if let Some(d) = pid.get("description") {
            pi["description"] = d.clone();
        }
    }
    ctx.put(&pi)?;
    ctx.emit("payment_intent.created", &pi, None)?;
    s[key] = pi["id"].clone();
    ctx.put(s)?;
    Ok(pi)
}

/// Pay a session from the hosted page. `method` is `None` when nothing is to be paid or saved
/// (a free order); `three_ds` is the challenge answer, if any.
pub fn pay_session(
    ctx: &mut Ctx,
    id: &str,
    email: &str,
    method: Option<Method>,
    three_ds: Option<bool>,
) -> ApiResult<Outcome> {
    lazy_expire(ctx, id)?;
    let mut s = ctx.fetch("checkout.session", id)?;
    if s["status"] != "open" {
        return Err(ApiError::invalid(
            "This Checkout Session is no longer active.",
        ));
    }
    // A code can run out (or the shopper turn out not to be a first-time customer) while the
    // page is open: check it again before any money moves.
    if let Some(refusal) = super::checkout::recheck_discount(ctx, &s, email)? {
        return Err(ApiError::invalid(refusal.message()));
    }
    if s["amount_total"].as_i64().unwrap_or(0) == 0 {
        return complete_without_payment(ctx, s, email, method);
    }
    let Some(method) = method else {
        return Err(ApiError::invalid("Enter your payment details."));
    };
    let mut pi = ensure_intent(ctx, &mut s)?;
    let email_v = json!(email);
    pi["receipt_email"] = email_v.clone();
    pi["payment_method_types"] = s["payment_method_types"].clone();
    // The total may have changed since the first attempt (a code applied, tax recalculated,
    // another shipping rate chosen).
    pi["amount"] = s["amount_total"].clone();
    pi["shipping"] = intent_shipping(&s);

    // 3-D Secure.
    if let Method::Card(c) = &method {
        if c.number == CARD_3DS {
            match three_ds {
                None => {
                    pi["status"] = json!("requires_action");
                    pi["next_action"] = json!({ "type": "use_stripe_sdk", "use_stripe_sdk": {} });
                    ctx.put(&pi)?;
                    s["_pending_card"] = json!({ "number": c.number, "exp_month": c.exp_month, "exp_year": c.exp_year, "email": email });
                    ctx.put(&s)?;
                    return Ok(Outcome::NeedsAction);
                }
                Some(false) => {
                    let err = ApiError::card(
                        "payment_intent_authentication_failure",
                        None,
                        "We are unable to authenticate your payment method. Please choose a different payment method and try again.",
                    );
                    pi["status"] = json!("requires_payment_method");
                    pi["next_action"] = Value::Null;
                    pi["last_payment_error"] = payment_error_json(&err, None);
                    pi["payment_method"] = Value::Null;
                    ctx.put(&pi)?;
                    ctx.emit("payment_intent.payment_failed", &pi, None)?;
                    if let Some(m) = s.as_object_mut() {
                        m.remove("_pending_card");
                    }
                    ctx.put(&s)?;
                    return Ok(Outcome::Declined(err));
                }
                Some(true) => {}
            }
        }
    }

    // The page's choice: a saved card to charge again, or "save the card I typed".
    let choice = s["_card_choice"].clone();
    let mut pm = match choice["reuse"].as_str() {
        Some(id) => ctx.fetch("payment_method", id)?,
        None => payment_method(ctx, &method, email)?,
    };
    let pm_id = pm["id"].as_str().unwrap_or_default().to_string();
    let details = method_details(&method);

    if let Method::Card(c) = &method {
        if let Some(err) = decline_for(&c.number) {
            let ch = objects::charge(
                ctx.now,
                &pi,
                &details,
                &pm_id,
                Some(email),
                false,
                "failed",
                Some((
                    err.code.as_deref().unwrap_or("card_declined"),
                    &err.message,
                    err.decline_code.as_deref(),
                )),
            );
            ctx.put(&ch)?;
            ctx.emit("charge.failed", &ch, None)?;
            pi["status"] = json!("requires_payment_method");
            pi["next_action"] = Value::Null;
            pi["last_payment_error"] = payment_error_json(&err, ch["id"].as_str());
            pi["latest_charge"] = ch["id"].clone();
            pi["payment_method"] = Value::Null;
            ctx.put(&pi)?;
            ctx.emit("payment_intent.payment_failed", &pi, None)?;
            if let Some(m) = s.as_object_mut() {
                m.remove("_pending_card");
            }
            ctx.put(&s)?;
            return Ok(Outcome::Declined(err));
        }
    }

    ensure_customer(ctx, &mut s, email)?;
    if let Some(cid) = s["customer"].as_str().map(str::to_string) {
        pi["customer"] = json!(cid);
        // A one-time payment keeps the card only when the shopper asked to (and the session
        // offered it); a subscription keeps it to charge renewals.
        let keep = if s["mode"] == "subscription" {
            Some("limited")
        } else if choice["save"] == true
            && s["saved_payment_method_options"]["payment_method_save"] == "enabled"
        {
            Some("always")
        } else {
            None
        };
        if let Some(redisplay) = keep {
            super::payment_methods::attach(ctx, &mut pm, &cid, redisplay)?;
        }
    }
    pi["payment_method"] = json!(pm_id);
    pi["last_payment_error"] = Value::Null;
    pi["next_action"] = Value::Null;

    let is_bank = matches!(method, Method::Bank { .. });
    let mut ch = objects::charge(
        ctx.now,
        &pi,
        &details,
        &pm_id,
        Some(email),
        !is_bank,
        if is_bank { "pending" } else { "succeeded" },
        None,
    );
    if let Method::Card(c) = &method {
        if c.number == CARD_REFUND_FAILS {
            ch["_refunds_fail"] = json!(true);
        }
    }
    ch["customer"] = pi["customer"].clone();
    ch["shipping"] = pi["shipping"].clone();
    if !is_bank {
        super::balance::charge_succeeded(ctx, &mut ch)?;
    }
    ctx.put(&ch)?;
    pi["latest_charge"] = ch["id"].clone();
    if is_bank {
        pi["status"] = json!("processing");
        pi["processing"] = Value::Null;
        ctx.put(&pi)?;
        ctx.emit("charge.pending", &ch, None)?;
        ctx.emit("payment_intent.processing", &pi, None)?;
    } else {
        pi["status"] = json!("succeeded");
        pi["amount_received"] = pi["amount"].clone();
        ctx.put(&pi)?;
        ctx.emit("charge.succeeded", &ch, None)?;
        ctx.emit("payment_intent.succeeded", &pi, None)?;
    }

    let pi_id = pi["id"].as_str().unwrap_or_default().to_string();
    let status = if is_bank { "unpaid" } else { "paid" };
    complete(
        ctx,
        &mut s,
        email,
        status,
        Some(&pi_id),
        Some(&pm_id),
        !is_bank,
    )?;

    let sid = s["id"].as_str().unwrap_or_default().to_string();
    if let Method::Bank { account } = &method {
        let kind = if account == BANK_FAILS {
            "bank_fail"
        } else {
            "bank_settle"
        };
        ctx.schedule(SETTLE_MS, kind, &sid)?;
    }
    if let Method::Card(c) = &method {
        if c.number == CARD_DISPUTED {
            ctx.schedule(SETTLE_MS, "dispute", ch["id"].as_str().unwrap_or_default())?;
        }
    }
    Ok(Outcome::Completed(success_redirect(&s)))
}

/// The shipping details collected on the page as a PaymentIntent (and its charge) carries them:
/// `{address, carrier, name, phone, tracking_number}`, or `null`.
fn intent_shipping(s: &Value) -> Value {
    match super::checkout::customer_shipping(s) {
        Some(mut sh) => {
            sh["carrier"] = Value::Null;
            sh["tracking_number"] = Value::Null;
            sh
        }
        None => Value::Null,
    }
}

fn success_redirect(s: &Value) -> Option<String> {
    let sid = s["id"].as_str().unwrap_or_default();
    s["success_url"]
        .as_str()
        .map(|u| u.replace("{CHECKOUT_SESSION_ID}", sid))
}

/// Customer: the session's own, or one created for subscriptions and `customer_creation=always`
/// (with the billing address, shipping details and phone number the page collected).
fn ensure_customer(ctx: &mut Ctx, s: &mut Value, email: &str) -> ApiResult<()> {
    if s["customer"].is_null()
        && (s["mode"] == "subscription" || s["customer_creation"] == "always")
    {
        let mut cus = objects::customer(ctx.now);
        cus["email"] = json!(email);
        if s["_billing_address"].is_object() {
            cus["address"] = s["_billing_address"].clone();
        }
        if let Some(sh) = super::checkout::customer_shipping(s) {
            cus["shipping"] = sh;
        }
        if s["_phone"].is_string() {
            cus["phone"] = s["_phone"].clone();
        }
        ctx.put(&cus)?;
        ctx.emit("customer.created", &cus, None)?;
        s["customer"] = cus["id"].clone();
    }
    Ok(())
}

/// A session whose total is zero (a 100 % discount): nothing is charged and no payment intent
/// exists. Subscriptions still save the card unless `payment_method_collection=if_required`.
fn complete_without_payment(
    ctx: &mut Ctx,
    mut s: Value,
    email: &str,
    method: Option<Method>,
) -> ApiResult<Outcome> {
    let mut pm_id = None;
    if s["mode"] == "subscription" && s["payment_method_collection"] != "if_required" {
        let Some(method) = method else {
            return Err(ApiError::invalid("Enter your payment details."));
        };
        if let Method::Card(c) = &method {
            if let Some(err) = decline_for(&c.number) {
                return Ok(Outcome::Declined(err));
            }
        }
        let pm = payment_method(ctx, &method, email)?;
        pm_id = pm["id"].as_str().map(str::to_string);
    }
    ensure_customer(ctx, &mut s, email)?;
    if let (Some(pm), Some(cid)) = (&pm_id, s["customer"].as_str().map(str::to_string)) {
        let mut saved = ctx.fetch("payment_method", pm)?;
        super::payment_methods::attach(ctx, &mut saved, &cid, "limited")?;
    }
    complete(
        ctx,
        &mut s,
        email,
        "no_payment_required",
        None,
        pm_id.as_deref(),
        true,
    )?;
    Ok(Outcome::Completed(success_redirect(&s)))
}

/// Mark a session complete: customer details, the discount redeemed, the address saved where
/// asked, the subscription started; emits `checkout.session.completed`.
fn complete(
    ctx: &mut Ctx,
    s: &mut Value,
    email: &str,
    payment_status: &str,
    pi_id: Option<&str>,
    pm_id: Option<&str>,
    paid: bool,
) -> ApiResult<()> {
    s["status"] = json!("complete");
    s["payment_status"] = json!(payment_status);
    s["url"] = Value::Null;
    let address = if s["_billing_address"].is_object() {
        s["_billing_address"].clone()
    } else {
        objects::empty_address()
    };
    s["customer_details"] = json!({
        "address": address,
        "business_name": null,
        "email": email,
        "individual_name": null,
        "name": null,
        "phone": s["_phone"].as_str(),
        "tax_exempt": "none",
        "tax_ids": [],
    });
    s["collected_information"] = json!({
        "business_name": null,
        "individual_name": null,
        "shipping_details": s["_shipping"]["address"].is_object().then(|| s["_shipping"].clone()),
    });
    if let Some(m) = s.as_object_mut() {
        m.remove("_pending_card");
    }
    super::checkout::redeem_discount(ctx, s)?;
    super::checkout::save_customer_address(ctx, s)?;
    if s["mode"] == "subscription" {
        super::billing::start_subscription(ctx, s, pi_id, pm_id, paid)?;
    }
    ctx.put(s)?;
    ctx.emit("checkout.session.completed", s, None)?;
    Ok(())
}

/// Delayed outcomes: bank debits settling or failing, disputes, failing refunds.
pub fn run_job(ctx: &mut Ctx, kind: &str, target: &str) -> ApiResult<()> {
    match kind {
        "bank_settle" | "bank_fail" => {
            let mut s = ctx.fetch("checkout.session", target)?;
            let pi_key = if s["mode"] == "payment" {
                "payment_intent"
            } else {
                "_payment_intent"
            };
            let pi_id = s[pi_key].as_str().unwrap_or_default().to_string();
            let mut pi = ctx.fetch("payment_intent", &pi_id)?;
            let ch_id = pi["latest_charge"].as_str().unwrap_or_default().to_string();
            let mut ch = ctx.fetch("charge", &ch_id)?;
            if kind == "bank_settle" {
                ch["status"] = json!("succeeded");
                ch["paid"] = json!(true);
                ch["captured"] = json!(true);
                ch["amount_captured"] = ch["amount"].clone();
                super::balance::charge_succeeded(ctx, &mut ch)?;
                ctx.put(&ch)?;
                ctx.emit("charge.succeeded", &ch, None)?;
                pi["status"] = json!("succeeded");
                pi["amount_received"] = pi["amount"].clone();
                ctx.put(&pi)?;
                ctx.emit("payment_intent.succeeded", &pi, None)?;
                s["payment_status"] = json!("paid");
                if s["mode"] == "subscription" {
                    super::billing::settle_first_invoice(ctx, &mut s, true)?;
                }
                ctx.put(&s)?;
                ctx.emit("checkout.session.async_payment_succeeded", &s, None)?;
            } else {
                let err = ApiError::card(
                    "payment_method_provider_decline",
                    Some("insufficient_funds"),
                    "The customer's bank account could not be debited.",
                );
                ch["status"] = json!("failed");
                ch["failure_code"] = json!("insufficient_funds");
                ch["failure_message"] =
                    json!("The customer's account has insufficient funds to cover this payment.");
                ctx.put(&ch)?;
                ctx.emit("charge.failed", &ch, None)?;
                pi["status"] = json!("requires_payment_method");
                pi["last_payment_error"] = payment_error_json(&err, Some(&ch_id));
                ctx.put(&pi)?;
                ctx.emit("payment_intent.payment_failed", &pi, None)?;
                if s["mode"] == "subscription" {
                    super::billing::settle_first_invoice(ctx, &mut s, false)?;
                }
                ctx.put(&s)?;
                ctx.emit("checkout.session.async_payment_failed", &s, None)?;
            }
        }
        "dispute" => super::disputes::open(ctx, target)?,
        "refund_fail" => fail_refund(ctx, target, false)?,
        other => {
            tracing::warn!(kind = other, "unknown emulator job");
        }
    }
    Ok(())
}

/// A refund fails (the card was closed): the money comes back to the balance and the charge is
/// no longer refunded by it. A pending refund fails on its test card; `after_success` lets the
/// control API fail one that had succeeded, as Stripe rarely but really does.
pub fn fail_refund(ctx: &mut Ctx, id: &str, after_success: bool) -> ApiResult<()> {
    let mut re = ctx.fetch("refund", id)?;
    let failable = re["status"] == "pending" || (after_success && re["status"] == "succeeded");
    if !failable {
        return if after_success {
            Err(ApiError::invalid(
                "Only a pending or succeeded refund can fail.",
            ))
        } else {
            Ok(())
        };
    }
    let before = re.clone();
    re["status"] = json!("failed");
    re["failure_reason"] = json!("expired_or_canceled_card");
    super::balance::refund_failed(ctx, &mut re)?;
    ctx.put(&re)?;
    let mut ch = ctx.fetch("charge", re["charge"].as_str().unwrap_or_default())?;
    let amount = re["amount"].as_i64().unwrap_or(0);
    let refunded = (ch["amount_refunded"].as_i64().unwrap_or(0) - amount).max(0);
    ch["amount_refunded"] = json!(refunded);
    ch["refunded"] = json!(false);
    ctx.put(&ch)?;
    let prev = previous(&before, &re);
    ctx.emit("refund.updated", &re, Some(prev.clone()))?;
    ctx.emit("refund.failed", &re, None)?;
    ctx.emit("charge.refund.updated", &re, Some(prev))?;
    Ok(())
}

const REFUND_PARAMS: &[(&str, P)] = &[
    ("payment_intent", P::Str),
    ("charge", P::Str),
    ("amount", P::Int),
    (
        "reason",
        P::Enum(&["duplicate", "fraudulent", "requested_by_customer"]),
    ),
    ("metadata", P::Meta),
    ("instructions_email", P::Str),
    ("refund_application_fee", P::Bool),
    ("reverse_transfer", P::Bool),
    ("expand", P::Arr(&P::Str)),
];

pub fn create_refund(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    let p = check(&P::Obj(REFUND_PARAMS), raw, "")?;
    let ch_id = match (p.s("charge"), p.s("payment_intent")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::param(
                "payment_intent",
                "You may only specify one of these parameters: charge, payment_intent.",
            ));
        }
        (Some(c), None) => {
            ctx.fetch_param("charge", &c, "charge")?;
            c
        }
        (None, Some(pi_id)) => {
            let pi = ctx.fetch_param("payment_intent", &pi_id, "payment_intent")?;
            if pi["status"] != "succeeded" {
                return Err(ApiError::param(
                    "payment_intent",
                    format!(
                        "This PaymentIntent ({pi_id}) does not have a successful charge to refund."
                    ),
                )
                .code("charge_not_refundable"));
            }
            pi["latest_charge"].as_str().unwrap_or_default().to_string()
        }
        (None, None) => {
            return Err(ApiError::invalid("One of the following params should be provided for this request: payment_intent or charge.").code("parameter_missing"));
        }
    };
    let mut ch = ctx.fetch("charge", &ch_id)?;
    if ch["status"] != "succeeded" {
        return Err(ApiError::param(
            "charge",
            format!("Charge {ch_id} has not succeeded and cannot be refunded."),
        )
        .code("charge_not_refundable"));
    }
    let amount_total = ch["amount"].as_i64().unwrap_or(0);
    let already = ch["amount_refunded"].as_i64().unwrap_or(0);
    let remaining = amount_total - already;
    if remaining <= 0 {
        return Err(ApiError::param(
            "charge",
            format!("Charge {ch_id} has already been refunded."),
        )
        .code("charge_already_refunded"));
    }
    let amount = p.i("amount").unwrap_or(remaining);
    if amount <= 0 {
        return Err(ApiError::param("amount", "Refund amount must be positive.")
            .code("parameter_invalid_integer"));
    }
    if amount > remaining {
        let cur = ch["currency"].as_str().unwrap_or("usd");
        return Err(ApiError::param(
            "amount",
            format!(
                "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                objects::format_amount(amount, cur),
                objects::format_amount(remaining, cur)
            ),
        )
        .code("amount_too_large"));
    }
    let fails = ch["_refunds_fail"] == true;
    let mut re = objects::refund(
        ctx.now,
        &ch,
        amount,
        p.s("reason").as_deref(),
        if fails { "pending" } else { "succeeded" },
    );
    if let Some(m) = p.get("metadata") {
        re["metadata"] = m.clone();
    }
    super::balance::refunded(ctx, &mut re)?;
    ctx.put(&re)?;
    let before = ch.clone();
    ch["amount_refunded"] = json!(already + amount);
    ch["refunded"] = json!(already + amount == amount_total);
    ctx.put(&ch)?;
    ctx.emit("refund.created", &re, None)?;
    ctx.emit("charge.refunded", &ch, Some(previous(&before, &ch)))?;
    if fails {
        ctx.schedule(
            SETTLE_MS,
            "refund_fail",
            re["id"].as_str().unwrap_or_default(),
        )?;
    }
    Ok((re, expand_of(&p)))
}
