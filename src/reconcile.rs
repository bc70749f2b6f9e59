//! Catching up on events we never processed (a missed or dropped webhook): pages through
//! Stripe's `/v1/events` and runs each unrecorded one through the same dispatch as the webhook.

use std::collections::BTreeMap;

use crate::error::SyncError;
use crate::state::AppState;
use crate::webhooks::dispatch;
use crate::webhooks::events::{self, EventKind};
use crate::webhooks::ledger;
use crate::webhooks::ledger::{EventRecord, Outcome};

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
            if ledger::already_recorded(state, &id).await? {
                report.already_processed += 1;
                continue;
            }
            // The list gives the same object as a webhook body; handlers read it as JSON.
            let object: serde_json::Value =
                serde_json::from_str(&miniserde::json::to_string(&event.data.object))
                    .unwrap_or(serde_json::Value::Null);
            let type_ = event.type_.as_str().to_owned();
            let record = EventRecord {
                id,
                type_: type_.clone(),
                created: event.created,
            };
            let kind = EventKind::of(&type_, &object);
            match dispatch::process(state, record, kind).await {
                Ok(Outcome::Duplicate) => report.already_processed += 1,
                Ok(outcome) => {
                    // Counted as the webhook would have counted it.
                    crate::metrics::count_event_effects(&state.metrics, &type_, &object, &outcome);
                    *report.processed.entry(outcome.label()).or_default() += 1;
                }
                Err(e) => {
                    tracing::warn!(event = %event.id.as_str(), error = %crate::error::Report(&e), "reconcile: event failed");
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
        .filter(|s| *s <= 30 * 86_400)
        .ok_or_else(|| format!("{raw:?} is too long; Stripe keeps events for 30 days"))
}

#[cfg(test)]
mod tests {
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
