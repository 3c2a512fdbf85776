//! Registration, sessions, profile, real-name verification and bank cards.

mod common;

use common::{Customer, PASSWORD, card_number, unique_id_number, unique_phone};
use recourse_domain::identity::make_id_number;
use serde_json::json;

both_stores! {
    async fn registration_accepts_mainland_numbers_and_refuses_bad_input(app) {
        let phone = unique_phone();
        let reply = app.post("/v1/users", None, json!({"phone": format!("+86 {phone}"), "password": PASSWORD, "nickname": " 小明 "})).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(reply.body["phone"], format!("+86{phone}"));
        assert_eq!(reply.body["nickname"], "小明");
        assert_eq!(reply.body["verified"], false);

        let again = app.post("/v1/users", None, json!({"phone": phone, "password": PASSWORD, "nickname": "x"})).await;
        assert_eq!((again.status.as_u16(), again.code()), (409, "phone-taken"));

        let cases = [
            (json!({"phone": "12345", "password": PASSWORD, "nickname": "a"}), 422, "invalid-phone"),
            (json!({"phone": "12800138000", "password": PASSWORD, "nickname": "a"}), 422, "invalid-phone"),
            (json!({"phone": unique_phone(), "password": "short", "nickname": "a"}), 422, "weak-password"),
            (json!({"phone": unique_phone(), "password": "aaaaaaaaaaaa", "nickname": "a"}), 422, "weak-password"),
            (json!({"phone": unique_phone(), "password": PASSWORD, "nickname": "   "}), 422, "invalid-nickname"),
            (json!({"phone": unique_phone(), "password": PASSWORD, "nickname": "x".repeat(33)}), 422, "invalid-nickname"),
            (json!({"phone": unique_phone(), "password": PASSWORD}), 422, "invalid-request"),
            (json!({"phone": unique_phone(), "password": PASSWORD, "nickname": "a", "role": "admin"}), 422, "invalid-request"),
            (json!({"phone": 13800138000u64, "password": PASSWORD, "nickname": "a"}), 422, "invalid-request"),
            (json!({"phone": unique_phone(), "password": PASSWORD, "nickname": "a", "avatar_base64": "!!"}), 422, "invalid-avatar"),
            (json!({"phone": unique_phone(), "password": PASSWORD, "nickname": "a", "avatar_base64": "aGVsbG8="}), 422, "invalid-avatar"),
        ];
        for (body, status, code) in cases {
            let reply = app.post("/v1/users", None, body.clone()).await;
            assert_eq!((reply.status.as_u16(), reply.code()), (status, code), "{body}");
        }

        // Malformed JSON and a missing content type.
        let raw = app.client.post(format!("{}/v1/users", app.base)).header("content-type", "application/json").body("{not json").send().await.unwrap();
        assert_eq!(raw.status(), 400);
        assert_eq!(raw.headers()["content-type"], "application/problem+json");
        let raw = app.client.post(format!("{}/v1/users", app.base)).body("{}").send().await.unwrap();
        assert_eq!(raw.status(), 415);
        let huge = "x".repeat(2 * 1024 * 1024);
        let raw = app.client.post(format!("{}/v1/users", app.base)).header("content-type", "application/json").body(huge).send().await.unwrap();
        assert_eq!(raw.status(), 413);
    }

    async fn sessions_log_in_check_and_revoke(app) {
        let phone = unique_phone();
        app.register(&phone, "n").await;
        let wrong = app.post("/v1/sessions", None, json!({"phone": phone, "password": "not the password"})).await;
        assert_eq!((wrong.status.as_u16(), wrong.code()), (401, "invalid-credentials"));
        let unknown = app.post("/v1/sessions", None, json!({"phone": unique_phone(), "password": PASSWORD})).await;
        assert_eq!((unknown.status.as_u16(), unknown.code()), (401, "invalid-credentials"));
        let garbage = app.post("/v1/sessions", None, json!({"phone": "nope", "password": PASSWORD})).await;
        assert_eq!(garbage.status, 401);

        let token = app.login(&phone).await;
        let me = app.get("/v1/me", &token).await;
        assert_eq!(me.status, 200);
        assert_eq!(me.body["verified"], false);
        assert_eq!(me.body["balance"], json!({"available": 0, "held": 0, "total": 0, "currency": "CNY"}));

        for bad in ["", "Bearer", "Bearer nonsense", "Basic abc", "Bearer rcs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
            let reply = app.client.get(format!("{}/v1/me", app.base)).header("authorization", bad).send().await.unwrap();
            assert_eq!(reply.status(), 401, "{bad}");
            assert_eq!(reply.headers()["www-authenticate"], "Bearer");
        }
        let no_header = app.client.get(format!("{}/v1/me", app.base)).send().await.unwrap();
        assert_eq!(no_header.status(), 401);

        let logout = app.request(reqwest::Method::DELETE, "/v1/sessions/current", Some(&token), None, None).await;
        assert_eq!(logout.status, 204);
        let after = app.get("/v1/me", &token).await;
        assert_eq!((after.status.as_u16(), after.code()), (401, "unauthenticated"));
    }

    async fn a_flood_of_logins_waits_in_a_bounded_queue_then_gets_503(app) {
        // A server with one hashing thread, a queue of one, no patience, and real Argon2 costs.
        let mut config = recourse_service::config::ServiceConfig::for_tests();
        config.password_hashing = recourse_service::config::PasswordHashing::default();
        (config.limits.password_hashing_concurrency, config.limits.password_hashing_queue_max, config.limits.password_hashing_wait_ms) = (1, 1, 1);
        config.limits.rate_limits = recourse_service::config::RateLimits::Enforce;
        let kind = app.kind;
        let Some(flooded) = common::spawn_app_with(kind, config).await else { return };
        let mut logins = Vec::new();
        for _ in 0..16 {
            let (client, base, phone) = (flooded.client.clone(), flooded.base.clone(), unique_phone());
            logins.push(tokio::spawn(async move {
                let reply = client.post(format!("{base}/v1/sessions")).json(&json!({"phone": phone, "password": "a guess for a number"})).send().await.unwrap();
                let (status, retry_after) = (reply.status().as_u16(), reply.headers().get("retry-after").is_some());
                let code = reply.json::<serde_json::Value>().await.unwrap()["code"].as_str().unwrap_or("").to_owned();
                (status, code, retry_after)
            }));
        }
        let mut answers = Vec::new();
        for login in logins {
            answers.push(login.await.unwrap());
        }
        assert!(answers.iter().all(|(status, code, _)| (*status, code.as_str()) == (401, "invalid-credentials") || (*status, code.as_str()) == (503, "overloaded")), "{answers:?}");
        assert!(answers.iter().any(|(status, _, retry)| *status == 503 && *retry), "the flood was turned away: {answers:?}");
        assert!(answers.iter().any(|(status, _, _)| *status == 401), "and some were answered: {answers:?}");
        // The queue empties: an ordinary login works again.
        let phone = unique_phone();
        flooded.register(&phone, "n").await;
        flooded.login(&phone).await;
        flooded.finish().await;
    }

    async fn an_ordinary_burst_of_registrations_waits_its_turn(app) {
        let mut registrations = Vec::new();
        for n in 0..12 {
            let (client, base, phone) = (app.client.clone(), app.base.clone(), unique_phone());
            registrations.push(tokio::spawn(async move {
                client.post(format!("{base}/v1/users")).json(&json!({"phone": phone, "password": PASSWORD, "nickname": format!("n{n}")})).send().await.unwrap().status().as_u16()
            }));
        }
        for registration in registrations {
            assert_eq!(registration.await.unwrap(), 201);
        }
    }

    async fn a_burst_of_parallel_guesses_gets_no_more_than_the_limit(app) {
        let phone = unique_phone();
        app.register(&phone, "n").await;
        let max = app.state.config.limits.login_failures_max as usize;
        // 25 wrong passwords at once: each attempt is counted before its password is checked.
        let mut attempts = Vec::new();
        for n in 0..25 {
            let (client, base, phone) = (app.client.clone(), app.base.clone(), phone.clone());
            attempts.push(tokio::spawn(async move {
                client.post(format!("{base}/v1/sessions")).json(&json!({"phone": phone, "password": format!("guess number {n}")})).send().await.unwrap().status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for attempt in attempts {
            statuses.push(attempt.await.unwrap());
        }
        let checked = statuses.iter().filter(|s| **s == 401).count();
        assert_eq!(checked, max, "exactly the limit was checked: {statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 25 - max);
        // The right password now waits too, until the window ends.
        assert_eq!(app.post("/v1/sessions", None, json!({"phone": phone, "password": PASSWORD})).await.code(), "too-many-attempts");
        app.advance_clock(app.state.config.limits.login_failure_window_seconds + 1).await;
        app.login(&phone).await;
    }

    async fn password_guessing_pauses_logins_for_that_phone(app) {
        let phone = unique_phone();
        app.register(&phone, "n").await;
        let max = app.state.config.limits.login_failures_max;
        for _ in 0..max {
            let wrong = app.post("/v1/sessions", None, json!({"phone": phone, "password": "guess guess"})).await;
            assert_eq!(wrong.code(), "invalid-credentials");
        }
        // Now even the right password waits, and says for how long.
        let paused = app.post("/v1/sessions", None, json!({"phone": phone, "password": PASSWORD})).await;
        assert_eq!((paused.status.as_u16(), paused.code()), (429, "too-many-attempts"));
        assert!(paused.body["retry_after_seconds"].as_i64().unwrap() > 0);
        assert!(paused.headers.contains_key("retry-after"));
        // Unknown numbers are paused the same way: the pause reveals nothing.
        let unknown = unique_phone();
        for _ in 0..max {
            app.post("/v1/sessions", None, json!({"phone": unknown, "password": "guess guess"})).await;
        }
        assert_eq!(app.post("/v1/sessions", None, json!({"phone": unknown, "password": PASSWORD})).await.status, 429);
        // Other numbers are unaffected; the pause ends with its window, on the service clock.
        let other = unique_phone();
        app.register(&other, "n").await;
        app.login(&other).await;
        assert_eq!(app.advance_clock(app.state.config.limits.login_failure_window_seconds + 1).await.status, 200);
        app.login(&phone).await;
        // A success clears the count.
        for _ in 0..max - 1 {
            app.post("/v1/sessions", None, json!({"phone": phone, "password": "guess guess"})).await;
        }
        app.login(&phone).await;
        app.post("/v1/sessions", None, json!({"phone": phone, "password": "guess guess"})).await;
        app.login(&phone).await;
    }

    async fn sessions_expire_on_the_service_clock(app) {
        let phone = unique_phone();
        app.register(&phone, "n").await;
        let token = app.login(&phone).await;
        assert_eq!(app.get("/v1/me", &token).await.status, 200);
        let ttl = app.state.config.limits.session_ttl_seconds;
        assert_eq!(app.advance_clock(ttl - 60).await.status, 200);
        assert_eq!(app.get("/v1/me", &token).await.status, 200);
        assert_eq!(app.advance_clock(120).await.status, 200);
        assert_eq!(app.get("/v1/me", &token).await.status, 401);
    }

    async fn verification_masks_and_encrypts_identity(app) {
        let customer = app.customer(false, 0).await;
        let id_number = unique_id_number();
        let reply = app.post("/v1/me/verification", Some(&customer.token), json!({"legal_name": "买买提·艾力", "id_number": id_number})).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["verified"], true);
        assert_eq!(reply.body["masked_name"], "买买提·**");
        assert_eq!(reply.body["masked_id_number"], format!("**************{}", &id_number[14..]));
        let text = reply.body.to_string();
        assert!(!text.contains("艾力") && !text.contains(&id_number[..14]), "no plain identity in the response: {text}");

        let again = app.post("/v1/me/verification", Some(&customer.token), json!({"legal_name": "王小明", "id_number": unique_id_number()})).await;
        assert_eq!((again.status.as_u16(), again.code()), (409, "already-verified"));

        // The same identity number cannot verify a second account (default limit 1).
        let other = app.customer(false, 0).await;
        let reused = app.post("/v1/me/verification", Some(&other.token), json!({"legal_name": "买买提·艾力", "id_number": id_number})).await;
        assert_eq!((reused.status.as_u16(), reused.code()), (409, "identity-limit-reached"));

        // At rest: the store holds ciphertext only.
        let identity = app.store.encrypted_identity(customer.id.parse().unwrap()).await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&identity.legal_name_enc).contains("艾力"));
        assert!(!String::from_utf8_lossy(&identity.id_number_enc).contains(&id_number[..14]));
    }

    async fn verification_refuses_bad_names_numbers_and_minors(app) {
        let customer = app.customer(false, 0).await;
        let today = app.state.clock.today();
        let minor = make_id_number("110105", today.checked_sub(jiff::Span::new().years(15)).unwrap(), 1);
        let future = make_id_number("110105", today.checked_add(jiff::Span::new().days(2)).unwrap(), 1);
        let good = unique_id_number();
        let mut bad_check = good.clone();
        let last = bad_check.pop().unwrap();
        bad_check.push(if last == '0' { '1' } else { '0' });
        let cases = [
            (json!({"legal_name": "王小明", "id_number": "123"}), "invalid-id-number", Some("format")),
            (json!({"legal_name": "王小明", "id_number": bad_check}), "invalid-id-number", Some("check_digit")),
            (json!({"legal_name": "王小明", "id_number": "990105199001010011"}), "invalid-id-number", Some("region")),
            (json!({"legal_name": "王小明", "id_number": "110105199013010011"}), "invalid-id-number", Some("birth_date")),
            (json!({"legal_name": "王小明", "id_number": future}), "invalid-id-number", Some("birth_date")),
            (json!({"legal_name": "王小明", "id_number": minor}), "below-minimum-age", None),
            (json!({"legal_name": "王", "id_number": good}), "invalid-legal-name", None),
            (json!({"legal_name": "王1明", "id_number": good}), "invalid-legal-name", None),
            (json!({"legal_name": "", "id_number": good}), "invalid-legal-name", None),
            (json!({"legal_name": "Wang 小明", "id_number": good}), "invalid-legal-name", None),
        ];
        for (body, code, reason) in cases {
            let reply = app.post("/v1/me/verification", Some(&customer.token), body.clone()).await;
            assert_eq!((reply.status.as_u16(), reply.code()), (422, code), "{body}");
            if let Some(reason) = reason {
                assert_eq!(reply.body["reason"], reason, "{body}");
            }
        }
        // Nothing was stored by the refusals.
        assert_eq!(app.get("/v1/me", &customer.token).await.body["verified"], false);
        let latin = app.post("/v1/me/verification", Some(&customer.token), json!({"legal_name": "John  Smith", "id_number": good})).await;
        assert_eq!(latin.status, 200, "{}", latin.body);
        assert_eq!(latin.body["masked_name"], "J*** S****");
    }

    async fn cards_need_verification_luhn_and_the_holder_name(app) {
        let unverified = app.customer(false, 0).await;
        let reply = app.post("/v1/me/cards", Some(&unverified.token), json!({"card_number": card_number(9_000_001), "holder_name": "王小明"})).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (403, "verification-required"));

        let customer: Customer = app.customer(true, 0).await;
        let name = customer.legal_name.clone().unwrap();
        let mut bad = card_number(9_000_002);
        let last = bad.pop().unwrap();
        bad.push(if last == '0' { '1' } else { '0' });
        let cases = [
            (json!({"card_number": bad, "holder_name": name}), 422, "invalid-card-number"),
            (json!({"card_number": "1234", "holder_name": name}), 422, "invalid-card-number"),
            (json!({"card_number": card_number(9_000_003), "holder_name": "李四"}), 422, "card-holder-mismatch"),
            (json!({"card_number": card_number(9_000_003), "holder_name": "!!"}), 422, "card-holder-mismatch"),
        ];
        for (body, status, code) in cases {
            let reply = app.post("/v1/me/cards", Some(&customer.token), body.clone()).await;
            assert_eq!((reply.status.as_u16(), reply.code()), (status, code), "{body}");
        }
        let number = card_number(9_000_004);
        let spaced = format!("{} {}", &number[..4], &number[4..]);
        let bound = app.post("/v1/me/cards", Some(&customer.token), json!({"card_number": spaced, "holder_name": " 王 小明 "})).await;
        assert_eq!(bound.status, 201, "{}", bound.body);
        assert_eq!(bound.body["masked_number"], format!("**** **** **** {}", &number[number.len() - 4..]));
        assert!(!bound.body.to_string().contains(&number[..8]));
        let twice = app.post("/v1/me/cards", Some(&customer.token), json!({"card_number": number, "holder_name": name})).await;
        assert_eq!((twice.status.as_u16(), twice.code()), (409, "card-already-bound"));
        let list = app.get("/v1/me/cards", &customer.token).await;
        assert_eq!(list.body["cards"].as_array().unwrap().len(), 2);
    }

    async fn profile_nickname_and_avatar(app) {
        let customer = app.customer(false, 0).await;
        let patched = app.request(reqwest::Method::PATCH, "/v1/me", Some(&customer.token), None, Some(json!({"nickname": "新名字"}))).await;
        assert_eq!(patched.status, 200);
        assert_eq!(patched.body["nickname"], "新名字");
        let png = common::picture(1, 64);
        let put = app.client.put(format!("{}/v1/me/avatar", app.base)).bearer_auth(&customer.token).body(png.clone()).send().await.unwrap();
        assert_eq!(put.status(), 200);
        let me: serde_json::Value = put.json().await.unwrap();
        let url = me["avatar_url"].as_str().unwrap().to_owned();
        let image = app.client.get(format!("{}{url}", app.base)).bearer_auth(&customer.token).send().await.unwrap();
        assert_eq!(image.headers()["content-type"], "image/png");
        assert_eq!(image.bytes().await.unwrap().to_vec(), png);
        let not_image = app.client.put(format!("{}/v1/me/avatar", app.base)).bearer_auth(&customer.token).body("GIF89a").send().await.unwrap();
        assert_eq!(not_image.status(), 422);
        // An avatar given at registration is stored with the account.
        let phone = unique_phone();
        let png_base64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
        let registered = app.post("/v1/users", None, json!({"phone": phone, "password": PASSWORD, "nickname": "pic", "avatar_base64": png_base64})).await;
        assert_eq!(registered.status, 201, "{}", registered.body);
        let with_avatar = app.login(&phone).await;
        assert!(app.get("/v1/me", &with_avatar).await.body["avatar_url"].as_str().unwrap().starts_with("/v1/avatars/"));
        // Nickname and avatar changes are capped per day (impostors churn both).
        let cap = app.state.config.limits.profile_changes_per_day;
        let mut refused = None;
        for n in 0..cap + 2 {
            let reply = app.request(reqwest::Method::PATCH, "/v1/me", Some(&customer.token), None, Some(json!({"nickname": format!("名字{n}")}))).await;
            if reply.status != 200 {
                refused = Some(reply);
                break;
            }
        }
        let refused = refused.expect("the daily cap is reached");
        assert_eq!((refused.status.as_u16(), refused.code()), (429, "too-many-changes"));
        assert!(refused.headers.contains_key("retry-after"));
        let avatar_refused = app.client.put(format!("{}/v1/me/avatar", app.base)).bearer_auth(&customer.token).body(png.clone()).send().await.unwrap();
        assert_eq!(avatar_refused.status(), 429);
        assert_eq!(app.advance_clock(24 * 3600 + 1).await.status, 200);
        let again = app.request(reqwest::Method::PATCH, "/v1/me", Some(&customer.token), None, Some(json!({"nickname": "又一个"}))).await;
        assert_eq!(again.status, 200);
        let missing = app.get("/v1/avatars/not-a-uuid", &customer.token).await;
        assert_eq!((missing.status.as_u16(), missing.code()), (404, "not-found"));
    }

    async fn staff_log_in_but_hold_no_money(app) {
        let phone = recourse_domain::phone::Phone::parse(&unique_phone()).unwrap();
        let nickname = recourse_domain::text::Nickname::parse("agent").unwrap();
        app.state.create_account(&phone, PASSWORD, &nickname, recourse_domain::Role::Agent, None).await.unwrap().unwrap();
        let token = app.login(phone.as_str()).await;
        let me = app.get("/v1/me", &token).await;
        assert_eq!(me.body["role"], "agent");
        assert_eq!(me.body["balance"], serde_json::Value::Null);
        let history = app.get("/v1/me/transfers", &token).await;
        assert_eq!(history.body["transfers"], json!([]));
        let customer = app.customer(true, 1000).await;
        let reply = app.post_idem("/v1/transfers", &token, "k1", json!({"payee_id": customer.id, "amount": 1})).await;
        assert_eq!((reply.status.as_u16(), reply.code()), (403, "no-wallet"));
        let verify = app.post("/v1/me/verification", Some(&token), json!({"legal_name": "王小明", "id_number": unique_id_number()})).await;
        assert_eq!(verify.status, 403);
        let receive = app.post_idem("/v1/transfers", &customer.token, "k2", json!({"payee_phone": phone.as_str(), "amount": 1})).await;
        assert_eq!((receive.status.as_u16(), receive.code()), (422, "payee-cannot-receive"));
    }
}
