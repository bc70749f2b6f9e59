//! `GET /admin/events` (the Stripe events inbox), `POST /admin/events/{id}/replay` and
//! `POST /admin/events/catch-up`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{render, when};
use crate::accounts::auth::Admin;
use crate::admin::audit;
use crate::db::{self, DbError};
use crate::error::{AppError, SyncError};
use crate::state::AppState;
use crate::web::forms::parse_int_in;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};
use crate::webhooks::events::handled_types;
use crate::webhooks::inbox::{self, Category, Filter, Row};
use crate::webhooks::replay;

const PAGE_SIZE: i64 = 50;

/// The windows "Catch up now" offers, in hours.
const CATCH_UP_HOURS: [i64; 6] = [1, 6, 24, 72, 168, 720];

pub struct EventView {
    pub id: String,
    pub type_: String,
    /// When Stripe made it.
    pub created: String,
    pub at: String,
    pub object_id: String,
    pub order_number: Option<String>,
    pub outcome: String,
    pub category: &'static str,
    pub deliveries: i64,
    pub attempts: i64,
    /// Stripe still has it: "Replay" is offered.
    pub replayable: bool,
}

impl EventView {
    fn of(r: Row, now: i64) -> Self {
        Self {
            replayable: replay::within_retention(r.created, now),
            id: r.id,
            type_: r.type_,
            created: when(r.created),
            at: when(r.at),
            object_id: r.object_id.unwrap_or_default(),
            order_number: r.order_number,
            outcome: r.outcome,
            category: r.category.as_str(),
            deliveries: r.deliveries,
            attempts: r.attempts,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/events.html")]
struct EventsPage {
    layout: Layout,
    failures: Vec<EventView>,
    flagged: Vec<(String, String)>,
    events: Vec<EventView>,
    types: Vec<(String, bool)>,
    categories: Vec<(&'static str, bool)>,
    object: String,
    catch_up_hours: Vec<(i64, bool)>,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub outcome: Option<String>,
    pub object: Option<String>,
    pub page: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    layout: Layout,
    _admin: Admin,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let handled = handled_types();
    // An event type is lower-case words and dots; anything else is no filter.
    let type_ = query.type_.filter(|t| {
        !t.is_empty()
            && t.len() <= 100
            && t.bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
    });
    let category = query.outcome.as_deref().and_then(Category::parse);
    let object = query
        .object
        .map(|o| o.trim().chars().take(255).collect::<String>())
        .unwrap_or_default();
    let page = query
        .page
        .as_deref()
        .and_then(|p| parse_int_in(p, 1, 100_000))
        .unwrap_or(1);
    let filter = Filter {
        type_: type_.clone(),
        category,
        object_id: Some(object.clone()).filter(|o| !o.is_empty()),
    };
    let now = state.clock.unix();
    let f = filter.clone();
    let (failures, flagged, mut rows) = db::run(&state.pool, move |conn| {
        let failures = inbox::failures(conn, &f)?;
        let flagged = if f.category.is_none() || f.category == Some(Category::Flagged) {
            inbox::flagged_orders(conn)?
        } else {
            vec![]
        };
        let rows = inbox::ledger(conn, &f, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1)?;
        Ok::<_, DbError>((failures, flagged, rows))
    })
    .await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let link = |p: i64| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if let Some(t) = &type_ {
            s.append_pair("type", t);
        }
        if let Some(c) = category {
            s.append_pair("outcome", c.as_str());
        }
        if !object.is_empty() {
            s.append_pair("object", &object);
        }
        s.append_pair("page", &p.to_string());
        format!("/admin/events?{}", s.finish())
    };
    let html = EventsPage {
        layout,
        failures: failures
            .into_iter()
            .map(|r| EventView::of(r, now))
            .collect(),
        flagged,
        events: rows.into_iter().map(|r| EventView::of(r, now)).collect(),
        types: handled
            .iter()
            .map(|t| (t.clone(), type_.as_deref() == Some(t.as_str())))
            .collect(),
        categories: Category::ALL
            .iter()
            .map(|c| (c.as_str(), Some(*c) == category))
            .collect(),
        object: object.clone(),
        catch_up_hours: CATCH_UP_HOURS.iter().map(|h| (*h, *h == 24)).collect(),
        prev: (page > 1).then(|| link(page - 1)),
        next: more.then(|| link(page + 1)),
    }
    .render();
    render(html, StatusCode::OK)
}

/// Writes what an admin did from the inbox in the audit log.
async fn audited(
    state: &AppState,
    admin_id: i64,
    action: &'static str,
    details: &str,
) -> Result<(), AppError> {
    let now = state.clock.unix();
    let details = details.to_owned();
    db::write(&state.pool, move |conn| {
        audit::record(
            conn,
            audit::Event {
                actor: Some(admin_id),
                action,
                order_id: None,
                subject_user_id: None,
                product_id: None,
                details,
            },
            now,
        )
        .map_err(DbError::from)
    })
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

/// An event id as Stripe makes them; anything else is no event of ours.
fn plausible_event(id: &str) -> bool {
    id.starts_with("evt_")
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub async fn replay(
    state: web::Data<AppState>,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<String>,
    _form: CsrfForm<Empty>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    if !plausible_event(&id) {
        return Err(AppError::NotFound);
    }
    let replayed = match replay::replay(&state, &id).await {
        Ok(r) => r,
        Err(SyncError::Stripe(e)) => {
            tracing::warn!(event = %id, error = %crate::error::Report(&e), "replay: Stripe did not answer");
            return Err(AppError::Unavailable(format!(
                "We couldn't fetch event {id} from Stripe just now. Nothing changed; please try again in a moment."
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let message = replayed.message(&id);
    audited(&state, admin.id, audit::EVENT_REPLAYED, &message).await?;
    session.flash(message)?;
    Ok(see_other("/admin/events"))
}

#[derive(Debug, Deserialize)]
pub struct CatchUpForm {
    #[serde(default)]
    pub hours: String,
}

pub async fn catch_up(
    state: web::Data<AppState>,
    session: TypedSession,
    Admin(admin): Admin,
    form: CsrfForm<CatchUpForm>,
) -> Result<HttpResponse, AppError> {
    let hours = parse_int_in(&form.0.hours, 1, 720)
        .ok_or_else(|| AppError::BadRequest("Choose how far back to look.".into()))?;
    let since = state.clock.unix() - hours * 3600;
    let report = match crate::reconcile::reconcile(&state, since).await {
        Ok(report) => report,
        Err(SyncError::Stripe(e)) => {
            tracing::warn!(error = %crate::error::Report(&e), "catch-up: Stripe did not answer");
            return Err(AppError::Unavailable(
                "We couldn't list events from Stripe just now. Nothing changed; please try again in a moment."
                    .into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let message = format!("Caught up on the last {hours} hours: {report}.");
    audited(&state, admin.id, audit::EVENTS_CAUGHT_UP, &message).await?;
    session.flash(message)?;
    Ok(see_other("/admin/events"))
}

#[cfg(test)]
mod tests {
    use super::plausible_event;

    #[test]
    fn only_event_ids_are_replayed() {
        assert!(plausible_event("evt_1AbC"));
        assert!(!plausible_event("cs_test_1"));
        assert!(!plausible_event("evt_../x"));
    }
}
