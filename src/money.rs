//! Money: integer minor units plus an ISO 4217 currency. No floats, ever.

use std::fmt;

/// A lower-case ISO 4217 currency code, as Stripe writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

/// Currencies Stripe treats as having no minor unit.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];
/// Currencies with three decimal places.
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let lower = raw.trim().to_ascii_lowercase();
        let bytes = lower.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_lowercase) {
            return Err(format!(
                "must be a three-letter ISO currency code like usd or jpy, not {raw:?}"
            ));
        }
        Ok(Self([bytes[0], bytes[1], bytes[2]]))
    }

    pub fn code(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("xxx")
    }

    /// Digits after the decimal point in the major unit.
    pub fn exponent(&self) -> u32 {
        if ZERO_DECIMAL.contains(&self.code()) {
            0
        } else if THREE_DECIMAL.contains(&self.code()) {
            3
        } else {
            2
        }
    }

    fn symbol(&self) -> Option<&'static str> {
        Some(match self.code() {
            "usd" => "$",
            "eur" => "€",
            "gbp" => "£",
            "jpy" => "¥",
            "inr" => "₹",
            "krw" => "₩",
            _ => return None,
        })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount in minor units (cents, yen…) of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Multiplies by a quantity, refusing overflow instead of wrapping.
    pub fn checked_mul(self, qty: i64) -> Option<Self> {
        Some(Self::new(self.amount.checked_mul(qty)?, self.currency))
    }

    pub fn checked_add(self, other: Self) -> Option<Self> {
        if self.currency != other.currency {
            return None;
        }
        Some(Self::new(
            self.amount.checked_add(other.amount)?,
            self.currency,
        ))
    }

    /// The major-unit number without symbol or grouping, e.g. "12.50", "1500": what a form field shows.
    pub fn to_major_string(&self) -> String {
        let exp = self.currency.exponent();
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        if exp == 0 {
            return format!("{sign}{abs}");
        }
        let div = 10u64.pow(exp);
        format!(
            "{sign}{}.{:0width$}",
            abs / div,
            abs % div,
            width = exp as usize
        )
    }

    /// Parses a major-unit amount typed by a person ("12.50", "12", "1,200.5") exactly into minor units.
    /// More decimals than the currency has, signs, and anything not a number are refused.
    pub fn parse_major(raw: &str, currency: Currency) -> Result<Self, MoneyParseError> {
        let s: String = raw.trim().chars().filter(|c| *c != ',').collect();
        if s.is_empty() {
            return Err(MoneyParseError::Empty);
        }
        if s.starts_with('-') {
            return Err(MoneyParseError::Negative);
        }
        let (int_part, frac_part) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s.as_str(), ""),
        };
        let exp = currency.exponent() as usize;
        let valid_digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
        if (int_part.is_empty() && frac_part.is_empty())
            || !valid_digits(int_part)
            || !valid_digits(frac_part)
        {
            return Err(MoneyParseError::NotANumber);
        }
        if frac_part.len() > exp {
            return Err(MoneyParseError::TooPrecise {
                decimals: exp as u32,
            });
        }
        let int: i64 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| MoneyParseError::TooLarge)?
        };
        let frac: i64 = if frac_part.is_empty() {
            0
        } else {
            format!("{frac_part:0<exp$}")
                .parse()
                .map_err(|_| MoneyParseError::NotANumber)?
        };
        let amount = int
            .checked_mul(10i64.pow(exp as u32))
            .and_then(|v| v.checked_add(frac))
            .ok_or(MoneyParseError::TooLarge)?;
        Ok(Self::new(amount, currency))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyParseError {
    #[error("enter an amount")]
    Empty,
    #[error("the amount cannot be negative")]
    Negative,
    #[error("enter a number, like 12.50")]
    NotANumber,
    #[error("use at most {decimals} decimal places")]
    TooPrecise { decimals: u32 },
    #[error("the amount is too large")]
    TooLarge,
}

impl fmt::Display for Money {
    /// "$1,234.50", "¥1,500", "CHF 12.00", "-$3.00".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let major = self.to_major_string();
        let (sign, digits) = match major.strip_prefix('-') {
            Some(rest) => ("-", rest),
            None => ("", major.as_str()),
        };
        let (int, frac) = match digits.split_once('.') {
            Some((i, fr)) => (i, Some(fr)),
            None => (digits, None),
        };
        let mut grouped = String::with_capacity(int.len() + int.len() / 3);
        for (i, ch) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        if let Some(fr) = frac {
            grouped.push('.');
            grouped.push_str(fr);
        }
        match self.currency.symbol() {
            Some(sym) => write!(f, "{sign}{sym}{grouped}"),
            None => write!(
                f,
                "{sign}{} {grouped}",
                self.currency.code().to_ascii_uppercase()
            ),
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(vec!["usd", "jpy", "eur", "bhd", "krw", "chf"])
            .prop_map(|c| Currency::parse(c).unwrap())
    }

