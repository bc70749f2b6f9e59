//! A product's pictures from its admin page: `POST /admin/products/{slug}/images` (a multipart
//! upload with alt text), `…/images/{id}/delete` and `…/images/{id}/main`.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;

use super::products::{Confirm, Typed, product_row, product_view};
use crate::accounts::auth::Admin;
use crate::admin::audit;
use crate::catalog::images::{self, ImageRefusal, MAX_UPLOAD_BYTES};
use crate::db::{self, DbError, write_tx};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::field_errors::FieldErrors;
use crate::web::layout::Layout;
use crate::web::see_other;
use crate::web::session::{TypedSession, verify_form_token};

/// Longest alt text.
const MAX_ALT: usize = 200;
/// Longest other field of the form.
const MAX_FIELD: usize = 4096;

/// What the upload form sent.
#[derive(Default)]
struct Upload {
    csrf_token: Option<String>,
    alt: String,
    picture: Vec<u8>,
    too_large: bool,
}

async fn read_upload(mut payload: Multipart) -> Result<Upload, AppError> {
    let unreadable = || AppError::BadRequest("The upload could not be read: try again.".into());
    let mut upload = Upload::default();
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|_| unreadable())?;
        let name = field.name().unwrap_or_default().to_owned();
        let limit = if name == "picture" {
            MAX_UPLOAD_BYTES
        } else {
            MAX_FIELD
        };
        let mut bytes = Vec::new();
        let mut over = false;
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| unreadable())?;
            // Past the limit the rest is read and dropped, so the browser gets the answer.
            if over || bytes.len() + chunk.len() > limit {
                over = true;
                continue;
            }
            bytes.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "picture" if over => upload.too_large = true,
            "picture" => upload.picture = bytes,
            _ if over => {
                return Err(AppError::BadRequest(
                    "A field of the form is too long.".into(),
                ));
            }
            "csrf_token" => upload.csrf_token = String::from_utf8(bytes).ok(),
            "alt" => upload.alt = String::from_utf8(bytes).map_err(|_| unreadable())?,
            _ => {}
        }
    }
    Ok(upload)
}

pub async fn upload(
    state: web::Data<AppState>,
    layout: Layout,
    session: TypedSession,
    Admin(admin): Admin,
    req: HttpRequest,
    path: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, AppError> {
    let slug = path.into_inner();
    let upload = read_upload(payload).await?;
    verify_form_token(&req, upload.csrf_token.as_deref())?;
    let (id, name) = product_row(&state, slug.clone()).await?;
    let alt = upload.alt.trim().to_owned();
    let mut errors = FieldErrors::default();
    if alt.is_empty() || alt.chars().count() > MAX_ALT || alt.chars().any(char::is_control) {
        errors.add(
            "alt",
            "Describe the picture for shoppers who cannot see it, in 1 to 200 characters (like \"Blue enamel mug on a camp table\").",
        );
    }
    let processed = if upload.too_large {
        Err(ImageRefusal::TooLarge)
    } else {
        let bytes = upload.picture;
        // Decoding and resizing are CPU work: off the request threads.
        web::block(move || images::process(&bytes))
            .await
            .map_err(DbError::from)?
    };
    // The page again, with what was wrong and the alt text as typed.
    let typed_alt = upload.alt;
    let refuse = |errors: FieldErrors| {
        product_view(
            &state,
            layout,
            slug.clone(),
            Typed {
                alt: typed_alt,
                ..Typed::default()
            },
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let processed = match processed {
        Ok(p) if errors.is_empty() => p,
        result => {
            if let Err(refusal) = result {
                errors.add("picture", refusal.to_string());
            }
            return refuse(errors).await;
        }
    };
    let (now, actor, stored) = (state.clock.unix(), admin.id, processed.clone());
    let alt2 = alt.clone();
    let added = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let added = images::add(conn, id, &alt2, &stored, now)?;
            if added.is_ok() {
                audit::record(
                    conn,
                    audit::Event::product(
                        Some(actor),
                        audit::PICTURE_ADDED,
                        id,
                        format!(
                            "{} ({}×{}): {alt2}",
                            stored.name, stored.width, stored.height
                        ),
                    ),
                    now,
                )?;
            }
            Ok::<_, diesel::result::Error>(added)
        })
        .map_err(DbError::from)
    })
    .await?;
    if let Err(refusal) = added {
        errors.add("picture", refusal.to_string());
        return refuse(errors).await;
    }
    let dir = state.config.media_dir.clone();
    let written = web::block(move || images::write_files(&dir, &processed))
        .await
        .map_err(DbError::from)?;
    if let Err(e) = written {
        // The database has it; any instance writes the file when it is first asked for.
        tracing::warn!(error = %e, "cannot write a picture to MEDIA_DIR");
    }
    state.catalogue.invalidate();
    let mut message = format!("Added a picture of {name}.");
    if let Some(warning) = sync_stripe_images(&state, id).await {
        message.push(' ');
        message.push_str(&warning);
    }
    session.flash(message)?;
    Ok(see_other(&format!("/admin/products/{slug}")))
}

