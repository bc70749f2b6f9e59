//! Parsing what people type into forms: strings in, domain values or a field message out.

use validator::ValidationError;

/// A whole number in `min..=max`, as typed ("3", " 3 "); anything else gets `message`.
pub fn parse_int_in(raw: &str, min: i64, max: i64) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty()
        || raw.len() > 12
        || !raw
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
    {
        return None;
    }
    raw.parse::<i64>().ok().filter(|n| (min..=max).contains(n))
}

/// A database id from a form or path: a positive integer.
/// A `2026-11-01` date as the unix time of its midnight, UTC.
pub fn day_start(raw: &str) -> Option<i64> {
    chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp())
}

pub fn parse_id(raw: &str) -> Option<i64> {
    parse_int_in(raw, 1, i64::MAX / 2)
}

pub fn quantity_1_99(raw: &str) -> Result<(), ValidationError> {
    parse_int_in(raw, 1, 99).map(|_| ()).ok_or_else(|| {
        ValidationError::new("quantity").with_message("Enter a quantity from 1 to 99.".into())
    })
}

pub fn quantity_0_99(raw: &str) -> Result<(), ValidationError> {
    parse_int_in(raw, 0, 99).map(|_| ()).ok_or_else(|| {
        ValidationError::new("quantity")
            .with_message("Enter a quantity from 0 to 99 (0 removes the item).".into())
    })
}

pub fn id(raw: &str) -> Result<(), ValidationError> {
    parse_id(raw)
        .map(|_| ())
        .ok_or_else(|| ValidationError::new("id").with_message("That item doesn't exist.".into()))
}

/// The first message of each failed field, in a stable order.
pub fn messages(errors: &validator::ValidationErrors) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = errors
        .field_errors()
        .iter()
        .map(|(field, errs)| {
            let msg = errs
                .first()
                .and_then(|e| e.message.as_ref())
                .map(|m| m.to_string())
                .unwrap_or_else(|| format!("Check the {field} field."));
            (field.to_string(), msg)
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_whole_numbers_in_range() {
        assert_eq!(parse_int_in("3", 1, 99), Some(3));
        assert_eq!(parse_int_in(" 99 ", 1, 99), Some(99));
        for bad in [
            "0",
            "-1",
            "100",
            "1e9",
            "abc",
            "",
            "1.5",
            "+3",
            "99999999999999999999",
            "١",
        ] {
            assert_eq!(parse_int_in(bad, 1, 99), None, "{bad:?}");
        }
        assert_eq!(parse_int_in("0", 0, 99), Some(0));
    }
}
