//! `GET /downloads/{item}/{expires}/{signature}` (a buyer's file), and the admin's licence-key
//! page `GET/POST /admin/products/{slug}/keys`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::prelude::*;
use serde::Deserialize;
use validator::Validate;

use super::access::{self, Download};
use super::keys;
use super::links::LinkError;
use crate::accounts::auth::Admin;
use crate::db::{self, DbError, write_tx};
use crate::error::AppError;
use crate::schema::products;
use crate::state::AppState;
use crate::web::field_errors::FieldErrors;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{CsrfForm, TypedSession};

pub async fn download(
    state: web::Data<AppState>,
    path: web::Path<(i64, i64, String)>,
) -> Result<HttpResponse, AppError> {
    let (item_id, expires, signature) = path.into_inner();
    let now = state.clock.unix();
    match state.links.verify(item_id, expires, &signature, now) {
        Ok(()) => {}
        Err(LinkError::Forged) => return Err(AppError::NotFound),
        Err(LinkError::Expired) => {
            return Err(AppError::Gone(
                "This download link has expired. Your order page (or the newest e-mail from us) has a fresh one.".into(),
            ));
        }
    }
    let taken = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| access::take(conn, item_id)).map_err(DbError::from)
    })
    .await?;
    match taken {
        Download::File {
            product_id,
            file_name,
            content_type,
            count,
            max,
        } => {
            tracing::info!(item = item_id, count, max, "download");
            let bytes = db::read(&state.pool, move |conn| {
                super::files::bytes(conn, product_id).map_err(AppError::from)
            })
            .await?;
            Ok(HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, content_type))
                .insert_header(attachment(&file_name))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(bytes))
        }
        Download::NotFound => Err(AppError::NotFound),
        Download::Revoked => Err(AppError::Refused(
            "This order was refunded or disputed, so its downloads are no longer available.".into(),
        )),
        Download::UsedUp { max } => Err(AppError::Gone(format!(
            "This file was downloaded {max} times, the most we allow. Contact us if you need it again."
        ))),
    }
}

/// `attachment; filename="…"` with an ASCII name every client reads, and the exact name as
/// RFC 5987 `filename*` when it is not plain ASCII.
fn attachment(file_name: &str) -> ContentDisposition {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut parameters = vec![DispositionParam::Filename(ascii.clone())];
    if ascii != file_name {
        parameters.push(DispositionParam::FilenameExt(
            actix_web::http::header::ExtendedValue {
                charset: actix_web::http::header::Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: file_name.as_bytes().to_vec(),
            },
        ));
    }
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters,
    }
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage {
    layout: Layout,
    slug: String,
    name: String,
    free: i64,
    sold: i64,
    waiting: i64,
    keys: String,
    errors: FieldErrors,
    /// Each variant's pool when the product has several: (id, label, unsold, sold).
    pools: Vec<(i64, String, i64, i64)>,
    /// The variant the form adds to.
    chosen: i64,
}

async fn product_of(state: &AppState, slug: String) -> Result<(i64, String), AppError> {
    db::run(&state.pool, move |conn| {
        products::table
            .filter(products::slug.eq(&slug))
            .filter(products::delivery.eq("keys"))
            .select((products::id, products::name))
            .first::<(i64, String)>(conn)
            .optional()
            .map_err(DbError::from)
    })
    .await?
    .ok_or(AppError::NotFound)
}

async fn keys_page(
    state: &AppState,
    layout: Layout,
    slug: String,
    (typed, chosen): (String, Option<i64>),
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let (product_id, name) = product_of(state, slug.clone()).await?;
    let (pools, waiting) = db::run(&state.pool, move |conn| {
        let mut pools = Vec::new();
        let mut waiting = 0;
        for v in crate::catalog::variants::of_product(conn, product_id)? {
            let (free, sold) = keys::pool(conn, v.id)?;
            pools.push((v.id, v.label(), free, sold));
            waiting += keys::waiting_lines(conn, Some(v.id))?
                .iter()
                .map(|(_, n)| n)
                .sum::<i64>();
        }
        Ok::<_, DbError>((pools, waiting))
    })
    .await?;
    let free = pools.iter().map(|p| p.2).sum();
    let sold = pools.iter().map(|p| p.3).sum();
    let chosen = chosen.or(pools.first().map(|p| p.0)).unwrap_or(0);
    let pools = if pools.len() > 1 { pools } else { vec![] };
    let html = KeysPage {
        layout,
        slug,
        name,
        free,
        sold,
        waiting,
        keys: typed,
        errors,
        pools,
        chosen,
    }
    .render();
    crate::web::html_page(html, status)
}

