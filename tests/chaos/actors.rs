//! The people using the shop during the run: shoppers, subscribers, customers who forgot their
//! password, and two admins refunding at once. Each goes through the load balancer as a browser
//! would (cookies, CSRF tokens, redirects by hand) and pays on the emulator's hosted page.
//! Nothing here panics on an answer it did not expect: it is written down as a `Problem` and the
//! run goes on, so one report lists everything.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::html::{csrf_token, location, select_attr};

pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";
pub const CARD_3DS: &str = "4000002500003155";
pub const BANK_OK: &str = "000123456789";
pub const BANK_FAILS: &str = "000111111113";
pub const PASSWORD: &str = "correct horse battery staple";

/// What the actors saw, for the report and the invariants.
#[derive(Default)]
pub struct Journal {
    /// Answers that break a rule by themselves (a 500 page, a missing form, a lost order).
    pub problems: Vec<String>,
    pub counts: std::collections::BTreeMap<&'static str, u64>,
    /// Refund form tokens submitted per order number (each may make at most one refund).
    pub refund_tokens: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    /// Payment pages left open, to come back to after they expired.
    pub abandoned: Vec<(String, String)>,
}

pub type Shared = Arc<Mutex<Journal>>;

pub fn count(j: &Shared, what: &'static str) {
    *j.lock().unwrap().counts.entry(what).or_default() += 1;
}

pub fn problem(j: &Shared, what: String) {
    eprintln!("chaos: PROBLEM {what}");
    j.lock().unwrap().problems.push(what);
}

/// A browser: its own cookies, its own client address (sent as `X-Forwarded-For`, which the
/// shops trust only from the balancer's address).
#[derive(Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

impl Browser {
    pub fn new(base: &str, ip: &str) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", ip.parse().unwrap());
        // What a browser says of a form posted from the shop's own page.
        headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(headers)
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// GET: status and body (a transport error is status 0).
    pub async fn get(&self, path: &str) -> (u16, String) {
        match self.client.get(self.url(path)).send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                (status, res.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    }

    /// GET: status, `Location` and body (a transport error is status 0).
    pub async fn get_with_location(&self, path: &str) -> (u16, String, String) {
        match self.client.get(self.url(path)).send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let loc = location(&res);
                (status, loc, res.text().await.unwrap_or_default())
            }
            Err(e) => (0, String::new(), e.to_string()),
        }
    }

    /// POST a form: status, `Location` and body.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        match self.client.post(self.url(path)).form(form).send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let loc = location(&res);
                (status, loc, res.text().await.unwrap_or_default())
            }
            Err(e) => (0, String::new(), e.to_string()),
        }
    }

    /// Posts the form with `action` found on `page`, with the page's CSRF token.
    pub async fn submit(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Option<(u16, String, String)> {
        let (status, html) = self.get(page).await;
        if matches!(status, 502 | 503) {
            return Some((status, String::new(), html));
        }
        if status != 200
            || !select_attr(&html, "form", "action")
                .iter()
                .any(|a| a == action)
        {
            return None;
        }
        let token = csrf_token(&html);
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        Some(self.post(action, &form).await)
    }
}

/// How a shopper pays (chosen by the run's seed).
#[derive(Debug, Clone, Copy)]
pub enum Payment {
    Card,
    /// Declined, then (if `retry`) paid with a good card on the same page.
    Declined {
        retry: bool,
    },
    /// 3-D Secure: approved or failed.
    ThreeDs {
        approve: bool,
    },
    Bank {
        settles: bool,
    },
    /// Never pays: the session expires (the emulator's clock moves at the end).
    Abandon,
}

impl Payment {
    pub fn pick(rng: &mut impl rand::Rng) -> Payment {
        match rng.random_range(0..100) {
            0..8 => Payment::Declined {
                retry: rng.random_bool(0.5),
            },
            8..15 => Payment::ThreeDs {
                approve: rng.random_bool(0.4),
            },
            15..23 => Payment::Bank {
                settles: rng.random_bool(0.7),
            },
            23..30 => Payment::Abandon,
            _ => Payment::Card,
        }
    }
}

