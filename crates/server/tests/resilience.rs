//! The service rides out a PostgreSQL restart: every connection is cut, the
//! next requests get 503 (never 500, never a half-done operation), and the
//! service reconnects by itself.

mod common;

use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_postgres_connections_are_replaced() {
    let Some(app) = common::spawn_app(common::StoreKind::Postgres).await else { return };
    let alice = app.customer(true, 10_000).await;
    let bob = app.customer(true, 0).await;
    assert_eq!(app.transfer(&alice, &bob, 100, "before").await.status, 201);

    let (admin, database) = (app.pg().admin_url.clone(), app.pg().name.clone());
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        client
            .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", &[&database])
            .unwrap();
    })
    .await
    .unwrap();

    // Each cut connection may fail one request with 503 before it is replaced.
    let mut recovered = false;
    for attempt in 0..40 {
        let key = format!("after-{attempt}");
        let reply = app.client.post(format!("{}/v1/transfers", app.base)).bearer_auth(&alice.token).header("idempotency-key", &key)
            .json(&json!({"payee_id": bob.id, "amount": 100})).send().await.unwrap();
        match reply.status().as_u16() {
            201 => {
                recovered = true;
                break;
            }
            503 => assert_eq!(reply.headers()["content-type"], "application/problem+json"),
            other => panic!("a cut connection must answer 503, not {other}: {}", reply.text().await.unwrap_or_default()),
        }
    }
    assert!(recovered, "the service reconnected");
    for _ in 0..20 {
        let me = app.client.get(format!("{}/v1/me", app.base)).bearer_auth(&bob.token).send().await.unwrap();
        assert!(me.status() == 200 || me.status() == 503, "{}", me.status());
    }
    assert_eq!(app.available(&bob).await, 200);
    app.finish().await;
}
