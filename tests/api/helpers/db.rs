//! A fresh database per test: a SQLite file in a temp dir, or a PostgreSQL database.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use rand::RngCore as _;

/// A fresh database for one test: a SQLite file in a temp dir, or a PostgreSQL database created
/// on the server named by `TEST_DATABASE_URL` and dropped afterwards.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty())
        {
            Some(base) => {
                let mut admin = url::Url::parse(&base).expect("TEST_DATABASE_URL is a URL");
                admin.set_path("/postgres");
                let name = format!("storefront_test_{}", random_hex(8));
                let mut conn = PgConnection::establish(admin.as_str())
                    .unwrap_or_else(|e| panic!("TEST_DATABASE_URL unreachable: {e}"));
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                let mut url = admin.clone();
                url.set_path(&format!("/{name}"));
                Self {
                    url: url.to_string(),
                    _dir: None,
                    pg_admin: Some((admin.to_string(), name)),
                }
            }
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("shop.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    pg_admin: None,
                }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg_admin.is_some()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg_admin
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