/// One purchase, planned up front from the seed so a run can be replayed.
#[derive(Debug, Clone)]
pub struct Plan {
    pub n: usize,
    /// (product slug, which of its prices — a variant —, quantity)
    pub lines: Vec<(&'static str, usize, u32)>,
    /// Adds this line after the session is made, then checks out again.
    pub change: Option<(&'static str, usize, u32)>,
    pub payment: Payment,
    /// After changing the cart, also tries to pay the old (expired) payment page.
    pub pay_old: bool,
    /// Types the shop's promotion code on the payment page (it runs out during the run).
    pub promo: bool,
}

const SHIP_TO: [(&str, &str); 6] = [
    ("shipping_name", "Ada Lovelace"),
    ("shipping_line1", "350 Fifth Avenue"),
    ("shipping_city", "New York"),
    ("shipping_state", "NY"),
    ("shipping_postal_code", "10118"),
    ("shipping_country", "US"),
];

/// The hosted page's client: Stripe's page has its own cookies, and is reached directly.
fn stripe_page() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub async fn pay_page(url: &str, email: &str, method: &[(&str, &str)]) -> (u16, String, String) {
    let mut form: Vec<(&str, &str)> = vec![("email", email)];
    form.extend_from_slice(method);
    form.extend(SHIP_TO);
    match stripe_page().post(url).form(&form).send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            let loc = location(&res);
            (status, loc, res.text().await.unwrap_or_default())
        }
        Err(e) => (0, String::new(), e.to_string()),
    }
}

/// The shop's promotion code, redeemable 15 times in all.
pub const PROMO_CODE: &str = "CHAOS10";
pub const PROMO_REDEMPTIONS: i64 = 15;

/// Types the promotion code on the payment page: applied, or refused once it has run out.
async fn apply_code(session: &str, j: &Shared) {
    let res = stripe_page()
        .post(format!("{session}/promotion_code"))
        .form(&[("promotion_code", PROMO_CODE), ("action", "apply")])
        .send()
        .await;
    match res.map(|r| r.status().as_u16()) {
        Ok(200) => count(j, "promotion code applied"),
        Ok(400) => count(j, "promotion code refused (used up)"),
        other => problem(j, format!("promotion code: {other:?}")),
    }
}

pub fn card(number: &str) -> Vec<(&str, &str)> {
    vec![
        ("method", "card"),
        ("card_number", number),
        ("card_expiry", "12 / 34"),
        ("card_cvc", "123"),
    ]
}

fn bank(account: &str) -> Vec<(&str, &str)> {
    vec![
        ("method", "us_bank_account"),
        ("account_number", account),
        ("routing_number", "110000000"),
    ]
}

/// Adds one line to the cart from the product page; false when the shop said it cannot
/// (sold out), a problem when the answer makes no sense.
async fn add_line(b: &Browser, j: &Shared, slug: &str, which: usize, quantity: u32) -> bool {
    let (status, html) = b.get(&format!("/products/{slug}")).await;
    if !expected_page(j, status, &format!("GET /products/{slug}")) {
        return false;
    }
    let prices = select_attr(&html, "input[name=price_id]", "value");
    let Some(price) = prices.get(which % prices.len().max(1)) else {
        // Every variant sold out: the page offers no form (and says so).
        count(j, "sold out on the product page");
        return false;
    };
    let token = csrf_token(&html);
    let q = quantity.to_string();
    let (status, loc, body) = b
        .post(
            "/cart/items",
            &[
                ("csrf_token", &token),
                ("price_id", price),
                ("quantity", &q),
            ],
        )
        .await;
    match status {
        303 if loc == "/cart" => true,
        409 | 422 | 400 => {
            count(j, "refused at add to cart (stock)");
            false
        }
        502 | 503 => {
            count(j, "add to cart 502/503 (see the balancer's record)");
            false
        }
        _ => {
            problem(
                j,
                format!("add {slug} to cart: {status} {loc} {}", short(&body)),
            );
            false
        }
    }
}

