//! The order's payment status and the only moves it may make (DESIGN §4): forward, never back.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Pending,
    Processing,
    Paid,
    PaymentFailed,
    Expired,
    PartiallyRefunded,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::Pending,
        OrderStatus::Processing,
        OrderStatus::Paid,
        OrderStatus::PaymentFailed,
        OrderStatus::Expired,
        OrderStatus::PartiallyRefunded,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Processing => "processing",
            OrderStatus::Paid => "paid",
            OrderStatus::PaymentFailed => "payment_failed",
            OrderStatus::Expired => "expired",
            OrderStatus::PartiallyRefunded => "partially_refunded",
            OrderStatus::Refunded => "refunded",
        }
    }

    /// What a customer reads.
    pub fn label(self) -> &'static str {
        match self {
            OrderStatus::Pending => "Awaiting payment",
            OrderStatus::Processing => "Payment processing — we'll e-mail you",
            OrderStatus::Paid => "Paid",
            OrderStatus::PaymentFailed => "Payment failed",
            OrderStatus::Expired => "Cancelled",
            OrderStatus::PartiallyRefunded => "Partially refunded",
            OrderStatus::Refunded => "Refunded",
        }
    }

    /// The statuses an order may be in for a move to `self` to be allowed.
    /// Stripe is the truth: a session that really completed is paid even after we saw `expired`.
    pub fn allowed_from(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Pending => &[],
            Processing => &[Pending, Expired],
            Paid => &[Pending, Processing, Expired],
            PaymentFailed => &[Pending, Processing],
            Expired => &[Pending],
            PartiallyRefunded => &[Paid, Refunded],
            Refunded => &[Paid, PartiallyRefunded],
        }
    }

    pub fn allowed_from_str(self) -> Vec<&'static str> {
        self.allowed_from().iter().map(|s| s.as_str()).collect()
    }

    /// Whether payment was taken (refund states included).
    pub fn is_paid(self) -> bool {
        matches!(
            self,
            OrderStatus::Paid | OrderStatus::PartiallyRefunded | OrderStatus::Refunded
        )
    }
}

impl FromStr for OrderStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        OrderStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown order status {s:?}"))
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>().unwrap(), s);
        }
        assert!("shipped".parse::<OrderStatus>().is_err());
    }

    #[test]
    fn payment_status_only_moves_forward() {
        // Nothing returns to pending, and paid never goes back to processing or expired.
        for s in OrderStatus::ALL {
            assert!(!Pending.allowed_from().contains(&s));
        }
        assert!(!Processing.allowed_from().contains(&Paid));
        assert!(!Expired.allowed_from().contains(&Paid));
        assert!(!PaymentFailed.allowed_from().contains(&Paid));
        assert!(!Expired.allowed_from().contains(&Processing));
        // A completed payment wins over an expiry we saw first.
        assert!(Paid.allowed_from().contains(&Expired));
    }
}
