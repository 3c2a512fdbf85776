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

/// A COMMIT that fails leaves the client not knowing whether the transfer
/// happened: 503 `outcome-unknown`, and a retry with the same key settles it
/// exactly once. (A deferred constraint trigger makes PostgreSQL refuse the
/// COMMIT itself, as a lost connection or a full disk would.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_is_an_unknown_outcome_that_a_retry_settles_once() {
    let Some(app) = common::spawn_app(common::StoreKind::Postgres).await else { return };
    let alice = app.customer(true, 10_000).await;
    let bob = app.customer(true, 0).await;
    let url = app.pg().url.clone();
    let sql = |statement: &'static str| {
        let url = url.clone();
        async move { tokio::task::spawn_blocking(move || postgres::Client::connect(&url, postgres::NoTls).unwrap().batch_execute(statement).unwrap()).await.unwrap() }
    };
    sql("CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.key = 'doomed' THEN RAISE EXCEPTION 'refused at commit'; END IF; RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON idempotency DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_at_commit();").await;
    let send = || app.client.post(format!("{}/v1/transfers", app.base)).bearer_auth(&alice.token).header("idempotency-key", "doomed").json(&json!({"payee_id": bob.id, "amount": 700})).send();
    let failed = send().await.unwrap();
    assert_eq!(failed.status(), 503);
    assert_eq!(failed.headers()["retry-after"], "1");
    let problem: serde_json::Value = failed.json().await.unwrap();
    assert_eq!(problem["code"], "outcome-unknown", "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("same Idempotency-Key"));
    sql("DROP TRIGGER fail_at_commit ON idempotency").await;
    let retried = send().await.unwrap();
    assert_eq!(retried.status(), 201);
    let first: serde_json::Value = retried.json().await.unwrap();
    let again: serde_json::Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(again["id"], first["id"], "a replay of the same transfer");
    assert_eq!((app.available(&alice).await, app.available(&bob).await), (9_300, 700), "moved exactly once");
    app.finish().await;
}
