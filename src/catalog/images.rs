//! Product pictures: an upload checked by its content (JPEG, PNG or WebP, whatever its name
//! says), decoded within bounds (a small file can decode to gigabytes), turned upright, and
//! re-encoded as two JPEG copies — a 4:3 thumbnail for cards and a large one for the product
//! page — which drops every byte of metadata (EXIF, GPS, colour profiles). Names are the content
//! hash, so a copy can be cached forever.
//!
//! Both copies live in the database (every instance can serve them); `MEDIA_DIR` holds the files
//! served, written on upload and again on demand by any instance that lacks one.

use std::io::Cursor;

use diesel::prelude::*;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use sha2::{Digest, Sha256};

use crate::db::{AnyConnection, insert_once};
use crate::schema::product_images;

/// The largest upload accepted.
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Largest width or height decoded.
const MAX_SIDE: u32 = 12_000;
/// Most memory a decode may take (about 64 megapixels of RGBA).
const MAX_ALLOC: u64 = 256 * 1024 * 1024;
/// Most pixels a picture may have (a 40-megapixel camera's).
const MAX_PIXELS: u64 = 40_000_000;
/// The thumbnail's size (cards show it at half this).
pub const THUMB: (u32, u32) = (640, 480);
/// The large copy fits in this square.
pub const LARGE: u32 = 1600;
/// Pictures one product may have.
pub const MAX_PER_PRODUCT: i64 = 12;
const QUALITY: u8 = 82;

/// Why an upload was refused: each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefusal {
    #[error("Choose a picture to upload.")]
    Empty,
    #[error("The picture is over 10 MB: export a smaller one.")]
    TooLarge,
    #[error("That file is not a JPEG, PNG or WebP picture.")]
    NotAnImage,
    #[error("The picture is too large to process ({0}): keep it under 12,000 pixels a side.")]
    TooManyPixels(String),
    #[error("The picture could not be read ({0}): it may be damaged.")]
    Unreadable(String),
    #[error("This product already has this picture.")]
    Duplicate,
    #[error("A product can have at most 12 pictures: remove one first.")]
    Full,
}

/// An upload made ready to store and serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    /// The content hash naming both copies.
    pub name: String,
    pub thumb: Vec<u8>,
    pub large: Vec<u8>,
    /// The large copy's size.
    pub width: u32,
    pub height: u32,
}

/// Checks, decodes and re-encodes an upload.
pub fn process(bytes: &[u8]) -> Result<Processed, ImageRefusal> {
    if bytes.is_empty() {
        return Err(ImageRefusal::Empty);
    }
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(ImageRefusal::TooLarge);
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageRefusal::Unreadable(e.to_string()))?;
    if !matches!(
        reader.format(),
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)
    ) {
        return Err(ImageRefusal::NotAnImage);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    let mut reader = reader;
    reader.limits(limits);
    let refused = |e: image::ImageError| match e {
        image::ImageError::Limits(l) => ImageRefusal::TooManyPixels(l.to_string()),
        other => ImageRefusal::Unreadable(other.to_string()),
    };
    let mut decoder = reader.into_decoder().map_err(refused)?;
    // Every step after decoding holds copies the size of the picture: bound its pixels too.
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(ImageRefusal::TooManyPixels(format!("{w} × {h} pixels")));
    }
    let orientation = decoder.orientation().map_err(refused)?;
    let mut picture = DynamicImage::from_decoder(decoder).map_err(refused)?;
    picture.apply_orientation(orientation);
    let flat = DynamicImage::ImageRgb8(flatten(&picture));
    drop(picture);
    let large = if flat.width() > LARGE || flat.height() > LARGE {
        flat.resize(LARGE, LARGE, FilterType::Lanczos3)
    } else {
        // At most 1600 × 1600: a small copy.
        flat.clone()
    };
    let thumb = flat.resize_to_fill(THUMB.0, THUMB.1, FilterType::Lanczos3);
    drop(flat);
    let (width, height) = (large.width(), large.height());
    let large = jpeg(&large.to_rgb8())?;
    let thumb = jpeg(&thumb.to_rgb8())?;
    let name = hex::encode(&Sha256::digest(&large)[..8]);
    Ok(Processed {
        name,
        thumb,
        large,
        width,
        height,
    })
}

/// The picture on white: JPEG has no transparency.
fn flatten(picture: &DynamicImage) -> RgbImage {
    if !picture.color().has_alpha() {
        return picture.to_rgb8();
    }
    let rgba = picture.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

fn jpeg(picture: &RgbImage) -> Result<Vec<u8>, ImageRefusal> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, QUALITY)
        .encode_image(picture)
        .map_err(|e| ImageRefusal::Unreadable(e.to_string()))?;
    Ok(out)
}