/// A page that should load: 200, or a 502/503 the balancer's record accounts for (the request
/// was on an instance that was killed, or Stripe was failing); anything else is a problem.
fn expected_page(j: &Shared, status: u16, what: &str) -> bool {
    match status {
        200 => true,
        502 | 503 => {
            count(j, "page 502/503 (see the balancer's record)");
            false
        }
        _ => {
            problem(j, format!("{what}: {status}"));
            false
        }
    }
}

/// A 502/503 answer to a form: the balancer's record says whether it was a killed instance or
/// Stripe failing (checked by the invariants); the person gives up on this step.
fn lost(j: &Shared, status: u16) -> bool {
    let lost = matches!(status, 502 | 503);
    if lost {
        count(j, "form answered 502/503 (see the balancer's record)");
    }
    lost
}

fn short(s: &str) -> String {
    s.chars().take(300).collect()
}

/// Reloads the waiting page as its meta refresh does, until it sends the shopper to Stripe
/// (the payment page's URL) or back to the cart (None).
async fn wait_in_line(b: &Browser, j: &Shared, wait: &str, emulator: &str) -> Option<String> {
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (status, loc, body) = b.get_with_location(wait).await;
        match status {
            303 if loc.starts_with(emulator) => return Some(loc),
            303 => {
                count(j, "line ran out, back to the cart");
                return None;
            }
            200 | 502 | 503 | 0 => {}
            _ => {
                problem(j, format!("GET {wait}: {status} {loc} {}", short(&body)));
                return None;
            }
        }
    }
    count(j, "gave up waiting in line");
    None
}

/// Posts the cart's checkout form: the payment page's URL, or None (sold out, refused, Stripe
/// unavailable after one retry of the same request).
async fn checkout(b: &Browser, j: &Shared, email: &str, emulator: &str) -> Option<String> {
    for attempt in 0..3 {
        let (status, html) = b.get("/cart").await;
        if !expected_page(j, status, "GET /cart") {
            return None;
        }
        if select_attr(&html, "form[action='/checkout']", "action").is_empty() {
            // The cart emptied itself (a line sold out meanwhile) and says so.
            count(j, "cart emptied before checkout");
            return None;
        }
        let token = csrf_token(&html);
        let (status, loc, body) = b
            .post("/checkout", &[("csrf_token", &token), ("email", email)])
            .await;
        match status {
            303 if loc.starts_with(emulator) => return Some(loc),
            303 if loc.contains("/checkout/wait/") => {
                count(j, "checkout waited in line (rate limit)");
                return wait_in_line(b, j, &loc, emulator).await;
            }
            303 => {
                count(j, "checkout sent back (cart changed or sold out)");
                return None;
            }
            409 | 422 | 400 => {
                count(j, "checkout refused (stock)");
                return None;
            }
            502 | 503 => {
                // Stripe trouble (or the instance died under the request): the shopper tries
                // again, which replays the same order's request.
                count(j, "checkout 503, retried");
                tokio::time::sleep(Duration::from_millis(300 * (attempt + 1))).await;
            }
            _ => {
                problem(
                    j,
                    format!("POST /checkout: {status} {loc} {}", short(&body)),
                );
                return None;
            }
        }
    }
    count(j, "checkout gave up after retries");
    None
}

/// The page the payment page sends the shopper back to.
async fn land(b: &Browser, j: &Shared, url: &str) {
    let (status, body) = b.get(url).await;
    match status {
        200 => count(j, "success page shown"),
        502 | 503 => count(j, "success page 503"),
        _ => problem(j, format!("GET {url}: {status} {}", short(&body))),
    }
}

