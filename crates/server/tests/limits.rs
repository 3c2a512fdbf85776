//! Abuse limits and retention over HTTP, on both stores, with the limits
//! enforced (the other tests observe them): per-address login and
//! registration rates (and `trusted_proxies`), the lookup budget (always
//! enforced, never charged for a replay), transfer velocity, all exact
//! under concurrency; `observe` mode; retention of sessions, idempotency
//! records and avatars; `/healthz` on a full disk. Each test ends with a
//! ledger audit.

mod common;

use common::{StoreKind, TestApp};
use recourse_service::config::{Limits, RateLimits, ServiceConfig};
use serde_json::json;

/// A server on a fresh store of `kind` with the limits enforced and shaped by `shape`.
async fn enforcing(kind: StoreKind, shape: impl FnOnce(&mut Limits)) -> TestApp {
    let mut config = ServiceConfig::for_tests();
    config.limits.rate_limits = RateLimits::Enforce;
    shape(&mut config.limits);
    common::spawn_app_with(kind, config).await.expect("the store of the outer test")
}

fn retry_after(reply: &common::Reply) -> i64 {
    let header: i64 = reply.headers.get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert_eq!(reply.body["retry_after_seconds"].as_i64(), Some(header), "{}", reply.body);
    header
}

async fn login_status(app: &TestApp, phone: &str, forwarded: Option<&str>) -> common::Reply {
    let mut request = app.client.post(format!("{}/v1/sessions", app.base)).json(&json!({"phone": phone, "password": common::PASSWORD}));
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap();
    assert!(status.as_u16() < 500, "{body}");
    common::Reply { status, body, headers }
}

async fn preview_phone(app: &TestApp, token: &str, phone: &str) -> common::Reply {
    app.get(&format!("/v1/payees/preview?phone={phone}"), token).await
}

