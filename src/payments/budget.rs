//! The shop's share of the Stripe account's rate limit. Stripe allows about 100 requests a
//! second in live mode and 25 in test mode, and 25 a second per endpoint; a flash sale runs
//! into that before it runs out of CPU. Each instance keeps its calls under
//! `STRIPE_RATE_LIMIT / instances` a second (Checkout Session creates under their own, lower
//! share), so the shop never provokes 429s itself: calls wait for their turn, and a checkout
//! that finds no turn free waits in line on a page instead (see `checkout::routes`).
//!
//! Token buckets in memory, one per instance: nothing to share, each instance spends only its
//! own share. The number of instances comes from `STRIPE_INSTANCES`, or else from the
//! heartbeats in the database (`crate::instances`), and the shares follow it as instances come
//! and go. Background work (the sweep, fee reads, reconciles) runs in [`background`] and takes
//! a turn only while half of the saved-up calls are still free: shoppers go first.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The default share of the account's limit a shop takes: a fifth is left for the Dashboard,
/// other integrations and retries.
pub fn default_limit(live: bool) -> u32 {
    if live { 80 } else { 20 }
}

/// Stripe's per-endpoint limit, less a margin: Checkout Session creates are one endpoint.
const CHECKOUT_LIMIT: u32 = 20;

tokio::task_local! {
    static BACKGROUND: ();
}

/// Runs `work` as background work: its Stripe calls yield to shoppers' (see [`Budget::take`]).
pub async fn background<F: std::future::Future>(work: F) -> F::Output {
    BACKGROUND.scope((), work).await
}

fn in_background() -> bool {
    BACKGROUND.try_with(|_| ()).is_ok()
}

/// Calls a second, refilled continuously, with at most a fifth of a second's worth saved up:
/// Stripe counts calls over any one second, so a bucket allowing `r` a second with `b` saved
/// up can send `r + b` in one; 20 a second and 4 saved stay under test mode's 25.
#[derive(Debug)]
struct Bucket {
    /// (calls a second, thousandths of a call available, when last refilled)
    state: Mutex<(u32, u64, Instant)>,
}

/// The calls a bucket of `per_second` may save up, in thousandths: a fifth of a second's, and
/// at least two, so background work (which leaves half to shoppers) can ever take one.
fn capacity(per_second: u32) -> u64 {
    u64::from((per_second / 5).max(2)) * 1000
}

/// What background work leaves free of a bucket of `capacity`: half of it, and never so much
/// that no call is left to take.
fn kept(capacity: u64, keep_share: u64) -> u64 {
    (capacity * keep_share / 1000).min(capacity.saturating_sub(1000))
}

impl Bucket {
    fn new(per_second: u32) -> Self {
        let per_second = per_second.max(1);
        Bucket {
            state: Mutex::new((per_second, capacity(per_second), Instant::now())),
        }
    }

    /// Adds the calls earned since the last refill; the state after it.
    fn refill(&self, now: Instant) -> std::sync::MutexGuard<'_, (u32, u64, Instant)> {
        let mut s = self.lock();
        let elapsed = now.saturating_duration_since(s.2).as_millis() as u64;
        s.1 = (s.1 + elapsed * u64::from(s.0)).min(capacity(s.0));
        s.2 = now;
        s
    }

    fn per_second(&self) -> u32 {
        self.lock().0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u32, u64, Instant)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_rate(&self, per_second: u32) {
        let mut s = self.lock();
        s.0 = per_second.max(1);
        s.1 = s.1.min(capacity(s.0));
    }

    /// Takes a call if one is free and at least `keep` thousandths of the second's calls stay
    /// free after it.
    fn try_take_keeping(&self, now: Instant, keep_share: u64) -> bool {
        let mut s = self.refill(now);
        let keep = kept(capacity(s.0), keep_share);
        if s.1 >= 1000 + keep {
            s.1 -= 1000;
            true
        } else {
            false
        }
    }

    /// Whether more than `keep_share` thousandths of the second's calls are free now.
    fn has_more_than(&self, now: Instant, keep_share: u64) -> bool {
        let s = self.refill(now);
        s.1 >= 1000 + kept(capacity(s.0), keep_share)
    }

    fn try_take(&self, now: Instant) -> bool {
        self.try_take_keeping(now, 0)
    }

    /// How long until the next call is likely free.
    fn pause(&self) -> Duration {
        Duration::from_millis((1000 / u64::from(self.per_second())).max(1))
    }
}

