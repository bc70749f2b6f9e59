//! Configuration from environment variables, validated once at start.
//!
//! Every problem is reported as one [`ConfigError`] naming the variable, so an
//! operator sees "DATABASE_URL: …" instead of a panic backtrace.

use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use url::Url;

use crate::money::Currency;

/// One configuration problem, naming the variable at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(var: &'static str, problem: impl Into<String>) -> Self {
        Self {
            var,
            problem: problem.into(),
        }
    }
}

/// Where the shop's data lives; the backend is chosen from the URL scheme.
/// (`Debug` shows the URL without its password.)
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let var = "DATABASE_URL";
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(ConfigError::new(
                    var,
                    "sqlite:// needs a file path, e.g. sqlite://storefront.db",
                ));
            }
            return Ok(Self::Sqlite(path.to_owned()));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let url = Url::parse(raw)
                .map_err(|e| ConfigError::new(var, format!("not a valid PostgreSQL URL ({e})")))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(ConfigError::new(var, "the PostgreSQL URL has no host"));
            }
            return Ok(Self::Postgres(raw.to_owned()));
        }
        Err(ConfigError::new(
            var,
            "must start with sqlite:// or postgres:// (e.g. sqlite://storefront.db)",
        ))
    }

    /// The SQLite file, when this is SQLite.
    pub fn sqlite_path(&self) -> Option<&str> {
        match self {
            Self::Sqlite(p) => Some(p),
            Self::Postgres(_) => None,
        }
    }

    /// A form safe to print: the password, if any, is hidden.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(p) => format!("sqlite://{p}"),
            Self::Postgres(raw) => match Url::parse(raw) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    u.to_string()
                }
                Err(_) => "postgres://…".into(),
            },
        }
    }
}

/// How the shop reaches Stripe. (`Debug` never shows the key.)
#[derive(Clone, PartialEq, Eq)]
pub enum StripeMode {
    /// No key: the embedded emulator stands in for Stripe (loopback only).
    Demo,
    /// A real Stripe account, in test or live mode.
    Stripe { secret_key: String, live: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The validated configuration. (`Debug` leaves the secrets out: keys, tokens, passwords.)
#[derive(Clone)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub bind: SocketAddr,
    /// `None`: derived from the address actually bound (`http://` + BIND).
    pub public_url: Option<Url>,
    /// Raw key bytes (≥ 64). `None` only in demo mode, where a key is kept in a file.
    pub session_key: Option<Vec<u8>>,
    pub stripe: StripeMode,
    pub webhook_secret: Option<String>,
    pub stripe_api_base: Option<Url>,
    /// Per-attempt timeout of Stripe calls.
    pub stripe_timeout: std::time::Duration,
    pub emulator_bind: SocketAddr,
    pub emulator_db: Option<String>,
    /// `EMULATOR_RATE_LIMITS=off|test|live`: the demo's emulator enforces Stripe's rate limits.
    pub emulator_rate_limits: stripe_emulator::rate_limits::Mode,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub metrics_token: Option<String>,
    pub log_format: LogFormat,
    pub currency: Currency,
    /// Proxies whose `X-Forwarded-For`/`Forwarded` we believe (`TRUSTED_PROXIES`); none by default.
    pub trusted_proxies: crate::web::client::TrustedProxies,
    /// `ALLOW_INSECURE_PUBLIC_URL=1`: with a key, accept an `http://` (or unset) `PUBLIC_URL`,
    /// for a local test against Stripe's test mode or a standalone emulator.
    pub allow_insecure_public_url: bool,
    /// `STRIPE_TAX=on`: Checkout computes tax (Stripe Tax); off, we tell Stripe so explicitly.
    pub tax: TaxSetting,
    /// Countries physical goods ship to (`SHIP_TO`, ISO codes; Checkout offers only these).
    pub ship_to: Vec<String>,
    /// `COLLECT_PHONE=on`: Checkout also asks for a phone number when it asks for an address.
    pub collect_phone: bool,
    /// `MEDIA_DIR`: where product pictures are served from (a copy of what the database holds);
    /// by default `media` beside the SQLite file, or in the working directory.
    pub media_dir: std::path::PathBuf,
    /// When background jobs run on this instance.
    pub jobs: JobSettings,
    /// `REFUND_POLICY_FILE`: the merchant's refund policy in Markdown (`/refund-policy`); none,
    /// the shop's default text.
    pub refund_policy_file: Option<std::path::PathBuf>,
    /// Abandoned-checkout recovery e-mails (`RECOVERY_DELAY`, `RECOVERY_PROMOTION_CODE`).
    pub recovery: RecoverySettings,
    /// `STRIPE_RATE_LIMIT`: the calls a second the shop allows itself at Stripe, all instances
    /// together; `STRIPE_INSTANCES`: how many instances share it (unset: as many as have a
    /// heartbeat in the database, see `crate::instances`).
    pub stripe_rate_limit: StripeRateLimit,
    pub stripe_instances: Option<u32>,
}

/// The shop's own limit on Stripe calls (see `payments::budget`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripeRateLimit {
    /// A share of the account's limit: 80 a second with a live key, 20 with a test key; in
    /// demo mode, as the emulator's limits (none unless `EMULATOR_RATE_LIMITS` is set).
    Default,
    Off,
    PerSecond(u32),
}

