//! Catching up on events we never processed (a missed or dropped webhook): pages through
//! Stripe's `/v1/events` and runs each unrecorded one through the same dispatch as the webhook.

use std::collections::BTreeMap;

use stripe_core::event::ListEvent;
use stripe_types::RangeQueryTs;

use crate::checkout::fulfil::{EventRecord, FulfilError, Outcome};
use crate::web::AppState;
use crate::webhooks::dispatch::{self, EventKind, HANDLED_TYPES};

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
pub async fn reconcile(state: &AppState, since: i64) -> Result<ReconcileReport, FulfilError> {
    let mut report = ReconcileReport::default();
    let mut starting_after: Option<String> = None;
    let types: Vec<String> = HANDLED_TYPES.iter().map(|t| t.to_string()).collect();
    loop {
        let mut req = ListEvent::new()
            .created(RangeQueryTs::gte(since))
            .types(types.clone())
            .limit(100);
        if let Some(after) = &starting_after {
            req = req.starting_after(after.clone());
        }
        let page = state.stripe.read(&req).await?;
        // Oldest first, so an order moves forward in the order things happened.
        let mut events = page.data;
        starting_after = events.last().map(|e| e.id.as_str().to_owned());
        events.reverse();
        for event in events {
            report.seen += 1;
            let id = event.id.as_str().to_owned();
            if dispatch::already_processed(state, &id).await? {
                report.already_processed += 1;
                continue;
            }
            let object_id = match &event.data.object {
                miniserde::json::Value::Object(map) => match map.get("id") {
                    Some(miniserde::json::Value::String(s)) => Some(s.clone()),
                    _ => None,
                },
                _ => None,
            };
            let type_ = event.type_.as_str().to_owned();
            let record = EventRecord {
                id,
                type_: type_.clone(),
                created: event.created,
            };
            match dispatch::process(
                state,
                record,
                EventKind::from_type(&type_, object_id.as_deref()),
            )
            .await
            {
                Ok(Outcome::Duplicate) => report.already_processed += 1,
                Ok(outcome) => *report.processed.entry(label(&outcome)).or_default() += 1,
                Err(e) => {
                    tracing::warn!(event = %event.id.as_str(), error = %e, "reconcile: event failed");
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

fn label(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Order { status, .. } => status.as_str().to_owned(),
        Outcome::Flagged { .. } => "flagged".into(),
        Outcome::Subscription { status, .. } => format!("subscription {status}"),
        Outcome::PaymentFailed { .. } => "payment failed".into(),
        Outcome::Unknown => "not ours".into(),
        Outcome::Duplicate => "duplicate".into(),
    }
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