pub async fn keys_form(
    state: web::Data<AppState>,
    layout: Layout,
    Admin(_admin): Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    keys_page(
        &state,
        layout,
        path.into_inner(),
        (String::new(), None),
        FieldErrors::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Debug, Deserialize, Validate)]
pub struct KeysForm {
    #[serde(default)]
    #[validate(length(max = 200_000, message = "Paste at most 200,000 characters at a time."))]
    keys: String,
    /// The variant whose pool gets the keys; left out: the product's first.
    #[serde(default)]
    variant: Option<i64>,
}

pub async fn add_keys(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<String>,
    form: CsrfForm<KeysForm>,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let form = form.0;
    let mut errors = match form.validate() {
        Ok(()) => FieldErrors::default(),
        Err(e) => FieldErrors::from_validation(&e),
    };
    let pasted: Vec<String> = form
        .keys
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if errors.is_empty() {
        if pasted.is_empty() {
            errors.add("keys", "Paste at least one key, one per line.");
        } else if let Some((n, bad)) = pasted.iter().enumerate().find(|(_, k)| !keys::plausible(k))
        {
            errors.add(
                "keys",
                format!(
                    "Line {}: {:?} is not a key (4 to 200 printable characters, no spaces).",
                    n + 1,
                    bad.chars().take(40).collect::<String>()
                ),
            );
        }
    }
    if !errors.is_empty() {
        return keys_page(
            &state,
            layout,
            slug,
            (form.keys, form.variant),
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let (product_id, name) = product_of(&state, slug.clone()).await?;
    let now = state.clock.unix();
    let admin_id = admin.id;
    let wanted = form.variant;
    let done = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let variants = crate::catalog::variants::of_product(conn, product_id)?;
            let Some(variant) = crate::catalog::variants::chosen(&variants, wanted) else {
                return Ok(None);
            };
            let name = crate::catalog::variants::line_name(&name, &variant.label());
            let (added, served) = keys::add(conn, variant.id, &pasted, now)?;
            crate::admin::audit::record(
                conn,
                crate::admin::audit::Event {
                    actor: Some(admin_id),
                    action: crate::admin::audit::KEYS_ADDED,
                    order_id: None,
                    subject_user_id: None,
                    product_id: Some(product_id),
                    details: format!(
                        "{} key(s) for {name}, {} already there",
                        added.added, added.duplicates
                    ),
                },
                now,
            )?;
            // Orders that waited for keys get them now, by e-mail once per line.
            for item_id in &served {
                let order_id: i64 = crate::schema::order_items::table
                    .find(*item_id)
                    .select(crate::schema::order_items::order_id)
                    .first(conn)?;
                crate::checkout::fulfil::queue_receipt(
                    conn,
                    order_id,
                    crate::mail::messages::OrderEvent::KeysReady(*item_id),
                    now,
                )?;
            }
            Ok::<_, diesel::result::Error>(Some((added, served)))
        })
        .map_err(DbError::from)
    })
    .await?;
    let Some((added, served)) = done else {
        let mut errors = FieldErrors::default();
        errors.add("variant", "Choose one of this product's variants.");
        return keys_page(
            &state,
            layout,
            slug,
            (form.keys, None),
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    state.catalogue.invalidate();
    session.flash(format!(
        "Added {} key(s){}{}.",
        added.added,
        if added.duplicates > 0 {
            format!(
                "; {} were already in the pool and were skipped",
                added.duplicates
            )
        } else {
            String::new()
        },
        if served.is_empty() {
            String::new()
        } else {
            format!("; {} waiting order line(s) got theirs", served.len())
        }
    ))?;
    Ok(see_other(&format!("/admin/products/{slug}/keys")))
}
