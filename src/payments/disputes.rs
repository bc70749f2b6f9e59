//! Disputes: read back from Stripe whenever one of their events arrives.

use stripe_core::dispute::RetrieveDispute;
use stripe_shared::Dispute;

use super::{PaymentError, Stripe};

pub async fn retrieve(stripe: &Stripe, id: &str) -> Result<Dispute, PaymentError> {
    stripe.read(&RetrieveDispute::new(id)).await
}

/// The money a dispute moved, in the dispute's (the charge's) currency: (withdrawn, reinstated,
/// fees), each positive. Balance transactions are in the account's settlement currency: when
/// that is the dispute's, their amounts are taken as they are; otherwise the dispute's own amount
/// stands for each withdrawal and reinstatement, and fees (charged in the settlement currency
/// only) are left out rather than added to the wrong currency.
pub fn money_moved(dispute: &Dispute) -> (i64, i64, i64) {
    let mut withdrawn = 0;
    let mut reinstated = 0;
    let mut fees = 0;
    for bt in &dispute.balance_transactions {
        let same = bt.currency == dispute.currency;
        let amount = if same {
            bt.amount.abs()
        } else {
            dispute.amount
        };
        if bt.amount < 0 {
            withdrawn += amount;
        } else if bt.amount > 0 {
            reinstated += amount;
        }
        if same {
            fees += bt.fee;
        }
    }
    (withdrawn, reinstated, fees)
}