both_stores! {
    async fn logins_from_one_address_are_limited_and_a_trusted_proxy_tells_addresses_apart(app) {
        let kind = app.kind;
        let app = enforcing(kind, |limits| limits.logins_per_address_per_minute = 5).await;
        let phone = common::unique_phone();
        app.register(&phone, "常客").await;
        for n in 0..5 {
            assert_eq!(login_status(&app, &phone, None).await.status, 200, "login {n}");
        }
        let refused = login_status(&app, &phone, None).await;
        assert_eq!((refused.status.as_u16(), refused.code()), (429, "rate-limited"));
        assert_eq!(retry_after(&refused), 12, "one login comes back every 12 s at 5 a minute");
        // Without a trusted proxy, X-Forwarded-For is the client's own text: ignored.
        assert_eq!(login_status(&app, &phone, Some("198.51.100.7")).await.status, 429);
        app.advance_clock(12).await;
        assert_eq!(login_status(&app, &phone, None).await.status, 200);
        app.finish().await;

        let app = enforcing(kind, |limits| {
            limits.logins_per_address_per_minute = 2;
            limits.trusted_proxies = vec!["127.0.0.0/8".into()];
        })
        .await;
        app.register(&phone, "常客").await;
        for _ in 0..2 {
            assert_eq!(login_status(&app, &phone, Some("203.0.113.1")).await.status, 200);
        }
        assert_eq!(login_status(&app, &phone, Some("203.0.113.1")).await.status, 429);
        // What a client wrote before the proxy's entry is not believed.
        assert_eq!(login_status(&app, &phone, Some("203.0.113.99, 203.0.113.1")).await.status, 429);
        // Another client behind the same proxy has its own count.
        assert_eq!(login_status(&app, &phone, Some("203.0.113.2")).await.status, 200);
        app.finish().await;
    }

    async fn registrations_from_one_address_are_limited_and_taken_numbers_spend_the_lookup_budget(app) {
        let kind = app.kind;
        let app = enforcing(kind, |limits| {
            limits.registrations_per_address_per_hour = 4;
            limits.lookup_budget_tokens = 20;
            limits.lookup_cost_found = 10;
        })
        .await;
        let taken = common::unique_phone();
        app.register(&taken, "先来").await;
        // Meeting a taken number twice spends the address's budget (2 × 10) …
        for _ in 0..2 {
            let reply = app.post("/v1/users", None, json!({"phone": taken, "password": common::PASSWORD, "nickname": "后到"})).await;
            assert_eq!(reply.code(), "phone-taken");
        }
        // … after which the answer no longer tells whether it is taken.
        let spent = app.post("/v1/users", None, json!({"phone": taken, "password": common::PASSWORD, "nickname": "后到"})).await;
        assert_eq!((spent.status.as_u16(), spent.code()), (429, "lookup-budget-exhausted"));
        retry_after(&spent);
        // The fifth registration of the hour from this address is refused before anything else.
        let fifth = app.post("/v1/users", None, json!({"phone": common::unique_phone(), "password": common::PASSWORD, "nickname": "第五"})).await;
        assert_eq!((fifth.status.as_u16(), fifth.code()), (429, "rate-limited"));
        assert_eq!(retry_after(&fifth), 900, "one registration comes back every 15 min at 4 an hour");
        app.finish().await;
    }

    async fn the_lookup_budget_holds_in_observe_mode_too_and_replays_are_free(app) {
        // The ordinary test app observes the capacity limits: the budget still holds.
        assert_eq!(app.request(reqwest::Method::GET, "/healthz", None, None, None).await.body["rate_limits"], "observe");
        let kind = app.kind;
        let mut config = ServiceConfig::for_tests();
        (config.limits.lookup_budget_tokens, config.limits.lookup_budget_refill_per_minute) = (100, 20);
        let app = common::spawn_app_with(kind, config).await.unwrap();
        let payer = app.customer(true, 10_000).await;
        let payee = app.customer(true, 0).await;
        // A transfer to a phone number: one token (99 left).
        let by_phone = json!({"payee_phone": payee.phone, "amount": 100});
        assert_eq!(app.post_idem("/v1/transfers", &payer.token, "pay-1", by_phone.clone()).await.status, 201);
        // Its retries replay, and cost nothing.
        for _ in 0..10 {
            assert_eq!(app.post_idem("/v1/transfers", &payer.token, "pay-1", by_phone.clone()).await.status, 201);
        }
        // Four missing numbers (80 tokens, 19 left), then a fifth is refused …
        for n in 0..4 {
            assert_eq!(preview_phone(&app, &payer.token, &common::unique_phone()).await.status, 404, "missing number {n}");
        }
        let refused = preview_phone(&app, &payer.token, &common::unique_phone()).await;
        assert_eq!((refused.status.as_u16(), refused.code()), (429, "lookup-budget-exhausted"));
        assert_eq!(retry_after(&refused), 3, "one token short: 3 s at 20 a minute");
        // … while 19 lookups of existing accounts still pass, and the 20th not.
        for n in 0..19 {
            assert_eq!(preview_phone(&app, &payer.token, &payee.phone).await.status, 200, "lookup {n}");
        }
        let check = app.post("/v1/payee-checks", Some(&payer.token), json!({"payee_phone": payee.phone, "name": "王小明"})).await;
        assert_eq!(check.code(), "lookup-budget-exhausted");
        let transfer = app.post_idem("/v1/transfers", &payer.token, "pay-2", by_phone.clone()).await;
        assert_eq!(transfer.code(), "lookup-budget-exhausted");
        // A replay is answered even now.
        assert_eq!(app.post_idem("/v1/transfers", &payer.token, "pay-1", by_phone.clone()).await.status, 201);
        // By id, nothing is looked up by number: paying goes on.
        assert_eq!(app.post_idem("/v1/transfers", &payer.token, "pay-3", json!({"payee_id": payee.id, "amount": 100})).await.status, 201);
        // A minute later twenty tokens are back.
        app.advance_clock(60).await;
        assert_eq!(preview_phone(&app, &payer.token, &common::unique_phone()).await.status, 404);
        assert_eq!(preview_phone(&app, &payer.token, &payee.phone).await.code(), "lookup-budget-exhausted");
        // Another customer has a budget of their own.
        let other = app.customer(false, 0).await;
        assert_eq!(preview_phone(&app, &other.token, &payee.phone).await.status, 200);
        app.finish().await;
    }

    async fn parallel_lookups_and_transfers_get_exactly_their_limits(app) {
        let kind = app.kind;
        let app = enforcing(kind, |limits| {
            (limits.lookup_budget_tokens, limits.lookup_cost_missing) = (100, 20);
            limits.transfers_per_minute_max = 7;
        })
        .await;
        let payer = app.customer(true, 100_000).await;
        let payee = app.customer(true, 0).await;
        let lookups = (0..25).map(|_| {
            let (http, token) = (app.http.clone(), payer.token.clone());
            tokio::spawn(async move { http.get(&format!("/v1/payees/preview?phone={}", common::unique_phone()), &token).await.status.as_u16() })
        });
        let statuses: Vec<u16> = futures_join(lookups).await;
        assert_eq!(statuses.iter().filter(|s| **s == 404).count(), 5, "100 tokens buy exactly 5 missing numbers: {statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 20);

        let transfers = (0..30).map(|n| {
            let (http, token, payee) = (app.http.clone(), payer.token.clone(), payee.id.clone());
            tokio::spawn(async move {
                let reply = http.post_idem("/v1/transfers", &token, &format!("burst-{n}"), json!({"payee_id": payee, "amount": 1})).await;
                if reply.status == 429 {
                    assert_eq!(reply.code(), "rate-limited");
                    retry_after(&reply);
                }
                reply.status.as_u16()
            })
        });
        let statuses: Vec<u16> = futures_join(transfers).await;
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 7, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 23, "{statuses:?}");
        // A created transfer's retry replays, limit or not.
        let created = statuses.iter().position(|s| *s == 201).unwrap();
        let replay = app.post_idem("/v1/transfers", &payer.token, &format!("burst-{created}"), json!({"payee_id": payee.id, "amount": 1})).await;
        assert_eq!(replay.status, 201, "{}", replay.body);
        assert_eq!(app.balance(&payee).await.0, 7);
        app.finish().await;
    }

    async fn observe_mode_counts_capacity_limits_without_enforcing_them(app) {
        let kind = app.kind;
        let mut config = ServiceConfig::for_tests();
        (config.limits.transfers_per_minute_max, config.limits.logins_per_address_per_minute) = (2, 2);
        assert_eq!(config.limits.rate_limits, RateLimits::Observe);
        let app = common::spawn_app_with(kind, config).await.unwrap();
        let payer = app.customer(true, 10_000).await;
        let payee = app.customer(true, 0).await;
        for n in 0..5 {
            assert_eq!(app.transfer(&payer, &payee, 1, &format!("k{n}")).await.status, 201);
            app.login(&payer.phone).await;
        }
        let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
        for limit in ["logins_per_address", "transfer_velocity"] {
            assert!(metrics.lines().any(|l| l.starts_with("recourse_rate_limits_observed_total") && l.contains(limit) && !l.ends_with(" 0")), "{limit}: {metrics}");
        }
        app.finish().await;
    }

    async fn retention_prunes_sessions_idempotency_records_and_old_avatars(app) {
        let kind = app.kind;
        let mut config = ServiceConfig::for_tests();
        config.limits.session_ttl_seconds = 3600;
        config.limits.idempotency_replay_window_seconds = 2 * 24 * 3600;
        config.limits.avatars_kept = 2;
        config.limits.profile_changes_per_day = 100;
        let app = common::spawn_app_with(kind, config).await.unwrap();
        let payer = app.customer(true, 10_000).await;
        let payee = app.customer(true, 0).await;
        let first = app.transfer(&payer, &payee, 100, "once").await;
        assert_eq!(first.status, 201);
        let mut avatars = Vec::new();
        for seed in 0..4 {
            let response = app.client.put(format!("{}/v1/me/avatar", app.base)).bearer_auth(&payer.token).body(common::picture(seed, 64)).send().await.unwrap();
            assert!(response.status().is_success(), "{}", response.text().await.unwrap());
            avatars.push(app.get("/v1/me", &payer.token).await.body["avatar_url"].as_str().unwrap().to_owned());
        }
        // Most of a day later: nothing is due yet but the session.
        let moved = app.advance_clock(23 * 3600).await;
        assert!(moved.body["pruned"]["sessions"].as_u64().unwrap() >= 2, "the sessions of an hour: {}", moved.body);
        assert_eq!((moved.body["pruned"]["avatars"].as_u64(), moved.body["pruned"]["idempotency_records"].as_u64()), (Some(0), Some(0)));
        let token = app.login(&payer.phone).await;
        assert_eq!(app.get(&avatars[0], &token).await.status, 200, "avatars from the last day are all kept");
        assert_eq!(app.post_idem("/v1/transfers", &token, "once", json!({"payee_id": payee.id, "amount": 100})).await.body["id"], first.body["id"], "inside the replay window");
        // Two days later: the old session, the old key and the oldest avatars are gone.
        let moved = app.advance_clock(2 * 24 * 3600).await;
        let pruned = &moved.body["pruned"];
        assert_eq!(pruned["avatars"], 2, "{moved:?}", moved = moved.body);
        assert_eq!(pruned["sessions"], 1, "the session opened after the first move: {pruned}");
        assert!(pruned["idempotency_records"].as_u64().unwrap() >= 1, "{pruned}");
        assert_eq!(app.state.prune().await.unwrap().total(), 0, "the clock's move already ran retention");
        assert_eq!(app.get("/v1/me", &payer.token).await.status, 401);
        let token = app.login(&payer.phone).await;
        for (n, url) in avatars.iter().enumerate() {
            let expected = if n >= 2 { 200 } else { 404 };
            assert_eq!(app.get(url, &token).await.status, expected, "avatar {n}");
        }
        let again = app.post_idem("/v1/transfers", &token, "once", json!({"payee_id": payee.id, "amount": 100})).await;
        assert_eq!(again.status, 201, "past the replay window the key starts a new transfer: {}", again.body);
        assert_ne!(again.body["id"], first.body["id"]);
        app.finish().await;
    }

    async fn healthz_says_which_mode_and_when_the_disk_is_full(app) {
        let health = app.request(reqwest::Method::GET, "/healthz", None, None, None).await;
        assert_eq!(health.status, 200);
        assert_eq!(health.body["rate_limits"], "observe");
        let kind = app.kind;
        let full = enforcing(kind, |limits| limits.disk_free_min_bytes = u64::MAX).await;
        let response = full.client.get(format!("{}/healthz", full.base)).send().await.unwrap();
        let status = response.status();
        let health: serde_json::Value = response.json().await.unwrap();
        match kind {
            StoreKind::Sqlite => {
                assert_eq!((status.as_u16(), health["code"].as_str()), (503, Some("disk-full")), "{health}");
                assert!(health["disk_free_bytes"].as_u64().is_some());
            }
            // PostgreSQL's disk is the database server's to watch.
            StoreKind::Postgres => {
                assert_eq!(status, 200);
                assert_eq!(health["rate_limits"], "enforce");
            }
        }
        full.finish().await;
    }
}

async fn futures_join<T: std::fmt::Debug + Send + 'static>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.unwrap());
    }
    out
}