/// The share of the saved-up calls background work leaves to shoppers, in thousandths.
const SHOPPERS_SHARE: u64 = 500;

/// This instance's budget; `None` buckets: no limit (the demo's emulator with its limits off).
#[derive(Debug, Default)]
pub struct Budget {
    /// The account's calls a second, all instances together.
    limit: Option<u32>,
    /// `STRIPE_INSTANCES`, when set: the heartbeats do not change the shares.
    fixed_instances: Option<u32>,
    instances: AtomicU32,
    all: Option<Bucket>,
    checkout: Option<Bucket>,
}

impl Budget {
    /// `limit` calls a second for the account, shared by `instances` instances (`None`: as
    /// many as the heartbeats say, one until they do).
    pub fn new(limit: Option<u32>, instances: Option<u32>) -> Self {
        let Some(limit) = limit else {
            return Budget::default();
        };
        let n = instances.unwrap_or(1).max(1);
        Budget {
            limit: Some(limit),
            fixed_instances: instances,
            instances: AtomicU32::new(n),
            all: Some(Bucket::new(share(limit, n))),
            checkout: Some(Bucket::new(share(limit.min(CHECKOUT_LIMIT), n))),
        }
    }

    pub fn unlimited() -> Self {
        Budget::default()
    }

    /// The instances running now (from their heartbeats): each takes its share of the limit.
    /// Ignored when `STRIPE_INSTANCES` fixed their number.
    pub fn set_instances(&self, running: u32) {
        let (Some(limit), None) = (self.limit, self.fixed_instances) else {
            return;
        };
        let n = running.max(1);
        if self.instances.swap(n, Ordering::Relaxed) == n {
            return;
        }
        if let Some(all) = &self.all {
            all.set_rate(share(limit, n));
        }
        if let Some(checkout) = &self.checkout {
            checkout.set_rate(share(limit.min(CHECKOUT_LIMIT), n));
        }
        tracing::info!(
            instances = n,
            calls_per_second = share(limit, n),
            "this instance's share of the Stripe rate limit"
        );
    }

    /// This instance's calls a second (None: no limit), and how many instances share the limit.
    pub fn share(&self) -> (Option<u32>, u32) {
        (
            self.all.as_ref().map(Bucket::per_second),
            self.instances.load(Ordering::Relaxed),
        )
    }

    /// Takes a turn for a Checkout Session create if one is free now; false: wait in line.
    /// (The call itself then takes its turn among all calls, like any other.)
    pub fn try_checkout(&self) -> bool {
        self.checkout
            .as_ref()
            .is_none_or(|c| c.try_take(Instant::now()))
    }

    /// Whether a call that can be skipped (the success page asking before the webhook has
    /// come) should be made now: only while half of the saved-up calls are free, as for
    /// background work. In a rush the webhook does it, at one call per order.
    pub fn has_room(&self) -> bool {
        self.all
            .as_ref()
            .is_none_or(|b| b.has_more_than(Instant::now(), SHOPPERS_SHARE))
    }

    /// Waits for a turn for any other call. Background work (see [`background`]) waits until
    /// half of the saved-up calls are free, so a rush of shoppers always finds turns left.
    pub async fn take(&self) {
        let Some(all) = &self.all else { return };
        let keep = if in_background() { SHOPPERS_SHARE } else { 0 };
        while !all.try_take_keeping(Instant::now(), keep) {
            tokio::time::sleep(all.pause()).await;
        }
    }
}