impl Config {
    /// This instance's calls a second at Stripe (`None`: no limit).
    pub fn stripe_calls_per_second(&self) -> Option<u32> {
        use stripe_emulator::rate_limits::Mode;
        match (self.stripe_rate_limit, &self.stripe) {
            (StripeRateLimit::Off, _) => None,
            (StripeRateLimit::PerSecond(n), _) => Some(n),
            (StripeRateLimit::Default, StripeMode::Stripe { live, .. }) => {
                Some(crate::payments::budget::default_limit(*live))
            }
            (StripeRateLimit::Default, StripeMode::Demo) => match self.emulator_rate_limits {
                Mode::Off => None,
                Mode::Test => Some(crate::payments::budget::default_limit(false)),
                Mode::Live => Some(crate::payments::budget::default_limit(true)),
            },
        }
    }
}

/// When a recovery e-mail goes out after a consenting shopper's checkout expired
/// (`RECOVERY_DELAY`, seconds, default an hour; `off`: never), and the promotion code it may
/// offer (`RECOVERY_PROMOTION_CODE`, one made at Stripe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverySettings {
    pub delay: Option<i64>,
    pub promotion_code: Option<String>,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        Self {
            delay: Some(3600),
            promotion_code: None,
        }
    }
}

impl RecoverySettings {
    fn parse(delay: Option<&str>, code: Option<&str>) -> Result<Self, ConfigError> {
        let delay = match delay.map(str::trim) {
            None => Self::default().delay,
            Some("off") => None,
            Some(raw) => Some(
                raw.parse::<i64>()
                    .ok()
                    .filter(|s| (60..=7 * 86_400).contains(s))
                    .ok_or_else(|| {
                        ConfigError::new(
                            "RECOVERY_DELAY",
                            "must be off or a whole number of seconds from 60 to 604800",
                        )
                    })?,
            ),
        };
        let promotion_code = match code.map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(c)
                if c.len() <= 40
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                Some(c.to_owned())
            }
            Some(_) => {
                return Err(ConfigError::new(
                    "RECOVERY_PROMOTION_CODE",
                    "must be a promotion code of up to 40 letters, digits, - or _",
                ));
            }
        };
        Ok(Self {
            delay,
            promotion_code,
        })
    }
}

/// The background jobs' timing (`SWEEP_INTERVAL`, `RECONCILE_INTERVAL`, in seconds) and whether
/// this instance runs them at all (`INSTANCE_JOBS=on|off`). Every job is safe to run on every
/// instance (each claims its work in the database); a deployment may still keep them off
/// some instances, and tests run them often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSettings {
    pub enabled: bool,
    /// The reservation sweep and back-in-stock pass.
    pub sweep_every: std::time::Duration,
    /// The reconcile with Stripe's event list.
    pub reconcile_every: std::time::Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            sweep_every: std::time::Duration::from_secs(60),
            reconcile_every: std::time::Duration::from_secs(600),
        }
    }
}

impl JobSettings {
    fn parse(
        enabled: Option<&str>,
        sweep: Option<&str>,
        reconcile: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let enabled = match enabled {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => {
                return Err(ConfigError::new(
                    "INSTANCE_JOBS",
                    format!("must be on or off, not {other:?}"),
                ));
            }
        };
        let seconds = |var: &'static str, raw: Option<&str>, default: std::time::Duration| match raw
        {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=86_400).contains(s))
                .map(std::time::Duration::from_secs)
                .ok_or_else(|| {
                    ConfigError::new(var, "must be a whole number of seconds from 1 to 86400")
                }),
        };
        Ok(Self {
            enabled,
            sweep_every: seconds("SWEEP_INTERVAL", sweep, defaults.sweep_every)?,
            reconcile_every: seconds("RECONCILE_INTERVAL", reconcile, defaults.reconcile_every)?,
        })
    }
}

impl Config {
    /// `media` beside the SQLite file (or in the working directory for PostgreSQL).
    fn default_media_dir(database_url: &DatabaseUrl) -> std::path::PathBuf {
        let beside = database_url
            .sqlite_path()
            .and_then(|p| std::path::Path::new(p).parent())
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        beside.join("media")
    }
}

/// Where physical goods ship to unless `SHIP_TO` says otherwise.
pub const DEFAULT_SHIP_TO: &str = "US,CA,GB,DE,FR,NL,AU";

