//! The purchase path: product page, cart, checkout, paying on the emulator's hosted page.

use super::{REQUEST_TIMEOUT, TestApp, assert_redirect_to, csrf_token, location, select_attr};

pub const CARD_OK: &str = "4242424242424242";

/// Where test parcels go unless a test says otherwise (New York: no tax in the emulator's table).
pub const SHIP_TO_NEW_YORK: [(&str, &str); 6] = [
    ("shipping_name", "Ada Lovelace"),
    ("shipping_line1", "350 Fifth Avenue"),
    ("shipping_city", "New York"),
    ("shipping_state", "NY"),
    ("shipping_postal_code", "10118"),
    ("shipping_country", "US"),
];
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_INSUFFICIENT: &str = "4000000000009995";
pub const CARD_3DS: &str = "4000002500003155";

impl TestApp {
    /// The CSRF token and first price id of a product page, as a browser would see them.
    pub async fn product_form(&self, client: &reqwest::Client, slug: &str) -> (String, String) {
        let html = client
            .get(self.url(&format!("/products/{slug}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let price = select_attr(&html, "input[name=price_id]", "value")
            .into_iter()
            .next()
            .unwrap_or_default();
        (csrf_token(&html), price)
    }

    pub async fn add_to_cart_with(
        &self,
        client: &reqwest::Client,
        slug: &str,
        quantity: &str,
    ) -> reqwest::Response {
        let (token, price) = self.product_form(client, slug).await;
        client
            .post(self.url("/cart/items"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("price_id", price.as_str()),
                ("quantity", quantity),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn add_to_cart(&self, slug: &str, quantity: u32) {
        let res = self
            .add_to_cart_with(&self.client, slug, &quantity.to_string())
            .await;
        assert_redirect_to(&res, "/cart");
    }

    pub async fn cart_html(&self) -> String {
        self.get_html("/cart").await.1
    }

    /// Posts the cart's checkout form.
    pub async fn checkout_with(&self, client: &reqwest::Client, email: &str) -> reqwest::Response {
        let html = client
            .get(self.url("/cart"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let token = csrf_token(&html);
        client
            .post(self.url("/checkout"))
            .form(&[("csrf_token", token.as_str()), ("email", email)])
            .send()
            .await
            .unwrap()
    }

    /// Checks out and returns the Checkout Session URL it redirects to.
    pub async fn checkout(&self) -> String {
        let res = self
            .checkout_with(&self.client, "shopper@example.com")
            .await;
        assert_eq!(
            res.status().as_u16(),
            303,
            "checkout: {}",
            res.text().await.unwrap_or_default()
        );
        location(&res)
    }

    /// Pays on the emulator's hosted page (another client: Stripe's page has its own cookies).
    pub async fn pay(&self, session_url: &str, card: &str) -> reqwest::Response {
        self.pay_with(
            session_url,
            &[
                ("card_number", card),
                ("card_expiry", "12 / 34"),
                ("card_cvc", "123"),
            ],
        )
        .await
    }

    /// Posts the hosted page's payment form: the e-mail, a card payment, `fields` (the card, or
    /// a saved card's id), and a New York address.
    pub async fn pay_with(&self, session_url: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap()
            .post(session_url)
            .form(
                &[("email", "shopper@example.com"), ("method", "card")]
                    .into_iter()
                    .chain(fields.iter().copied())
                    // Asked for physical goods; ignored by a session that collects no address.
                    .chain(SHIP_TO_NEW_YORK)
                    .collect::<Vec<_>>(),
            )
            .send()
            .await
            .unwrap()
    }

    /// Pays with a card that works and returns the success URL Stripe sends the shopper to.
    pub async fn pay_ok(&self, session_url: &str) -> String {
        let res = self.pay(session_url, CARD_OK).await;
        assert_eq!(
            res.status().as_u16(),
            303,
            "payment: {}",
            res.text().await.unwrap_or_default()
        );
        location(&res)
    }
}

/// Pays on the hosted page by US bank debit from `account` (processing until it settles), as
/// `email`; the response (not followed).
pub async fn pay_by_bank(session_url: &str, email: &str, account: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap()
        .post(session_url)
        .form(
            &[
                ("email", email),
                ("method", "us_bank_account"),
                ("account_number", account),
                ("routing_number", "110000000"),
            ]
            .into_iter()
            .chain(SHIP_TO_NEW_YORK)
            .collect::<Vec<_>>(),
        )
        .send()
        .await
        .unwrap()
}

pub fn session_id_of(url: &str) -> String {
    url.rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}
