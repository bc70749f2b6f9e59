//! The cluster under test: one PostgreSQL database, a standalone Stripe emulator, two shop
//! instances (the real binary, run as an operator would), and the test's load balancer in
//! front of them, which also plays the part of a webhook path that delivers twice, late and out
//! of order.

use std::collections::VecDeque;
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use rand::{Rng as _, SeedableRng as _};

/// The (test-mode) secret key both shops use; the emulator accepts any `sk_test_…`.
pub const STRIPE_KEY: &str = "sk_test_chaos";
pub const ADMIN_PASSWORD: &str = "chaos admin password 1";

/// Milliseconds since the Unix epoch (the emulator's fault log uses the same clock).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where the binary, logs and the emulator's database live for one run.
pub struct Workdir {
    pub dir: tempfile::TempDir,
    pub bin: std::path::PathBuf,
}

impl Workdir {
    pub fn new() -> Workdir {
        let dir = tempfile::tempdir().unwrap();
        // A copy: another build may replace target/debug/storefront while the suite runs.
        let bin = dir.path().join("storefront");
        std::fs::copy(env!("CARGO_BIN_EXE_storefront"), &bin).expect("copy the binary");
        Workdir { dir, bin }
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Runs a one-off `storefront` command to completion; its stdout (panics with the output
    /// when it fails).
    pub fn run(&self, args: &[&str], env: &[(String, String)], stdin: Option<&str>) -> String {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("run storefront");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "storefront {args:?} failed: {text}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a long-running `storefront` command, its output appended to `{name}.log`.
    pub fn spawn(&self, args: &[&str], env: &[(String, String)], name: &str) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{name}.log")))
            .unwrap();
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().expect("start storefront")
    }
}

/// Waits until `url` answers 2xx (the child must stay alive meanwhile).
pub async fn wait_ready(child: &mut Child, url: &str, what: &str, log: impl Fn() -> String) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} exited early ({status}): {}", log());
        }
        if let Ok(res) = client
            .get(url)
            .bearer_auth(STRIPE_KEY)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            && res.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never became ready: {}", log());
}

/// The standalone emulator (`storefront emulator`) and its control API.
pub struct Emulator {
    pub child: Child,
    pub url: String,
    http: reqwest::Client,
}

