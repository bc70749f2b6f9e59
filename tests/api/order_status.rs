//! The order state machine on a real database: `orders::transition` is the only writer of an
//! order's status, and it moves an order only along the moves `orders::status` allows.

use diesel::prelude::*;
use storefront::config::DatabaseUrl;
use storefront::db::{self, AnyConnection};
use storefront::orders::model::NewOrder;
use storefront::orders::status::OrderStatus;
use storefront::orders::transition;
use storefront::schema::{orders, products};

use crate::helpers::TestDb;

fn connect(db: &TestDb) -> AnyConnection {
    let url = DatabaseUrl::parse(&db.url).unwrap();
    let mut conn = db::Manager::connect(&url).unwrap();
    db::migrate(&mut conn).unwrap();
    conn
}

fn order(conn: &mut AnyConnection, n: usize, status: OrderStatus, refunded: i64) -> i64 {
    let number = format!("SF-TEST-{n}");
    diesel::insert_into(orders::table)
        .values(&NewOrder {
            number: &number,
            kind: "one_time",
            status: status.as_str(),
            currency: "usd",
            amount_total: 1000,
            amount_subtotal: 1000,
            tax_behavior: None,
            email: None,
            cart_id: None,
            cart_fingerprint: "",
            client_ip: None,
            idempotency_key: &number,
            checkout_expires_at: 0,
            created_at: 0,
            updated_at: 0,
            user_id: None,
            stripe_account: None,
        })
        .execute(conn)
        .unwrap();
    let id = orders::table
        .filter(orders::number.eq(&number))
        .select(orders::id)
        .first(conn)
        .unwrap();
    diesel::update(orders::table.find(id))
        .set(orders::amount_refunded.eq(refunded))
        .execute(conn)
        .unwrap();
    id
}

fn status_of(conn: &mut AnyConnection, id: i64) -> OrderStatus {
    orders::table
        .find(id)
        .select(orders::status)
        .first::<String>(conn)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn payment_moves_happen_exactly_where_the_table_allows() {
    let db = TestDb::new();
    let mut conn = connect(&db);
    let mut n = 0;
    for from in OrderStatus::ALL {
        for to in OrderStatus::ALL {
            n += 1;
            let id = order(&mut conn, n, from, 0);
            let moved = transition::by_payment(&mut conn, id, to, 5).unwrap();
            let allowed = to.payment_allowed_from().contains(&from);
            assert_eq!(moved, allowed, "payment move {from} -> {to}");
            assert_eq!(
                status_of(&mut conn, id),
                if allowed { to } else { from },
                "{from} -> {to}"
            );
        }
    }
}

#[test]
fn refunds_move_only_paid_orders_and_in_both_directions() {
    let db = TestDb::new();
    let mut conn = connect(&db);
    // (status before, refunded before, succeeded refunds now, status after)
    let cases = [
        (OrderStatus::Paid, 0, 400, OrderStatus::PartiallyRefunded),
        (OrderStatus::Paid, 0, 1000, OrderStatus::Refunded),
        (
            OrderStatus::PartiallyRefunded,
            400,
            1000,
            OrderStatus::Refunded,
        ),
        // A refund that failed later: back down.
        (
            OrderStatus::Refunded,
            1000,
            400,
            OrderStatus::PartiallyRefunded,
        ),
        (OrderStatus::Refunded, 1000, 0, OrderStatus::Paid),
        (OrderStatus::PartiallyRefunded, 400, 0, OrderStatus::Paid),
        (OrderStatus::Paid, 0, 0, OrderStatus::Paid),
        // Never paid: refunds move nothing.
        (OrderStatus::Pending, 0, 1000, OrderStatus::Pending),
        (OrderStatus::Processing, 0, 1000, OrderStatus::Processing),
        (OrderStatus::Expired, 0, 400, OrderStatus::Expired),
        (
            OrderStatus::PaymentFailed,
            0,
            1000,
            OrderStatus::PaymentFailed,
        ),
    ];
    for (n, (from, before, succeeded, after)) in cases.into_iter().enumerate() {
        let id = order(&mut conn, n, from, before);
        let moved = transition::by_refunds(&mut conn, id, succeeded, 5).unwrap();
        assert_eq!(
            status_of(&mut conn, id),
            after,
            "{from} with {succeeded} refunded"
        );
        assert_eq!(moved, (after != from).then_some(after));
        let refunded: i64 = orders::table
            .find(id)
            .select(orders::amount_refunded)
            .first(&mut conn)
            .unwrap();
        assert_eq!(refunded, succeeded);
    }
}

/// PostgreSQL aborts a whole transaction at its first error: a duplicate insert must not take
/// the rest of the transaction (the event's other effects, an upsert's update) down with it.
#[test]
fn a_duplicate_insert_leaves_the_transaction_usable() {
    let db = TestDb::new();
    let mut conn = connect(&db);
    let insert = |conn: &mut AnyConnection| {
        diesel::insert_into(products::table)
            .values((
                products::slug.eq("same"),
                products::name.eq("x"),
                products::created_at.eq(0i64),
                products::updated_at.eq(0i64),
            ))
            .execute(conn)
    };
    let result = db::write_tx(&mut conn, |conn| {
        assert!(db::insert_once(conn, insert)?);
        assert!(!db::insert_once(conn, insert)?);
        // Still usable after the conflict.
        diesel::update(products::table.filter(products::slug.eq("same")))
            .set(products::name.eq("after the conflict"))
            .execute(conn)?;
        Ok::<_, diesel::result::Error>(())
    });
    result.unwrap();
    let name: String = products::table
        .filter(products::slug.eq("same"))
        .select(products::name)
        .first(&mut conn)
        .unwrap();
    assert_eq!(name, "after the conflict");
}
