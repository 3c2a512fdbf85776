//! The authorization matrix: every route of `/openapi.json` × every kind of
//! caller — nobody, the payer of a transfer, its payee, another customer,
//! an agent, a compliance officer, an authority, an admin — with the answer
//! each gets. A route without a row fails the test, so a new route cannot
//! ship without saying who may call it.
//!
//! `Ok` means "let through": any answer but 401, 403 and 404 (a validation
//! error of the body still counts as let through); a number is the exact
//! status expected. Rows run in order on one set of people; the few that
//! change state (a contest, an approval) come after what they would change.

mod common;

use recourse_domain::Role;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Ok,
    Is(u16),
}

use Expect::{Is, Ok};

const WHO: [&str; 8] = ["nobody", "payer", "payee", "other", "agent", "compliance", "authority", "admin"];

struct Row {
    method: &'static str,
    path: &'static str,
    body: Value,
    expect: [Expect; 8],
}

fn row(method: &'static str, path: &'static str, body: Value, expect: [Expect; 8]) -> Row {
    Row { method, path, body, expect }
}

both_stores! {
    async fn every_route_answers_every_kind_of_caller_as_the_table_says(app) {
        let payer = app.customer_named(Some("王小明"), 100_000).await;
        let payee = app.customer_named(Some("李四"), 0).await;
        let other = app.customer_named(Some("张三"), 0).await;
        let (agent, compliance, authority, admin) =
            (app.staff(Role::Agent).await, app.staff(Role::Compliance).await, app.staff(Role::Authority).await, app.staff(Role::Admin).await);
        let tokens: [Option<String>; 8] = [None, Some(payer.token.clone()), Some(payee.token.clone()), Some(other.token.clone()), Some(agent), Some(compliance.clone()), Some(authority.clone()), Some(admin)];

        // The things the routes name.
        let transfer = app.transfer(&payer, &payee, 500, "t").await.body["id"].as_str().unwrap().to_owned();
        let to_claim = app.transfer(&payer, &payee, 400, "t2").await.body["id"].as_str().unwrap().to_owned();
        let delayed = app.send(&payer, &payee, 300, "d", json!({"arrival": "24h"})).await.body["id"].as_str().unwrap().to_owned();
        let claim = app.post("/v1/claims", Some(&payer.token), json!({"transfer_id": transfer, "reason": "fraud", "details": "x"})).await.body["id"].as_str().unwrap().to_owned();
        let disclosure = app.post("/v1/disclosures", Some(&authority), json!({"claim_id": claim, "legal_basis": "law", "document_ref": "doc"})).await.body["id"].as_str().unwrap().to_owned();
        let report = app.post("/v1/reports", Some(&payer.token), json!({"user_id": payee.id, "reason": "fraud"})).await.body["id"].as_str().unwrap().to_owned();
        let avatar = app.client.put(format!("{}/v1/me/avatar", app.base)).bearer_auth(&payee.token).body(common::picture(3, 64)).send().await.unwrap().json::<Value>().await.unwrap()["avatar_url"].as_str().unwrap().to_owned();
        let notification = app.get("/v1/me/notifications", &payee.token).await.body["notifications"][0]["id"].as_str().unwrap().to_owned();
        let hold = app.post(&format!("/v1/staff/claims/{claim}/holds"), tokens[4].as_deref(), json!({"amount": 100, "reason": "r"})).await.body["holds"][0]["id"].as_str().unwrap_or("none").to_owned();

        let everyone_signed_in = [Is(401), Ok, Ok, Ok, Ok, Ok, Ok, Ok];
        let customers = [Is(401), Ok, Ok, Ok, Is(403), Is(403), Is(403), Is(403)];
        let public = [Ok; 8];
        let rows = vec![
            row("GET", "/healthz", Value::Null, public),
            row("GET", "/metrics", Value::Null, public),
            row("POST", "/v1/users", json!({"phone": "x", "password": "x", "nickname": "x"}), public),
            // A wrong password: 401 each time, until the per-phone brake (5 failures) answers 429.
            row("POST", "/v1/sessions", json!({"phone": "13800000000", "password": "wrong password"}), [Is(401), Is(401), Is(401), Is(401), Is(401), Is(429), Is(429), Is(429)]),
            row("POST", "/v1/test/clock", json!({"advance_seconds": 0}), public),
            row("GET", "/v1/me", Value::Null, everyone_signed_in),
            row("PATCH", "/v1/me", json!({}), everyone_signed_in),
            row("PUT", "/v1/me/avatar", json!("not a picture"), everyone_signed_in),
            row("GET", "/v1/avatars/{avatar}", Value::Null, everyone_signed_in),
            row("POST", "/v1/me/verification", json!({"legal_name": "王小明", "id_number": "{payer_id_number}"}), customers),
            // Staff have no cards: an empty list.
            row("GET", "/v1/me/cards", Value::Null, everyone_signed_in),
            row("POST", "/v1/me/cards", json!({"card_number": "1", "holder_name": "x"}), customers),
            row("POST", "/v1/me/topups", json!({"card_id": "x", "amount": 0}), customers),
            row("POST", "/v1/me/withdrawals", json!({"card_id": "x", "amount": 0}), customers),
            row("POST", "/v1/transfers", json!({"payee_id": "x", "amount": 0}), customers),
            row("GET", "/v1/me/transfers", Value::Null, everyone_signed_in),
            row("GET", "/v1/transfers/{transfer}", Value::Null, [Is(401), Ok, Ok, Is(404), Ok, Ok, Ok, Ok]),
            row("POST", "/v1/transfers/{delayed}/accept", json!(null), [Is(401), Is(404), Ok, Is(404), Is(404), Is(404), Is(404), Is(404)]),
            row("POST", "/v1/transfers/{delayed}/decline", json!(null), [Is(401), Is(404), Ok, Is(404), Is(404), Is(404), Is(404), Is(404)]),
            row("POST", "/v1/transfers/{delayed}/revoke", json!(null), [Is(401), Ok, Is(404), Is(404), Is(404), Is(404), Is(404), Is(404)]),
            row("GET", "/v1/payees/preview?id={payee_id}", Value::Null, customers),
            row("POST", "/v1/payee-checks", json!({"payee_id": "{payee_id}", "name": "李四"}), customers),
            row("GET", "/v1/me/contacts", Value::Null, customers),
            row("POST", "/v1/me/contacts", json!({"user_id": "{payee_id}"}), customers),
            // Every customer added the payee above; the payee is not their own contact.
            row("DELETE", "/v1/me/contacts/{contact_id}", Value::Null, [Is(401), Ok, Is(404), Ok, Is(403), Is(403), Is(403), Is(403)]),
            row("POST", "/v1/me/blocks", json!({"user_id": "{other_id}"}), customers),
            row("POST", "/v1/reports", json!({"user_id": "{other_id}", "reason": "nope"}), customers),
            row("GET", "/v1/staff/reports", Value::Null, [Is(401), Is(403), Is(403), Is(403), Ok, Ok, Is(403), Is(403)]),
            row("POST", "/v1/staff/reports/{report}/dismiss", json!({"note": ""}), [Is(401), Is(403), Is(403), Is(403), Ok, Ok, Is(403), Is(403)]),
            row("POST", "/v1/staff/reports/{report}/confirm", json!({"note": ""}), [Is(401), Is(403), Is(403), Is(403), Ok, Ok, Is(403), Is(403)]),
            row("GET", "/v1/me/notifications", Value::Null, everyone_signed_in),
            row("POST", "/v1/me/notifications/{notification}/read", json!(null), [Is(401), Is(404), Ok, Is(404), Is(404), Is(404), Is(404), Is(404)]),
            row("GET", "/v1/claims", Value::Null, everyone_signed_in),
            row("POST", "/v1/claims", json!({"transfer_id": "{to_claim}", "reason": "fraud", "details": "x"}), [Is(401), Ok, Is(404), Is(404), Is(404), Is(404), Is(404), Is(404)]),
            row("GET", "/v1/claims/{claim}", Value::Null, [Is(401), Ok, Ok, Is(404), Ok, Ok, Is(404), Ok]),
            row("GET", "/v1/claims/{claim}/evidence.pdf", Value::Null, [Is(401), Ok, Is(404), Is(404), Ok, Ok, Is(404), Ok]),
            row("GET", "/v1/staff/claims", Value::Null, [Is(401), Is(403), Is(403), Is(403), Ok, Ok, Is(403), Ok]),
            row("GET", "/v1/staff/claims/{claim}/trace", Value::Null, [Is(401), Is(404), Is(404), Is(404), Ok, Ok, Is(404), Ok]),
            row("POST", "/v1/staff/claims/{claim}/take", json!(null), [Is(401), Is(403), Is(403), Is(403), Ok, Is(403), Is(403), Is(403)]),
            row("POST", "/v1/staff/claims/{claim}/notes", json!({"text": "n"}), [Is(401), Is(403), Is(403), Is(403), Ok, Is(403), Is(403), Is(403)]),
            row("POST", "/v1/staff/claims/{claim}/messages", json!({"to": "payee", "text": "m"}), [Is(401), Is(403), Is(403), Is(403), Ok, Is(403), Is(403), Is(403)]),
            row("POST", "/v1/staff/claims/{claim}/holds", json!({"amount": 1, "reason": "r"}), [Is(401), Is(403), Is(403), Is(403), Ok, Is(403), Is(403), Is(403)]),
            row("POST", "/v1/staff/claims/{claim}/holds/{hold}/extend", json!({"hours": 1}), [Is(401), Is(403), Is(403), Is(403), Ok, Is(403), Is(403), Is(403)]),
            row("POST", "/v1/staff/claims/{claim}/holds/{hold}/release", json!(null), [Is(401), Is(403), Is(403), Is(403), Ok, Is(403), Is(403), Is(403)]),
            row("POST", "/v1/claims/{claim}/return", json!({"amount": 1}), [Is(401), Is(404), Ok, Is(404), Is(404), Is(404), Is(404), Is(404)]),
            row("POST", "/v1/claims/{claim}/contest", json!({"reason": "mine"}), [Is(401), Is(404), Ok, Is(404), Is(404), Is(404), Is(404), Is(404)]),
            row("POST", "/v1/staff/claims/{claim}/decision", json!({"outcome": "legal_route", "reason": "court"}), [Is(401), Is(403), Is(403), Is(403), Ok, Is(403), Is(403), Is(403)]),
            row("POST", "/v1/disclosures", json!({"transfer_id": "{transfer}", "legal_basis": "law", "document_ref": "doc"}), [Is(401), Is(403), Is(403), Is(403), Is(403), Is(403), Ok, Is(403)]),
            row("GET", "/v1/staff/disclosures", Value::Null, [Is(401), Is(403), Is(403), Is(403), Is(403), Ok, Is(403), Is(403)]),
            row("GET", "/v1/disclosures/{disclosure}", Value::Null, [Is(401), Is(404), Is(404), Is(404), Is(404), Ok, Ok, Is(404)]),
            row("POST", "/v1/disclosures/{disclosure}/approve", json!(null), [Is(401), Is(403), Is(403), Is(403), Is(403), Ok, Is(403), Is(403)]),
            row("POST", "/v1/disclosures/{disclosure}/refuse", json!(null), [Is(401), Is(403), Is(403), Is(403), Is(403), Ok, Is(403), Is(403)]),
            row("DELETE", "/v1/sessions/current", Value::Null, everyone_signed_in),
        ];

        // Every documented operation has a row, and every row is documented.
        let openapi: Value = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
        let mut documented: Vec<String> = Vec::new();
        for (path, operations) in openapi["paths"].as_object().unwrap() {
            for method in operations.as_object().unwrap().keys() {
                documented.push(format!("{} {path}", method.to_uppercase()));
            }
        }
        let template = |path: &str| {
            let path = path.split('?').next().unwrap().to_owned();
            path.replace("{avatar}", "{id}").replace("{transfer}", "{id}").replace("{delayed}", "{id}").replace("{claim}", "{id}")
                .replace("{disclosure}", "{id}").replace("{report}", "{id}").replace("{notification}", "{id}").replace("{hold}", "{hold_id}").replace("{contact_id}", "{user_id}")
        };
        let mut tabled: Vec<String> = rows.iter().map(|r| format!("{} {}", r.method, template(r.path))).collect();
        documented.sort();
        tabled.sort();
        tabled.dedup();
        let missing: Vec<_> = documented.iter().filter(|d| !tabled.contains(d)).collect();
        let undocumented: Vec<_> = tabled.iter().filter(|t| !documented.contains(t)).collect();
        assert!(missing.is_empty(), "routes without a row in the authorization matrix: {missing:?}");
        assert!(undocumented.is_empty(), "rows for routes that do not exist: {undocumented:?}");

        let fill = |text: &str| {
            text.replace("{avatar}", avatar.trim_start_matches("/v1/avatars/")).replace("{transfer}", &transfer).replace("{to_claim}", &to_claim).replace("{delayed}", &delayed)
                .replace("{claim}", &claim).replace("{disclosure}", &disclosure).replace("{report}", &report).replace("{notification}", &notification)
                .replace("{hold}", &hold).replace("{payee_id}", &payee.id).replace("{other_id}", &other.id)
                .replace("{contact_id}", &payee.id).replace("{payer_id_number}", payer.id_number.as_deref().unwrap())
        };
        let mut wrong = Vec::new();
        for r in &rows {
            let path = fill(r.path);
            let body: Option<Value> = if r.body.is_null() { None } else { Some(serde_json::from_str(&fill(&r.body.to_string())).unwrap()) };
            for (who, (token, expect)) in WHO.iter().zip(tokens.iter().zip(r.expect)) {
                // (Log-out is the last row: the sessions are not needed after it.)
                let method = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
                let mut request = app.client.request(method, format!("{}{path}", app.base));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                if r.path == "/v1/transfers" || r.path.ends_with("/topups") || r.path.ends_with("/withdrawals") {
                    request = request.header("idempotency-key", format!("authz-{who}"));
                }
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let status = request.send().await.unwrap().status().as_u16();
                assert!(status < 500, "{who} {} {path}: {status}", r.method);
                let fine = match expect {
                    Ok => !matches!(status, 401 | 403 | 404),
                    Is(code) => status == code,
                };
                if !fine {
                    wrong.push(format!("{who:>10} {} {}: got {status}, table says {expect:?}", r.method, r.path));
                }
            }
        }
        assert!(wrong.is_empty(), "the authorization matrix disagrees:\n{}", wrong.join("\n"));
    }
}