impl Emulator {
    pub async fn start(work: &Workdir) -> Emulator {
        let port = free_port();
        let env = vec![
            ("EMULATOR_BIND".to_owned(), format!("127.0.0.1:{port}")),
            (
                "EMULATOR_DB".to_owned(),
                work.dir.path().join("emulator.db").display().to_string(),
            ),
        ];
        let mut child = work.spawn(&["emulator"], &env, "emulator");
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(
            &mut child,
            &format!("{url}/_emulator/clock"),
            "the emulator",
            || work.log("emulator.log"),
        )
        .await;
        Emulator {
            child,
            url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    /// A control or API call that must succeed.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> serde_json::Value {
        let req = self
            .http
            .request(method.clone(), format!("{}/{path}", self.url))
            .bearer_auth(STRIPE_KEY);
        let req = if method == reqwest::Method::GET {
            req.query(form)
        } else {
            req.form(form)
        };
        let res = req.send().await.unwrap();
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        assert!(status.is_success(), "emulator {path}: {status} {body}");
        body
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> serde_json::Value {
        self.call(reqwest::Method::POST, path, form).await
    }

    /// Every object of a list endpoint (`v1/refunds`, …), paging through it.
    pub async fn list_all(&self, path: &str, filters: &[(&str, &str)]) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q: Vec<(&str, &str)> = vec![("limit", "100")];
            q.extend_from_slice(filters);
            if let Some(a) = &after {
                q.push(("starting_after", a.as_str()));
            }
            let page = self.call(reqwest::Method::GET, path, &q).await;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            after = data
                .last()
                .and_then(|o| o["id"].as_str())
                .map(str::to_owned);
            out.extend(data);
            if page["has_more"] != true || after.is_none() {
                return out;
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One shop instance: `storefront serve` on its own port.
pub struct Instance {
    pub name: &'static str,
    pub port: u16,
    pub env: Vec<(String, String)>,
    pub child: Option<Child>,
}

impl Instance {
    pub fn new(name: &'static str, env: &[(String, String)]) -> Instance {
        let port = free_port();
        let mut env = env.to_vec();
        env.push(("BIND".into(), format!("127.0.0.1:{port}")));
        Instance {
            name,
            port,
            env,
            child: None,
        }
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn start(&mut self, work: &Workdir) {
        let mut child = work.spawn(&["serve"], &self.env, self.name);
        let log = format!("{}.log", self.name);
        wait_ready(
            &mut child,
            &format!("{}/healthz", self.address()),
            self.name,
            || work.log(&log),
        )
        .await;
        self.child = Some(child);
    }

    /// Moves the instance out (to restart it), leaving one with no process in its place.
    pub fn take(&mut self) -> Instance {
        let empty = Instance {
            name: self.name,
            port: self.port,
            env: Vec::new(),
            child: None,
        };
        std::mem::replace(self, empty)
    }

    /// SIGKILL: no shutdown, no draining; whatever it was doing stops mid-way.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL the shop");
            let _ = child.wait();
        }
    }

    pub fn stop(&mut self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A 5xx (or a failed upstream) the load balancer passed on or saw.
#[derive(Debug, Clone)]
pub struct Failure {
    pub start_ms: i64,
    pub end_ms: i64,
    pub method: String,
    pub path: String,
    pub upstream: usize,
    pub status: u16,
    /// A webhook copy the balancer sent on its own (nobody waited for it).
    pub copy: bool,
}

/// What the balancer saw, shared with the test.
#[derive(Default)]
pub struct Traffic {
    pub requests: u64,
    pub by_class: [u64; 6],
    pub failures: Vec<Failure>,
    /// Webhook deliveries copied to the other instance (late, sometimes twice).
    pub webhook_copies: u64,
    /// Requests in flight per instance, by kind: (webhooks, refunds).
    pub in_flight: [(u32, u32); 2],
    /// Kills: (instance, when).
    pub kills: Vec<(usize, i64)>,
}

pub struct Balancer {
    pub url: String,
    pub traffic: Arc<Mutex<Traffic>>,
    server: actix_web::dev::ServerHandle,
}

struct LbState {
    upstreams: [String; 2],
    next: Mutex<usize>,
    rng: Mutex<rand::rngs::StdRng>,
    traffic: Arc<Mutex<Traffic>>,
    /// Share of webhook deliveries also sent to the other instance, in percent.
    copy_percent: u32,
}

/// Not passed on (the `Host` header is: the shops answer for `PUBLIC_URL`'s host only).
const HOP_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "upgrade",
    "te",
    "trailer",
];

impl Balancer {
    /// Listens on a free port; round-robins over the two upstreams (no sticky sessions), trying
    /// the other one when an instance refuses the connection (it is down), as a load balancer
    /// with health checks would.
    pub fn start(upstreams: [String; 2], seed: u64) -> Balancer {
        Balancer::start_copying(upstreams, seed, 35)
    }

    /// As [`Balancer::start`], copying `copy_percent` % of webhook deliveries to the other
    /// instance (0: a plain round-robin balancer).
    pub fn start_copying(upstreams: [String; 2], seed: u64, copy_percent: u32) -> Balancer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let traffic = Arc::new(Mutex::new(Traffic::default()));
        let state = web::Data::new(LbState {
            upstreams,
            next: Mutex::new(0),
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(seed ^ 0x1b)),
            traffic: traffic.clone(),
            copy_percent,
        });
        let server = HttpServer::new(move || {
            // One client per worker: a client's connections belong to the runtime that made them.
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(32)
                .build()
                .unwrap();
            App::new()
                .app_data(state.clone())
                .app_data(web::Data::new(client))
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .default_service(web::to(proxy))
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Balancer {
            url,
            traffic,
            server: handle,
        }
    }

    pub async fn stop(&self) {
        self.server.stop(false).await;
    }
}

fn class(status: u16) -> usize {
    (status / 100).clamp(1, 5) as usize
}

async fn proxy(
    req: HttpRequest,
    body: web::Bytes,
    lb: web::Data<LbState>,
    client: web::Data<reqwest::Client>,
) -> HttpResponse {
    let start_ms = now_ms();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let method = req.method().as_str().to_owned();
    let webhook = path.starts_with("/webhooks/stripe");
    let refund = method == "POST" && path.contains("/refunds");
    let first = {
        let mut next = lb.next.lock().unwrap();
        *next = (*next + 1) % 2;
        *next
    };
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in req.headers() {
        if HOP_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(n, v);
        }
    }
    let mut answer = None;
    let mut upstream = first;
    for attempt in 0..2 {
        upstream = (first + attempt) % 2;
        let track = |d: i32| {
            let mut t = lb.traffic.lock().unwrap();
            let slot = &mut t.in_flight[upstream];
            if webhook {
                slot.0 = slot.0.saturating_add_signed(d);
            }
            if refund {
                slot.1 = slot.1.saturating_add_signed(d);
            }
        };
        track(1);
        let res = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", lb.upstreams[upstream]),
            )
            .headers(headers.clone())
            .body(body.clone())
            .send()
            .await;
        track(-1);
        match res {
            Ok(res) => {
                let status = res.status().as_u16();
                let mut out =
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
                for (name, value) in res.headers() {
                    if !HOP_HEADERS.contains(&name.as_str()) {
                        out.append_header((name.as_str(), value.as_bytes()));
                    }
                }
                // The instance may die after its headers: then the answer is lost, as a
                // load balancer would report it.
                answer = Some(match res.bytes().await {
                    Ok(bytes) => (status, out.body(bytes)),
                    Err(_) => (
                        502,
                        HttpResponse::BadGateway().body("upstream died mid-answer"),
                    ),
                });
                break;
            }
            // Refused: nothing was sent, so another instance may take it.
            Err(e) if e.is_connect() => continue,
            Err(_) => {
                answer = Some((502, HttpResponse::BadGateway().body("upstream failed")));
                break;
            }
        }
    }
    let (status, response) =
        answer.unwrap_or_else(|| (502, HttpResponse::BadGateway().body("no upstream")));
    {
        let mut t = lb.traffic.lock().unwrap();
        t.requests += 1;
        t.by_class[class(status)] += 1;
        if status >= 500 {
            t.failures.push(Failure {
                start_ms,
                end_ms: now_ms(),
                method: method.clone(),
                path: path.clone(),
                upstream,
                status,
                copy: false,
            });
        }
    }
    if webhook {
        copy_webhook(&lb, &client, upstream, &headers, body);
    }
    response
}

/// A share of deliveries also goes to the other instance, late (so out of order with what
/// follows) and sometimes twice: what a retrying, reordering network does to webhooks.
fn copy_webhook(
    lb: &web::Data<LbState>,
    client: &web::Data<reqwest::Client>,
    served_by: usize,
    headers: &reqwest::header::HeaderMap,
    body: web::Bytes,
) {
    let delays: Vec<u64> = {
        let mut rng = lb.rng.lock().unwrap();
        if rng.random_range(0..100) >= lb.copy_percent {
            return;
        }
        let copies = if rng.random_range(0..100) < 25 { 2 } else { 1 };
        (0..copies).map(|_| rng.random_range(50..2500)).collect()
    };
    let other = 1 - served_by;
    for delay in delays {
        let (lb, client, headers, body) =
            (lb.clone(), client.clone(), headers.clone(), body.clone());
        actix_web::rt::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let start_ms = now_ms();
            let res = client
                .post(format!("{}/webhooks/stripe", lb.upstreams[other]))
                .headers(headers)
                .body(body)
                .send()
                .await;
            let status = match res {
                Ok(r) => r.status().as_u16(),
                // The other instance is down (killed): the copy is lost, as on a real network.
                Err(e) if e.is_connect() => return,
                Err(_) => 502,
            };
            let mut t = lb.traffic.lock().unwrap();
            t.webhook_copies += 1;
            if status >= 500 {
                t.failures.push(Failure {
                    start_ms,
                    end_ms: now_ms(),
                    method: "POST".into(),
                    path: "/webhooks/stripe".into(),
                    upstream: other,
                    status,
                    copy: true,
                });
            }
        });
    }
}

