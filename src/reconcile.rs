//! Catching up on events we never processed (a missed or dropped webhook): pages through
//! Stripe's `/v1/events` and runs each unrecorded one through the same dispatch as the webhook.

use std::collections::BTreeMap;

use crate::error::SyncError;
use crate::state::AppState;
use crate::webhooks::dispatch;
use crate::webhooks::events::{self, EventKind};
use crate::webhooks::ledger::{self, EventRecord, Outcome};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Events listed by Stripe in the window.
    pub seen: usize,
    /// Of those, already processed before.
    pub already_processed: usize,
    /// Processed now, by outcome ("paid", "expired", …).
    pub processed: BTreeMap<String, usize>,
    /// Failed now (left for the next run).
    pub failed: usize,
}

impl std::fmt::Display for ReconcileReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let processed: usize = self.processed.values().sum();
        write!(
            f,
            "{} events seen, {} already processed, {} processed now, {} failed",
            self.seen, self.already_processed, processed, self.failed
        )?;
        for (outcome, n) in &self.processed {
            write!(f, "; {outcome}: {n}")?;
        }
        Ok(())
    }
}

/// Replays every event of the handled types created since `since` (unix seconds).
pub async fn reconcile(state: &AppState, since: i64) -> Result<ReconcileReport, SyncError> {
    let mut report = ReconcileReport::default();
    let mut starting_after: Option<String> = None;
    let types = events::handled_types();
    loop {
        let page = crate::payments::webhook_endpoints::events_page(
            &state.stripe,
            since,
            &types,
            starting_after.as_deref(),
        )
        .await?;
        // Oldest first, so an order moves forward in the order things happened.
        let mut events = page.data;
        starting_after = events.last().map(|e| e.id.as_str().to_owned());
        events.reverse();
        for event in events {
            report.seen += 1;
            let id = event.id.as_str().to_owned();
            // The list gives the same object as a webhook body; handlers read it as JSON.
            // (`dispatch::process` skips an event recorded before, without any Stripe call.)
            let Ok(object) = serde_json::from_str::<serde_json::Value>(
                &miniserde::json::to_string(&event.data.object),
            ) else {
                tracing::warn!(event = %id, "reconcile: the event's object is not readable JSON");
                report.failed += 1;
                continue;
            };
            let type_ = event.type_.as_str().to_owned();
            let record = EventRecord::of(&id, &type_, event.created, &object);
            let kind = EventKind::of(&type_, &object);
            match dispatch::process(state, record.clone(), kind).await {
                Ok(Outcome::Duplicate) => report.already_processed += 1,
                Ok(outcome) => {
                    // Counted as the webhook would have counted it.
                    crate::metrics::count_event_effects(&state.metrics, &type_, &object, &outcome);
                    *report.processed.entry(outcome.label()).or_default() += 1;
                }
                Err(e) => {
                    let error = crate::error::Report(&e).to_string();
                    tracing::warn!(event = %record.id, %error, "reconcile: event failed");
                    if let Err(e2) = ledger::record_failure(state, &record, error).await {
                        tracing::warn!(event = %record.id, error = %crate::error::Report(&e2), "could not note the failure in the events inbox");
                    }
                    report.failed += 1;
                }
            }
        }
        if !page.has_more || starting_after.is_none() {
            break;
        }
    }
    Ok(report)
}

/// The periodic reconcile's row in `job_runs`.
const PERIODIC: &str = "reconcile";
/// How far before the last successful run's start the next one looks again: events created
/// while that run was listing may have been missed.
pub const OVERLAP_SECS: i64 = 5 * 60;
/// The periodic reconcile always looks at least this far back.
pub const MIN_WINDOW_SECS: i64 = 3600;
/// Stripe keeps events for 30 days: looking further back finds nothing.
pub const MAX_WINDOW_SECS: i64 = 30 * 86_400;

/// Where the periodic reconcile starts looking at `now`: from the start of its last successful
/// run (on any instance) minus [`OVERLAP_SECS`], so an outage of any length is caught up; never
/// less than an hour back, never more than Stripe's 30 days.
pub fn window_start(now: i64, last_success_started: Option<i64>) -> i64 {
    let wanted = last_success_started.map_or(now - MIN_WINDOW_SECS, |t| t - OVERLAP_SECS);
    wanted.clamp(now - MAX_WINDOW_SECS, now - MIN_WINDOW_SECS)
}

/// The background job's reconcile: the window from [`window_start`], and the run's start
/// recorded in the database when every event went through (a failed event is retried from the
/// same start next time). Instances share the record; it only moves forward.
pub async fn periodic(state: &AppState) -> Result<ReconcileReport, SyncError> {
    use diesel::prelude::*;

    use crate::db::{self, DbError};
    use crate::schema::job_runs;

    let started = state.clock.unix();
    let last: Option<i64> = db::run(&state.pool, |conn| {
        job_runs::table
            .find(PERIODIC)
            .select(job_runs::last_success_started_at)
            .first(conn)
            .optional()
            .map_err(DbError::from)
    })
    .await?;
    let report = reconcile(state, window_start(started, last)).await?;
    if report.failed == 0 {
        db::run(&state.pool, move |conn| {
            let inserted = db::insert_once(conn, |conn| {
                diesel::insert_into(job_runs::table)
                    .values((
                        job_runs::name.eq(PERIODIC),
                        job_runs::last_success_started_at.eq(started),
                    ))
                    .execute(conn)
            })?;
            if !inserted {
                diesel::update(
                    job_runs::table
                        .find(PERIODIC)
                        .filter(job_runs::last_success_started_at.lt(started)),
                )
                .set(job_runs::last_success_started_at.eq(started))
                .execute(conn)?;
            }
            Ok::<_, DbError>(())
        })
        .await?;
    }
    Ok(report)
}

/// Parses "72h", "30m", "2d", "3600s" (or plain seconds) into seconds.
pub fn parse_duration(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    let (num, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 72h, 30m or 2d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{raw:?} has an unknown unit; use s, m, h or d")),
    };
    n.checked_mul(mult)
        .filter(|s| *s <= MAX_WINDOW_SECS)
        .ok_or_else(|| format!("{raw:?} is too long; Stripe keeps events for 30 days"))
}

#[cfg(test)]
mod tests {
    use super::{MAX_WINDOW_SECS, window_start};

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn the_periodic_window_starts_before_the_last_successful_run() {
        // First run ever: the last hour.
        assert_eq!(window_start(NOW, None), NOW - 3600);
        // Ten minutes after the last run: still at least an hour.
        assert_eq!(window_start(NOW, Some(NOW - 600)), NOW - 3600);
        // After a five-hour outage: from five minutes before the last run's start.
        let last = NOW - 5 * 3600;
        assert_eq!(window_start(NOW, Some(last)), last - 300);
        // After a two-month outage: Stripe's 30 days, no more.
        assert_eq!(
            window_start(NOW, Some(NOW - 60 * 86_400)),
            NOW - MAX_WINDOW_SECS
        );
        // A clock that went backwards: still the last hour.
        assert_eq!(window_start(NOW, Some(NOW + 600)), NOW - 3600);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(super::parse_duration("72h"), Ok(72 * 3600));
        assert_eq!(super::parse_duration("30m"), Ok(1800));
        assert_eq!(super::parse_duration("2d"), Ok(172_800));
        assert_eq!(super::parse_duration("90"), Ok(90));
        assert!(super::parse_duration("h").is_err());
        assert!(super::parse_duration("3w").is_err());
        assert!(super::parse_duration("400d").is_err());
    }
}
