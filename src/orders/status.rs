//! The order's payment status and the only moves it may make: two tables, one for moves driven by
//! the payment (forward only) and one for moves driven by refunds (among the paid statuses).
//! `orders::transition` is the only code that writes the status, and only through these tables.

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

    /// Payment-driven moves (what Stripe says of the Checkout Session): the statuses an order may
    /// be in for a move to `self`. Forward only; Stripe is the truth, so a session that really
    /// completed is paid even after we saw `expired`.
    pub fn payment_allowed_from(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Pending => &[],
            Processing => &[Pending, Expired],
            Paid => &[Pending, Processing, Expired],
            PaymentFailed => &[Pending, Processing],
            Expired => &[Pending],
            PartiallyRefunded | Refunded => &[],
        }
    }

    /// Refund-driven moves, derived from the sum of succeeded refunds: only among the paid
    /// statuses, in either direction, since a refund that fails later makes its amount
    /// refundable again (`refunded` back to `partially_refunded` or `paid`).
    pub fn refund_allowed_from(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Paid => &[PartiallyRefunded, Refunded],
            PartiallyRefunded => &[Paid, Refunded],
            Refunded => &[Paid, PartiallyRefunded],
            Pending | Processing | PaymentFailed | Expired => &[],
        }
    }

    /// Whether a payment move can still take the order elsewhere (it is in some move's
    /// `payment_allowed_from`): such an order still has something to learn from Stripe.
    pub fn may_move_by_payment(self) -> bool {
        OrderStatus::ALL
            .iter()
            .any(|to| to.payment_allowed_from().contains(&self))
    }

    /// The status the succeeded refunds of a paid order of `total` put it in.
    pub fn after_refunds(refunded: i64, total: i64) -> OrderStatus {
        if refunded <= 0 {
            OrderStatus::Paid
        } else if refunded < total {
            OrderStatus::PartiallyRefunded
        } else {
            OrderStatus::Refunded
        }
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

    /// Every (from, to) pair of a table, allowed or not.
    fn moves(table: fn(OrderStatus) -> &'static [OrderStatus]) -> Vec<(OrderStatus, OrderStatus)> {
        let mut allowed = vec![];
        for to in OrderStatus::ALL {
            for from in table(to) {
                allowed.push((*from, to));
            }
        }
        allowed
    }

    #[test]
    fn payment_moves_are_exactly_these() {
        let expected = [
            (Pending, Processing),
            (Expired, Processing),
            (Pending, Paid),
            (Processing, Paid),
            (Expired, Paid),
            (Pending, PaymentFailed),
            (Processing, PaymentFailed),
            (Pending, Expired),
        ];
        let allowed = moves(OrderStatus::payment_allowed_from);
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    allowed.contains(&(from, to)),
                    expected.contains(&(from, to)),
                    "payment move {from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn payment_status_only_moves_forward() {
        // Nothing returns to pending, paid never goes back to processing or expired, and no
        // payment event touches a refunded order.
        let allowed = moves(OrderStatus::payment_allowed_from);
        for s in OrderStatus::ALL {
            assert!(!allowed.contains(&(s, Pending)));
            assert!(!allowed.contains(&(Refunded, s)));
            assert!(!allowed.contains(&(PartiallyRefunded, s)));
        }
        assert!(!allowed.contains(&(Paid, Processing)));
        assert!(!allowed.contains(&(Paid, Expired)));
        assert!(!allowed.contains(&(PaymentFailed, Paid)));
        assert!(!allowed.contains(&(Processing, Expired)));
        // A completed payment wins over an expiry we saw first.
        assert!(allowed.contains(&(Expired, Paid)));
    }

    #[test]
    fn refund_moves_are_exactly_these() {
        let expected = [
            (Paid, PartiallyRefunded),
            (Paid, Refunded),
            (PartiallyRefunded, Refunded),
            (PartiallyRefunded, Paid),
            (Refunded, PartiallyRefunded),
            (Refunded, Paid),
        ];
        let allowed = moves(OrderStatus::refund_allowed_from);
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    allowed.contains(&(from, to)),
                    expected.contains(&(from, to)),
                    "refund move {from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn only_orders_a_payment_can_still_move_have_something_to_learn() {
        let open: Vec<_> = OrderStatus::ALL
            .into_iter()
            .filter(|s| s.may_move_by_payment())
            .collect();
        assert_eq!(open, [Pending, Processing, Expired]);
    }

    #[test]
    fn refunds_decide_the_paid_status() {
        assert_eq!(OrderStatus::after_refunds(0, 1000), Paid);
        assert_eq!(OrderStatus::after_refunds(1, 1000), PartiallyRefunded);
        assert_eq!(OrderStatus::after_refunds(999, 1000), PartiallyRefunded);
        assert_eq!(OrderStatus::after_refunds(1000, 1000), Refunded);
    }
}
