//! The emulator's own SQLite state: JSON documents, events, deliveries, idempotency keys, clock.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use rand::Rng;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
pub const API_VERSION: &str = "2026-09-30.endive";

pub mod schema {
    diesel::table! {
        objects (seq) {
            seq -> BigInt,
            id -> Text,
            object -> Text,
            created -> BigInt,
            data -> Text,
        }
    }
    diesel::table! {
        deliveries (id) {
            id -> BigInt,
            event_id -> Text,
            endpoint_id -> Text,
            attempts -> BigInt,
            next_attempt_ms -> BigInt,
            state -> Text,
            last_status -> Nullable<BigInt>,
        }
    }
    diesel::table! {
        idempotency_keys (key) {
            key -> Text,
            fingerprint -> Text,
            status -> BigInt,
            body -> Text,
            created -> BigInt,
        }
    }
    diesel::table! {
        clock (id) {
            id -> BigInt,
            offset_secs -> BigInt,
        }
    }
    diesel::table! {
        jobs (id) {
            id -> BigInt,
            due_ms -> BigInt,
            kind -> Text,
            target -> Text,
        }
    }
}
use schema::*;

pub type DbPool = Pool<ConnectionManager<SqliteConnection>>;

#[derive(Debug)]
struct Pragmas;
impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// One connection: every change is a serialized transaction, and a `:memory:` database
/// lives exactly as long as the pool.
pub fn open(db: &str) -> anyhow::Result<DbPool> {
    let db = db.strip_prefix("sqlite://").unwrap_or(db);
    let manager = ConnectionManager::<SqliteConnection>::new(db);
    let pool = Pool::builder()
        .max_size(1)
        .min_idle(Some(1))
        .idle_timeout(None)
        .max_lifetime(None)
        .connection_customizer(Box::new(Pragmas))
        .build(manager)?;
    let mut conn = pool.get()?;
    if db != ":memory:" {
        conn.batch_execute("PRAGMA journal_mode = WAL;")?;
    }
    conn.run_pending_migrations(MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("emulator migrations failed: {e}"))?;
    Ok(pool)
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn random_token(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

pub fn new_id(prefix: &str) -> String {
    let len = if prefix.starts_with("cs_") { 58 } else { 24 };
    format!("{prefix}{}", random_token(len))
}

/// Object kinds whose ids say what they are.
pub fn kind_of_id(id: &str) -> Option<&'static str> {
    const PREFIXES: &[(&str, &str)] = &[
        ("cs_", "checkout.session"),
        ("pi_", "payment_intent"),
        ("ch_", "charge"),
        ("re_", "refund"),
        ("prod_", "product"),
        ("price_", "price"),
        ("cus_", "customer"),
        ("evt_", "event"),
        ("we_", "webhook_endpoint"),
        ("sub_", "subscription"),
        ("in_", "invoice"),
        ("bpc_", "billing_portal.configuration"),
        ("bps_", "billing_portal.session"),
        ("pm_", "payment_method"),
        ("dp_", "dispute"),
        ("promo_", "promotion_code"),
        ("di_", "discount"),
        ("txr_", "tax_rate"),
        ("shr_", "shipping_rate"),
        ("txn_", "balance_transaction"),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| id.starts_with(p))
        .map(|(_, k)| *k)
}

/// A transaction over the store, with the emulated time.
pub struct Ctx<'a> {
    pub conn: &'a mut SqliteConnection,
    pub now: i64,
    /// `http://127.0.0.1:PORT`, for hosted page URLs.
    pub origin: String,
    /// Idempotency key of the API request that caused the change, for events.
    pub request_key: Option<String>,
    pub request_id: Option<String>,
    pub events_emitted: usize,
}

pub fn clock_offset(conn: &mut SqliteConnection) -> QueryResult<i64> {
    clock::table.select(clock::offset_secs).find(1).first(conn)
}

impl<'a> Ctx<'a> {
    pub fn new(conn: &'a mut SqliteConnection, origin: String) -> QueryResult<Self> {
        let offset = clock_offset(conn)?;
        Ok(Ctx {
            conn,
            now: chrono::Utc::now().timestamp() + offset,
            origin,
            request_key: None,
            request_id: None,
            events_emitted: 0,
        })
    }

    pub fn get(&mut self, id: &str) -> ApiResult<Option<Value>> {
        let row: Option<String> = objects::table
            .filter(objects::id.eq(id))
            .select(objects::data)
            .first(self.conn)
            .optional()?;
        Ok(match row {
            Some(s) => Some(serde_json::from_str(&s)?),
            None => None,
        })
    }