fn share(limit: u32, instances: u32) -> u32 {
    (limit / instances.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_rate_and_refills() {
        let b = Bucket::new(20);
        let t0 = Instant::now();
        assert_eq!((0..10).filter(|_| b.try_take(t0)).count(), 4);
        assert!(!b.try_take(t0 + Duration::from_millis(20)));
        assert!(
            b.try_take(t0 + Duration::from_millis(50)),
            "one more after 50 ms"
        );
        assert_eq!(
            (0..10)
                .filter(|_| b.try_take(t0 + Duration::from_secs(10)))
                .count(),
            4,
            "never more than a fifth of a second saved up"
        );
    }

    #[test]
    fn no_second_sees_more_than_stripe_allows() {
        // Calls taken as fast as the bucket allows, after a quiet spell (a full bucket): any
        // one second holds the rate plus what was saved up, 24 for 20 a second: under 25.
        let b = Bucket::new(20);
        let t0 = Instant::now();
        let mut taken = Vec::new();
        for ms in 0..3000u64 {
            let now = t0 + Duration::from_secs(10) + Duration::from_millis(ms);
            while b.try_take(now) {
                taken.push(ms);
            }
        }
        let busiest = (0..2000u64)
            .map(|start| {
                taken
                    .iter()
                    .filter(|&&t| t >= start && t < start + 1000)
                    .count()
            })
            .max()
            .unwrap();
        assert!(
            (20..=24).contains(&busiest),
            "{busiest} calls in one second"
        );
    }

    #[test]
    fn instances_share_the_limit_and_checkouts_have_their_own() {
        let b = Budget::new(Some(80), Some(4));
        assert_eq!(b.share(), (Some(20), 4));
        assert_eq!(b.checkout.as_ref().unwrap().per_second(), 5);
        let mut taken = 0;
        while b.try_checkout() {
            taken += 1;
        }
        assert_eq!(taken, 2, "a fifth of 5 a second, at least two, saved up");
        let unlimited = Budget::new(None, Some(1));
        assert!((0..1000).all(|_| unlimited.try_checkout()));
    }

    #[test]
    fn the_shares_follow_the_instances_unless_their_number_is_set() {
        let b = Budget::new(Some(20), None);
        assert_eq!(
            b.share(),
            (Some(20), 1),
            "alone until the heartbeats say more"
        );
        b.set_instances(2);
        assert_eq!(b.share(), (Some(10), 2));
        assert_eq!(b.checkout.as_ref().unwrap().per_second(), 10);
        b.set_instances(0);
        assert_eq!(b.share(), (Some(20), 1), "never fewer than this one");
        let fixed = Budget::new(Some(20), Some(4));
        fixed.set_instances(1);
        assert_eq!(fixed.share(), (Some(5), 4), "STRIPE_INSTANCES wins");
    }

    #[test]
    fn a_smaller_share_drops_what_was_saved_beyond_it() {
        let b = Bucket::new(20);
        b.set_rate(5);
        let t0 = Instant::now();
        assert_eq!((0..20).filter(|_| b.try_take(t0)).count(), 2);
    }

    #[test]
    fn background_work_leaves_half_of_the_saved_turns_to_shoppers() {
        let b = Bucket::new(50);
        let t0 = Instant::now();
        let background = (0..10)
            .filter(|_| b.try_take_keeping(t0, SHOPPERS_SHARE))
            .count();
        assert_eq!(background, 5);
        assert!(!b.has_more_than(t0, SHOPPERS_SHARE), "no room to spare");
        assert_eq!(
            (0..10).filter(|_| b.try_take(t0)).count(),
            5,
            "the rest is the shoppers'"
        );
    }

    #[actix_web::test]
    async fn a_call_knows_whether_it_is_background_work() {
        assert!(!in_background());
        assert!(background(async { in_background() }).await);
    }

    #[test]
    fn background_work_gets_turns_at_every_rate() {
        // A small share (a test key split between several instances, or STRIPE_RATE_LIMIT=1)
        // must not starve the sweep: after a quiet moment, background work takes a turn.
        for rate in 1..=30 {
            let b = Bucket::new(rate);
            let later = Instant::now() + Duration::from_secs(10);
            assert!(b.try_take_keeping(later, SHOPPERS_SHARE), "{rate} a second");
            let full = Bucket::new(rate);
            assert!(full.has_more_than(later, SHOPPERS_SHARE), "{rate} a second");
        }
    }
}
