//! The durable scheduler: due times live in the store, so transfers in
//! flight survive a restart and arrive (or expire) exactly once when the
//! service comes back, and several instances on one PostgreSQL share the
//! work without ever settling a transfer twice.

mod common;

use std::time::Duration;

use common::{StoreKind, TestApp};
use futures::future::join_all;
use recourse_service::config::ServiceConfig;
use recourse_service::scheduler;
use serde_json::{Value, json};

const HOUR: i64 = 3600;

/// Wait (bounded) until the background scheduler has moved `id` on.
async fn await_status(base: &str, token: &str, id: &str, wanted: &str) -> Value {
    let client = reqwest::Client::new();
    for _ in 0..500 {
        let body: Value = client.get(format!("{base}/v1/transfers/{id}")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
        if body["status"] == wanted {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("transfer {id} never became {wanted}");
}

fn fast_scheduler() -> ServiceConfig {
    ServiceConfig { scheduler_interval_ms: 10, ..ServiceConfig::for_tests() }
}

async fn pending_transfers_survive_a_restart(kind: StoreKind) {
    let dir = tempfile::tempdir().unwrap();
    let pg = match kind {
        StoreKind::Sqlite => None,
        StoreKind::Postgres => match common::PgScratch::create().await {
            Some(pg) => Some(pg),
            None => return,
        },
    };
    // Before: a delayed transfer and one awaiting acceptance, then the service stops.
    let store = common::open_store(kind, Some(&dir), pg.as_ref()).await;
    let (base, state, stop) = common::serve_on(store.clone(), ServiceConfig::for_tests()).await;
    let app = common::TestClient::new(&base);
    let alice = app.customer(true, 10_000).await;
    let bob = app.customer(true, 0).await;
    let delayed = app.send(&alice, &bob, 1_500, "r1", json!({"arrival": "2h"})).await.body["id"].as_str().unwrap().to_owned();
    let asking = app.send(&alice, &bob, 2_500, "r2", json!({"acceptance": "required"})).await.body["id"].as_str().unwrap().to_owned();
    let _ = stop.send(());
    drop(state);
    drop(store);

    // Downtime: a day passes (on the shared test clock, which is in the store).
    let store = common::open_store(kind, Some(&dir), pg.as_ref()).await;
    store.advance_clock_offset(25 * HOUR * 1_000_000).await.unwrap();
    drop(store);

    // After: a fresh process. Its scheduler's first round runs what is overdue.
    let store = common::open_store(kind, Some(&dir), pg.as_ref()).await;
    let (base, state, stop) = common::serve_on(store.clone(), fast_scheduler()).await;
    let (stop_scheduler, stopping) = tokio::sync::watch::channel(false);
    let running = scheduler::spawn(state.service.clone(), stopping);
    let app = app.at(&base);
    let arrived = await_status(&base, &alice.token, &delayed, "completed").await;
    let expired = await_status(&base, &alice.token, &asking, "expired_refunded").await;
    for (body, event) in [(&arrived, "arrive"), (&expired, "expire")] {
        let history = body["history"].as_array().unwrap();
        assert_eq!(history.len(), 2, "exactly once: {body}");
        assert_eq!((history[1]["event"].as_str(), history[1]["actor"].as_str()), (Some(event), Some("system")));
    }
    assert_eq!(app.balance(&alice).await, (8_500, 0, 8_500));
    assert_eq!(app.balance(&bob).await, (1_500, 0, 1_500));
    // Nothing is left to run, however often the scheduler looks.
    assert_eq!(scheduler::run_due(&state.service).await.unwrap(), 0);
    // SIGTERM's path: the scheduler stops when told.
    stop_scheduler.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running).await.expect("the scheduler stops").unwrap();
    common::assert_ledger_sound(&store).await;
    let _ = stop.send(());
    drop(state);
    drop(store);
    if let Some(pg) = pg {
        pg.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_transfers_survive_a_restart_on_sqlite() {
    pending_transfers_survive_a_restart(StoreKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_transfers_survive_a_restart_on_postgres() {
    pending_transfers_survive_a_restart(StoreKind::Postgres).await;
}

/// Two instances on one PostgreSQL, each with its own scheduler running
/// every 10 ms, and a third runner (the test clock's own round): every
/// arrival happens exactly once, and both instances agree on the time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_share_the_scheduler() {
    let Some(first) = common::spawn_app_with(StoreKind::Postgres, fast_scheduler()).await else { return };
    let second_store = common::open_store(StoreKind::Postgres, None, Some(first.pg())).await;
    let (second_base, second_state, stop_second) = common::serve_on(second_store.clone(), fast_scheduler()).await;
    let (stop_schedulers, stopping) = tokio::sync::watch::channel(false);
    let schedulers = [scheduler::spawn(first.state.service.clone(), stopping.clone()), scheduler::spawn(second_state.service.clone(), stopping)];

    let payers = join_all((0..4).map(|_| first.customer(true, 100_000))).await;
    let bob = first.customer(true, 0).await;
    let sends = (0..40).map(|i| first.send(&payers[i % 4], &bob, 100 + i as i64, Box::leak(format!("s{i}").into_boxed_str()), json!({"arrival": "2h"})));
    let ids: Vec<String> = join_all(sends).await.iter().map(|r| {
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }).collect();
    let expected: i64 = (0..40).map(|i| 100 + i).sum();

    // The clock moves on the second instance; the first sees it too.
    let moved = first.client.post(format!("{second_base}/v1/test/clock")).json(&json!({"advance_seconds": 2 * HOUR})).send().await.unwrap();
    assert_eq!(moved.status(), 200);
    let now_on_second: jiff::Timestamp = moved.json::<Value>().await.unwrap()["now"].as_str().unwrap().parse().unwrap();
    for id in &ids {
        let body = first.get(&format!("/v1/transfers/{id}"), &bob.token).await.body;
        assert_eq!(body["status"], "completed", "{body}");
        assert_eq!(body["history"].as_array().unwrap().len(), 2, "settled exactly once: {body}");
    }
    assert_eq!(first.balance(&bob).await, (expected, 0, expected));
    let later = first.send(&payers[0], &bob, 1, "after", json!({})).await;
    let created_on_first: jiff::Timestamp = later.body["created_at"].as_str().unwrap().parse().unwrap();
    assert!(created_on_first >= now_on_second, "the first instance's clock moved with the store's: {created_on_first} < {now_on_second}");

    stop_schedulers.send(true).unwrap();
    for running in schedulers {
        tokio::time::timeout(Duration::from_secs(5), running).await.expect("the scheduler stops").unwrap();
    }
    let _ = stop_second.send(());
    drop(second_state);
    drop(second_store);
    TestApp::finish(first).await;
}
