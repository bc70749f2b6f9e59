//! Forms filled with anything: every state-changing form, sent any fields with any values
//! (with a valid CSRF token, as a real browser would), answers with a page or a redirect and
//! never a server error.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use crate::helpers::*;

/// Field names the forms know, and others.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "price_id",
            "quantity",
            "email",
            "password",
            "name",
            "slug",
            "description",
            "status",
            "tax_code",
            "category",
            "mode",
            "reason",
            "variant",
            "option1",
            "option2",
            "sku",
            "price",
            "stock",
            "free",
            "amount",
            "option1_name",
            "option2_name",
            "keys",
            "kind",
        ])
        .prop_map(str::to_owned),
        "v[0-9]{1,3}-(option1|option2|sku|image)",
        "[a-z_]{1,12}",
    ]
}

/// Values people and scripts send: numbers of every size, signs, text, nothing.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        "-?[0-9]{0,30}(\\.[0-9]{0,8})?",
        ".{0,60}",
        Just(String::new()),
        Just("9".repeat(400)),
    ]
}

#[actix_web::test]
async fn every_form_answers_any_input_without_a_server_error() {
    let app = TestApp::spawn().await;
    let admin = app.admin_browser().await;
    let shopper = app.new_browser();
    // (who, page holding the token, where the form posts)
    let forms: Vec<(&reqwest::Client, &str, &str)> = vec![
        (&shopper, "/products/canvas-tote", "/cart/items"),
        (
            &shopper,
            "/products/brass-pen",
            "/products/brass-pen/back-in-stock",
        ),
        (&shopper, "/products/canvas-tote", "/checkout"),
        (&shopper, "/account/login", "/account/login"),
        (&shopper, "/account/register", "/account/register"),
        (
            &admin,
            "/admin/products/canvas-tote",
            "/admin/products/canvas-tote",
        ),
        (
            &admin,
            "/admin/products/canvas-tote",
            "/admin/products/canvas-tote/stock",
        ),
        (
            &admin,
            "/admin/products/canvas-tote",
            "/admin/products/canvas-tote/variants",
        ),
        (
            &admin,
            "/admin/products/canvas-tote",
            "/admin/products/canvas-tote/variants/new",
        ),
        (&admin, "/admin/products/new", "/admin/products"),
    ];
    let mut runner = TestRunner::deterministic();
    let strategy = prop::collection::vec((field(), value()), 0..8);
    for (client, page, action) in forms {
        let (_, html) = fetch_page(client, app.url(page)).await;
        let token = csrf_token(&html);
        for _ in 0..25 {
            let mut fields = strategy.new_tree(&mut runner).unwrap().current();
            fields.push(("csrf_token".to_owned(), token.clone()));
            let res = client
                .post(app.url(action))
                .form(&fields)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            assert!(
                status < 500,
                "{action} answered {status} to {fields:?}: {}",
                res.text().await.unwrap_or_default()
            );
        }
    }
}
