//! Stripe's side: the emulator's API and control API, and webhooks signed as Stripe signs them.

use super::{EMULATOR_KEY, TestApp, plain_client};

impl TestApp {
    /// Calls the emulator's API or control API with the shop's key.
    pub async fn emulator_post(&self, path: &str, form: &[(&str, &str)]) -> serde_json::Value {
        let res = plain_client()
            .post(self.emulator.join(path.trim_start_matches('/')).unwrap())
            .bearer_auth(EMULATOR_KEY)
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        assert!(status.is_success(), "emulator {path}: {status} {body}");
        body
    }

    pub async fn emulator_get(&self, path: &str) -> serde_json::Value {
        plain_client()
            .get(self.emulator.join(path.trim_start_matches('/')).unwrap())
            .bearer_auth(EMULATOR_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until every webhook the emulator has queued was delivered (or gave up).
    pub async fn wait_for_deliveries(&self) {
        for _ in 0..200 {
            let d = self.emulator_get("_emulator/deliveries").await;
            let pending = d["data"]
                .as_array()
                .map(|a| a.iter().filter(|x| x["state"] == "pending").count());
            if pending == Some(0) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "webhook deliveries still pending: {}",
            self.emulator_get("_emulator/deliveries").await
        );
    }

    /// Signs a payload as Stripe would for our endpoint, `age` seconds ago.
    pub fn sign(&self, payload: &str, age: i64) -> String {
        stripe_webhook::Webhook::generate_test_header(
            payload,
            &self.webhook_secret,
            Some(chrono::Utc::now().timestamp() - age),
        )
    }

    pub async fn post_webhook(&self, payload: &str, signature: &str) -> reqwest::Response {
        plain_client()
            .post(self.url("/webhooks/stripe"))
            .header("Stripe-Signature", signature)
            .header("content-type", "application/json")
            .body(payload.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// The events the emulator holds for a session, oldest first, as raw JSON strings.
    pub async fn session_events(&self, session_id: &str, type_: &str) -> Vec<String> {
        let list = self
            .emulator_get(&format!("v1/events?type={type_}&limit=100"))
            .await;
        let mut out: Vec<String> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["data"]["object"]["id"] == session_id)
            .map(|e| e.to_string())
            .collect();
        out.reverse();
        out
    }
}
