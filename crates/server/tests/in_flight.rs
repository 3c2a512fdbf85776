//! Money in flight over HTTP, on both stores: delayed transfers the payer can
//! revoke until they arrive, transfers the payee must accept, the durable
//! scheduler on the test clock, and the races between them. Every test ends
//! with a ledger audit that re-derives `held` from the journal and the holds.

mod common;

use common::{Customer, TestApp};
use futures::future::join_all;
use serde_json::{Value, json};

const HOUR: i64 = 3600;

fn history(reply: &Value) -> Vec<(String, String, String)> {
    reply["history"]
        .as_array()
        .expect("a history")
        .iter()
        .map(|e| (e["status"].as_str().unwrap().to_owned(), e["event"].as_str().unwrap().to_owned(), e["actor"].as_str().unwrap().to_owned()))
        .collect()
}

fn triple(status: &str, event: &str, actor: &str) -> (String, String, String) {
    (status.to_owned(), event.to_owned(), actor.to_owned())
}

async fn transfer_status(app: &TestApp, who: &Customer, id: &str) -> Value {
    let reply = app.get(&format!("/v1/transfers/{id}"), &who.token).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

both_stores! {
    async fn a_delayed_transfer_holds_the_money_then_arrives_on_time(app) {
        let alice = app.customer(true, 10_000).await;
        let bob = app.customer(true, 0).await;
        let sent = app.send(&alice, &bob, 3_000, "d1", json!({"arrival": "2h"})).await;
        assert_eq!(sent.status, 201, "{}", sent.body);
        assert_eq!(sent.body["status"], "pending_arrival");
        assert_eq!(sent.body["arrival"], "2h");
        let created: jiff::Timestamp = sent.body["created_at"].as_str().unwrap().parse().unwrap();
        let arrives: jiff::Timestamp = sent.body["arrives_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(arrives.as_microsecond() - created.as_microsecond(), 2 * HOUR * 1_000_000);
        let id = sent.body["id"].as_str().unwrap().to_owned();
        // The payer's available balance drops and held rises; the payee has nothing yet.
        assert_eq!(app.balance(&alice).await, (7_000, 3_000, 10_000));
        assert_eq!(app.balance(&bob).await, (0, 0, 0));
        // The payee sees it coming, with its arrival time.
        let incoming = app.get("/v1/me/transfers", &bob.token).await;
        assert_eq!(incoming.body["transfers"][0]["id"], id.as_str());
        assert_eq!(incoming.body["transfers"][0]["status"], "pending_arrival");
        assert_eq!(incoming.body["transfers"][0]["direction"], "received");
        assert!(incoming.body["transfers"][0]["arrives_at"].is_string());

        // A second before arrival nothing has moved.
        let early = app.advance_clock(2 * HOUR - 1).await;
        assert_eq!(early.body["ran"], 0);
        assert_eq!(transfer_status(&app, &alice, &id).await["status"], "pending_arrival");
        let on_time = app.advance_clock(1).await;
        assert_eq!(on_time.body["ran"], 1);
        let arrived = transfer_status(&app, &bob, &id).await;
        assert_eq!(arrived["status"], "completed");
        assert_eq!(history(&arrived), vec![triple("pending_arrival", "create", "payer"), triple("completed", "arrive", "system")]);
        assert_eq!(app.balance(&alice).await, (7_000, 0, 7_000));
        assert_eq!(app.balance(&bob).await, (3_000, 0, 3_000));
        // Too late to revoke: 409 with the current status; nothing moves.
        let late = app.act(&alice, &id, "revoke").await;
        assert_eq!((late.status.as_u16(), late.code()), (409, "illegal-transition"));
        assert_eq!(late.body["current_status"], "completed");
        assert_eq!(late.body["transfer"]["status"], "completed");
        // The history in the list shows it once, completed.
        let list = app.get("/v1/me/transfers", &bob.token).await;
        assert_eq!(list.body["transfers"].as_array().unwrap().len(), 1);
        assert_eq!(app.advance_clock(48 * HOUR).await.body["ran"], 0, "arrivals run exactly once");
        assert_eq!(app.balance(&bob).await, (3_000, 0, 3_000));
    }

    async fn the_payer_revokes_a_delayed_transfer_before_it_arrives(app) {
        let alice = app.customer(true, 10_000).await;
        let bob = app.customer(true, 0).await;
        let mallory = app.customer(true, 0).await;
        let sent = app.send(&alice, &bob, 4_000, "d2", json!({"arrival": "24h"})).await;
        let id = sent.body["id"].as_str().unwrap().to_owned();
        assert_eq!(app.advance_clock(23 * HOUR).await.body["ran"], 0);
        // Only the payer may revoke; anyone else learns nothing.
        for (who, action) in [(&bob, "revoke"), (&mallory, "revoke"), (&mallory, "accept"), (&mallory, "decline")] {
            let refused = app.act(who, &id, action).await;
            assert_eq!((refused.status.as_u16(), refused.code()), (404, "not-found"), "{action}");
        }
        let revoked = app.act(&alice, &id, "revoke").await;
        assert_eq!(revoked.status, 200, "{}", revoked.body);
        assert_eq!(revoked.body["status"], "revoked");
        assert_eq!(history(&revoked.body), vec![triple("pending_arrival", "create", "payer"), triple("revoked", "revoke", "payer")]);
        assert_eq!(app.balance(&alice).await, (10_000, 0, 10_000), "the hold is released in full");
        // The same transition again: 200 with the transfer as it is.
        let again = app.act(&alice, &id, "revoke").await;
        assert_eq!((again.status.as_u16(), again.body["status"].as_str()), (200, Some("revoked")));
        assert_eq!(again.body["history"].as_array().unwrap().len(), 2);
        // The arrival time passes: nothing moves.
        assert_eq!(app.advance_clock(2 * HOUR).await.body["ran"], 0);
        assert_eq!(app.balance(&bob).await, (0, 0, 0));
        // An accept by the payee of a revoked transfer is too late.
        let accept = app.act(&bob, &id, "accept").await;
        assert_eq!((accept.status.as_u16(), accept.code(), accept.body["current_status"].as_str()), (409, "illegal-transition", Some("revoked")));
    }

    async fn the_payee_accepts_or_declines_and_silence_refunds(app) {
        let alice = app.customer(true, 10_000).await;
        let bob = app.customer(true, 0).await;
        let ask = |key: &'static str, amount: i64| app.send(&alice, &bob, amount, key, json!({"acceptance": "required"}));
        let accepted = ask("a1", 1_000).await;
        assert_eq!(accepted.status, 201, "{}", accepted.body);
        assert_eq!(accepted.body["status"], "awaiting_acceptance");
        assert_eq!(accepted.body["acceptance"], "required");
        assert!(accepted.body["expires_at"].is_string());
        let declined = ask("a2", 2_000).await;
        let ignored = ask("a3", 3_000).await;
        let revoked = ask("a4", 500).await;
        assert_eq!(app.balance(&alice).await, (3_500, 6_500, 10_000));

        let id = |reply: &common::Reply| reply.body["id"].as_str().unwrap().to_owned();
        // The payer cannot accept for the payee; the payee cannot revoke.
        assert_eq!(app.act(&alice, &id(&accepted), "accept").await.status, 404);
        assert_eq!(app.act(&bob, &id(&accepted), "revoke").await.status, 404);
        let yes = app.act(&bob, &id(&accepted), "accept").await;
        assert_eq!((yes.status.as_u16(), yes.body["status"].as_str()), (200, Some("completed")));
        assert_eq!(history(&yes.body)[1], triple("completed", "accept", "payee"));
        assert_eq!(app.act(&bob, &id(&accepted), "accept").await.status, 200, "asked again: the transfer as it is");
        let no = app.act(&bob, &id(&declined), "decline").await;
        assert_eq!((no.status.as_u16(), no.body["status"].as_str()), (200, Some("declined")));
        let too_late = app.act(&bob, &id(&declined), "accept").await;
        assert_eq!((too_late.status.as_u16(), too_late.body["current_status"].as_str()), (409, Some("declined")));
        let back = app.act(&alice, &id(&revoked), "revoke").await;
        assert_eq!(back.body["status"], "revoked");
        assert_eq!(app.balance(&alice).await, (6_000, 3_000, 9_000));
        assert_eq!(app.balance(&bob).await, (1_000, 0, 1_000));

        // No answer within 24 hours: the hold goes back to the payer.
        assert_eq!(app.advance_clock(24 * HOUR - 60).await.body["ran"], 0);
        assert_eq!(app.advance_clock(60).await.body["ran"], 1);
        let expired = transfer_status(&app, &alice, &id(&ignored)).await;
        assert_eq!(expired["status"], "expired_refunded");
        assert_eq!(history(&expired)[1], triple("expired_refunded", "expire", "system"));
        assert_eq!(app.balance(&alice).await, (9_000, 0, 9_000));
        let after = app.act(&bob, &id(&ignored), "accept").await;
        assert_eq!((after.status.as_u16(), after.body["current_status"].as_str()), (409, Some("expired_refunded")));
    }

    async fn preferences_set_the_default_arrival_and_ask_before_accepting(app) {
        let alice = app.customer(true, 10_000).await;
        let bob = app.customer(true, 0).await;
        let me = app.request(reqwest::Method::PATCH, "/v1/me", Some(&alice.token), None, Some(json!({"default_arrival": "2h"}))).await;
        assert_eq!((me.status.as_u16(), me.body["default_arrival"].as_str()), (200, Some("2h")));
        assert_eq!(me.body["require_acceptance"], false);
        let delayed = app.send(&alice, &bob, 100, "p1", json!({})).await;
        assert_eq!(delayed.body["status"], "pending_arrival");
        let instant = app.send(&alice, &bob, 100, "p2", json!({"arrival": "instant"})).await;
        assert_eq!(instant.body["status"], "completed", "an explicit arrival beats the default");

        let asked = app.request(reqwest::Method::PATCH, "/v1/me", Some(&bob.token), None, Some(json!({"require_acceptance": true}))).await;
        assert_eq!(asked.body["require_acceptance"], true);
        let waits = app.send(&alice, &bob, 100, "p3", json!({})).await;
        assert_eq!(waits.body["status"], "awaiting_acceptance", "the payee's protection wins over the payer's default delay");
        let waits_too = app.send(&alice, &bob, 100, "p4", json!({"arrival": "instant"})).await;
        assert_eq!(waits_too.body["status"], "awaiting_acceptance");
        assert_eq!(waits_too.body["checks"]["payee_requires_acceptance"], true);

        // Bad preferences are refused and change nothing.
        for body in [json!({"default_arrival": "soon"}), json!({"require_acceptance": "yes"}), json!({"default_arrival": 2})] {
            let bad = app.request(reqwest::Method::PATCH, "/v1/me", Some(&alice.token), None, Some(body.clone())).await;
            assert_eq!(bad.status, 422, "{body}: {}", bad.body);
        }
        assert_eq!(app.get("/v1/me", &alice.token).await.body["default_arrival"], "2h");
        app.advance_clock(25 * HOUR).await;
    }

    async fn bad_in_flight_requests_get_clear_problems_and_move_nothing(app) {
        let alice = app.customer(true, 5_000).await;
        let bob = app.customer(true, 0).await;
        let cases: Vec<(Value, u16, &str)> = vec![
            (json!({"arrival": "3h"}), 422, "invalid-request"),
            (json!({"arrival": ""}), 422, "invalid-request"),
            (json!({"arrival": 2}), 422, "invalid-request"),
            (json!({"acceptance": "maybe"}), 422, "invalid-request"),
            (json!({"arrival": "2h", "acceptance": "required"}), 422, "invalid-request"),
            (json!({"arrival": "24h", "amount": 6_000}), 422, "insufficient-funds"),
        ];
        for (index, (extra, status, code)) in cases.into_iter().enumerate() {
            let reply = app.send(&alice, &bob, 1_000, &format!("bad-{index}"), extra.clone()).await;
            assert_eq!((reply.status.as_u16(), reply.code()), (status, code), "{extra}: {}", reply.body);
        }
        // Held money is not available: a hold of 4,000 leaves 1,000 to spend.
        assert_eq!(app.send(&alice, &bob, 4_000, "hold", json!({"arrival": "2h"})).await.status, 201);
        let over = app.transfer(&alice, &bob, 1_001, "over").await;
        assert_eq!((over.status.as_u16(), over.code(), over.body["available"].as_i64()), (422, "insufficient-funds", Some(1_000)));
        let withdraw = app.post_idem("/v1/me/withdrawals", &alice.token, "w", json!({"card_id": alice.card_id, "amount": 1_001})).await;
        assert_eq!(withdraw.code(), "insufficient-funds");
        assert_eq!(app.balance(&alice).await, (1_000, 4_000, 5_000));
        // Transitions on ids that are not transfers, or not visible.
        for id in ["nope", "00000000-0000-7000-8000-000000000000"] {
            let reply = app.act(&alice, id, "revoke").await;
            assert_eq!((reply.status.as_u16(), reply.code()), (404, "not-found"));
        }
        let wrong_method = app.request(reqwest::Method::GET, "/v1/transfers/nope/revoke", Some(&alice.token), None, None).await;
        assert_eq!(wrong_method.status, 405);
        let anonymous = app.request(reqwest::Method::POST, "/v1/transfers/nope/revoke", None, None, None).await;
        assert_eq!(anonymous.code(), "unauthenticated");
        app.advance_clock(3 * HOUR).await;
        assert_eq!(app.balance(&bob).await, (4_000, 0, 4_000));
    }

    async fn a_retry_gets_the_original_result_in_its_current_state(app) {
        let alice = app.customer(true, 10_000).await;
        let bob = app.customer(true, 0).await;
        let first = app.send(&alice, &bob, 6_000, "k", json!({"arrival": "2h"})).await;
        let id = first.body["id"].as_str().unwrap().to_owned();
        assert_eq!(app.act(&alice, &id, "revoke").await.body["status"], "revoked");
        let retry = app.send(&alice, &bob, 6_000, "k", json!({"arrival": "2h"})).await;
        assert_eq!((retry.status.as_u16(), retry.body["id"].as_str(), retry.body["status"].as_str()), (201, Some(id.as_str()), Some("revoked")));
        assert_eq!(retry.headers["idempotent-replayed"], "true");
        // The same key with another request is still a conflict, and it is
        // answered before any other check.
        let conflict = app.send(&alice, &bob, 6_000, "k", json!({"arrival": "24h"})).await;
        assert_eq!(conflict.code(), "idempotency-key-reused");
        // A transfer that moved money replays even when the checks would now refuse it.
        let paid = app.transfer(&alice, &bob, 9_000, "paid").await;
        assert_eq!(paid.status, 201);
        let empty = app.post_idem("/v1/me/withdrawals", &alice.token, "empty", json!({"card_id": alice.card_id, "amount": 1_000})).await;
        assert_eq!(empty.status, 201);
        let again = app.transfer(&alice, &bob, 9_000, "paid").await;
        assert_eq!((again.status.as_u16(), again.body["id"].clone()), (201, paid.body["id"].clone()), "not insufficient-funds: {}", again.body);
        assert_eq!(app.balance(&alice).await, (0, 0, 0));
        assert_eq!(app.balance(&bob).await, (9_000, 0, 9_000));
    }

    async fn revoke_racing_arrival_has_exactly_one_winner(app) {
        let alice = app.customer(true, 100_000).await;
        let bob = app.customer(true, 0).await;
        let mut ids = Vec::new();
        for round in 0..12 {
            let sent = app.send(&alice, &bob, 1_000, &format!("race-{round}"), json!({"arrival": "2h"})).await;
            ids.push(sent.body["id"].as_str().unwrap().to_owned());
        }
        // Every revoke and the arrival of all twelve, at once.
        let revokes = join_all(ids.iter().map(|id| app.act(&alice, id, "revoke")));
        let (revokes, clock) = tokio::join!(revokes, app.advance_clock(2 * HOUR));
        assert_eq!(clock.status, 200);
        let mut revoked = 0;
        for (id, reply) in ids.iter().zip(&revokes) {
            let status = transfer_status(&app, &alice, id).await;
            match reply.status.as_u16() {
                200 => {
                    revoked += 1;
                    assert_eq!(status["status"], "revoked");
                }
                409 => {
                    assert_eq!(reply.code(), "illegal-transition");
                    assert_eq!(status["status"], "completed");
                }
                other => panic!("revoke answered {other}: {}", reply.body),
            }
            assert_eq!(status["history"].as_array().unwrap().len(), 2, "one winner, one event: {status}");
        }
        let arrived = 12 - revoked;
        assert_eq!(app.balance(&bob).await, (arrived * 1_000, 0, arrived * 1_000), "money moved once per arrival");
        assert_eq!(app.balance(&alice).await, (100_000 - arrived * 1_000, 0, 100_000 - arrived * 1_000));
        eprintln!("race: {revoked} revoked, {arrived} arrived");
    }

    async fn accept_racing_decline_and_expiry_has_exactly_one_winner(app) {
        let alice = app.customer(true, 100_000).await;
        let bob = app.customer(true, 0).await;
        let mut ids = Vec::new();
        for round in 0..8 {
            let sent = app.send(&alice, &bob, 1_000, &format!("race-{round}"), json!({"acceptance": "required"})).await;
            ids.push(sent.body["id"].as_str().unwrap().to_owned());
        }
        let accepts = join_all(ids.iter().map(|id| app.act(&bob, id, "accept")));
        let declines = join_all(ids.iter().map(|id| app.act(&bob, id, "decline")));
        let revokes = join_all(ids.iter().map(|id| app.act(&alice, id, "revoke")));
        let (accepts, declines, revokes, _) = tokio::join!(accepts, declines, revokes, app.advance_clock(24 * HOUR));
        let mut completed = 0;
        for (index, id) in ids.iter().enumerate() {
            let status = transfer_status(&app, &alice, id).await;
            let winners = [&accepts[index], &declines[index], &revokes[index]].iter().filter(|r| r.status == 200).count();
            assert!(winners <= 1, "at most one of accept/decline/revoke wins: {status}");
            assert_eq!(status["history"].as_array().unwrap().len(), 2, "{status}");
            if status["status"] == "completed" {
                completed += 1;
            }
        }
        assert_eq!(app.balance(&bob).await.2, completed * 1_000);
        assert_eq!(app.balance(&alice).await, (100_000 - completed * 1_000, 0, 100_000 - completed * 1_000));
    }

    async fn a_deadline_that_passed_decides_before_a_late_request(app) {
        let alice = app.customer(true, 10_000).await;
        let bob = app.customer(true, 0).await;
        let delayed = app.send(&alice, &bob, 1_000, "late-1", json!({"arrival": "2h"})).await.body["id"].as_str().unwrap().to_owned();
        let asking = app.send(&alice, &bob, 2_000, "late-2", json!({"acceptance": "required"})).await.body["id"].as_str().unwrap().to_owned();
        // Time passes on the shared clock, and no scheduler has run yet.
        app.store.advance_clock_offset(24 * HOUR * 1_000_000).await.unwrap();
        let revoke = app.act(&alice, &delayed, "revoke").await;
        assert_eq!((revoke.status.as_u16(), revoke.code(), revoke.body["current_status"].as_str()), (409, "illegal-transition", Some("completed")));
        assert_eq!(history(&revoke.body["transfer"])[1], triple("completed", "arrive", "system"));
        let accept = app.act(&bob, &asking, "accept").await;
        assert_eq!((accept.status.as_u16(), accept.body["current_status"].as_str()), (409, Some("expired_refunded")));
        assert_eq!(app.balance(&alice).await, (9_000, 0, 9_000));
        assert_eq!(app.balance(&bob).await, (1_000, 0, 1_000));
        // The scheduler finds nothing left to do.
        assert_eq!(app.advance_clock(0).await.body["ran"], 0);
    }

    async fn a_profile_update_is_all_or_nothing(app) {
        let alice = app.customer(true, 0).await;
        // Registration was the first of the day's ten profile changes.
        for n in 0..9 {
            let renamed = app.request(reqwest::Method::PATCH, "/v1/me", Some(&alice.token), None, Some(json!({"nickname": format!("name {n}")}))).await;
            assert_eq!(renamed.status, 200, "{}", renamed.body);
        }
        let both = app.request(reqwest::Method::PATCH, "/v1/me", Some(&alice.token), None, Some(json!({"nickname": "one more", "require_acceptance": true}))).await;
        assert_eq!((both.status.as_u16(), both.code()), (429, "too-many-changes"));
        let me = app.get("/v1/me", &alice.token).await.body;
        assert_eq!((me["nickname"].as_str(), me["require_acceptance"].as_bool()), (Some("name 8"), Some(false)), "nothing of a refused update was applied");
        let alone = app.request(reqwest::Method::PATCH, "/v1/me", Some(&alice.token), None, Some(json!({"require_acceptance": true}))).await;
        assert_eq!(alone.body["require_acceptance"], true, "preferences are not profile changes");
    }
}
