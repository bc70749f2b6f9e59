//! What search engines read: robots.txt, the sitemap, and each product page's canonical link,
//! meta description and `Product` JSON-LD.

use serde_json::Value;

use crate::helpers::*;

fn json_ld(html: &str) -> Value {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(r#"script[type="application/ld+json"]"#).unwrap();
    let scripts: Vec<String> = doc.select(&sel).map(|s| s.inner_html()).collect();
    assert_eq!(scripts.len(), 1, "{html}");
    serde_json::from_str(&scripts[0]).expect("JSON-LD is JSON")
}

#[actix_web::test]
async fn robots_and_the_sitemap_list_what_is_on_sale_and_keep_crawlers_out_of_private_pages() {
    let app = TestApp::spawn().await;
    let res = app.get("/robots.txt").await;
    assert_eq!(res.status().as_u16(), 200);
    let robots = res.text().await.unwrap();
    for private in ["/admin", "/account", "/cart", "/checkout"] {
        assert!(
            robots.contains(&format!("Disallow: {private}\n")),
            "{robots}"
        );
    }
    assert!(robots.contains("Sitemap: http://"), "{robots}");

    let res = app.get("/sitemap.xml").await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let xml = res.text().await.unwrap();
    let on_sale = app.get_html("/").await.1;
    let slugs: Vec<String> = select_attr(&on_sale, ".product-card a", "href");
    assert!(!slugs.is_empty(), "{on_sale}");
    for href in &slugs {
        assert!(xml.contains(&format!("{href}</loc>")), "{href} in {xml}");
    }
    // The front page, each product, each category with products.
    let categories = select_attr(&on_sale, "nav.categories a", "href");
    assert_eq!(categories.len(), 8, "{on_sale}");
    for c in &categories[1..] {
        assert!(xml.contains(&format!("{c}</loc>")), "{c}: {xml}");
    }
    assert_eq!(
        xml.matches("<url>").count(),
        slugs.len() + categories.len(),
        "{xml}"
    );

    // Taken off sale: gone from the sitemap.
    storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use storefront::schema::products;
        diesel::update(products::table.filter(products::slug.eq("canvas-tote")))
            .set(products::status.eq("archived"))
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    app.state.catalogue.invalidate();
    let xml = app.get("/sitemap.xml").await.text().await.unwrap();
    assert!(!xml.contains("/products/canvas-tote<"), "{xml}");
    assert!(xml.contains("/products/brass-pen</loc>"), "{xml}");
}

#[actix_web::test]
async fn a_product_page_has_its_canonical_link_description_and_json_ld_matching_the_page() {
    let app = TestApp::spawn().await;
    let html = app.get_html("/products/canvas-tote").await.1;
    let canonical = select_attr(&html, "link[rel=canonical]", "href");
    assert_eq!(canonical.len(), 1);
    assert!(
        canonical[0].ends_with("/products/canvas-tote"),
        "{canonical:?}"
    );
    assert_eq!(
        select_attr(&html, "meta[name=description]", "content"),
        vec!["Heavy 16 oz cotton canvas with long handles. Carries a week of groceries."]
    );
    let data = json_ld(&html);
    assert_eq!(data["@type"], "Product");
    assert_eq!(data["name"], select_text(&html, "h1")[0].as_str());
    assert_eq!(data["url"], canonical[0].as_str());
    // The price and availability the page shows.
    assert_eq!(select_text(&html, ".price-large"), vec!["$18.00"]);
    assert_eq!(data["offers"]["price"], "18.00");
    assert_eq!(data["offers"]["priceCurrency"], "USD");
    assert_eq!(data["offers"]["availability"], "https://schema.org/InStock");

    let html = app.get_html("/products/brass-pen").await.1;
    assert!(select_text(&html, ".badge-sold-out").contains(&"Sold out".to_owned()));
    assert_eq!(
        json_ld(&html)["offers"]["availability"],
        "https://schema.org/OutOfStock"
    );

    // Whatever a product is called, its JSON-LD cannot end the script element.
    storefront::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use storefront::schema::products;
        diesel::update(products::table.filter(products::slug.eq("canvas-tote")))
            .set(products::name.eq("Tote </script><script>alert(1)</script> & co"))
            .execute(conn)
            .map_err(storefront::db::DbError::from)
    })
    .await
    .unwrap();
    app.state.catalogue.invalidate();
    let html = app.get_html("/products/canvas-tote").await.1;
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert_eq!(
        json_ld(&html)["name"],
        "Tote </script><script>alert(1)</script> & co"
    );
}
