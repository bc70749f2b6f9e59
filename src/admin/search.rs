//! What the admin order search understands: an order number or part of one, an e-mail address or
//! part of one (the order's, or the signed-in customer's), or a Stripe id a customer or the
//! Stripe Dashboard gives you — a PaymentIntent (`pi_…`), a Checkout Session (`cs_…`), an
//! invoice (`in_…`), a refund (`re_…`, `pyr_…`), or a charge (`ch_…`, `py_…`), which only Stripe can
//! link to its PaymentIntent.

/// The search box's text, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// Nothing typed.
    Empty,
    /// Part of an order number or e-mail address.
    Text(String),
    PaymentIntent(String),
    Session(String),
    Invoice(String),
    Refund(String),
    /// Asked of Stripe first (see [`Term::PaymentIntent`]).
    Charge(String),
}

/// Reads the search box. A Stripe id is one word of letters, digits and underscores after its
/// prefix; anything else is text.
pub fn parse(q: &str) -> Term {
    let q = q.trim();
    if q.is_empty() {
        return Term::Empty;
    }
    let id_like = q.len() <= 255 && q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let after = |prefix: &str| q.strip_prefix(prefix).is_some_and(|rest| rest.len() >= 8);
    if id_like {
        if after("pi_") {
            return Term::PaymentIntent(q.to_owned());
        }
        if after("cs_") {
            return Term::Session(q.to_owned());
        }
        if after("in_") {
            return Term::Invoice(q.to_owned());
        }
        if after("re_") || after("pyr_") {
            return Term::Refund(q.to_owned());
        }
        if after("ch_") || after("py_") {
            return Term::Charge(q.to_owned());
        }
    }
    Term::Text(q.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_ids_are_recognised_by_prefix() {
        assert_eq!(
            parse(" pi_3AbCdEfGh123 "),
            Term::PaymentIntent("pi_3AbCdEfGh123".into())
        );
        assert_eq!(
            parse("cs_test_a1B2c3D4"),
            Term::Session("cs_test_a1B2c3D4".into())
        );
        assert_eq!(parse("in_1AbCdEfGh"), Term::Invoice("in_1AbCdEfGh".into()));
        assert_eq!(parse("re_1AbCdEfGh"), Term::Refund("re_1AbCdEfGh".into()));
        assert_eq!(parse("pyr_1AbCdEfGh"), Term::Refund("pyr_1AbCdEfGh".into()));
        assert_eq!(parse("ch_1AbCdEfGh"), Term::Charge("ch_1AbCdEfGh".into()));
        assert_eq!(parse("py_1AbCdEfGh"), Term::Charge("py_1AbCdEfGh".into()));
    }

    #[test]
    fn everything_else_is_text() {
        assert_eq!(parse(""), Term::Empty);
        assert_eq!(parse("   "), Term::Empty);
        assert_eq!(parse("SF-0001"), Term::Text("SF-0001".into()));
        assert_eq!(parse("pi_"), Term::Text("pi_".into()));
        assert_eq!(parse("pi_12 34567890"), Term::Text("pi_12 34567890".into()));
        assert_eq!(
            parse("in_case@example.com"),
            Term::Text("in_case@example.com".into())
        );
    }
}
