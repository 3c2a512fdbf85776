//! Claims over HTTP, on both stores, with the test clock: the payee's
//! one-click return (all or part), the precautionary hold and an agent's
//! decision, escalation when the payee does not answer, compensation for
//! each day past the resolution deadline, notifications, who may see and do
//! what, bad input, and the audit log of staff actions. Each test ends with
//! a ledger audit.

mod common;

use common::{Customer, TestApp};
use recourse_domain::Role;
use recourse_store::AuditVerdict;
use serde_json::{Value, json};

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

/// Alice pays Bob `amount` and claims it back; returns (transfer id, claim reply).
async fn paid_and_claimed(app: &TestApp, alice: &Customer, bob: &Customer, amount: i64, reason: &str) -> (String, common::Reply) {
    let paid = app.transfer(alice, bob, amount, &format!("pay-{}", uuid::Uuid::now_v7())).await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    let transfer = paid.body["id"].as_str().unwrap().to_owned();
    let claim = app.post("/v1/claims", Some(&alice.token), json!({"transfer_id": transfer, "reason": reason, "details": "I typed the wrong number."})).await;
    (transfer, claim)
}

fn kinds(claim: &Value) -> Vec<String> {
    claim["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

async fn notification_kinds(app: &TestApp, customer: &Customer) -> Vec<String> {
    let reply = app.get("/v1/me/notifications?limit=100", &customer.token).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["notifications"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap().to_owned()).collect()
}

both_stores! {
    async fn a_wrong_transfer_comes_back_in_one_click(app) {
        let alice = app.customer_named(Some("王小明"), 10_000).await;
        let bob = app.customer_named(Some("李四"), 0).await;
        let carol = app.customer_named(Some("张三"), 0).await;
        let (transfer, filed) = paid_and_claimed(&app, &alice, &bob, 5_000, "wrong_recipient").await;
        assert_eq!(filed.status, 201, "{}", filed.body);
        let claim = filed.body["id"].as_str().unwrap().to_owned();
        assert_eq!(filed.body["status"], "awaiting_payee");
        assert_eq!(filed.body["held_fen"], 0, "a wrong number is not high risk: nothing held");
        for deadline in ["payee_answer", "acknowledgement", "first_contact", "resolution"] {
            assert!(filed.body["deadlines"][deadline].is_string(), "{deadline}: {}", filed.body);
        }
        assert!(filed.body["reference"].as_str().unwrap().starts_with("RC-"));
        assert_eq!(kinds(&filed.body), ["filed"]);

        // Who sees what: the payee without the claimant's words; a stranger nothing.
        let as_bob = app.get(&format!("/v1/claims/{claim}"), &bob.token).await;
        assert_eq!((as_bob.status.as_u16(), as_bob.body["your_role"].as_str()), (200, Some("payee")));
        assert!(as_bob.body.get("details").is_none(), "{}", as_bob.body);
        assert_eq!(app.get(&format!("/v1/claims/{claim}"), &carol.token).await.code(), "not-found");
        assert_eq!(app.post(&format!("/v1/claims/{claim}/return"), Some(&carol.token), json!({"amount": 1})).await.code(), "not-found");
        assert_eq!(app.post(&format!("/v1/claims/{claim}/return"), Some(&alice.token), json!({"amount": 1})).await.code(), "not-found", "the claimant cannot return");
        assert!(notification_kinds(&app, &bob).await.contains(&"claim_against_you".to_owned()));
        assert!(notification_kinds(&app, &alice).await.contains(&"claim_filed".to_owned()));

        // Part, then more than is left (409), then the rest.
        let part = app.post(&format!("/v1/claims/{claim}/return"), Some(&bob.token), json!({"amount": 2_000})).await;
        assert_eq!(part.status, 200, "{}", part.body);
        assert_eq!((part.body["status"].as_str(), part.body["returned_fen"].as_i64()), (Some("awaiting_payee"), Some(2_000)));
        let beyond = app.post(&format!("/v1/claims/{claim}/return"), Some(&bob.token), json!({"amount": 4_000})).await;
        assert_eq!(beyond.code(), "return-exceeds-claim");
        assert_eq!(beyond.body["outstanding"], 3_000);
        assert_eq!(app.post(&format!("/v1/claims/{claim}/return"), Some(&bob.token), json!({"amount": 0})).await.code(), "invalid-amount");
        let rest = app.post(&format!("/v1/claims/{claim}/return"), Some(&bob.token), json!({"amount": 3_000})).await;
        assert_eq!(rest.status, 200, "{}", rest.body);
        assert_eq!((rest.body["status"].as_str(), rest.body["returned_fen"].as_i64()), (Some("returned"), Some(5_000)));
        assert!(rest.body["resolved_at"].is_string());
        // Repeating is safe: nothing is left to return.
        assert_eq!(app.post(&format!("/v1/claims/{claim}/return"), Some(&bob.token), json!({"amount": 1})).await.code(), "return-exceeds-claim");
        assert_eq!((app.available(&alice).await, app.available(&bob).await), (10_000, 0));
        let transfer_now = app.get(&format!("/v1/transfers/{transfer}"), &alice.token).await;
        assert_eq!(transfer_now.body["status"], "returned", "{}", transfer_now.body);
        assert_eq!(notification_kinds(&app, &alice).await.iter().filter(|k| *k == "money_returned").count(), 2);

        // One claim per transfer.
        let again = app.post("/v1/claims", Some(&alice.token), json!({"transfer_id": transfer, "reason": "fraud", "details": "again"})).await;
        assert_eq!(again.code(), "claim-exists");
        assert_eq!(again.body["claim_id"], claim.as_str());
        // Nothing more happens when the deadlines pass.
        app.advance_clock(40 * DAY).await;
        let alice = Customer { token: app.login(&alice.phone).await, ..alice };
        let after = app.get(&format!("/v1/claims/{claim}"), &alice.token).await;
        assert_eq!((after.body["status"].as_str(), after.body["compensation_days"].as_i64()), (Some("returned"), Some(0)));
        assert_eq!(app.available(&alice).await, 10_000);
    }

    async fn a_high_risk_claim_holds_the_funds_at_once_and_an_agent_returns_them(app) {
        let alice = app.customer_named(Some("王小明"), 10_000).await;
        let bob = app.customer_named(Some("李四"), 1_000).await;
        let paid = app.transfer(&alice, &bob, 4_000, "seller").await;
        assert_eq!(paid.status, 201);
        let transfer = paid.body["id"].as_str().unwrap().to_owned();
        // The seller blocks the buyer right after being paid.
        assert_eq!(app.post("/v1/me/blocks", Some(&bob.token), json!({"user_id": alice.id})).await.status, 201);
        let filed = app.post("/v1/claims", Some(&alice.token), json!({"transfer_id": transfer, "reason": "blocked_after_payment", "details": "Paid for a phone, then blocked."})).await;
        assert_eq!(filed.status, 201, "{}", filed.body);
        let claim = filed.body["id"].as_str().unwrap().to_owned();
        assert_eq!(filed.body["held_fen"], 4_000, "{}", filed.body);
        assert_eq!(kinds(&filed.body), ["filed", "hold_placed"]);
        assert_eq!(app.balance(&bob).await, (1_000, 4_000, 5_000), "available, held, total");
        // The payee sees the hold with its reason, and cannot spend the held money.
        let as_bob = app.get(&format!("/v1/claims/{claim}"), &bob.token).await;
        assert_eq!(as_bob.body["holds"][0]["reason"], "claim");
        assert!(notification_kinds(&app, &bob).await.contains(&"funds_held".to_owned()));
        assert_eq!(app.transfer(&bob, &alice, 2_000, "escape").await.code(), "insufficient-funds");

        // Staff: a customer and compliance may not act; the agent decides at once.
        let agent = app.staff(Role::Agent).await;
        let compliance = app.staff(Role::Compliance).await;
        let decide = json!({"outcome": "return", "reason": "The seller blocked the buyer; the money is returned."});
        assert_eq!(app.post(&format!("/v1/staff/claims/{claim}/decision"), Some(&alice.token), decide.clone()).await.code(), "forbidden");
        assert_eq!(app.post(&format!("/v1/staff/claims/{claim}/decision"), Some(&compliance), decide.clone()).await.code(), "forbidden");
        assert_eq!(app.get("/v1/staff/claims", &alice.token).await.code(), "forbidden");
        let queue = app.get("/v1/staff/claims", &compliance).await;
        assert!(queue.body["claims"].as_array().unwrap().iter().any(|c| c["id"] == claim.as_str()), "{}", queue.body);
        assert_eq!(app.post(&format!("/v1/staff/claims/{claim}/decision"), Some(&agent), json!({"outcome": "return", "amount": 5_000, "reason": "x"})).await.code(), "hold-exceeds-limit");
        assert_eq!(app.post(&format!("/v1/staff/claims/{claim}/decision"), Some(&agent), json!({"outcome": "maybe", "reason": "x"})).await.code(), "invalid-request");
        let decided = app.post(&format!("/v1/staff/claims/{claim}/decision"), Some(&agent), decide.clone()).await;
        assert_eq!(decided.status, 200, "{}", decided.body);
        assert_eq!((decided.body["status"].as_str(), decided.body["returned_fen"].as_i64(), decided.body["held_fen"].as_i64()), (Some("returned"), Some(4_000), Some(0)));
        assert!(decided.body["owner_id"].is_string(), "deciding takes the case");
        assert_eq!(app.balance(&bob).await, (1_000, 0, 1_000));
        assert_eq!(app.available(&alice).await, 10_000);
        assert_eq!(app.post(&format!("/v1/staff/claims/{claim}/decision"), Some(&agent), decide).await.code(), "claim-not-open");
        let timeline = kinds(&app.get(&format!("/v1/claims/{claim}"), &alice.token).await.body);
        assert_eq!(timeline.last().map(String::as_str), Some("decided"), "{timeline:?}");
        // Every staff action is in the audit log, and the chain verifies.
        let verdict = app.store.verify_audit(vec![app.state.vault.audit_key()]).await.unwrap();
        assert_eq!(verdict, AuditVerdict::Intact { entries: 1 });
    }

    async fn an_unanswered_claim_escalates_and_a_late_one_is_compensated_each_day(app) {
        let alice = app.customer_named(Some("王小明"), 10_000).await;
        let bob = app.customer_named(Some("李四"), 0).await;
        let (_, filed) = paid_and_claimed(&app, &alice, &bob, 3_000, "goods_not_received").await;
        assert_eq!(filed.status, 201, "{}", filed.body);
        let claim = filed.body["id"].as_str().unwrap().to_owned();
        // The acknowledgement (1 day) and first-contact (3 days) deadlines pass, then the payee's 72 hours.
        app.advance_clock(72 * HOUR + 1).await;
        let escalated = app.get(&format!("/v1/claims/{claim}"), &alice.token).await;
        assert_eq!(escalated.body["status"], "in_review", "{}", escalated.body);
        let timeline = kinds(&escalated.body);
        assert!(timeline.contains(&"escalated".to_owned()) && timeline.iter().filter(|k| *k == "overdue").count() == 2, "{timeline:?}");
        let notes = notification_kinds(&app, &alice).await;
        assert!(notes.contains(&"escalated".to_owned()) && notes.contains(&"overdue".to_owned()), "{notes:?}");

        // 30 days from filing, then two whole days late: two days of ¥10, one movement each.
        app.advance_clock(30 * DAY - (72 * HOUR + 1) + 2 * DAY + HOUR).await;
        let (alice, bob) = (Customer { token: app.login(&alice.phone).await, ..alice }, Customer { token: app.login(&bob.phone).await, ..bob });
        let late = app.get(&format!("/v1/claims/{claim}"), &alice.token).await;
        assert_eq!(late.body["compensation_days"], 2, "{}", late.body);
        assert_eq!(kinds(&late.body).iter().filter(|k| *k == "compensation").count(), 2);
        assert_eq!(app.available(&alice).await, 7_000 + 2 * 1_000);
        // The agent rejects: compensation stops.
        let agent = app.staff(Role::Agent).await;
        let taken = app.post(&format!("/v1/staff/claims/{claim}/take"), Some(&agent), json!(null)).await;
        assert_eq!(taken.status, 200, "{}", taken.body);
        let message = app.post(&format!("/v1/staff/claims/{claim}/messages"), Some(&agent), json!({"to": "payee", "text": "Please send proof of delivery."})).await;
        assert_eq!(message.status, 200, "{}", message.body);
        let as_alice = app.get(&format!("/v1/claims/{claim}"), &alice.token).await;
        assert!(!kinds(&as_alice.body).contains(&"message".to_owned()), "a message to the payee is not the claimant's");
        let as_bob = app.get(&format!("/v1/claims/{claim}"), &bob.token).await;
        assert!(kinds(&as_bob.body).contains(&"message".to_owned()));
        let note = app.post(&format!("/v1/staff/claims/{claim}/notes"), Some(&agent), json!({"text": "Seller shipped by courier."})).await;
        assert_eq!(note.status, 200);
        assert!(!kinds(&app.get(&format!("/v1/claims/{claim}"), &bob.token).await.body).contains(&"note".to_owned()), "notes are staff only");
        let rejected = app.post(&format!("/v1/staff/claims/{claim}/decision"), Some(&agent), json!({"outcome": "reject", "reason": "Delivery was proven."})).await;
        assert_eq!(rejected.body["status"], "rejected", "{}", rejected.body);
        app.advance_clock(3 * DAY).await;
        let alice = Customer { token: app.login(&alice.phone).await, ..alice };
        let after = app.get(&format!("/v1/claims/{claim}"), &alice.token).await;
        assert_eq!(after.body["compensation_days"], 2);
        assert_eq!(app.available(&alice).await, 9_000);
        let verdict = app.store.verify_audit(vec![app.state.vault.audit_key()]).await.unwrap();
        assert_eq!(verdict, AuditVerdict::Intact { entries: 4 });
    }

    async fn a_payer_warned_of_an_impostor_gets_the_money_held_when_claiming(app) {
        let alice = app.customer_named(Some("王小明"), 100_000).await;
        let bob = app.customer_as(Some("王建国"), "老王", 0).await;
        assert_eq!(app.transfer(&alice, &bob, 100, "lunch").await.status, 201);
        let mallory = app.customer_as(Some("张三"), "老王", 0).await;
        // Warned, confirmed anyway: a 24-hour delayed transfer that arrives.
        let sent = app.send(&alice, &mallory, 5_000, "to-mallory", json!({"confirm_warnings": true})).await;
        assert_eq!(sent.body["checks"]["delay_reason"], "impersonation_suspected", "{}", sent.body);
        app.advance_clock(DAY + 1).await;
        let filed = app.post("/v1/claims", Some(&alice.token), json!({"transfer_id": sent.body["id"], "reason": "impersonation", "details": "Not my friend."})).await;
        assert_eq!(filed.status, 201, "{}", filed.body);
        assert_eq!(filed.body["held_fen"], 5_000, "the impersonation warning at payment makes the claim high risk: {}", filed.body);
        // A plain payment to the real friend, claimed: nothing held.
        let (_, plain) = paid_and_claimed(&app, &alice, &bob, 300, "wrong_recipient").await;
        assert_eq!(plain.body["held_fen"], 0, "{}", plain.body);
    }

    async fn money_that_moved_on_is_traced_through_three_accounts_and_held_down_the_trail(app) {
        let alice = app.customer_named(Some("王小明"), 10_000).await;
        let bob = app.customer_named(Some("李四"), 0).await;
        let carol = app.customer_named(Some("张三"), 1_000).await;
        let dave = app.customer_named(Some("赵六"), 0).await;
        let erin = app.customer_named(Some("钱七"), 0).await;
        let paid = app.transfer(&alice, &bob, 5_000, "deposit").await;
        let transfer = paid.body["id"].as_str().unwrap().to_owned();
        app.advance_clock(HOUR).await;
        assert_eq!(app.transfer(&bob, &carol, 3_000, "on-1").await.status, 201);
        app.advance_clock(HOUR).await;
        assert_eq!(app.transfer(&carol, &dave, 2_000, "on-2").await.status, 201);
        let filed = app.post("/v1/claims", Some(&alice.token), json!({"transfer_id": transfer, "reason": "fraud", "details": "A fake seller."})).await;
        assert_eq!(filed.status, 201, "{}", filed.body);
        let claim = filed.body["id"].as_str().unwrap().to_owned();
        // Bob sends 500 back: that is the claimed money itself, not a share of his balance.
        assert_eq!(app.post(&format!("/v1/claims/{claim}/return"), Some(&bob.token), json!({"amount": 500})).await.status, 200);
        app.advance_clock(80 * HOUR).await;
        // Outside the 72 hours after the money reached bob: not followed.
        assert_eq!(app.transfer(&bob, &erin, 1_000, "late").await.status, 201);

        let agent = app.staff(Role::Agent).await;
        assert_eq!(app.get(&format!("/v1/staff/claims/{claim}/trace"), &alice.token).await.code(), "not-found", "staff only");
        let trace = app.get(&format!("/v1/staff/claims/{claim}/trace"), &agent).await;
        assert_eq!(trace.status, 200, "{}", trace.body);
        let trail = trace.body["trail"].as_array().unwrap();
        let summary: Vec<(u64, &str, i64, i64)> = trail
            .iter()
            .map(|n| (n["hop"].as_u64().unwrap(), n["user_id"].as_str().unwrap(), n["traced_fen"].as_i64().unwrap(), n["remaining_fen"].as_i64().unwrap()))
            .collect();
        // Bob had nothing else: all 3,000 sent on were the claimed money. Carol
        // had 1,000 of her own: 3/4 of her 2,000 to dave was.
        assert_eq!(summary, vec![(1, bob.id.as_str(), 5_000, 1_500), (2, carol.id.as_str(), 3_000, 1_500), (3, dave.id.as_str(), 1_500, 1_500)], "{}", trace.body);
        let kinds: Vec<&str> = trail[0]["carried"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["transfer", "returned"], "erin's payment was outside the window");
        assert_eq!(trail[0]["carried"][1]["attributed_fen"], 500);
        assert_eq!(trail[1]["carried"][0]["attributed_fen"], 1_500);
        assert_eq!(trail[0]["holdable_fen"], 500, "what bob still has");

        // Holds down the trail, within what reached each account.
        let account = |n: usize| trail[n]["account_id"].as_str().unwrap().to_owned();
        let hold = |account: String, amount: i64| {
            let (app, agent, claim) = (&app, &agent, &claim);
            async move { app.post(&format!("/v1/staff/claims/{claim}/holds"), Some(agent), json!({"account_id": account, "amount": amount, "reason": "traced"})).await }
        };
        assert_eq!(hold(account(2), 1_600).await.code(), "hold-exceeds-limit");
        assert_eq!(hold(account(2), 1_500).await.status, 200);
        assert_eq!(hold(account(1), 1_500).await.status, 200);
        assert_eq!(hold(account(0), 1_000).await.code(), "insufficient-funds");
        assert_eq!(hold(account(0), 500).await.status, 200);
        assert_eq!(hold(uuid::Uuid::now_v7().to_string(), 100).await.code(), "hold-exceeds-limit", "off the trail");
        assert!(notification_kinds(&app, &dave).await.contains(&"funds_held".to_owned()));
        let decided = app.post(&format!("/v1/staff/claims/{claim}/decision"), Some(&agent), json!({"outcome": "return", "reason": "Traced and recovered."})).await;
        assert_eq!(decided.status, 200, "{}", decided.body);
        assert_eq!((decided.body["status"].as_str(), decided.body["returned_fen"].as_i64()), (Some("returned"), Some(500 + 3_500)));
        assert_eq!(app.available(&alice).await, 5_000 + 4_000);
        assert_eq!((app.available(&bob).await, app.available(&carol).await, app.available(&dave).await), (0, 500, 500));
        let transfer_now = app.get(&format!("/v1/transfers/{transfer}"), &alice.token).await;
        assert_eq!(transfer_now.body["status"], "completed", "only part came back");
    }

    async fn a_precautionary_hold_expires_unless_extended(app) {
        let alice = app.customer_named(Some("王小明"), 10_000).await;
        let bob = app.customer_named(Some("李四"), 0).await;
        let paid = app.transfer(&alice, &bob, 2_000, "x").await;
        let transfer = paid.body["id"].as_str().unwrap().to_owned();
        app.post("/v1/me/blocks", Some(&bob.token), json!({"user_id": alice.id})).await;
        let filed = app.post("/v1/claims", Some(&alice.token), json!({"transfer_id": transfer, "reason": "fraud", "details": "Blocked me."})).await;
        let claim = filed.body["id"].as_str().unwrap().to_owned();
        let hold = filed.body["holds"][0]["id"].as_str().unwrap().to_owned();
        let agent = app.staff(Role::Agent).await;
        // At most 30 days from when it was placed.
        let too_long = app.post(&format!("/v1/staff/claims/{claim}/holds/{hold}/extend"), Some(&agent), json!({"hours": 31 * 24})).await;
        assert_eq!(too_long.code(), "invalid-request");
        let extended = app.post(&format!("/v1/staff/claims/{claim}/holds/{hold}/extend"), Some(&agent), json!({"hours": 5 * 24})).await;
        assert_eq!(extended.status, 200, "{}", extended.body);
        app.advance_clock(4 * DAY).await;
        assert_eq!(app.balance(&bob).await.1, 2_000, "still held after the default 72 hours");
        app.advance_clock(DAY + 1).await;
        assert_eq!(app.balance(&bob).await.1, 0, "released when it expired");
        let now = app.get(&format!("/v1/claims/{claim}"), &bob.token).await;
        assert!(kinds(&now.body).contains(&"hold_expired".to_owned()), "{}", now.body);
        assert!(notification_kinds(&app, &bob).await.contains(&"hold_ended".to_owned()));
        // The agent holds again (what is available, within the claim), then releases.
        let over = app.post(&format!("/v1/staff/claims/{claim}/holds"), Some(&agent), json!({"amount": 2_001, "reason": "still investigating"})).await;
        assert_eq!(over.code(), "hold-exceeds-limit");
        let held = app.post(&format!("/v1/staff/claims/{claim}/holds"), Some(&agent), json!({"amount": 1_500, "reason": "still investigating"})).await;
        assert_eq!(held.status, 200, "{}", held.body);
        assert_eq!(app.balance(&bob).await.1, 1_500);
        let second = held.body["holds"].as_array().unwrap().iter().find(|h| h["ended_at"].is_null()).unwrap()["id"].as_str().unwrap().to_owned();
        let released = app.post(&format!("/v1/staff/claims/{claim}/holds/{second}/release"), Some(&agent), json!(null)).await;
        assert_eq!(released.status, 200, "{}", released.body);
        assert_eq!(app.balance(&bob).await.1, 0);
        assert_eq!(app.post(&format!("/v1/staff/claims/{claim}/holds/{second}/release"), Some(&agent), json!(null)).await.code(), "not-found");
    }

    async fn claims_refuse_bad_input_and_transfers_that_are_not_the_callers(app) {
        let alice = app.customer_named(Some("王小明"), 10_000).await;
        let bob = app.customer_named(Some("李四"), 0).await;
        let paid = app.transfer(&alice, &bob, 1_000, "x").await;
        let transfer = paid.body["id"].as_str().unwrap().to_owned();
        let file = |token: String, body: Value| {
            let app = &app;
            async move { app.post("/v1/claims", Some(&token), body).await }
        };
        assert_eq!(file(alice.token.clone(), json!({"transfer_id": transfer, "reason": "regret", "details": "x"})).await.code(), "invalid-request");
        assert_eq!(file(alice.token.clone(), json!({"transfer_id": transfer, "reason": "fraud", "details": "  "})).await.code(), "invalid-request");
        assert_eq!(file(alice.token.clone(), json!({"transfer_id": transfer, "reason": "fraud", "details": "x".repeat(2_001)})).await.code(), "invalid-request");
        assert_eq!(file(alice.token.clone(), json!({"transfer_id": "nope", "reason": "fraud", "details": "x"})).await.code(), "not-found");
        assert_eq!(file(bob.token.clone(), json!({"transfer_id": transfer, "reason": "fraud", "details": "x"})).await.code(), "not-found", "only the payer claims");
        assert_eq!(file(alice.token.clone(), json!({"transfer_id": transfer, "reason": "fraud"})).await.status, 422);
        assert_eq!(file(alice.token.clone(), json!({"transfer_id": transfer, "reason": "fraud", "details": "x", "extra": 1})).await.status, 422);
        // Still in flight: revoke it instead.
        let delayed = app.send(&alice, &bob, 500, "later", json!({"arrival": "24h"})).await;
        assert_eq!(delayed.status, 201, "{}", delayed.body);
        let in_flight = file(alice.token.clone(), json!({"transfer_id": delayed.body["id"], "reason": "wrong_recipient", "details": "x"})).await;
        assert_eq!((in_flight.code(), in_flight.body["transfer_status"].as_str()), ("transfer-not-completed", Some("pending_arrival")));
        // Too late: 90 days.
        app.advance_clock(91 * DAY).await;
        let alice = Customer { token: app.login(&alice.phone).await, ..alice };
        assert_eq!(file(alice.token.clone(), json!({"transfer_id": transfer, "reason": "fraud", "details": "x"})).await.code(), "claim-window-closed");
        assert_eq!(app.get("/v1/claims/not-an-id", &alice.token).await.code(), "not-found");
        assert_eq!(app.get("/v1/me/notifications?limit=0", &alice.token).await.code(), "invalid-query");
        assert_eq!(app.get("/v1/me/notifications?cursor=zzz", &alice.token).await.code(), "invalid-query");
    }

    async fn notifications_page_newest_first_in_the_recipients_language(app) {
        let alice = app.customer_named(Some("王小明"), 10_000).await;
        let bob = app.customer_named(Some("李四"), 0).await;
        let me = app.request(reqwest::Method::PATCH, "/v1/me", Some(&bob.token), None, Some(json!({"language": "en"}))).await;
        assert_eq!((me.status.as_u16(), me.body["language"].as_str()), (200, Some("en")), "{}", me.body);
        assert_eq!(app.request(reqwest::Method::PATCH, "/v1/me", Some(&bob.token), None, Some(json!({"language": "fr"}))).await.code(), "invalid-request");
        for n in 0..3 {
            let (_, filed) = paid_and_claimed(&app, &alice, &bob, 100 + n, "wrong_recipient").await;
            assert_eq!(filed.status, 201);
        }
        let first = app.get("/v1/me/notifications?limit=2", &bob.token).await;
        assert_eq!(first.body["unread"], 3);
        let page: Vec<Value> = first.body["notifications"].as_array().unwrap().clone();
        assert_eq!(page.len(), 2);
        assert!(page[0]["message"].as_str().unwrap().starts_with("A payer has claimed back a payment of ¥1.02"), "{}", page[0]);
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let second = app.get(&format!("/v1/me/notifications?limit=2&cursor={cursor}"), &bob.token).await;
        let rest = second.body["notifications"].as_array().unwrap();
        assert_eq!(rest.len(), 1);
        assert!(rest[0]["message"].as_str().unwrap().contains("¥1.00"), "{}", rest[0]);
        let alices = app.get("/v1/me/notifications", &alice.token).await;
        assert!(alices.body["notifications"][0]["message"].as_str().unwrap().starts_with("我们已收到你的申诉"), "{}", alices.body);
        let id = page[0]["id"].as_str().unwrap();
        let read = app.request(reqwest::Method::POST, &format!("/v1/me/notifications/{id}/read"), Some(&bob.token), None, None).await;
        assert_eq!(read.status, 204);
        assert_eq!(app.request(reqwest::Method::POST, &format!("/v1/me/notifications/{id}/read"), Some(&alice.token), None, None).await.code(), "not-found");
        assert_eq!(app.get("/v1/me/notifications", &bob.token).await.body["unread"], 2);
    }
}

mod disclosure {
    use super::*;

    both_stores! {
        async fn only_the_requesting_authority_reads_the_identity_and_only_after_approval(app) {
            let alice = app.customer_named(Some("王小明"), 10_000).await;
            let bob = app.customer_named(Some("李四"), 0).await;
            let (transfer, filed) = paid_and_claimed(&app, &alice, &bob, 5_000, "fraud").await;
            let claim = filed.body["id"].as_str().unwrap().to_owned();
            let (police, court) = (app.staff(Role::Authority).await, app.staff(Role::Authority).await);
            let (compliance, agent) = (app.staff(Role::Compliance).await, app.staff(Role::Agent).await);
            let request = json!({"claim_id": claim, "legal_basis": "Criminal Procedure Law art. 54", "document_ref": "HZPSB-2026-0042"});
            for token in [&alice.token, &compliance, &agent] {
                assert_eq!(app.post("/v1/disclosures", Some(token), request.clone()).await.code(), "forbidden");
            }
            let both = json!({"claim_id": claim, "transfer_id": transfer, "legal_basis": "x", "document_ref": "y"});
            assert_eq!(app.post("/v1/disclosures", Some(&police), both).await.code(), "invalid-request");
            assert_eq!(app.post("/v1/disclosures", Some(&police), json!({"transfer_id": uuid::Uuid::now_v7().to_string(), "legal_basis": "x", "document_ref": "y"})).await.code(), "not-found");
            assert_eq!(app.post("/v1/disclosures", Some(&police), json!({"claim_id": claim, "legal_basis": " ", "document_ref": "y"})).await.code(), "invalid-request");
            let filed = app.post("/v1/disclosures", Some(&police), request).await;
            assert_eq!(filed.status, 201, "{}", filed.body);
            assert_eq!((filed.body["status"].as_str(), filed.body["subject_id"].as_str()), (Some("requested"), Some(bob.id.as_str())));
            let id = filed.body["id"].as_str().unwrap().to_owned();
            let path = format!("/v1/disclosures/{id}");

            // Before approval: the request only, and only for the requester and compliance.
            assert!(app.get(&path, &police).await.body.get("disclosed").is_none());
            for token in [&court, &alice.token, &bob.token, &agent] {
                assert_eq!(app.get(&path, token).await.code(), "not-found");
            }
            let queue = app.get("/v1/staff/disclosures", &compliance).await;
            assert!(queue.body["disclosures"].as_array().unwrap().iter().any(|d| d["id"] == id.as_str()), "{}", queue.body);
            assert_eq!(app.post(&format!("{path}/approve"), Some(&agent), json!(null)).await.code(), "forbidden");
            assert_eq!(app.post(&format!("{path}/approve"), Some(&police), json!(null)).await.code(), "forbidden", "no one approves their own request");
            assert_eq!(app.post(&format!("{path}/approve"), Some(&compliance), json!({"note": 5})).await.code(), "invalid-request");
            let approved = app.request(reqwest::Method::POST, &format!("{path}/approve"), Some(&compliance), None, None).await;
            assert_eq!(approved.body["status"], "approved", "{}", approved.body);
            assert_eq!(app.post(&format!("{path}/refuse"), Some(&compliance), json!({"note": "late"})).await.code(), "disclosure-already-decided");

            // After approval: the full identity, for the requesting authority only.
            let read = app.get(&path, &police).await;
            let disclosed = &read.body["disclosed"];
            assert_eq!(disclosed["legal_name"], "李四", "{}", read.body);
            assert_eq!(disclosed["id_number"].as_str(), bob.id_number.as_deref());
            assert_eq!(disclosed["phone"].as_str().map(|p| p.ends_with(&bob.phone[bob.phone.len() - 8..])), Some(true), "{}", read.body);
            assert_eq!(disclosed["trail"][0]["user_id"], bob.id.as_str());
            let full_number = bob.id_number.clone().unwrap();
            for token in [&compliance, &agent] {
                let seen = app.get(&path, token).await;
                assert!(!seen.body.to_string().contains(&full_number), "{seen:?}", seen = seen.body);
            }
            assert!(!app.get(&format!("/v1/claims/{claim}"), &agent).await.body.to_string().contains(&full_number));
            assert_eq!(app.get(&path, &court).await.code(), "not-found");
            // Request, approval and the read are in the audit log.
            let verdict = app.store.verify_audit(vec![app.state.vault.audit_key()]).await.unwrap();
            assert_eq!(verdict, AuditVerdict::Intact { entries: 3 });

            // The data subject is told after the legal delay, once.
            assert!(!notification_kinds(&app, &bob).await.contains(&"disclosure_made".to_owned()));
            app.advance_clock(90 * 24 * 3600 + 1).await;
            let bob = Customer { token: app.login(&bob.phone).await, ..bob };
            assert_eq!(notification_kinds(&app, &bob).await.iter().filter(|k| *k == "disclosure_made").count(), 1);
            app.advance_clock(3600).await;
            assert_eq!(notification_kinds(&app, &bob).await.iter().filter(|k| *k == "disclosure_made").count(), 1);
        }
    }
}

mod evidence_pack {
    use super::*;

    /// The PDF's text, read back with `pdftotext` (Debian `poppler-utils`).
    fn pdf_text(pdf: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pack.pdf");
        std::fs::write(&path, pdf).unwrap();
        let out = std::process::Command::new("pdftotext")
            .arg("-enc")
            .arg("UTF-8")
            .arg(&path)
            .arg("-")
            .output()
            .expect("pdftotext reads the evidence PDFs back: install Debian's poppler-utils (.ci/run does)");
        assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
        // pdftotext may break lines anywhere: compare without whitespace.
        String::from_utf8(out.stdout).unwrap().split_whitespace().collect()
    }

    async fn download(app: &TestApp, path: &str, token: &str) -> (u16, Vec<u8>, String) {
        let response = app.client.get(format!("{}{path}", app.base)).bearer_auth(token).send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (status, response.bytes().await.unwrap().to_vec(), content_type)
    }

    both_stores! {
        async fn the_evidence_pack_is_a_pdf_with_the_counterparty_masked_except_for_an_approved_authority(app) {
            let alice = app.customer_named(Some("王小明"), 100_000).await;
            let bob = app.customer_as(Some("李四"), "卖家小李", 0).await;
            let (transfer, filed) = paid_and_claimed(&app, &alice, &bob, 5_000, "goods_not_received").await;
            assert_eq!(filed.status, 201);
            let claim = filed.body["id"].as_str().unwrap().to_owned();
            let reference = filed.body["reference"].as_str().unwrap().to_owned();
            let path = format!("/v1/claims/{claim}/evidence.pdf");

            let (status, pdf, content_type) = download(&app, &path, &alice.token).await;
            assert_eq!((status, content_type.as_str()), (200, "application/pdf"));
            assert!(pdf.starts_with(b"%PDF-"), "a PDF");
            let text = pdf_text(&pdf);
            for expected in ["Recourse申诉证据包", reference.as_str(), "¥50.00", "卖家小李", "*四", "付款时付款人看到的信息", "下一步法律途径", "人民法院", transfer.as_str()] {
                assert!(text.contains(expected), "the claimant's copy lacks {expected:?}: {text}");
            }
            assert!(!text.contains("李四"), "the counterparty is masked in the claimant's copy");
            let english = pdf_text(&download(&app, &format!("{path}?lang=en"), &alice.token).await.1);
            for expected in ["Recourseevidencepack", "Thenextlegalstep", "unjustenrichment", "Warningshown"] {
                assert!(english.contains(expected), "the English copy lacks {expected:?}: {english}");
            }
            assert_eq!(app.get(&format!("{path}?lang=fr"), &alice.token).await.code(), "invalid-query");
            // Not for the payee, a stranger, or an authority without an approved disclosure.
            let stranger = app.customer_named(Some("张三"), 0).await;
            let police = app.staff(Role::Authority).await;
            for token in [&bob.token, &stranger.token, &police] {
                assert_eq!(download(&app, &path, token).await.0, 404);
            }
            let agent = app.staff(Role::Agent).await;
            assert!(!pdf_text(&download(&app, &path, &agent).await.1).contains("李四"), "staff see it masked too");

            // The authority's copy after approval: the payee in full, the read audited.
            let compliance = app.staff(Role::Compliance).await;
            let request = app.post("/v1/disclosures", Some(&police), json!({"claim_id": claim, "legal_basis": "Criminal Procedure Law art. 54", "document_ref": "HZ-1"})).await;
            let disclosure = request.body["id"].as_str().unwrap();
            assert_eq!(download(&app, &path, &police).await.0, 404, "not before approval");
            assert_eq!(app.request(reqwest::Method::POST, &format!("/v1/disclosures/{disclosure}/approve"), Some(&compliance), None, None).await.status, 200);
            let full = pdf_text(&download(&app, &path, &police).await.1);
            assert!(full.contains("李四") && full.contains(bob.id_number.as_deref().unwrap()), "{full}");
            let verdict = app.store.verify_audit(vec![app.state.vault.audit_key()]).await.unwrap();
            assert_eq!(verdict, AuditVerdict::Intact { entries: 3 }, "request, approval, and the read of the pack");
        }
    }
}

mod who_may {
    use super::*;

    both_stores! {
        async fn see_and_do_what_on_a_claim(app) {
            let alice = app.customer_named(Some("王小明"), 10_000).await;
            let bob = app.customer_named(Some("李四"), 0).await;
            let stranger = app.customer_named(Some("张三"), 0).await;
            let (_, filed) = paid_and_claimed(&app, &alice, &bob, 2_000, "wrong_recipient").await;
            let claim = filed.body["id"].as_str().unwrap().to_owned();
            let people = [
                ("claimant", alice.token.clone()),
                ("payee", bob.token.clone()),
                ("agent", app.staff(Role::Agent).await),
                ("compliance", app.staff(Role::Compliance).await),
                ("authority", app.staff(Role::Authority).await),
                ("admin", app.staff(Role::Admin).await),
                ("stranger", stranger.token.clone()),
            ];
            // Expected status per person, in the order above.
            let get_routes: [(String, [u16; 7]); 5] = [
                (format!("/v1/claims/{claim}"), [200, 200, 200, 200, 404, 200, 404]),
                (format!("/v1/claims/{claim}/evidence.pdf"), [200, 404, 200, 200, 404, 200, 404]),
                ("/v1/staff/claims".to_owned(), [403, 403, 200, 200, 403, 200, 403]),
                (format!("/v1/staff/claims/{claim}/trace"), [404, 404, 200, 200, 404, 200, 404]),
                ("/v1/staff/disclosures".to_owned(), [403, 403, 403, 200, 403, 403, 403]),
            ];
            for (path, expected) in &get_routes {
                for ((who, token), want) in people.iter().zip(expected) {
                    let got = app.client.get(format!("{}{path}", app.base)).bearer_auth(token).send().await.unwrap().status().as_u16();
                    assert_eq!(got, *want, "{who} GET {path}");
                }
            }
            // Role checks come before the claim's status: every non-agent gets
            // 403 for the decision, whether or not the agent decided first.
            let post_routes: [(String, Value, [u16; 7]); 3] = [
                (format!("/v1/claims/{claim}/return"), json!({"amount": 999_999}), [404, 409, 404, 404, 404, 404, 404]),
                (format!("/v1/staff/claims/{claim}/notes"), json!({"text": "checked"}), [403, 403, 200, 403, 403, 403, 403]),
                (format!("/v1/staff/claims/{claim}/decision"), json!({"outcome": "reject", "reason": "no"}), [403, 403, 200, 403, 403, 403, 403]),
            ];
            for (path, body, expected) in &post_routes {
                for ((who, token), want) in people.iter().zip(expected) {
                    let got = app.client.post(format!("{}{path}", app.base)).json(body).bearer_auth(token).send().await.unwrap().status().as_u16();
                    assert_eq!(got, *want, "{who} POST {path}");
                }
            }
            // The notes are staff-only: the claimant and payee never see them.
            for token in [&alice.token, &bob.token] {
                let seen = app.get(&format!("/v1/claims/{claim}"), token).await;
                assert!(!seen.body.to_string().contains("checked"), "{}", seen.body);
            }
        }
    }
}
