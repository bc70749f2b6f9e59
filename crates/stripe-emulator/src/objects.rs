//! Builders for the Stripe objects the emulator stores, shaped like API version
//! `2026-09-30.endive` (every field async-stripe rc.10 requires, plus the common optional ones).

use serde_json::{Value, json};

use super::store::new_id;

pub const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

pub fn list(data: Vec<Value>, has_more: bool, url: &str) -> Value {
    json!({ "object": "list", "data": data, "has_more": has_more, "url": url })
}

pub fn empty_address() -> Value {
    json!({ "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null })
}

pub fn product(id: String, now: i64, name: &str) -> Value {
    json!({
        "id": id,
        "object": "product",
        "active": true,
        "created": now,
        "default_price": null,
        "description": null,
        "images": [],
        "livemode": false,
        "marketing_features": [],
        "metadata": {},
        "name": name,
        "package_dimensions": null,
        "shippable": null,
        "statement_descriptor": null,
        "tax_code": null,
        "type": "service",
        "unit_label": null,
        "updated": now,
        "url": null,
    })
}

pub fn price(
    now: i64,
    currency: &str,
    unit_amount: i64,
    product: &str,
    recurring: Option<Value>,
) -> Value {
    let recurring = recurring.map(|r| {
        json!({
            "interval": r["interval"].as_str().unwrap_or("month"),
            "interval_count": r["interval_count"].as_i64().unwrap_or(1),
            "meter": null,
            "trial_period_days": r.get("trial_period_days").cloned().unwrap_or(Value::Null),
            "usage_type": r["usage_type"].as_str().unwrap_or("licensed"),
        })
    });
    json!({
        "id": new_id("price_"),
        "object": "price",
        "active": true,
        "billing_scheme": "per_unit",
        "created": now,
        "currency": currency,
        "custom_unit_amount": null,
        "livemode": false,
        "lookup_key": null,
        "metadata": {},
        "nickname": null,
        "product": product,
        "type": if recurring.is_some() { "recurring" } else { "one_time" },
        "recurring": recurring,
        "tax_behavior": "unspecified",
        "tiers_mode": null,
        "transform_quantity": null,
        "unit_amount": unit_amount,
        "unit_amount_decimal": unit_amount.to_string(),
    })
}

pub fn customer(now: i64) -> Value {
    json!({
        "id": new_id("cus_"),
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": now,
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": null,
        "discount": null,
        "email": null,
        "invoice_prefix": super::store::random_token(8).to_uppercase(),
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": null,
            "footer": null,
            "rendering_options": null
        },
        "livemode": false,
        "metadata": {},
        "name": null,
        "next_invoice_sequence": 1,
        "phone": null,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null,
    })
}

pub fn checkout_session(now: i64, origin: &str, mode: &str) -> Value {
    let id = new_id("cs_test_");
    let url = format!("{origin}/c/pay/{id}");
    merge(vec![
        json!({
            "id": id,
            "object": "checkout.session",
            "adaptive_pricing": null,
            "after_expiration": null,
            "allow_promotion_codes": null,
            "amount_subtotal": 0,
            "amount_total": 0,
            "automatic_tax": { "enabled": false, "liability": null, "provider": null, "status": null },
            "billing_address_collection": null,
            "cancel_url": null,
            "client_reference_id": null,
            "client_secret": null,
            "collected_information": null,
            "consent": null,
            "consent_collection": null,
            "created": now,
            "currency": null,
            "currency_conversion": null,
            "custom_fields": [],
            "custom_text": { "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null },
            "customer": null,
            "customer_creation": if mode == "payment" { json!("if_required") } else { Value::Null },
        }),
        json!({
            "customer_details": null,
            "customer_email": null,
            "discounts": [],
            "expires_at": now + 86_400,
            "invoice": null,
            "invoice_creation": if mode == "payment" {
                json!({ "enabled": false, "invoice_data": { "account_tax_ids": null, "custom_fields": null, "description": null, "footer": null, "issuer": null, "metadata": {}, "rendering_options": null } })
            } else { Value::Null },
            "livemode": false,
            "locale": null,
            "metadata": {},
            "mode": mode,
            "payment_intent": null,
            "payment_link": null,
        }),
        json!({
            "payment_method_collection": if mode == "subscription" { json!("always") } else { Value::Null },
            "payment_method_configuration_details": null,
            "payment_method_options": {},
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "phone_number_collection": { "enabled": false },
            "recovered_from": null,
            "saved_payment_method_options": null,
            "setup_intent": null,
            "shipping_address_collection": null,
            "shipping_cost": null,
            "shipping_options": [],
            "status": "open",
            "submit_type": null,
            "subscription": null,
            "success_url": null,
            "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
            "ui_mode": "hosted_page",
            "url": url,
            "wallet_options": null,
        }),
    ])
}

pub fn line_item(price: &Value, quantity: i64, description: &str) -> Value {
    let amount = price["unit_amount"].as_i64().unwrap_or(0) * quantity;
    json!({
        "id": new_id("li_"),
        "object": "item",
        "adjustable_quantity": null,
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price["currency"],
        "description": description,
        "metadata": {},
        "price": super::store::public(price),
        "quantity": quantity,
    })
}

pub fn payment_intent(now: i64, amount: i64, currency: &str) -> Value {
    let id = new_id("pi_");
    let secret = format!("{id}_secret_{}", super::store::random_token(24));
    merge(vec![
        json!({
            "id": id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": { "tip": {} },
            "amount_received": 0,
            "application": null,
            "application_fee_amount": null,
            "automatic_payment_methods": null,
            "canceled_at": null,
            "cancellation_reason": null,
            "capture_method": "automatic",
            "client_secret": secret,
            "confirmation_method": "automatic",
            "created": now,
            "currency": currency,
            "customer": null,
            "description": null,
            "excluded_payment_method_types": null,
        }),
        json!({
            "last_payment_error": null,
            "latest_charge": null,
            "livemode": false,
            "metadata": {},
            "next_action": null,
            "on_behalf_of": null,
            "payment_method": null,
            "payment_method_configuration_details": null,
            "payment_method_options": {},
            "payment_method_types": ["card"],
            "processing": null,
            "receipt_email": null,
            "review": null,
            "setup_future_usage": null,
            "shipping": null,
            "source": null,
            "statement_descriptor": null,
            "statement_descriptor_suffix": null,
            "status": "requires_payment_method",
            "transfer_data": null,
            "transfer_group": null,
        }),
    ])
}

/// Card details kept on the charge and in the payment method.
#[derive(Debug, Clone)]
pub struct Card {
    pub number: String,
    pub exp_month: i64,
    pub exp_year: i64,
}

impl Card {
    pub fn last4(&self) -> &str {
        &self.number[self.number.len().saturating_sub(4)..]
    }
    pub fn brand(&self) -> &'static str {
        match self.number.as_bytes().first() {
            Some(b'4') => "visa",
            Some(b'5') | Some(b'2') => "mastercard",
            Some(b'3') => "amex",
            Some(b'6') => "discover",
            _ => "unknown",
        }
    }
}

pub fn card_details(card: &Card) -> Value {
    json!({
        "amount_authorized": null,
        "authorization_code": null,
        "brand": card.brand(),
        "checks": { "address_line1_check": null, "address_postal_code_check": null, "cvc_check": "pass" },
        "country": "US",
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "fingerprint": format!("emu{}", card.number),
        "funding": "credit",
        "installments": null,
        "last4": card.last4(),
        "mandate": null,
        "network": card.brand(),
        "network_token": { "used": false },
        "network_transaction_id": null,
        "regulated_status": null,
        "three_d_secure": null,
        "wallet": null,
    })
}

pub fn bank_details() -> Value {
    json!({
        "account_holder_type": "individual",
        "account_type": "checking",
        "bank_name": "STRIPE TEST BANK",
        "fingerprint": "emuBankFingerprint",
        "last4": "6789",
        "mandate": null,
        "payment_reference": null,
        "routing_number": "110000000",
    })
}

#[allow(clippy::too_many_arguments)]
pub fn charge(
    now: i64,
    pi: &Value,
    method: &Value,
    pm_id: &str,
    email: Option<&str>,
    paid: bool,
    status: &str,
    failure: Option<(&str, &str, Option<&str>)>,
) -> Value {
    let id = new_id("ch_");
    let amount = pi["amount"].as_i64().unwrap_or(0);
    let outcome = match failure {
        None => json!({
            "advice_code": null, "network_advice_code": null, "network_decline_code": null,
            "network_status": "approved_by_network", "reason": null, "risk_level": "normal",
            "risk_score": 20, "seller_message": "Payment complete.", "type": "authorized"
        }),
        Some((_, _, decline)) => json!({
            "advice_code": null, "network_advice_code": null, "network_decline_code": null,
            "network_status": "declined_by_network", "reason": decline, "risk_level": "normal",
            "risk_score": 20, "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined"
        }),
    };
    merge(vec![
        json!({
            "id": id,
            "object": "charge",
            "amount": amount,
            "amount_captured": if paid { amount } else { 0 },
            "amount_refunded": 0,
            "application": null,
            "application_fee": null,
            "application_fee_amount": null,
            // Set by `balance::charge_succeeded` when the charge succeeds.
            "balance_transaction": null,
            "billing_details": { "address": empty_address(), "email": email, "name": null, "phone": null, "tax_id": null },
            "calculated_statement_descriptor": "STOREFRONT",
            "captured": paid,
            "created": now,
            "currency": pi["currency"],
            "customer": pi["customer"],
            "description": pi["description"],
            "disputed": false,
        }),
        json!({
            "failure_balance_transaction": null,
            "failure_code": failure.map(|f| f.0),
            "failure_message": failure.map(|f| f.1),
            "fraud_details": {},
            "livemode": false,
            "metadata": pi["metadata"],
            "on_behalf_of": null,
            "outcome": outcome,
            "paid": paid,
            "payment_intent": pi["id"],
            "payment_method": pm_id,
            "payment_method_details": method,
            "receipt_email": email,
            "receipt_number": null,
            "receipt_url": null,
            "refunded": false,
            "review": null,
            "shipping": null,
            "source": null,
            "source_transfer": null,
            "statement_descriptor": null,
            "statement_descriptor_suffix": null,
            "status": status,
            "transfer_data": null,
            "transfer_group": null,
        }),
    ])
}

pub fn refund(now: i64, charge: &Value, amount: i64, reason: Option<&str>, status: &str) -> Value {
    // Optional fields that are never null (description, failure_*, next_action…) are omitted.
    json!({
        "id": new_id("re_"),
        "object": "refund",
        "amount": amount,
        // Set by `balance::refunded` once stored.
        "balance_transaction": null,
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "customer": charge["customer"],
        "destination_details": { "card": { "reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund" }, "type": "card" },
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "pending_reason": null,
        "reason": reason,
        "receipt_number": null,
        "source_transfer_reversal": null,
        "status": status,
        "transfer_reversal": null,
    })
}

pub fn webhook_endpoint(now: i64, url: &str, events: Vec<String>, secret: &str) -> Value {
    json!({
        "id": new_id("we_"),
        "object": "webhook_endpoint",
        "api_version": null,
        "application": null,
        "created": now,
        "description": null,
        "enabled_events": events,
        "livemode": false,
        "metadata": {},
        "secret": secret,
        "status": "enabled",
        "url": url,
    })
}

/// `12.34 USD`-style display of an amount in minor units.
pub fn format_amount(amount: i64, currency: &str) -> String {
    let cur = currency.to_ascii_lowercase();
    let neg = amount < 0;
    let abs = amount.unsigned_abs();
    let (major, minor) = if ZERO_DECIMAL.contains(&cur.as_str()) {
        (abs, None)
    } else {
        (abs / 100, Some(abs % 100))
    };
    let digits = major.to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let number = match minor {
        Some(m) => format!("{grouped}.{m:02}"),
        None => grouped,
    };
    let symbol = match cur.as_str() {
        "usd" => Some("$"),
        "eur" => Some("€"),
        "gbp" => Some("£"),
        "jpy" => Some("¥"),
        _ => None,
    };
    let sign = if neg { "-" } else { "" };
    match symbol {
        Some(s) => format!("{sign}{s}{number}"),
        None => format!("{sign}{number} {}", cur.to_uppercase()),
    }
}

/// Join JSON objects (large literals are split to stay under `json!`'s recursion limit).
pub fn merge(parts: Vec<Value>) -> Value {
    let mut out = serde_json::Map::new();
    for part in parts {
        if let Value::Object(m) = part {
            out.extend(m);
        }
    }
    Value::Object(out)
}

/// The emulator's one account (`GET /v1/account`): settles in US dollars.
pub fn account() -> Value {
    json!({
        "id": "acct_emulator",
        "object": "account",
        "business_profile": { "name": "Stripe emulator", "url": null },
        "business_type": null,
        "capabilities": { "card_payments": "active", "transfers": "active" },
        "charges_enabled": true,
        "controller": { "type": "account" },
        "country": "US",
        "created": 1_700_000_000,
        "default_currency": "usd",
        "details_submitted": true,
        "email": null,
        "payouts_enabled": true,
        "settings": null,
        "type": "standard",
    })
}

/// `GET /v1/tax/settings`: the emulator computes tax (for some addresses), so it is active.
pub fn tax_settings() -> Value {
    json!({
        "object": "tax.settings",
        "defaults": { "tax_behavior": null, "tax_code": "txcd_10000000" },
        "head_office": { "address": { "city": "San Francisco", "country": "US", "line1": "510 Townsend St", "line2": null, "postal_code": "94103", "state": "CA" } },
        "livemode": false,
        "status": "active",
        "status_details": { "active": {} },
    })
}
