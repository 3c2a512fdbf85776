//! Confirmation of payee over HTTP, on both stores: the payee preview,
//! masked-name completion above the threshold and its limits, the
//! unverified-payee confirmation, the typed-name check (alone and as a
//! transfer's `expected_name`), contacts, and what a transfer records of
//! what the payer saw and did. Each test ends with a ledger audit.

mod common;

use common::{Customer, StoreKind, TestApp};
use futures::future::join_all;
use serde_json::{Value, json};

/// The default threshold: ¥1,000.
const THRESHOLD: i64 = 100_000;
const DAY: i64 = 24 * 3600;

async fn preview(app: &TestApp, viewer: &Customer, query: &str) -> common::Reply {
    app.get(&format!("/v1/payees/preview?{query}"), &viewer.token).await
}

async fn check(app: &TestApp, caller: &Customer, payee: &Customer, name: &str) -> common::Reply {
    app.post("/v1/payee-checks", Some(&caller.token), json!({"payee_id": payee.id, "name": name})).await
}

async fn remove(app: &TestApp, owner: &Customer, contact: &str) -> common::Reply {
    app.request(reqwest::Method::DELETE, &format!("/v1/me/contacts/{contact}"), Some(&owner.token), None, None).await
}

fn warning_codes(warnings: &Value) -> Vec<String> {
    warnings.as_array().expect("warnings").iter().map(|w| w["code"].as_str().unwrap().to_owned()).collect()
}

fn checks(reply: &common::Reply) -> &Value {
    &reply.body["checks"]
}

