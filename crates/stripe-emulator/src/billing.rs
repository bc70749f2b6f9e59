//! Subscriptions, invoices, the Billing Portal, and renewals on the test clock.

use serde_json::{Value, json};

use super::api::{Routed, expand_of, list_simple, paginate, previous};
use super::error::{ApiError, ApiResult};
use super::form::{P, Params, check};
use super::objects::{self, list};
use super::payments::{self, decline_for};
use super::store::{Ctx, new_id, public};
use super::totals;

/// Seconds in one billing interval (calendar months are approximated as 30 days).
pub fn interval_secs(recurring: &Value) -> i64 {
    let n = recurring["interval_count"].as_i64().unwrap_or(1).max(1);
    let unit = match recurring["interval"].as_str().unwrap_or("month") {
        "day" => 86_400,
        "week" => 7 * 86_400,
        "year" => 365 * 86_400,
        _ => 30 * 86_400,
    };
    n * unit
}

fn plan_of(price: &Value) -> Value {
    json!({
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": price["recurring"]["interval"],
        "interval_count": price["recurring"]["interval_count"],
        "livemode": false,
        "metadata": {},
        "meter": null,
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": null,
        "transform_usage": null,
        "trial_period_days": null,
        "usage_type": "licensed",
    })
}

fn sub_item(sub_id: &str, price: &Value, quantity: i64, start: i64, end: i64, now: i64) -> Value {
    json!({
        "id": new_id("si_"),
        "object": "subscription_item",
        "billing_thresholds": null,
        "created": now,
        "current_period_end": end,
        "current_period_start": start,
        "discounts": [],
        "metadata": {},
        "plan": plan_of(price),
        "price": public(price),
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
    })
}

fn period_of(sub: &Value) -> (i64, i64) {
    let item = &sub["items"]["data"][0];
    (
        item["current_period_start"].as_i64().unwrap_or(0),
        item["current_period_end"].as_i64().unwrap_or(0),
    )
}

