//! Builds the whole application from a [`Config`], exactly as `main` and the tests do.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use base64::Engine as _;
use rand::RngCore as _;
use url::Url;

use crate::catalog::seed::{self, CatalogFile};
use crate::clock::Clock;
use crate::config::{Config, ConfigError, SESSION_KEY_MIN_BYTES, decode_session_key};
use crate::db::{self, Pool};
use crate::error::{AppError, render_error_page};
use crate::payments::Stripe;
use crate::state::AppState;
use crate::web::{assets, canonical_host, security, telemetry};
use crate::{
    accounts, admin, cart, catalog, checkout, health, installation, subscriptions, webhooks,
};
use stripe_emulator::{Emulator, EmulatorConfig, WebhookTarget};

/// A built application, bound to its port and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    emulator: Option<Emulator>,
    jobs: Option<crate::jobs::Jobs>,
    heartbeat: Option<crate::instances::Heartbeat>,
}

/// Why start-up failed: a configuration problem (one line naming the variable) or anything else.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Application {
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let pool = connect_and_migrate(&config).await?;

        if config.is_demo() {
            let currency = config.currency;
            let now = clock.unix();
            let seeded = blocking(pool.clone(), move |conn| {
                if !seed::catalog_is_empty(conn)? {
                    return Ok(None);
                }
                let file = CatalogFile::demo(currency)?;
                Ok(Some(seed::seed(conn, &file, currency, now)?))
            })
            .await
            .context("seeding the demo catalogue")?;
            if let Some(report) = seeded {
                tracing::info!(%report, "seeded the demo catalogue");
            }
            let now = clock.unix();
            if blocking(pool.clone(), move |conn| {
                admin::users::seed_demo_admin(conn, now)
            })
            .await
            .context("seeding the demo admin")?
            {
                tracing::info!(
                    email = admin::users::DEMO_ADMIN_EMAIL,
                    "seeded the demo admin"
                );
            }
        }

        let key = session_key(&config)?;
        let listener = TcpListener::bind(config.bind).map_err(|e| {
            ConfigError::new("BIND", format!("cannot listen on {}: {e}", config.bind))
        })?;
        let local = listener.local_addr().context("reading the bound address")?;
        let public_url = match &config.public_url {
            Some(u) => u.clone(),
            None => Url::parse(&format!("http://{local}/")).context("building PUBLIC_URL")?,
        };
        let https = public_url.scheme() == "https";

        let (state, emulator, payment_origins) =
            build_state(config, clock, public_url, EmulatorMode::Serve, pool).await?;
        let app_state = state.clone();
        let csrf_signer =
            web::Data::new(crate::web::csrf::CsrfSigner::new(&key, state.clock.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(csrf_signer.clone())
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .app_data(
                    web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()),
                )
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    AppError::BadRequest(format!("The address has a malformed parameter: {e}."))
                        .into()
                }))
                // Inside the error pages, session, security headers and request log, so its
                // redirects and refusals get all of them.
                .wrap(from_fn(canonical_host::enforce))
                .wrap(ErrorHandlers::new().default_handler(render_error_page))
                // Inside the session (it reads who is signed in), outside the error pages.
                .wrap(from_fn(accounts::auth::no_store))
                .wrap(
                    SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                        .cookie_name(crate::web::session::cookie_name(https).into())
                        .cookie_content_security(CookieContentSecurity::Private)
                        .cookie_secure(https)
                        .cookie_http_only(true)
                        .cookie_same_site(SameSite::Lax)
                        .session_lifecycle(
                            PersistentSession::default().session_ttl(CookieDuration::days(30)),
                        )
                        .build(),
                )
                .wrap(security::headers(&payment_origins, https))
                .wrap(from_fn(telemetry::log_request))
                .configure(routes)
        })
        .workers(2)
        // Signals are ours (crate::shutdown): SIGTERM and SIGINT both stop gracefully.
        .disable_signals()
        .shutdown_timeout(crate::shutdown::SHUTDOWN_TIMEOUT.as_secs())
        .listen(listener)
        .context("starting the HTTP server")?
        .run();

        Ok(Self {
            port: local.port(),
            server,
            state,
            emulator,
            jobs: None,
            heartbeat: None,
        })
    }

    /// Starts the heartbeat (every instance: it counts the instances sharing Stripe's rate
    /// limit) and the background jobs (sweep, reconcile) unless they are off here; they stop
    /// with the server.
    pub fn start_jobs(&mut self) {
        self.heartbeat = Some(crate::instances::spawn(self.state()));
        let settings = self.state().config.jobs;
        if !settings.enabled {
            tracing::info!("background jobs are off on this instance (INSTANCE_JOBS=off)");
            return;
        }
        tracing::info!(
            sweep_seconds = settings.sweep_every.as_secs(),
            reconcile_seconds = settings.reconcile_every.as_secs(),
            "background jobs started"
        );
        self.jobs = Some(crate::jobs::spawn(self.state()));
    }

    /// Stops the server gracefully on SIGTERM or SIGINT (see [`crate::shutdown`]).
    pub fn stop_on_signals(&self) {
        crate::shutdown::stop_on_signals(self.server.handle());
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn public_url(&self) -> &Url {
        &self.state.public_url
    }

    pub fn pool(&self) -> &Pool {
        &self.state.pool
    }

    /// The embedded emulator's base URL (demo mode).
    pub fn emulator_url(&self) -> Option<url::Url> {
        self.emulator.as_ref().map(Emulator::base_url)
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until stopped; then, in order: in-flight requests finish (the server's graceful
    /// stop), background jobs finish their pass, the emulator stops.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(jobs) = self.jobs {
            jobs.stop().await;
        }
        if let Some(heartbeat) = self.heartbeat {
            heartbeat.stop().await;
        }
        if let Some(emulator) = self.emulator {
            emulator.stop().await;
        }
        tracing::info!("stopped");
        result
    }
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(catalog::routes::index))
        .route(
            "/categories/{slug}",
            web::get().to(catalog::routes::category),
        )
        .route("/search", web::get().to(catalog::routes::search))
        .route("/products/{slug}", web::get().to(catalog::routes::product))
        .route(
            "/products/{slug}/back-in-stock",
            web::post().to(catalog::routes::back_in_stock),
        )
        .route("/refund-policy", web::get().to(crate::refund_policy::page))
        .route("/cart", web::get().to(cart::routes::show))
        .route("/cart/items", web::post().to(cart::routes::add))
        .route("/cart/items/{id}", web::post().to(cart::routes::update))
        .route("/checkout", web::post().to(checkout::routes::checkout))
        .route(
            "/checkout/success",
            web::get().to(checkout::routes::success),
        )
        .route(
            "/checkout/cancel",
            web::get().to(checkout::routes::cancel_page),
        )
        .route("/checkout/cancel", web::post().to(checkout::routes::cancel))
        .route("/webhooks/stripe", web::post().to(webhooks::receive))
        .route(
            "/account/register",
            web::get().to(accounts::routes::register_form),
        )
        .route(
            "/account/register",
            web::post().to(accounts::routes::register),
        )
        .route(
            "/account/login",
            web::get().to(accounts::routes::login_form),
        )
        .route("/account/login", web::post().to(accounts::routes::login))
        .route("/account/logout", web::post().to(accounts::routes::logout))
        .route(
            "/account/logout-everywhere",
            web::post().to(accounts::routes::logout_everywhere),
        )
        .route(
            "/account/verify",
            web::get().to(accounts::email_routes::verify_form),
        )
        .route(
            "/account/verify",
            web::post().to(accounts::email_routes::verify),
        )
        .route(
            "/account/password/forgot",
            web::get().to(accounts::email_routes::forgot_form),
        )
        .route(
            "/account/password/forgot",
            web::post().to(accounts::email_routes::forgot),
        )
        .route(
            "/account/password/reset",
            web::get().to(accounts::email_routes::reset_form),
        )
        .route(
            "/account/password/reset",
            web::post().to(accounts::email_routes::reset),
        )
        .route(
            "/checkout/wait/{number}",
            web::get().to(checkout::routes::wait),
        )
        .route("/account", web::get().to(accounts::routes::orders))
        .route(
            "/account/reminders",
            web::post().to(crate::recovery::routes::set_reminders),
        )
        .route(
            "/recovery/{token}",
            web::get().to(crate::recovery::routes::show),
        )
        .route(
            "/recovery/{token}",
            web::post().to(crate::recovery::routes::restore),
        )
        .route(
            "/recovery/{token}/unsubscribe",
            web::get().to(crate::recovery::routes::unsubscribe_form),
        )
        .route(
            "/recovery/{token}/unsubscribe",
            web::post().to(crate::recovery::routes::unsubscribe),
        )
        .route(
            "/account/orders/{number}",
            web::get().to(accounts::routes::order),
        )
        .route(
            "/subscribe/{price_id}",
            web::post().to(subscriptions::routes::subscribe),
        )
        .route(
            "/account/subscriptions",
            web::get().to(subscriptions::routes::list),
        )
        .route(
            "/account/subscriptions/{id}/cancel",
            web::post().to(subscriptions::routes::cancel),
        )
        .route(
            "/account/subscriptions/{id}/resume",
            web::post().to(subscriptions::routes::resume),
        )
        .route(
            "/account/subscriptions/{id}/change",
            web::post().to(subscriptions::routes::change),
        )
        .route(
            "/account/payment-methods",
            web::get().to(accounts::cards::list),
        )
        .route(
            "/account/payment-methods/remove",
            web::post().to(accounts::cards::remove),
        )
        .route(
            "/account/billing-portal",
            web::post().to(subscriptions::routes::billing_portal),
        )
        .route("/admin/mail", web::get().to(crate::mail::routes::mailbox))
        .route(
            "/admin/dashboard",
            web::get().to(crate::dashboard::routes::dashboard),
        )
        .route("/admin", web::get().to(admin::routes::list))
        .route("/admin/events", web::get().to(admin::routes::events))
        .route(
            "/admin/orders.csv",
            web::get().to(admin::routes::orders_csv),
        )
        .route(
            "/admin/refunds.csv",
            web::get().to(admin::routes::movements_csv),
        )
        .route("/admin/health", web::get().to(admin::routes::health))
        .route(
            "/admin/events/catch-up",
            web::post().to(admin::routes::catch_up_events),
        )
        .route(
            "/admin/events/{id}/replay",
            web::post().to(admin::routes::replay_event),
        )
        .route("/admin/orders/{number}", web::get().to(admin::routes::show))
        .route(
            "/admin/orders/{number}/refunds",
            web::post().to(admin::routes::refund),
        )
        .route(
            "/admin/orders/{number}/receipt",
            web::post().to(admin::routes::resend_receipt),
        )
        .route(
            "/admin/orders/{number}/shipments",
            web::post().to(admin::routes::ship),
        )
        .route(
            "/admin/orders/{number}/shipments/{id}/delivered",
            web::post().to(admin::routes::delivered),
        )
        .route(
            "/admin/orders/{number}/packing-slip",
            web::get().to(admin::routes::packing_slip),
        )
        .route(
            "/admin/shipping",
            web::get().to(admin::routes::shipping_queue),
        )
        .route("/admin/products", web::get().to(admin::routes::products))
        .route(
            "/admin/products.csv",
            web::get().to(admin::routes::products_csv),
        )
        .route(
            "/admin/products",
            web::post().to(admin::routes::create_product),
        )
        .route(
            "/admin/products/new",
            web::get().to(admin::routes::new_product),
        )
        .route(
            "/admin/products/{slug}",
            web::get().to(admin::routes::product_page),
        )
        .route(
            "/admin/products/{slug}",
            web::post().to(admin::routes::edit_product),
        )
        .route(
            "/admin/products/{slug}/stock",
            web::post().to(admin::routes::stock),
        )
        .route(
            "/admin/products/{slug}/delete",
            web::post().to(admin::routes::delete_product),
        )
        .route(
            "/admin/products/{slug}/prices/{id}",
            web::post().to(admin::routes::change_price),
        )
        .route(
            "/admin/products/{slug}/images",
            web::post().to(admin::routes::upload_picture),
        )
        .route(
            "/admin/products/{slug}/variants",
            web::post().to(admin::routes::save_variants),
        )
        .route(
            "/admin/products/{slug}/variants/new",
            web::post().to(admin::routes::add_variant),
        )
        .route(
            "/admin/products/{slug}/variants/{id}/delete",
            web::post().to(admin::routes::remove_variant),
        )
        .route(
            "/admin/products/{slug}/images/{id}/delete",
            web::post().to(admin::routes::remove_picture),
        )
        .route(
            "/admin/products/{slug}/images/{id}/main",
            web::post().to(admin::routes::main_picture),
        )
        .route(
            "/admin/products/{slug}/keys",
            web::get().to(crate::digital::routes::keys_form),
        )
        .route(
            "/admin/products/{slug}/keys",
            web::post().to(crate::digital::routes::add_keys),
        )
        .route(
            "/downloads/{item}/{expires}/{signature}",
            web::get().to(crate::digital::routes::download),
        )
        .route("/robots.txt", web::get().to(catalog::seo::robots))
        .route("/sitemap.xml", web::get().to(catalog::seo::sitemap))
        .route("/healthz", web::get().to(health::healthz))
        .route("/metrics", web::get().to(crate::metrics::endpoint))
        .route("/static/style.css", web::get().to(assets::stylesheet))
        .route(
            "/static/products/{file}",
            web::get().to(assets::product_picture),
        )
        .route("/media/{file}", web::get().to(catalog::media::serve))
        .route("/favicon.svg", web::get().to(assets::favicon))
        .route("/favicon.ico", web::get().to(assets::favicon))
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(AppError::NotFound)
        }));
}

