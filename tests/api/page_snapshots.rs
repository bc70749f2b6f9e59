//! The main pages, byte for byte, against snapshots taken before the catalogue snapshot and the
//! signed CSRF tokens (#13) changed how they are made: a visitor sees the same pages. Per-visitor
//! values are masked (CSRF tokens, the server's port).
//!
//! After an intended change to a page, rewrite the files with
//! `UPDATE_SNAPSHOTS=1 cargo test --test api page_snapshots` and review the diff.

use std::path::PathBuf;

use crate::helpers::{TestApp, csrf_token, select_attr};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/snapshots")
}

/// Masks what differs per visitor and per run.
fn masked(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    const FIELD: &str = "name=\"csrf_token\" value=\"";
    while let Some(i) = rest.find(FIELD) {
        let start = i + FIELD.len();
        out.push_str(&rest[..start]);
        out.push_str("CSRF");
        let end = rest[start..].find('"').map_or(rest.len(), |e| start + e);
        rest = &rest[end..];
    }
    out.push_str(rest);
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("127.0.0.1:") {
        let start = i + "127.0.0.1:".len();
        result.push_str(&rest[..start]);
        result.push_str("PORT");
        let digits = rest[start..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - start);
        rest = &rest[start + digits..];
    }
    result.push_str(rest);
    result
}

fn check(name: &str, status: u16, html: &str, mismatches: &mut Vec<String>) {
    let got = format!("{status}\n{}", masked(html));
    let path = dir().join(format!("{name}.html"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(dir()).unwrap();
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", path.display()));
    if want != got {
        let line = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| want.lines().count().min(got.lines().count()));
        mismatches.push(format!(
            "{name}: first difference at line {}\n  want: {:?}\n  got:  {:?}",
            line + 1,
            want.lines().nth(line).unwrap_or("<end>"),
            got.lines().nth(line).unwrap_or("<end>"),
        ));
    }
}

#[actix_web::test]
async fn the_main_pages_are_unchanged() {
    let app = TestApp::spawn().await;
    let mut mismatches = vec![];
    let page = async |name: &str, path: &str, mismatches: &mut Vec<String>| {
        let (status, html) = app.get_html(path).await;
        check(name, status, &html, mismatches);
        html
    };
    page("index", "/", &mut mismatches).await;
    page("product", "/products/canvas-tote", &mut mismatches).await;
    page(
        "product-subscription",
        "/products/coffee-club",
        &mut mismatches,
    )
    .await;
    page("product-sold-out", "/products/brass-pen", &mut mismatches).await;
    page(
        "product-last-one",
        "/products/harbour-print",
        &mut mismatches,
    )
    .await;
    page("not-found", "/products/no-such-thing", &mut mismatches).await;
    page("login", "/account/login", &mut mismatches).await;
    page("cart-empty", "/cart", &mut mismatches).await;

    // A refused add: the product page again, with the message and what was typed.
    let html = page("product", "/products/canvas-tote", &mut mismatches).await;
    let price = select_attr(&html, "input[name=price_id]", "value").remove(0);
    let res = app
        .post_form(
            "/cart/items",
            &[
                ("csrf_token", csrf_token(&html).as_str()),
                ("price_id", price.as_str()),
                ("quantity", "abc"),
            ],
        )
        .await;
    let status = res.status().as_u16();
    check(
        "product-refused-add",
        status,
        &res.text().await.unwrap(),
        &mut mismatches,
    );

    app.add_to_cart("canvas-tote", 2).await;
    page("cart-just-added", "/cart", &mut mismatches).await;
    app.add_to_cart("enamel-mug", 1).await;
    page("cart-just-added-second", "/cart", &mut mismatches).await;
    page("cart", "/cart", &mut mismatches).await;
    page("index-returning", "/", &mut mismatches).await;
    page(
        "product-returning",
        "/products/canvas-tote",
        &mut mismatches,
    )
    .await;

    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
