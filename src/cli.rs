//! The `storefront` command line.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::catalog::seed::{self, CatalogFile};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::startup::{Application, StartError, connect_and_migrate};
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
    let app = Application::build(config, Arc::new(SystemClock)).await?;
    println!("Storefront is running at {}", app.public_url());
    println!("  mode:     {mode}");
    println!("  database: {db}");
    println!("Press Ctrl-C to stop.");
    app.run_until_stopped()
        .await
        .map_err(|e| StartError::Other(e.into()))
}

async fn migrate(config: Config) -> Result<(), StartError> {
    connect_and_migrate(&config).await?;
    println!("migrations applied to {}", config.database_url.redacted());
    Ok(())
}

async fn seed_file(config: Config, file: std::path::PathBuf) -> Result<(), StartError> {
    let text = std::fs::read_to_string(&file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let catalog = CatalogFile::parse(&text, config.currency)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let pool = connect_and_migrate(&config).await?;
    let currency = config.currency;
    let now = SystemClock.unix();
    let report = actix_web::web::block(move || -> anyhow::Result<_> {
        let mut conn = pool.get()?;
        Ok(seed::seed(&mut conn, &catalog, currency, now)?)
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))??;
    println!("seeded {}: {report}", file.display());
    Ok(())
}
