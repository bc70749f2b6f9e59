//! Disputes: read back from Stripe whenever one of their events arrives.

use stripe_core::dispute::RetrieveDispute;
use stripe_shared::Dispute;

use super::{PaymentError, Stripe};

pub async fn retrieve(stripe: &Stripe, id: &str) -> Result<Dispute, PaymentError> {
    stripe.read(&RetrieveDispute::new(id)).await
}

/// The money a dispute moved, from its balance transactions: (withdrawn, reinstated, fees),
/// each a positive amount in the dispute's currency.
pub fn money_moved(dispute: &Dispute) -> (i64, i64, i64) {
    let mut withdrawn = 0;
    let mut reinstated = 0;
    let mut fees = 0;
    for bt in &dispute.balance_transactions {
        if bt.amount < 0 {
            withdrawn += -bt.amount;
        } else {
            reinstated += bt.amount;
        }
        fees += bt.fee;
    }
    (withdrawn, reinstated, fees)
}
