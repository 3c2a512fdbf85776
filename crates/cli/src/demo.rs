//! `recourse demo`: the real server, pre-seeded through its own API with
//! customers (verified and not), staff, balances and some history.

use std::path::PathBuf;

use anyhow::Context;
use recourse_domain::card::with_luhn_digit;
use recourse_domain::identity::make_id_number;
use recourse_domain::phone::Phone;
use recourse_domain::text::Nickname;
use recourse_domain::Role;
use serde_json::{Value, json};

use crate::settings::Settings;
use crate::{ServeArgs, open_store, serve};

pub const DEMO_PASSWORD: &str = "recourse-demo";

struct DemoCustomer {
    phone: &'static str,
    nickname: &'static str,
    /// Legal name and birth date; `None` leaves the customer unverified.
    identity: Option<(&'static str, (i16, i8, i8))>,
    topup_fen: i64,
}

const CUSTOMERS: &[DemoCustomer] = &[
    DemoCustomer { phone: "13800000001", nickname: "小明", identity: Some(("王小明", (1990, 3, 7))), topup_fen: 500_000 },
    DemoCustomer { phone: "13800000002", nickname: "娜娜", identity: Some(("李娜", (1988, 11, 21))), topup_fen: 300_000 },
    DemoCustomer { phone: "13800000003", nickname: "Mamat", identity: Some(("买买提·艾力", (1995, 6, 1))), topup_fen: 200_000 },
    DemoCustomer { phone: "13800000004", nickname: "John", identity: Some(("John Smith", (1979, 1, 30))), topup_fen: 100_000 },
    DemoCustomer { phone: "13800000005", nickname: "新来的", identity: None, topup_fen: 0 },
];

const STAFF: &[(&str, Role)] = &[
    ("13900000001", Role::Agent),
    ("13900000002", Role::Compliance),
    ("13900000003", Role::Authority),
    ("13900000004", Role::Admin),
];

fn demo_key(data_dir: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join("demo-identity.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return recourse_service::vault::parse_key(&text).context("demo identity key file");
    }
    let key = recourse_service::vault::random_key();
    std::fs::write(&path, recourse_service::vault::key_to_hex(&key))?;
    Ok(key)
}

pub async fn run(mut settings: Settings, default_dir: bool, args: ServeArgs) -> anyhow::Result<()> {
    if default_dir {
        settings.data_dir = PathBuf::from("./recourse-demo");
    }
    let key = match &settings.identity_key {
        Some(_) => settings.required_identity_key()?,
        None => demo_key(&settings.data_dir)?,
    };
    create_staff(&settings).await?;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(serve(settings.clone(), args, key, Some(ready_tx)));
    let address = match ready_rx.await {
        Ok(address) => address,
        Err(_) => return server.await?.context("the demo server did not start"),
    };
    let base = format!("http://{address}");
    seed_customers(&base).await.context("seeding demo customers")?;
    println!("\nRecourse demo is running at {base}");
    println!("  API reference:  {base}/docs        OpenAPI: {base}/openapi.json");
    println!("  Customers (password {DEMO_PASSWORD:?}):");
    for customer in CUSTOMERS {
        let status = if customer.identity.is_some() { "verified" } else { "NOT verified: can receive, cannot send" };
        println!("    {}  {}  ({status})", customer.phone, customer.nickname);
    }
    println!("  Staff (same password): 13900000001 agent, 13900000002 compliance, 13900000003 authority, 13900000004 admin");
    println!("  Try:  curl -s -X POST {base}/v1/sessions -H 'content-type: application/json' -d '{{\"phone\":\"13800000001\",\"password\":\"{DEMO_PASSWORD}\"}}'");
    println!("Press Ctrl-C to stop.\n");
    server.await?
}

async fn create_staff(settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    // Staff records carry no identity data, so a throwaway key is enough here.
    let service = recourse_service::Service::new(store.clone(), settings.service_config(recourse_service::vault::random_key(), false)).map_err(anyhow::Error::msg)?;
    for (phone, role) in STAFF {
        let phone = Phone::parse(phone)?;
        if store.user_by_phone(phone.as_str()).await?.is_some() {
            continue;
        }
        let nickname = Nickname::parse(role.as_str())?;
        service.create_account(&phone, DEMO_PASSWORD, &nickname, *role, None).await?.map_err(|refusal| anyhow::anyhow!("{refusal}"))?;
    }
    Ok(())
}

async fn call(client: &reqwest::Client, method: reqwest::Method, url: String, token: Option<&str>, body: Value) -> anyhow::Result<(u16, Value)> {
    let mut request = client.request(method, url).json(&body).header("idempotency-key", uuid::Uuid::now_v7().to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let value = response.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, value))
}

async fn seed_customers(base: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let post = reqwest::Method::POST;
    let mut tokens = Vec::new();
    for (index, customer) in CUSTOMERS.iter().enumerate() {
        let (status, _) = call(&client, post.clone(), format!("{base}/v1/users"), None, json!({"phone": customer.phone, "password": DEMO_PASSWORD, "nickname": customer.nickname})).await?;
        let fresh = status == 201;
        let (status, session) = call(&client, post.clone(), format!("{base}/v1/sessions"), None, json!({"phone": customer.phone, "password": DEMO_PASSWORD})).await?;
        anyhow::ensure!(status == 200, "demo login failed for {}", customer.phone);
        let token = session["token"].as_str().context("token")?.to_owned();
        if fresh && let Some((name, (year, month, day))) = customer.identity {
            let birth = jiff::civil::date(year, month, day);
            let id_number = make_id_number("110105", birth, 100 + index as u16);
            let (status, body) = call(&client, post.clone(), format!("{base}/v1/me/verification"), Some(&token), json!({"legal_name": name, "id_number": id_number})).await?;
            anyhow::ensure!(status == 200, "demo verification failed: {body}");
            let card = with_luhn_digit(&format!("62220212345678{index:04}"));
            let (status, card) = call(&client, post.clone(), format!("{base}/v1/me/cards"), Some(&token), json!({"card_number": card, "holder_name": name})).await?;
            anyhow::ensure!(status == 201, "demo card failed: {card}");
            let (status, body) = call(&client, post.clone(), format!("{base}/v1/me/topups"), Some(&token), json!({"card_id": card["id"], "amount": customer.topup_fen})).await?;
            anyhow::ensure!(status == 201, "demo top-up failed: {body}");
        }
        tokens.push((token, fresh));
    }
    let history = [(0usize, "13800000002", 8_800, "午饭 AA"), (1, "13800000003", 20_000, "book"), (2, "13800000001", 5_000, "谢谢"), (0, "13800000005", 1_000, "welcome"), (3, "13800000001", 12_345, "rent share")];
    for (from, to, amount, note) in history {
        let (token, fresh) = &tokens[from];
        if *fresh {
            let (status, body) = call(&client, post.clone(), format!("{base}/v1/transfers"), Some(token), json!({"payee_phone": to, "amount": amount, "note": note})).await?;
            anyhow::ensure!(status == 201, "demo transfer failed: {body}");
        }
    }
    Ok(())
}
