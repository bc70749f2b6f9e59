use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use storefront::config::DatabaseUrl;
use storefront::db::{self, AnyConnection};
use storefront::schema::{
    audit_log, categories, download_counts, installation, instances, job_runs, licence_keys,
    order_shipping, order_shipping_rates, product_files, product_images, product_redirects,
    product_variants, refund_lines, refund_restocks, refund_tokens, refunds, shipment_lines,
    shipments, shipping_rates, stripe_usage, subscription_checkouts,
};
use storefront::schema::{
    balance_fetches, balance_transactions, cart_items, carts, checkout_recoveries, disputes,
    email_tokens, login_attempts, order_items, orders, outbox, payment_failures, prices, products,
    rate_limit_hits, recovery_unsubscribes, shipping_prices, stock_alerts, stock_reservations,
    stripe_event_failures, stripe_events, subscriptions, user_sessions, users,
};

use crate::helpers::TestDb;

/// (column name, diesel type, nullable) as schema.rs declares them.
type Columns = Vec<(String, String, bool)>;

/// Reads a table's columns out of schema.rs: names from the SQL diesel generates, types from
/// the table's SQL type tuple.
macro_rules! schema_tables {
    ($($table:ident),* $(,)?) => {{
        let mut map: BTreeMap<String, Columns> = BTreeMap::new();
        $(
            let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&$table::table.select($table::all_columns)).to_string();
            let names: Vec<String> = sql
                .split(" FROM ")
                .next()
                .unwrap()
                .trim_start_matches("SELECT ")
                .split(", ")
                .map(|c| c.rsplit('.').next().unwrap().trim_matches('`').trim_matches('"').to_owned())
                .collect();
            let types = split_tuple(std::any::type_name::<<<$table::table as Table>::AllColumns as Expression>::SqlType>());
            assert_eq!(names.len(), types.len(), "{}", stringify!($table));
            let cols = names
                .into_iter()
                .zip(types)
                .map(|(n, t)| {
                    let nullable = t.starts_with("Nullable<");
                    let base = t.trim_start_matches("Nullable<").trim_end_matches('>').to_owned();
                    (n, base, nullable)
                })
                .collect();
            map.insert(stringify!($table).to_owned(), cols);
        )*
        map
    }};
}

/// "(a::BigInt, a::Nullable<a::Text>)" → ["BigInt", "Nullable<Text>"]
fn split_tuple(type_name: &str) -> Vec<String> {
    let inner = type_name
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')');
    let mut parts = vec![];
    let (mut depth, mut current) = (0, String::new());
    for ch in inner.chars() {
        match ch {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    parts.push(current);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            // Strip module paths inside and outside the generics.
            p.trim()
                .split('<')
                .map(|seg| seg.rsplit("::").next().unwrap_or(seg))
                .collect::<Vec<_>>()
                .join("<")
        })
        .collect()
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    #[diesel(column_name = type_)]
    type_: String,
    #[diesel(sql_type = Integer)]
    notnull: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

fn sql_type_of(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "BigInt",
        "text" => "Text",
        "boolean" => "Bool",
        "blob" | "bytea" => "Binary",
        _ => "unknown",
    }
}

fn database_tables(conn: &mut AnyConnection) -> BTreeMap<String, Columns> {
    let mut map = BTreeMap::new();
    match conn {
        AnyConnection::Sqlite(c) => {
            let tables: Vec<TableName> = diesel::sql_query(
                // The FTS5 search index (and its shadow tables) is reached through raw SQL only.
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '__diesel_schema_migrations' AND name NOT LIKE 'product_search%'",
            )
            .load(c)
            .unwrap();
            for t in tables {
                let cols: Vec<SqliteColumn> = diesel::sql_query(format!(
                    "SELECT name, type AS type_, \"notnull\", pk FROM pragma_table_info('{}') ORDER BY cid",
                    t.name
                ))
                .load(c)
                .unwrap();
                let cols = cols
                    .into_iter()
                    .map(|col| {
                        (
                            col.name,
                            sql_type_of(&col.type_).to_owned(),
                            col.notnull == 0 && col.pk == 0,
                        )
                    })
                    .collect();
                map.insert(t.name, cols);
            }
        }
        AnyConnection::Postgresql(c) => {
            let tables: Vec<TableName> = diesel::sql_query(
                "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_name != '__diesel_schema_migrations'",
            )
            .load(c)
            .unwrap();
            for t in tables {
                let cols: Vec<PgColumn> = diesel::sql_query(format!(
                    "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns \
                     WHERE table_schema = 'public' AND table_name = '{}' ORDER BY ordinal_position",
                    t.name
                ))
                .load(c)
                .unwrap();
                let cols = cols
                    .into_iter()
                    .map(|col| {
                        (
                            col.column_name,
                            sql_type_of(&col.data_type).to_owned(),
                            col.is_nullable == "YES",
                        )
                    })
                    .collect();
                map.insert(t.name, cols);
            }
        }
    }
    map
}

