//! `GET /media/{name}-{thumb|large}.jpg`: uploaded product pictures. Names are content hashes,
//! so each answer is cached for a year. The file in `MEDIA_DIR` is served when this instance has
//! it; otherwise the database's copy is, and written there for next time.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::images;
use crate::db::{self, DbError};
use crate::error::AppError;
use crate::state::AppState;

pub async fn serve(
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let file = file.into_inner();
    let (name, size) = images::parse_file_name(&file).ok_or(AppError::NotFound)?;
    let name = name.to_owned();
    let dir = state.config.media_dir.clone();
    let path = dir.join(&file);
    let on_disk = web::block(move || std::fs::read(path).ok())
        .await
        .map_err(DbError::from)?;
    let bytes = match on_disk {
        Some(bytes) => bytes,
        None => {
            let stored = db::run(&state.pool, move |conn| {
                images::bytes(conn, &name, size).map_err(DbError::from)
            })
            .await?
            .ok_or(AppError::NotFound)?;
            let copy = stored.clone();
            // A copy for next time; failing to keep one costs only a database read.
            let _ = web::block(move || {
                if let Err(e) = images::write_file(&dir, &file, &copy) {
                    tracing::warn!(error = %e, dir = %dir.display(), "cannot keep a picture in MEDIA_DIR");
                }
            })
            .await;
            stored
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/jpeg"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(bytes))
}
