//! What a new promotion code does, parsed from the command line into checked terms.
//!
//! Every flag arrives as text and is parsed here, so each mistake gets its own message naming the
//! flag (clap's generic "invalid value" says less). Amounts are parsed exactly into the
//! currency's minor units (¥500 is 500, $5.00 is 500); expiry dates resolve to the end of a UTC
//! day, so running the same command again the same day asks Stripe for exactly the same thing
//! (and its idempotency key, derived from these terms, replays instead of creating twice).

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use sha2::Digest as _;

use crate::money::{Currency, Money};

/// `storefront stripe coupon create` flags, as typed.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(group = clap::ArgGroup::new("off").required(true).args(["percent_off", "amount_off"]))]
pub struct CreateArgs {
    /// Percent taken off: a whole number from 1 to 100.
    #[arg(long, value_name = "PERCENT")]
    pub percent_off: Option<String>,
    /// Amount taken off, in the currency's major unit (5.00 dollars, 500 yen).
    #[arg(long, value_name = "AMOUNT")]
    pub amount_off: Option<String>,
    /// Currency of --amount-off and --minimum (default: the shop's CURRENCY).
    #[arg(long)]
    pub currency: Option<String>,
    /// What customers type: letters, digits, dashes and underscores.
    #[arg(long)]
    pub code: String,
    /// How many times the code may be used in all.
    #[arg(long, value_name = "N")]
    pub max_redemptions: Option<String>,
    /// Last day the code works (YYYY-MM-DD, until the end of that day UTC).
    #[arg(long, value_name = "DATE", conflicts_with = "expires_in")]
    pub expires_at: Option<String>,
    /// Days the code works from today, like 30d (until the end of that day UTC).
    #[arg(long, value_name = "DAYS")]
    pub expires_in: Option<String>,
    /// once (default), repeating (with --months) or forever: how many of a subscription's
    /// invoices it discounts; a one-time purchase is discounted once either way.
    #[arg(long)]
    pub duration: Option<String>,
    /// Months a repeating discount lasts.
    #[arg(long, value_name = "N")]
    pub months: Option<String>,
    /// Smallest order (before the discount) the code works on, in the major unit.
    #[arg(long, value_name = "AMOUNT")]
    pub minimum: Option<String>,
    /// The coupon's name (what Stripe's Dashboard and invoices show; default: what it does).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Off {
    Percent(u8),
    Amount(Money),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duration {
    Once,
    Repeating { months: u16 },
    Forever,
}

/// A promotion code's checked terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub code: String,
    pub off: Off,
    pub duration: Duration,
    pub max_redemptions: Option<i64>,
    /// Unix time (the end of a UTC day).
    pub expires_at: Option<i64>,
    pub minimum: Option<Money>,
    pub name: String,
}

/// Stripe's limit on a coupon's name.
const NAME_MAX: usize = 40;
/// A code short enough to type and to print.
const CODE_MAX: usize = 40;
/// Longest expiry and repeating duration we accept: ten years.
const DAYS_MAX: u64 = 3650;
const MONTHS_MAX: u16 = 120;

impl Terms {
    /// Checks the flags; `shop` is the shop's currency, `now` the current Unix time.
    pub fn parse(args: &CreateArgs, shop: Currency, now: i64) -> Result<Self, String> {
        let currency = match &args.currency {
            Some(c) => Currency::parse(c).map_err(|e| format!("--currency: {e}"))?,
            None => shop,
        };
        let code = args.code.trim();
        if code.is_empty() || code.len() > CODE_MAX {
            return Err(format!("--code: use 1 to {CODE_MAX} characters"));
        }
        if let Some(bad) = code
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "--code: {bad:?} is not allowed; use letters, digits, dashes and underscores"
            ));
        }
        let off = match (&args.percent_off, &args.amount_off) {
            (Some(p), None) => Off::Percent(
                p.trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|p| (1..=100).contains(p))
                    .ok_or_else(|| {
                        format!("--percent-off: {p:?} is not a whole number from 1 to 100")
                    })?,
            ),
            (None, Some(a)) => Off::Amount(positive(a, currency, "--amount-off")?),
            _ => return Err("give one of --percent-off or --amount-off".into()),
        };
        let duration = match (args.duration.as_deref().map(str::trim), &args.months) {
            (None | Some("once"), None) => Duration::Once,
            (Some("forever"), None) => Duration::Forever,
            (Some("repeating"), Some(m)) => Duration::Repeating {
                months: m
                    .trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|m| (1..=MONTHS_MAX).contains(m))
                    .ok_or_else(|| {
                        format!("--months: {m:?} is not a whole number from 1 to {MONTHS_MAX}")
                    })?,
            },
            (Some("repeating"), None) => {
                return Err("--duration repeating needs --months N".into());
            }
            (None | Some("once" | "forever"), Some(_)) => {
                return Err("--months goes with --duration repeating".into());
            }
            (Some(other), _) => {
                return Err(format!(
                    "--duration: {other:?} is not once, repeating or forever"
                ));
            }
        };
        let max_redemptions = match &args.max_redemptions {
            Some(n) => Some(
                n.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        format!("--max-redemptions: {n:?} is not a whole number of at least 1")
                    })?,
            ),
            None => None,
        };
        let expires_at = expiry(args, now)?;
        let minimum = match &args.minimum {
            Some(m) => Some(positive(m, currency, "--minimum")?),
            None => None,
        };
        let name = match &args.name {
            Some(n) => {
                let n = n.trim();
                if n.is_empty() || n.chars().count() > NAME_MAX {
                    return Err(format!("--name: use 1 to {NAME_MAX} characters"));
                }
                n.to_owned()
            }
            None => off_text(&off),
        };
        Ok(Self {
            code: code.to_owned(),
            off,
            duration,
            max_redemptions,
            expires_at,
            minimum,
            name,
        })
    }

    /// A digest of everything the code asks Stripe for: the idempotency keys of its coupon and
    /// code, so a retried command replays, and other terms under one code never do.
    pub fn fingerprint(&self) -> String {
        // The derived text of every field: a change to this type's shape changes keys, which
        // Stripe forgets after a day anyway.
        let text = format!("{self:?}");
        hex::encode(&sha2::Sha256::digest(text.as_bytes())[..16])
    }
}

