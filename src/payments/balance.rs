//! Balance transactions: what a charge, a refund or a dispute did to the account's balance, in
//! the account's settlement currency, with Stripe's fee. Read once the money has moved.

use stripe_core::payment_intent::RetrievePaymentIntent;
use stripe_core::refund::RetrieveRefund;
use stripe_shared::{BalanceTransaction, ChargeStatus};
use stripe_types::Expandable;

use super::{PaymentError, Stripe};

/// One balance transaction as the shop keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub id: String,
    /// What moved the money: a charge, refund or dispute id.
    pub source: Option<String>,
    /// Stripe's `reporting_category`: charge, refund, refund_failure, dispute, dispute_reversal…
    pub category: String,
    /// Signed, in the settlement currency: negative when money left the balance.
    pub amount: i64,
    pub fee: i64,
    pub net: i64,
    /// The settlement currency (lower case), not necessarily the order's.
    pub currency: String,
    pub created: i64,
}

impl From<&BalanceTransaction> for Txn {
    fn from(bt: &BalanceTransaction) -> Self {
        Txn {
            id: bt.id.as_str().to_owned(),
            source: bt.source.as_ref().map(|s| s.id().as_str().to_owned()),
            category: bt.reporting_category.clone(),
            amount: bt.amount,
            fee: bt.fee,
            net: bt.net,
            currency: bt.currency.to_string(),
            created: bt.created,
        }
    }
}

fn expanded(bt: &Option<Expandable<BalanceTransaction>>) -> Option<Txn> {
    bt.as_ref().and_then(|e| e.as_object()).map(Txn::from)
}

/// A PaymentIntent's successful charge as the balance saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charged {
    pub txn: Txn,
    /// How it was paid: card, sepa_debit, us_bank_account…
    pub method: Option<String>,
}

/// The successful charge of a session read with
/// `payment_intent.latest_charge.balance_transaction` expanded, when it has one.
pub fn of_session(session: &stripe_shared::CheckoutSession) -> Option<Charged> {
    let pi = session.payment_intent.as_ref()?.as_object()?;
    charged(pi)
}

fn charged(pi: &stripe_shared::PaymentIntent) -> Option<Charged> {
    let charge = pi.latest_charge.as_ref()?.as_object()?;
    if charge.status != ChargeStatus::Succeeded {
        return None;
    }
    expanded(&charge.balance_transaction).map(|txn| Charged {
        txn,
        method: charge
            .payment_method_details
            .as_ref()
            .map(|d| d.type_.clone()),
    })
}

/// The balance transaction of a PaymentIntent's successful charge; `None` while there is none
/// yet (a bank debit still processing, or Stripe not done with it).
pub async fn of_intent(stripe: &Stripe, intent_id: &str) -> Result<Option<Charged>, PaymentError> {
    let pi = stripe
        .read(
            &RetrievePaymentIntent::new(intent_id)
                .expand(vec!["latest_charge.balance_transaction".to_owned()]),
        )
        .await?;
    Ok(charged(&pi))
}

/// A refund's balance transactions: the money leaving, and, when it failed, coming back.
pub async fn of_refund(stripe: &Stripe, refund_id: &str) -> Result<Vec<Txn>, PaymentError> {
    let re = stripe
        .read(&RetrieveRefund::new(refund_id).expand(vec![
            "balance_transaction".to_owned(),
            "failure_balance_transaction".to_owned(),
        ]))
        .await?;
    Ok([
        expanded(&re.balance_transaction),
        expanded(&re.failure_balance_transaction),
    ]
    .into_iter()
    .flatten()
    .collect())
}