/// How the embedded emulator (demo mode) runs for this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmulatorMode {
    /// On `EMULATOR_BIND`, delivering webhooks to our endpoint.
    Serve,
    /// On a free port, without webhooks: for one-off commands (reconcile, stripe setup).
    Command,
}

/// The shared state (pool, Stripe client, secrets), plus the embedded emulator in demo mode and
/// the origins our forms may post to.
pub async fn build_state(
    config: Config,
    clock: Arc<dyn Clock>,
    public_url: Url,
    mode: EmulatorMode,
    pool: Pool,
) -> Result<(web::Data<AppState>, Option<Emulator>, Vec<String>), StartError> {
    let (emulator, webhook_secret) = if config.is_demo() {
        let secret = config
            .webhook_secret
            .clone()
            .unwrap_or_else(generate_webhook_secret);
        let emulator = Emulator::start(EmulatorConfig {
            bind: if mode == EmulatorMode::Serve {
                config.emulator_bind
            } else {
                "127.0.0.1:0".parse().expect("address")
            },
            db: emulator_db_path(&config),
            webhook: (mode == EmulatorMode::Serve)
                .then(|| -> anyhow::Result<WebhookTarget> {
                    Ok(WebhookTarget {
                        url: public_url
                            .join("webhooks/stripe")
                            .context("building the webhook URL")?,
                        secret: secret.clone(),
                        enabled_events: vec!["*".into()],
                        // Events in the version our client reads, as `stripe setup` pins it.
                        api_version: Some(
                            crate::payments::webhook_endpoints::pinned_version().to_owned(),
                        ),
                    })
                })
                .transpose()?,
            rate_limits: config.emulator_rate_limits,
        })
        .await
        .map_err(|e| {
            ConfigError::new(
                "EMULATOR_BIND",
                format!("the built-in Stripe emulator could not start: {e:#}"),
            )
        })?;
        (Some(emulator), secret)
    } else if mode == EmulatorMode::Command {
        (None, config.webhook_secret.clone().unwrap_or_default())
    } else {
        let secret = config.webhook_secret.clone().ok_or_else(|| {
            ConfigError::new(
                "STRIPE_WEBHOOK_SECRET",
                "required with STRIPE_SECRET_KEY (`storefront stripe setup` creates the endpoint and prints it)",
            )
        })?;
        (None, secret)
    };
    let (payment_origins, api_base) = match &emulator {
        Some(emu) => (vec![emu.origin()], Some(emu.base_url())),
        None => (security::stripe_origins(), config.stripe_api_base.clone()),
    };
    let livemode = matches!(
        config.stripe,
        crate::config::StripeMode::Stripe { live: true, .. }
    );
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let install = blocking(pool.clone(), |conn| {
        crate::installation::read(conn)?
            .ok_or_else(|| anyhow::anyhow!("the database has no installation row"))
    })
    .await
    .context("reading the install id")?;
    let stripe = Stripe::new(
        config.stripe_secret_key(),
        api_base.as_ref(),
        config.stripe_timeout,
        livemode,
        &install.install_id,
    )
    .map_err(|e| ConfigError::new("STRIPE_API_BASE", e.to_string()))?
    .with_metrics(metrics.clone())
    .with_budget(crate::payments::budget::Budget::new(
        config.stripe_calls_per_second(),
        config.stripe_instances,
    ));

    let mailer = crate::mail::worker::Transport::from_config(config.smtp_url.as_deref())?;
    let mail_from = config.mail_from.clone().unwrap_or_else(|| {
        format!(
            "Storefront <shop@{}>",
            public_url.host_str().unwrap_or("localhost")
        )
    });
    let catalogue = crate::catalog::snapshot::CatalogueCache::new(pool.clone(), config.currency);
    let links = Arc::new(crate::digital::links::LinkSigner::new(&session_key(
        &config,
    )?));
    let refund_policy = crate::refund_policy::load(config.refund_policy_file.as_deref())
        .map_err(|e| ConfigError::new("REFUND_POLICY_FILE", e))?;
    let state = web::Data::new(AppState {
        links,
        refund_policy: Arc::new(refund_policy),
        pool,
        catalogue,
        config: Arc::new(config),
        clock,
        public_url,
        stripe,
        metrics,
        webhook_secret,
        mailer: Arc::new(mailer),
        mail_from,
        hasher: Arc::new(crate::accounts::password::Hasher::for_this_machine()),
        dev_inbox: Default::default(),
    });
    Ok((state, emulator, payment_origins))
}

