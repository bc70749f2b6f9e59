//! Two shop processes on one database: each serves the catalogue from its own in-memory
//! snapshot, and a change made anywhere (the seed command, a stock hold on the other instance)
//! shows on both within about a second.

use std::time::{Duration, Instant};

use crate::helpers::{Shop, browser, csrf_token, location, select_attr, select_text};

/// The product cards' names and badges on a shop's front page.
async fn front_page(shop: &Shop) -> String {
    plain()
        .get(shop.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn plain() -> reqwest::Client {
    crate::helpers::plain_client()
}

fn badge_of(html: &str, name: &str) -> Option<String> {
    select_text(html, ".product-card")
        .into_iter()
        .find(|card| card.contains(name))
        .map(|card| {
            if card.contains("Sold out") {
                "Sold out".into()
            } else if card.contains("Last one") {
                "Last one".into()
            } else {
                String::new()
            }
        })
}

/// Polls a shop's front page until `seen` holds; how long it took. Panics after `limit`.
async fn until(shop: &Shop, limit: Duration, seen: impl Fn(&str) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        let html = front_page(shop).await;
        if seen(&html) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "not seen within {limit:?} on {}: {html}",
            shop.address
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_change_made_anywhere_shows_on_every_instance_within_about_a_second() {
    let a = Shop::start(&[]).await;
    let b = Shop::start_on(a.db.clone(), &[]).await;
    // Both instances hold a snapshot now.
    for shop in [&a, &b] {
        let html = front_page(shop).await;
        assert!(html.contains("Canvas tote bag"), "{html}");
        assert_eq!(
            badge_of(&html, "Harbour at dawn").as_deref(),
            Some("Last one")
        );
    }

    // The seed command (a third process) renames a product.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalogue.toml");
    let demo = include_str!("../../src/catalog/demo_catalog.toml");
    // The files its digital products deliver, where the catalogue names them.
    for (path, bytes) in storefront::catalog::seed::DEMO_FILES {
        let at = dir.path().join(path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, bytes).unwrap();
    }
    std::fs::write(
        &file,
        demo.replace(
            "name = \"Canvas tote bag\"",
            "name = \"Canvas tote bag, natural\"",
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_storefront"))
        .args(["seed", file.to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &a.db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for shop in [&a, &b] {
        let took = until(shop, Duration::from_secs(3), |html| {
            html.contains("Canvas tote bag, natural")
        })
        .await;
        assert!(took < Duration::from_millis(2500), "{took:?}");
    }

    // A shopper on instance A checks out the last print: A shows it sold out at once (its own
    // hold), B within about a second.
    let shopper = browser();
    let page = shopper
        .get(a.url("/products/harbour-print"))
        .send()
        .await
        .unwrap();
    assert!(
        page.headers().get("set-cookie").is_none(),
        "a page view sets no cookie"
    );
    let html = page.text().await.unwrap();
    let price = select_attr(&html, "input[name=price_id]", "value").remove(0);
    let res = shopper
        .post(a.url("/cart/items"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("price_id", price.as_str()),
            ("quantity", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let html = shopper
        .get(a.url("/cart"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = shopper
        .post(a.url("/checkout"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("email", "shopper@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(
        location(&res).starts_with(&a.emulator),
        "{}",
        location(&res)
    );
    let held_at = Instant::now();
    assert_eq!(
        badge_of(&front_page(&a).await, "Harbour at dawn").as_deref(),
        Some("Sold out"),
        "the instance that took the hold shows it at once"
    );
    until(&b, Duration::from_secs(3), |html| {
        badge_of(html, "Harbour at dawn").as_deref() == Some("Sold out")
    })
    .await;
    let took = held_at.elapsed();
    assert!(took < Duration::from_millis(2500), "{took:?}");
}
