//! The background worker: delivers events (signed like Stripe), retries with back-off, runs
//! delayed jobs and expires overdue Checkout Sessions.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::ApiError;
use super::store::{self, Ctx, Delivery};
use super::{Shared, payments, with_ctx};

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 10;

/// `t=…,v1=hex(HMAC-SHA256(secret, "{t}.{payload}"))`, `t` the real wall-clock time.
pub fn signature_header(payload: &str, secret: &str, t: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key size");
    mac.update(format!("{t}.{payload}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Back-off after `attempts` failures: 1 s, 2 s, 4 s … capped at 5 minutes.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 20) - 1;
    (1000i64 << exp).min(300_000)
}

pub fn run_due_jobs(ctx: &mut Ctx) -> Result<usize, ApiError> {
    let jobs = store::take_due_jobs(ctx.conn)?;
    for (_, kind, target) in &jobs {
        payments::run_job(ctx, kind, target)?;
    }
    Ok(jobs.len())
}

pub async fn run(st: Arc<Shared>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "emulator webhook client");
            return;
        }
    };
    let mut last_sweep = 0i64;
    loop {
        tokio::select! {
            _ = st.notify.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let sweep = store::now_ms() - last_sweep > 1000;
        if sweep {
            last_sweep = store::now_ms();
        }
        let res = with_ctx(&st, move |ctx| {
            run_due_jobs(ctx)?;
            if sweep {
                payments::sweep_expired(ctx)?;
            }
            Ok(())
        })
        .await;
        if let Err(e) = res {
            tracing::warn!(error = %e.message, "emulator background work failed");
        }
        let (hold, reverse) = {
            let f = super::control::faults(&st);
            (f.hold, f.reverse)
        };
        if hold {
            continue;
        }
        let due = match with_ctx(&st, move |ctx| {
            Ok(store::due_deliveries(ctx.conn, reverse)?)
        })
        .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e.message, "emulator could not read deliveries");
                continue;
            }
        };
        for d in due {
            deliver(&st, &client, d).await;
        }
    }
}

async fn deliver(st: &Arc<Shared>, client: &reqwest::Client, d: Delivery) {
    let (ev_id, ep_id) = (d.event_id.clone(), d.endpoint_id.clone());
    let loaded = with_ctx(st, move |ctx| {
        let ev = ctx.get(&ev_id)?;
        let ep = ctx.get(&ep_id)?;
        let pending = store::pending_for_event(ctx.conn, &ev_id)?;
        Ok((ev, ep, pending))
    })
    .await;
    let (ev, ep, pending) = match loaded {
        Ok((Some(ev), Some(ep), pending)) => (ev, ep, pending),
        Ok(_) => {
            let id = d.id;
            let _ = with_ctx(st, move |ctx| {
                Ok(store::finish_delivery(
                    ctx.conn, id, "gone", d.attempts, 0, None,
                )?)
            })
            .await;
            return;
        }
        Err(_) => return,
    };
    let (drop_it, dup) = {
        let mut f = super::control::faults(st);
        let drop_it = f.drop_next > 0;
        if drop_it {
            f.drop_next -= 1;
        }
        let dup = !drop_it && f.duplicate_next > 0;
        if dup {
            f.duplicate_next -= 1;
        }
        (drop_it, dup)
    };
    let id = d.id;
    if drop_it {
        let _ = with_ctx(st, move |ctx| {
            Ok(store::finish_delivery(
                ctx.conn, id, "dropped", d.attempts, 0, None,
            )?)
        })
        .await;
        return;
    }
    let mut ev = store::public(&ev);
    ev["pending_webhooks"] = serde_json::json!(pending);
    let payload = ev.to_string();
    let url = ep["url"].as_str().unwrap_or_default().to_string();
    let secret = ep["secret"].as_str().unwrap_or_default().to_string();
    let times = if dup { 2 } else { 1 };
    let mut status: Option<i64> = None;
    let mut ok = false;
    for _ in 0..times {
        let header = signature_header(&payload, &secret, chrono::Utc::now().timestamp());
        let res = client
            .post(&url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header("Stripe-Signature", header)
            .header(
                "User-Agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            )
            .body(payload.clone())
            .send()
            .await;
        match res {
            Ok(r) => {
                status = Some(i64::from(r.status().as_u16()));
                ok = r.status().is_success();
            }
            Err(e) => {
                tracing::debug!(error = %e, %url, "webhook delivery failed");
                status = None;
                ok = false;
            }
        }
    }
    let attempts = d.attempts + 1;
    let (state, next) = if ok {
        ("delivered", 0)
    } else if attempts >= MAX_ATTEMPTS {
        ("failed", 0)
    } else {
        ("pending", store::now_ms() + backoff_ms(attempts))
    };
    let _ = with_ctx(st, move |ctx| {
        Ok(store::finish_delivery(
            ctx.conn, id, state, attempts, next, status,
        )?)
    })
    .await;
}
