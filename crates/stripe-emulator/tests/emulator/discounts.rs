//! Coupons and promotion codes.

use stripe::StripeError;
use stripe_product::coupon::{
    CreateCoupon, CreateCouponAppliesTo, DeleteCoupon, ListCoupon, RetrieveCoupon,
};
use stripe_product::promotion_code::{
    CreatePromotionCode, CreatePromotionCodePromotion, CreatePromotionCodePromotionType,
    CreatePromotionCodeRestrictions, ListPromotionCode, RetrievePromotionCode, UpdatePromotionCode,
};
use stripe_shared::CouponDuration;

use crate::support::Harness;

fn stripe_err(e: StripeError) -> (stripe::ApiErrors, u16) {
    match e {
        StripeError::Stripe(err, status) => (*err, status),
        other => panic!("expected a Stripe API error, got {other:?}"),
    }
}

async fn product(h: &Harness, name: &str) -> String {
    let (s, v) = h.post("/v1/products", &[("name", name)]).await;
    assert_eq!(s, 200, "{v}");
    v["id"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn coupons_and_promotion_codes_are_created_listed_and_validated() {
    let h = Harness::start().await;
    let c = &h.stripe;
    let tee = product(&h, "Tee").await;

    let pct = CreateCoupon::new()
        .percent_off(20.0)
        .duration(CouponDuration::Repeating)
        .duration_in_months(3)
        .name("Spring")
        .max_redemptions(10)
        .send(c)
        .await
        .unwrap();
    assert_eq!(pct.percent_off, Some(20.0));
    assert_eq!(pct.duration, CouponDuration::Repeating);
    assert_eq!(pct.duration_in_months, Some(3));
    assert_eq!((pct.times_redeemed, pct.valid), (0, true));
    assert!(pct.applies_to.is_none());
    let mut only = CreateCouponAppliesTo::new();
    only.products = Some(vec![tee.clone()]);
    let off = CreateCoupon::new()
        .id("FIVE-OFF")
        .amount_off(500)
        .currency(stripe_types::Currency::USD)
        .applies_to(only)
        .send(c)
        .await
        .unwrap();
    assert_eq!(off.id.as_str(), "FIVE-OFF");
    assert_eq!(off.duration, CouponDuration::Once, "the default duration");
    assert!(off.applies_to.is_none(), "applies_to only when expanded");
    let got = RetrieveCoupon::new("FIVE-OFF")
        .expand(vec!["applies_to".to_string()])
        .send(c)
        .await
        .unwrap();
    assert_eq!(
        got.applies_to.expect("expanded").products,
        vec![tee.clone()]
    );
    let page = ListCoupon::new().limit(1).send(c).await.unwrap();
    assert_eq!(page.data.len(), 1);
    assert!(page.has_more);
    assert_eq!(page.data[0].id.as_str(), "FIVE-OFF", "newest first");
    let next = ListCoupon::new()
        .limit(1)
        .starting_after("FIVE-OFF")
        .send(c)
        .await
        .unwrap();
    assert_eq!(next.data[0].id, pct.id);

    // Stripe's errors, each naming its parameter.
    for (form, param, needle) in [
        (
            vec![
                ("percent_off", "10"),
                ("amount_off", "100"),
                ("currency", "usd"),
            ],
            "amount_off",
            "only specify one of these parameters: amount_off, percent_off",
        ),
        (vec![("duration", "once")], "percent_off", "percent_off"),
        (
            vec![("amount_off", "100")],
            "currency",
            "Missing required param: currency",
        ),
        (
            vec![("percent_off", "120")],
            "percent_off",
            "less than or equal to 100",
        ),
        (
            vec![("percent_off", "10"), ("duration", "repeating")],
            "duration_in_months",
            "Missing required param",
        ),
        (
            vec![("percent_off", "10"), ("duration_in_months", "2")],
            "duration_in_months",
            "repeating",
        ),
        (
            vec![("percent_off", "10"), ("redeem_by", "1000")],
            "redeem_by",
            "future",
        ),
        (
            vec![
                ("percent_off", "10"),
                ("applies_to[products][]", "prod_nope"),
            ],
            "applies_to[products][0]",
            "No such product",
        ),
        (
            vec![("percent_off", "10"), ("id", "FIVE-OFF")],
            "id",
            "already exists",
        ),
        (
            vec![("percent_off", "ten")],
            "percent_off",
            "Invalid decimal",
        ),
    ] {
        let (s, e) = h.post("/v1/coupons", &form).await;
        assert_eq!(s, 400, "{form:?}: {e}");
        assert_eq!(e["error"]["param"], param, "{form:?}: {e}");
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{form:?}: {msg}");
    }

    // Promotion codes: the 2026 `promotion[coupon]` shape, and the older `coupon`.
    let mut promotion = CreatePromotionCodePromotion::new(CreatePromotionCodePromotionType::Coupon);
    promotion.coupon = Some(pct.id.as_str().to_string());
    let mut restrictions = CreatePromotionCodeRestrictions::new();
    restrictions.minimum_amount = Some(5000);
    restrictions.minimum_amount_currency = Some(stripe_types::Currency::USD);
    restrictions.first_time_transaction = Some(true);
    let spring = CreatePromotionCode::new(promotion.clone())
        .code("Spring20")
        .max_redemptions(5)
        .restrictions(restrictions)
        .send(c)
        .await
        .unwrap();
    assert!(spring.id.as_str().starts_with("promo_"));
    assert_eq!(spring.code, "Spring20");
    assert!(spring.active);
    assert_eq!(spring.times_redeemed, 0);
    assert_eq!(spring.restrictions.minimum_amount, Some(5000));
    assert!(spring.restrictions.first_time_transaction);
    match &spring.promotion.coupon {
        Some(stripe_types::Expandable::Id(id)) => assert_eq!(id.as_str(), pct.id.as_str()),
        other => panic!("promotion.coupon: {other:?}"),
    }
    let expanded = RetrievePromotionCode::new(spring.id.clone())
        .expand(vec!["promotion.coupon".to_string()])
        .send(c)
        .await
        .unwrap();
    match expanded.promotion.coupon {
        Some(stripe_types::Expandable::Object(cp)) => {
            assert_eq!(cp.name.as_deref(), Some("Spring"))
        }
        other => panic!("not expanded: {other:?}"),
    }
    let (err, status) = stripe_err(
        CreatePromotionCode::new(promotion.clone())
            .code("SPRING20")
            .send(c)
            .await
            .unwrap_err(),
    );
    assert_eq!((status, err.param.as_deref()), (400, Some("code")));
    let generated = CreatePromotionCode::new(promotion.clone())
        .send(c)
        .await
        .unwrap();
    assert_eq!(generated.code.len(), 8);
    assert_eq!(generated.code, generated.code.to_uppercase());
    let (s, legacy) = h
        .post(
            "/v1/promotion_codes",
            &[("coupon", "FIVE-OFF"), ("code", "TEE5")],
        )
        .await;
    assert_eq!(s, 200, "{legacy}");
    assert_eq!(legacy["promotion"]["coupon"], "FIVE-OFF");
    for (form, param) in [
        (vec![("code", "X1")], "promotion"),
        (vec![("coupon", "NOPE")], "coupon"),
        (
            vec![
                ("coupon", "FIVE-OFF"),
                ("restrictions[minimum_amount]", "100"),
            ],
            "restrictions[minimum_amount_currency]",
        ),
        (vec![("coupon", "FIVE-OFF"), ("code", "no spaces")], "code"),
        (
            vec![("coupon", "FIVE-OFF"), ("expires_at", "1000")],
            "expires_at",
        ),
    ] {
        let (s, e) = h.post("/v1/promotion_codes", &form).await;
        assert_eq!(
            (s, e["error"]["param"].as_str()),
            (400, Some(param)),
            "{form:?}: {e}"
        );
    }

    // Lists filter by code (any case), coupon and active.
    let by_code = ListPromotionCode::new()
        .code("spring20")
        .send(c)
        .await
        .unwrap();
    assert_eq!(by_code.data.len(), 1);
    assert_eq!(by_code.data[0].id, spring.id);
    let by_coupon = ListPromotionCode::new()
        .coupon("FIVE-OFF")
        .send(c)
        .await
        .unwrap();
    assert_eq!(by_coupon.data.len(), 1);
    let off = UpdatePromotionCode::new(spring.id.clone())
        .active(false)
        .send(c)
        .await
        .unwrap();
    assert!(!off.active);
    let inactive = ListPromotionCode::new()
        .active(false)
        .send(c)
        .await
        .unwrap();
    assert_eq!(inactive.data.len(), 1);
    assert_eq!(
        ListPromotionCode::new()
            .active(true)
            .send(c)
            .await
            .unwrap()
            .data
            .len(),
        2
    );
    // With the first one off, its code is free again.
    CreatePromotionCode::new(promotion)
        .code("spring20")
        .send(c)
        .await
        .unwrap();
    let deleted = DeleteCoupon::new("FIVE-OFF").send(c).await.unwrap();
    assert_eq!(deleted.id.as_str(), "FIVE-OFF");
    let (s, _) = h.get("/v1/coupons/FIVE-OFF", &[]).await;
    assert_eq!(s, 404);
    h.hooks.wait_for("promotion_code.updated").await;
    h.hooks.wait_for("coupon.deleted").await;
    h.stop().await;
}
