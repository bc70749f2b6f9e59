//! What runs while the shoppers shop: the fault injector, the instance killer, an admin taking
//! in deliveries and two admins refunding. Every random choice comes from the run's seed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use rand::{Rng as _, SeedableRng as _};

use crate::actors::{self, Browser, Payment, Plan};
use crate::cluster::{Emulator, Instance, Traffic, Workdir, now_ms};

/// Products with little stock, (slug, option value, stock) as the catalogue seeds them.
pub const SCARCE: &[(&str, &str, i64)] = &[
    ("last-print", "", 1),
    ("brass-pen", "", 3),
    ("clay-cup", "", 5),
    ("tin-box", "", 4),
    ("wool-socks", "S", 2),
    ("wool-socks", "M", 3),
];
pub const PLENTY: &[&str] = &["field-notebook", "pattern-book"];

/// How long the killer waits for its moment before giving up on it (a small run may never
/// reach it).
const KILL_PATIENCE: Duration = Duration::from_secs(120);

/// The run's shared state.
pub struct Run {
    pub seed: u64,
    pub purchases: usize,
    pub emu: Arc<Emulator>,
    pub journal: actors::Shared,
    pub started: Instant,
    /// Purchases finished (however they ended).
    pub finished: AtomicUsize,
    pub refunds_started: AtomicUsize,
    /// Set when shoppers and admins are done: the injector stops.
    pub done: AtomicBool,
}

/// One purchase's plan: what goes in the cart, whether the cart changes mid-checkout, how the
/// shopper pays.
pub fn plan(n: usize, rng: &mut rand::rngs::StdRng) -> Plan {
    let line = |rng: &mut rand::rngs::StdRng| {
        if rng.random_bool(0.55) {
            let (slug, option, _) = SCARCE[rng.random_range(0..SCARCE.len())];
            let which = usize::from(option == "M");
            (slug, which, rng.random_range(1..=2))
        } else {
            (
                PLENTY[rng.random_range(0..PLENTY.len())],
                0,
                rng.random_range(1..=3),
            )
        }
    };
    let lines = (0..rng.random_range(1..=2)).map(|_| line(rng)).collect();
    let change = rng.random_bool(0.1).then(|| line(rng));
    Plan {
        n,
        lines,
        change,
        payment: Payment::pick(rng),
        pay_old: rng.random_bool(0.5),
        promo: rng.random_bool(0.2),
    }
}

/// One fault: API faults on the calls that create things (an error, a slow answer, an answer
/// lost after the object was made), the reconcile job's listing failing, webhook trouble.
fn fault(rng: &mut rand::rngs::StdRng) -> (&'static str, Vec<(&'static str, String)>) {
    let path = match rng.random_range(0..10) {
        0..6 => "/v1/checkout/sessions",
        6..9 => "/v1/refunds",
        _ => "/v1/customers",
    };
    let api = |path: &str, method: &str, kind: (&'static str, String)| {
        (
            "_emulator/faults",
            vec![
                ("path", path.to_owned()),
                ("method", method.to_owned()),
                kind,
            ],
        )
    };
    let webhooks =
        |key: &'static str, value: &str| ("_emulator/webhooks", vec![(key, value.to_owned())]);
    match rng.random_range(0..13) {
        0 | 1 => api(path, "POST", ("status", "500".into())),
        2 | 3 => api(path, "POST", ("status", "429".into())),
        // Longer than the shops' STRIPE_TIMEOUT: made at Stripe, the answer lost.
        4 | 5 => api(path, "POST", ("stall_after_ms", "6000".into())),
        6 => api(path, "POST", ("stall_ms", "1200".into())),
        7 => api("/v1/events", "GET", ("status", "500".into())),
        8 => webhooks("duplicate", "4"),
        9 => webhooks("reverse", "true"),
        10 => webhooks("reverse", "false"),
        11 => webhooks("drop", "2"),
        _ => webhooks("hold", "true"),
    }
}

/// Faults every few hundred milliseconds until the run is done, and once, mid-run, a webhook
/// outage (25 events made and never delivered) that only the reconcile job can make up for.
/// Returns how many faults it set.
pub async fn inject_faults(run: Arc<Run>) -> usize {
    let mut rng = rand::rngs::StdRng::seed_from_u64(run.seed ^ 0xfa);
    let (mut injected, mut outage) = (0, false);
    while !run.done.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..600))).await;
        if !outage && run.finished.load(Ordering::Relaxed) * 2 >= run.purchases {
            outage = true;
            run.emu.post("_emulator/webhooks", &[("drop", "25")]).await;
            injected += 1;
            continue;
        }
        let (path, form) = fault(&mut rng);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run.emu.post(path, &form).await;
        injected += 1;
        if rng.random_bool(0.3) {
            run.emu.post("_emulator/webhooks/release", &[]).await;
            run.emu
                .post("_emulator/webhooks", &[("hold", "false")])
                .await;
        }
    }
    injected
}