/// Build an invoice for a subscription's current items (or the given lines). Discounts and tax
/// are added by [`price_for_subscription`].
fn invoice_for(
    ctx: &mut Ctx,
    sub: &Value,
    reason: &str,
    lines_override: Option<Vec<Value>>,
) -> ApiResult<Value> {
    let id = new_id("in_");
    let (start, end) = period_of(sub);
    let cus = ctx
        .get(sub["customer"].as_str().unwrap_or_default())?
        .unwrap_or(json!({}));
    let lines: Vec<Value> = match lines_override {
        Some(l) => l,
        None => sub["items"]["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|it| {
                let qty = it["quantity"].as_i64().unwrap_or(1);
                let amt = it["price"]["unit_amount"].as_i64().unwrap_or(0) * qty;
                invoice_line(&id, sub, it, amt, qty, start, end, false, None)
            })
            .collect(),
    };
    let total: i64 = lines
        .iter()
        .map(|l| l["amount"].as_i64().unwrap_or(0))
        .sum();
    let seq = cus["next_invoice_sequence"].as_i64().unwrap_or(1);
    if let Some(mut c) = ctx.get(sub["customer"].as_str().unwrap_or_default())? {
        c["next_invoice_sequence"] = json!(seq + 1);
        ctx.put(&c)?;
    }
    let head = json!({
        "id": id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Storefront (emulator)",
        "account_tax_ids": null,
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": total,
        "amount_shipping": 0,
        "application": null,
        "attempt_count": 0,
        "attempted": false,
        "auto_advance": true,
        "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null, "provider": null, "status": null },
        "automatically_finalizes_at": null,
        "billing_reason": reason,
        "collection_method": "charge_automatically",
        "created": ctx.now,
        "currency": sub["currency"],
        "custom_fields": null,
        "customer": sub["customer"],
        "customer_address": null,
        "customer_email": cus["email"],
        "customer_name": cus["name"],
        "customer_phone": cus["phone"],
        // Until an invoice is finalized this is the Customer's `shipping` (as on Stripe).
        "customer_shipping": invoice_shipping(&cus["shipping"]),
    });
    let mid = json!({
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "due_date": null,
        "effective_at": ctx.now,
        "ending_balance": 0,
        "footer": null,
        "from_invoice": null,
        "hosted_invoice_url": null,
        "invoice_pdf": null,
        "issuer": { "type": "self" },
        "last_finalization_error": null,
    });
    let rest = json!({
        "latest_revision": null,
        "lines": list(lines, false, &format!("/v1/invoices/{id}/lines")),
        "livemode": false,
        "metadata": {},
        "next_payment_attempt": null,
        "number": format!("{}-{:04}", cus["invoice_prefix"].as_str().unwrap_or("EMU"), seq),
        "on_behalf_of": null,
        "parent": {
            "quote_details": null,
            "subscription_details": { "metadata": sub["metadata"], "subscription": sub["id"] },
            "type": "subscription_details"
        },
        "payment_settings": { "default_mandate": null, "payment_method_options": null, "payment_method_types": null },
        // Shown only with `expand[]=payments`, like Stripe.
        "_payments": list(vec![], false, &format!("/v1/invoices/{id}/payments")),
        "period_end": end,
        "period_start": start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": null,
        "rendering": null,
        "shipping_cost": null,
        "shipping_details": null,
        "starting_balance": 0,
        "statement_descriptor": null,
        "status": "draft",
        "status_transitions": { "finalized_at": null, "marked_uncollectible_at": null, "paid_at": null, "voided_at": null },
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": null,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": null,
    });
    let mut inv = head;
    for part in [mid, rest] {
        if let (Some(a), Some(b)) = (inv.as_object_mut(), part.as_object()) {
            for (k, v) in b {
                a.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(inv)
}

/// A Customer's `shipping` as an invoice's `customer_shipping` (`{address, name, phone}`).
fn invoice_shipping(shipping: &Value) -> Value {
    if !shipping.is_object() {
        return Value::Null;
    }
    json!({
        "address": shipping["address"],
        "name": shipping["name"],
        "phone": shipping["phone"],
    })
}

#[allow(clippy::too_many_arguments)]
fn invoice_line(
    inv_id: &str,
    sub: &Value,
    item: &Value,
    amount: i64,
    qty: i64,
    start: i64,
    end: i64,
    proration: bool,
    desc: Option<String>,
) -> Value {
    let name = item["price"]["nickname"].as_str().map(str::to_string);
    json!({
        "id": new_id("il_"),
        "object": "line_item",
        "amount": amount,
        "currency": sub["currency"],
        "description": desc.or(name).unwrap_or_else(|| format!("{qty} × subscription")),
        "discount_amounts": [],
        "discountable": true,
        "discounts": [],
        "invoice": inv_id,
        "livemode": false,
        "metadata": {},
        "parent": {
            "invoice_item_details": null,
            "subscription_item_details": {
                "invoice_item": null,
                "proration": proration,
                "proration_details": { "credited_items": null },
                "subscription": sub["id"],
                "subscription_item": item["id"]
            },
            "type": "subscription_item_details"
        },
        "period": { "end": end, "start": start },
        "pretax_credit_amounts": [],
        "pricing": { "price_details": { "price": item["price"]["id"], "product": item["price"]["product"] }, "type": "price_details", "unit_amount_decimal": item["price"]["unit_amount_decimal"] },
        "quantity": qty,
        "subtotal": amount,
        "taxes": [],
    })
}

/// Mark an invoice paid; `pi_id` is the payment (none for an invoice of zero).
fn mark_invoice_paid(ctx: &mut Ctx, inv: &mut Value, pi_id: Option<&str>) {
    let total = inv["total"].clone();
    inv["status"] = json!("paid");
    inv["attempted"] = json!(true);
    inv["attempt_count"] = json!(1);
    inv["amount_paid"] = total.clone();
    inv["amount_remaining"] = json!(0);
    inv["status_transitions"]["finalized_at"] = json!(ctx.now);
    inv["status_transitions"]["paid_at"] = json!(ctx.now);
    let Some(pi_id) = pi_id else {
        return;
    };
    let inv_id = inv["id"].clone();
    inv["_payments"]["data"] = json!([{
        "id": new_id("inpay_"),
        "object": "invoice_payment",
        "amount_paid": total,
        "amount_requested": total,
        "created": ctx.now,
        "currency": inv["currency"],
        "invoice": inv_id,
        "is_default": true,
        "livemode": false,
        "payment": { "type": "payment_intent", "payment_intent": pi_id },
        "status": "paid",
        "status_transitions": { "canceled_at": null, "paid_at": ctx.now }
    }]);
}

/// Subscription-mode Checkout: create the subscription and its first invoice.
pub fn start_subscription(
    ctx: &mut Ctx,
    s: &mut Value,
    pi_id: Option<&str>,
    pm_id: Option<&str>,
    paid: bool,
) -> ApiResult<()> {
    let sub_id = new_id("sub_");
    let now = ctx.now;
    let mut items = Vec::new();
    for li in s["_line_items"].as_array().cloned().unwrap_or_default() {
        let price = ctx
            .get(li["price"]["id"].as_str().unwrap_or_default())?
            .unwrap_or(li["price"].clone());
        if price["type"] == "recurring" {
            let period = interval_secs(&price["recurring"]);
            items.push(sub_item(
                &sub_id,
                &price,
                li["quantity"].as_i64().unwrap_or(1),
                now,
                now + period,
                now,
            ));
        }
    }
    let metadata = s["_subscription_data"]["metadata"].clone();
    let mut sub = objects::merge(vec![
        json!({
            "id": sub_id,
            "object": "subscription",
            "application": null,
            "application_fee_percent": null,
            "automatic_tax": if s["automatic_tax"]["enabled"] == true {
                json!({ "disabled_reason": null, "enabled": true, "liability": { "type": "self" } })
            } else {
                json!({ "disabled_reason": null, "enabled": false, "liability": null })
            },
            "billing_cycle_anchor": now,
            "billing_cycle_anchor_config": null,
            "billing_mode": { "flexible": null, "type": "classic", "updated_at": null },
            "billing_schedules": [],
            "billing_thresholds": null,
            "cancel_at": null,
            "cancel_at_period_end": false,
            "canceled_at": null,
            "cancellation_details": { "comment": null, "feedback": null, "reason": null },
            "collection_method": "charge_automatically",
            "created": now,
            "currency": s["currency"],
            "customer": s["customer"],
            "days_until_due": null,
            "default_payment_method": pm_id,
            "default_source": null,
            "default_tax_rates": [],
        }),
        json!({
            "description": s["_subscription_data"]["description"],
            "discounts": [],
            "ended_at": null,
            "invoice_settings": { "account_tax_ids": null, "issuer": { "type": "self" } },
            "items": list(items, false, &format!("/v1/subscription_items?subscription={sub_id}")),
            "latest_invoice": null,
            "livemode": false,
            "metadata": if metadata.is_object() { metadata } else { json!({}) },
            "next_pending_invoice_item_invoice": null,
            "on_behalf_of": null,
            "pause_collection": null,
            "payment_settings": { "payment_method_options": null, "payment_method_types": null, "save_default_payment_method": "off" },
            "pending_invoice_item_interval": null,
            "pending_setup_intent": null,
            "pending_update": null,
            "schedule": null,
            "start_date": now,
            "status": if paid { "active" } else { "incomplete" },
            "test_clock": null,
            "transfer_data": null,
            "trial_end": null,
            "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
            "trial_start": null,
        }),
    ]);
    if s["automatic_tax"]["enabled"] == true {
        sub["_tax_location"] = totals::tax_address(s);
    }
    // The session's discount moves to the subscription.
    let discount = match s["_discount"].as_str() {
        Some(did) => ctx.get(did)?,
        None => None,
    };
    if let Some(mut d) = discount.clone() {
        let coupon = ctx
            .get(d["source"]["coupon"].as_str().unwrap_or_default())?
            .unwrap_or(json!({}));
        d["checkout_session"] = Value::Null;
        d["subscription"] = json!(sub_id);
        d["customer"] = s["customer"].clone();
        d["start"] = json!(now);
        if coupon["duration"] == "repeating" {
            let months = coupon["duration_in_months"].as_i64().unwrap_or(1);
            d["end"] = json!(now + months * interval_secs(&json!({ "interval": "month" })));
        }
        ctx.put(&d)?;
        sub["discounts"] = json!([d["id"]]);
    }
    let mut inv = invoice_for(ctx, &sub, "subscription_create", Some(vec![]))?;
    let inv_id = inv["id"].as_str().unwrap_or_default().to_string();
    inv["lines"]["data"] = json!(first_invoice_lines(&inv_id, &sub, s));
    price_for_subscription(ctx, &mut sub, &mut inv)?;
    inv["status"] = json!("open");
    inv["status_transitions"]["finalized_at"] = json!(now);
    if let Some(pi) = pi_id {
        inv["_payment_intent"] = json!(pi);
    }
    if paid {
        mark_invoice_paid(ctx, &mut inv, pi_id);
    }
    sub["latest_invoice"] = inv["id"].clone();
    ctx.put(&inv)?;
    ctx.put(&sub)?;
    if let Some(mut cus) = ctx.get(sub["customer"].as_str().unwrap_or_default())? {
        cus["invoice_settings"]["default_payment_method"] = json!(pm_id);
        ctx.put(&cus)?;
    }
    ctx.emit("customer.subscription.created", &sub, None)?;
    if let Some(did) = sub["discounts"][0].as_str() {
        let d = ctx.fetch("discount", did)?;
        ctx.emit("customer.discount.created", &d, None)?;
    }
    ctx.emit("invoice.created", &inv, None)?;
    ctx.emit("invoice.finalized", &inv, None)?;
    if paid {
        ctx.emit("invoice.paid", &inv, None)?;
        ctx.emit("invoice.payment_succeeded", &inv, None)?;
    }
    s["subscription"] = sub["id"].clone();
    s["invoice"] = inv["id"].clone();
    Ok(())
}

/// The first invoice's lines: every line of the Checkout Session (recurring prices as
/// subscription items, one-time prices as invoice items), before discounts and tax.
fn first_invoice_lines(inv_id: &str, sub: &Value, s: &Value) -> Vec<Value> {
    let (start, end) = period_of(sub);
    let items = sub["items"]["data"].as_array().cloned().unwrap_or_default();
    s["_line_items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|li| {
            let qty = li["quantity"].as_i64().unwrap_or(1);
            let amount = li["amount_subtotal"].as_i64().unwrap_or(0);
            let desc = li["description"].as_str().map(str::to_string);
            match items.iter().find(|it| it["price"]["id"] == li["price"]["id"]) {
                Some(it) => {
                    let d = desc.map(|d| format!("{qty} × {d}"));
                    invoice_line(inv_id, sub, it, amount, qty, start, end, false, d)
                }
                None => json!({
                    "id": new_id("il_"),
                    "object": "line_item",
                    "amount": amount,
                    "currency": sub["currency"],
                    "description": desc,
                    "discount_amounts": [],
                    "discountable": true,
                    "discounts": [],
                    "invoice": inv_id,
                    "livemode": false,
                    "metadata": {},
                    "parent": {
                        "invoice_item_details": {
                            "invoice_item": new_id("ii_"),
                            "proration": false,
                            "proration_details": { "credited_items": null },
                            "subscription": sub["id"],
                        },
                        "subscription_item_details": null,
                        "type": "invoice_item_details"
                    },
                    "period": { "end": start, "start": start },
                    "pretax_credit_amounts": [],
                    "pricing": { "price_details": { "price": li["price"]["id"], "product": li["price"]["product"] }, "type": "price_details", "unit_amount_decimal": li["price"]["unit_amount_decimal"] },
                    "quantity": qty,
                    "subtotal": amount,
                    "taxes": [],
                }),
            }
        })
        .collect()
}

/// The subscription's discount, if it still applies to an invoice made now: a `once` coupon
/// applies to one invoice, a `repeating` one until its `end`.
fn active_discount(ctx: &mut Ctx, sub: &Value) -> ApiResult<Option<Value>> {
    let Some(did) = sub["discounts"][0].as_str() else {
        return Ok(None);
    };
    let Some(d) = ctx.get(did)? else {
        return Ok(None);
    };
    let coupon = ctx
        .get(d["source"]["coupon"].as_str().unwrap_or_default())?
        .unwrap_or(json!({}));
    let used_once = coupon["duration"] == "once" && sub["_discount_used"] == true;
    let ended = d["end"].as_i64().is_some_and(|e| e <= ctx.now);
    Ok((!used_once && !ended).then_some(d))
}

/// Discounts and tax on a subscription invoice (its lines are final). The first invoice is taxed
/// where its Checkout Session was; later ones, like Stripe Tax, at the Customer's shipping
/// address, else its address, else that same place.
fn price_for_subscription(ctx: &mut Ctx, sub: &mut Value, inv: &mut Value) -> ApiResult<()> {
    let discount = active_discount(ctx, sub)?;
    let place = if sub["automatic_tax"]["enabled"] != true {
        None
    } else if inv["billing_reason"] == "subscription_create" {
        totals::place_of(&sub["_tax_location"])
    } else {
        let cus = ctx
            .get(sub["customer"].as_str().unwrap_or_default())?
            .unwrap_or(json!({}));
        totals::place_of(&cus["shipping"]["address"])
            .or_else(|| totals::place_of(&cus["address"]))
            .or_else(|| totals::place_of(&sub["_tax_location"]))
    };
    totals::price_invoice(ctx, inv, discount.as_ref(), place.as_ref())?;
    if discount.is_some() {
        sub["_discount_used"] = json!(true);
    }
    Ok(())
}

/// At a renewal: a discount that no longer applies leaves the subscription
/// (`customer.discount.deleted`).
fn end_spent_discount(ctx: &mut Ctx, sub: &mut Value) -> ApiResult<()> {
    let Some(did) = sub["discounts"][0].as_str().map(str::to_string) else {
        return Ok(());
    };
    if active_discount(ctx, sub)?.is_some() {
        return Ok(());
    }
    sub["discounts"] = json!([]);
    if let Some(d) = ctx.get(&did)? {
        ctx.emit("customer.discount.deleted", &d, None)?;
    }
    Ok(())
}

/// A bank debit for the first invoice settled (or failed).
pub fn settle_first_invoice(ctx: &mut Ctx, s: &mut Value, ok: bool) -> ApiResult<()> {
    let inv_id = s["invoice"].as_str().unwrap_or_default().to_string();
    let sub_id = s["subscription"].as_str().unwrap_or_default().to_string();
    let mut inv = ctx.fetch("invoice", &inv_id)?;
    let mut sub = ctx.fetch("subscription", &sub_id)?;
    let before = sub.clone();
    if ok {
        let pi = inv["_payment_intent"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        mark_invoice_paid(ctx, &mut inv, Some(&pi));
        sub["status"] = json!("active");
        ctx.put(&inv)?;
        ctx.emit("invoice.paid", &inv, None)?;
        ctx.emit("invoice.payment_succeeded", &inv, None)?;
    } else {
        inv["attempted"] = json!(true);
        inv["attempt_count"] = json!(1);
        sub["status"] = json!("incomplete_expired");
        ctx.put(&inv)?;
        ctx.emit("invoice.payment_failed", &inv, None)?;
    }
    ctx.put(&sub)?;
    ctx.emit(
        "customer.subscription.updated",
        &sub,
        Some(previous(&before, &sub)),
    )?;
    Ok(())
}

const SUB_UPDATE: &[(&str, P)] = &[
    ("cancel_at_period_end", P::Bool),
    ("metadata", P::Meta),
    (
        "items",
        P::Arr(&P::Obj(&[
            ("id", P::Str),
            ("price", P::Str),
            ("quantity", P::Int),
            ("deleted", P::Bool),
        ])),
    ),
    (
        "proration_behavior",
        P::Enum(&["always_invoice", "create_prorations", "none"]),
    ),
    ("default_payment_method", P::Str),
    ("description", P::Str),
    ("expand", P::Arr(&P::Str)),
];

pub fn route(ctx: &mut Ctx, method: &str, segs: &[&str], raw: &Value) -> ApiResult<Option<Routed>> {
    let r = match (method, segs) {
        ("GET", ["subscriptions"]) => {
            let p = check(
                &P::Obj(&[
                    ("limit", P::Int),
                    ("starting_after", P::Str),
                    ("ending_before", P::Str),
                    ("created", P::Range),
                    ("expand", P::Arr(&P::Str)),
                    ("customer", P::Str),
                    ("price", P::Str),
                    (
                        "status",
                        P::Enum(&[
                            "active",
                            "all",
                            "canceled",
                            "ended",
                            "incomplete",
                            "incomplete_expired",
                            "past_due",
                            "paused",
                            "trialing",
                            "unpaid",
                        ]),
                    ),
                ]),
                raw,
                "",
            )?;
            let mut items = ctx.all("subscription")?;
            if let Some(c) = p.s("customer") {
                items.retain(|s| s["customer"] == c.as_str());
            }
            if let Some(pr) = p.s("price") {
                items.retain(|s| {
                    s["items"]["data"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|i| i["price"]["id"] == pr.as_str()))
                });
            }
            match p.s("status").as_deref() {
                Some("all") => {}
                Some("ended") => items
                    .retain(|s| s["status"] == "canceled" || s["status"] == "incomplete_expired"),
                Some(st) => items.retain(|s| s["status"] == st),
                None => items.retain(|s| s["status"] != "canceled"),
            }
            (
                paginate(ctx, items, &p, "/v1/subscriptions", "subscription")?,
                expand_of(&p),
            )
        }
        ("GET", ["subscriptions", id]) => {
            let p = check(&P::Obj(&[("expand", P::Arr(&P::Str))]), raw, "")?;
            (ctx.fetch("subscription", id)?, expand_of(&p))
        }
        ("POST", ["subscriptions", id]) => update_subscription(ctx, raw, id)?,
        ("DELETE", ["subscriptions", id]) => {
            let p = check(
                &P::Obj(&[
                    ("invoice_now", P::Bool),
                    ("prorate", P::Bool),
                    (
                        "cancellation_details",
                        P::Obj(&[("comment", P::Str), ("feedback", P::Str)]),
                    ),
                    ("expand", P::Arr(&P::Str)),
                ]),
                raw,
                "",
            )?;
            let sub = ctx.fetch("subscription", id)?;
            if sub["status"] == "canceled" {
                return Err(ApiError::invalid(format!(
                    "A canceled subscription can only update its cancellation_details and metadata. (subscription: {id})"
                )));
            }
            (
                cancel_now(ctx, sub, "cancellation_requested")?,
                expand_of(&p),
            )
        }
        ("GET", ["invoices"]) => list_simple(
            ctx,
            raw,
            "invoice",
            "/v1/invoices",
            &[
                ("customer", P::Str),
                ("subscription", P::Str),
                ("status", P::Str),
            ],
        )?,
        ("GET", ["invoices", id]) => {
            let p = check(&P::Obj(&[("expand", P::Arr(&P::Str))]), raw, "")?;
            (ctx.fetch("invoice", id)?, expand_of(&p))
        }
        ("POST", ["billing_portal", "configurations"]) => create_portal_config(ctx, raw)?,
        ("GET", ["billing_portal", "configurations"]) => list_simple(
            ctx,
            raw,
            "billing_portal.configuration",
            "/v1/billing_portal/configurations",
            &[("active", P::Bool), ("is_default", P::Bool)],
        )?,
        ("GET", ["billing_portal", "configurations", id]) => {
            let p = check(&P::Obj(&[("expand", P::Arr(&P::Str))]), raw, "")?;
            (
                ctx.fetch("billing_portal.configuration", id)?,
                expand_of(&p),
            )
        }
        ("POST", ["billing_portal", "sessions"]) => create_portal_session(ctx, raw)?,
        _ => return Ok(None),
    };
    Ok(Some(r))
}

pub fn cancel_now(ctx: &mut Ctx, mut sub: Value, reason: &str) -> ApiResult<Value> {
    sub["status"] = json!("canceled");
    sub["canceled_at"] = json!(ctx.now);
    sub["ended_at"] = json!(ctx.now);
    sub["cancellation_details"]["reason"] = json!(reason);
    ctx.put(&sub)?;
    ctx.emit("customer.subscription.deleted", &sub, None)?;
    Ok(sub)
}

fn update_subscription(ctx: &mut Ctx, raw: &Value, id: &str) -> ApiResult<Routed> {
    let p = check(&P::Obj(SUB_UPDATE), raw, "")?;
    let mut sub = ctx.fetch("subscription", id)?;
    let before = sub.clone();
    if sub["status"] == "canceled"
        && (p.get("items").is_some() || p.get("cancel_at_period_end").is_some())
    {
        return Err(ApiError::invalid(format!(
            "A canceled subscription can only update its cancellation_details and metadata. (subscription: {id})"
        )));
    }
    if let Some(c) = p.b("cancel_at_period_end") {
        sub["cancel_at_period_end"] = json!(c);
        let (_, end) = period_of(&sub);
        sub["cancel_at"] = if c { json!(end) } else { Value::Null };
        sub["canceled_at"] = if c { json!(ctx.now) } else { Value::Null };
        sub["cancellation_details"]["reason"] = if c {
            json!("cancellation_requested")
        } else {
            Value::Null
        };
    }
    if let Some(d) = p.get("description") {
        sub["description"] = d.clone();
    }
    let mut new_card = false;
    if let Some(pm) = p.s("default_payment_method") {
        ctx.fetch_param("payment_method", &pm, "default_payment_method")?;
        new_card = sub["default_payment_method"] != pm.as_str();
        sub["default_payment_method"] = json!(pm);
    }
    if let Some(m) = p.get("metadata").and_then(Value::as_object) {
        for (k, v) in m {
            if v == "" {
                if let Some(o) = sub["metadata"].as_object_mut() {
                    o.remove(k);
                }
            } else {
                sub["metadata"][k] = v.clone();
            }
        }
    }
    if let Some(items) = p["items"].as_array() {
        let changes = change_items(ctx, &mut sub, items)?;
        let behavior = p
            .s("proration_behavior")
            .unwrap_or_else(|| "create_prorations".into());
        ctx.put(&sub)?;
        invoice_changes(ctx, &mut sub, &changes, &behavior)?;
    }
    ctx.put(&sub)?;
    if new_card {
        retry_open_invoice(ctx, &mut sub)?;
        ctx.put(&sub)?;
    }
    ctx.emit(
        "customer.subscription.updated",
        &sub,
        Some(previous(&before, &sub)),
    )?;
    Ok((sub, expand_of(&p)))
}

/// One item before and after an update: added (`None` before), removed (`None` after) or given
/// another price or quantity.
struct ItemChange {
    old: Option<Value>,
    new: Option<Value>,
}

/// Applies `items[]` of a subscription update as Stripe does: an `id` names the item to change or
/// (with `deleted`) remove, an item without `id` is added. Every item must keep billing on one
/// interval, and one item at least must remain.
fn change_items(ctx: &mut Ctx, sub: &mut Value, items: &[Value]) -> ApiResult<Vec<ItemChange>> {
    let sub_id = sub["id"].as_str().unwrap_or_default().to_string();
    let before = sub["items"]["data"].as_array().cloned().unwrap_or_default();
    let (start, end) = period_of(sub);
    let mut data = before.clone();
    let mut changes = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let deleted = it.b("deleted") == Some(true);
        let pos = match it.s("id") {
            Some(si) => Some(
                data.iter()
                    .position(|d| d["id"] == si.as_str())
                    .ok_or_else(|| {
                        ApiError::param(
                            format!("items[{i}][id]"),
                            format!("No such subscription item: '{si}'"),
                        )
                    })?,
            ),
            None if deleted => return Err(ApiError::missing(&format!("items[{i}][id]"))),
            None => None,
        };
        if deleted {
            let old = data.remove(pos.unwrap_or_default());
            changes.push(ItemChange {
                old: Some(old),
                new: None,
            });
            continue;
        }
        if pos.is_some() && it.get("price").is_none() && it.get("quantity").is_none() {
            continue;
        }
        let price_id = match (it.s("price"), pos) {
            (Some(p), _) => p,
            (None, Some(pos)) => data[pos]["price"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            (None, None) => return Err(ApiError::missing(&format!("items[{i}][price]"))),
        };
        let price = ctx.fetch_param("price", &price_id, &format!("items[{i}][price]"))?;
        if price["type"] != "recurring" {
            return Err(ApiError::param(
                format!("items[{i}][price]"),
                "The price specified is not recurring.",
            ));
        }
        if price["currency"] != sub["currency"] {
            return Err(ApiError::param(
                format!("items[{i}][price]"),
                "The price's currency must match the subscription's currency.",
            ));
        }
        let qty = it
            .i("quantity")
            .unwrap_or_else(|| pos.and_then(|p| data[p]["quantity"].as_i64()).unwrap_or(1));
        if !(1..=999_999).contains(&qty) {
            return Err(ApiError::param(
                format!("items[{i}][quantity]"),
                "Quantity must be between 1 and 999999.",
            ));
        }
        match pos {
            Some(pos) => {
                let old = data[pos].clone();
                // Named but not changed: nothing to prorate (as on Stripe).
                if old["price"]["id"] == price["id"] && old["quantity"].as_i64() == Some(qty) {
                    continue;
                }
                data[pos]["price"] = public(&price);
                data[pos]["plan"] = plan_of(&price);
                data[pos]["quantity"] = json!(qty);
                changes.push(ItemChange {
                    old: Some(old),
                    new: Some(data[pos].clone()),
                });
            }
            None => {
                let item = sub_item(&sub_id, &price, qty, start, end, ctx.now);
                data.push(item.clone());
                changes.push(ItemChange {
                    old: None,
                    new: Some(item),
                });
            }
        }
    }
    if data.is_empty() {
        return Err(ApiError::param(
            "items",
            "A subscription must keep at least one item.",
        ));
    }
    let cycle = |item: &Value| {
        (
            item["price"]["recurring"]["interval"].clone(),
            item["price"]["recurring"]["interval_count"].clone(),
        )
    };
    if data.iter().any(|d| cycle(d) != cycle(&data[0])) {
        return Err(ApiError::param(
            "items",
            "Currency and interval fields must match across all plans on this subscription.",
        ));
    }
    // As on Stripe: a new billing interval restarts the cycle now.
    if before.first().map(cycle) != Some(cycle(&data[0])) {
        let new_end = ctx.now + interval_secs(&data[0]["price"]["recurring"]);
        for d in &mut data {
            d["current_period_start"] = json!(ctx.now);
            d["current_period_end"] = json!(new_end);
        }
        sub["billing_cycle_anchor"] = json!(ctx.now);
        sub["_cycle_reset"] = json!([start, end]);
    }
    sub["items"]["data"] = json!(data);
    Ok(changes)
}

/// Bills an update's item changes. A new billing interval is invoiced at once: the unused time of
/// every old item credited (unless proration is off) and a full period of every item charged.
/// Otherwise each changed item's unused time is credited and its remaining time charged, on the
/// next invoice (or at once with `always_invoice`).
fn invoice_changes(
    ctx: &mut Ctx,
    sub: &mut Value,
    changes: &[ItemChange],
    behavior: &str,
) -> ApiResult<()> {
    let part = |amount: i64, left: i64, span: i64| {
        (i128::from(amount) * i128::from(left) / i128::from(span.max(1))) as i64
    };
    let amount_of = |item: &Value| {
        item["price"]["unit_amount"].as_i64().unwrap_or(0) * item["quantity"].as_i64().unwrap_or(1)
    };
    let qty = |item: &Value| item["quantity"].as_i64().unwrap_or(1);
    let mut lines = sub["_pending_prorations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let reset = sub
        .as_object_mut()
        .and_then(|o| o.remove("_cycle_reset"))
        .filter(Value::is_array);
    if let Some(reset) = reset {
        let (old_start, old_end) = (
            reset[0].as_i64().unwrap_or(ctx.now),
            reset[1].as_i64().unwrap_or(ctx.now),
        );
        let left = (old_end - ctx.now).max(0);
        for old in changes.iter().filter_map(|c| c.old.as_ref()) {
            let credit = if behavior == "none" {
                0
            } else {
                -part(amount_of(old), left, old_end - old_start)
            };
            if credit != 0 {
                lines.push(invoice_line(
                    "",
                    sub,
                    old,
                    credit,
                    qty(old),
                    old_start.max(ctx.now.min(old_end)),
                    old_end,
                    true,
                    Some("Unused time (proration)".into()),
                ));
            }
        }
        let (start, end) = period_of(sub);
        for item in sub["items"]["data"].as_array().cloned().unwrap_or_default() {
            lines.push(invoice_line(
                "",
                sub,
                &item,
                amount_of(&item),
                qty(&item),
                start,
                end,
                false,
                None,
            ));
        }
        bill_now(ctx, sub, lines)?;
        return Ok(());
    }
    let (start, end) = period_of(sub);
    if behavior == "none" || end <= ctx.now {
        return Ok(());
    }
    let (span, left) = (end - start, end - ctx.now);
    for change in changes {
        if let Some(old) = &change.old {
            lines.push(invoice_line(
                "",
                sub,
                old,
                -part(amount_of(old), left, span),
                qty(old),
                ctx.now,
                end,
                true,
                Some("Unused time (proration)".into()),
            ));
        }
        if let Some(new) = &change.new {
            lines.push(invoice_line(
                "",
                sub,
                new,
                part(amount_of(new), left, span),
                qty(new),
                ctx.now,
                end,
                true,
                Some("Remaining time (proration)".into()),
            ));
        }
    }
    if behavior == "always_invoice" {
        bill_now(ctx, sub, lines)
    } else {
        sub["_pending_prorations"] = json!(lines);
        Ok(())
    }
}

/// Invoices `lines` now and charges the invoice; pending prorations are spent.
fn bill_now(ctx: &mut Ctx, sub: &mut Value, lines: Vec<Value>) -> ApiResult<()> {
    let mut inv = invoice_for(ctx, sub, "subscription_update", Some(lines))?;
    let inv_id = inv["id"].as_str().unwrap_or_default().to_string();
    if let Some(lines) = inv["lines"]["data"].as_array_mut() {
        for l in lines.iter_mut() {
            l["invoice"] = json!(inv_id);
        }
    }
    charge_invoice(ctx, sub, &mut inv)?;
    sub["_pending_prorations"] = json!([]);
    Ok(())
}

/// Charge an invoice to the subscription's default card (renewals and prorations).
fn charge_invoice(ctx: &mut Ctx, sub: &mut Value, inv: &mut Value) -> ApiResult<bool> {
    price_for_subscription(ctx, sub, inv)?;
    inv["status"] = json!("open");
    inv["status_transitions"]["finalized_at"] = json!(ctx.now);
    ctx.put(inv)?;
    ctx.emit("invoice.created", inv, None)?;
    ctx.emit("invoice.finalized", inv, None)?;
    attempt_invoice_payment(ctx, sub, inv)
}

/// Retries the open invoice of a past-due subscription (as Stripe does when the customer
/// saves a new default card).
fn retry_open_invoice(ctx: &mut Ctx, sub: &mut Value) -> ApiResult<()> {
    if !matches!(sub["status"].as_str(), Some("past_due" | "unpaid")) {
        return Ok(());
    }
    let Some(inv_id) = sub["latest_invoice"].as_str().map(str::to_owned) else {
        return Ok(());
    };
    let mut inv = ctx.fetch("invoice", &inv_id)?;
    if inv["status"] == "open" {
        attempt_invoice_payment(ctx, sub, &mut inv)?;
    }
    Ok(())
}

/// One payment attempt of an open invoice with the subscription's default card.
fn attempt_invoice_payment(ctx: &mut Ctx, sub: &mut Value, inv: &mut Value) -> ApiResult<bool> {
    let total = inv["total"].as_i64().unwrap_or(0);
    sub["latest_invoice"] = inv["id"].clone();
    if total <= 0 {
        inv["status"] = json!("paid");
        inv["amount_paid"] = json!(0);
        inv["amount_remaining"] = json!(0);
        inv["status_transitions"]["paid_at"] = json!(ctx.now);
        ctx.put(inv)?;
        ctx.emit("invoice.paid", inv, None)?;
        return Ok(true);
    }
    let pm_id = sub["default_payment_method"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pm = ctx.get(&pm_id)?.unwrap_or(json!({}));
    let number = pm["_number"]
        .as_str()
        .unwrap_or(payments::CARD_OK)
        .to_string();
    let mut pi = objects::payment_intent(ctx.now, total, sub["currency"].as_str().unwrap_or("usd"));
    pi["customer"] = sub["customer"].clone();
    pi["payment_method"] = json!(pm_id);
    pi["description"] = json!("Subscription update");
    let card = objects::Card {
        number: number.clone(),
        exp_month: pm["card"]["exp_month"].as_i64().unwrap_or(12),
        exp_year: pm["card"]["exp_year"].as_i64().unwrap_or(2099),
    };
    let details = json!({ "type": "card", "card": objects::card_details(&card) });
    inv["attempted"] = json!(true);
    inv["attempt_count"] = json!(inv["attempt_count"].as_i64().unwrap_or(0) + 1);
    let decline = decline_for(&number);
    let failure = decline.as_ref().map(|e| {
        (
            e.code.clone().unwrap_or_default(),
            e.message.clone(),
            e.decline_code.clone(),
        )
    });
    let mut ch = objects::charge(
        ctx.now,
        &pi,
        &details,
        &pm_id,
        None,
        decline.is_none(),
        if decline.is_none() {
            "succeeded"
        } else {
            "failed"
        },
        failure
            .as_ref()
            .map(|(c, m, d)| (c.as_str(), m.as_str(), d.as_deref())),
    );
    if decline.is_none() {
        super::balance::charge_succeeded(ctx, &mut ch)?;
    }
    ctx.put(&ch)?;
    pi["latest_charge"] = ch["id"].clone();
    if let Some(err) = decline {
        pi["status"] = json!("requires_payment_method");
        pi["last_payment_error"] = json!({ "type": "card_error", "code": err.code, "decline_code": err.decline_code, "message": err.message, "charge": ch["id"] });
        ctx.put(&pi)?;
        ctx.emit("charge.failed", &ch, None)?;
        ctx.emit("payment_intent.payment_failed", &pi, None)?;
        inv["next_payment_attempt"] = json!(ctx.now + 3 * 86_400);
        ctx.put(inv)?;
        ctx.emit("invoice.payment_failed", inv, None)?;
        let before = sub.clone();
        sub["status"] = json!("past_due");
        ctx.put(sub)?;
        ctx.emit(
            "customer.subscription.updated",
            sub,
            Some(previous(&before, sub)),
        )?;
        Ok(false)
    } else {
        pi["status"] = json!("succeeded");
        pi["amount_received"] = json!(total);
        ctx.put(&pi)?;
        ctx.emit("charge.succeeded", &ch, None)?;
        ctx.emit("payment_intent.succeeded", &pi, None)?;
        let pi_id = pi["id"].as_str().unwrap_or_default().to_string();
        mark_invoice_paid(ctx, inv, Some(&pi_id));
        ctx.put(inv)?;
        ctx.emit("invoice.paid", inv, None)?;
        ctx.emit("invoice.payment_succeeded", inv, None)?;
        if sub["status"] == "past_due" {
            let before = sub.clone();
            sub["status"] = json!("active");
            ctx.put(sub)?;
            ctx.emit(
                "customer.subscription.updated",
                sub,
                Some(previous(&before, sub)),
            )?;
        }
        Ok(true)
    }
}

/// Advance subscriptions to `now`: period-end cancellations and renewals.
pub fn advance_subscriptions(ctx: &mut Ctx) -> ApiResult<()> {
    for _round in 0..120 {
        let mut changed = false;
        for mut sub in ctx.all("subscription")? {
            if !matches!(
                sub["status"].as_str(),
                Some("active") | Some("past_due") | Some("trialing")
            ) {
                continue;
            }
            let (_, end) = period_of(&sub);
            if end == 0 || end > ctx.now {
                continue;
            }
            changed = true;
            if sub["cancel_at_period_end"] == true {
                let saved_now = ctx.now;
                ctx.now = end;
                cancel_now(ctx, sub, "cancellation_requested")?;
                ctx.now = saved_now;
                continue;
            }
            // Renew: next period, invoice, charge.
            let before = sub.clone();
            if let Some(items) = sub["items"]["data"].as_array_mut() {
                for it in items.iter_mut() {
                    let len = interval_secs(&it["price"]["recurring"]);
                    it["current_period_start"] = json!(end);
                    it["current_period_end"] = json!(end + len);
                }
            }
            let saved_now = ctx.now;
            ctx.now = end;
            end_spent_discount(ctx, &mut sub)?;
            let pending = sub["_pending_prorations"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut inv = invoice_for(ctx, &sub, "subscription_cycle", None)?;
            if !pending.is_empty() {
                let inv_id = inv["id"].as_str().unwrap_or_default().to_string();
                let mut lines = inv["lines"]["data"].as_array().cloned().unwrap_or_default();
                for mut l in pending {
                    l["invoice"] = json!(inv_id);
                    lines.push(l);
                }
                let total: i64 = lines
                    .iter()
                    .map(|l| l["amount"].as_i64().unwrap_or(0))
                    .sum::<i64>()
                    .max(0);
                inv["lines"]["data"] = json!(lines);
                for k in [
                    "amount_due",
                    "amount_remaining",
                    "subtotal",
                    "subtotal_excluding_tax",
                    "total",
                    "total_excluding_tax",
                ] {
                    inv[k] = json!(total);
                }
                sub["_pending_prorations"] = json!([]);
            }
            ctx.put(&sub)?;
            ctx.emit(
                "customer.subscription.updated",
                &sub,
                Some(previous(&before, &sub)),
            )?;
            charge_invoice(ctx, &mut sub, &mut inv)?;
            ctx.put(&sub)?;
            ctx.now = saved_now;
        }
        if !changed {
            break;
        }
    }
    Ok(())
}

fn create_portal_config(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    const FEATURE: &[(&str, P)] = &[
        ("enabled", P::Bool),
        ("mode", P::Enum(&["at_period_end", "immediately"])),
        (
            "proration_behavior",
            P::Enum(&["always_invoice", "create_prorations", "none"]),
        ),
        (
            "default_allowed_updates",
            P::Arr(&P::Enum(&["price", "promotion_code", "quantity"])),
        ),
        (
            "products",
            P::Arr(&P::Obj(&[
                ("product", P::Str),
                ("prices", P::Arr(&P::Str)),
                (
                    "adjustable_quantity",
                    P::Obj(&[
                        ("enabled", P::Bool),
                        ("maximum", P::Int),
                        ("minimum", P::Int),
                    ]),
                ),
            ])),
        ),
        ("allowed_updates", P::Arr(&P::Str)),
        (
            "cancellation_reason",
            P::Obj(&[
                ("enabled", P::Bool),
                ("options", P::Arr(&P::Str)),
                ("feedback_options", P::Arr(&P::Str)),
            ]),
        ),
        ("billing_cycle_anchor", P::Enum(&["now", "unchanged"])),
        (
            "schedule_at_period_end",
            P::Obj(&[("conditions", P::Arr(&P::Obj(&[("type", P::Str)])))]),
        ),
        (
            "trial_update_behavior",
            P::Enum(&["continue_trial", "end_trial"]),
        ),
        ("payment_method_configuration", P::Str),
    ];
    const S: &[(&str, P)] = &[
        (
            "business_profile",
            P::Obj(&[
                ("headline", P::Str),
                ("privacy_policy_url", P::Str),
                ("terms_of_service_url", P::Str),
            ]),
        ),
        ("default_return_url", P::Str),
        (
            "features",
            P::Obj(&[
                ("customer_update", P::Obj(FEATURE)),
                ("invoice_history", P::Obj(FEATURE)),
                ("payment_method_update", P::Obj(FEATURE)),
                ("subscription_cancel", P::Obj(FEATURE)),
                ("subscription_update", P::Obj(FEATURE)),
            ]),
        ),
        ("login_page", P::Obj(&[("enabled", P::Bool)])),
        ("metadata", P::Meta),
        ("name", P::Str),
        ("expand", P::Arr(&P::Str)),
    ];
    let p = check(&P::Obj(S), raw, "")?;
    let f = &p["features"];
    let enabled = |k: &str| f[k]["enabled"].as_bool().unwrap_or(false);
    let is_first = ctx.all("billing_portal.configuration")?.is_empty();
    let products = f["subscription_update"]["products"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let products: Vec<Value> = products
        .iter()
        .map(|pr| json!({ "adjustable_quantity": { "enabled": false, "maximum": null, "minimum": 1 }, "prices": pr["prices"], "product": pr["product"] }))
        .collect();
    let cfg = json!({
        "id": new_id("bpc_"),
        "object": "billing_portal.configuration",
        "active": true,
        "application": null,
        "business_profile": {
            "headline": p["business_profile"]["headline"],
            "privacy_policy_url": p["business_profile"]["privacy_policy_url"],
            "terms_of_service_url": p["business_profile"]["terms_of_service_url"],
        },
        "created": ctx.now,
        "default_return_url": p["default_return_url"],
        "features": {
            "customer_update": { "allowed_updates": f["customer_update"]["allowed_updates"].as_array().cloned().unwrap_or_default(), "enabled": enabled("customer_update") },
            "invoice_history": { "enabled": enabled("invoice_history") },
            "payment_method_update": { "enabled": enabled("payment_method_update"), "payment_method_configuration": null },
            "subscription_cancel": {
                "cancellation_reason": { "enabled": false, "options": [] },
                "enabled": enabled("subscription_cancel"),
                "mode": f["subscription_cancel"]["mode"].as_str().unwrap_or("at_period_end"),
                "proration_behavior": f["subscription_cancel"]["proration_behavior"].as_str().unwrap_or("none"),
            },
            "subscription_update": {
                "billing_cycle_anchor": null,
                "default_allowed_updates": f["subscription_update"]["default_allowed_updates"].as_array().cloned().unwrap_or_default(),
                "enabled": enabled("subscription_update"),
                "products": products,
                "proration_behavior": f["subscription_update"]["proration_behavior"].as_str().unwrap_or("create_prorations"),
                "schedule_at_period_end": { "conditions": [] },
                "trial_update_behavior": "end_trial",
            },
        },
        "is_default": is_first,
        "livemode": false,
        "login_page": { "enabled": false, "url": null },
        "metadata": p.get("metadata").cloned().unwrap_or(json!({})),
        "name": p["name"],
        "updated": ctx.now,
    });
    ctx.put(&cfg)?;
    Ok((cfg, expand_of(&p)))
}

fn create_portal_session(ctx: &mut Ctx, raw: &Value) -> ApiResult<Routed> {
    const S: &[(&str, P)] = &[
        ("customer", P::Str),
        ("return_url", P::Str),
        ("configuration", P::Str),
        ("locale", P::Str),
        ("on_behalf_of", P::Str),
        ("flow_data", P::Obj(&[("type", P::Str)])),
        ("expand", P::Arr(&P::Str)),
    ];
    let p = check(&P::Obj(S), raw, "")?;
    let cid = p
        .s("customer")
        .ok_or_else(|| ApiError::missing("customer"))?;
    ctx.fetch_param("customer", &cid, "customer")?;
    if p.get("flow_data").is_some() {
        return Err(ApiError::param(
            "flow_data",
            "The emulator's portal does not support deep-link flows.",
        ));
    }
    let cfg_id = match p.s("configuration") {
        Some(c) => {
            ctx.fetch_param("billing_portal.configuration", &c, "configuration")?;
            c
        }
        None => match ctx
            .all("billing_portal.configuration")?
            .into_iter()
            .find(|c| c["is_default"] == true)
        {
            Some(c) => c["id"].as_str().unwrap_or_default().to_string(),
            None => {
                let (c, _) = create_portal_config(
                    ctx,
                    &json!({ "features": { "subscription_cancel": { "enabled": "true" }, "payment_method_update": { "enabled": "true" }, "invoice_history": { "enabled": "true" } } }),
                )?;
                c["id"].as_str().unwrap_or_default().to_string()
            }
        },
    };
    let cfg = ctx.fetch("billing_portal.configuration", &cfg_id)?;
    let return_url = p
        .s("return_url")
        .or_else(|| cfg["default_return_url"].as_str().map(str::to_string));
    if let Some(u) = &return_url {
        if url::Url::parse(u).is_err() {
            return Err(
                ApiError::param("return_url", format!("Not a valid URL: {u}")).code("url_invalid"),
            );
        }
    }
    let id = new_id("bps_");
    let secret = super::store::random_token(32);
    let s = json!({
        "id": id,
        "object": "billing_portal.session",
        "configuration": cfg_id,
        "created": ctx.now,
        "customer": cid,
        "flow": null,
        "livemode": false,
        "locale": p["locale"],
        "on_behalf_of": null,
        "return_url": return_url,
        "url": format!("{}/p/session/{secret}", ctx.origin),
        "_secret": secret,
        "_expires_at": ctx.now + 5 * 60,
    });
    ctx.put(&s)?;
    Ok((s, expand_of(&p)))
}