/// `SHIP_TO`: comma-separated two-letter country codes Stripe knows, at least one.
fn parse_ship_to(raw: &str) -> Result<Vec<String>, ConfigError> {
    use stripe_checkout::checkout_session::CreateCheckoutSessionShippingAddressCollectionAllowedCountries as Country;
    let mut out: Vec<String> = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let code = part.to_ascii_uppercase();
        let known =
            code.len() == 2 && !matches!(code.parse::<Country>(), Ok(Country::Unknown(_)) | Err(_));
        if !known {
            return Err(ConfigError::new(
                "SHIP_TO",
                format!(
                    "{part:?} is not a country Checkout can ship to (use two-letter codes like US,GB,DE)"
                ),
            ));
        }
        if !out.contains(&code) {
            out.push(code);
        }
    }
    if out.is_empty() {
        return Err(ConfigError::new(
            "SHIP_TO",
            "name at least one country, like US,GB,DE",
        ));
    }
    Ok(out)
}

/// Whether Checkout adds tax, and how our prices relate to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxSetting {
    Off,
    /// Tax is added on top of our prices (`STRIPE_TAX_BEHAVIOR=exclusive`, the default).
    Exclusive,
    /// Our prices include tax (`STRIPE_TAX_BEHAVIOR=inclusive`).
    Inclusive,
}

impl TaxSetting {
    pub fn is_on(self) -> bool {
        self != TaxSetting::Off
    }

    /// Stripe's `tax_behavior` for our prices, when tax is on.
    pub fn behavior(self) -> Option<&'static str> {
        match self {
            TaxSetting::Off => None,
            TaxSetting::Exclusive => Some("exclusive"),
            TaxSetting::Inclusive => Some("inclusive"),
        }
    }

    fn parse(tax: Option<&str>, behavior: Option<&str>) -> Result<Self, ConfigError> {
        let on = match tax {
            None | Some("off") => false,
            Some("on") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "STRIPE_TAX",
                    format!("must be on or off, not {other:?}"),
                ));
            }
        };
        let setting = match behavior {
            None | Some("exclusive") => TaxSetting::Exclusive,
            Some("inclusive") => TaxSetting::Inclusive,
            Some(other) => {
                return Err(ConfigError::new(
                    "STRIPE_TAX_BEHAVIOR",
                    format!("must be exclusive or inclusive, not {other:?}"),
                ));
            }
        };
        Ok(if on { setting } else { TaxSetting::Off })
    }
}

/// The default `DATABASE_URL` with a Stripe key.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://storefront.db";
/// The default `DATABASE_URL` in demo mode: another file, so demo data never becomes a real
/// shop's by accident.
pub const DEFAULT_DEMO_DATABASE_URL: &str = "sqlite://storefront-demo.db";

pub const SESSION_KEY_MIN_BYTES: usize = 64;

impl Config {
    /// Reads the process environment (after an optional `.env` file).
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Parses configuration from any variable source; tests pass a map.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        // An empty variable means the same as an unset one.
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        let bind = parse_socket("BIND", get("BIND").as_deref().unwrap_or("127.0.0.1:8080"))?;