#[test]
fn schema_rs_matches_the_migrations() {
    let db = TestDb::new();
    let url = DatabaseUrl::parse(&db.url).unwrap();
    let mut conn = db::Manager::connect(&url).unwrap();
    db::migrate(&mut conn).unwrap();
    let expected = schema_tables!(
        products,
        categories,
        product_images,
        product_redirects,
        product_variants,
        prices,
        shipping_prices,
        stock_alerts,
        carts,
        cart_items,
        orders,
        order_items,
        stock_reservations,
        stripe_events,
        stripe_event_failures,
        disputes,
        balance_transactions,
        balance_fetches,
        checkout_recoveries,
        recovery_unsubscribes,
        users,
        login_attempts,
        subscriptions,
        outbox,
        email_tokens,
        payment_failures,
        refunds,
        refund_lines,
        refund_restocks,
        order_shipping,
        product_files,
        licence_keys,
        download_counts,
        order_shipping_rates,
        shipping_rates,
        shipments,
        shipment_lines,
        refund_tokens,
        audit_log,
        subscription_checkouts,
        installation,
        job_runs,
        user_sessions,
        rate_limit_hits,
        instances,
        stripe_usage,
    );
    let actual = database_tables(&mut conn);
    assert_eq!(
        expected.keys().collect::<BTreeSet<_>>(),
        actual.keys().collect::<BTreeSet<_>>(),
        "tables in schema.rs vs the migrations (add new tables to schema_tables! here)"
    );
    for (table, cols) in &expected {
        assert_eq!(
            cols, &actual[table],
            "columns of {table}: schema.rs (left) vs migrations (right)"
        );
    }
}

#[test]
fn migrations_are_idempotent() {
    let db = TestDb::new();
    let url = DatabaseUrl::parse(&db.url).unwrap();
    let mut conn = db::Manager::connect(&url).unwrap();
    db::migrate(&mut conn).unwrap();
    db::migrate(&mut conn).unwrap();
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Read-then-write transactions from many threads at once: on SQLite a deferred transaction
/// would fail with "database is locked" when upgrading; `write_tx` begins IMMEDIATE instead.
#[test]
fn concurrent_write_transactions_all_succeed() {
    let db = TestDb::new();
    let url = DatabaseUrl::parse(&db.url).unwrap();
    let pool = db::pool(&url, 8).unwrap();
    db::migrate(&mut pool.get().unwrap()).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let mut conn = pool.get().unwrap();
                    db::write_tx(&mut conn, |conn| {
                        let before: i64 = products::table.count().get_result(conn)?;
                        diesel::insert_into(products::table)
                            .values((
                                products::slug.eq(format!("p-{t}-{i}")),
                                products::name.eq("x"),
                                products::position.eq(before),
                                products::created_at.eq(0i64),
                                products::updated_at.eq(0i64),
                            ))
                            .execute(conn)?;
                        Ok::<_, diesel::result::Error>(())
                    })
                    .unwrap_or_else(|e| panic!("thread {t} write {i}: {e}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let n: Vec<Count> = diesel::sql_query("SELECT COUNT(*) AS n FROM products")
        .load(&mut pool.get().unwrap())
        .unwrap();
    assert_eq!(n[0].n, 200);
}

#[test]
fn a_failed_write_transaction_rolls_back() {
    let db = TestDb::new();
    let url = DatabaseUrl::parse(&db.url).unwrap();
    let pool = db::pool(&url, 2).unwrap();
    let mut conn = pool.get().unwrap();
    db::migrate(&mut conn).unwrap();
    let result: Result<(), diesel::result::Error> = db::write_tx(&mut conn, |conn| {
        diesel::insert_into(products::table)
            .values((
                products::slug.eq("rolled-back"),
                products::name.eq("x"),
                products::created_at.eq(0i64),
                products::updated_at.eq(0i64),
            ))
            .execute(conn)?;
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(result.is_err());
    let n: i64 = products::table.count().get_result(&mut conn).unwrap();
    assert_eq!(n, 0);
    // The connection is usable afterwards, and prices references products.
    let n: i64 = prices::table.count().get_result(&mut conn).unwrap();
    assert_eq!(n, 0);
}