/// The last `n` lines of a log, for a failure message.
pub fn tail(text: &str, n: usize) -> String {
    let lines: VecDeque<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(n);
    lines.into_iter().skip(skip).collect::<Vec<_>>().join("\n")
}

/// What every shop instance of a run is started with: the shared database, the emulator as
/// Stripe, the balancer's address as `PUBLIC_URL` (trusted as a proxy), a session key from
/// `key`. The caller adds its own (jobs' intervals, SMTP).
pub fn shop_env(
    db_url: &str,
    emulator_url: &str,
    public_url: &str,
    key: &[u8],
) -> Vec<(String, String)> {
    use base64::Engine as _;
    [
        ("DATABASE_URL", db_url.to_owned()),
        ("STRIPE_SECRET_KEY", STRIPE_KEY.to_owned()),
        ("STRIPE_API_BASE", format!("{emulator_url}/")),
        ("PUBLIC_URL", public_url.to_owned()),
        ("ALLOW_INSECURE_PUBLIC_URL", "1".to_owned()),
        (
            "SESSION_KEY",
            base64::engine::general_purpose::STANDARD.encode(key),
        ),
        ("TRUSTED_PROXIES", "127.0.0.1/32".to_owned()),
        ("RUST_LOG", "warn,storefront=info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Sets the shop up as an operator would: schema, `catalogue` (a TOML file's text), then
/// `stripe setup`; adds the webhook signing secret it printed to `env`.
pub fn set_up(work: &Workdir, env: &mut Vec<(String, String)>, catalogue: &str) {
    work.run(&["migrate"], env, None);
    let file = work.dir.path().join("catalogue.toml");
    std::fs::write(&file, catalogue).unwrap();
    work.run(&["seed", file.to_str().unwrap()], env, None);
    let setup = work.run(&["stripe", "setup"], env, None);
    let secret = setup
        .split_whitespace()
        .find(|w| w.starts_with("whsec_"))
        .unwrap_or_else(|| panic!("stripe setup printed no signing secret: {setup}"))
        .to_owned();
    env.push(("STRIPE_WEBHOOK_SECRET".into(), secret));
}