    proptest! {
        /// Whatever a person types, parsing answers (an amount or a reason), never panics, and
        /// never yields a negative amount.
        #[test]
        fn parsing_any_text_never_panics(raw in ".{0,40}", currency in currency()) {
            if let Ok(m) = Money::parse_major(&raw, currency) {
                prop_assert!(m.amount >= 0);
            }
        }

        /// Number-like text too (digits, one dot, commas, spaces, signs).
        #[test]
        fn parsing_number_like_text_never_panics(
            raw in "[ +\\-]?[0-9,]{0,25}(\\.[0-9]{0,6})?",
            currency in currency(),
        ) {
            if let Ok(m) = Money::parse_major(&raw, currency) {
                prop_assert!(m.amount >= 0);
            }
        }

        /// What a form field shows parses back to the same minor units, in every currency.
        #[test]
        fn a_shown_amount_parses_back_exactly(amount in 0i64..=i64::MAX, currency in currency()) {
            let money = Money::new(amount, currency);
            prop_assert_eq!(Money::parse_major(&money.to_major_string(), currency), Ok(money));
        }

        /// Any amount, negative ones and the extremes included, can be shown.
        #[test]
        fn any_amount_can_be_shown(amount in any::<i64>(), currency in currency()) {
            let shown = Money::new(amount, currency).to_string();
            prop_assert!(!shown.is_empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(c: &str) -> Currency {
        Currency::parse(c).unwrap()
    }

    #[test]
    fn formats_two_decimal_currencies() {
        assert_eq!(Money::new(1250, cur("usd")).to_string(), "$12.50");
        assert_eq!(Money::new(5, cur("usd")).to_string(), "$0.05");
        assert_eq!(
            Money::new(123_456_789, cur("eur")).to_string(),
            "€1,234,567.89"
        );
        assert_eq!(Money::new(-300, cur("gbp")).to_string(), "-£3.00");
        assert_eq!(Money::new(1000, cur("chf")).to_string(), "CHF 10.00");
    }

    #[test]
    fn formats_zero_and_three_decimal_currencies() {
        assert_eq!(Money::new(1500, cur("jpy")).to_string(), "¥1,500");
        assert_eq!(Money::new(7, cur("jpy")).to_string(), "¥7");
        assert_eq!(Money::new(1234, cur("krw")).to_string(), "₩1,234");
        assert_eq!(Money::new(1500, cur("kwd")).to_string(), "KWD 1.500");
        assert_eq!(Money::new(1500, cur("jpy")).to_major_string(), "1500");
        assert_eq!(Money::new(1250, cur("usd")).to_major_string(), "12.50");
    }

    #[test]
    fn parses_major_units_exactly() {
        let usd = cur("usd");
        assert_eq!(Money::parse_major("12.50", usd).unwrap().amount, 1250);
        assert_eq!(Money::parse_major("12.5", usd).unwrap().amount, 1250);
        assert_eq!(Money::parse_major("12", usd).unwrap().amount, 1200);
        assert_eq!(Money::parse_major(".5", usd).unwrap().amount, 50);
        assert_eq!(Money::parse_major("1,200.01", usd).unwrap().amount, 120_001);
        assert_eq!(Money::parse_major("0.00", usd).unwrap().amount, 0);
        assert_eq!(
            Money::parse_major("12.505", usd),
            Err(MoneyParseError::TooPrecise { decimals: 2 })
        );
        assert_eq!(
            Money::parse_major("-1", usd),
            Err(MoneyParseError::Negative)
        );
        assert_eq!(
            Money::parse_major("abc", usd),
            Err(MoneyParseError::NotANumber)
        );
        assert_eq!(
            Money::parse_major("1e3", usd),
            Err(MoneyParseError::NotANumber)
        );
        assert_eq!(
            Money::parse_major(".", usd),
            Err(MoneyParseError::NotANumber)
        );
        assert_eq!(Money::parse_major("", usd), Err(MoneyParseError::Empty));
        assert_eq!(
            Money::parse_major("99999999999999999999", usd),
            Err(MoneyParseError::TooLarge)
        );
        let jpy = cur("jpy");
        assert_eq!(Money::parse_major("1500", jpy).unwrap().amount, 1500);
        assert_eq!(
            Money::parse_major("15.5", jpy),
            Err(MoneyParseError::TooPrecise { decimals: 0 })
        );
    }

    #[test]
    fn arithmetic_refuses_overflow_and_mixed_currencies() {
        let usd = cur("usd");
        assert!(Money::new(i64::MAX, usd).checked_mul(2).is_none());
        assert!(
            Money::new(1, usd)
                .checked_add(Money::new(1, cur("eur")))
                .is_none()
        );
        assert_eq!(Money::new(250, usd).checked_mul(3).unwrap().amount, 750);
    }

    #[test]
    fn currency_codes_are_validated() {
        assert!(Currency::parse("US").is_err());
        assert!(Currency::parse("u$d").is_err());
        assert_eq!(Currency::parse(" EUR ").unwrap().code(), "eur");
    }
}