    /// Fetch an object of a given kind or fail with Stripe's 404.
    pub fn fetch(&mut self, kind: &str, id: &str) -> ApiResult<Value> {
        match self.get(id)? {
            Some(v) if v["object"] == kind && v["deleted"] != true => Ok(v),
            _ => Err(ApiError::no_such(kind, id, Some("id"))),
        }
    }

    /// Like [`fetch`], for an id given in a request parameter (400 with `param`).
    pub fn fetch_param(&mut self, kind: &str, id: &str, param: &str) -> ApiResult<Value> {
        match self.get(id)? {
            Some(v) if v["object"] == kind && v["deleted"] != true => Ok(v),
            _ => Err(ApiError::no_such(kind, id, Some(param)).status(400)),
        }
    }

    pub fn put(&mut self, obj: &Value) -> ApiResult<()> {
        let id = obj["id"].as_str().unwrap_or_default().to_string();
        let kind = obj["object"].as_str().unwrap_or_default().to_string();
        let created = obj["created"].as_i64().unwrap_or(self.now);
        let data = obj.to_string();
        let updated = diesel::update(objects::table.filter(objects::id.eq(&id)))
            .set(objects::data.eq(&data))
            .execute(self.conn)?;
        if updated == 0 {
            diesel::insert_into(objects::table)
                .values((
                    objects::id.eq(&id),
                    objects::object.eq(&kind),
                    objects::created.eq(created),
                    objects::data.eq(&data),
                ))
                .execute(self.conn)?;
        }
        Ok(())
    }

    pub fn delete(&mut self, id: &str) -> ApiResult<()> {
        diesel::delete(objects::table.filter(objects::id.eq(id))).execute(self.conn)?;
        Ok(())
    }

    /// All objects of a kind, newest first.
    pub fn all(&mut self, kind: &str) -> ApiResult<Vec<Value>> {
        let rows: Vec<String> = objects::table
            .filter(objects::object.eq(kind))
            .order(objects::seq.desc())
            .select(objects::data)
            .load(self.conn)?;
        let all: Vec<Value> = rows
            .iter()
            .map(|s| serde_json::from_str(s).map_err(ApiError::from))
            .collect::<ApiResult<_>>()?;
        // Deleted objects (tombstones) are not listed.
        Ok(all.into_iter().filter(|v| v["deleted"] != true).collect())
    }

    /// Record an event and queue a delivery to every endpoint that wants it.
    pub fn emit(&mut self, kind: &str, obj: &Value, previous: Option<Value>) -> ApiResult<Value> {
        self.emit_to(kind, obj, previous, None)
    }

    /// [`emit`], to one endpoint only (whatever its enabled events) when `only` names it.
    pub fn emit_to(
        &mut self,
        kind: &str,
        obj: &Value,
        previous: Option<Value>,
        only: Option<&str>,
    ) -> ApiResult<Value> {
        let mut data = json!({ "object": public(obj) });
        if let Some(p) = previous {
            data["previous_attributes"] = p;
        }
        let endpoints: Vec<Value> = self
            .all("webhook_endpoint")?
            .into_iter()
            .filter(|e| e["status"] == "enabled")
            .filter(|e| match only {
                Some(id) => e["id"] == id,
                None => e["enabled_events"]
                    .as_array()
                    .map(|a| a.iter().any(|t| t == "*" || t == kind))
                    .unwrap_or(false),
            })
            .collect();
        let event = json!({
            "id": new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now,
            "data": data,
            "livemode": false,
            "pending_webhooks": endpoints.len(),
            "request": { "id": self.request_id, "idempotency_key": self.request_key },
            "type": kind,
        });
        self.put(&event)?;
        let at = now_ms();
        for ep in &endpoints {
            diesel::insert_into(deliveries::table)
                .values((
                    deliveries::event_id.eq(event["id"].as_str().unwrap_or_default()),
                    deliveries::endpoint_id.eq(ep["id"].as_str().unwrap_or_default()),
                    deliveries::attempts.eq(0i64),
                    deliveries::next_attempt_ms.eq(at),
                    deliveries::state.eq("pending"),
                ))
                .execute(self.conn)?;
        }
        self.events_emitted += 1;
        Ok(event)
    }

    pub fn schedule(&mut self, delay_ms: i64, kind: &str, target: &str) -> ApiResult<()> {
        diesel::insert_into(jobs::table)
            .values((
                jobs::due_ms.eq(now_ms() + delay_ms),
                jobs::kind.eq(kind),
                jobs::target.eq(target),
            ))
            .execute(self.conn)?;
        Ok(())
    }
}