/// An amount above zero in `currency`'s major unit, exactly.
fn positive(raw: &str, currency: Currency, flag: &str) -> Result<Money, String> {
    let money = Money::parse_major(raw, currency)
        .map_err(|e| format!("{flag}: {raw:?} in {}: {e}", currency.code().to_uppercase()))?;
    if money.amount == 0 {
        return Err(format!("{flag}: must be more than 0"));
    }
    Ok(money)
}

/// The end (23:59:59 UTC) of the day named by --expires-at or --expires-in.
fn expiry(args: &CreateArgs, now: i64) -> Result<Option<i64>, String> {
    let today = DateTime::<Utc>::from_timestamp(now, 0)
        .ok_or("the system clock is out of range")?
        .date_naive();
    let day = match (&args.expires_at, &args.expires_in) {
        (Some(date), _) => {
            let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
                .map_err(|_| format!("--expires-at: {date:?} is not a date like 2026-12-31"))?;
            if day < today {
                return Err(format!("--expires-at: {day} has passed"));
            }
            if day > today + Days::new(DAYS_MAX) {
                return Err(format!("--expires-at: {day} is more than ten years away"));
            }
            day
        }
        (None, Some(days)) => {
            let n = days
                .trim()
                .strip_suffix('d')
                .unwrap_or(days.trim())
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=DAYS_MAX).contains(n))
                .ok_or_else(|| {
                    format!(
                        "--expires-in: {days:?} is not a number of days like 30d (1 to {DAYS_MAX})"
                    )
                })?;
            today + Days::new(n)
        }
        (None, None) => return Ok(None),
    };
    let end = day.and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default());
    Ok(Some(end.and_utc().timestamp()))
}

