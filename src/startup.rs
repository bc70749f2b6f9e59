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
use crate::web::{AppState, assets, security, telemetry};
use crate::{cart, catalog, health};

/// A built application, bound to its port and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
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
                let file = CatalogFile::parse(seed::DEMO_CATALOG, currency)?;
                Ok(Some(seed::seed(conn, &file, currency, now)?))
            })
            .await
            .context("seeding the demo catalogue")?;
            if let Some(report) = seeded {
                tracing::info!(%report, "seeded the demo catalogue");
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
        let payment_origins = if config.is_demo() {
            vec![format!("http://{}", config.emulator_bind)]
        } else {
            security::stripe_origins()
        };

        let state = web::Data::new(AppState {
            pool,
            config: Arc::new(config),
            clock,
            public_url,
        });
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .app_data(
                    web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()),
                )
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    AppError::BadRequest(format!("The address has a malformed parameter: {e}."))
                        .into()
                }))
                .wrap(ErrorHandlers::new().default_handler(render_error_page))
                .wrap(
                    SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                        .cookie_name("storefront".into())
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
        .listen(listener)
        .context("starting the HTTP server")?
        .run();

        Ok(Self {
            port: local.port(),
            server,
            state,
        })
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

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(catalog::routes::index))
        .route("/products/{slug}", web::get().to(catalog::routes::product))
        .route("/cart", web::get().to(cart::routes::show))
        .route("/cart/items", web::post().to(cart::routes::add))
        .route("/cart/items/{id}", web::post().to(cart::routes::update))
        .route("/healthz", web::get().to(health::healthz))
        .route("/static/style.css", web::get().to(assets::stylesheet))
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(AppError::NotFound)
        }));
}

/// Opens the pool (reporting an unreachable database as a DATABASE_URL problem) and migrates.
pub async fn connect_and_migrate(config: &Config) -> Result<Pool, StartError> {
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
