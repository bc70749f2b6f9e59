//! Coupons and promotion codes: made from the command line, listed for it.

use std::collections::HashMap;

use stripe_product::coupon::{CreateCoupon, ListCoupon};
use stripe_product::promotion_code::{
    CreatePromotionCode, CreatePromotionCodePromotion, CreatePromotionCodePromotionType,
    CreatePromotionCodeRestrictions, ListPromotionCode,
};
use stripe_shared::{Coupon, CouponDuration, PromotionCode};

use super::{PaymentError, Stripe, currency};
use crate::promotions::terms::{Duration, Off, Terms};

/// The metadata key that records which terms made a code (their fingerprint), so a retried
/// command recognises its own code.
pub const TERMS_KEY: &str = "storefront_terms";

/// Creates the coupon and its promotion code, each keyed by the terms' fingerprint: a retry of
/// the same command replays both instead of creating a second coupon.
pub async fn create(
    stripe: &Stripe,
    terms: &Terms,
) -> Result<(Coupon, PromotionCode), PaymentError> {
    let fingerprint = terms.fingerprint();
    let metadata = HashMap::from([(TERMS_KEY.to_owned(), fingerprint.clone())]);
    let mut coupon = CreateCoupon::new()
        .name(terms.name.clone())
        .metadata(metadata.clone());
    coupon = match terms.off {
        // Stripe takes a decimal percentage; ours is a whole number, exact as a float.
        Off::Percent(p) => coupon.percent_off(f64::from(p)),
        Off::Amount(m) => coupon
            .amount_off(m.amount)
            .currency(currency(m.currency.code())?),
    };
    coupon = match terms.duration {
        Duration::Once => coupon.duration(CouponDuration::Once),
        Duration::Forever => coupon.duration(CouponDuration::Forever),
        Duration::Repeating { months } => coupon
            .duration(CouponDuration::Repeating)
            .duration_in_months(i64::from(months)),
    };
    let coupon = stripe
        .write(&coupon, &format!("coupon-{fingerprint}"))
        .await?;

    let mut promotion = CreatePromotionCodePromotion::new(CreatePromotionCodePromotionType::Coupon);
    promotion.coupon = Some(coupon.id.as_str().to_owned());
    let mut code = CreatePromotionCode::new(promotion)
        .code(terms.code.clone())
        .metadata(metadata);
    if let Some(n) = terms.max_redemptions {
        code = code.max_redemptions(n);
    }
    if let Some(t) = terms.expires_at {
        code = code.expires_at(t);
    }
    if let Some(min) = terms.minimum {
        let mut restrictions = CreatePromotionCodeRestrictions::new();
        restrictions.minimum_amount = Some(min.amount);
        restrictions.minimum_amount_currency = Some(currency(min.currency.code())?);
        code = code.restrictions(restrictions);
    }
    let code = stripe
        .write(&code, &format!("promotion-code-{fingerprint}"))
        .await?;
    Ok((coupon, code))
}

/// The active promotion code customers would get for `code` (Stripe matches codes
/// case-insensitively), if any.
pub async fn find_active(
    stripe: &Stripe,
    code: &str,
) -> Result<Option<PromotionCode>, PaymentError> {
    let req = ListPromotionCode::new()
        .code(code.to_owned())
        .active(true)
        .limit(1);
    Ok(stripe.read(&req).await?.data.into_iter().next())
}

/// Most objects one page may hold (Stripe's limit).
const PAGE: i64 = 100;

/// Every promotion code, newest first.
pub async fn list_codes(stripe: &Stripe) -> Result<Vec<PromotionCode>, PaymentError> {
    let mut all: Vec<PromotionCode> = vec![];
    loop {
        let mut req = ListPromotionCode::new().limit(PAGE);
        if let Some(last) = all.last() {
            req = req.starting_after(last.id.as_str().to_owned());
        }
        let page = stripe.read(&req).await?;
        all.extend(page.data);
        if !page.has_more {
            return Ok(all);
        }
    }
}

/// Every coupon, by id.
pub async fn coupons(stripe: &Stripe) -> Result<HashMap<String, Coupon>, PaymentError> {
    let mut all: Vec<Coupon> = vec![];
    loop {
        let mut req = ListCoupon::new().limit(PAGE);
        if let Some(last) = all.last() {
            req = req.starting_after(last.id.as_str().to_owned());
        }
        let page = stripe.read(&req).await?;
        all.extend(page.data);
        if !page.has_more {
            return Ok(all
                .into_iter()
                .map(|c| (c.id.as_str().to_owned(), c))
                .collect());
        }
    }
}