/// Opens the pool, migrates, and checks that the database was made in this mode (demo or with a
/// Stripe key; recorded at its first start, see [`crate::installation`]).
pub async fn connect_and_migrate(config: &Config) -> Result<Pool, StartError> {
    let mode = if config.is_demo() {
        installation::Mode::Demo
    } else {
        installation::Mode::Stripe
    };
    open_claimed(config, Some(mode)).await
}

/// For commands that add no demo data and call no Stripe (`migrate`, `seed`, `admin create`):
/// without a key they neither claim the database for a mode nor mind which mode made it.
pub async fn connect_and_migrate_for_maintenance(config: &Config) -> Result<Pool, StartError> {
    let mode = (!config.is_demo()).then_some(installation::Mode::Stripe);
    open_claimed(config, mode).await
}

async fn open_claimed(
    config: &Config,
    mode: Option<installation::Mode>,
) -> Result<Pool, StartError> {
    let pool = open_and_migrate(config).await?;
    let now = chrono::Utc::now().timestamp();
    let found = blocking(pool.clone(), move |conn| {
        Ok(installation::claim(conn, mode, now)?)
    })
    .await
    .context("recording the installation")?;
    installation::check(&found, mode, &config.database_url.redacted())?;
    Ok(pool)
}

/// Opens the pool (reporting an unreachable database as a DATABASE_URL problem) and migrates,
/// whatever mode made the database (`storefront demo purge` starts here).
pub async fn open_and_migrate(config: &Config) -> Result<Pool, StartError> {
    let url = config.database_url.clone();
    let pool = web::block(move || db::pool(&url, 10))
        .await
        .context("opening the database")?
        .map_err(|e| {
            ConfigError::new(
                "DATABASE_URL",
                format!("cannot connect to {}: {e}", config.database_url.redacted()),
            )
        })?;
    blocking(pool.clone(), |conn| {
        db::migrate(conn).map_err(|e| anyhow::anyhow!(e))
    })
    .await
    .context("applying migrations")?;
    Ok(pool)
}

