//! The real binary as a child process: the log and shutdown tests run a copy of it (logs are
//! read from its stdout/stderr exactly as an operator would see them; a signal needs a process).

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{EMULATOR_KEY, TestDb, plain_client, random_hex, session_key};

/// A copy of the `storefront` binary running `serve` in demo mode on free ports, its output
/// going to files.
pub struct Shop {
    pub child: std::process::Child,
    pub dir: tempfile::TempDir,
    /// Shared so a test can start another shop on the same database after this one stops.
    pub db: std::sync::Arc<TestDb>,
    pub address: String,
    pub emulator: String,
    pub webhook_secret: String,
    pub session_key: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a shop run with a (test-mode) Stripe key on loopback needs beyond [`Shop::start`]'s
/// variables: Stripe itself is never reached (`STRIPE_API_BASE` points nowhere).
pub const STRIPE_KEY_ENV: &[(&str, &str)] = &[
    ("STRIPE_SECRET_KEY", "sk_test_keyed_shop"),
    ("STRIPE_API_BASE", "http://127.0.0.1:9/"),
    // Loopback http in a test; a real shop needs an https PUBLIC_URL.
    ("ALLOW_INSECURE_PUBLIC_URL", "1"),
];

impl Shop {
    pub async fn start(extra: &[(&str, &str)]) -> Shop {
        Self::start_on(std::sync::Arc::new(TestDb::new()), extra).await
    }

    /// Starts the binary on an existing database (a test's earlier shop's).
    pub async fn start_on(db: std::sync::Arc<TestDb>, extra: &[(&str, &str)]) -> Shop {
        let dir = tempfile::tempdir().unwrap();
        // A copy: other builds may replace target/debug/storefront while we run.
        let bin = dir.path().join("storefront");
        std::fs::copy(env!("CARGO_BIN_EXE_storefront"), &bin).expect("copy the binary");
        let (port, emulator_port) = (free_port(), free_port());
        let webhook_secret = format!("whsec_{}", random_hex(24));
        let session_key = session_key();
        let stdout = std::fs::File::create(dir.path().join("stdout")).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr")).unwrap();
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.url)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("EMULATOR_BIND", format!("127.0.0.1:{emulator_port}"))
            .env("EMULATOR_DB", dir.path().join("emulator.db"))
            .env("STRIPE_WEBHOOK_SECRET", &webhook_secret)
            .env("SESSION_KEY", &session_key)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start the shop");
        let mut shop = Shop {
            child,
            dir,
            db,
            address: format!("http://127.0.0.1:{port}"),
            emulator: format!("http://127.0.0.1:{emulator_port}"),
            webhook_secret,
            session_key,
        };
        shop.wait_until_ready().await;
        shop
    }

    pub async fn wait_until_ready(&mut self) {
        let client = plain_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the shop exited early ({status}): {}", self.output());
            }
            if let Ok(res) = client.get(self.url("/healthz")).send().await
                && res.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the shop never became ready: {}", self.output());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn output(&self) -> String {
        // Complete lines only: the shop may be writing a line while this reads, and a read can
        // see the first page of it (a debug line with its spans is a few kB long).
        let read = |name: &str| {
            let mut bytes = std::fs::read(self.dir.path().join(name)).unwrap_or_default();
            bytes.truncate(
                bytes
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |end| end + 1),
            );
            String::from_utf8(bytes).expect("the shop writes UTF-8")
        };
        format!("{}{}", read("stdout"), read("stderr"))
    }

    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }

    /// Waits for the process to end; its exit status.
    pub async fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the shop did not exit within {limit:?}: {}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn emulator_api(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> serde_json::Value {
        let res = plain_client()
            .request(method, format!("{}/{path}", self.emulator))
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

    pub async fn wait_for_deliveries(&self) {
        // A delivery the shop refused is retried after 1, 2, 4 … s: a loaded machine can need
        // a few of those, so this waits long enough for three and says what is left.
        let mut left = serde_json::Value::Null;
        for _ in 0..600 {
            let d = self
                .emulator_api(reqwest::Method::GET, "_emulator/deliveries", &[])
                .await;
            let pending: Vec<serde_json::Value> = d["data"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|x| x["state"] == "pending")
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if d["data"].is_array() && pending.is_empty() {
                return;
            }
            left = serde_json::Value::Array(pending);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("webhook deliveries still pending after 30 s: {left}");
    }

    pub async fn pool(&self) -> storefront::db::Pool {
        let url = storefront::config::DatabaseUrl::parse(&self.db.url).unwrap();
        actix_web::web::block(move || storefront::db::pool(&url, 2))
            .await
            .unwrap()
            .unwrap()
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