both_stores! {
    async fn the_preview_shows_who_the_payee_is_and_how_the_payer_knows_them(app) {
        let alice = app.customer_named(Some("王小明"), 10_000).await;
        let bob = app.customer_named(Some("张伟"), 0).await;
        let carol = app.customer_named(None, 0).await;
        let by_phone = preview(&app, &alice, &format!("phone={}", bob.phone)).await;
        assert_eq!(by_phone.status, 200, "{}", by_phone.body);
        let body = &by_phone.body;
        assert_eq!(body["id"], bob.id.as_str());
        assert_eq!(body["masked_name"], "*伟");
        assert_eq!(body["verified"], true);
        assert!(body["nickname"].as_str().unwrap().starts_with("测试"));
        let masked_phone = body["masked_phone"].as_str().unwrap();
        assert!(masked_phone.contains("****") && !masked_phone.contains(&bob.phone[3..7]), "{masked_phone}");
        for field in ["created_at", "nickname_changed_at"] {
            assert!(body[field].is_string(), "{field}: {body}");
        }
        assert!(body["avatar_url"].is_null() && body["avatar_changed_at"].is_null());
        assert_eq!((body["is_contact"].as_bool(), body["paid_before"].as_bool()), (Some(false), Some(false)));
        // A stranger who just opened an account: information, no question.
        assert_eq!(warning_codes(&body["warnings"]), ["first_payment", "new_account"]);
        assert_eq!(body["risk"], json!({"decision": "allow", "reasons": ["first_payment", "new_account"]}));
        // The full name is nowhere in the answer.
        assert!(!by_phone.body.to_string().contains("张伟"));

        // After a payment the payer knows the payee, and the payee knows the payer as a contact.
        assert_eq!(app.transfer(&alice, &bob, 100, "p1").await.status, 201);
        let after = preview(&app, &alice, &format!("id={}", bob.id)).await;
        assert_eq!((after.body["is_contact"].as_bool(), after.body["paid_before"].as_bool()), (Some(true), Some(true)));
        let back = preview(&app, &bob, &format!("id={}", alice.id)).await;
        assert_eq!((back.body["is_contact"].as_bool(), back.body["paid_before"].as_bool()), (Some(true), Some(false)));

        let unverified = preview(&app, &alice, &format!("id={}", carol.id)).await;
        assert_eq!(unverified.status, 200);
        assert_eq!((unverified.body["verified"].as_bool(), unverified.body["masked_name"].is_null()), (Some(false), true));
        let unverified_warning = unverified.body["warnings"].as_array().unwrap().iter().find(|w| w["code"] == "payee_unverified").expect("payee_unverified").clone();
        assert!(unverified_warning["message"].as_str().unwrap().len() > 10);

        // Bad and unknown payees.
        assert_eq!(preview(&app, &alice, "phone=13900000000").await.code(), "not-found");
        assert_eq!(preview(&app, &alice, &format!("id={}", uuid::Uuid::now_v7())).await.code(), "not-found");
        assert_eq!(preview(&app, &alice, "id=not-an-id").await.code(), "not-found");
        let malformed = preview(&app, &alice, "phone=12345").await;
        assert_eq!((malformed.status.as_u16(), malformed.code()), (422, "invalid-phone"));
        for query in ["", &format!("phone={}&id={}", bob.phone, bob.id)] {
            let reply = preview(&app, &alice, query).await;
            assert_eq!((reply.status.as_u16(), reply.code()), (422, "invalid-request"), "{query}");
        }
        let unknown_param = preview(&app, &alice, "nickname=x").await;
        assert!(unknown_param.status.is_client_error());
        let anonymous = app.request(reqwest::Method::GET, &format!("/v1/payees/preview?id={}", bob.id), None, None, None).await;
        assert_eq!(anonymous.code(), "unauthenticated");
    }

    async fn above_the_threshold_the_payer_completes_the_masked_name_before_money_moves(app) {
        let alice = app.customer_named(Some("王小明"), 500_000).await;
        let bob = app.customer_named(Some("张伟"), 0).await;
        // Below the threshold: no step-up.
        let small = app.transfer(&alice, &bob, THRESHOLD - 1, "small").await;
        assert_eq!(small.status, 201, "{}", small.body);
        assert_eq!(checks(&small)["name_completion"], json!({"required": false, "attempts": 0, "passed": false}));

        let challenged = app.transfer(&alice, &bob, THRESHOLD, "big").await;
        assert_eq!((challenged.status.as_u16(), challenged.code()), (409, "name-completion-required"), "{}", challenged.body);
        assert_eq!(challenged.body["masked_name"], "*伟");
        assert_eq!(challenged.body["attempts_left"], 3);
        // Nothing moved and nothing is held.
        assert_eq!(app.balance(&alice).await, (500_000 - (THRESHOLD - 1), 0, 500_000 - (THRESHOLD - 1)));

        // A homophone is not the name; the answer never says which character was wrong.
        let wrong = app.send(&alice, &bob, THRESHOLD, "big", json!({"name_completion": "章"})).await;
        assert_eq!((wrong.status.as_u16(), wrong.code()), (409, "name-completion-required"));
        assert_eq!(wrong.body["attempts_left"], 2);
        assert!(!wrong.body.to_string().contains('张'));
        // The traditional form of the hidden character completes it, under the same key.
        let passed = app.send(&alice, &bob, THRESHOLD, "big", json!({"name_completion": "張"})).await;
        assert_eq!(passed.status, 201, "{}", passed.body);
        assert_eq!(checks(&passed)["name_completion"], json!({"required": true, "attempts": 2, "passed": true}));
        assert_eq!(app.balance(&bob).await.2, THRESHOLD - 1 + THRESHOLD);
        // A retry of the same key replays before any check, with or without the answer.
        let replay = app.transfer(&alice, &bob, THRESHOLD, "big").await;
        assert_eq!(replay.status, 201, "{}", replay.body);
        assert_eq!(replay.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
        assert_eq!(replay.body["id"], passed.body["id"]);
        // The whole name completes too, with spaces; the transfer's record is readable later.
        let whole = app.send(&alice, &bob, THRESHOLD, "whole", json!({"name_completion": " 张 伟 "})).await;
        assert_eq!(whole.status, 201, "{}", whole.body);
        let id = whole.body["id"].as_str().unwrap();
        let read = app.get(&format!("/v1/transfers/{id}"), &alice.token).await;
        assert_eq!(checks(&read)["name_completion"]["passed"], true);
        assert_eq!(checks(&read)["payee_masked_name_shown"], "*伟");
        assert!(!warning_codes(&checks(&read)["warnings"]).contains(&"payee_unverified".to_owned()));
        assert_eq!(checks(&read)["confirmations"], json!([]));
        assert!(checks(&read)["name_check"].is_null());
        // A conflicting retry of a used key is still a conflict, not a challenge.
        let conflict = app.transfer(&alice, &bob, THRESHOLD + 1, "big").await;
        assert_eq!(conflict.code(), "idempotency-key-reused");
        // Funds come last: the name is asked for before the balance is looked at.
        let too_much = app.transfer(&alice, &bob, 400_000, "too-much").await;
        assert_eq!(too_much.code(), "name-completion-required");
        let too_much = app.send(&alice, &bob, 400_000, "too-much", json!({"name_completion": "张"})).await;
        assert_eq!(too_much.code(), "insufficient-funds");
    }

    async fn wrong_answers_lock_completion_for_the_pair_then_for_the_day(app) {
        let alice = app.customer_named(Some("王小明"), 1_000_000).await;
        let bob = app.customer_named(Some("李雷"), 0).await;
        for left in [2, 1, 0] {
            let reply = app.send(&alice, &bob, THRESHOLD, "k", json!({"name_completion": "王"})).await;
            assert_eq!((reply.code(), reply.body["attempts_left"].as_i64()), ("name-completion-required", Some(left)));
        }
        for answer in [json!({"name_completion": "李"}), json!({})] {
            let locked = app.send(&alice, &bob, THRESHOLD, "k", answer).await;
            assert_eq!((locked.status.as_u16(), locked.code()), (429, "name-completion-locked"), "{}", locked.body);
            let retry = locked.body["retry_after_seconds"].as_i64().unwrap();
            assert!((DAY - 5..=DAY).contains(&retry), "{retry}");
            assert_eq!(locked.headers.get("retry-after").unwrap().to_str().unwrap(), retry.to_string());
        }
        // Small payments still go through.
        assert_eq!(app.transfer(&alice, &bob, 10, "small").await.status, 201);
        // A day later the pair may answer again.
        app.advance_clock(DAY).await;
        let open = app.send(&alice, &bob, THRESHOLD, "k", json!({"name_completion": "李"})).await;
        assert_eq!(open.status, 201, "{}", open.body);

        // The daily limit spans payees: ten wrong answers in 24 hours lock every payee.
        let mut payees = Vec::new();
        for _ in 0..4 {
            payees.push(app.customer_named(Some("赵六"), 0).await);
        }
        let mut wrong = 0;
        'answers: for payee in &payees {
            for _ in 0..3 {
                let reply = app.send(&alice, payee, THRESHOLD, &format!("d{wrong}"), json!({"name_completion": "钱"})).await;
                if reply.code() == "name-completion-locked" {
                    break 'answers;
                }
                assert_eq!(reply.code(), "name-completion-required");
                wrong += 1;
            }
        }
        assert_eq!(wrong, 10, "ten wrong answers, then locked");
        let fresh = app.customer_named(Some("孙七"), 0).await;
        let locked = app.send(&alice, &fresh, THRESHOLD, "fresh", json!({"name_completion": "孙"})).await;
        assert_eq!(locked.code(), "name-completion-locked");
    }

    async fn answers_sent_at_once_cannot_pass_the_limit_together(app) {
        let alice = app.customer_named(Some("王小明"), 1_000_000).await;
        let bob = app.customer_named(Some("李雷"), 0).await;
        let keys: Vec<String> = (0..10).map(|n| format!("c{n}")).collect();
        let replies = join_all(keys.iter().map(|key| app.send(&alice, &bob, THRESHOLD, key, json!({"name_completion": "王"})))).await;
        let challenged = replies.iter().filter(|r| r.code() == "name-completion-required").count();
        let locked = replies.iter().filter(|r| r.code() == "name-completion-locked").count();
        assert_eq!((challenged, locked), (3, 7));
    }

    async fn an_unverified_payee_above_the_threshold_needs_an_explicit_confirmation(app) {
        let alice = app.customer_named(Some("王小明"), 500_000).await;
        let carol = app.customer_named(None, 0).await;
        let small = app.transfer(&alice, &carol, 500, "small").await;
        assert_eq!(small.status, 201, "{}", small.body);
        assert!(warning_codes(&checks(&small)["warnings"]).contains(&"payee_unverified".to_owned()));
        assert_eq!(checks(&small)["payee_verified"], false);
        let big = app.transfer(&alice, &carol, THRESHOLD, "big").await;
        assert_eq!((big.status.as_u16(), big.code()), (409, "unverified-payee-confirmation-required"));
        // A name to complete does not exist: an answer does not help.
        let answered = app.send(&alice, &carol, THRESHOLD, "big", json!({"name_completion": "王"})).await;
        assert_eq!(answered.code(), "unverified-payee-confirmation-required");
        let confirmed = app.send(&alice, &carol, THRESHOLD, "big", json!({"confirm_unverified_payee": true})).await;
        assert_eq!(confirmed.status, 201, "{}", confirmed.body);
        assert_eq!(checks(&confirmed)["confirmations"], json!(["confirm_unverified_payee"]));
        assert!(warning_codes(&checks(&confirmed)["warnings"]).contains(&"payee_unverified".to_owned()));
        assert_eq!(checks(&confirmed)["name_completion"]["required"], false);
        let not_bool = app.send(&alice, &carol, THRESHOLD, "x", json!({"confirm_unverified_payee": "yes"})).await;
        assert_eq!((not_bool.status.as_u16(), not_bool.code()), (422, "invalid-request"));
    }

    async fn the_typed_name_check_answers_like_verification_of_payee(app) {
        let alice = app.customer_named(Some("王小明"), 10_000).await;
        let bob = app.customer_named(Some("张伟"), 0).await;
        let amir = app.customer_named(Some("买买提·艾力"), 0).await;
        let john = app.customer_named(Some("John Smith"), 0).await;
        let carol = app.customer_named(None, 0).await;
        let cases: [(&Customer, &str, &str); 12] = [
            (&bob, "张伟", "match"),
            (&bob, " 张 伟", "match"),
            (&bob, "張偉", "close_match"),
            (&bob, "章伟", "close_match"),
            (&bob, "李伟", "no_match"),
            (&bob, "12345", "no_match"),
            (&bob, "", "no_match"),
            (&amir, "买买提•艾力", "match"),
            (&amir, "买买提艾力", "close_match"),
            (&john, "J. Smith", "close_match"),
            (&john, "Smith John", "close_match"),
            (&carol, "王五", "not_possible"),
        ];
        for (payee, name, expected) in cases {
            let reply = check(&app, &alice, payee, name).await;
            assert_eq!(reply.status, 200, "{name}: {}", reply.body);
            assert_eq!(reply.body["result"], expected, "{name}");
            let shows_mask = matches!(expected, "match" | "close_match");
            assert_eq!(reply.body.get("masked_name").is_some(), shows_mask, "{name}: {}", reply.body);
            // Never the full name.
            let text = reply.body.to_string();
            assert!(!text.contains("张伟") && !text.contains("John") && !text.contains("艾力"), "{text}");
        }
        assert_eq!(check(&app, &alice, &bob, "章伟").await.body["masked_name"], "*伟");
        let unknown = app.post("/v1/payee-checks", Some(&alice.token), json!({"payee_phone": "13900000000", "name": "张伟"})).await;
        assert_eq!(unknown.code(), "not-found");
        let neither = app.post("/v1/payee-checks", Some(&alice.token), json!({"name": "张伟"})).await;
        assert_eq!(neither.code(), "invalid-request");
        let no_name = app.post("/v1/payee-checks", Some(&alice.token), json!({"payee_id": bob.id})).await;
        assert_eq!((no_name.status.as_u16(), no_name.code()), (422, "invalid-request"));
        let huge = check(&app, &alice, &bob, &"张".repeat(5_000)).await;
        assert_eq!(huge.body["result"], "no_match");
    }

    async fn a_transfer_carrying_an_expected_name_is_checked_first(app) {
        let alice = app.customer_named(Some("王小明"), 200_000).await;
        let bob = app.customer_named(Some("张伟"), 0).await;
        let mismatch = app.send(&alice, &bob, 100, "e1", json!({"expected_name": "李四"})).await;
        assert_eq!((mismatch.status.as_u16(), mismatch.code()), (409, "name-mismatch"), "{}", mismatch.body);
        assert_eq!(app.balance(&alice).await.0, 200_000);
        let confirmed = app.send(&alice, &bob, 100, "e1", json!({"expected_name": "李四", "confirm_no_match": true})).await;
        assert_eq!(confirmed.status, 201, "{}", confirmed.body);
        assert_eq!(checks(&confirmed)["name_check"], json!({"result": "no_match"}));
        assert_eq!(checks(&confirmed)["confirmations"], json!(["confirm_no_match"]));
        let close = app.send(&alice, &bob, 100, "e2", json!({"expected_name": "章伟"})).await;
        assert_eq!(close.status, 201, "{}", close.body);
        assert_eq!(checks(&close)["name_check"]["result"], "close_match");
        // Both steps in one request: completion, then the check.
        let both = app.send(&alice, &bob, THRESHOLD, "e3", json!({"expected_name": "张伟", "name_completion": "张"})).await;
        assert_eq!(both.status, 201, "{}", both.body);
        assert_eq!(checks(&both)["name_check"]["result"], "match");
        assert_eq!(checks(&both)["name_completion"]["passed"], true);
        // A wrong answer is counted even when the expected name would also refuse.
        let wrong = app.send(&alice, &bob, THRESHOLD, "e4", json!({"expected_name": "李四", "name_completion": "李"})).await;
        assert_eq!((wrong.code(), wrong.body["attempts_left"].as_i64()), ("name-completion-required", Some(2)));
    }

    async fn contacts_are_added_listed_and_removed(app) {
        let alice = app.customer_named(Some("王小明"), 10_000).await;
        let bob = app.customer_named(Some("张伟"), 0).await;
        let carol = app.customer_named(None, 0).await;
        let dave = app.customer_named(Some("李四"), 1_000).await;
        assert_eq!(app.get("/v1/me/contacts", &alice.token).await.body["contacts"], json!([]));
        let added = app.post("/v1/me/contacts", Some(&alice.token), json!({"user_id": carol.id})).await;
        assert_eq!(added.status, 201, "{}", added.body);
        assert_eq!((added.body["user_id"].as_str(), added.body["added"].as_bool()), (Some(carol.id.as_str()), Some(true)));
        assert_eq!(app.transfer(&alice, &bob, 10, "t1").await.status, 201);
        assert_eq!(app.transfer(&dave, &alice, 10, "t2").await.status, 201);
        let list = app.get("/v1/me/contacts", &alice.token).await;
        let mut rows: Vec<(String, bool, bool, bool)> = list.body["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["user_id"].as_str().unwrap().to_owned(), c["added"].as_bool().unwrap(), c["paid"].as_bool().unwrap(), c["paid_by"].as_bool().unwrap()))
            .collect();
        rows.sort();
        let mut expected = vec![(bob.id.clone(), false, true, false), (carol.id.clone(), true, false, false), (dave.id.clone(), false, false, true)];
        expected.sort();
        assert_eq!(rows, expected);
        assert!(!list.body.to_string().contains("张伟"), "masked names only");

        assert_eq!(remove(&app, &alice, &bob.id).await.status, 204);
        assert_eq!(remove(&app, &alice, &bob.id).await.code(), "not-found");
        assert_eq!(remove(&app, &alice, "nonsense").await.code(), "not-found");
        assert_eq!(app.get("/v1/me/contacts", &alice.token).await.body["contacts"].as_array().unwrap().len(), 2);
        let bob_view = preview(&app, &alice, &format!("id={}", bob.id)).await;
        assert_eq!((bob_view.body["is_contact"].as_bool(), bob_view.body["paid_before"].as_bool()), (Some(false), Some(true)));
        let again = app.post("/v1/me/contacts", Some(&alice.token), json!({"user_id": bob.id})).await;
        assert_eq!((again.status.as_u16(), again.body["paid"].as_bool()), (201, Some(true)));

        let me = app.post("/v1/me/contacts", Some(&alice.token), json!({"user_id": alice.id})).await;
        assert_eq!((me.status.as_u16(), me.code()), (422, "contact-is-self"));
        let nobody = app.post("/v1/me/contacts", Some(&alice.token), json!({"user_id": uuid::Uuid::now_v7().to_string()})).await;
        assert_eq!(nobody.code(), "not-found");
        let malformed = app.post("/v1/me/contacts", Some(&alice.token), json!({"user": 1})).await;
        assert_eq!(malformed.code(), "invalid-request");
    }
}

/// The typed-name budget, with a small `limits.payee_checks_daily_max`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_name_checks_count_against_a_daily_budget() {
    for kind in [StoreKind::Sqlite, StoreKind::Postgres] {
        let mut config = recourse_service::config::ServiceConfig::for_tests();
        config.limits.payee_checks_daily_max = 3;
        let Some(app) = common::spawn_app_with(kind, config).await else { continue };
        let alice = app.customer_named(Some("王小明"), 10_000).await;
        let bob = app.customer_named(Some("张伟"), 0).await;
        for _ in 0..2 {
            assert_eq!(check(&app, &alice, &bob, "张伟").await.status, 200);
        }
        // A transfer's expected_name spends the same budget.
        assert_eq!(app.send(&alice, &bob, 10, "t", json!({"expected_name": "张伟"})).await.status, 201);
        let spent = check(&app, &alice, &bob, "张伟").await;
        assert_eq!((spent.status.as_u16(), spent.code()), (429, "payee-check-limit-reached"));
        assert!(spent.headers.get("retry-after").is_some());
        let transfer = app.send(&alice, &bob, 10, "t2", json!({"expected_name": "张伟"})).await;
        assert_eq!(transfer.code(), "payee-check-limit-reached");
        app.advance_clock(DAY).await;
        assert_eq!(check(&app, &alice, &bob, "张伟").await.status, 200);
        app.finish().await;
    }
}
