//! Order rows.

use diesel::prelude::*;

use super::status::OrderStatus;
use crate::config::TaxSetting;
use crate::money::{Currency, Money};
use crate::schema::{order_items, orders};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = orders)]
pub struct Order {
    pub id: i64,
    pub number: String,
    pub kind: String,
    pub status: String,
    pub currency: String,
    pub amount_total: i64,
    pub amount_refunded: i64,
    pub email: Option<String>,
    pub cart_id: Option<i64>,
    pub cart_fingerprint: String,
    pub client_ip: Option<String>,
    pub idempotency_key: String,
    pub checkout_session_id: Option<String>,
    pub checkout_url: Option<String>,
    pub checkout_expires_at: i64,
    pub payment_intent_id: Option<String>,
    pub flagged: Option<String>,
    pub disputed: bool,
    pub stock_committed: bool,
    pub paid_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub user_id: Option<i64>,
    pub invoice_id: Option<String>,
    pub subscription_id: Option<i64>,
    /// Our items' sum. `amount_total` = subtotal − discount + shipping + exclusive tax, once
    /// fulfilment has checked Stripe's breakdown (before that, the subtotal).
    pub amount_subtotal: i64,
    pub amount_discount: i64,
    pub amount_shipping: i64,
    /// Tax added on top of the prices.
    pub amount_tax_exclusive: i64,
    /// Tax already inside the prices (shown, not added).
    pub amount_tax_inclusive: i64,
    /// The promotion code (or coupon name) behind the discount.
    pub discount_label: Option<String>,
    /// The tax behavior the order's session was asked for; `None`: tax off.
    pub tax_behavior: Option<String>,
    /// Shipping, apart from payment (see `shipping::status`).
    pub fulfilment_status: String,
    /// How it was paid (card, sepa_debit…), learnt with Stripe's fee; `None` until then.
    pub payment_method_type: Option<String>,
    /// Where a recovery e-mail may go if this checkout is abandoned (given with consent).
    pub recovery_email: Option<String>,
    /// The recovery e-mail whose link made this order.
    pub recovered_from: Option<i64>,
}

impl Order {
    pub fn status(&self) -> OrderStatus {
        // The column has a CHECK constraint; an unknown value cannot be stored.
        self.status.parse().unwrap_or(OrderStatus::Pending)
    }

    pub fn currency(&self) -> Currency {
        Currency::parse(&self.currency).unwrap_or_else(|_| Currency::parse("usd").expect("usd"))
    }

    pub fn total(&self) -> Money {
        Money::new(self.amount_total, self.currency())
    }

    pub fn money(&self, amount: i64) -> Money {
        Money::new(amount, self.currency())
    }

    /// The tax setting the order was made under (see `tax_behavior`).
    pub fn tax(&self) -> TaxSetting {
        match self.tax_behavior.as_deref() {
            None => TaxSetting::Off,
            Some("inclusive") => TaxSetting::Inclusive,
            Some(_) => TaxSetting::Exclusive,
        }
    }

    /// All tax on the order, whether added on top or inside the prices.
    pub fn amount_tax(&self) -> i64 {
        self.amount_tax_exclusive + self.amount_tax_inclusive
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Associations)]
#[diesel(table_name = order_items, belongs_to(Order))]
pub struct OrderItem {
    pub id: i64,
    pub order_id: i64,
    pub product_id: i64,
    pub price_id: i64,
    pub name: String,
    pub unit_amount: i64,
    pub quantity: i64,
    /// The line's share of the order's discount and tax, from Checkout's line items.
    pub amount_discount: i64,
    pub amount_tax: i64,
    /// What the customer paid for the line: its subtotal − discount + exclusive tax.
    pub amount_paid: i64,
    /// The Stripe Product the line was sold as; `None` for an inline product.
    pub stripe_product_id: Option<String>,
    /// Sold as a physical product: something to ship.
    pub physical: bool,
    /// The variant sold (whose stock the line took); `None` for a subscription invoice's line.
    pub variant_id: Option<i64>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = orders)]
pub struct NewOrder<'a> {
    pub number: &'a str,
    pub kind: &'a str,
    pub status: &'a str,
    pub currency: &'a str,
    pub amount_total: i64,
    pub amount_subtotal: i64,
    pub tax_behavior: Option<&'a str>,
    pub email: Option<&'a str>,
    pub cart_id: Option<i64>,
    pub cart_fingerprint: &'a str,
    pub client_ip: Option<&'a str>,
    pub idempotency_key: &'a str,
    pub checkout_expires_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub user_id: Option<i64>,
    /// [`crate::payments::Stripe::account`] of the key the order's session is made with.
    pub stripe_account: Option<&'a str>,
}