/// "20% off", "$5.00 off".
pub fn off_text(off: &Off) -> String {
    match off {
        Off::Percent(p) => format!("{p}% off"),
        Off::Amount(m) => format!("{m} off"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-06-15 12:00:00 UTC.
    const NOW: i64 = 1_781_524_800;

    fn usd() -> Currency {
        Currency::parse("usd").unwrap()
    }

    fn args(f: impl FnOnce(&mut CreateArgs)) -> CreateArgs {
        let mut a = CreateArgs {
            code: "SPRING20".into(),
            percent_off: Some("20".into()),
            ..Default::default()
        };
        f(&mut a);
        a
    }

    fn err(f: impl FnOnce(&mut CreateArgs)) -> String {
        Terms::parse(&args(f), usd(), NOW).unwrap_err()
    }

    #[test]
    fn good_terms_are_parsed_exactly() {
        let t = Terms::parse(&args(|_| {}), usd(), NOW).unwrap();
        assert_eq!(t.off, Off::Percent(20));
        assert_eq!(t.duration, Duration::Once);
        assert_eq!(t.name, "20% off");
        let t = Terms::parse(
            &args(|a| {
                a.percent_off = None;
                a.amount_off = Some("5.00".into());
                a.minimum = Some("50".into());
                a.duration = Some("repeating".into());
                a.months = Some("3".into());
                a.max_redemptions = Some("100".into());
                a.expires_at = Some("2026-12-31".into());
            }),
            usd(),
            NOW,
        )
        .unwrap();
        assert_eq!(t.off, Off::Amount(Money::new(500, usd())));
        assert_eq!(t.minimum, Some(Money::new(5000, usd())));
        assert_eq!(t.duration, Duration::Repeating { months: 3 });
        assert_eq!(t.max_redemptions, Some(100));
        // 2026-12-31 23:59:59 UTC.
        assert_eq!(t.expires_at, Some(1_798_761_599));
        assert_eq!(t.name, "$5.00 off");
    }

    #[test]
    fn zero_decimal_currencies_take_whole_units() {
        let jpy = |a: &mut CreateArgs| {
            a.percent_off = None;
            a.amount_off = Some("500".into());
            a.currency = Some("JPY".into());
        };
        let t = Terms::parse(&args(jpy), usd(), NOW).unwrap();
        assert_eq!(
            t.off,
            Off::Amount(Money::new(500, Currency::parse("jpy").unwrap()))
        );
        assert_eq!(t.name, "¥500 off");
        let e = err(|a| {
            jpy(a);
            a.amount_off = Some("500.5".into());
        });
        assert_eq!(
            e,
            "--amount-off: \"500.5\" in JPY: use at most 0 decimal places"
        );
    }

    #[test]
    fn expiry_ends_with_a_utc_day_and_must_be_ahead() {
        let t = Terms::parse(&args(|a| a.expires_in = Some("30d".into())), usd(), NOW).unwrap();
        // 2026-07-15 23:59:59 UTC: the same all day, so a retry asks for the same code.
        assert_eq!(t.expires_at, Some(1_784_159_999));
        let later = Terms::parse(
            &args(|a| a.expires_in = Some("30d".into())),
            usd(),
            NOW + 3600,
        )
        .unwrap();
        assert_eq!(later.fingerprint(), t.fingerprint());
        assert_eq!(
            err(|a| a.expires_at = Some("2026-06-14".into())),
            "--expires-at: 2026-06-14 has passed"
        );
        assert!(
            Terms::parse(
                &args(|a| a.expires_at = Some("2026-06-15".into())),
                usd(),
                NOW
            )
            .is_ok(),
            "today still has hours left"
        );
        assert_eq!(
            err(|a| a.expires_at = Some("31/12/2026".into())),
            "--expires-at: \"31/12/2026\" is not a date like 2026-12-31"
        );
        assert!(err(|a| a.expires_in = Some("0d".into())).starts_with("--expires-in: \"0d\""));
        assert!(err(|a| a.expires_in = Some("2w".into())).starts_with("--expires-in: \"2w\""));
    }

    #[test]
    fn each_mistake_names_its_flag() {
        for bad in ["0", "101", "12.5", "-5", "ten"] {
            assert_eq!(
                err(|a| a.percent_off = Some(bad.into())),
                format!("--percent-off: {bad:?} is not a whole number from 1 to 100")
            );
        }
        let amount = |raw: &str| {
            err(|a| {
                a.percent_off = None;
                a.amount_off = Some(raw.into());
            })
        };
        assert_eq!(
            amount("5.001"),
            "--amount-off: \"5.001\" in USD: use at most 2 decimal places"
        );
        assert_eq!(amount("0"), "--amount-off: must be more than 0");
        assert_eq!(
            amount("-1"),
            "--amount-off: \"-1\" in USD: the amount cannot be negative"
        );
        assert_eq!(
            err(|a| a.code = "SPRING 20".into()),
            "--code: ' ' is not allowed; use letters, digits, dashes and underscores"
        );
        assert_eq!(
            err(|a| a.code = "É20".into()).split(' ').next(),
            Some("--code:")
        );
        assert_eq!(
            err(|a| a.code = "".into()),
            "--code: use 1 to 40 characters"
        );
        assert_eq!(
            err(|a| a.duration = Some("repeating".into())),
            "--duration repeating needs --months N"
        );
        assert_eq!(
            err(|a| a.months = Some("3".into())),
            "--months goes with --duration repeating"
        );
        assert_eq!(
            err(|a| a.duration = Some("weekly".into())),
            "--duration: \"weekly\" is not once, repeating or forever"
        );
        assert_eq!(
            err(|a| a.max_redemptions = Some("0".into())),
            "--max-redemptions: \"0\" is not a whole number of at least 1"
        );
        assert_eq!(
            err(|a| a.minimum = Some("0.00".into())),
            "--minimum: must be more than 0"
        );
        assert_eq!(
            err(|a| a.currency = Some("dollars".into()))
                .split(':')
                .next(),
            Some("--currency")
        );
        assert_eq!(
            err(|a| a.name = Some("x".repeat(41))),
            "--name: use 1 to 40 characters"
        );
    }

    #[test]
    fn other_terms_under_one_code_are_another_request() {
        let a = Terms::parse(&args(|_| {}), usd(), NOW).unwrap();
        let b = Terms::parse(&args(|a| a.percent_off = Some("25".into())), usd(), NOW).unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }
}
