//! Balance transactions: what each charge, refund and dispute did to the account's balance,
//! with Stripe's fee. The test fee is deterministic — 2.9 % (rounded half up) + 30 minor units
//! per successful charge — so tests can compute what the shop should have stored. The emulated
//! account settles in the charge's own currency (no conversion, `exchange_rate` null).

use serde_json::{Value, json};

use super::api::{Routed, expand_of, list_simple};
use super::error::ApiResult;
use super::form::{P, check};
use super::store::{Ctx, new_id};

const EXPAND_ONLY: &[(&str, P)] = &[("expand", P::Arr(&P::Str))];

/// Stripe's processing fee on a charge of `amount` in the emulator.
pub fn processing_fee(amount: i64) -> i64 {
    (amount * 29 + 500) / 1000 + 30
}

pub fn route(ctx: &mut Ctx, method: &str, segs: &[&str], raw: &Value) -> ApiResult<Option<Routed>> {
    Ok(Some(match (method, segs) {
        ("GET", ["balance_transactions"]) => list_simple(
            ctx,
            raw,
            "balance_transaction",
            "/v1/balance_transactions",
            &[("source", P::Str), ("type", P::Str), ("currency", P::Str)],
        )?,
        ("GET", ["balance_transactions", id]) => {
            let p = check(&P::Obj(EXPAND_ONLY), raw, "")?;
            (ctx.fetch("balance_transaction", id)?, expand_of(&p))
        }
        _ => return Ok(None),
    }))
}

/// What kind of movement a balance transaction records.
pub struct Movement<'a> {
    /// `type`: charge, refund, refund_failure, adjustment.
    pub kind: &'a str,
    /// `reporting_category`: charge, refund, refund_failure, dispute, dispute_reversal.
    pub category: &'a str,
    pub description: String,
    /// The fee's line description, when there is a fee.
    pub fee_label: &'a str,
}

/// Stores a balance transaction for `source` (a charge, refund or dispute) and returns it.
pub fn record(
    ctx: &mut Ctx,
    source: &Value,
    amount: i64,
    fee: i64,
    m: Movement,
) -> ApiResult<Value> {
    let currency = source["currency"].clone();
    let bt = json!({
        "id": new_id("txn_"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": ctx.now + 2 * 86_400,
        "balance_type": "payments",
        "created": ctx.now,
        "currency": currency,
        "description": m.description,
        "exchange_rate": null,
        "fee": fee,
        "fee_details": if fee != 0 {
            json!([{ "amount": fee, "application": null, "currency": currency, "description": m.fee_label, "type": "stripe_fee" }])
        } else {
            json!([])
        },
        "net": amount - fee,
        "reporting_category": m.category,
        "source": source["id"],
        "status": "pending",
        "type": m.kind,
    });
    ctx.put(&bt)?;
    Ok(bt)
}

/// A charge that has just succeeded gets its balance transaction (amount less the fee).
pub fn charge_succeeded(ctx: &mut Ctx, ch: &mut Value) -> ApiResult<()> {
    if ch["balance_transaction"].is_string() {
        return Ok(());
    }
    let amount = ch["amount"].as_i64().unwrap_or(0);
    let bt = record(
        ctx,
        ch,
        amount,
        processing_fee(amount),
        Movement {
            kind: "charge",
            category: "charge",
            description: format!(
                "Payment for {}",
                ch["payment_intent"].as_str().unwrap_or_default()
            ),
            fee_label: "Stripe processing fees",
        },
    )?;
    ch["balance_transaction"] = bt["id"].clone();
    Ok(())
}

/// A refund's balance transaction: the money leaves the balance; Stripe keeps its fee.
pub fn refunded(ctx: &mut Ctx, re: &mut Value) -> ApiResult<()> {
    let amount = re["amount"].as_i64().unwrap_or(0);
    let bt = record(
        ctx,
        re,
        -amount,
        0,
        Movement {
            kind: "refund",
            category: "refund",
            description: "REFUND FOR CHARGE".to_owned(),
            fee_label: "",
        },
    )?;
    re["balance_transaction"] = bt["id"].clone();
    Ok(())
}

/// A refund that failed gives its money back to the balance.
pub fn refund_failed(ctx: &mut Ctx, re: &mut Value) -> ApiResult<()> {
    let amount = re["amount"].as_i64().unwrap_or(0);
    let bt = record(
        ctx,
        re,
        amount,
        0,
        Movement {
            kind: "refund_failure",
            category: "refund_failure",
            description: "REFUND FAILURE".to_owned(),
            fee_label: "",
        },
    )?;
    re["failure_balance_transaction"] = bt["id"].clone();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::processing_fee;

    #[test]
    fn the_test_fee_is_2_9_percent_plus_30() {
        assert_eq!(processing_fee(1000), 59);
        assert_eq!(processing_fee(2300), 97); // 66.7 → 67
        assert_eq!(processing_fee(50), 31); // 1.45 → 1
        assert_eq!(processing_fee(100_000), 2930);
    }
}