/// The object as the API shows it: internal `_…` fields removed at every depth (metadata keys
/// are the caller's own and stay as given).
pub fn public(obj: &Value) -> Value {
    match obj {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(k, v)| {
                    let v = if k == "metadata" {
                        v.clone()
                    } else {
                        public(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(public).collect()),
        other => other.clone(),
    }
}

/// Idempotency record lookup.
pub fn idem_get(
    conn: &mut SqliteConnection,
    key: &str,
) -> QueryResult<Option<(String, i64, String)>> {
    idempotency_keys::table
        .find(key)
        .select((
            idempotency_keys::fingerprint,
            idempotency_keys::status,
            idempotency_keys::body,
        ))
        .first(conn)
        .optional()
}

pub fn idem_put(
    conn: &mut SqliteConnection,
    key: &str,
    fingerprint: &str,
    status: u16,
    body: &str,
) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::key.eq(key),
            idempotency_keys::fingerprint.eq(fingerprint),
            idempotency_keys::status.eq(i64::from(status)),
            idempotency_keys::body.eq(body),
            idempotency_keys::created.eq(chrono::Utc::now().timestamp()),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_clock_offset(conn: &mut SqliteConnection, offset: i64) -> QueryResult<()> {
    diesel::update(clock::table.find(1))
        .set(clock::offset_secs.eq(offset))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub event_id: String,
    pub endpoint_id: String,
    pub attempts: i64,
}

pub fn due_deliveries(conn: &mut SqliteConnection, reverse: bool) -> QueryResult<Vec<Delivery>> {
    let q = deliveries::table
        .filter(deliveries::state.eq("pending"))
        .filter(deliveries::next_attempt_ms.le(now_ms()))
        .select((
            deliveries::id,
            deliveries::event_id,
            deliveries::endpoint_id,
            deliveries::attempts,
        ))
        .limit(100);
    let rows: Vec<(i64, String, String, i64)> = if reverse {
        q.order(deliveries::id.desc()).load(conn)?
    } else {
        q.order(deliveries::id.asc()).load(conn)?
    };
    Ok(rows
        .into_iter()
        .map(|(id, event_id, endpoint_id, attempts)| Delivery {
            id,
            event_id,
            endpoint_id,
            attempts,
        })
        .collect())
}

pub fn finish_delivery(
    conn: &mut SqliteConnection,
    id: i64,
    state: &str,
    attempts: i64,
    next_ms: i64,
    status: Option<i64>,
) -> QueryResult<()> {
    diesel::update(deliveries::table.find(id))
        .set((
            deliveries::state.eq(state),
            deliveries::attempts.eq(attempts),
            deliveries::next_attempt_ms.eq(next_ms),
            deliveries::last_status.eq(status),
        ))
        .execute(conn)?;
    Ok(())
}

/// Events with a delivery that has not (yet) succeeded: pending, failed or dropped.
pub fn undelivered_events(
    conn: &mut SqliteConnection,
) -> QueryResult<std::collections::HashSet<String>> {
    let ids: Vec<String> = deliveries::table
        .filter(deliveries::state.ne("delivered"))
        .select(deliveries::event_id)
        .distinct()
        .load(conn)?;
    Ok(ids.into_iter().collect())
}

/// Pending deliveries of an event (for `pending_webhooks`).
pub fn pending_for_event(conn: &mut SqliteConnection, event_id: &str) -> QueryResult<i64> {
    deliveries::table
        .filter(deliveries::event_id.eq(event_id))
        .filter(deliveries::state.eq("pending"))
        .count()
        .get_result(conn)
}

pub fn take_due_jobs(conn: &mut SqliteConnection) -> QueryResult<Vec<(i64, String, String)>> {
    let rows: Vec<(i64, String, String)> = jobs::table
        .filter(jobs::due_ms.le(now_ms()))
        .order(jobs::id.asc())
        .select((jobs::id, jobs::kind, jobs::target))
        .load(conn)?;
    for (id, _, _) in &rows {
        diesel::delete(jobs::table.find(*id)).execute(conn)?;
    }
    Ok(rows)
}

/// Move every pending job forward so it runs now (used when the test clock advances).
pub fn hurry_jobs(conn: &mut SqliteConnection) -> QueryResult<()> {
    diesel::update(jobs::table)
        .set(jobs::due_ms.eq(0i64))
        .execute(conn)?;
    Ok(())
}

/// Every delivery with its state, oldest first.
pub fn delivery_log(conn: &mut SqliteConnection) -> QueryResult<Vec<Value>> {
    let rows: Vec<(i64, String, String, i64, String, Option<i64>)> = deliveries::table
        .order(deliveries::id.asc())
        .select((
            deliveries::id,
            deliveries::event_id,
            deliveries::endpoint_id,
            deliveries::attempts,
            deliveries::state,
            deliveries::last_status,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, ev, ep, attempts, state, status)| {
            json!({ "id": id, "event": ev, "endpoint": ep, "attempts": attempts, "state": state, "last_status": status })
        })
        .collect())
}
