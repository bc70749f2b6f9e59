//! The `storefront` command line.

use anyhow::Context as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::catalog::seed::{self, CatalogFile};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::startup::{Application, EmulatorMode, StartError, build_state, connect_and_migrate};
use crate::web::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "storefront",
    version,
    about = "A web shop that sells through Stripe. Without STRIPE_SECRET_KEY it runs a demo with a built-in Stripe emulator.",
    after_help = "Configuration comes from environment variables (or a .env file); see README.md."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate, seed the demo catalogue (demo mode, empty shop) and serve the shop (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load or update a catalogue from a TOML file, idempotently.
    Seed {
        /// The catalogue file (see src/catalog/demo_catalog.toml for the format).
        file: std::path::PathBuf,
    },
    /// Orders for the accountant, as CSV on standard output.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// The catalogue as a file.
    Catalogue {
        #[command(subcommand)]
        command: CatalogueCommand,
    },
    /// Replay Stripe events we never processed (from GET /v1/events) and report what changed.
    Reconcile {
        /// How far back to look: 72h, 30m, 2d… (Stripe keeps events for 30 days).
        #[arg(long, default_value = "72h")]
        since: String,
    },
    /// Run only the built-in Stripe emulator (on EMULATOR_BIND, state in EMULATOR_DB).
    Emulator,
    /// Stripe account set-up.
    Stripe {
        #[command(subcommand)]
        command: StripeCommand,
    },
    /// Admin accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Demo data.
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CatalogueCommand {
    /// Write the catalogue as a TOML file that `storefront seed` reads back (products, their
    /// status, category, current prices and stock, shipping rates); download files go beside it
    /// in catalogue-files/. FILE `-` writes to standard output (without download files).
    Export { file: std::path::PathBuf },
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// One row per order created from --since (a date, UTC) up to --until (exclusive; default:
    /// now): totals, refunds, disputes and what was kept.
    Orders {
        #[arg(long)]
        since: String,
        #[arg(long)]
        until: Option<String>,
    },
    /// One row per refund and dispute made from --since up to --until (exclusive; default: now):
    /// what it took back and, from Stripe's balance transactions, its fees and net.
    Refunds {
        #[arg(long)]
        since: String,
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DemoCommand {
    /// Delete what a demo recorded in DATABASE_URL, so a Stripe key may use it: every account
    /// (the demo admin included), order, cart, subscription, refund, event, mail and audit entry.
    /// The catalogue stays (Stripe ids forgotten). Refused on a database made with a Stripe key.
    /// Stop the shop first.
    Purge,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an admin, or promote an existing user (and set the password). The password comes
    /// from a prompt, or from the first line of standard input with --password-stdin.
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum StripeCommand {
    /// Create or update our webhook endpoint (API version pinned to our client's; prints a new
    /// signing secret once) and create Stripe products and prices for the catalogue.
    Setup,
    /// Check the Stripe account for settings that would break orders (the webhook endpoint, its
    /// version, event types and signing secret, Stripe Tax, the Billing Portal, prices, the
    /// currency, mail): one line per check; exits non-zero when one fails.
    Doctor,
    /// Promotion codes customers enter on Checkout (a Stripe Coupon and its Promotion Code).
    Coupon {
        #[command(subcommand)]
        command: CouponCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CouponCommand {
    /// Create a percent-off or amount-off coupon with a promotion code; prints what it does.
    /// Running the same command again (the same day) creates nothing new.
    Create(Box<crate::promotions::terms::CreateArgs>),
    /// List the promotion codes: what each does, how often it was used.
    List,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(&format!("configuration error: {e}")),
    };
    telemetry::init(config.log_format);
    let result = actix_web::rt::System::new().block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::Seed { file } => seed_file(config, file).await,
            Command::Catalogue {
                command: CatalogueCommand::Export { file },
            } => export_catalogue(config, file).await,
            Command::Reconcile { since } => reconcile(config, &since).await,
            Command::Export {
                command: ExportCommand::Orders { since, until },
            } => export_orders(config, &since, until.as_deref()).await,
            Command::Export {
                command: ExportCommand::Refunds { since, until },
            } => export_refunds(config, &since, until.as_deref()).await,
            Command::Emulator => emulator(config).await,
            Command::Stripe {
                command: StripeCommand::Setup,
            } => stripe_setup(config).await,
            Command::Stripe {
                command: StripeCommand::Doctor,
            } => stripe_doctor(config).await,
            Command::Stripe {
                command:
                    StripeCommand::Coupon {
                        command: CouponCommand::Create(args),
                    },
            } => crate::promotions::command::create(config, &args).await,
            Command::Stripe {
                command:
                    StripeCommand::Coupon {
                        command: CouponCommand::List,
                    },
            } => crate::promotions::command::list(config).await,
            Command::Admin {
                command:
                    AdminCommand::Create {
                        email,
                        password_stdin,
                    },
            } => crate::admin::cli::create(config, &email, password_stdin).await,
            Command::Demo {
                command: DemoCommand::Purge,
            } => demo_purge(config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(StartError::Config(e)) => fail(&format!("configuration error: {e}")),
        Err(StartError::Other(e)) => fail(&format!("{e:#}")),
    }
}

fn fail(line: &str) -> ExitCode {
    eprintln!("storefront: {line}");
    ExitCode::from(2)
}

async fn serve(config: Config) -> Result<(), StartError> {
    let mode = config.mode_label();
    let db = config.database_url.redacted();
    let mut app = Application::build(config, Arc::new(SystemClock)).await?;
    app.start_jobs();
    app.stop_on_signals();
    println!("Storefront is running at {}", app.public_url());
    if let Some(url) = app.emulator_url() {
        println!("  Stripe emulator: {url} (pay with 4242 4242 4242 4242)");
    }
    if app.emulator_url().is_some() {
        println!(
            "  demo admin: {} / {} (at /admin)",
            crate::admin::users::DEMO_ADMIN_EMAIL,
            crate::admin::users::DEMO_ADMIN_PASSWORD
        );
    }
    println!("  mode:     {mode}");
    println!("  database: {db}");
    println!("Press Ctrl-C to stop.");
    app.run_until_stopped()
        .await
        .map_err(|e| StartError::Other(e.into()))
}

async fn migrate(config: Config) -> Result<(), StartError> {
    crate::startup::connect_and_migrate_for_maintenance(&config).await?;
    println!("migrations applied to {}", config.database_url.redacted());
    Ok(())
}

async fn demo_purge(config: Config) -> Result<(), StartError> {
    let pool = crate::startup::open_and_migrate(&config).await?;
    let report = actix_web::web::block(move || -> anyhow::Result<_> {
        let mut conn = pool.get()?;
        Ok(crate::installation::purge(&mut conn)?)
    })
    .await
    .map_err(anyhow::Error::from)?
    .with_context(|| format!("demo purge of {}", config.database_url.redacted()))?;
    println!("{}: {report}", config.database_url.redacted());
    Ok(())
}

async fn seed_file(config: Config, file: std::path::PathBuf) -> Result<(), StartError> {
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let mut catalog =
        CatalogFile::parse(&text, config.currency).with_context(|| file.display().to_string())?;
    // Files are named relative to the catalogue file.
    let base = file
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    catalog
        .load_files(|path| std::fs::read(base.join(path)).map_err(|e| e.to_string()))
        .with_context(|| file.display().to_string())?;
    let pool = crate::startup::connect_and_migrate_for_maintenance(&config).await?;
    let currency = config.currency;
    let now = SystemClock.unix();
    let report = actix_web::web::block(move || -> anyhow::Result<_> {
        let mut conn = pool.get()?;
        Ok(seed::seed(&mut conn, &catalog, currency, now)?)
    })
    .await
    .map_err(anyhow::Error::from)??;
    println!("seeded {}: {report}", file.display());
    Ok(())
}

/// `2026-11-01` as the unix time of its midnight, UTC.
fn day_start(flag: &str, raw: &str) -> Result<i64, StartError> {
    crate::web::forms::day_start(raw).ok_or_else(|| {
        StartError::Other(anyhow::anyhow!(
            "{flag}: {raw:?} is not a date like 2026-11-01"
        ))
    })
}

/// `--since` and `--until` (default: now) as unix times.
fn window(since: &str, until: Option<&str>) -> Result<(i64, i64), StartError> {
    let since = day_start("--since", since)?;
    let until = match until {
        Some(u) => day_start("--until", u)?,
        None => SystemClock.unix() + 1,
    };
    if until <= since {
        return Err(StartError::Other(anyhow::anyhow!(
            "--until must be after --since"
        )));
    }
    Ok((since, until))
}

async fn export_refunds(
    config: Config,
    since: &str,
    until: Option<&str>,
) -> Result<(), StartError> {
    let (since, until) = window(since, until)?;
    let pool = crate::startup::connect_and_migrate_for_maintenance(&config).await?;
    let csv = actix_web::web::block(move || -> anyhow::Result<String> {
        let mut conn = pool.get()?;
        Ok(crate::admin::exports::movements_csv(
            &mut conn, since, until,
        )?)
    })
    .await
    .map_err(anyhow::Error::from)??;
    print!("{csv}");
    Ok(())
}

async fn export_orders(config: Config, since: &str, until: Option<&str>) -> Result<(), StartError> {
    let (since, until) = window(since, until)?;
    let pool = crate::startup::connect_and_migrate_for_maintenance(&config).await?;
    let csv = actix_web::web::block(move || -> anyhow::Result<String> {
        use diesel::prelude::*;
        let mut conn = pool.get()?;
        let rows: Vec<crate::orders::model::Order> = crate::schema::orders::table
            .filter(crate::schema::orders::created_at.ge(since))
            .filter(crate::schema::orders::created_at.lt(until))
            .order((
                crate::schema::orders::created_at.asc(),
                crate::schema::orders::id.asc(),
            ))
            .select(crate::orders::model::Order::as_select())
            .load(&mut conn)?;
        Ok(crate::admin::exports::orders_csv(&mut conn, &rows)?)
    })
    .await
    .map_err(anyhow::Error::from)??;
    print!("{csv}");
    Ok(())
}

async fn export_catalogue(config: Config, file: std::path::PathBuf) -> Result<(), StartError> {
    let pool = crate::startup::connect_and_migrate_for_maintenance(&config).await?;
    let currency = config.currency;
    let export = actix_web::web::block(move || -> anyhow::Result<_> {
        let mut conn = pool.get()?;
        Ok(crate::catalog::export::export(&mut conn, currency)?)
    })
    .await
    .map_err(anyhow::Error::from)??;
    if file.as_os_str() == "-" {
        print!("{}", export.toml);
        if !export.files.is_empty() {
            eprintln!(
                "note: {} download file(s) not written (standard output); export to a file to include them",
                export.files.len()
            );
        }
        return Ok(());
    }
    let base = file
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    for (path, bytes) in &export.files {
        let target = base.join(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&target, bytes)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    std::fs::write(&file, &export.toml)
        .with_context(|| format!("cannot write {}", file.display()))?;
    println!(
        "exported the catalogue to {} ({} download file(s) beside it)",
        file.display(),
        export.files.len()
    );
    Ok(())
}

/// State for a one-off command: the database, and Stripe (in demo mode a private emulator on
/// the demo's `EMULATOR_DB`, so what the command does is what the demo shop sees).
pub(crate) async fn command_state(
    config: Config,
) -> Result<
    (
        actix_web::web::Data<crate::state::AppState>,
        Option<stripe_emulator::Emulator>,
    ),
    StartError,
> {
    let pool = connect_and_migrate(&config).await?;
    let public_url = match &config.public_url {
        Some(u) => u.clone(),
        None => url::Url::parse(&format!("http://{}/", config.bind))
            .map_err(|e| StartError::Other(e.into()))?,
    };
    let (state, emulator, _) = build_state(
        config,
        Arc::new(SystemClock),
        public_url,
        EmulatorMode::Command,
        pool,
    )
    .await?;
    Ok((state, emulator))
}

async fn reconcile(config: Config, since: &str) -> Result<(), StartError> {
    let window =
        crate::reconcile::parse_duration(since).map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let (state, emulator) = command_state(config).await?;
    let since = SystemClock.unix() - window;
    let report = crate::reconcile::reconcile(&state, since)
        .await
        .context("reconcile failed")?;
    println!("reconciled: {report}");
    if let Some(e) = emulator {
        e.stop().await;
    }
    Ok(())
}

async fn emulator(config: Config) -> Result<(), StartError> {
    let db = crate::startup::emulator_db_path(&config);
    stripe_emulator::run_standalone(stripe_emulator::EmulatorConfig {
        bind: config.emulator_bind,
        db,
        webhook: None,
        rate_limits: config.emulator_rate_limits,
    })
    .await
    .map_err(StartError::Other)
}

async fn stripe_doctor(config: Config) -> Result<(), StartError> {
    let (state, emulator) = command_state(config).await?;
    let report = crate::stripe_doctor::run(&state).await;
    print!("{}", report.render());
    if let Some(e) = emulator {
        e.stop().await;
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| c.level == crate::stripe_doctor::Level::Fail)
        .count();
    if failed > 0 {
        return Err(StartError::Other(anyhow::anyhow!(
            "{failed} check(s) failed"
        )));
    }
    Ok(())
}

async fn stripe_setup(config: Config) -> Result<(), StartError> {
    let (state, emulator) = command_state(config).await?;
    let url = state
        .public_url
        .join("webhooks/stripe")
        .map_err(|e| StartError::Other(e.into()))?;
    let report = crate::stripe_setup::run(&state, url.as_str())
        .await
        .context("stripe setup failed")?;
    println!(
        "webhook endpoint {} for {url} (API version {})",
        report.endpoint_id,
        stripe_shared::version::VERSION.as_str()
    );
    if let Some(secret) = &report.new_secret {
        println!("signing secret (shown once; set STRIPE_WEBHOOK_SECRET to it): {secret}");
    }
    println!(
        "products created: {}, prices created: {}, tax codes set on earlier products: {}",
        report.products_created, report.prices_created, report.tax_codes_set
    );
    println!(
        "billing portal configuration: {}",
        report.portal_configuration
    );
    if let Some(e) = emulator {
        e.stop().await;
    }
    Ok(())
}
