//! Balance transactions: a charge's (with the deterministic 2.9 % + 30 fee), a refund's and a
//! failed refund's, retrievable, listable by source and expandable from their objects.

use crate::support::Harness;

#[actix_web::test]
async fn charges_and_refunds_have_balance_transactions_with_the_test_fee() {
    let h = Harness::start().await;
    let price = h.one_time_price("Fee mug", 2300, "usd").await;
    let (sid, url) = h.session(&price, 1).await;
    assert_eq!(h.pay(&url, "4242424242424242").await.status(), 303);
    let (_, session) = h
        .get(
            &format!("/v1/checkout/sessions/{sid}"),
            &[(
                "expand[]",
                "payment_intent.latest_charge.balance_transaction",
            )],
        )
        .await;
    let charge = &session["payment_intent"]["latest_charge"];
    let bt = &charge["balance_transaction"];
    assert_eq!(bt["object"], "balance_transaction");
    assert_eq!(bt["amount"], 2300);
    assert_eq!(
        bt["fee"], 97,
        "2.9 % of 23.00 is 66.7, rounded to 67, plus 30"
    );
    assert_eq!(bt["net"], 2300 - 97);
    assert_eq!(bt["fee_details"][0]["type"], "stripe_fee");
    assert_eq!(bt["reporting_category"], "charge");
    assert_eq!(bt["source"], charge["id"]);
    assert_eq!(bt["currency"], "usd");

    let pi = session["payment_intent"]["id"].as_str().unwrap();
    let (_, refund) = h
        .post("/v1/refunds", &[("payment_intent", pi), ("amount", "500")])
        .await;
    let (_, refund_bt) = h
        .get(
            &format!(
                "/v1/balance_transactions/{}",
                refund["balance_transaction"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(
        (
            refund_bt["amount"].as_i64(),
            refund_bt["fee"].as_i64(),
            refund_bt["net"].as_i64()
        ),
        (Some(-500), Some(0), Some(-500))
    );
    assert_eq!(refund_bt["type"], "refund");
    // A refund asked for its failure transaction before it has one: no error, none given.
    let (status, r) = h
        .get(
            &format!("/v1/refunds/{}", refund["id"].as_str().unwrap()),
            &[
                ("expand[]", "balance_transaction"),
                ("expand[]", "failure_balance_transaction"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["balance_transaction"]["amount"], -500);
    assert!(
        r.get("failure_balance_transaction")
            .is_none_or(|v| v.is_null())
    );
    // It fails after succeeding: the money comes back in its own transaction.
    let (status, _) = h
        .post(
            &format!("/_emulator/refunds/{}/fail", refund["id"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let (_, r) = h
        .get(
            &format!("/v1/refunds/{}", refund["id"].as_str().unwrap()),
            &[("expand[]", "failure_balance_transaction")],
        )
        .await;
    assert_eq!(r["failure_balance_transaction"]["amount"], 500);
    assert_eq!(
        r["failure_balance_transaction"]["reporting_category"],
        "refund_failure"
    );

    // Listed by source.
    let (_, listed) = h
        .get(
            "/v1/balance_transactions",
            &[("source", charge["id"].as_str().unwrap())],
        )
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["id"], bt["id"]);
    let (status, err) = h.get("/v1/balance_transactions/txn_nope", &[]).await;
    assert_eq!(status, 404, "{err}");
    assert_eq!(err["error"]["type"], "invalid_request_error");
    h.stop().await;
}