pub async fn purchase(plan: Plan, base: String, emulator: String, j: Shared) {
    let b = Browser::new(
        &base,
        &format!("10.1.{}.{}", plan.n / 250, plan.n % 250 + 1),
    );
    let email = format!("shopper{}@example.com", plan.n);
    let mut any = false;
    for (slug, which, q) in &plan.lines {
        // Sold out: the shopper takes something else instead.
        any |= add_line(&b, &j, slug, *which, *q).await
            || add_line(&b, &j, "field-notebook", 0, 1).await;
    }
    if !any {
        return;
    }
    let Some(mut session) = checkout(&b, &j, &email, &emulator).await else {
        return;
    };
    if let Some((slug, which, q)) = plan.change {
        // The shopper goes back and changes the cart while the payment page is open.
        add_line(&b, &j, slug, which, q).await;
        let old = session.clone();
        match checkout(&b, &j, &email, &emulator).await {
            Some(new) => session = new,
            None => return,
        }
        count(&j, "cart changed mid-checkout");
        if plan.pay_old && old != session {
            let (status, _, body) = pay_page(&old, &email, &card(CARD_OK)).await;
            match status {
                303 => problem(
                    &j,
                    format!("the replaced payment page {old} took a payment"),
                ),
                400..=499 => count(&j, "old payment page refused"),
                _ => problem(
                    &j,
                    format!("paying the old page: {status} {}", short(&body)),
                ),
            }
        }
    }
    if plan.promo && !matches!(plan.payment, Payment::Abandon) {
        apply_code(&session, &j).await;
    }
    let done = match plan.payment {
        Payment::Abandon => {
            count(&j, "abandoned checkout");
            j.lock().unwrap().abandoned.push((session, email));
            return;
        }
        Payment::Card => pay_page(&session, &email, &card(CARD_OK)).await,
        Payment::Bank { settles } => {
            let account = if settles { BANK_OK } else { BANK_FAILS };
            pay_page(&session, &email, &bank(account)).await
        }
        Payment::Declined { retry } => {
            let (status, _, body) = pay_page(&session, &email, &card(CARD_DECLINED)).await;
            if status != 402 {
                problem(&j, format!("declined card: {status} {}", short(&body)));
                return;
            }
            count(&j, "card declined");
            if !retry {
                return;
            }
            pay_page(&session, &email, &card(CARD_OK)).await
        }
        Payment::ThreeDs { approve } => {
            let (status, loc, body) = pay_page(&session, &email, &card(CARD_3DS)).await;
            if status != 303 || !loc.contains("/3ds") {
                problem(
                    &j,
                    format!("3-D Secure card: {status} {loc} {}", short(&body)),
                );
                return;
            }
            let url = format!("{emulator}{loc}");
            let action = if approve { "approve" } else { "fail" };
            let res = stripe_page()
                .post(&url)
                .form(&[("action", action)])
                .send()
                .await;
            match res {
                Ok(r) if approve => {
                    let status = r.status().as_u16();
                    (status, location(&r), r.text().await.unwrap_or_default())
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    if status >= 500 {
                        problem(&j, format!("failing 3-D Secure: {status}"));
                    }
                    count(&j, "3-D Secure failed");
                    return;
                }
                Err(e) => {
                    problem(&j, format!("3-D Secure page: {e}"));
                    return;
                }
            }
        }
    };
    let (mut status, mut loc, mut body) = done;
    if plan.promo && status == 400 && !body.contains("expired") {
        // The code ran out while the shopper typed: the page shows the full price, and the
        // shopper pays that.
        count(&j, "promotion code ran out before paying");
        (status, loc, body) = pay_page(&session, &email, &card(CARD_OK)).await;
    }
    if status == 303 && loc.starts_with(&base) {
        count(&j, "paid on the hosted page");
        land(&b, &j, &loc).await;
    } else if status == 400 && body.contains("expired") {
        // The payment page was replaced by another instance's retry while the shopper typed.
        count(&j, "payment page had expired");
    } else {
        problem(
            &j,
            format!("paying {session}: {status} {loc} {}", short(&body)),
        );
    }
}