/// Which copy of a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Thumb,
    Large,
}

impl Size {
    fn suffix(self) -> &'static str {
        match self {
            Size::Thumb => "thumb",
            Size::Large => "large",
        }
    }
}

/// The file name a copy is served as.
pub fn file_name(name: &str, size: Size) -> String {
    format!("{name}-{}.jpg", size.suffix())
}

/// The copy a served file name asks for; `None` for anything not of our making.
pub fn parse_file_name(file: &str) -> Option<(&str, Size)> {
    let stem = file.strip_suffix(".jpg")?;
    let (name, size) = stem.rsplit_once('-')?;
    let size = match size {
        "thumb" => Size::Thumb,
        "large" => Size::Large,
        _ => return None,
    };
    (name.len() == 16
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some((name, size))
}

/// A product's picture, as the pages name it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = product_images)]
pub struct Picture {
    pub id: i64,
    pub product_id: i64,
    pub position: i64,
    pub alt: String,
    pub name: String,
    pub width: i64,
    pub height: i64,
}

impl Picture {
    pub fn url(&self, size: Size) -> String {
        format!("/media/{}", file_name(&self.name, size))
    }
}

/// Stores a processed upload as product `product_id`'s last picture, in the caller's
/// transaction.
pub fn add(
    conn: &mut AnyConnection,
    product_id: i64,
    alt: &str,
    picture: &Processed,
    now: i64,
) -> QueryResult<Result<i64, ImageRefusal>> {
    let count: i64 = product_images::table
        .filter(product_images::product_id.eq(product_id))
        .count()
        .get_result(conn)?;
    if count >= MAX_PER_PRODUCT {
        return Ok(Err(ImageRefusal::Full));
    }
    let last: Option<i64> = product_images::table
        .filter(product_images::product_id.eq(product_id))
        .select(diesel::dsl::max(product_images::position))
        .first(conn)?;
    let made = insert_once(conn, |conn| {
        diesel::insert_into(product_images::table)
            .values((
                product_images::product_id.eq(product_id),
                product_images::position.eq(last.map_or(0, |p| p + 1)),
                product_images::alt.eq(alt),
                product_images::name.eq(&picture.name),
                product_images::width.eq(i64::from(picture.width)),
                product_images::height.eq(i64::from(picture.height)),
                product_images::thumb.eq(&picture.thumb),
                product_images::large.eq(&picture.large),
                product_images::created_at.eq(now),
            ))
            .execute(conn)
    })?;
    if !made {
        return Ok(Err(ImageRefusal::Duplicate));
    }
    product_images::table
        .filter(product_images::product_id.eq(product_id))
        .filter(product_images::name.eq(&picture.name))
        .select(product_images::id)
        .first(conn)
        .map(Ok)
}

/// A product's pictures in order (the first is the main one).
pub fn of_product(conn: &mut AnyConnection, product_id: i64) -> QueryResult<Vec<Picture>> {
    product_images::table
        .filter(product_images::product_id.eq(product_id))
        .order((product_images::position.asc(), product_images::id.asc()))
        .select(Picture::as_select())
        .load(conn)
}

/// The pictures of many products, in order.
pub fn of_products(conn: &mut AnyConnection, ids: &[i64]) -> QueryResult<Vec<Picture>> {
    product_images::table
        .filter(product_images::product_id.eq_any(ids))
        .order((
            product_images::product_id.asc(),
            product_images::position.asc(),
            product_images::id.asc(),
        ))
        .select(Picture::as_select())
        .load(conn)
}

/// Removes picture `id` of product `product_id`: its name, when no product has it any more
/// (its files can go); `Err(())` when there was no such picture.
pub fn remove(
    conn: &mut AnyConnection,
    product_id: i64,
    id: i64,
) -> QueryResult<Result<Option<String>, ()>> {
    let name: Option<String> = product_images::table
        .filter(product_images::id.eq(id))
        .filter(product_images::product_id.eq(product_id))
        .select(product_images::name)
        .first(conn)
        .optional()?;
    let Some(name) = name else {
        return Ok(Err(()));
    };
    diesel::delete(product_images::table.find(id)).execute(conn)?;
    let still_used = diesel::select(diesel::dsl::exists(
        product_images::table.filter(product_images::name.eq(&name)),
    ))
    .get_result::<bool>(conn)?;
    Ok(Ok((!still_used).then_some(name)))
}

/// Deletes a removed picture's files from this instance's `MEDIA_DIR` (other instances keep
/// theirs until restarted on a fresh directory: the address is a content hash nobody links to
/// any more).
pub fn delete_files(dir: &std::path::Path, name: &str) {
    for size in [Size::Thumb, Size::Large] {
        let _ = std::fs::remove_file(dir.join(file_name(name, size)));
    }
}

/// Makes picture `id` the product's main one (first).
pub fn make_main(conn: &mut AnyConnection, product_id: i64, id: i64) -> QueryResult<bool> {
    let first: Option<i64> = product_images::table
        .filter(product_images::product_id.eq(product_id))
        .select(diesel::dsl::min(product_images::position))
        .first(conn)?;
    diesel::update(
        product_images::table
            .filter(product_images::id.eq(id))
            .filter(product_images::product_id.eq(product_id)),
    )
    .set(product_images::position.eq(first.unwrap_or(0) - 1))
    .execute(conn)
    .map(|n| n > 0)
}

/// The bytes of a served copy, from the database.
pub fn bytes(conn: &mut AnyConnection, name: &str, size: Size) -> QueryResult<Option<Vec<u8>>> {
    let found = product_images::table.filter(product_images::name.eq(name));
    match size {
        Size::Thumb => found.select(product_images::thumb).first(conn).optional(),
        Size::Large => found.select(product_images::large).first(conn).optional(),
    }
}

/// Writes both copies under `dir` (made if missing); a file already there is left alone (its
/// name is its content).
pub fn write_files(dir: &std::path::Path, picture: &Processed) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (size, bytes) in [(Size::Thumb, &picture.thumb), (Size::Large, &picture.large)] {
        write_file(dir, &file_name(&picture.name, size), bytes)?;
    }
    Ok(())
}

