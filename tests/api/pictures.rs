//! Product pictures uploaded from the admin pages: checked by content, re-encoded without
//! metadata, shown on cards and product pages, served by content-hashed name from MEDIA_DIR or,
//! when this instance lacks the file, from the database.

use std::io::Cursor;

use crate::helpers::*;

/// A `width` × `height` picture in `format`, with a gradient so resizing has work to do.
fn picture(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 120])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A JPEG carrying an EXIF segment with `secret` in it (as a phone's GPS position would be).
fn jpeg_with_exif(secret: &str) -> Vec<u8> {
    let plain = picture(400, 300, image::ImageFormat::Jpeg);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(secret.as_bytes());
    let len = (payload.len() + 2) as u16;
    let mut out = plain[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&plain[2..]);
    out
}

async fn upload(
    app: &TestApp,
    admin: &reqwest::Client,
    slug: &str,
    alt: &str,
    file_name: &str,
    bytes: Vec<u8>,
    with_token: bool,
) -> reqwest::Response {
    let page = format!("/admin/products/{slug}");
    let (_, html) = fetch_page(admin, app.url(&page)).await;
    let mut form = reqwest::multipart::Form::new();
    if with_token {
        form = form.text("csrf_token", csrf_token(&html));
    }
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(file_name.to_owned())
        .mime_str("text/plain")
        .unwrap();
    let form = form.text("alt", alt.to_owned()).part("picture", part);
    admin
        .post(app.url(&format!("{page}/images")))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn an_admin_adds_pictures_that_the_shop_shows_and_serves() {
    let app = TestApp::spawn().await;
    let admin = app.admin_browser().await;
    // The content decides, not the name or the declared type.
    let res = upload(
        &app,
        &admin,
        "canvas-tote",
        "Cream canvas tote hanging on a hook",
        "tote.gif",
        jpeg_with_exif("GPS 51.4778N 0.0014W"),
        true,
    )
    .await;
    assert_redirect_to(&res, "/admin/products/canvas-tote");
    let (_, detail) = fetch_page(&admin, app.url("/admin/products/canvas-tote")).await;
    assert!(
        detail.contains("Added a picture of Canvas tote bag."),
        "{detail}"
    );
    assert!(select_text(&detail, "#trail tbody tr")[0].contains("picture added"));

    let product = app.get_html("/products/canvas-tote").await.1;
    let main = select_attr(&product, ".product-media > img", "src");
    assert_eq!(main.len(), 1);
    assert!(
        main[0].starts_with("/media/") && main[0].ends_with("-large.jpg"),
        "{main:?}"
    );
    assert_eq!(
        select_attr(&product, ".product-media > img", "alt"),
        vec!["Cream canvas tote hanging on a hook"]
    );
    let ld = select_text(&product, "script[type='application/ld+json']").join("");
    assert!(ld.contains(&app.url(&main[0])), "{ld}");
    let home = app.get_html("/").await.1;
    let tote_card = select_attr(
        &home,
        ".product-card a[href='/products/canvas-tote'] img",
        "src",
    );
    assert!(tote_card[0].ends_with("-thumb.jpg"), "{tote_card:?}");

    // Served for a year, as JPEG, without the metadata.
    let res = app.get(&main[0]).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let bytes = res.bytes().await.unwrap();
    assert!(!bytes.windows(3).any(|w| w == b"GPS"), "metadata was kept");
    assert!(!bytes.windows(4).any(|w| w == b"Exif"), "metadata was kept");
    let large = image::load_from_memory(&bytes).unwrap();
    assert_eq!((large.width(), large.height()), (400, 300));
    let thumb =
        image::load_from_memory(&app.get(&tote_card[0]).await.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (640, 480));

    // An instance without the file serves the database's copy, and keeps it.
    let file = main[0].trim_start_matches("/media/");
    std::fs::remove_file(app.media.path().join(file)).unwrap();
    let res = app.get(&main[0]).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.bytes().await.unwrap(), bytes);
    assert!(app.media.path().join(file).exists());
    // Names not of our making: 404.
    for bad in [
        "/media/..%2Fstorefront.db",
        "/media/0123456789abcdef-large.jpg",
        "/media/x.jpg",
    ] {
        assert_eq!(app.get(bad).await.status().as_u16(), 404, "{bad}");
    }

    // A second picture made the main one; the first moves to the gallery; then it is removed.
    let res = upload(
        &app,
        &admin,
        "canvas-tote",
        "The tote, folded flat",
        "folded.webp",
        picture(1200, 900, image::ImageFormat::WebP),
        true,
    )
    .await;
    assert_redirect_to(&res, "/admin/products/canvas-tote");
    let (_, detail) = fetch_page(&admin, app.url("/admin/products/canvas-tote")).await;
    let make_main = select_attr(&detail, "#pictures form[action$='/main']", "action");
    assert_eq!(make_main.len(), 1);
    let token = csrf_token(&detail);
    let res = admin
        .post(app.url(&make_main[0]))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/admin/products/canvas-tote");
    let product = app.get_html("/products/canvas-tote").await.1;
    assert_eq!(
        select_attr(&product, ".product-media > img", "alt"),
        vec!["The tote, folded flat"]
    );
    assert_eq!(
        select_attr(&product, ".gallery img", "alt"),
        vec!["Cream canvas tote hanging on a hook"]
    );
    let (_, detail) = fetch_page(&admin, app.url("/admin/products/canvas-tote")).await;
    let remove = select_attr(&detail, "#pictures form[action$='/delete']", "action");
    let res = admin
        .post(app.url(&remove[0]))
        .form(&[("csrf_token", csrf_token(&detail).as_str())])
        .send()
        .await
        .unwrap();
    assert_redirect_to(&res, "/admin/products/canvas-tote");
    let product = app.get_html("/products/canvas-tote").await.1;
    assert_eq!(
        select_attr(&product, ".product-media > img", "alt"),
        vec!["Cream canvas tote hanging on a hook"]
    );
    assert!(select_attr(&product, ".gallery img", "alt").is_empty());
    // Its files are gone from this instance, and its address with them.
    let removed: Vec<String> = std::fs::read_dir(app.media.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert!(
        removed.iter().all(|f| main[0].contains(&f[..16])),
        "{removed:?}"
    );
    // Someone else's picture id: 404.
    let res = admin
        .post(app.url(&remove[0].replace("canvas-tote", "enamel-mug")))
        .form(&[("csrf_token", csrf_token(&detail).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
}

#[actix_web::test]
async fn bad_uploads_are_refused_with_a_reason_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let admin = app.admin_browser().await;
    let png = picture(300, 200, image::ImageFormat::Png);
    // A real 1×1 GIF: a picture, in a format the shop does not take.
    let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;".to_vec();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("", png.clone(), "#alt-error", "Describe the picture"),
        (
            "A mug",
            gif,
            "#picture-error",
            "not a JPEG, PNG or WebP picture",
        ),
        (
            "A mug",
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec(),
            "#picture-error",
            "not a JPEG, PNG or WebP picture",
        ),
        (
            "A mug",
            vec![],
            "#picture-error",
            "Choose a picture to upload.",
        ),
        (
            "A mug",
            png[..60].to_vec(),
            "#picture-error",
            "could not be read",
        ),
        (
            "A mug",
            vec![0u8; 10 * 1024 * 1024 + 1],
            "#picture-error",
            "over 10 MB",
        ),
    ];
    for (alt, bytes, field, message) in cases {
        let res = upload(&app, &admin, "enamel-mug", alt, "mug.png", bytes, true).await;
        assert_eq!(res.status().as_u16(), 422, "{message}");
        let html = res.text().await.unwrap();
        assert!(
            select_text(&html, field).join(" ").contains(message),
            "{message}: {:?}",
            select_text(&html, ".field-error")
        );
        // What was typed stays.
        assert_eq!(select_attr(&html, "#alt", "value"), vec![alt]);
    }
    // Without the CSRF token: refused before anything is read into the catalogue.
    let res = upload(
        &app,
        &admin,
        "enamel-mug",
        "A mug",
        "mug.png",
        png.clone(),
        false,
    )
    .await;
    assert_eq!(res.status().as_u16(), 403);
    // A shopper (with a token from a shop page) cannot upload.
    let token = csrf_token(&app.get_html("/products/enamel-mug").await.1);
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", token)
        .text("alt", "A mug")
        .part("picture", reqwest::multipart::Part::bytes(png.clone()));
    let res = app
        .client
        .post(app.url("/admin/products/enamel-mug/images"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(
        location(&res).starts_with("/account/login"),
        "{:?}",
        res.headers()
    );
    let (_, detail) = fetch_page(&admin, app.url("/admin/products/enamel-mug")).await;
    assert!(select_attr(&detail, "#pictures img", "src").is_empty());
    // The same picture twice is refused the second time.
    let res = upload(
        &app,
        &admin,
        "enamel-mug",
        "A mug",
        "mug.png",
        png.clone(),
        true,
    )
    .await;
    assert_eq!(res.status().as_u16(), 303);
    let res = upload(&app, &admin, "enamel-mug", "A mug", "mug.png", png, true).await;
    assert_eq!(res.status().as_u16(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("already has this picture")
    );
    assert!(std::fs::read_dir(app.media.path()).unwrap().count() >= 2);
}