/// A shopper comes back to a payment page left open after it expired (its units may have been
/// sold meanwhile) and tries to pay: Stripe must refuse, or the shop must cope.
pub async fn pay_expired(session: String, email: String, base: String, j: Shared) {
    let (status, loc, body) = pay_page(&session, &email, &card(CARD_OK)).await;
    match status {
        400..=499 => count(&j, "expired page refused the late payment"),
        303 if loc.starts_with(&base) => count(&j, "expired page took the late payment"),
        _ => problem(
            &j,
            format!("paying an expired page: {status} {loc} {}", short(&body)),
        ),
    }
}

/// A customer who registers, subscribes (paying on the hosted page), then switches plan,
/// cancels, or keeps it.
pub async fn subscriber(n: usize, action: u32, base: String, emulator: String, j: Shared) {
    let b = Browser::new(&base, &format!("10.2.0.{}", n + 1));
    let email = format!("subscriber{n}@example.com");
    if !register(&b, &j, &email).await {
        return;
    }
    let (status, html) = b.get("/products/coffee-club").await;
    if !expected_page(&j, status, "GET /products/coffee-club") {
        return;
    }
    let forms = select_attr(&html, ".plans form", "action");
    let Some(monthly) = forms.first() else {
        problem(&j, "the plan page has no subscribe form".into());
        return;
    };
    let mut session = None;
    for _ in 0..3 {
        match b.submit("/products/coffee-club", monthly, &[]).await {
            Some((303, loc, _)) if loc.starts_with(&emulator) => {
                session = Some(loc);
                break;
            }
            Some((502 | 503, _, _)) => {
                count(&j, "subscribe 503, retried");
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            // "Another payment page for this subscription was opened just now": the retry after
            // a lost answer met the first attempt's page; the customer chooses again.
            Some((303, loc, _)) if loc == "/products/coffee-club" => {
                count(&j, "subscribe met its own first attempt, chose again");
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            other => {
                problem(&j, format!("subscribe: {other:?}"));
                return;
            }
        }
    }
    let Some(session) = session else {
        count(&j, "subscribe gave up after retries");
        return;
    };
    let (status, loc, body) = pay_page(&session, &email, &card(CARD_OK)).await;
    if status != 303 {
        problem(
            &j,
            format!("paying the subscription: {status} {}", short(&body)),
        );
        return;
    }
    count(&j, "subscribed");
    land(&b, &j, &loc).await;
    // The subscription shows once Stripe's events (or the landing page's sync) arrive.
    let mut id = None;
    for _ in 0..100 {
        let (_, html) = b.get("/account/subscriptions").await;
        if let Some(label) = select_attr(&html, ".subscription", "aria-labelledby").first() {
            id = Some(label.trim_start_matches("sub-").to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Some(id) = id else {
        problem(&j, format!("{email}: the subscription never showed"));
        return;
    };
    let page = "/account/subscriptions";
    match action % 3 {
        0 => {
            let (status, html) = b.get(page).await;
            if !expected_page(&j, status, page) {
                return;
            }
            let change = format!("/account/subscriptions/{id}/change");
            let yearly = select_attr(
                &html,
                &format!("form[action='{change}'] input[name=price_id]"),
                "value",
            );
            let Some(yearly) = yearly.first() else {
                problem(&j, "no plan switch form".into());
                return;
            };
            expect_done(
                &j,
                "switch plan",
                b.submit(page, &change, &[("price_id", yearly)]).await,
            );
        }
        1 => {
            let cancel = format!("/account/subscriptions/{id}/cancel");
            expect_done(&j, "cancel", b.submit(page, &cancel, &[]).await);
        }
        _ => count(&j, "subscription kept"),
    }
}

fn expect_done(j: &Shared, what: &'static str, res: Option<(u16, String, String)>) {
    match res {
        Some((303, _, _)) => count(j, what),
        Some((502 | 503, _, _)) => count(j, "subscription change 503"),
        other => problem(j, format!("{what}: {other:?}")),
    }
}

/// Mail as the SMTP sink received it, shared with the actors who wait for a link.
pub type Mailbox = Arc<Mutex<Vec<String>>>;

/// A customer who forgot their password: registers, later asks for a reset from another
/// browser, follows the link in the mail, sets a new password and signs in with it.
pub async fn password_reset(n: usize, base: String, mailbox: Mailbox, j: Shared) {
    let email = format!("forgetful{n}@example.com");
    let first = Browser::new(&base, &format!("10.3.0.{}", n + 1));
    if !register(&first, &j, &email).await {
        return;
    }
    let b = Browser::new(&base, &format!("10.4.0.{}", n + 1));
    let (status, html) = b.get("/account/password/forgot").await;
    if !expected_page(&j, status, "GET /account/password/forgot") {
        return;
    }
    let token = csrf_token(&html);
    let (status, loc, body) = b
        .post(
            "/account/password/forgot",
            &[("csrf_token", &token), ("email", &email)],
        )
        .await;
    if lost(&j, status) {
        return;
    }
    if status != 303 && status != 200 {
        problem(
            &j,
            format!("forgot password: {status} {loc} {}", short(&body)),
        );
        return;
    }
    count(&j, "password reset asked");
    // The link arrives by mail (the outbox worker of either instance sends it).
    let mut link = None;
    // Up to 90 s: longer than an outbox claim, in case the instance sending it was killed.
    for _ in 0..450 {
        link = mailbox
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.contains(&format!("To: {email}")))
            .map(|m| crate::smtp::decoded(m))
            .find_map(|m| {
                m.split(|c: char| c.is_whitespace() || c == '"')
                    .find(|w| w.contains("/account/password/reset?token="))
                    .map(str::to_owned)
            });
        if link.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Some(link) = link else {
        problem(&j, format!("{email}: no reset mail arrived"));
        return;
    };
    let (status, html) = b.get(&link).await;
    if !expected_page(&j, status, "GET the reset link") {
        return;
    }
    let reset_token = link.split("token=").nth(1).unwrap_or_default().to_owned();
    let new_password = format!("a new password number {n}");
    let (status, loc, body) = b
        .post(
            "/account/password/reset",
            &[
                ("csrf_token", &csrf_token(&html)),
                ("token", &reset_token),
                ("password", &new_password),
                ("password_confirmation", &new_password),
            ],
        )
        .await;
    if lost(&j, status) {
        return;
    }
    if status != 303 {
        problem(
            &j,
            format!("reset password: {status} {loc} {}", short(&body)),
        );
        return;
    }
    let Some((status, loc, _)) = sign_in(&b, &email, &new_password, "/account").await else {
        problem(&j, "no sign-in form".into());
        return;
    };
    if lost(&j, status) {
        return;
    }
    if status == 303 && loc == "/account" {
        count(&j, "password reset completed, signed in");
    } else {
        problem(
            &j,
            format!("{email}: sign-in with the new password: {status} {loc}"),
        );
    }
}

/// Registers `email` (with [`PASSWORD`]) through the form; false, with the reason written
/// down, when that did not happen.
async fn register(b: &Browser, j: &Shared, email: &str) -> bool {
    let fields = [
        ("email", email),
        ("password", PASSWORD),
        ("password_confirmation", PASSWORD),
        ("next", "/account"),
    ];
    match b
        .submit("/account/register", "/account/register", &fields)
        .await
    {
        Some((303, _, _)) => {
            count(j, "customer registered");
            true
        }
        Some((status, _, _)) if lost(j, status) => false,
        Some((status, loc, body)) => {
            problem(
                j,
                format!("register {email}: {status} {loc} {}", short(&body)),
            );
            false
        }
        None => {
            problem(j, "no registration form".into());
            false
        }
    }
}

/// Signs in through the form: its answer (None when the page has no sign-in form).
async fn sign_in(
    b: &Browser,
    email: &str,
    password: &str,
    next: &str,
) -> Option<(u16, String, String)> {
    let fields = [("email", email), ("password", password), ("next", next)];
    b.submit("/account/login", "/account/login", &fields).await
}

/// An admin's browser, signed in.
pub async fn admin(base: &str, email: &str, n: usize) -> Browser {
    let b = Browser::new(base, &format!("10.9.0.{n}"));
    let res = sign_in(&b, email, crate::cluster::ADMIN_PASSWORD, "/admin").await;
    assert!(matches!(res, Some((303, _, _))), "admin sign-in: {res:?}");
    b
}

/// The refund form as an admin's page shows it.
struct RefundForm {
    csrf: String,
    token: String,
    amount: String,
    restock: Vec<(String, String)>,
}

async fn refund_form(b: &Browser, j: &Shared, number: &str) -> Option<RefundForm> {
    let (status, html) = b.get(&format!("/admin/orders/{number}")).await;
    if !expected_page(j, status, &format!("GET /admin/orders/{number}")) {
        return None;
    }
    // Scoped to the refund form: a pending refund's "ask Stripe again" form comes first and
    // carries that refund's token.
    let token = select_attr(&html, ".refund-form input[name=token]", "value");
    let token = token.first()?.clone();
    let names = select_attr(&html, ".refund-form input[type=number]", "name");
    let maxes = select_attr(&html, ".refund-form input[type=number]", "max");
    Some(RefundForm {
        csrf: csrf_token(&html),
        token,
        amount: select_attr(&html, ".refund-form input[name=amount]", "value")
            .first()
            .cloned()
            .unwrap_or_default(),
        restock: names.into_iter().zip(maxes).collect(),
    })
}

/// What an admin does with the form: refund everything (putting every unit back), part of it,
/// or click "Refund" twice.
#[derive(Debug, Clone, Copy)]
pub enum RefundMove {
    Full,
    Part,
    DoubleClick,
}

/// Two admins open the same order and refund at once.
pub async fn refund_race(number: String, admins: [Browser; 2], moves: [RefundMove; 2], j: Shared) {
    let one = refund_once(&admins[0], &number, moves[0], &j);
    let two = refund_once(&admins[1], &number, moves[1], &j);
    futures_util::future::join(one, two).await;
}

async fn refund_once(b: &Browser, number: &str, how: RefundMove, j: &Shared) {
    let Some(form) = refund_form(b, j, number).await else {
        return;
    };
    j.lock()
        .unwrap()
        .refund_tokens
        .entry(number.to_owned())
        .or_default()
        .insert(form.token.clone());
    let amount = match how {
        RefundMove::Part => {
            // A third of what is refundable, at least one cent.
            let cents: i64 = form.amount.replace('.', "").parse().unwrap_or(0);
            let part = (cents / 3).max(1);
            format!("{}.{:02}", part / 100, part % 100)
        }
        _ => form.amount.clone(),
    };
    let mut fields: Vec<(&str, &str)> = vec![
        ("csrf_token", &form.csrf),
        ("token", &form.token),
        ("amount", &amount),
        ("reason", "requested_by_customer"),
        ("note", "chaos"),
    ];
    if !matches!(how, RefundMove::Part) {
        for (name, max) in &form.restock {
            fields.push((name, max));
        }
    }
    let path = format!("/admin/orders/{number}/refunds");
    let answers = if matches!(how, RefundMove::DoubleClick) {
        let (a, b2) =
            futures_util::future::join(b.post(&path, &fields), b.post(&path, &fields)).await;
        vec![a, b2]
    } else {
        vec![b.post(&path, &fields).await]
    };
    for (status, loc, body) in answers {
        match status {
            303 => count(j, "refund form answered"),
            400 | 409 | 422 => count(j, "refund refused with a message"),
            502 | 503 => count(j, "refund 503"),
            _ => problem(
                j,
                format!("refund {number}: {status} {loc} {}", short(&body)),
            ),
        }
    }
}

/// A seeded choice of refund moves for one order.
pub fn refund_moves(rng: &mut impl rand::Rng) -> [RefundMove; 2] {
    let pick = |r: u32| match r {
        0..45 => RefundMove::Full,
        45..85 => RefundMove::Part,
        _ => RefundMove::DoubleClick,
    };
    [
        pick(rng.random_range(0..100)),
        pick(rng.random_range(0..100)),
    ]
}
