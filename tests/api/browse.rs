//! Finding products: categories, search (`/search?q=`, full-text on SQLite and PostgreSQL),
//! sorting and pages of 24; a renamed product's old address answering 301.

use crate::helpers::*;

/// 30 notebooks in a "Paper" category, `n` cents more each, created a second apart.
fn many_notebooks() -> String {
    let mut text = String::new();
    for n in 1..=30 {
        text.push_str(&format!(
            "[[products]]\nslug = \"notebook-{n:02}\"\nname = \"Notebook no. {n:02}\"\ncategory = \"Paper\"\ndescription = \"Lined paper, number {n}.\"\nprices = [{{ key = \"notebook-{n:02}\", unit_amount = {} }}]\n\n",
            500 + n
        ));
    }
    text
}

fn names(html: &str) -> Vec<String> {
    select_text(html, ".product-card .product-name")
}

#[actix_web::test]
async fn shoppers_find_products_by_category_and_by_search() {
    let app = TestApp::spawn().await;
    // The demo catalogue's categories, each a page of its products; empty ones are not listed.
    let (status, home) = app.get_html("/").await;
    assert_eq!(status, 200);
    let categories = select_text(&home, "nav.categories a");
    assert_eq!(
        categories,
        vec![
            "All",
            "Apps",
            "Bags",
            "Clothing",
            "Coffee",
            "Kitchen",
            "Prints & maps",
            "Stationery"
        ]
    );
    let (status, kitchen) = app.get_html("/categories/kitchen").await;
    assert_eq!(status, 200);
    assert_eq!(select_text(&kitchen, "h1"), vec!["Kitchen"]);
    assert_eq!(names(&kitchen), vec!["Enamel camp mug", "Linen apron"]);
    assert_eq!(
        select_attr(&kitchen, "nav.categories a[aria-current]", "href"),
        vec!["/categories/kitchen"]
    );
    assert_eq!(app.get_html("/categories/garden").await.0, 404);
    assert!(
        app.get_html("/sitemap.xml")
            .await
            .1
            .contains("/categories/prints-maps</loc>")
    );

    // Search: every word, as a prefix, in the name or the description; names first.
    let search = |q: &'static str| {
        let app = &app;
        async move {
            let url = format!(
                "/search?q={}",
                url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            );
            app.get_html(&url).await
        }
    };
    let (status, html) = search("mug").await;
    assert_eq!(status, 200);
    assert_eq!(names(&html), vec!["Enamel camp mug"]);
    assert_eq!(
        select_attr(&html, "meta[name=robots]", "content"),
        vec!["noindex"]
    );
    // Prefixes and several words; the description counts.
    let mut harbour = names(&search("harb").await.1);
    harbour.sort();
    assert_eq!(
        harbour,
        vec![
            "Harbour walking map (download)",
            "Limited print: Harbour at dawn"
        ]
    );
    assert_eq!(
        names(&search("harbour download").await.1),
        vec!["Harbour walking map (download)"]
    );
    assert_eq!(
        names(&search("BERGAMOT").await.1),
        vec!["Single-origin coffee beans, 250 g"]
    );
    // A name match ranks above a description match.
    let coffee = names(&search("coffee").await.1);
    assert_eq!(coffee.len(), 2, "{coffee:?}");
    assert!(coffee.contains(&"Coffee club subscription".to_owned()));
    // Query syntax is just words: no error, no injection.
    for q in [
        "\"mug",
        "mug*",
        "mug OR pen",
        "x:* & !y",
        "NEAR(a b)",
        "'; DROP TABLE products; --",
    ] {
        let (status, _) = search(q).await;
        assert_eq!(status, 200, "{q}");
    }
    assert_eq!(
        names(&search("mug\" OR \"pen").await.1),
        Vec::<String>::new()
    );
    // Nothing found, and nothing typed, say so.
    let (status, none) = search("zeppelin").await;
    assert_eq!(status, 200);
    assert!(none.contains("Nothing matches “zeppelin”"), "{none}");
    let (_, empty) = search("").await;
    assert!(empty.contains("Type what you are looking for"), "{empty}");
    // Only what is for sale: a draft is not found.
    app.seed_catalogue(
        "[[products]]\nslug = \"secret-mug\"\nname = \"Secret mug\"\nstatus = \"draft\"\nprices = [{ key = \"secret-mug\", unit_amount = 900 }]\n",
    )
    .await;
    assert_eq!(names(&search("mug").await.1), vec!["Enamel camp mug"]);
}

#[actix_web::test]
async fn pages_hold_24_products_and_shoppers_sort_them() {
    let app = TestApp::spawn().await;
    app.seed_catalogue(&many_notebooks()).await;
    let (status, first) = app.get_html("/categories/paper").await;
    assert_eq!(status, 200);
    assert_eq!(names(&first).len(), 24);
    assert_eq!(names(&first)[0], "Notebook no. 01");
    assert!(
        select_text(&first, ".result-count")[0].contains("30 products · page 1 of 2"),
        "{first}"
    );
    assert_eq!(
        select_attr(&first, ".pager a[rel=next]", "href"),
        vec!["/categories/paper?page=2"]
    );
    let (_, second) = app.get_html("/categories/paper?page=2").await;
    assert_eq!(
        names(&second),
        (25..=30)
            .map(|n| format!("Notebook no. {n:02}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        select_attr(&second, "link[rel=canonical]", "href"),
        vec![app.url("/categories/paper?page=2")]
    );
    // Past the last page: 404; a page that is not a number, or an unknown order: 400, saying why.
    assert_eq!(app.get_html("/categories/paper?page=3").await.0, 404);
    let (status, html) = app.get_html("/?page=abc").await;
    assert_eq!(status, 400);
    assert!(html.contains("page number"), "{html}");
    let (status, html) = app.get_html("/?sort=cheapest").await;
    assert_eq!(status, 400);
    assert!(html.contains("Unknown sort order"), "{html}");

    // Sorted by price, high to low; the pager keeps the order.
    let (_, high) = app.get_html("/categories/paper?sort=price-desc").await;
    assert_eq!(names(&high)[0], "Notebook no. 30");
    assert_eq!(
        select_attr(&high, ".pager a[rel=next]", "href"),
        vec!["/categories/paper?sort=price-desc&page=2"]
    );
    assert_eq!(
        select_attr(&high, "#sort option[selected]", "value"),
        vec!["price-desc"]
    );
    let (_, low) = app.get_html("/?sort=price").await;
    let all = names(&low);
    assert_eq!(all[0], "Harbour walking map (download)", "{all:?}");
    assert_eq!(all[1], "Notebook no. 01", "{all:?}");
    // The whole shop pages too: 11 demo products and 30 notebooks.
    let (_, home) = app.get_html("/").await;
    assert!(select_text(&home, ".result-count")[0].contains("41 products"));
    // Search results page and sort the same way.
    let (_, found) = app
        .get_html("/search?q=notebook&sort=price-desc&page=2")
        .await;
    assert_eq!(names(&found).len(), 31 - 24);
    assert_eq!(
        select_attr(&found, ".pager a[rel=prev]", "href"),
        vec!["/search?q=notebook&sort=price-desc"]
    );
}