/// Gives the Stripe Product our pictures' addresses (Checkout shows the first), when the shop
/// has a public `https://` address Stripe can fetch them from. A failure is reported, not fatal.
async fn sync_stripe_images(state: &AppState, product_id: i64) -> Option<String> {
    if state.public_url.scheme() != "https" {
        return None;
    }
    let (stripe_id, pictures) = db::run(&state.pool, move |conn| {
        let stripe_id: Option<String> = {
            use crate::schema::products;
            use diesel::prelude::*;
            products::table
                .find(product_id)
                .select(products::stripe_product_id)
                .first(conn)?
        };
        Ok::<_, DbError>((stripe_id, images::of_product(conn, product_id)?))
    })
    .await
    .ok()?;
    let stripe_id = stripe_id?;
    let base = state.public_url.as_str().trim_end_matches('/');
    let urls: Vec<String> = pictures
        .iter()
        .take(8)
        .map(|p| format!("{base}{}", p.url(images::Size::Large)))
        .collect();
    match crate::payments::products::set_images(&state.stripe, &stripe_id, urls).await {
        Ok(()) => None,
        Err(e) => Some(format!(
            "Stripe's copy of the product did not get the pictures ({e}); the next change retries."
        )),
    }
}

async fn picture_action(
    state: &AppState,
    session: &TypedSession,
    slug: String,
    picture: String,
    actor: i64,
    main: bool,
) -> Result<HttpResponse, AppError> {
    let picture: i64 = picture.parse().map_err(|_| AppError::NotFound)?;
    let (id, name) = product_row(state, slug.clone()).await?;
    let now = state.clock.unix();
    let done = db::run(&state.pool, move |conn| {
        write_tx(conn, |conn| {
            let done = if main {
                images::make_main(conn, id, picture)?.then_some(None)
            } else {
                images::remove(conn, id, picture)?.ok()
            };
            if done.is_some() {
                audit::record(
                    conn,
                    audit::Event::product(
                        Some(actor),
                        if main {
                            audit::PICTURE_MAIN
                        } else {
                            audit::PICTURE_REMOVED
                        },
                        id,
                        format!("picture {picture}"),
                    ),
                    now,
                )?;
            }
            Ok::<_, diesel::result::Error>(done)
        })
        .map_err(DbError::from)
    })
    .await?;
    let Some(unused) = done else {
        return Err(AppError::NotFound);
    };
    if let Some(name) = unused {
        let dir = state.config.media_dir.clone();
        let _ = web::block(move || images::delete_files(&dir, &name)).await;
    }
    state.catalogue.invalidate();
    let mut message = if main {
        format!("That picture now leads {name}'s page and card.")
    } else {
        format!("Removed the picture from {name}.")
    };
    if let Some(warning) = sync_stripe_images(state, id).await {
        message.push(' ');
        message.push_str(&warning);
    }
    session.flash(message)?;
    Ok(see_other(&format!("/admin/products/{slug}")))
}

pub async fn remove(
    state: web::Data<AppState>,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<(String, String)>,
    _form: crate::web::session::CsrfForm<Confirm>,
) -> Result<HttpResponse, AppError> {
    let (slug, picture) = path.into_inner();
    picture_action(&state, &session, slug, picture, admin.id, false).await
}

pub async fn make_main(
    state: web::Data<AppState>,
    session: TypedSession,
    Admin(admin): Admin,
    path: web::Path<(String, String)>,
    _form: crate::web::session::CsrfForm<Confirm>,
) -> Result<HttpResponse, AppError> {
    let (slug, picture) = path.into_inner();
    picture_action(&state, &session, slug, picture, admin.id, true).await
}
