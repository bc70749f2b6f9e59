//! Coupons and promotion codes made through the emulator's API, and codes typed on its page.

use super::{TestApp, plain_client};

impl TestApp {
    /// A coupon with `terms` (`percent_off`, `duration`, …) and an active promotion code `code`
    /// for it; the coupon's id.
    pub async fn coupon_with_code(&self, code: &str, terms: &[(&str, &str)]) -> String {
        let coupon = self.emulator_post("v1/coupons", terms).await;
        let coupon = coupon["id"].as_str().expect("coupon id").to_owned();
        let promo = self
            .emulator_post(
                "v1/promotion_codes",
                &[
                    ("promotion[type]", "coupon"),
                    ("promotion[coupon]", coupon.as_str()),
                    ("code", code),
                ],
            )
            .await;
        assert_eq!(promo["code"], code, "{promo}");
        coupon
    }
}

/// Types `code` into the hosted Checkout page's promotion code field; the status and the page.
pub async fn apply_promotion_code(session_url: &str, code: &str) -> (u16, String) {
    let res = plain_client()
        .post(format!("{session_url}/promotion_code"))
        .form(&[("promotion_code", code), ("action", "apply")])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}
