//! `storefront stripe coupon create|list`: against the configured Stripe, or in demo mode the
//! emulator state the demo shop uses (`EMULATOR_DB`), so a code made here works on its Checkout.

use anyhow::Context as _;
use stripe_shared::{Coupon, CouponDuration, PromotionCode};

use super::terms::{CreateArgs, Terms};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::money::{Currency, Money};
use crate::payments::coupons;
use crate::startup::StartError;

pub async fn create(config: Config, args: &CreateArgs) -> Result<(), StartError> {
    // Bad flags are refused before anything starts.
    let terms =
        Terms::parse(args, config.currency, SystemClock.unix()).map_err(anyhow::Error::msg)?;
    let shop = config.currency;
    let (state, emulator) = crate::cli::command_state(config).await?;
    let result = create_with(&state.stripe, &terms, shop).await;
    if let Some(e) = emulator {
        e.stop().await;
    }
    result
}

async fn create_with(
    stripe: &crate::payments::Stripe,
    terms: &Terms,
    shop: Currency,
) -> Result<(), StartError> {
    if let Some(existing) = coupons::find_active(stripe, &terms.code)
        .await
        .context("looking the code up at Stripe")?
    {
        let ours = existing
            .metadata
            .as_ref()
            .and_then(|m| m.get(coupons::TERMS_KEY))
            == Some(&terms.fingerprint());
        if !ours {
            return Err(anyhow::anyhow!(
                "--code: an active promotion code {} already exists ({}); choose another code",
                existing.code,
                existing.id.as_str()
            )
            .into());
        }
        // The same command ran before (perhaps cut short): its code is the answer.
    }
    let (coupon, code) = coupons::create(stripe, terms)
        .await
        .context("creating the coupon and promotion code")?;
    println!("promotion code {}: {}", code.code, describe(&coupon, &code));
    println!(
        "  promotion code {}, coupon {} ({:?})",
        code.id.as_str(),
        coupon.id.as_str(),
        coupon.name.as_deref().unwrap_or_default()
    );
    println!("customers enter {} on the Checkout page", code.code);
    let other = [
        coupon.currency.as_ref(),
        code.restrictions.minimum_amount_currency.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|c| c.to_string())
    .find(|c| c != shop.code());
    if let Some(c) = other {
        eprintln!(
            "note: the shop sells in {}; an amount in {} applies only to {} purchases",
            shop.code().to_uppercase(),
            c.to_uppercase(),
            c.to_uppercase()
        );
    }
    Ok(())
}

pub async fn list(config: Config) -> Result<(), StartError> {
    let (state, emulator) = crate::cli::command_state(config).await?;
    let result = list_with(&state.stripe).await;
    if let Some(e) = emulator {
        e.stop().await;
    }
    result
}

async fn list_with(stripe: &crate::payments::Stripe) -> Result<(), StartError> {
    let codes = coupons::list_codes(stripe)
        .await
        .context("listing promotion codes")?;
    let coupons = coupons::coupons(stripe).await.context("listing coupons")?;
    if codes.is_empty() {
        println!("no promotion codes");
    }
    for code in &codes {
        let coupon_id = code
            .promotion
            .coupon
            .as_ref()
            .map(|c| c.id().as_str().to_owned())
            .unwrap_or_default();
        let what = match coupons.get(&coupon_id) {
            Some(coupon) => describe(coupon, code),
            None => format!("coupon {coupon_id} (deleted)"),
        };
        let used = match code.max_redemptions {
            Some(max) => format!("used {} of {max} times", code.times_redeemed),
            None => format!("used {} times", code.times_redeemed),
        };
        println!(
            "{}\t{}\t{what}; {used}\t({}, coupon {coupon_id})",
            code.code,
            if code.active { "active" } else { "inactive" },
            code.id.as_str()
        );
    }
    Ok(())
}

/// "20% off once, up to 100 uses, until 2026-12-31 23:59 UTC, on orders of $50.00 or more".
pub fn describe(coupon: &Coupon, code: &PromotionCode) -> String {
    let money =
        |amount: i64, currency: Option<String>| match currency.as_deref().map(Currency::parse) {
            Some(Ok(c)) => Money::new(amount, c).to_string(),
            _ => amount.to_string(),
        };
    let off = match (coupon.percent_off, coupon.amount_off) {
        // Stripe's percentages are decimals; whole ones print without a fraction.
        (Some(p), _) => format!("{p}% off"),
        (None, Some(a)) => format!(
            "{} off",
            money(a, coupon.currency.as_ref().map(|c| c.to_string()))
        ),
        (None, None) => "nothing off".to_owned(),
    };
    let duration = match (&coupon.duration, coupon.duration_in_months) {
        (CouponDuration::Forever, _) => "forever".to_owned(),
        (CouponDuration::Repeating, Some(1)) => "for 1 month".to_owned(),
        (CouponDuration::Repeating, Some(n)) => format!("for {n} months"),
        _ => "once".to_owned(),
    };
    let mut parts = vec![format!("{off} {duration}")];
    if let Some(max) = code.max_redemptions {
        parts.push(format!("up to {max} uses"));
    }
    if let Some(t) = code.expires_at
        && let Some(when) = chrono::DateTime::<chrono::Utc>::from_timestamp(t, 0)
    {
        parts.push(format!("until {}", when.format("%Y-%m-%d %H:%M UTC")));
    }
    if let Some(min) = code.restrictions.minimum_amount {
        let currency = code
            .restrictions
            .minimum_amount_currency
            .as_ref()
            .map(|c| c.to_string());
        parts.push(format!("on orders of {} or more", money(min, currency)));
    }
    parts.join(", ")
}
