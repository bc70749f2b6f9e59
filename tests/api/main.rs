//! Integration tests: one binary, each test with its own app and database.
//! With `TEST_DATABASE_URL=postgres://…` every test runs on PostgreSQL instead of SQLite.

mod accounts;
mod admin;
mod canonical_host;
mod cart;
mod catalog;
mod cli;
mod dashboard;
mod database;
#[allow(dead_code)] // The harness serves tests still to come.
mod helpers;
mod logs;
mod mail;
mod metrics;
mod order_status;
mod purchase;
mod sessions;
mod shutdown;
mod subscriptions;
mod web;
mod webhooks;
