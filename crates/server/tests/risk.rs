//! Impersonation detection and the risk decision over HTTP, on both stores:
//! an impostor copying a contact's nickname is warned about before the
//! payer pays and, if confirmed, paid only as a revocable delayed transfer;
//! ordinary payments are not nagged; reports, staff decisions and fraud
//! markers; blocks; unusual amounts; sentences by `Accept-Language`.
//! Each test ends with a ledger audit.

mod common;

use common::{Customer, TestApp};
use recourse_domain::Role;
use serde_json::{Value, json};

const THRESHOLD: i64 = 100_000;
const DAY: i64 = 24 * 3600;

fn codes(warnings: &Value) -> Vec<String> {
    warnings.as_array().expect("warnings").iter().map(|w| w["code"].as_str().unwrap().to_owned()).collect()
}

async fn preview(app: &TestApp, viewer: &Customer, payee: &Customer, lang: Option<&str>) -> Value {
    let mut request = app.client.get(format!("{}/v1/payees/preview?id={}", app.base, payee.id)).bearer_auth(&viewer.token);
    if let Some(lang) = lang {
        request = request.header("accept-language", lang);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn put_avatar(app: &TestApp, customer: &Customer, image: Vec<u8>) -> u16 {
    let response = app.client.put(format!("{}/v1/me/avatar", app.base)).bearer_auth(&customer.token).body(image).send().await.unwrap();
    let status = response.status().as_u16();
    assert!(status < 500, "{}", response.text().await.unwrap());
    status
}

both_stores! {
    async fn an_impostor_with_a_copied_nickname_is_caught_before_the_payer_pays(app) {
        let alice = app.customer_named(Some("王小明"), 100_000).await;
        let bob = app.customer_as(Some("王建国"), "老王", 0).await;
        assert_eq!(app.transfer(&alice, &bob, 100, "lunch").await.status, 201);
        // A stranger takes bob's nickname.
        let mallory = app.customer_as(Some("张三"), "老王", 0).await;
        let seen = preview(&app, &alice, &mallory, None).await;
        assert_eq!(seen["risk"]["decision"], "warn");
        let warning = seen["warnings"].as_array().unwrap().iter().find(|w| w["code"] == "impersonation_suspected").expect("an impersonation warning").clone();
        assert_eq!(warning["contact_id"], bob.id.as_str());
        assert_eq!(warning["signals"], json!(["nickname"]));
        assert!(warning["message"].as_str().unwrap().contains("昵称"), "Chinese by default: {warning}");
        let english = preview(&app, &alice, &mallory, Some("en-GB,en;q=0.9")).await;
        assert!(english["warnings"][0]["message"].as_str().unwrap().contains("nickname"), "{english}");
        // The real friend is not suspected.
        let friend = preview(&app, &alice, &bob, None).await;
        assert!(!codes(&friend["warnings"]).contains(&"impersonation_suspected".to_owned()), "{friend}");

        let warned = app.transfer(&alice, &mallory, 5_000, "to-mallory").await;
        assert_eq!((warned.status.as_u16(), warned.code()), (409, "confirmation-required"), "{}", warned.body);
        assert!(codes(&warned.body["warnings"]).contains(&"impersonation_suspected".to_owned()));
        assert_eq!(app.balance(&alice).await, (99_900, 0, 99_900), "nothing moved");
        // Confirmed anyway: it goes, but as a delayed transfer the payer can still take back.
        let sent = app.send(&alice, &mallory, 5_000, "to-mallory", json!({"confirm_warnings": true})).await;
        assert_eq!(sent.status, 201, "{}", sent.body);
        assert_eq!((sent.body["status"].as_str(), sent.body["arrival"].as_str()), (Some("pending_arrival"), Some("24h")));
        let checks = &sent.body["checks"];
        assert_eq!(checks["delay_reason"], "impersonation_suspected");
        assert_eq!(checks["risk"]["decision"], "delay");
        assert!(checks["risk"]["reasons"].as_array().unwrap().contains(&json!("impersonation_suspected")));
        assert!(checks["confirmations"].as_array().unwrap().contains(&json!("confirm_warnings")));
        assert_eq!(app.balance(&alice).await, (94_900, 5_000, 99_900));
        let id = sent.body["id"].as_str().unwrap();
        let revoked = app.act(&alice, id, "revoke").await;
        assert_eq!(revoked.body["status"], "revoked", "{}", revoked.body);
        assert_eq!(app.balance(&alice).await, (99_900, 0, 99_900));
    }

    async fn look_alike_nicknames_are_caught_and_different_ones_are_not(app) {
        let alice = app.customer_named(Some("王小明"), 100_000).await;
        let friend = app.customer_as(Some("陈爱丽"), "Alice Chen", 0).await;
        assert_eq!(app.transfer(&alice, &friend, 100, "f").await.status, 201);
        // Cyrillic А, a trailing emoji and dots, full-width letters: the same name to the eye.
        for copy in ["\u{410}lice Chen", "Alice Chen 🌸", "Alice  Chen...", "Ａｌｉｃｅ Ｃｈｅｎ"] {
            let impostor = app.customer_as(Some("张三"), copy, 0).await;
            let seen = preview(&app, &alice, &impostor, None).await;
            assert_eq!(seen["risk"]["decision"], "warn", "{copy}: {seen}");
            assert!(codes(&seen["warnings"]).contains(&"impersonation_suspected".to_owned()), "{copy}");
        }
        // Someone who merely shares letters is not suspected.
        let other = app.customer_as(Some("李四"), "Alicia Cheng", 0).await;
        let seen = preview(&app, &alice, &other, None).await;
        assert_eq!(seen["risk"]["decision"], "allow", "{seen}");
    }

    async fn a_copied_avatar_is_caught_and_a_different_picture_is_not(app) {
        let alice = app.customer_named(Some("王小明"), 100_000).await;
        let friend = app.customer_named(Some("陈爱丽"), 0).await;
        let photo = common::picture(7, 128);
        assert_eq!(put_avatar(&app, &friend, photo.clone()).await, 200);
        assert_eq!(app.transfer(&alice, &friend, 100, "f").await.status, 201);
        // A stranger re-encodes and shrinks the friend's picture.
        let impostor = app.customer_named(Some("张三"), 0).await;
        assert_eq!(put_avatar(&app, &impostor, common::jpeg_copy(&photo, 96)).await, 200);
        let seen = preview(&app, &alice, &impostor, None).await;
        let warning = seen["warnings"].as_array().unwrap().iter().find(|w| w["code"] == "impersonation_suspected").expect("suspected").clone();
        assert_eq!((warning["contact_id"].as_str(), warning["signals"].clone()), (Some(friend.id.as_str()), json!(["avatar"])), "{seen}");
        assert!(warning["message"].as_str().unwrap().contains("头像"));
        // Someone else's own picture is not suspected.
        let other = app.customer_named(Some("李四"), 0).await;
        assert_eq!(put_avatar(&app, &other, common::picture(8, 128)).await, 200);
        assert_eq!(preview(&app, &alice, &other, None).await["risk"]["decision"], "allow");
        // Nor is the friend themself.
        assert!(!codes(&preview(&app, &alice, &friend, None).await["warnings"]).contains(&"impersonation_suspected".to_owned()));
    }

    async fn avatars_are_decoded_for_real(app) {
        let customer = app.customer_named(None, 0).await;
        let photo = common::picture(3, 64);
        assert_eq!(put_avatar(&app, &customer, photo[..photo.len() / 2].to_vec()).await, 422, "truncated");
        let mut garbage = photo.clone();
        for byte in garbage.iter_mut().skip(40).step_by(3) {
            *byte ^= 0x5a;
        }
        assert_eq!(put_avatar(&app, &customer, garbage).await, 422, "corrupt");
        assert_eq!(put_avatar(&app, &customer, b"GIF89a\x01\x00\x01\x00".to_vec()).await, 422, "not a PNG, JPEG or WebP");
        assert_eq!(put_avatar(&app, &customer, common::jpeg_copy(&photo, 80)).await, 200);
    }

    async fn ordinary_payments_are_not_nagged(app) {
        let alice = app.customer_named(Some("王小明"), 100_000).await;
        let carol = app.customer_named(Some("李娜"), 0).await;
        let first = app.transfer(&alice, &carol, 2_000, "first").await;
        assert_eq!(first.status, 201, "{}", first.body);
        assert_eq!(first.body["status"], "completed");
        let checks = &first.body["checks"];
        assert_eq!(checks["risk"]["decision"], "allow");
        // Information, shown but not in the way.
        let shown = codes(&checks["warnings"]);
        assert!(shown.contains(&"first_payment".to_owned()) && shown.contains(&"new_account".to_owned()), "{shown:?}");
        assert!(checks.get("delay_reason").is_none());
        let again = app.transfer(&alice, &carol, 2_000, "again").await;
        assert!(!codes(&again.body["checks"]["warnings"]).contains(&"first_payment".to_owned()));
        // An unverified payee below the threshold: a warning, no question.
        let dan = app.customer_named(None, 0).await;
        let small = app.transfer(&alice, &dan, 500, "dan").await;
        assert_eq!(small.status, 201, "{}", small.body);
        assert!(codes(&small.body["checks"]["warnings"]).contains(&"payee_unverified".to_owned()));
    }

    async fn reports_show_as_warnings_and_a_confirmed_marker_blocks_until_it_decays(app) {
        let mut alice = app.customer_named(Some("王小明"), 100_000).await;
        let mallory = app.customer_named(Some("张三"), 0).await;
        let carol = app.customer_named(Some("李娜"), 10_000).await;
        let dave = app.customer_named(Some("赵六"), 10_000).await;
        let paid = app.transfer(&carol, &mallory, 100, "c1").await;
        let transfer_id = paid.body["id"].as_str().unwrap();
        let first = app.post("/v1/reports", Some(&carol.token), json!({"user_id": mallory.id, "reason": "goods_not_received", "transfer_id": transfer_id, "details": "paid for a phone, nothing came"})).await;
        assert_eq!(first.status, 201, "{}", first.body);
        assert_eq!((first.body["status"].as_str(), first.body["reason"].as_str()), (Some("open"), Some("goods_not_received")));
        let second = app.post("/v1/reports", Some(&dave.token), json!({"user_id": mallory.id, "reason": "fraud"})).await;
        assert_eq!(second.status, 201, "{}", second.body);
        // Bad reports.
        for (body, status, code) in [
            (json!({"user_id": mallory.id, "reason": "spite"}), 422, "invalid-request"),
            (json!({"user_id": dave.id, "reason": "fraud"}), 422, "invalid-request"),
            (json!({"user_id": uuid::Uuid::now_v7().to_string(), "reason": "fraud"}), 404, "not-found"),
            (json!({"user_id": mallory.id, "reason": "fraud", "transfer_id": transfer_id}), 422, "invalid-request"),
            (json!({"user_id": mallory.id}), 422, "invalid-request"),
        ] {
            let reply = app.post("/v1/reports", Some(&dave.token), body.clone()).await;
            assert_eq!((reply.status.as_u16(), reply.code()), (status, code), "{body}");
        }
        // Open reports are shown with their count and never stop a payment.
        let seen = preview(&app, &alice, &mallory, None).await;
        let reports = seen["warnings"].as_array().unwrap().iter().find(|w| w["code"] == "fraud_reports").expect("fraud_reports").clone();
        assert_eq!(reports["count"], 2);
        assert_eq!(app.transfer(&alice, &mallory, 100, "a1").await.status, 201);

        // Staff decide.
        assert_eq!(app.get("/v1/staff/reports", &alice.token).await.code(), "forbidden");
        let authority = app.staff(Role::Authority).await;
        assert_eq!(app.get("/v1/staff/reports", &authority).await.code(), "forbidden");
        let agent = app.staff(Role::Agent).await;
        let open = app.get("/v1/staff/reports", &agent).await;
        assert_eq!(open.body["reports"].as_array().unwrap().len(), 2, "{}", open.body);
        let report_id = first.body["id"].as_str().unwrap();
        let no_note = app.post(&format!("/v1/staff/reports/{report_id}/confirm"), Some(&agent), json!({"note": " "})).await;
        assert_eq!(no_note.code(), "invalid-request");
        let confirmed = app.post(&format!("/v1/staff/reports/{report_id}/confirm"), Some(&agent), json!({"note": "three victims, same story"})).await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.body);
        assert_eq!((confirmed.body["status"].as_str(), confirmed.body["decision_note"].as_str()), (Some("confirmed"), Some("three victims, same story")));
        assert!(confirmed.body["decided_by"].is_string());
        let twice = app.post(&format!("/v1/staff/reports/{report_id}/dismiss"), Some(&agent), json!({"note": "changed my mind"})).await;
        assert_eq!((twice.status.as_u16(), twice.code()), (409, "report-already-decided"));
        let compliance = app.staff(Role::Compliance).await;
        let other = second.body["id"].as_str().unwrap();
        let dismissed = app.post(&format!("/v1/staff/reports/{other}/dismiss"), Some(&compliance), json!({"note": "duplicate"})).await;
        assert_eq!(dismissed.body["status"], "dismissed", "{}", dismissed.body);
        assert_eq!(app.post(&format!("/v1/staff/reports/{}/confirm", uuid::Uuid::now_v7()), Some(&agent), json!({"note": "x"})).await.code(), "not-found");
        assert_eq!(app.get("/v1/staff/reports?status=confirmed", &agent).await.body["reports"].as_array().unwrap().len(), 1);
        assert_eq!(app.get("/v1/staff/reports?status=nonsense", &agent).await.code(), "invalid-query");

        // A confirmed marker blocks payments for everyone, confirmed or not.
        for extra in [json!({}), json!({"confirm_warnings": true})] {
            let blocked = app.send(&alice, &mallory, 100, "a2", extra).await;
            assert_eq!((blocked.status.as_u16(), blocked.code()), (422, "transfer-blocked"), "{}", blocked.body);
            assert!(blocked.body["reasons"].as_array().unwrap().contains(&json!("fraud_marker")));
        }
        assert_eq!(preview(&app, &alice, &mallory, None).await["risk"]["decision"], "block");
        // It decays: after 200 days (half-life 90) it no longer blocks.
        app.advance_clock(200 * DAY).await;
        alice.token = app.login(&alice.phone).await;
        assert_eq!(app.transfer(&alice, &mallory, 100, "a3").await.status, 201);
    }

    async fn a_payee_who_blocked_the_payer_is_warned_about(app) {
        let alice = app.customer_named(Some("王小明"), 100_000).await;
        let bob = app.customer_named(Some("王建国"), 0).await;
        assert_eq!(app.transfer(&alice, &bob, 100, "b1").await.status, 201);
        let blocked = app.post("/v1/me/blocks", Some(&bob.token), json!({"user_id": alice.id})).await;
        assert_eq!(blocked.status, 201, "{}", blocked.body);
        assert_eq!(app.post("/v1/me/blocks", Some(&bob.token), json!({"user_id": alice.id})).await.status, 201, "again: nothing changes");
        assert_eq!(app.post("/v1/me/blocks", Some(&bob.token), json!({"user_id": bob.id})).await.code(), "invalid-request");
        assert_eq!(app.post("/v1/me/blocks", Some(&bob.token), json!({"user_id": "x"})).await.code(), "not-found");
        let warned = app.transfer(&alice, &bob, 100, "b2").await;
        assert_eq!(warned.code(), "confirmation-required");
        assert!(codes(&warned.body["warnings"]).contains(&"blocked_payer".to_owned()));
        let sent = app.send(&alice, &bob, 100, "b2", json!({"confirm_warnings": true})).await;
        assert_eq!(sent.status, 201, "{}", sent.body);
        assert_eq!(sent.body["status"], "completed", "a confirmed warning does not delay");
    }

    async fn an_unusual_amount_above_the_threshold_asks_after_name_completion(app) {
        let alice = app.customer_named(Some("王小明"), 1_000_000).await;
        let bob = app.customer_named(Some("张伟"), 0).await;
        for n in 0..5 {
            assert_eq!(app.transfer(&alice, &bob, 1_000, &format!("h{n}")).await.status, 201);
        }
        let first = app.transfer(&alice, &bob, 2 * THRESHOLD, "big").await;
        assert_eq!(first.code(), "name-completion-required");
        let completed = app.send(&alice, &bob, 2 * THRESHOLD, "big", json!({"name_completion": "张"})).await;
        assert_eq!(completed.code(), "confirmation-required", "{}", completed.body);
        assert!(completed.body["reasons"].as_array().unwrap().contains(&json!("unusual_amount")), "{}", completed.body);
        let confirmed = app.send(&alice, &bob, 2 * THRESHOLD, "big", json!({"name_completion": "张", "confirm_warnings": true})).await;
        assert_eq!(confirmed.status, 201, "{}", confirmed.body);
        assert_eq!(confirmed.body["status"], "completed");
    }
}

/// Pixels are limited before decoding (`limits.avatar_max_pixels`): too many is 413.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avatar_with_too_many_pixels_is_refused_before_decoding() {
    let mut config = recourse_service::config::ServiceConfig::for_tests();
    config.limits.avatar_max_pixels = 10_000;
    let app = common::spawn_app_with(common::StoreKind::Sqlite, config).await.unwrap();
    let customer = app.customer_named(None, 0).await;
    assert_eq!(put_avatar(&app, &customer, common::picture(1, 200)).await, 413);
    assert_eq!(put_avatar(&app, &customer, common::picture(1, 90)).await, 200);
    let registered = app.post("/v1/users", None, json!({"phone": common::unique_phone(), "password": common::PASSWORD, "nickname": "big",
        "avatar_base64": base64_of(&common::picture(2, 200))})).await;
    assert_eq!((registered.status.as_u16(), registered.code()), (413, "payload-too-large"));
    app.finish().await;
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