/// Writes one served file atomically (a reader never sees half of it).
pub fn write_file(dir: &std::path::Path, file: &str, bytes: &[u8]) -> std::io::Result<()> {
    let target = dir.join(file);
    if target.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    // A name of its own per writer: two requests filling the same gap never share a file.
    let tmp = dir.join(format!(".{file}.{:016x}", rand::random::<u64>()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, alpha: u8) -> Vec<u8> {
        let picture =
            image::RgbaImage::from_pixel(width, height, image::Rgba([200, 40, 40, alpha]));
        let mut out = Cursor::new(Vec::new());
        picture.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn an_upload_becomes_two_jpegs_named_by_their_content() {
        let p = process(&png(2000, 1000, 255)).unwrap();
        assert_eq!((p.width, p.height), (1600, 800));
        let thumb = image::load_from_memory(&p.thumb).unwrap();
        assert_eq!((thumb.width(), thumb.height()), THUMB);
        assert_eq!(image::guess_format(&p.large).unwrap(), ImageFormat::Jpeg);
        assert_eq!(p.name.len(), 16);
        assert_eq!(
            parse_file_name(&file_name(&p.name, Size::Thumb)),
            Some((p.name.as_str(), Size::Thumb))
        );
        // Small pictures are not blown up; transparency lands on white.
        let small = process(&png(300, 200, 0)).unwrap();
        assert_eq!((small.width, small.height), (300, 200));
        let px = image::load_from_memory(&small.large).unwrap().to_rgb8();
        assert!(
            px.get_pixel(10, 10).0.iter().all(|c| *c > 240),
            "{:?}",
            px.get_pixel(10, 10)
        );
    }

    #[test]
    fn what_is_not_a_bounded_picture_is_refused() {
        assert_eq!(process(b""), Err(ImageRefusal::Empty));
        assert_eq!(
            process(b"GIF89a not allowed"),
            Err(ImageRefusal::NotAnImage)
        );
        assert_eq!(
            process(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            Err(ImageRefusal::NotAnImage)
        );
        assert_eq!(
            process(&vec![0xFF; MAX_UPLOAD_BYTES + 1]),
            Err(ImageRefusal::TooLarge)
        );
        // A PNG header claiming 20,000 × 20,000 pixels: refused before any pixel is allocated.
        let mut bomb = png(1, 1, 255);
        bomb[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        assert!(
            matches!(process(&bomb), Err(ImageRefusal::TooManyPixels(_))),
            "{:?}",
            process(&bomb)
        );
        // A truncated JPEG.
        let p = process(&png(64, 64, 255)).unwrap();
        assert!(matches!(
            process(&p.large[..40]),
            Err(ImageRefusal::Unreadable(_))
        ));
    }

    /// PNG's chunk checksum (CRC-32, bit by bit: tests only).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn only_our_file_names_are_served() {
        assert_eq!(
            parse_file_name("0123456789abcdef-large.jpg"),
            Some(("0123456789abcdef", Size::Large))
        );
        for bad in [
            "../etc/passwd",
            "0123456789abcdef-huge.jpg",
            "0123456789ABCDEF-thumb.jpg",
            "x-thumb.jpg",
            "0123456789abcdef-thumb.png",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }
}
