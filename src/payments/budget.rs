//! The shop's share of the Stripe account's rate limit. Stripe allows about 100 requests a
//! second in live mode and 25 in test mode, and 25 a second per endpoint; a flash sale runs
//! into that before it runs out of CPU. Each instance keeps its calls under
//! `STRIPE_RATE_LIMIT / STRIPE_INSTANCES` a second (Checkout Session creates under their own,
//! lower share), so the shop never provokes 429s itself: calls wait for their turn, and a
//! checkout that finds no turn free waits in line on a page instead (see `checkout::routes`).
//!
//! Token buckets in memory, one per instance: nothing to share, each instance spends only its
//! own share.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The default share of the account's limit a shop takes: a fifth is left for the Dashboard,
/// other integrations and retries.
pub fn default_limit(live: bool) -> u32 {
    if live { 80 } else { 20 }
}

/// Stripe's per-endpoint limit, less a margin: Checkout Session creates are one endpoint.
const CHECKOUT_LIMIT: u32 = 20;

/// Calls a second, refilled continuously, with at most a second's worth saved up.
#[derive(Debug)]
struct Bucket {
    per_second: u32,
    /// (thousandths of a call available, when last refilled)
    state: Mutex<(u64, Instant)>,
}

impl Bucket {
    fn new(per_second: u32) -> Self {
        let per_second = per_second.max(1);
        Bucket {
            per_second,
            state: Mutex::new((u64::from(per_second) * 1000, Instant::now())),
        }
    }

    fn try_take(&self, now: Instant) -> bool {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(s.1).as_millis() as u64;
        let cap = u64::from(self.per_second) * 1000;
        s.0 = (s.0 + elapsed * u64::from(self.per_second)).min(cap);
        s.1 = now;
        if s.0 >= 1000 {
            s.0 -= 1000;
            true
        } else {
            false
        }
    }

    /// How long until the next call is likely free.
    fn pause(&self) -> Duration {
        Duration::from_millis((1000 / u64::from(self.per_second)).max(1))
    }
}

/// This instance's budget; `None` buckets: no limit (the demo's emulator with its limits off).
#[derive(Debug, Default)]
pub struct Budget {
    all: Option<Bucket>,
    checkout: Option<Bucket>,
}

impl Budget {
    /// `limit` calls a second for the account, shared by `instances` instances.
    pub fn new(limit: Option<u32>, instances: u32) -> Self {
        let Some(limit) = limit else {
            return Budget::default();
        };
        let share = |n: u32| (n / instances.max(1)).max(1);
        Budget {
            all: Some(Bucket::new(share(limit))),
            checkout: Some(Bucket::new(share(limit.min(CHECKOUT_LIMIT)))),
        }
    }

    pub fn unlimited() -> Self {
        Budget::default()
    }

    /// Takes a turn for a Checkout Session create if one is free now; false: wait in line.
    /// (The call itself then takes its turn among all calls, like any other.)
    pub fn try_checkout(&self) -> bool {
        self.checkout
            .as_ref()
            .is_none_or(|c| c.try_take(Instant::now()))
    }

    /// Waits for a turn for any other call (reads, refunds, background work).
    pub async fn take(&self) {
        let Some(all) = &self.all else { return };
        while !all.try_take(Instant::now()) {
            tokio::time::sleep(all.pause()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_rate_and_refills() {
        let b = Bucket::new(5);
        let t0 = Instant::now();
        assert_eq!((0..10).filter(|_| b.try_take(t0)).count(), 5);
        assert!(!b.try_take(t0 + Duration::from_millis(100)));
        assert!(
            b.try_take(t0 + Duration::from_millis(200)),
            "one more after 200 ms"
        );
        assert_eq!(
            (0..10)
                .filter(|_| b.try_take(t0 + Duration::from_secs(10)))
                .count(),
            5,
            "never more than a second saved up"
        );
    }

    #[test]
    fn instances_share_the_limit_and_checkouts_have_their_own() {
        let b = Budget::new(Some(80), 4);
        assert_eq!(b.all.as_ref().unwrap().per_second, 20);
        assert_eq!(b.checkout.as_ref().unwrap().per_second, 5);
        let mut taken = 0;
        while b.try_checkout() {
            taken += 1;
        }
        assert_eq!(taken, 5);
        let unlimited = Budget::new(None, 1);
        assert!((0..1000).all(|_| unlimited.try_checkout()));
    }
}