/// SIGKILLs instance 0 while it handles a webhook (a third of the purchases in) and instance 1
/// while it handles a refund (once refunds are under way), restarting each; the kill times go
/// into the balancer's record. Returns what it killed.
pub async fn kill_each_once(
    run: Arc<Run>,
    instances: Arc<Mutex<[Instance; 2]>>,
    traffic: Arc<Mutex<Traffic>>,
    work: Arc<Workdir>,
) -> Vec<String> {
    let mut kills = Vec::new();
    for (victim, kind) in [(0usize, "fulfilment"), (1usize, "refund")] {
        let waiting = Instant::now();
        let ready = || match victim {
            0 => run.finished.load(Ordering::Relaxed) * 100 >= run.purchases * 35,
            _ => run.refunds_started.load(Ordering::Relaxed) >= 8,
        };
        while !ready() && waiting.elapsed() < KILL_PATIENCE {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !ready() {
            kills.push(format!("none during {kind} (never got there)"));
            continue;
        }
        // Wait (a little) for the moment it is doing that work.
        let busy = |t: &Traffic| match victim {
            0 => t.in_flight[0].0 > 0,
            _ => t.in_flight[1].1 > 0,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !busy(&traffic.lock().unwrap()) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let in_flight = {
            let mut t = traffic.lock().unwrap();
            t.kills.push((victim, now_ms()));
            t.in_flight[victim]
        };
        let mut instance = {
            let mut all = instances.lock().unwrap();
            all[victim].kill();
            all[victim].take()
        };
        println!(
            "chaos: SIGKILL {} during {kind} (in flight: {} webhooks, {} refunds) at {:.1}s",
            instance.name,
            in_flight.0,
            in_flight.1,
            run.started.elapsed().as_secs_f64()
        );
        kills.push(format!("{} during {kind}", instance.name));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        instance.start(&work).await;
        instances.lock().unwrap()[victim] = instance;
    }
    kills
}

/// Stock arrives while shoppers buy (the audit trail's changes are part of the stock equation).
pub async fn deliver_stock(run: Arc<Run>, admin: Browser) {
    for round in 0..3u64 {
        tokio::time::sleep(Duration::from_millis(4000 + 3000 * round)).await;
        let res = admin
            .submit(
                "/admin/products/tin-box",
                "/admin/products/tin-box/stock",
                &[
                    ("mode", "adjust"),
                    ("quantity", "2"),
                    ("reason", "a delivery came in"),
                ],
            )
            .await;
        match res {
            Some((303, _, _)) => actors::count(&run.journal, "stock delivered by an admin"),
            Some((502 | 503, _, _)) => actors::count(&run.journal, "stock form 502/503"),
            other => actors::problem(&run.journal, format!("stock form: {other:?}")),
        }
    }
}

/// Two admins refund paid orders as they come in (45 orders at most), both on the same order
/// at once. Returns how many orders they raced on.
pub async fn refund_paid_orders(run: Arc<Run>, admins: [Browser; 2], db_url: String) -> usize {
    use storefront::schema::orders;
    let mut rng = rand::rngs::StdRng::seed_from_u64(run.seed ^ 0x4e);
    // Queried on a blocking thread: the shoppers' tasks share this runtime.
    let conn = Arc::new(Mutex::new(
        diesel::PgConnection::establish(&db_url).unwrap(),
    ));
    while run.finished.load(Ordering::Relaxed) * 100 < run.purchases * 20 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut chosen = std::collections::BTreeSet::new();
    let mut races = Vec::new();
    while races.len() < 45 {
        let all_bought = run.finished.load(Ordering::Relaxed) >= run.purchases;
        let conn = conn.clone();
        let paid = actix_web::web::block(move || {
            orders::table
                .filter(orders::status.eq("paid"))
                .filter(orders::invoice_id.is_null())
                .select(orders::number)
                .load::<String>(&mut *conn.lock().unwrap())
                .unwrap_or_default()
        })
        .await
        .unwrap();
        let fresh: Vec<String> = paid.into_iter().filter(|n| !chosen.contains(n)).collect();
        if fresh.is_empty() {
            if all_bought {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        }
        let number = fresh[rng.random_range(0..fresh.len())].clone();
        chosen.insert(number.clone());
        run.refunds_started.fetch_add(1, Ordering::Relaxed);
        races.push(actix_web::rt::spawn(actors::refund_race(
            number,
            admins.clone(),
            actors::refund_moves(&mut rng),
            run.journal.clone(),
        )));
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..400))).await;
    }
    let n = races.len();
    for r in races {
        r.await.unwrap();
    }
    n
}
