//! Background work in `serve`: the reservation sweep and a periodic reconcile.

use std::time::Duration;

use actix_web::web;
use diesel::prelude::*;

use crate::checkout::fulfil;
use crate::db::{self, DbError};
use crate::error::SyncError;
use crate::orders::model::Order;
use crate::orders::status::OrderStatus;
use crate::payments::PaymentError;
use crate::schema::orders;
use crate::state::AppState;

/// Orders one sweep pass looks at, at most.
const SWEEP_BATCH: i64 = 200;

/// How long after its `expires_at` an order whose session Stripe says does not exist keeps its
/// stock: long enough for a slow or recovering Stripe to find it after all.
pub const MISSING_SESSION_GRACE: i64 = 6 * 3600;

/// A shopper in line for a payment page who left (closed the waiting page) past its ten-minute
/// limit and a minute's grace for a create in flight: their order never had a page, so nothing
/// can pay it, and its stock goes back without waiting for the checkout's 30 minutes.
pub const LEFT_THE_LINE_SECS: i64 = crate::checkout::routes::WAIT_LIMIT_SECS + 60;

/// Pending orders whose session has passed its `expires_at`, or that waited in line for one
/// and were left there: ask Stripe what became of each (an expired session releases its stock;
/// one that completed after all gets fulfilled).
/// Returns how many orders this instance checked (another may have claimed some of them).
pub async fn sweep(state: &AppState) -> Result<usize, SyncError> {
    sweep_batch(state, SWEEP_BATCH).await
}

/// One pass over at most `limit` due orders, those checked longest ago first. Each order's next
/// check backs off (1, 2, 4 … 60 minutes), so orders Stripe cannot settle yet do not starve newer
/// ones. Flagged orders are left alone: money may have been taken, and an admin decides.
pub async fn sweep_batch(state: &AppState, limit: i64) -> Result<usize, SyncError> {
    let now = state.clock.unix();
    let due: Vec<(Order, i64, Option<String>)> = db::run(&state.pool, move |conn| {
        orders::table
            .filter(orders::status.eq(OrderStatus::Pending.as_str()))
            .filter(
                orders::checkout_expires_at.le(now).or(orders::checkout_url
                    .is_null()
                    .and(orders::checkout_session_id.is_null())
                    .and(orders::created_at.le(now - LEFT_THE_LINE_SECS))),
            )
            .filter(orders::flagged.is_null())
            .filter(orders::sweep_next_at.le(now))
            .order((orders::sweep_next_at.asc(), orders::id.asc()))
            .limit(limit)
            .select((
                Order::as_select(),
                orders::sweep_attempts,
                orders::stripe_account,
            ))
            .load(conn)
            .map_err(DbError::from)
    })
    .await?;
    let mut checked = 0;
    for (order, attempts, account) in &due {
        // Claimed first, with a compare-and-set on the attempt count, so two instances sweeping
        // at once check an order once.
        let (id, seen) = (order.id, *attempts);
        let claimed = db::run(&state.pool, move |conn| {
            diesel::update(
                orders::table
                    .filter(orders::id.eq(id))
                    .filter(orders::sweep_attempts.eq(seen)),
            )
            .set((
                orders::sweep_attempts.eq(seen + 1),
                orders::sweep_next_at.eq(now + backoff(seen + 1)),
            ))
            .execute(conn)
            .map_err(DbError::from)
        })
        .await?;
        if claimed == 0 {
            continue;
        }
        checked += 1;
        match &order.checkout_session_id {
            Some(session_id) => match fulfil::fulfil_checkout(state, session_id, None).await {
                Ok(_) => {}
                Err(SyncError::Stripe(PaymentError::Refused { status: 404, .. }))
                    if account.as_deref() == Some(state.stripe.account.as_str())
                        && now >= order.checkout_expires_at + MISSING_SESSION_GRACE =>
                {
                    // This account says the session does not exist, long after it would have
                    // expired: nothing can pay it any more, so the stock goes back.
                    tracing::warn!(order = %order.number, "sweep: Stripe does not know the order's session; releasing its stock");
                    fulfil::expire(state, order.id).await?;
                }
                Err(e) => {
                    tracing::warn!(order = %order.number, error = %crate::error::Report(&e), "sweep: could not check the session");
                }
            },
            // Never got a session (or never learnt of it): past `expires_at` no session made
            // under its key can still be paid, and a shopper who left the line never saw one,
            // so the stock goes back.
            None => fulfil::expire(state, order.id).await?,
        }
    }
    Ok(checked)
}

