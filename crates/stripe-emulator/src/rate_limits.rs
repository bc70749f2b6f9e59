//! Stripe's rate limits, when asked (`EMULATOR_RATE_LIMITS=off|test|live`, or
//! `POST /_emulator/rate_limits`): a global limit per second — 25 in test mode, 100 in live
//! mode — and 25 per second per endpoint, answered with Stripe's 429 (`rate_limit`). Whatever
//! the mode, every API request is counted per endpoint (`GET /_emulator/requests`), so a test
//! can measure what a purchase costs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Which of Stripe's limits apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// No limit (the default: tests and demos are not slowed down).
    #[default]
    Off,
    /// Test mode's: 25 requests a second in all, 25 per endpoint.
    Test,
    /// Live mode's: 100 requests a second in all, 25 per endpoint.
    Live,
}

impl Mode {
    pub fn parse(raw: &str) -> Option<Mode> {
        match raw.trim() {
            "off" => Some(Mode::Off),
            "test" => Some(Mode::Test),
            "live" => Some(Mode::Live),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }

    /// (all requests, per endpoint) a second.
    fn limits(self) -> Option<(usize, usize)> {
        match self {
            Mode::Off => None,
            Mode::Test => Some((25, 25)),
            Mode::Live => Some((100, 25)),
        }
    }
}

/// Requests and refusals of one endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub requests: u64,
    pub rate_limited: u64,
}

/// The sliding one-second windows and the counters.
#[derive(Debug, Default)]
pub struct Limiter {
    pub mode: Mode,
    all: VecDeque<Instant>,
    endpoints: HashMap<String, VecDeque<Instant>>,
    counts: BTreeMap<String, Count>,
}

const WINDOW: Duration = Duration::from_secs(1);

fn prune(window: &mut VecDeque<Instant>, now: Instant) {
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= WINDOW)
    {
        window.pop_front();
    }
}

impl Limiter {
    pub fn new(mode: Mode) -> Self {
        Limiter {
            mode,
            ..Limiter::default()
        }
    }

    /// Counts a request to `endpoint` at `now`; false when a limit refuses it (a refused
    /// request takes no place in the window, as at Stripe).
    pub fn admit(&mut self, endpoint: &str, now: Instant) -> bool {
        let count = self.counts.entry(endpoint.to_owned()).or_default();
        count.requests += 1;
        let Some((all_limit, endpoint_limit)) = self.mode.limits() else {
            return true;
        };
        prune(&mut self.all, now);
        let window = self.endpoints.entry(endpoint.to_owned()).or_default();
        prune(window, now);
        if self.all.len() >= all_limit || window.len() >= endpoint_limit {
            count.rate_limited += 1;
            return false;
        }
        self.all.push_back(now);
        window.push_back(now);
        true
    }

    pub fn reset_counts(&mut self) {
        self.counts.clear();
    }

    /// `{"mode": …, "total": {…}, "endpoints": {"POST /v1/checkout/sessions": {…}, …}}`.
    pub fn report(&self) -> Value {
        let (requests, rate_limited) = self
            .counts
            .values()
            .fold((0, 0), |(r, l), c| (r + c.requests, l + c.rate_limited));
        let endpoints: serde_json::Map<String, Value> = self
            .counts
            .iter()
            .map(|(k, c)| {
                (
                    k.clone(),
                    json!({ "requests": c.requests, "rate_limited": c.rate_limited }),
                )
            })
            .collect();
        json!({
            "mode": self.mode.as_str(),
            "total": { "requests": requests, "rate_limited": rate_limited },
            "endpoints": endpoints,
        })
    }
}

/// The endpoint a request counts against: its method and path with object ids replaced
/// (`GET /v1/checkout/sessions/{id}`).
pub fn endpoint_of(method: &str, path: &str) -> String {
    let path: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if super::store::kind_of_id(seg).is_some() || looks_like_id(seg) {
                "{id}"
            } else {
                seg
            }
        })
        .collect();
    format!("{method} {}", path.join("/"))
}

/// Ids we did not mint with a known prefix (a coupon's chosen id, a test event's): anything
/// with a digit in it, since no endpoint name has one.
fn looks_like_id(seg: &str) -> bool {
    seg != "v1" && seg.bytes().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_mode_allows_25_a_second_and_counts_refusals() {
        let mut l = Limiter::new(Mode::Test);
        let t0 = Instant::now();
        let admitted = (0..30)
            .filter(|i| l.admit(if i % 2 == 0 { "GET /v1/a" } else { "GET /v1/b" }, t0))
            .count();
        assert_eq!(admitted, 25);
        // A second later the window is empty again.
        assert!(l.admit("GET /v1/a", t0 + Duration::from_millis(1000)));
        let r = l.report();
        assert_eq!(r["total"]["requests"], 31);
        assert_eq!(r["total"]["rate_limited"], 5);
        assert_eq!(r["endpoints"]["GET /v1/a"]["requests"], 16);
    }

    #[test]
    fn live_mode_limits_each_endpoint_to_25() {
        let mut l = Limiter::new(Mode::Live);
        let t0 = Instant::now();
        let one = (0..40)
            .filter(|_| l.admit("POST /v1/checkout/sessions", t0))
            .count();
        assert_eq!(one, 25);
        let other = (0..40).filter(|_| l.admit("GET /v1/events", t0)).count();
        assert_eq!(other, 25);
        let off = (0..200)
            .filter(|_| Limiter::new(Mode::Off).admit("GET /v1/events", t0))
            .count();
        assert_eq!(off, 200);
    }

    #[test]
    fn ids_are_taken_out_of_endpoints() {
        assert_eq!(
            endpoint_of("GET", "/v1/checkout/sessions/cs_test_a1B2c3"),
            "GET /v1/checkout/sessions/{id}"
        );
        assert_eq!(endpoint_of("POST", "/v1/refunds"), "POST /v1/refunds");
        assert_eq!(
            endpoint_of("GET", "/v1/coupons/SPRING20"),
            "GET /v1/coupons/{id}"
        );
        assert_eq!(
            endpoint_of("GET", "/v1/customers/cus_x/payment_methods/pm_y"),
            "GET /v1/customers/{id}/payment_methods/{id}"
        );
    }
}
