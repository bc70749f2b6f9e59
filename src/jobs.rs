//! Background work in `serve`: the reservation sweep and a periodic reconcile.

use std::time::Duration;

use actix_web::web;
use diesel::prelude::*;

use crate::checkout::fulfil;
use crate::db::{self, DbError, write_tx};
use crate::error::SyncError;
use crate::orders::model::Order;
use crate::orders::status::OrderStatus;
use crate::schema::orders;
use crate::state::AppState;

/// Pending orders whose session has passed its `expires_at`: ask Stripe what became of each
/// (an expired session releases its stock; one that completed after all gets fulfilled).
/// Returns how many orders were looked at.
pub async fn sweep(state: &AppState) -> Result<usize, SyncError> {
    let now = state.clock.unix();
    let due: Vec<Order> = db::run(&state.pool, move |conn| {
        orders::table
            .filter(orders::status.eq(OrderStatus::Pending.as_str()))
            .filter(orders::checkout_expires_at.le(now))
            .order(orders::id.asc())
            .limit(200)
            .select(Order::as_select())
            .load(conn)
            .map_err(DbError::from)
    })
    .await?;
    for order in &due {
        match &order.checkout_session_id {
            Some(session_id) => {
                if let Err(e) = fulfil::fulfil_checkout(state, session_id, None).await {
                    tracing::warn!(order = %order.number, error = %crate::error::Report(&e), "sweep: could not check the session");
                }
            }
            // Never got a session (or never learnt of it): past `expires_at` no session made
            // under its key can still be paid, so the stock goes back.
            None => {
                let id = order.id;
                let expired = db::run(&state.pool, move |conn| {
                    write_tx(conn, |conn| fulfil::expire_order(conn, id, now))
                        .map_err(DbError::from)
                })
                .await?;
                if expired {
                    state.metrics.order_status(OrderStatus::Expired.as_str());
                }
            }
        }
    }
    Ok(due.len())
}

/// The running background jobs (sweep and reconcile, the mail worker); [`Jobs::stop`] lets each
/// finish its current pass, then ends them.
pub struct Jobs {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A job's view of the stop signal: sleep until the next pass, or until asked to stop.
pub type StopSignal = tokio::sync::watch::Receiver<bool>;

/// Waits `period`; false when a stop was asked instead (then the job returns).
pub async fn pause(stop: &mut StopSignal, period: Duration) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(period) => true,
        _ = stop.changed() => false,
    }
}

impl Jobs {
    /// Asks the jobs to stop and waits (up to 30 s) for passes in progress to finish: work is
    /// never cut in the middle of a Stripe call, a transaction or an SMTP exchange.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let all = futures_util::future::join_all(self.tasks);
        if tokio::time::timeout(Duration::from_secs(30), all)
            .await
            .is_err()
        {
            tracing::warn!("background jobs did not stop within 30 s");
        }
    }
}

/// Starts the background jobs: the sweep every minute and a reconcile every ten (looking back
/// from its last successful run, see `reconcile::periodic`); the mail worker.
pub fn spawn(state: web::Data<AppState>) -> Jobs {
    let (stop, signal) = tokio::sync::watch::channel(false);
    let mail = crate::mail::worker::spawn(state.clone(), signal.clone());
    let mut stopped = signal;
    let task = actix_web::rt::spawn(async move {
        let mut tick: u64 = 0;
        loop {
            if !pause(&mut stopped, Duration::from_secs(60)).await {
                return;
            }
            tick += 1;
            match sweep(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(orders = n, "sweep checked expired checkouts"),
                Err(e) => tracing::warn!(error = %crate::error::Report(&e), "sweep failed"),
            }
            if tick % 10 == 0 {
                match crate::reconcile::periodic(&state).await {
                    Ok(report) => tracing::info!(%report, "periodic reconcile"),
                    Err(e) => {
                        tracing::warn!(error = %crate::error::Report(&e), "periodic reconcile failed")
                    }
                }
            }
        }
    });
    Jobs {
        stop,
        tasks: vec![task, mail],
    }
}
