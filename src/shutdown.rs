//! Graceful shutdown of `storefront serve` on SIGTERM or SIGINT (Ctrl-C):
//!
//! 1. the HTTP server stops accepting connections and finishes the requests in flight (webhooks
//!    included: a webhook answered 2xx has committed its effects; one cut off gets no 2xx, so
//!    Stripe retries it), for at most [`SHUTDOWN_TIMEOUT`];
//! 2. the background jobs finish their current pass and stop;
//! 3. the embedded emulator (demo mode) stops; its undelivered webhooks stay queued in its database;
//! 4. the process exits 0.
//!
//! actix-server's own signal handling is off (it treats SIGINT as a forced stop); this module
//! handles both signals the same way.

use std::time::Duration;

use actix_web::dev::ServerHandle;

/// How long in-flight requests get to finish once a stop is asked.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Resolves with the signal's name once SIGTERM or SIGINT arrives.
pub async fn signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot listen for SIGTERM/SIGINT; stop the shop with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Spawns a task that stops `server` gracefully on the first SIGTERM or SIGINT.
pub fn stop_on_signals(server: ServerHandle) {
    actix_web::rt::spawn(async move {
        let name = signal().await;
        tracing::info!(
            signal = name,
            "shutting down: no new connections; finishing requests in flight"
        );
        server.stop(true).await;
    });
}
