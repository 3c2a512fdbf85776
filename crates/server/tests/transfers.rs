//! Top-ups, withdrawals and transfers: the money path, its refusals, its
//! idempotency, and its behaviour under concurrency.

mod common;

use futures::future::join_all;

use serde_json::json;

both_stores! {
    async fn topup_transfer_withdraw_moves_exact_fen(app) {
        let alice = app.customer(true, 10_000).await;
        let bob = app.customer(true, 0).await;
        assert_eq!(app.available(&alice).await, 10_000);

        let sent = app.post_idem("/v1/transfers", &alice.token, "t-1", json!({"payee_phone": bob.phone, "amount": 2_501, "note": " 午饭 "})).await;
        assert_eq!(sent.status, 201, "{}", sent.body);
        assert_eq!(sent.body["status"], "completed");
        assert_eq!(sent.body["amount"], 2_501);
        assert_eq!(sent.body["currency"], "CNY");
        assert_eq!(sent.body["note"], "午饭");
        assert_eq!(sent.body["direction"], "sent");
        assert_eq!(sent.body["history"][0]["status"], "completed");
        assert_eq!(sent.body["checks"]["payee_masked_name_shown"], "**明");
        assert_eq!(app.available(&alice).await, 7_499);
        assert_eq!(app.available(&bob).await, 2_501);

        let id = sent.body["id"].as_str().unwrap();
        let seen_by_payee = app.get(&format!("/v1/transfers/{id}"), &bob.token).await;
        assert_eq!(seen_by_payee.status, 200);
        assert_eq!(seen_by_payee.body["direction"], "received");
        let stranger = app.customer(false, 0).await;
        let hidden = app.get(&format!("/v1/transfers/{id}"), &stranger.token).await;
        assert_eq!((hidden.status.as_u16(), hidden.code()), (404, "not-found"));
        let malformed = app.get("/v1/transfers/xyz", &bob.token).await;
        assert_eq!(malformed.status, 404);

        let by_id = app.post_idem("/v1/transfers", &bob.token, "t-2", json!({"payee_id": alice.id, "amount": 1})).await;
        assert_eq!(by_id.status, 201);

        let out = app.post_idem("/v1/me/withdrawals", &bob.token, "w-1", json!({"card_id": bob.card_id, "amount": 2_000})).await;
        assert_eq!(out.status, 201, "{}", out.body);
        assert_eq!(out.body["kind"], "withdrawal");
        assert_eq!(app.available(&bob).await, 500);
        let too_much = app.post_idem("/v1/me/withdrawals", &bob.token, "w-2", json!({"card_id": bob.card_id, "amount": 501})).await;
        assert_eq!((too_much.status.as_u16(), too_much.code()), (422, "insufficient-funds"));
        assert_eq!(too_much.body["available"], 500);
        assert_eq!(app.available(&bob).await, 500);
    }

    async fn unverified_customers_receive_but_never_send(app) {
        let payer = app.customer(true, 5_000).await;
        let newcomer = app.customer(false, 0).await;
        let received = app.transfer(&payer, &newcomer, 1_000, "k").await;
        assert_eq!(received.status, 201);
        assert_eq!(app.available(&newcomer).await, 1_000);
        let send = app.transfer(&newcomer, &payer, 1, "k").await;
        assert_eq!((send.status.as_u16(), send.code()), (403, "verification-required"));
        let fake_card = uuid::Uuid::now_v7().to_string();
        let topup = app.post_idem("/v1/me/topups", &newcomer.token, "k", json!({"card_id": fake_card, "amount": 100})).await;
        assert_eq!((topup.status.as_u16(), topup.code()), (403, "verification-required"));
        let withdraw = app.post_idem("/v1/me/withdrawals", &newcomer.token, "k2", json!({"card_id": fake_card, "amount": 100})).await;
        assert_eq!((withdraw.status.as_u16(), withdraw.code()), (403, "verification-required"));
        assert_eq!(app.available(&newcomer).await, 1_000);
    }

    async fn bad_money_requests_get_clear_problems_and_move_nothing(app) {
        let alice = app.customer(true, 10_000).await;
        let bob = app.customer(true, 0).await;
        let limit = app.state.config.limits.transfer_max_fen;
        let cases = [
            (json!({"payee_id": bob.id, "amount": 0}), 422, "invalid-amount"),
            (json!({"payee_id": bob.id, "amount": -100}), 422, "invalid-amount"),
            (json!({"payee_id": bob.id, "amount": limit + 1}), 422, "amount-above-limit"),
            (json!({"payee_id": bob.id, "amount": 1.5}), 422, "invalid-request"),
            (json!({"payee_id": bob.id, "amount": "100"}), 422, "invalid-request"),
            (json!({"payee_id": bob.id, "amount": 1e30}), 422, "invalid-request"),
            (json!({"payee_id": bob.id}), 422, "invalid-request"),
            (json!({"amount": 100}), 422, "invalid-request"),
            (json!({"payee_id": bob.id, "payee_phone": bob.phone, "amount": 100}), 422, "invalid-request"),
            (json!({"payee_id": bob.id, "amount": 100, "note": "x".repeat(141)}), 422, "invalid-note"),
            (json!({"payee_id": bob.id, "amount": 100, "note": "a\u{7}b"}), 422, "invalid-note"),
            (json!({"payee_id": "not-an-id", "amount": 100}), 422, "payee-not-found"),
            (json!({"payee_id": uuid::Uuid::now_v7().to_string(), "amount": 100}), 422, "payee-not-found"),
            (json!({"payee_phone": common::unique_phone(), "amount": 100}), 422, "payee-not-found"),
            (json!({"payee_phone": "123", "amount": 100}), 422, "invalid-phone"),
            (json!({"payee_id": alice.id, "amount": 100}), 422, "payee-is-payer"),
            (json!({"payee_id": bob.id, "amount": 10_001}), 422, "insufficient-funds"),
            (json!({"payee_id": bob.id, "amount": 100, "extra": true}), 422, "invalid-request"),
        ];
        for (index, (body, status, code)) in cases.into_iter().enumerate() {
            let reply = app.post_idem("/v1/transfers", &alice.token, &format!("bad-{index}"), body.clone()).await;
            assert_eq!((reply.status.as_u16(), reply.code()), (status, code), "{body}");
        }
        let missing_key = app.post("/v1/transfers", Some(&alice.token), json!({"payee_id": bob.id, "amount": 1})).await;
        assert_eq!((missing_key.status.as_u16(), missing_key.code()), (400, "idempotency-key-required"));
        for key in ["", &"k".repeat(256), "has space", "中文"] {
            let reply = app.client.post(format!("{}/v1/transfers", app.base)).bearer_auth(&alice.token)
                .header("idempotency-key", key.as_bytes()).json(&json!({"payee_id": bob.id, "amount": 1})).send().await.unwrap();
            assert_eq!(reply.status(), 400, "key {key:?}");
        }
        let unauthenticated = app.post_idem("/v1/transfers", "rcs_nope", "k", json!({"payee_id": bob.id, "amount": 1})).await;
        assert_eq!(unauthenticated.status, 401);
        let other_card = app.post_idem("/v1/me/topups", &alice.token, "c1", json!({"card_id": bob.card_id, "amount": 100})).await;
        assert_eq!((other_card.status.as_u16(), other_card.code()), (422, "card-not-found"));
        let bad_card = app.post_idem("/v1/me/topups", &alice.token, "c2", json!({"card_id": "nope", "amount": 100})).await;
        assert_eq!((bad_card.status.as_u16(), bad_card.code()), (422, "card-not-found"));
        let topup_limit = app.post_idem("/v1/me/topups", &alice.token, "c3", json!({"card_id": alice.card_id, "amount": app.state.config.limits.topup_max_fen + 1})).await;
        assert_eq!((topup_limit.status.as_u16(), topup_limit.code()), (422, "amount-above-limit"));
        assert_eq!(app.available(&alice).await, 10_000);
        assert_eq!(app.available(&bob).await, 0);
        // A refusal that moved nothing does not consume its key: the same key works once funds suffice.
        let refused = app.post_idem("/v1/transfers", &alice.token, "retry-me", json!({"payee_id": bob.id, "amount": 20_000})).await;
        assert_eq!(refused.code(), "insufficient-funds");
        app.topup(&alice, 10_000).await;
        let retried = app.post_idem("/v1/transfers", &alice.token, "retry-me", json!({"payee_id": bob.id, "amount": 20_000})).await;
        assert_eq!(retried.status, 201);
        assert_eq!(app.available(&bob).await, 20_000);
    }

    async fn idempotency_keys_return_the_original_and_refuse_a_different_body(app) {
        let alice = app.customer(true, 10_000).await;
        let bob = app.customer(true, 0).await;
        let first = app.transfer(&alice, &bob, 700, "same-key").await;
        assert_eq!(first.status, 201);
        assert!(first.headers.get("idempotent-replayed").is_none());
        let again = app.transfer(&alice, &bob, 700, "same-key").await;
        assert_eq!(again.status, 201);
        assert_eq!(again.headers["idempotent-replayed"], "true");
        assert_eq!(again.body["id"], first.body["id"]);
        // The same payee named by phone is the same request.
        let by_phone = app.post_idem("/v1/transfers", &alice.token, "same-key", json!({"payee_phone": bob.phone, "amount": 700})).await;
        assert_eq!(by_phone.body["id"], first.body["id"]);
        let different = app.transfer(&alice, &bob, 701, "same-key").await;
        assert_eq!((different.status.as_u16(), different.code()), (409, "idempotency-key-reused"));
        // Keys are scoped to the caller: Bob may use the same key for his own request.
        let bobs = app.transfer(&bob, &alice, 100, "same-key").await;
        assert_eq!(bobs.status, 201);
        assert_ne!(bobs.body["id"], first.body["id"]);
        // A top-up key reused for a withdrawal is a different request.
        let top = app.post_idem("/v1/me/topups", &alice.token, "bank-key", json!({"card_id": alice.card_id, "amount": 5})).await;
        assert_eq!(top.status, 201);
        let top_again = app.post_idem("/v1/me/topups", &alice.token, "bank-key", json!({"card_id": alice.card_id, "amount": 5})).await;
        assert_eq!(top_again.body["id"], top.body["id"]);
        let withdraw = app.post_idem("/v1/me/withdrawals", &alice.token, "bank-key", json!({"card_id": alice.card_id, "amount": 5})).await;
        assert_eq!(withdraw.code(), "idempotency-key-reused");
        assert_eq!(app.available(&alice).await, 10_000 - 700 + 100 + 5);
        assert_eq!(app.available(&bob).await, 600);
    }

    async fn concurrent_duplicates_move_money_once(app) {
        let alice = app.customer(true, 10_000).await;
        let bob = app.customer(true, 0).await;
        // All 32 requests are in flight at once (joined, not awaited one by one).
        let replies = join_all((0..32).map(|_| app.transfer(&alice, &bob, 1_234, "dup"))).await;
        let mut ids = std::collections::HashSet::new();
        for reply in replies {
            assert_eq!(reply.status, 201);
            ids.insert(reply.body["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(ids.len(), 1, "every duplicate got the one original transfer");
        assert_eq!(app.available(&alice).await, 10_000 - 1_234);
        assert_eq!(app.available(&bob).await, 1_234);
    }

    async fn sixty_four_concurrent_transfers_never_overdraw(app) {
        // 64 transfers of 100 fen race for a balance of 5,000: exactly 50 succeed.
        let payer = app.customer(true, 5_000).await;
        let mut payees = Vec::new();
        for _ in 0..4 {
            payees.push(app.customer(false, 0).await);
        }
        let keys: Vec<String> = (0..64).map(|i| format!("race-{i}")).collect();
        let replies = join_all(keys.iter().enumerate().map(|(i, key)| app.transfer(&payer, &payees[i % 4], 100, key))).await;
        let (mut ok, mut refused) = (0, 0);
        for reply in replies {
            match reply.status.as_u16() {
                201 => ok += 1,
                422 => {
                    assert_eq!(reply.code(), "insufficient-funds");
                    refused += 1;
                }
                other => panic!("unexpected {other}: {}", reply.body),
            }
        }
        assert_eq!((ok, refused), (50, 14));
        assert_eq!(app.available(&payer).await, 0);
        let mut received = 0;
        for payee in &payees {
            received += app.available(payee).await;
        }
        assert_eq!(received, 5_000);
    }

    async fn history_pages_newest_first_with_an_opaque_cursor(app) {
        let alice = app.customer(true, 100_000).await;
        let bob = app.customer(true, 1_000).await;
        for i in 0..5 {
            assert_eq!(app.transfer(&alice, &bob, 10 + i, &format!("h-{i}")).await.status, 201);
        }
        assert_eq!(app.transfer(&bob, &alice, 1, "h-back").await.status, 201);
        let first = app.get("/v1/me/transfers?limit=4", &alice.token).await;
        assert_eq!(first.status, 200);
        let page: Vec<_> = first.body["transfers"].as_array().unwrap().clone();
        assert_eq!(page.len(), 4);
        assert_eq!(page[0]["direction"], "received");
        assert_eq!(page[0]["amount"], 1);
        assert_eq!(page[1]["amount"], 14);
        let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
        let second = app.get(&format!("/v1/me/transfers?limit=4&cursor={cursor}"), &alice.token).await;
        let rest: Vec<_> = second.body["transfers"].as_array().unwrap().clone();
        assert_eq!(rest.iter().map(|t| t["amount"].as_i64().unwrap()).collect::<Vec<_>>(), vec![11, 10]);
        assert!(second.body["next_cursor"].is_null());
        for bad in ["limit=0", "limit=101", "limit=x", "cursor=%%%", "cursor=AAAA", "unknown=1"] {
            let reply = app.get(&format!("/v1/me/transfers?{bad}"), &alice.token).await;
            assert_eq!((reply.status.as_u16(), reply.code()), (400, "invalid-query"), "{bad}");
        }
    }
}
