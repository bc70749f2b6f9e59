//! Accounts: registering, signing in and out through the forms, and posting any page's form.

use std::sync::Arc;

use super::{REQUEST_TIMEOUT, TestApp, assert_redirect_to, csrf_token, link_in, select_attr};

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Registers through the form (the browser is then signed in).
    pub async fn register_with(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
        confirmation: &str,
    ) -> reqwest::Response {
        let html = client
            .get(self.url("/account/register"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        client
            .post(self.url("/account/register"))
            .form(&[
                ("csrf_token", csrf_token(&html).as_str()),
                ("email", email),
                ("password", password),
                ("password_confirmation", confirmation),
                ("next", "/account"),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, email: &str) {
        let res = self
            .register_with(&self.client, email, PASSWORD, PASSWORD)
            .await;
        assert_redirect_to(&res, "/account");
    }

    pub async fn login_with(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        let html = client
            .get(self.url("/account/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        client
            .post(self.url("/account/login"))
            .form(&[
                ("csrf_token", csrf_token(&html).as_str()),
                ("email", email),
                ("password", password),
                ("next", "/account"),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn logout(&self, client: &reqwest::Client) -> reqwest::Response {
        let html = client
            .get(self.url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        client
            .post(self.url("/account/logout"))
            .form(&[("csrf_token", csrf_token(&html).as_str())])
            .send()
            .await
            .unwrap()
    }

    pub async fn user(&self, email: &str) -> storefront::accounts::model::User {
        let email = email.to_owned();
        storefront::db::run(&self.pool, move |conn| {
            storefront::accounts::model::by_email(conn, &email)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
        .expect("user")
    }

    /// Posts a form found on `page` by its action, with the page's CSRF token and extra fields.
    pub async fn submit(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let html = self.get_html(page).await.1;
        let actions = select_attr(&html, "form", "action");
        assert!(
            actions.iter().any(|a| a == action),
            "no form posting to {action} on {page}: {actions:?}"
        );
        let token = csrf_token(&html);
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        self.post_form(action, &form).await
    }
}

/// A browser whose cookies the test can read (to copy a session cookie elsewhere).
pub fn browser_with_jar() -> (reqwest::Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .default_headers(super::same_origin_headers())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("client");
    (client, jar)
}

impl TestApp {
    /// The `Cookie` header the browser with this jar sends to the shop: a copy of its session.
    pub fn copy_cookies(&self, jar: &reqwest::cookie::Jar) -> String {
        use reqwest::cookie::CookieStore as _;
        jar.cookies(&self.address.parse().unwrap())
            .expect("cookies")
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// GET `path` with someone else's copied `Cookie` header, from a browser without cookies.
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> reqwest::Response {
        super::browser()
            .get(self.url(path))
            .header("Cookie", cookie)
            .send()
            .await
            .unwrap()
    }

    /// Asks for a password-reset link from a fresh browser; the page's status and text.
    pub async fn forgot(&self, email: &str) -> (u16, String) {
        let guest = self.new_browser();
        let html = guest
            .get(self.url("/account/password/forgot"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let res = guest
            .post(self.url("/account/password/forgot"))
            .form(&[("csrf_token", csrf_token(&html).as_str()), ("email", email)])
            .send()
            .await
            .unwrap();
        (
            res.status().as_u16(),
            super::select_text(&res.text().await.unwrap(), "main").join(" "),
        )
    }

    /// Runs the mail worker once, then returns the link of the newest mail of `kind` as the
    /// demo's development inbox received it.
    pub async fn delivered_link(&self, kind: &str) -> String {
        storefront::mail::worker::run_once(&self.state)
            .await
            .unwrap();
        let mail = storefront::db::run(&self.pool, |conn| {
            storefront::mail::outbox::recent(conn, 100).map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} mail"));
        let text = self
            .state
            .dev_inbox
            .get(mail.id)
            .unwrap_or_else(|| panic!("the {kind} mail was not delivered ({})", mail.status));
        link_in(&text)
    }
}
