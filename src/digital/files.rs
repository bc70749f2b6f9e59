//! The file a `file` product delivers, stored in the database.

use diesel::prelude::*;
use sha2::Digest as _;

use crate::db::AnyConnection;
use crate::schema::product_files;

/// The largest file a product may deliver: it is read whole into memory to be served.
pub const MAX_FILE_BYTES: usize = 25 * 1024 * 1024;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = product_files)]
pub struct FileMeta {
    pub product_id: i64,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

/// The content type a file name suggests (what browsers need to open or save it).
pub fn content_type(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "epub" => "application/epub+zip",
        "mp3" => "audio/mpeg",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Stores (or replaces) a product's file; unchanged bytes change nothing. True if it changed.
pub fn store(
    conn: &mut AnyConnection,
    product_id: i64,
    file_name: &str,
    bytes: &[u8],
    now: i64,
) -> QueryResult<bool> {
    let sha256 = hex::encode(sha2::Sha256::digest(bytes));
    let existing: Option<(String, String)> = product_files::table
        .find(product_id)
        .select((product_files::sha256, product_files::file_name))
        .first(conn)
        .optional()?;
    if existing.as_ref() == Some(&(sha256.clone(), file_name.to_owned())) {
        return Ok(false);
    }
    let values = (
        product_files::file_name.eq(file_name),
        product_files::content_type.eq(content_type(file_name)),
        product_files::size.eq(bytes.len() as i64),
        product_files::sha256.eq(&sha256),
        product_files::bytes.eq(bytes),
        product_files::updated_at.eq(now),
    );
    if existing.is_some() {
        diesel::update(product_files::table.find(product_id))
            .set(values)
            .execute(conn)?;
    } else {
        diesel::insert_into(product_files::table)
            .values((product_files::product_id.eq(product_id), values))
            .execute(conn)?;
    }
    Ok(true)
}

pub fn meta(conn: &mut AnyConnection, product_id: i64) -> QueryResult<Option<FileMeta>> {
    product_files::table
        .find(product_id)
        .select(FileMeta::as_select())
        .first(conn)
        .optional()
}

pub fn bytes(conn: &mut AnyConnection, product_id: i64) -> QueryResult<Vec<u8>> {
    product_files::table
        .find(product_id)
        .select(product_files::bytes)
        .first(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("Guide.PDF"), "application/pdf");
        assert_eq!(content_type("map.svg"), "image/svg+xml");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