        let public_url = match get("PUBLIC_URL") {
            None => None,
            Some(raw) => {
                let url = Url::parse(&raw).map_err(|e| {
                    ConfigError::new("PUBLIC_URL", format!("not a valid URL ({e})"))
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(ConfigError::new(
                        "PUBLIC_URL",
                        "must be an http:// or https:// URL with a host",
                    ));
                }
                Some(url)
            }
        };

        let stripe = match get("STRIPE_SECRET_KEY") {
            None => StripeMode::Demo,
            Some(key) => {
                let live = if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
                    true
                } else if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
                    false
                } else {
                    return Err(ConfigError::new(
                        "STRIPE_SECRET_KEY",
                        "must start with sk_test_, sk_live_, rk_test_ or rk_live_",
                    ));
                };
                StripeMode::Stripe {
                    secret_key: key,
                    live,
                }
            }
        };

        // Demo data and a real shop's data never share a default file: a demo run followed by a
        // start with a key must not find the demo admin waiting (see `crate::installation`).
        let default_database = match &stripe {
            StripeMode::Demo => DEFAULT_DEMO_DATABASE_URL,
            StripeMode::Stripe { .. } => DEFAULT_DATABASE_URL,
        };
        let database_url =
            DatabaseUrl::parse(&get("DATABASE_URL").unwrap_or_else(|| default_database.into()))?;

        let allow_insecure_public_url = match get("ALLOW_INSECURE_PUBLIC_URL").as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "ALLOW_INSECURE_PUBLIC_URL",
                    format!("must be 1 or 0, not {other:?}"),
                ));
            }
        };

        let session_key = match get("SESSION_KEY") {
            None => None,
            Some(raw) => Some(decode_session_key(&raw)?),
        };

        let webhook_secret = match get("STRIPE_WEBHOOK_SECRET") {
            None => None,
            Some(s) if s.starts_with("whsec_") && s.len() > "whsec_".len() => Some(s),
            Some(_) => {
                return Err(ConfigError::new(
                    "STRIPE_WEBHOOK_SECRET",
                    "must start with whsec_",
                ));
            }
        };

        let stripe_api_base = match get("STRIPE_API_BASE") {
            None => None,
            Some(raw) => {
                let mut url = Url::parse(&raw).map_err(|e| {
                    ConfigError::new("STRIPE_API_BASE", format!("not a valid URL ({e})"))
                })?;
                // async-stripe appends "v1/…" to the base, so the base must end with a slash.
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                Some(url)
            }
        };

        let stripe_timeout = match get("STRIPE_TIMEOUT") {
            None => std::time::Duration::from_secs(15),
            Some(raw) => raw
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0 && *s <= 120.0)
                .map(std::time::Duration::from_secs_f64)
                .ok_or_else(|| {
                    ConfigError::new(
                        "STRIPE_TIMEOUT",
                        "must be a number of seconds between 0 and 120",
                    )
                })?,
        };

        let emulator_bind = parse_socket(
            "EMULATOR_BIND",
            get("EMULATOR_BIND").as_deref().unwrap_or("127.0.0.1:12111"),
        )?;

        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("must be pretty or json, not {other:?}"),
                ));
            }
        };

        let currency = Currency::parse(get("CURRENCY").as_deref().unwrap_or("usd"))
            .map_err(|e| ConfigError::new("CURRENCY", e))?;

        let trusted_proxies = match get("TRUSTED_PROXIES") {
            None => crate::web::client::TrustedProxies::default(),
            Some(raw) => crate::web::client::TrustedProxies::parse(&raw)
                .map_err(|e| ConfigError::new("TRUSTED_PROXIES", e))?,
        };

        let tax = TaxSetting::parse(
            get("STRIPE_TAX").as_deref(),
            get("STRIPE_TAX_BEHAVIOR").as_deref(),
        )?;

        let ship_to = parse_ship_to(get("SHIP_TO").as_deref().unwrap_or(DEFAULT_SHIP_TO))?;
        let collect_phone = match get("COLLECT_PHONE").as_deref() {
            None | Some("off") => false,
            Some("on") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "COLLECT_PHONE",
                    format!("must be on or off, not {other:?}"),
                ));
            }
        };

        let media_dir = get("MEDIA_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| Config::default_media_dir(&database_url));
        let jobs = JobSettings::parse(
            get("INSTANCE_JOBS").as_deref(),
            get("SWEEP_INTERVAL").as_deref(),
            get("RECONCILE_INTERVAL").as_deref(),
        )?;
        let emulator_rate_limits = match get("EMULATOR_RATE_LIMITS") {
            None => stripe_emulator::rate_limits::Mode::Off,
            Some(raw) => stripe_emulator::rate_limits::Mode::parse(&raw).ok_or_else(|| {
                ConfigError::new("EMULATOR_RATE_LIMITS", "must be off, test or live")
            })?,
        };
        let stripe_rate_limit = match get("STRIPE_RATE_LIMIT").as_deref().map(str::trim) {
            None => StripeRateLimit::Default,
            Some("off") => StripeRateLimit::Off,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .map(StripeRateLimit::PerSecond)
                .ok_or_else(|| {
                    ConfigError::new(
                        "STRIPE_RATE_LIMIT",
                        "must be off or calls a second from 1 to 10000",
                    )
                })?,
        };
        let stripe_instances = match get("STRIPE_INSTANCES") {
            None => None,
            Some(raw) => Some(
                raw.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        ConfigError::new(
                            "STRIPE_INSTANCES",
                            "must be a whole number from 1 to 1000",
                        )
                    })?,
            ),
        };
        let recovery = RecoverySettings::parse(
            get("RECOVERY_DELAY").as_deref(),
            get("RECOVERY_PROMOTION_CODE").as_deref(),
        )?;
        let config = Config {
            stripe_rate_limit,
            stripe_instances,
            recovery,
            tax,
            ship_to,
            collect_phone,
            database_url,
            bind,
            public_url,
            session_key,
            stripe,
            webhook_secret,
            stripe_api_base,
            stripe_timeout,
            emulator_bind,
            emulator_db: get("EMULATOR_DB"),
            emulator_rate_limits,
            media_dir,
            jobs,
            refund_policy_file: get("REFUND_POLICY_FILE").map(std::path::PathBuf::from),
            smtp_url: get("SMTP_URL"),
            mail_from: get("MAIL_FROM"),
            metrics_token: get("METRICS_TOKEN"),
            log_format,
            currency,
            trusted_proxies,
            allow_insecure_public_url,
        };
        config.check_mode()?;
        Ok(config)
    }

    pub fn is_demo(&self) -> bool {
        self.stripe == StripeMode::Demo
    }

    /// Demo mode gives goods away for test cards, so it must never face a network;
    /// a real key needs the secrets that demo mode would otherwise generate.
    fn check_mode(&self) -> Result<(), ConfigError> {
        if self.is_demo() {
            if !self.bind.ip().is_loopback() {
                return Err(ConfigError::new(
                    "STRIPE_SECRET_KEY",
                    format!(
                        "not set, so the shop would run in demo mode, which only listens on a loopback BIND (BIND is {})",
                        self.bind
                    ),
                ));
            }
            if let Some(url) = &self.public_url
                && !host_is_loopback(url)
            {
                return Err(ConfigError::new(
                    "STRIPE_SECRET_KEY",
                    format!(
                        "not set, so the shop would run in demo mode, which only serves a loopback PUBLIC_URL (PUBLIC_URL is {url})"
                    ),
                ));
            }
            // The emulator's API and control API (`/_emulator/…`) can mark orders paid and
            // move time: never on a network either.
            if !self.emulator_bind.ip().is_loopback() {
                return Err(ConfigError::new(
                    "EMULATOR_BIND",
                    format!(
                        "must be a loopback address in demo mode: the built-in Stripe emulator's API and control API would be open to the network (EMULATOR_BIND is {})",
                        self.emulator_bind
                    ),
                ));
            }
        } else {
            if self.session_key.is_none() {
                return Err(ConfigError::new(
                    "SESSION_KEY",
                    "required when STRIPE_SECRET_KEY is set (64+ random bytes, base64; e.g. `openssl rand -base64 64`)",
                ));
            }
            // The session cookie's Secure flag, HSTS and Stripe's return URLs all follow
            // PUBLIC_URL's scheme: a real shop must be https.
            let https = self
                .public_url
                .as_ref()
                .is_some_and(|u| u.scheme() == "https");
            if !https && !self.allow_insecure_public_url {
                let is = match &self.public_url {
                    Some(u) => format!("PUBLIC_URL is {u}"),
                    None => "PUBLIC_URL is unset".into(),
                };
                return Err(ConfigError::new(
                    "PUBLIC_URL",
                    format!(
                        "must be an https:// URL when STRIPE_SECRET_KEY is set ({is}); for a local test only, set ALLOW_INSECURE_PUBLIC_URL=1"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The secret key the shop's Stripe client uses.
    pub fn stripe_secret_key(&self) -> &str {
        match &self.stripe {
            StripeMode::Demo => DEMO_SECRET_KEY,
            StripeMode::Stripe { secret_key, .. } => secret_key,
        }
    }

    /// "demo", "Stripe test mode" or "Stripe live mode", for the start-up banner.
    pub fn mode_label(&self) -> &'static str {
        match self.stripe {
            StripeMode::Demo => "demo (built-in Stripe emulator, no real payments)",
            StripeMode::Stripe { live: false, .. } => "Stripe test mode",
            StripeMode::Stripe { live: true, .. } => "Stripe LIVE mode",
        }
    }
}

/// The key the shop presents to its own embedded emulator.
pub const DEMO_SECRET_KEY: &str = "sk_test_storefront_demo";

fn parse_socket(var: &'static str, raw: &str) -> Result<SocketAddr, ConfigError> {
    raw.parse().map_err(|_| {
        ConfigError::new(
            var,
            format!("must be an address with a port, like 127.0.0.1:8080 (got {raw:?})"),
        )
    })
}

fn host_is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Decodes `SESSION_KEY` (standard or URL-safe base64, padded or not).
pub fn decode_session_key(raw: &str) -> Result<Vec<u8>, ConfigError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let raw = raw.trim();
    let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(raw).ok())
        .ok_or_else(|| ConfigError::new("SESSION_KEY", "is not valid base64"))?;
    if bytes.len() < SESSION_KEY_MIN_BYTES {
        return Err(ConfigError::new(
            "SESSION_KEY",
            format!(
                "too short: {} bytes after base64 decoding, at least {SESSION_KEY_MIN_BYTES} needed (e.g. `openssl rand -base64 64`)",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    fn key64() -> String {
        base64::engine::general_purpose::STANDARD.encode([7u8; 64])
    }

    #[test]
    fn the_stripe_rate_limit_follows_the_mode_unless_set() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            c.stripe_calls_per_second(),
            None,
            "demo, emulator limits off"
        );
        let c = parse(&[("EMULATOR_RATE_LIMITS", "test")]).unwrap();
        assert_eq!(c.stripe_calls_per_second(), Some(20));
        let c = parse(&[("STRIPE_RATE_LIMIT", "7"), ("STRIPE_INSTANCES", "2")]).unwrap();
        assert_eq!(
            (c.stripe_calls_per_second(), c.stripe_instances),
            (Some(7), Some(2))
        );
        let c = parse(&[
            ("EMULATOR_RATE_LIMITS", "live"),
            ("STRIPE_RATE_LIMIT", "off"),
        ])
        .unwrap();
        assert_eq!(c.stripe_calls_per_second(), None);
        for (var, bad) in [
            ("STRIPE_RATE_LIMIT", "0"),
            ("STRIPE_RATE_LIMIT", "fast"),
            ("STRIPE_INSTANCES", "0"),
            ("EMULATOR_RATE_LIMITS", "slow"),
        ] {
            assert_eq!(parse(&[(var, bad)]).unwrap_err().var, var, "{bad:?}");
        }
    }

    #[test]
    fn the_recovery_delay_and_code_are_checked() {
        let r = parse(&[]).unwrap().recovery;
        assert_eq!((r.delay, r.promotion_code), (Some(3600), None));
        let r = parse(&[("RECOVERY_DELAY", "off")]).unwrap().recovery;
        assert_eq!(r.delay, None);
        let r = parse(&[
            ("RECOVERY_DELAY", "7200"),
            ("RECOVERY_PROMOTION_CODE", "COMEBACK10"),
        ])
        .unwrap()
        .recovery;
        assert_eq!(
            (r.delay, r.promotion_code.as_deref()),
            (Some(7200), Some("COMEBACK10"))
        );
        for bad in ["59", "604801", "1h", "-5"] {
            let e = parse(&[("RECOVERY_DELAY", bad)]).unwrap_err();
            assert_eq!(e.var, "RECOVERY_DELAY", "{bad:?}");
        }
        let e = parse(&[("RECOVERY_PROMOTION_CODE", "10% OFF")]).unwrap_err();
        assert_eq!(e.var, "RECOVERY_PROMOTION_CODE");
    }

    #[test]
    fn job_intervals_and_the_instance_switch_are_checked() {
        let jobs = parse(&[]).unwrap().jobs;
        assert_eq!(jobs, JobSettings::default());
        assert_eq!(jobs.sweep_every.as_secs(), 60);
        assert_eq!(jobs.reconcile_every.as_secs(), 600);
        let jobs = parse(&[
            ("SWEEP_INTERVAL", "5"),
            ("RECONCILE_INTERVAL", "30"),
            ("INSTANCE_JOBS", "off"),
        ])
        .unwrap()
        .jobs;
        assert!(!jobs.enabled);
        assert_eq!(jobs.sweep_every.as_secs(), 5);
        assert_eq!(jobs.reconcile_every.as_secs(), 30);
        for (var, value) in [
            ("SWEEP_INTERVAL", "0"),
            ("SWEEP_INTERVAL", "1.5"),
            ("RECONCILE_INTERVAL", "86401"),
            ("RECONCILE_INTERVAL", "soon"),
            ("INSTANCE_JOBS", "yes"),
        ] {
            let err = parse(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
        }
    }

    #[test]
    fn defaults_are_a_loopback_demo_on_sqlite() {
        let c = parse(&[]).unwrap();
        assert!(c.is_demo());
        assert_eq!(
            c.database_url,
            DatabaseUrl::Sqlite("storefront-demo.db".into())
        );
        assert_eq!(c.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.currency.code(), "usd");
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.tax, TaxSetting::Off);
    }

    #[test]
    fn malformed_database_url_names_the_variable() {
        for bad in ["mysql://x", "storefront.db", "sqlite://", "postgres://"] {
            let err = parse(&[("DATABASE_URL", bad)]).unwrap_err();
            assert_eq!(err.var, "DATABASE_URL", "{bad}: {err}");
        }
        let ok = parse(&[("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shop")]).unwrap();
        assert!(matches!(ok.database_url, DatabaseUrl::Postgres(_)));
    }

    #[test]
    fn short_or_garbled_session_key_is_refused() {
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        let err = parse(&[("SESSION_KEY", &short)]).unwrap_err();
        assert_eq!(err.var, "SESSION_KEY");
        assert!(err.problem.contains("32 bytes"), "{err}");
        assert_eq!(
            parse(&[("SESSION_KEY", "!!!not base64!!!")])
                .unwrap_err()
                .var,
            "SESSION_KEY"
        );
        assert_eq!(
            parse(&[("SESSION_KEY", &key64())])
                .unwrap()
                .session_key
                .unwrap()
                .len(),
            64
        );
    }

    #[test]
    fn demo_mode_refuses_a_public_bind_or_url() {
        let err = parse(&[("BIND", "0.0.0.0:8080")]).unwrap_err();
        assert_eq!(err.var, "STRIPE_SECRET_KEY");
        assert!(err.problem.contains("0.0.0.0:8080"));
        let err = parse(&[("PUBLIC_URL", "https://shop.example.com")]).unwrap_err();
        assert_eq!(err.var, "STRIPE_SECRET_KEY");
        assert!(parse(&[("PUBLIC_URL", "http://localhost:8080")]).is_ok());
        assert!(parse(&[("BIND", "[::1]:8080")]).is_ok());
    }

    #[test]
    fn a_real_key_needs_a_session_key_and_allows_a_public_bind() {
        let err =
            parse(&[("STRIPE_SECRET_KEY", "sk_test_abc"), ("BIND", "0.0.0.0:80")]).unwrap_err();
        assert_eq!(err.var, "SESSION_KEY");
        let k = key64();
        let c = parse(&[
            ("STRIPE_SECRET_KEY", "sk_live_abc"),
            ("BIND", "0.0.0.0:80"),
            ("SESSION_KEY", &k),
            ("PUBLIC_URL", "https://shop.example.com"),
        ])
        .unwrap();
        assert_eq!(
            c.stripe,
            StripeMode::Stripe {
                secret_key: "sk_live_abc".into(),
                live: true
            }
        );
        assert_eq!(
            parse(&[("STRIPE_SECRET_KEY", "pk_test_abc")])
                .unwrap_err()
                .var,
            "STRIPE_SECRET_KEY"
        );
    }

    #[test]
    fn demo_mode_refuses_a_public_emulator_bind() {
        for bad in ["0.0.0.0:12111", "[::]:12111", "192.0.2.10:12111"] {
            let err = parse(&[("EMULATOR_BIND", bad)]).unwrap_err();
            assert_eq!(err.var, "EMULATOR_BIND", "{bad}: {err}");
            assert!(err.problem.contains(bad), "{err}");
        }
        assert!(parse(&[("EMULATOR_BIND", "127.0.0.1:0")]).is_ok());
        assert!(parse(&[("EMULATOR_BIND", "[::1]:12111")]).is_ok());
    }

    #[test]
    fn a_real_key_needs_an_https_public_url_unless_insecure_is_allowed_for_a_test() {
        let k = key64();
        let base = [
            ("STRIPE_SECRET_KEY", "sk_test_abc"),
            ("SESSION_KEY", k.as_str()),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            parse(&vars)
        };
        let err = with(&[]).unwrap_err();
        assert_eq!(err.var, "PUBLIC_URL");
        assert!(err.problem.contains("unset"), "{err}");
        assert!(err.problem.contains("ALLOW_INSECURE_PUBLIC_URL=1"), "{err}");
        let err = with(&[("PUBLIC_URL", "http://shop.example.com")]).unwrap_err();
        assert_eq!(err.var, "PUBLIC_URL");
        assert!(err.problem.contains("http://shop.example.com"), "{err}");
        assert!(with(&[("PUBLIC_URL", "https://shop.example.com")]).is_ok());
        assert!(
            with(&[
                ("PUBLIC_URL", "http://127.0.0.1:8080"),
                ("ALLOW_INSECURE_PUBLIC_URL", "1")
            ])
            .is_ok()
        );
        assert!(with(&[("ALLOW_INSECURE_PUBLIC_URL", "1")]).is_ok());
        assert_eq!(
            with(&[("ALLOW_INSECURE_PUBLIC_URL", "yes")])
                .unwrap_err()
                .var,
            "ALLOW_INSECURE_PUBLIC_URL"
        );
        assert!(
            with(&[("ALLOW_INSECURE_PUBLIC_URL", "0")]).is_err(),
            "0 does not allow"
        );
        // Demo mode is loopback-only and needs nothing of the sort.
        assert!(parse(&[("PUBLIC_URL", "http://127.0.0.1:8080")]).is_ok());
    }

    #[test]
    fn demo_data_and_a_real_shop_have_different_default_files() {
        assert_eq!(
            parse(&[]).unwrap().database_url,
            DatabaseUrl::Sqlite("storefront-demo.db".into())
        );
        let k = key64();
        let c = parse(&[
            ("STRIPE_SECRET_KEY", "sk_test_abc"),
            ("SESSION_KEY", &k),
            ("PUBLIC_URL", "https://shop.example.com"),
        ])
        .unwrap();
        assert_eq!(c.database_url, DatabaseUrl::Sqlite("storefront.db".into()));
    }

    #[test]
    fn other_variables_are_checked() {
        assert_eq!(parse(&[("BIND", "localhost")]).unwrap_err().var, "BIND");
        assert_eq!(
            parse(&[("EMULATOR_BIND", "nope")]).unwrap_err().var,
            "EMULATOR_BIND"
        );
        assert_eq!(
            parse(&[("PUBLIC_URL", "ftp://x")]).unwrap_err().var,
            "PUBLIC_URL"
        );
        assert_eq!(
            parse(&[("STRIPE_WEBHOOK_SECRET", "abc")]).unwrap_err().var,
            "STRIPE_WEBHOOK_SECRET"
        );
        assert_eq!(
            parse(&[("LOG_FORMAT", "xml")]).unwrap_err().var,
            "LOG_FORMAT"
        );
        assert_eq!(
            parse(&[("STRIPE_TAX", "yes")]).unwrap_err().var,
            "STRIPE_TAX"
        );
        assert_eq!(
            parse(&[("STRIPE_TAX", "on"), ("STRIPE_TAX_BEHAVIOR", "gross")])
                .unwrap_err()
                .var,
            "STRIPE_TAX_BEHAVIOR"
        );
        assert_eq!(
            parse(&[("STRIPE_TAX", "on"), ("STRIPE_TAX_BEHAVIOR", "inclusive")])
                .unwrap()
                .tax,
            TaxSetting::Inclusive
        );
        assert_eq!(
            parse(&[("CURRENCY", "dollars")]).unwrap_err().var,
            "CURRENCY"
        );
        assert_eq!(
            parse(&[("CURRENCY", "JPY")]).unwrap().currency.code(),
            "jpy"
        );
    }

    #[test]
    fn api_base_gets_a_trailing_slash() {
        let c = parse(&[("STRIPE_API_BASE", "http://127.0.0.1:12111/stripe")]).unwrap();
        assert_eq!(
            c.stripe_api_base.unwrap().as_str(),
            "http://127.0.0.1:12111/stripe/"
        );
    }

    #[test]
    fn ship_to_takes_known_country_codes() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.ship_to, vec!["US", "CA", "GB", "DE", "FR", "NL", "AU"]);
        assert!(!c.collect_phone);
        let c = parse(&[("SHIP_TO", "gb, de ,GB"), ("COLLECT_PHONE", "on")]).unwrap();
        assert_eq!(c.ship_to, vec!["GB", "DE"]);
        assert!(c.collect_phone);
        for bad in ["QQ", "USA", "U1", ", ,"] {
            let err = parse(&[("SHIP_TO", bad)]).expect_err(bad);
            assert_eq!(err.var, "SHIP_TO", "{bad}");
        }
        assert!(parse(&[("COLLECT_PHONE", "yes")]).is_err());
    }

    #[test]
    fn redacted_url_hides_the_password() {
        let u = DatabaseUrl::parse("postgres://shop:secret@db:5432/shop").unwrap();
        assert!(!u.redacted().contains("secret"));
    }
}

// Secrets never reach a log line, even through `?config`.
const REDACTED: &str = "[redacted]";

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for StripeMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StripeMode::Demo => f.write_str("Demo"),
            StripeMode::Stripe { live, .. } => f
                .debug_struct("Stripe")
                .field("secret_key", &REDACTED)
                .field("live", live)
                .finish(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |v: bool| if v { Some(REDACTED) } else { None };
        f.debug_struct("Config")
            .field("database_url", &self.database_url)
            .field("bind", &self.bind)
            .field("public_url", &self.public_url)
            .field("session_key", &secret(self.session_key.is_some()))
            .field("stripe", &self.stripe)
            .field("webhook_secret", &secret(self.webhook_secret.is_some()))
            .field("stripe_api_base", &self.stripe_api_base)
            .field("stripe_timeout", &self.stripe_timeout)
            .field("emulator_bind", &self.emulator_bind)
            .field("emulator_db", &self.emulator_db)
            .field("smtp_url", &secret(self.smtp_url.is_some()))
            .field("mail_from", &self.mail_from)
            .field("metrics_token", &secret(self.metrics_token.is_some()))
            .field("log_format", &self.log_format)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("allow_insecure_public_url", &self.allow_insecure_public_url)
            .field("currency", &self.currency)
            .field("tax", &self.tax)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn debug_output_carries_no_secret() {
        let vars = std::collections::HashMap::from([
            ("DATABASE_URL", "postgres://shop:dbpass@127.0.0.1/shop"),
            ("STRIPE_SECRET_KEY", "sk_test_abcdefSECRET"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_SECRET"),
            (
                "SESSION_KEY",
                "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
            ),
            ("METRICS_TOKEN", "tokenSECRET"),
            ("SMTP_URL", "smtp://u:SECRET@mail.example"),
            ("BIND", "0.0.0.0:8080"),
            ("PUBLIC_URL", "https://shop.example"),
        ]);
        let config = Config::from_lookup(|k| vars.get(k).map(|v| v.to_string()))
            .expect("valid configuration");
        let text = format!("{config:?}");
        assert!(
            !text.contains("SECRET") && !text.contains("dbpass"),
            "{text}"
        );
        assert!(!text.contains("c2VjcmV0"), "{text}");
        assert!(
            text.contains("metrics_token: Some(\"[redacted]\")"),
            "{text}"
        );
    }
}
