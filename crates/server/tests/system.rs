//! Health, metrics, the API description, unknown routes and the test clock.

mod common;

use serde_json::json;

both_stores! {
    async fn every_response_says_nosniff_and_avatars_say_what_they_are(app) {
        let customer = app.customer(true, 0).await;
        let health = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
        assert_eq!(health.headers()["x-content-type-options"], "nosniff");
        let jpeg = common::jpeg_copy(&common::picture(7, 64), 64);
        let put = app.client.put(format!("{}/v1/me/avatar", app.base)).bearer_auth(&customer.token).header("content-type", "image/png").body(jpeg).send().await.unwrap();
        assert_eq!(put.status(), 200);
        let url = put.json::<serde_json::Value>().await.unwrap()["avatar_url"].as_str().unwrap().to_owned();
        let avatar = app.client.get(format!("{}{url}", app.base)).bearer_auth(&customer.token).send().await.unwrap();
        assert_eq!(avatar.status(), 200);
        assert_eq!(avatar.headers()["content-type"], "image/jpeg", "the type the bytes are, whatever the upload said");
        assert_eq!(avatar.headers()["x-content-type-options"], "nosniff");
    }

    async fn health_metrics_and_documentation(app) {
        let health: serde_json::Value = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(health["status"], "ok");
        let expected_store = match app.kind { common::StoreKind::Sqlite => "sqlite", common::StoreKind::Postgres => "postgres" };
        assert_eq!(health["store"], expected_store);

        let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("recourse_http_requests_total"), "{metrics}");

        let openapi: serde_json::Value = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
        assert!(openapi["openapi"].as_str().unwrap().starts_with("3.1"));
        let contract = [
            ("/v1/users", "post"), ("/v1/sessions", "post"), ("/v1/me/verification", "post"), ("/v1/me/cards", "post"),
            ("/v1/me/topups", "post"), ("/v1/me/withdrawals", "post"), ("/v1/me", "get"), ("/v1/transfers", "post"),
            ("/v1/transfers/{id}", "get"), ("/v1/me/transfers", "get"), ("/v1/test/clock", "post"), ("/healthz", "get"), ("/metrics", "get"),
            ("/v1/payees/preview", "get"), ("/v1/payee-checks", "post"), ("/v1/me/contacts", "get"), ("/v1/me/contacts", "post"),
            ("/v1/me/contacts/{user_id}", "delete"),
            // Claims and lawful disclosure.
            ("/v1/claims", "post"), ("/v1/claims/{id}", "get"), ("/v1/claims/{id}/return", "post"), ("/v1/claims/{id}/contest", "post"),
            ("/v1/claims/{id}/evidence.pdf", "get"), ("/v1/staff/claims", "get"), ("/v1/staff/claims/{id}/holds", "post"),
            ("/v1/staff/claims/{id}/decision", "post"), ("/v1/staff/claims/{id}/trace", "get"), ("/v1/disclosures", "post"),
            ("/v1/disclosures/{id}", "get"), ("/v1/disclosures/{id}/approve", "post"), ("/v1/disclosures/{id}/refuse", "post"),
            ("/v1/me/notifications", "get"), ("/v1/me/notifications/{id}/read", "post"),
        ];
        for (path, method) in contract {
            assert!(openapi["paths"][path][method].is_object(), "{method} {path} is documented");
        }
        // The confirmation-of-payee contract: the transfer's step-up fields and problems.
        let transfer_request = &openapi["components"]["schemas"]["TransferRequest"]["properties"];
        for field in ["name_completion", "expected_name", "confirm_no_match", "confirm_unverified_payee"] {
            assert!(transfer_request[field].is_object(), "TransferRequest.{field} is documented");
        }
        let transfer_responses = openapi["paths"]["/v1/transfers"]["post"]["responses"].to_string();
        for code in ["name-completion-required", "name-completion-locked", "name-mismatch"] {
            assert!(transfer_responses.contains(code), "{code} is documented");
        }

        let docs = app.client.get(format!("{}/docs", app.base)).send().await.unwrap().text().await.unwrap();
        assert!(docs.contains("/openapi.json") && docs.contains("/docs/scalar.js"));
        let script = app.client.get(format!("{}/docs/scalar.js", app.base)).send().await.unwrap();
        assert_eq!(script.status(), 200);
        assert!(script.bytes().await.unwrap().len() > 100_000);

        let unknown = app.client.get(format!("{}/v1/nothing-here", app.base)).send().await.unwrap();
        assert_eq!(unknown.status(), 404);
        assert_eq!(unknown.headers()["content-type"], "application/problem+json");
        let wrong_method = app.client.delete(format!("{}/v1/users", app.base)).send().await.unwrap();
        assert_eq!(wrong_method.status(), 405);
        assert_eq!(wrong_method.headers()["content-type"], "application/problem+json");
        assert!(unknown.headers().contains_key("x-request-id"));
        // A client's request id is echoed only when it is a UUID.
        let own = uuid::Uuid::now_v7().to_string();
        let echoed = app.client.get(format!("{}/healthz", app.base)).header("x-request-id", &own).send().await.unwrap();
        assert_eq!(echoed.headers()["x-request-id"], own.as_str());
        let foreign = app.client.get(format!("{}/healthz", app.base)).header("x-request-id", "王小明 110105").send().await.unwrap();
        let replaced = foreign.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");
    }

    async fn test_clock_moves_forward_only(app) {
        let first = app.advance_clock(0).await;
        assert_eq!(first.status, 200);
        let later = app.advance_clock(3600).await;
        let t0: jiff::Timestamp = first.body["now"].as_str().unwrap().parse().unwrap();
        let t1: jiff::Timestamp = later.body["now"].as_str().unwrap().parse().unwrap();
        assert!(t1.duration_since(t0).as_secs() >= 3600);
        for bad in [json!({"advance_seconds": -1}), json!({"advance_seconds": 1e12}), json!({"advance": 5}), json!({"advance_seconds": "5"})] {
            let reply = app.post("/v1/test/clock", None, bad.clone()).await;
            assert_eq!(reply.status, 422, "{bad}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_there_is_no_test_clock() {
    let mut config = recourse_service::config::ServiceConfig::for_tests();
    config.test_clock = false;
    let app = common::spawn_app_with(common::StoreKind::Sqlite, config).await.unwrap();
    let reply = app.post("/v1/test/clock", None, json!({"advance_seconds": 60})).await;
    assert_eq!(reply.status, 404);
    let openapi: serde_json::Value = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    assert!(openapi["paths"]["/v1/test/clock"].is_null());
    app.finish().await;
}

/// `/openapi.json` passes Redocly's recommended rules with no error and no
/// warning (the CLI is pinned in `tools/openapi-lint`; `scripts/test`
/// installs it with `npm ci`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_description_is_lint_clean() {
    let app = common::spawn_app(common::StoreKind::Sqlite).await.unwrap();
    let document = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap().text().await.unwrap();
    let tools = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/openapi-lint");
    let redocly = tools.join("node_modules/.bin/redocly");
    assert!(redocly.exists(), "the OpenAPI linter is not installed: run `npm ci --prefix tools/openapi-lint` (scripts/test does)");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, document).unwrap();
    let output = std::process::Command::new(&redocly)
        .args(["lint", &file.display().to_string(), "--config", &tools.join("redocly.yaml").display().to_string(), "--format=json"])
        .current_dir(&tools)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("redocly said: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)));
    let problems: Vec<String> = report["problems"].as_array().unwrap().iter().map(|p| format!("{} {}: {}", p["severity"], p["ruleId"], p["message"])).collect();
    assert!(problems.is_empty(), "the API description has lint problems:\n{}", problems.join("\n"));
    assert!(output.status.success());
    app.finish().await;
}
