//! Keeping local subscriptions and subscription orders current from Stripe.
//!
//! Every handler re-fetches the object from Stripe and writes what Stripe says now, so events
//! that arrive late, twice or out of order cannot move a subscription backwards. The event id is
//! recorded in the same transaction as the write, as for checkout events.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use stripe_shared::{Invoice, Subscription as StripeSubscription};

use super::invoice_breakdown::{self, InvoiceBreakdown, Plan};
use super::model::Subscription;
use crate::accounts::model as users;
use crate::db::{self, AnyConnection, write_tx};
use crate::error::SyncError;
use crate::orders::model::NewOrder;
use crate::orders::number;
use crate::orders::status::OrderStatus;
use crate::schema::{order_items, orders, prices, products, shipping_prices, subscriptions};
use crate::state::AppState;
use crate::webhooks::ledger::{self, EventRecord, Outcome};

/// What we keep of a Stripe subscription.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub id: String,
    pub customer: String,
    pub status: String,
    /// The first item's price; [`upsert`] prefers the item on one of our plans (a plan that
    /// charges shipping has a second item, for the shipping).
    pub stripe_price_id: String,
    pub item_prices: Vec<String>,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub ended_at: Option<i64>,
}

impl From<&StripeSubscription> for Snapshot {
    fn from(s: &StripeSubscription) -> Self {
        let item = s.items.data.first();
        Self {
            id: s.id.as_str().to_owned(),
            customer: s.customer.id().as_str().to_owned(),
            status: s.status.as_str().to_owned(),
            stripe_price_id: item
                .map(|i| i.price.id.as_str().to_owned())
                .unwrap_or_default(),
            item_prices: s
                .items
                .data
                .iter()
                .map(|i| i.price.id.as_str().to_owned())
                .collect(),
            current_period_end: item.map(|i| i.current_period_end),
            cancel_at_period_end: s.cancel_at_period_end,
            ended_at: s.ended_at,
        }
    }
}

pub async fn fetch(state: &AppState, subscription_id: &str) -> Result<Snapshot, SyncError> {
    let sub = crate::payments::subscriptions::retrieve(&state.stripe, subscription_id).await?;
    Ok(Snapshot::from(&sub))
}

/// Brings one subscription up to date with Stripe.
pub async fn sync_subscription(
    state: &AppState,
    subscription_id: &str,
    event: Option<EventRecord>,
) -> Result<Outcome, SyncError> {
    let snapshot = fetch(state, subscription_id).await?;
    let now = state.clock.unix();
    db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            if let Some(ev) = &event
                && !ledger::record(conn, ev, None, "subscription", now)?
            {
                return Ok::<_, DieselError>(Outcome::Duplicate);
            }
            let row = upsert(
                conn,
                &snapshot,
                event.as_ref().map_or(0, |e| e.created),
                now,
            )?;
            Ok(Outcome::Subscription {
                id: row.stripe_subscription_id,
                status: row.status,
            })
        })
        .map_err(SyncError::from)
    })
    .await
}

