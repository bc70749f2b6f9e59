//! A graceful stop on SIGTERM (or Ctrl-C) that loses no webhook.

use std::collections::HashMap;
use std::time::Duration;

use crate::helpers::*;

#[actix_web::test]
async fn sigterm_during_a_webhook_burst_loses_no_event_and_exits_cleanly() {
    let mut shop = Shop::start(&[("RUST_LOG", "info")]).await;
    const EVENTS: usize = 600;
    let bodies: Vec<(String, String)> = (0..EVENTS)
        .map(|i| {
            let id = format!("evt_burst_{i:04}_{}", random_hex(4));
            let body = format!(
                r#"{{"id":"{id}","object":"event","api_version":"2026-09-30.endive","created":{},"data":{{"object":{{"id":"thing_{i}","object":"thing"}}}},"livemode":false,"pending_webhooks":1,"request":{{"id":null,"idempotency_key":null}},"type":"thing.happened"}}"#,
                chrono::Utc::now().timestamp()
            );
            (id, body)
        })
        .collect();
    let secret = shop.webhook_secret.clone();
    let url = shop.url("/webhooks/stripe");
    // A connection per request, as Stripe's deliveries are: once the shop stops listening,
    // new deliveries are refused rather than slipped in on an old keep-alive connection.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(40))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let signalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    // 16 senders share the burst; the signal goes once a quarter is answered.
    let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies.clone()));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (queue, client, url, secret, done, signalled) = (
            queue.clone(),
            client.clone(),
            url.clone(),
            secret.clone(),
            done.clone(),
            signalled.clone(),
        );
        senders.push(actix_web::rt::spawn(async move {
            let mut results: Vec<(String, Option<u16>, bool)> = Vec::new();
            loop {
                let Some((id, body)) = queue.lock().unwrap().pop() else {
                    break;
                };
                let sig = stripe_webhook::Webhook::generate_test_header(&body, &secret, None);
                let status = client
                    .post(&url)
                    .header("Stripe-Signature", sig)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .ok()
                    .map(|r| r.status().as_u16());
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let after = signalled.load(std::sync::atomic::Ordering::SeqCst);
                results.push((id, status, after));
            }
            results
        }));
    }
    while done.load(std::sync::atomic::Ordering::SeqCst) < EVENTS / 4 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    shop.terminate();
    signalled.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut results = Vec::new();
    for s in senders {
        results.extend(s.await.unwrap());
    }
    drop(client);
    let status = shop.wait(Duration::from_secs(45)).await;
    assert!(status.success(), "exit status {status}: {}", shop.output());

    let pool = shop.pool().await;
    let recorded: std::collections::HashSet<String> = {
        use diesel::prelude::*;
        use storefront::schema::stripe_events;
        storefront::db::run(&pool, |conn| {
            stripe_events::table
                .select(stripe_events::id)
                .load::<String>(conn)
                .map_err(storefront::db::DbError::from)
        })
        .await
        .unwrap()
        .into_iter()
        .collect()
    };
    let mut tally: HashMap<&str, usize> = HashMap::new();
    for (id, status, after_signal) in &results {
        match status {
            Some(s) if (200..300).contains(s) => {
                *tally.entry("2xx").or_default() += 1;
                if *after_signal {
                    // In flight when the signal came (or on a connection accepted just before).
                    *tally.entry("2xx answered after SIGTERM").or_default() += 1;
                }
                assert!(
                    recorded.contains(id),
                    "{id} was answered {s} but is not recorded"
                );
            }
            Some(_) => *tally.entry("refused").or_default() += 1,
            None => *tally.entry("no answer").or_default() += 1,
        }
    }
    assert_eq!(results.len(), EVENTS);
    let ok = tally.get("2xx").copied().unwrap_or(0);
    assert!(ok >= EVENTS / 4, "{tally:?}");
    assert!(ok < EVENTS, "the signal landed mid-burst: {tally:?}");
    let out = shop.output();
    assert!(out.contains("SIGTERM"), "the signal is logged: {out}");
    assert!(out.contains("stopped"), "the shutdown completes: {out}");
    eprintln!("burst: {tally:?}");
}

#[actix_web::test]
async fn ctrl_c_stops_the_shop_gracefully_too() {
    let mut shop = Shop::start(&[("RUST_LOG", "info")]).await;
    let res = reqwest::get(shop.url("/healthz")).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    shop.signal("-INT");
    let status = shop.wait(Duration::from_secs(45)).await;
    assert!(status.success(), "exit status {status}: {}", shop.output());
    let out = shop.output();
    assert!(out.contains("SIGINT") && out.contains("stopped"), "{out}");
}
