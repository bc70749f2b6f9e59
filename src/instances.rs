//! Which instances are serving the shop. Each writes a heartbeat to the database every few
//! seconds (whether it runs the background jobs or not); the instances seen lately share the
//! Stripe account's rate limit (`payments::budget`), so a second instance halves each one's
//! share without anyone counting them, and a dead one's share comes back within
//! [`STALE_SECS`]. The same beat writes this instance's Stripe request counts
//! (`payments::usage`) for the dashboard.

use std::time::Duration;

use actix_web::web;
use diesel::prelude::*;

use crate::db::{self, AnyConnection, DbError};
use crate::schema::instances;
use crate::state::AppState;

/// Seconds between heartbeats.
pub const BEAT_SECS: u64 = 5;
/// An instance not seen for this long is gone (three missed beats and a margin).
pub const STALE_SECS: i64 = 20;
/// Rows of instances gone for longer than this are deleted.
const FORGET_SECS: i64 = 86_400;

/// Writes `id`'s heartbeat and answers how many instances are running (this one included).
pub fn beat(conn: &mut AnyConnection, id: &str, now: i64) -> QueryResult<u32> {
    let seen = diesel::update(instances::table.find(id))
        .set(instances::seen_at.eq(now))
        .execute(conn)?;
    if seen == 0 {
        diesel::insert_into(instances::table)
            .values((
                instances::id.eq(id),
                instances::started_at.eq(now),
                instances::seen_at.eq(now),
            ))
            .execute(conn)?;
    }
    diesel::delete(instances::table.filter(instances::seen_at.lt(now - FORGET_SECS)))
        .execute(conn)?;
    let running: i64 = instances::table
        .filter(instances::seen_at.ge(now - STALE_SECS))
        .count()
        .get_result(conn)?;
    Ok(u32::try_from(running.max(1)).unwrap_or(u32::MAX))
}

/// Takes `id` out of the count at once (a graceful stop).
pub fn leave(conn: &mut AnyConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(instances::table.find(id)).execute(conn)
}

/// One beat: the heartbeat, this instance's share of the rate limit, the request counts.
pub async fn beat_once(state: &AppState, id: &str) -> Result<u32, DbError> {
    let now = state.clock.unix();
    let counts = state.stripe.usage().take();
    let (id, written) = (id.to_owned(), counts.clone());
    let result = db::run(&state.pool, move |conn| {
        db::write_tx(conn, |conn| {
            crate::payments::usage::record(conn, now - now.rem_euclid(60), &written)?;
            beat(conn, &id, now)
        })
        .map_err(DbError::from)
    })
    .await;
    match result {
        Ok(running) => {
            state.stripe.budget().set_instances(running);
            Ok(running)
        }
        Err(e) => {
            state.stripe.usage().put_back(counts);
            Err(e)
        }
    }
}

/// The running heartbeat; [`Heartbeat::stop`] writes the last counts and leaves the count.
pub struct Heartbeat {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    state: web::Data<AppState>,
    id: String,
}

/// Starts beating (the first beat right away, so a second instance's share is set within a
/// second of its start).
pub fn spawn(state: web::Data<AppState>) -> Heartbeat {
    use rand::RngCore as _;
    let mut raw = [0u8; 8];
    rand::rng().fill_bytes(&mut raw);
    let id = hex::encode(raw);
    let (stop, mut signal) = tokio::sync::watch::channel(false);
    let task = {
        let (state, id) = (state.clone(), id.clone());
        actix_web::rt::spawn(async move {
            loop {
                if let Err(e) = beat_once(&state, &id).await {
                    tracing::warn!(error = %crate::error::Report(&e), "heartbeat failed");
                }
                if !crate::jobs::pause(&mut signal, Duration::from_secs(BEAT_SECS)).await {
                    return;
                }
            }
        })
    };
    Heartbeat {
        stop,
        task,
        state,
        id,
    }
}

impl Heartbeat {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let _ = beat_once(&self.state, &self.id).await;
        let id = self.id;
        if let Err(e) = db::run(&self.state.pool, move |conn| {
            leave(conn, &id).map_err(DbError::from)
        })
        .await
        {
            tracing::warn!(error = %crate::error::Report(&e), "could not leave the instance count");
        }
    }
}
