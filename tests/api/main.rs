//! Integration tests: one binary, each test with its own app and database.
//! With `TEST_DATABASE_URL=postgres://…` every test runs on PostgreSQL instead of SQLite.

mod accounts;
mod admin;
mod browse;
mod canonical_host;
mod cart;
mod catalog;
mod catalogue_admin;
mod catalogue_freshness;
mod cli;
mod csrf;
mod dashboard;
mod database;
mod digital;
mod discounts;
mod form_fuzz;
#[allow(dead_code)] // The harness serves tests still to come.
mod helpers;
mod installation;
mod jobs;
mod logs;
mod mail;
mod metrics;
mod order_status;
mod page_snapshots;
mod pictures;
mod price_changes;
mod proxies;
mod purchase;
mod reconcile;
mod saved_cards;
mod seo;
mod sessions;
mod shipping;
mod shipping_checkout;
mod shutdown;
mod stock_admin;
mod subscription_invoices;
mod subscription_shipping;
mod subscriptions;
mod support;
mod sweep;
mod variants;
mod web;
mod webhooks;