/// A customer with two live subscriptions to one product pays twice for it: the shop keeps at
/// most one subscription Checkout open per product, but a session opened elsewhere (or before
/// that rule) can still complete. Both are kept — money was taken — and the newer is flagged.
fn flag_if_duplicate(
    conn: &mut AnyConnection,
    row: &Subscription,
    now: i64,
) -> Result<(), DieselError> {
    let (Some(user_id), Some(price_id)) = (row.user_id, row.price_id) else {
        return Ok(());
    };
    if !row.is_live() || row.flagged.is_some() {
        return Ok(());
    }
    let product_id: i64 = prices::table
        .find(price_id)
        .select(prices::product_id)
        .first(conn)?;
    let others: Vec<String> = subscriptions::table
        .inner_join(prices::table)
        .filter(subscriptions::user_id.eq(user_id))
        .filter(prices::product_id.eq(product_id))
        .filter(subscriptions::status.eq_any(super::model::LIVE_STATUSES))
        .filter(subscriptions::id.lt(row.id))
        .select(subscriptions::stripe_subscription_id)
        .load(conn)?;
    if let Some(first) = others.first() {
        let reason = format!(
            "a second live subscription to this product (the first is {first}); refund and cancel one"
        );
        tracing::error!(subscription = %row.stripe_subscription_id, %reason, "duplicate subscription");
        diesel::update(subscriptions::table.find(row.id))
            .set((
                subscriptions::flagged.eq(reason),
                subscriptions::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Writes Stripe's view of a subscription into our row (creating it the first time).
pub fn upsert(
    conn: &mut AnyConnection,
    s: &Snapshot,
    event_created: i64,
    now: i64,
) -> Result<Subscription, DieselError> {
    let user_id = users::by_stripe_customer(conn, &s.customer)?.map(|u| u.id);
    let plan: Option<(i64, Option<String>)> = prices::table
        .filter(prices::stripe_price_id.eq_any(&s.item_prices))
        .select((prices::id, prices::stripe_price_id))
        .first(conn)
        .optional()?;
    let price_id = plan.as_ref().map(|(id, _)| *id);
    let stripe_price_id = match plan.and_then(|(_, stripe)| stripe) {
        Some(stripe) => stripe,
        // None of ours (a plan Price since replaced): the first item that is not a shipping
        // charge, so a plan switch later moves the plan's item, not the shipping's.
        None => {
            let shipping: Vec<String> = shipping_prices::table
                .filter(shipping_prices::stripe_price_id.eq_any(&s.item_prices))
                .select(shipping_prices::stripe_price_id)
                .load(conn)?;
            s.item_prices
                .iter()
                .find(|p| !shipping.contains(p))
                .cloned()
                .unwrap_or_else(|| s.stripe_price_id.clone())
        }
    };
    let existing: Option<Subscription> = subscriptions::table
        .filter(subscriptions::stripe_subscription_id.eq(&s.id))
        .select(Subscription::as_select())
        .first(conn)
        .optional()?;
    match existing {
        Some(row) => {
            diesel::update(subscriptions::table.find(row.id))
                .set((
                    subscriptions::user_id.eq(user_id.or(row.user_id)),
                    subscriptions::price_id.eq(price_id.or(row.price_id)),
                    subscriptions::stripe_price_id.eq(&stripe_price_id),
                    subscriptions::status.eq(&s.status),
                    subscriptions::current_period_end.eq(s.current_period_end),
                    subscriptions::cancel_at_period_end.eq(s.cancel_at_period_end),
                    subscriptions::ended_at.eq(s.ended_at),
                    subscriptions::last_event_created.eq(row.last_event_created.max(event_created)),
                    subscriptions::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        None => {
            let inserted = db::insert_once(conn, |conn| {
                diesel::insert_into(subscriptions::table)
                    .values((
                        subscriptions::stripe_subscription_id.eq(&s.id),
                        subscriptions::user_id.eq(user_id),
                        subscriptions::stripe_customer_id.eq(&s.customer),
                        subscriptions::price_id.eq(price_id),
                        subscriptions::stripe_price_id.eq(&stripe_price_id),
                        subscriptions::status.eq(&s.status),
                        subscriptions::current_period_end.eq(s.current_period_end),
                        subscriptions::cancel_at_period_end.eq(s.cancel_at_period_end),
                        subscriptions::ended_at.eq(s.ended_at),
                        subscriptions::last_event_created.eq(event_created),
                        subscriptions::created_at.eq(now),
                        subscriptions::updated_at.eq(now),
                    ))
                    .execute(conn)
            })?;
            if !inserted {
                // A concurrent handler inserted it first (the savepoint kept our transaction
                // usable on PostgreSQL): write over it instead.
                return upsert(conn, s, event_created, now);
            }
        }
    }
    let row = subscriptions::table
        .filter(subscriptions::stripe_subscription_id.eq(&s.id))
        .select(Subscription::as_select())
        .first(conn)?;
    // Whichever event wrote it (a subscription's or an invoice's).
    flag_if_duplicate(conn, &row, now)?;
    Ok(row)
}

fn subscription_of(invoice: &Invoice) -> Option<String> {
    invoice
        .parent
        .as_ref()
        .and_then(|p| p.subscription_details.as_ref())
        .map(|d| d.subscription.id().as_str().to_owned())
}

fn payment_intent_of(invoice: &Invoice) -> Option<String> {
    invoice.payments.as_ref()?.data.iter().find_map(|p| {
        p.payment
            .payment_intent
            .as_ref()
            .map(|pi| pi.id().as_str().to_owned())
    })
}

/// `invoice.paid` / `invoice.payment_failed`: the subscription's state, and for a paid invoice an
/// order of kind `subscription` (once per invoice, whatever the deliveries).
pub async fn invoice_event(
    state: &AppState,
    invoice_id: &str,
    paid: bool,
    event: Option<EventRecord>,
) -> Result<Outcome, SyncError> {
    let invoice = crate::payments::subscriptions::invoice(&state.stripe, invoice_id).await?;
    let snapshot = match subscription_of(&invoice) {
        Some(id) => Some(fetch(state, &id).await?),
        None => None,
    };
    let now = state.clock.unix();
    let new_order = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let created = new_order.clone();
    let outcome = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            created.store(false, std::sync::atomic::Ordering::Relaxed);
            if let Some(ev) = &event
                && !ledger::record(
                    conn,
                    ev,
                    None,
                    if paid {
                        "invoice paid"
                    } else {
                        "invoice failed"
                    },
                    now,
                )?
            {
                return Ok::<_, DieselError>(Outcome::Duplicate);
            }
            let sub = match &snapshot {
                Some(s) => Some(upsert(
                    conn,
                    s,
                    event.as_ref().map_or(0, |e| e.created),
                    now,
                )?),
                None => None,
            };
            if let Some(sub) = &sub {
                diesel::update(subscriptions::table.find(sub.id))
                    .set(subscriptions::latest_invoice_status.eq(if paid {
                        "paid"
                    } else {
                        "payment_failed"
                    }))
                    .execute(conn)?;
            }
            // A free invoice is an order only when a discount made it free (a 100 %-off code):
            // the customer bought something. Other invoices for 0 (a proration that nets out,
            // a trial) are not purchases.
            let discounted = invoice
                .total_discount_amounts
                .iter()
                .flatten()
                .any(|d| d.amount > 0);
            if !paid || invoice.amount_paid < 0 || (invoice.amount_paid == 0 && !discounted) {
                return Ok(match sub {
                    Some(s) => Outcome::Subscription {
                        id: s.stripe_subscription_id,
                        status: s.status,
                    },
                    None => Outcome::Unknown,
                });
            }
            record_invoice_order(conn, &invoice, sub.as_ref(), now, &created)
                .map(|(number, status)| Outcome::Order { number, status })
        })
        .map_err(SyncError::from)
    })
    .await?;
    if new_order.load(std::sync::atomic::Ordering::Relaxed) {
        state.metrics.order_status(OrderStatus::Paid.as_str());
    }
    Ok(outcome)
}

fn record_invoice_order(
    conn: &mut AnyConnection,
    invoice: &Invoice,
    sub: Option<&Subscription>,
    now: i64,
    created: &std::sync::atomic::AtomicBool,
) -> Result<(String, OrderStatus), DieselError> {
    let invoice_id = invoice
        .id
        .as_ref()
        .map(|i| i.as_str().to_owned())
        .unwrap_or_default();
    if let Some((number, status)) = orders::table
        .filter(orders::invoice_id.eq(&invoice_id))
        .select((orders::number, orders::status))
        .first::<(String, String)>(conn)
        .optional()?
    {
        return Ok((number, status.parse().unwrap_or(OrderStatus::Paid)));
    }
    let user = match sub.and_then(|s| s.user_id) {
        Some(uid) => users::by_id(conn, uid)?,
        None => None,
    };
    let email = user
        .as_ref()
        .map(|u| u.email.clone())
        .or_else(|| invoice.customer_email.clone());
    // The price the invoice charges for, when it is ours: an invoice handled after a plan
    // switch is still for the plan it billed, not the subscription's current one.
    let billed: Option<i64> = prices::table
        .filter(prices::stripe_price_id.eq_any(invoice_breakdown::billed_prices(invoice)))
        .select(prices::id)
        .first(conn)
        .optional()?;
    let plan = match billed.or(sub.and_then(|s| s.price_id)) {
        Some(price_id) => Some(plan_of(conn, price_id)?),
        None => None,
    };
    let checked = invoice_breakdown::check(invoice, plan.as_ref().map(|(p, _, _)| p));
    if let Err(reason) = &checked {
        tracing::error!(invoice = %invoice_id, %reason, "invoice does not add up; its order is flagged");
    }
    // A flagged invoice's order keeps only what is certain, what was paid; the reason says what
    // Stripe's numbers were.
    let b = checked.clone().unwrap_or(InvoiceBreakdown {
        subtotal: invoice.amount_paid,
        shipping: 0,
        shipping_tax: 0,
        discount: 0,
        tax_exclusive: 0,
        tax_inclusive: 0,
        total: invoice.amount_paid,
        discount_label: None,
        unit_amount: invoice.amount_paid,
        quantity: 1,
        item_discount: 0,
        item_tax: 0,
        item_paid: invoice.amount_paid,
    });
    let number = number::generate();
    let key = format!("invoice-{invoice_id}");
    let currency = invoice.currency.to_string();
    diesel::insert_into(orders::table)
        .values((
            &NewOrder {
                number: &number,
                kind: "subscription",
                status: OrderStatus::Paid.as_str(),
                currency: &currency,
                amount_total: b.total,
                amount_subtotal: b.subtotal,
                tax_behavior: None,
                email: email.as_deref(),
                cart_id: None,
                cart_fingerprint: "",
                client_ip: None,
                idempotency_key: &key,
                checkout_expires_at: now,
                created_at: now,
                updated_at: now,
                user_id: user.as_ref().map(|u| u.id),
                stripe_account: None,
            },
            orders::invoice_id.eq(&invoice_id),
            orders::subscription_id.eq(sub.map(|s| s.id)),
            orders::payment_intent_id.eq(payment_intent_of(invoice)),
            orders::paid_at.eq(now),
            // Nothing to take off a shelf.
            orders::stock_committed.eq(true),
            orders::amount_discount.eq(b.discount),
            orders::amount_shipping.eq(b.shipping),
            orders::amount_tax_exclusive.eq(b.tax_exclusive),
            orders::amount_tax_inclusive.eq(b.tax_inclusive),
            orders::discount_label.eq(&b.discount_label),
            orders::flagged.eq(checked.err()),
        ))
        .execute(conn)?;
    let order_id: i64 = orders::table
        .filter(orders::number.eq(&number))
        .select(orders::id)
        .first(conn)?;
    // The invoice's charge has succeeded: Stripe's fee is read later.
    if let Some(intent) = payment_intent_of(invoice).filter(|_| invoice.amount_paid > 0) {
        crate::balance::queue(conn, &intent, order_id, now)?;
    }
    if let Some((_, (price_id, product_id), label)) = plan {
        // The one item carries its line's discount, tax and payment (the whole invoice's, when
        // it is not a plain period); a shipping line's are the shipping's.
        diesel::insert_into(order_items::table)
            .values((
                order_items::order_id.eq(order_id),
                order_items::product_id.eq(product_id),
                order_items::price_id.eq(price_id),
                order_items::name.eq(label),
                order_items::unit_amount.eq(b.unit_amount),
                order_items::quantity.eq(b.quantity),
                order_items::amount_discount.eq(b.item_discount),
                order_items::amount_tax.eq(b.item_tax),
                order_items::amount_paid.eq(b.item_paid),
                order_items::physical.eq(ships(conn, product_id)?),
            ))
            .execute(conn)?;
    }
    // A physical plan's period ships to the address the invoice records for the Customer
    // (kept from Checkout, changed in the Billing Portal).
    if let Some(to) = invoice.customer_shipping.as_ref()
        && let Some(a) = to.address.clone()
    {
        crate::shipping::address::store_once(
            conn,
            &crate::shipping::address::OrderShipping {
                order_id,
                name: to.name.clone().unwrap_or_default(),
                line1: a.line1,
                line2: a.line2,
                city: a.city,
                state: a.state,
                postal_code: a.postal_code,
                country: a.country.unwrap_or_default(),
                phone: to.phone.clone(),
                rate_id: None,
                rate_name: (b.shipping > 0).then(|| "Shipping per period".to_owned()),
                amount: b.shipping,
                amount_tax: b.shipping_tax,
            },
        )?;
    }
    crate::checkout::fulfil::queue_receipt(
        conn,
        order_id,
        crate::mail::messages::OrderEvent::Paid,
        now,
    )?;
    crate::shipping::status::recompute(conn, order_id)?;
    // Counted in the metrics once the transaction commits.
    created.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok((number, OrderStatus::Paid))
}

/// Whether a product is shipped (everything but digital products is).
fn ships(conn: &mut AnyConnection, product_id: i64) -> Result<bool, DieselError> {
    use crate::schema::products;
    Ok(products::table
        .find(product_id)
        .select(products::kind)
        .first::<String>(conn)?
        != "digital")
}

/// Our price a subscription is on: its terms, its ids (price, product) and the item's name.
fn plan_of(
    conn: &mut AnyConnection,
    price_id: i64,
) -> Result<(Plan, (i64, i64), String), DieselError> {
    let (product_id, name, interval, unit_amount, stripe_price_id): (
        i64,
        String,
        Option<String>,
        i64,
        Option<String>,
    ) = prices::table
        .inner_join(products::table)
        .filter(prices::id.eq(price_id))
        .select((
            products::id,
            products::name,
            prices::recurring_interval,
            prices::unit_amount,
            prices::stripe_price_id,
        ))
        .first(conn)?;
    let label = match interval {
        Some(i) => format!(
            "{name} ({}ly)",
            if i == "day" { "dai".to_owned() } else { i }
        ),
        None => name,
    };
    let shipping_prices = shipping_prices::table
        .filter(shipping_prices::price_id.eq(price_id))
        .select(shipping_prices::stripe_price_id)
        .load(conn)?;
    let plan = Plan {
        stripe_price_id,
        unit_amount,
        shipping_prices,
    };
    Ok((plan, (price_id, product_id), label))
}
