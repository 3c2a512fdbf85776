//! Several `recourse serve` processes behind a load balancer share one
//! PostgreSQL: sessions and idempotency records live in the store, so any
//! instance accepts any token and a retry that lands on another instance
//! still moves money once.

mod common;

use common::{StoreKind, TestApp};
use futures::future::join_all;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_share_sessions_and_idempotency() {
    let Some(first) = common::spawn_app(StoreKind::Postgres).await else { return };
    let second_store = common::open_store(StoreKind::Postgres, None, Some(first.pg())).await;
    let (second_base, _, stop_second) = common::serve_on(second_store.clone(), recourse_service::config::ServiceConfig::for_tests()).await;

    let alice = first.customer(true, 10_000).await;
    let bob = first.customer(true, 0).await;
    // A token issued by the first instance works on the second.
    let me = first.client.get(format!("{second_base}/v1/me")).bearer_auth(&alice.token).send().await.unwrap();
    assert_eq!(me.status(), 200);

    // The same request with the same key, sent to both instances at once, 16 times each.
    let send = |base: String| {
        let client = first.client.clone();
        let token = alice.token.clone();
        let payee = bob.id.clone();
        async move {
            let reply = client.post(format!("{base}/v1/transfers")).bearer_auth(token).header("idempotency-key", "shared-key")
                .json(&json!({"payee_id": payee, "amount": 2_500})).send().await.unwrap();
            assert_eq!(reply.status(), 201);
            reply.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
        }
    };
    let requests = (0..32).map(|i| send(if i % 2 == 0 { first.base.clone() } else { second_base.clone() }));
    let ids: std::collections::HashSet<String> = join_all(requests).await.into_iter().collect();
    assert_eq!(ids.len(), 1, "one transfer, whichever instance answered");
    assert_eq!(first.available(&alice).await, 7_500);
    assert_eq!(first.available(&bob).await, 2_500);

    // A logout on one instance ends the session on both.
    let logout = first.client.delete(format!("{second_base}/v1/sessions/current")).bearer_auth(&alice.token).send().await.unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(first.get("/v1/me", &alice.token).await.status, 401);

    let _ = stop_second.send(());
    drop(second_store);
    TestApp::finish(first).await;
}