/// Seconds until work tried `attempts` times (an order's check, a fee's read) is tried again:
/// 1, 2, 4 … 60 minutes.
pub(crate) fn backoff(attempts: i64) -> i64 {
    60 * (1i64 << attempts.clamp(1, 7).saturating_sub(1)).min(60)
}

/// The running background jobs (sweep and reconcile, the mail worker); [`Jobs::stop`] lets each
/// finish its current pass, then ends them.
pub struct Jobs {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A job's view of the stop signal: sleep until the next pass, or until asked to stop.
pub type StopSignal = tokio::sync::watch::Receiver<bool>;

/// Shoppers waiting for products that can be bought again (restocked by a refund, or freed by
/// checkouts that expired) get their mail. Safe on every instance at once: each alert is claimed
/// by a conditional update before its mail is queued.
pub async fn notify_restocked(state: &AppState) -> Result<usize, DbError> {
    let (public_url, now) = (state.public_url.clone(), state.clock.unix());
    db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            crate::catalog::back_in_stock::notify(conn, &public_url, None, now)
        })
        .map_err(DbError::from)
    })
    .await
}

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

/// Starts the background jobs: the sweep and the back-in-stock mails every `SWEEP_INTERVAL`
/// (a minute), a reconcile every `RECONCILE_INTERVAL` (ten; looking back from its last
/// successful run, see `reconcile::periodic`); the mail worker.
pub fn spawn(state: web::Data<AppState>) -> Jobs {
    let settings = state.config.jobs;
    let (stop, signal) = tokio::sync::watch::channel(false);
    let mail = crate::mail::worker::spawn(state.clone(), signal.clone());
    let mut stopped = signal;
    // Background work: its Stripe calls yield to shoppers' (`payments::budget::background`).
    let task = actix_web::rt::spawn(crate::payments::budget::background(async move {
        let mut reconciled = std::time::Instant::now();
        loop {
            if !pause(&mut stopped, settings.sweep_every).await {
                return;
            }
            match sweep(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(orders = n, "sweep checked expired checkouts"),
                Err(e) => tracing::warn!(error = %crate::error::Report(&e), "sweep failed"),
            }
            match crate::balance::fetch::run_due(&state, crate::balance::fetch::BATCH).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(read = n, "Stripe balance transactions stored"),
                Err(e) => {
                    tracing::warn!(error = %crate::error::Report(&e), "balance transactions pass failed")
                }
            }
            match crate::recovery::send_due(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(mails = n, "checkout recovery e-mails queued"),
                Err(e) => {
                    tracing::warn!(error = %crate::error::Report(&e), "checkout recovery pass failed")
                }
            }
            match notify_restocked(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(mails = n, "back-in-stock mails queued"),
                Err(e) => {
                    tracing::warn!(error = %crate::error::Report(&e), "back-in-stock pass failed")
                }
            }
            if reconciled.elapsed() >= settings.reconcile_every {
                reconciled = std::time::Instant::now();
                match crate::reconcile::periodic(&state).await {
                    Ok(report) => tracing::info!(%report, "periodic reconcile"),
                    Err(e) => {
                        tracing::warn!(error = %crate::error::Report(&e), "periodic reconcile failed")
                    }
                }
            }
        }
    }));
    Jobs {
        stop,
        tasks: vec![task, mail],
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sweep_backs_off_to_an_hour() {
        let waits: Vec<i64> = (1..=9).map(super::backoff).collect();
        assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(super::backoff(30), 3600);
    }
}