async fn blocking<T: Send + 'static>(
    pool: Pool,
    f: impl FnOnce(&mut db::AnyConnection) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    web::block(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await?
}

/// The cookie key: `SESSION_KEY`, or in demo mode a key generated once and kept in a file beside
/// the SQLite database, so sessions survive restarts.
fn session_key(config: &Config) -> Result<Key, StartError> {
    let bytes = match &config.session_key {
        Some(bytes) => bytes.clone(),
        None => load_or_create_key_file(&key_file_path(config))?,
    };
    Key::try_from(bytes.as_slice())
        .map_err(|e| ConfigError::new("SESSION_KEY", format!("unusable key: {e}")).into())
}

fn generate_webhook_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// `EMULATOR_DB`, or a file beside the shop's SQLite database so a demo survives restarts.
pub fn emulator_db_path(config: &Config) -> String {
    if let Some(db) = &config.emulator_db {
        return db.clone();
    }
    match config.database_url.sqlite_path() {
        Some(db) => Path::new(db)
            .with_extension("emulator.db")
            .display()
            .to_string(),
        None => "storefront-emulator.db".into(),
    }
}

fn key_file_path(config: &Config) -> PathBuf {
    match config.database_url.sqlite_path() {
        Some(db) => Path::new(db).with_extension("session-key"),
        None => PathBuf::from("storefront.session-key"),
    }
}

fn load_or_create_key_file(path: &Path) -> Result<Vec<u8>, StartError> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return decode_session_key(&text).map_err(|e| {
            ConfigError::new(
                "SESSION_KEY",
                format!(
                    "unset, and the key file {} is unusable: {}",
                    path.display(),
                    e.problem
                ),
            )
            .into()
        });
    }
    let mut bytes = vec![0u8; SESSION_KEY_MIN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
    write_private_file(path, &text)
        .with_context(|| format!("writing the generated session key to {}", path.display()))?;
    Ok(bytes)
}

fn write_private_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}
