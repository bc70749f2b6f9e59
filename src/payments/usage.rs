//! The requests this instance sends to Stripe, counted per endpoint in memory until the
//! heartbeat (`crate::instances`) adds them to the database's per-minute rows (`stripe_usage`).
//! The dashboard reads the rate limit's use from there, every instance's together, whichever
//! instance serves the page.

use std::collections::HashMap;
use std::sync::Mutex;

use diesel::prelude::*;

use crate::db::{self, AnyConnection};
use crate::schema::stripe_usage;

/// How long the per-minute rows are kept: the dashboard's longest period (30 days) and more.
pub const KEEP_SECS: i64 = 35 * 86_400;

/// Requests and 429s per endpoint, not yet written.
#[derive(Debug, Default)]
pub struct Usage {
    pending: Mutex<HashMap<String, (i64, i64)>>,
}

/// (endpoint, requests, of which answered 429)
pub type Counts = Vec<(String, i64, i64)>;

impl Usage {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, i64)>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One request sent (each retry is one more), and whether Stripe answered 429.
    pub fn count(&self, endpoint: &str, rate_limited: bool) {
        let mut pending = self.lock();
        let entry = pending.entry(endpoint.to_owned()).or_default();
        entry.0 += 1;
        entry.1 += i64::from(rate_limited);
    }

    /// What was counted since the last call, by endpoint: every instance writes the rows in
    /// that one order, so two writing at once never wait on each other in a cycle.
    pub fn take(&self) -> Counts {
        let mut counts: Counts = self
            .lock()
            .drain()
            .map(|(endpoint, (requests, limited))| (endpoint, requests, limited))
            .collect();
        counts.sort();
        counts
    }

    /// Puts back counts that could not be written, for the next try.
    pub fn put_back(&self, counts: Counts) {
        let mut pending = self.lock();
        for (endpoint, requests, limited) in counts {
            let entry = pending.entry(endpoint).or_default();
            entry.0 += requests;
            entry.1 += limited;
        }
    }
}

/// Adds `counts` to the minute starting at `minute` (unix seconds, a multiple of 60). Instances
/// write the same rows: each adds to what is there.
pub fn record(conn: &mut AnyConnection, minute: i64, counts: &Counts) -> QueryResult<()> {
    for (endpoint, requests, limited) in counts {
        let add = |conn: &mut AnyConnection| {
            diesel::update(stripe_usage::table.find((minute, endpoint)))
                .set((
                    stripe_usage::requests.eq(stripe_usage::requests + requests),
                    stripe_usage::rate_limited.eq(stripe_usage::rate_limited + limited),
                ))
                .execute(conn)
        };
        if add(conn)? == 0 {
            let inserted = db::insert_once(conn, |conn| {
                diesel::insert_into(stripe_usage::table)
                    .values((
                        stripe_usage::minute.eq(minute),
                        stripe_usage::endpoint.eq(endpoint),
                        stripe_usage::requests.eq(requests),
                        stripe_usage::rate_limited.eq(limited),
                    ))
                    .execute(conn)
            })?;
            // Another instance made the row between the two statements: add to it.
            if !inserted {
                add(conn)?;
            }
        }
    }
    diesel::delete(stripe_usage::table.filter(stripe_usage::minute.lt(minute - KEEP_SECS)))
        .execute(conn)?;
    Ok(())
}

/// Stripe requests in a window, all instances together.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// (endpoint, requests, 429s), busiest first.
    pub endpoints: Counts,
    pub requests: i64,
    pub rate_limited: i64,
}

/// The requests of the minutes starting in `[since, until)`.
pub fn summary(conn: &mut AnyConnection, since: i64, until: i64) -> QueryResult<Summary> {
    let rows: Vec<(String, i64, i64)> = stripe_usage::table
        .filter(stripe_usage::minute.ge(since))
        .filter(stripe_usage::minute.lt(until))
        .select((
            stripe_usage::endpoint,
            stripe_usage::requests,
            stripe_usage::rate_limited,
        ))
        .load(conn)?;
    let mut by_endpoint: HashMap<String, (i64, i64)> = HashMap::new();
    for (endpoint, requests, limited) in rows {
        let entry = by_endpoint.entry(endpoint).or_default();
        entry.0 += requests;
        entry.1 += limited;
    }
    let mut endpoints: Counts = by_endpoint
        .into_iter()
        .map(|(e, (r, l))| (e, r, l))
        .collect();
    endpoints.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(Summary {
        requests: endpoints.iter().map(|e| e.1).sum(),
        rate_limited: endpoints.iter().map(|e| e.2).sum(),
        endpoints,
    })
}

/// `requests` over `seconds` as a rate with one decimal ("12.5"), in integers.
pub fn per_second(requests: i64, seconds: i64) -> String {
    let tenths = requests * 10 / seconds.max(1);
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// `calls` per `orders` with two decimals ("2.05"), or "–" without orders.
pub fn per_order(calls: i64, orders: i64) -> String {
    if orders <= 0 {
        return "–".to_owned();
    }
    let hundredths = (calls * 100 + orders / 2) / orders;
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_taken_once_and_put_back_when_unwritten() {
        let u = Usage::default();
        u.count("POST /v1/checkout/sessions", false);
        u.count("POST /v1/checkout/sessions", true);
        u.count("GET /v1/checkout/sessions/{id}", false);
        let taken = u.take();
        assert_eq!(
            taken,
            vec![
                ("GET /v1/checkout/sessions/{id}".to_owned(), 1, 0),
                ("POST /v1/checkout/sessions".to_owned(), 2, 1),
            ]
        );
        assert!(u.take().is_empty());
        u.put_back(taken);
        u.count("POST /v1/checkout/sessions", false);
        let mut again = u.take();
        again.sort();
        assert_eq!(again[1], ("POST /v1/checkout/sessions".to_owned(), 3, 1));
    }

    #[test]
    fn rates_are_printed_from_integers() {
        assert_eq!(per_second(125, 10), "12.5");
        assert_eq!(per_second(0, 300), "0.0");
        assert_eq!(per_order(41, 20), "2.05");
        assert_eq!(per_order(2, 1), "2.00");
        assert_eq!(per_order(5, 0), "–");
    }
}
