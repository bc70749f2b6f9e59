//! Disputes through their life: opened on a charge (the disputed test card), funds withdrawn
//! with a dispute fee, then — from the control API, as the card network would decide —
//! `under_review`, and closed `won` (funds reinstated; the fee is kept), `lost` or
//! `warning_closed`. `GET /v1/disputes[/{id}]` as on Stripe.

use serde_json::{Value, json};

use super::api::{Routed, expand_of, list_simple};
use super::error::{ApiError, ApiResult};
use super::form::{P, check};
use super::store::{Ctx, new_id};

/// Stripe's dispute fee in the emulator: $15.00 (minor units of the charge's currency).
pub const DISPUTE_FEE: i64 = 1500;

const EXPAND_ONLY: &[(&str, P)] = &[("expand", P::Arr(&P::Str))];

pub fn route(ctx: &mut Ctx, method: &str, segs: &[&str], raw: &Value) -> ApiResult<Option<Routed>> {
    Ok(Some(match (method, segs) {
        ("GET", ["disputes"]) => list_simple(
            ctx,
            raw,
            "dispute",
            "/v1/disputes",
            &[("charge", P::Str), ("payment_intent", P::Str)],
        )?,
        ("GET", ["disputes", id]) => {
            let p = check(&P::Obj(EXPAND_ONLY), raw, "")?;
            (ctx.fetch("dispute", id)?, expand_of(&p))
        }
        _ => return Ok(None),
    }))
}

/// A balance transaction of a dispute: money withdrawn (negative, with the fee) or reinstated.
fn balance_transaction(
    ctx: &mut Ctx,
    dp: &Value,
    amount: i64,
    fee: i64,
    what: &str,
) -> ApiResult<Value> {
    super::balance::record(
        ctx,
        dp,
        amount,
        fee,
        super::balance::Movement {
            kind: "adjustment",
            category: if amount < 0 {
                "dispute"
            } else {
                "dispute_reversal"
            },
            description: format!("{what} for {}", dp["charge"].as_str().unwrap_or_default()),
            fee_label: "Dispute fee",
        },
    )
}

/// Opens a dispute on a charge: `charge.dispute.created`, then the funds (and the fee) leave the
/// balance: `charge.dispute.funds_withdrawn`.
pub fn open(ctx: &mut Ctx, charge_id: &str) -> ApiResult<()> {
    let mut ch = ctx.fetch("charge", charge_id)?;
    ch["disputed"] = json!(true);
    ctx.put(&ch)?;
    let mut dp = json!({
        "id": new_id("dp_"),
        "object": "dispute",
        "amount": ch["amount"],
        "balance_transactions": [],
        "charge": ch["id"],
        "created": ctx.now,
        "currency": ch["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {
            "access_activity_log": null, "billing_address": null, "cancellation_policy": null,
            "cancellation_policy_disclosure": null, "cancellation_rebuttal": null, "customer_communication": null,
            "customer_email_address": null, "customer_name": null, "customer_purchase_ip": null,
            "customer_signature": null, "duplicate_charge_documentation": null, "duplicate_charge_explanation": null,
            "duplicate_charge_id": null, "enhanced_evidence": {}, "product_description": null, "receipt": null,
            "refund_policy": null, "refund_policy_disclosure": null, "refund_refusal_explanation": null,
            "service_date": null, "service_documentation": null, "shipping_address": null,
            "shipping_carrier": null, "shipping_date": null, "shipping_documentation": null,
            "shipping_tracking_number": null, "uncategorized_file": null, "uncategorized_text": null
        },
        "evidence_details": {
            "due_by": ctx.now + 7 * 86_400, "enhanced_eligibility": {}, "has_evidence": false,
            "past_due": false, "submission_count": 0
        },
        "is_charge_refundable": false,
        "livemode": false,
        "metadata": {},
        "network_reason_code": null,
        "payment_intent": ch["payment_intent"],
        "payment_method_details": null,
        "reason": "fraudulent",
        "status": "needs_response",
    });
    ctx.put(&dp)?;
    ctx.emit("charge.dispute.created", &dp, None)?;
    let amount = dp["amount"].as_i64().unwrap_or(0);
    let bt = balance_transaction(ctx, &dp, -amount, DISPUTE_FEE, "Chargeback withdrawal")?;
    dp["balance_transactions"] = json!([bt]);
    ctx.put(&dp)?;
    ctx.emit("charge.dispute.funds_withdrawn", &dp, None)?;
    Ok(())
}

/// The card network's decision (`POST /_emulator/disputes/{id}` with `status`): `under_review`
/// (evidence submitted), or closed `won` (funds reinstated), `lost`, `warning_closed`.
pub fn decide(ctx: &mut Ctx, id: &str, status: &str) -> ApiResult<Value> {
    let mut dp = ctx.fetch("dispute", id)?;
    let before = dp["status"].clone();
    if matches!(before.as_str(), Some("won" | "lost" | "warning_closed")) {
        return Err(ApiError::invalid("This dispute is already closed."));
    }
    match status {
        "under_review" => {
            dp["status"] = json!("under_review");
            dp["evidence_details"]["has_evidence"] = json!(true);
            dp["evidence_details"]["submission_count"] = json!(1);
            ctx.put(&dp)?;
            ctx.emit(
                "charge.dispute.updated",
                &dp,
                Some(json!({ "status": before })),
            )?;
        }
        "won" | "lost" | "warning_closed" => {
            // Inquiries (warning_*) close as warning_closed; real disputes are won or lost.
            let inquiry = before.as_str().is_some_and(|b| b.starts_with("warning_"));
            if inquiry != (status == "warning_closed") {
                return Err(ApiError::param(
                    "status",
                    if inquiry {
                        "An inquiry can only be closed with warning_closed."
                    } else {
                        "A dispute is won or lost; warning_closed is for inquiries."
                    },
                ));
            }
            dp["status"] = json!(status);
            if status == "won" {
                let amount = dp["amount"].as_i64().unwrap_or(0);
                let bt = balance_transaction(ctx, &dp, amount, 0, "Chargeback reversal")?;
                if let Some(list) = dp["balance_transactions"].as_array_mut() {
                    list.push(bt);
                }
                ctx.put(&dp)?;
                ctx.emit("charge.dispute.funds_reinstated", &dp, None)?;
            } else {
                ctx.put(&dp)?;
            }
            ctx.emit(
                "charge.dispute.closed",
                &dp,
                Some(json!({ "status": before })),
            )?;
        }
        other => {
            return Err(ApiError::param(
                "status",
                format!(
                    "Invalid status: must be one of under_review, won, lost, warning_closed (not {other})."
                ),
            ));
        }
    }
    Ok(dp)
}
