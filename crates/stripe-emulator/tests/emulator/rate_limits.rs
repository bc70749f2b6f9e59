//! Stripe's rate limits on demand (`POST /_emulator/rate_limits`), answered with Stripe's 429,
//! and the per-endpoint request counters (`GET /_emulator/requests`).

use futures_util::future::join_all;

use crate::support::Harness;

/// Sends `n` `GET /v1/products` at once; the statuses.
async fn burst(h: &Harness, n: usize) -> Vec<u16> {
    join_all((0..n).map(|_| h.get("/v1/products", &[])))
        .await
        .into_iter()
        .map(|(s, body)| {
            if s == 429 {
                assert_eq!(body["error"]["code"], "rate_limit", "{body}");
                assert_eq!(body["error"]["type"], "invalid_request_error");
            }
            s
        })
        .collect()
}

#[actix_web::test]
async fn test_mode_limits_answer_429_and_every_request_is_counted() {
    let h = Harness::start().await;
    let (status, report) = h.post("/_emulator/requests/reset", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(report["mode"], "off");
    assert_eq!(report["total"]["requests"], 0);

    // Off (the default): a burst all passes.
    assert!(burst(&h, 60).await.iter().all(|s| *s == 200));

    let (status, report) = h.post("/_emulator/rate_limits", &[("mode", "test")]).await;
    assert_eq!((status, report["mode"].as_str()), (200, Some("test")));
    let statuses = burst(&h, 60).await;
    let limited = statuses.iter().filter(|s| **s == 429).count();
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(limited + passed, 60, "{statuses:?}");
    assert!(limited > 0, "60 at once is over 25 a second: {statuses:?}");
    assert!(passed >= 25, "{statuses:?}");

    let (_, report) = h.get("/_emulator/requests", &[]).await;
    let products = &report["endpoints"]["GET /v1/products"];
    assert_eq!(products["requests"], 120);
    assert_eq!(products["rate_limited"], limited as u64);
    assert_eq!(report["total"]["rate_limited"], limited as u64);

    // After a second, requests pass again; switched off, bursts pass.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(h.get("/v1/products", &[]).await.0, 200);
    h.post("/_emulator/rate_limits", &[("mode", "off")]).await;
    assert!(burst(&h, 60).await.iter().all(|s| *s == 200));

    let (status, err) = h.post("/_emulator/rate_limits", &[("mode", "fast")]).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["param"], "mode");
    h.stop().await;
}
