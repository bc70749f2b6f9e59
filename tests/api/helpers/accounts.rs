//! Accounts: registering, signing in and out through the forms, and posting any page's form.

use super::{TestApp, assert_redirect_to, csrf_token, select_attr};

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
