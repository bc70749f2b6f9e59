//! Orders and stock, read straight from the database.

use storefront::orders::model::Order;

use super::TestApp;

impl TestApp {
    /// A checkout whose session create never answered usefully (Stripe 500s past our retries):
    /// the pending order, which has no session of its own yet.
    pub async fn order_without_session(&self) -> Order {
        self.emulator_post(
            "_emulator/faults",
            &[
                ("path", "/v1/checkout/sessions"),
                ("method", "POST"),
                ("status", "500"),
                ("count", "3"),
            ],
        )
        .await;
        let res = self.checkout_with(&self.client, "").await;
        assert_eq!(res.status().as_u16(), 503);
        let order = self.all_orders().await.remove(0);
        assert!(order.checkout_session_id.is_none());
        order
    }

    /// The Stripe Product stored for one of our products.
    pub async fn stripe_product_of(&self, slug: &str) -> String {
        use diesel::prelude::*;
        use storefront::schema::products;
        let slug = slug.to_owned();
        storefront::db::run(&self.pool, move |conn| {
            products::table
                .filter(products::slug.eq(slug))
                .select(products::stripe_product_id.assume_not_null())
                .first::<String>(conn)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
    }

    pub async fn order_by_session(&self, session_id: &str) -> Order {
        let id = session_id.to_owned();
        storefront::db::run(&self.pool, move |conn| {
            storefront::orders::queries::by_session(conn, &id)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
        .expect("order for the session")
    }

    pub async fn order(&self, number: &str) -> Order {
        let n = number.to_owned();
        storefront::db::run(&self.pool, move |conn| {
            storefront::orders::queries::by_number(conn, &n).map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
        .expect("order")
    }

    pub async fn all_orders(&self) -> Vec<Order> {
        use diesel::prelude::*;
        use storefront::schema::orders;
        storefront::db::run(&self.pool, |conn| {
            orders::table
                .order(orders::id.asc())
                .select(Order::as_select())
                .load(conn)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
    }

    /// The stock of a product: its variants' summed (`None` when one is unlimited).
    pub async fn stock(&self, slug: &str) -> Option<i64> {
        self.variant_stocks(slug)
            .await
            .into_iter()
            .try_fold(0, |sum, (_, s)| s.map(|s| sum + s))
    }

    /// Each variant's stock, by label ("" for a default variant), in display order.
    pub async fn variant_stocks(&self, slug: &str) -> Vec<(String, Option<i64>)> {
        use diesel::prelude::*;
        use storefront::schema::{product_variants, products};
        let slug = slug.to_owned();
        let rows: Vec<(String, String, Option<i64>)> =
            storefront::db::run(&self.pool, move |conn| {
                product_variants::table
                    .inner_join(products::table)
                    .filter(products::slug.eq(slug))
                    .order((product_variants::position.asc(), product_variants::id.asc()))
                    .select((
                        product_variants::option1,
                        product_variants::option2,
                        product_variants::stock,
                    ))
                    .load(conn)
                    .map_err(storefront::db::DbError::from)
            })
            .await
            .unwrap();
        rows.into_iter()
            .map(|(a, b, s)| (storefront::catalog::variants::label(&a, &b), s))
            .collect()
    }

    /// Sets the stock of a product's every variant, behind the shop's back.
    pub async fn set_stock(&self, slug: &str, stock: Option<i64>) {
        use diesel::prelude::*;
        use storefront::schema::{product_variants, products};
        let slug = slug.to_owned();
        storefront::db::run(&self.pool, move |conn| {
            let id: i64 = products::table
                .filter(products::slug.eq(slug))
                .select(products::id)
                .first(conn)?;
            diesel::update(product_variants::table.filter(product_variants::product_id.eq(id)))
                .set(product_variants::stock.eq(stock))
                .execute(conn)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap();
    }

    /// Units held for open checkouts of a product.
    pub async fn held(&self, slug: &str) -> i64 {
        use diesel::prelude::*;
        use storefront::schema::{products, stock_reservations};
        let slug = slug.to_owned();
        storefront::db::run(&self.pool, move |conn| {
            let id: i64 = products::table
                .filter(products::slug.eq(slug))
                .select(products::id)
                .first(conn)?;
            let q: Vec<i64> = stock_reservations::table
                .filter(stock_reservations::product_id.eq(id))
                .filter(stock_reservations::status.eq("held"))
                .select(stock_reservations::quantity)
                .load(conn)?;
            Ok::<_, storefront::db::DbError>(q.iter().sum())
        })
        .await
        .unwrap()
    }

    /// Waits (up to 10 s) until the order reaches `status`, as webhooks arrive asynchronously.
    pub async fn wait_for_status(&self, number: &str, status: &str) -> Order {
        for _ in 0..200 {
            let order = self.order(number).await;
            if order.status == status {
                return order;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let order = self.order(number).await;
        panic!("order {number} stayed {} (wanted {status})", order.status);
    }
}

impl TestApp {
    /// The outbox, newest first (up to 100 mails).
    pub async fn outbox(&self) -> Vec<storefront::mail::outbox::QueuedMail> {
        storefront::db::run(&self.pool, |conn| {
            storefront::mail::outbox::recent(conn, 100).map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
    }
}
