//! Test helpers: `spawn_app()` starts the real server on a random port with a
//! fresh store (a temporary SQLite directory, or a fresh PostgreSQL database
//! when `RECOURSE_TEST_DATABASE_URL` is set) and talks HTTP to it.
//! `finish()` audits the ledger after every test.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use recourse_domain::card::with_luhn_digit;
use recourse_domain::identity::make_id_number;
use recourse_service::config::ServiceConfig;
use recourse_server::state::AppState;
use recourse_store::{Backend, Store, StoreConfig};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const PASSWORD: &str = "test password 1";
pub const PG_ENV: &str = "RECOURSE_TEST_DATABASE_URL";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

/// A scratch PostgreSQL database, dropped when the test finishes.
pub struct PgScratch {
    pub admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgScratch {
    pub async fn create() -> Option<PgScratch> {
        let Ok(admin_url) = std::env::var(PG_ENV) else {
            eprintln!("skipped on PostgreSQL: {PG_ENV} is not set (the CI script sets it; see README)");
            return None;
        };
        let name = format!("recourse_t_{}", uuid::Uuid::now_v7().simple());
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("{PG_ENV} must end with /<database>"),
        };
        let (admin, db) = (admin_url.clone(), name.clone());
        tokio::task::spawn_blocking(move || {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connecting to the test PostgreSQL");
            client.batch_execute(&format!("CREATE DATABASE {db}")).expect("creating a scratch database");
        })
        .await
        .unwrap();
        Some(PgScratch { admin_url, name, url })
    }

    pub async fn drop_database(&self) {
        let (admin, db) = (self.admin_url.clone(), self.name.clone());
        tokio::task::spawn_blocking(move || {
            if let Ok(mut client) = postgres::Client::connect(&admin, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
            }
        })
        .await
        .unwrap();
    }
}

/// Talks HTTP to one server: every request helper lives here.
#[derive(Clone)]
pub struct TestClient {
    pub base: String,
    pub client: reqwest::Client,
}

impl TestClient {
    pub fn new(base: &str) -> TestClient {
        TestClient { base: base.to_owned(), client: reqwest::Client::new() }
    }

    /// The same client, talking to another server.
    pub fn at(&self, base: &str) -> TestClient {
        TestClient { base: base.to_owned(), client: self.client.clone() }
    }
}

/// A server on a fresh store; derefs to its [`TestClient`].
pub struct TestApp {
    pub http: TestClient,
    pub store: Store,
    pub state: AppState,
    pub kind: StoreKind,
    _dir: Option<tempfile::TempDir>,
    pg: Option<PgScratch>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

pub struct Customer {
    pub id: String,
    pub phone: String,
    pub token: String,
    pub card_id: Option<String>,
    pub legal_name: Option<String>,
    pub id_number: Option<String>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A phone number no other test in this process uses.
pub fn unique_phone() -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let salt = (std::process::id() as u64 % 97) * 1_000_000;
    format!("138{:08}", (salt + n) % 100_000_000)
}

/// A valid identity number no other test in this process uses.
pub fn unique_id_number() -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let birth = jiff::civil::date(1970, 1, 1).checked_add(jiff::Span::new().days((n % 10_000) as i64)).unwrap();
    make_id_number("110105", birth, ((n / 10_000) % 1000) as u16)
}

pub fn card_number(seed: u64) -> String {
    with_luhn_digit(&format!("622202{:012}", seed % 1_000_000_000_000))
}

pub async fn open_store(kind: StoreKind, dir: Option<&tempfile::TempDir>, pg: Option<&PgScratch>) -> Store {
    let backend = match kind {
        StoreKind::Sqlite => Backend::Sqlite { data_dir: dir.expect("sqlite needs a directory").path().to_path_buf() },
        StoreKind::Postgres => Backend::Postgres { url: pg.expect("postgres needs a database").url.clone() },
    };
    let mut config = StoreConfig::new(backend);
    config.readers = 4;
    tokio::task::spawn_blocking(move || Store::open(&config)).await.unwrap().expect("opening the test store")
}

/// Start a server on an existing store (two servers may share one PostgreSQL).
pub async fn serve_on(store: Store, config: ServiceConfig) -> (String, AppState, tokio::sync::oneshot::Sender<()>) {
    let state = recourse_server::app_state(store, config).expect("app state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = recourse_server::router(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(recourse_server::serve(listener, router, async move {
        let _ = rx.await;
    }));
    (base, state, tx)
}

pub async fn spawn_app(kind: StoreKind) -> Option<TestApp> {
    spawn_app_with(kind, ServiceConfig::for_tests()).await
}

pub async fn spawn_app_with(kind: StoreKind, config: ServiceConfig) -> Option<TestApp> {
    let (dir, pg) = match kind {
        StoreKind::Sqlite => (Some(tempfile::tempdir().unwrap()), None),
        StoreKind::Postgres => (None, Some(PgScratch::create().await?)),
    };
    let store = open_store(kind, dir.as_ref(), pg.as_ref()).await;
    let (base, state, shutdown) = serve_on(store.clone(), config).await;
    Some(TestApp { http: TestClient::new(&base), store, state, kind, _dir: dir, pg, shutdown: Some(shutdown) })
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    /// The problem `code`, asserting the response is a problem document.
    pub fn code(&self) -> &str {
        let content_type = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(content_type, "application/problem+json", "expected a problem, got {} {}", self.status, self.body);
        assert_eq!(self.body["status"].as_u64(), Some(u64::from(self.status.as_u16())));
        self.body["code"].as_str().unwrap_or("")
    }
}

impl std::ops::Deref for TestApp {
    type Target = TestClient;
    fn deref(&self) -> &TestClient {
        &self.http
    }
}

impl TestClient {
    pub async fn request(&self, method: reqwest::Method, path: &str, token: Option<&str>, key: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        assert!(status.as_u16() < 500, "server error {status}: {body}");
        Reply { status, body, headers }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(reqwest::Method::GET, path, Some(token), None, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(reqwest::Method::POST, path, token, None, Some(body)).await
    }

    pub async fn post_idem(&self, path: &str, token: &str, key: &str, body: Value) -> Reply {
        self.request(reqwest::Method::POST, path, Some(token), Some(key), Some(body)).await
    }

    pub async fn register(&self, phone: &str, nickname: &str) -> String {
        let reply = self.post("/v1/users", None, json!({"phone": phone, "password": PASSWORD, "nickname": nickname})).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["id"].as_str().unwrap().to_owned()
    }

    pub async fn login(&self, phone: &str) -> String {
        let reply = self.post("/v1/sessions", None, json!({"phone": phone, "password": PASSWORD})).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["token"].as_str().unwrap().to_owned()
    }

    /// A registered, logged-in customer; verified with a card and `balance_fen` when `verified`.
    pub async fn customer(&self, verified: bool, balance_fen: i64) -> Customer {
        self.customer_named(verified.then_some("王小明"), balance_fen).await
    }

    /// A customer verified under `legal_name` (with a card and `balance_fen`), or unverified when `None`.
    pub async fn customer_named(&self, legal_name: Option<&str>, balance_fen: i64) -> Customer {
        // Every test customer has a nickname of their own: the same nickname
        // as a contact's is what an impostor has.
        let nickname = format!("测试{}", COUNTER.fetch_add(1, Ordering::SeqCst));
        self.customer_as(legal_name, &nickname, balance_fen).await
    }

    /// Like [`TestClient::customer_named`], with the nickname given.
    pub async fn customer_as(&self, legal_name: Option<&str>, nickname: &str, balance_fen: i64) -> Customer {
        let phone = unique_phone();
        let id = self.register(&phone, nickname).await;
        let token = self.login(&phone).await;
        let mut customer = Customer { id, phone, token, card_id: None, legal_name: None, id_number: None };
        if let Some(name) = legal_name {
            let name = name.to_owned();
            let id_number = unique_id_number();
            let reply = self.post("/v1/me/verification", Some(&customer.token), json!({"legal_name": name, "id_number": id_number})).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            let card = self.post("/v1/me/cards", Some(&customer.token), json!({"card_number": card_number(COUNTER.fetch_add(1, Ordering::SeqCst)), "holder_name": name})).await;
            assert_eq!(card.status, 201, "{}", card.body);
            customer.card_id = Some(card.body["id"].as_str().unwrap().to_owned());
            customer.legal_name = Some(name);
            customer.id_number = Some(id_number);
            if balance_fen > 0 {
                self.topup(&customer, balance_fen).await;
            }
        }
        customer
    }

    pub async fn topup(&self, customer: &Customer, amount: i64) {
        let key = uuid::Uuid::now_v7().to_string();
        let reply = self.post_idem("/v1/me/topups", &customer.token, &key, json!({"card_id": customer.card_id, "amount": amount})).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }

    pub async fn transfer(&self, from: &Customer, to: &Customer, amount: i64, key: &str) -> Reply {
        self.post_idem("/v1/transfers", &from.token, key, json!({"payee_id": to.id, "amount": amount})).await
    }

    /// A transfer with extra request fields (`arrival`, `acceptance`, …).
    pub async fn send(&self, from: &Customer, to: &Customer, amount: i64, key: &str, extra: Value) -> Reply {
        let mut body = json!({"payee_id": to.id, "amount": amount});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.post_idem("/v1/transfers", &from.token, key, body).await
    }

    /// `POST /v1/transfers/{id}/{action}` (revoke, accept, decline): no body, no key.
    pub async fn act(&self, customer: &Customer, transfer_id: &str, action: &str) -> Reply {
        self.request(reqwest::Method::POST, &format!("/v1/transfers/{transfer_id}/{action}"), Some(&customer.token), None, None).await
    }

    /// `(available, held, total)` of a customer's wallet.
    pub async fn balance(&self, customer: &Customer) -> (i64, i64, i64) {
        let me = self.get("/v1/me", &customer.token).await;
        assert_eq!(me.status, 200, "{}", me.body);
        let b = &me.body["balance"];
        let figures = (b["available"].as_i64().unwrap(), b["held"].as_i64().unwrap(), b["total"].as_i64().unwrap());
        assert_eq!(figures.0 + figures.1, figures.2, "available + held = total");
        figures
    }

    pub async fn available(&self, customer: &Customer) -> i64 {
        let me = self.get("/v1/me", &customer.token).await;
        assert_eq!(me.status, 200);
        me.body["balance"]["available"].as_i64().unwrap()
    }

    pub async fn advance_clock(&self, seconds: i64) -> Reply {
        self.post("/v1/test/clock", None, json!({"advance_seconds": seconds})).await
    }

}

impl TestApp {
    /// A logged-in staff account of `role` (staff are created by the
    /// operator, as `admin create-staff` does, never through the API).
    #[allow(dead_code)]
    pub async fn staff(&self, role: recourse_domain::Role) -> String {
        let phone = unique_phone();
        let parsed = recourse_domain::phone::Phone::parse(&phone).unwrap();
        let nickname = recourse_domain::text::Nickname::parse("staff").unwrap();
        self.state.create_account(&parsed, PASSWORD, &nickname, role, None).await.unwrap().unwrap();
        self.login(&phone).await
    }

    /// The scratch PostgreSQL database of this app (PostgreSQL apps only).
    pub fn pg(&self) -> &PgScratch {
        self.pg.as_ref().expect("a PostgreSQL test app")
    }

    /// Assert the ledger invariants, stop the server, drop the scratch database.
    pub async fn finish(mut self) {
        assert_ledger_sound(&self.store).await;
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(pg) = &self.pg {
            drop(self.store);
            pg.drop_database().await;
        }
    }
}

pub async fn assert_ledger_sound(store: &Store) {
    let report = store.audit().await.expect("auditing the ledger");
    assert!(report.is_sound(), "ledger problems: {:#?}", report.problems);
}

/// Run each test body once on SQLite and once on PostgreSQL (skipped, with a
/// message, when no PostgreSQL is configured). The ledger is audited after each.
#[macro_export]
macro_rules! both_stores {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let $app = common::spawn_app(common::StoreKind::Sqlite).await.expect("sqlite test app");
                    $body
                    $app.finish().await;
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some($app) = common::spawn_app(common::StoreKind::Postgres).await else { return };
                    $body
                    $app.finish().await;
                }
            )*
        }
    };
}

/// A picture no other seed draws: a smooth gradient with a few filled
/// shapes (a "photo" enough for perceptual hashes), as PNG.
pub fn picture(seed: u32, size: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(12_345) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let (r0, g0, b0) = ((next() % 200) as f32, (next() % 200) as f32, (next() % 200) as f32);
    let shapes: Vec<(f32, f32, f32, [u8; 3])> = (0..5)
        .map(|_| ((next() % size) as f32, (next() % size) as f32, (size / 8 + next() % (size / 3)) as f32, [(next() % 256) as u8, (next() % 256) as u8, (next() % 256) as u8]))
        .collect();
    let image = image::RgbImage::from_fn(size, size, |x, y| {
        let (fx, fy) = (x as f32 / size as f32, y as f32 / size as f32);
        let mut pixel = [(r0 + 55.0 * fx) as u8, (g0 + 55.0 * fy) as u8, (b0 + 55.0 * (1.0 - fx)) as u8];
        for (cx, cy, r, colour) in &shapes {
            if (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) < r * r {
                pixel = *colour;
            }
        }
        image::Rgb(pixel)
    });
    encode(&image::DynamicImage::ImageRgb8(image), image::ImageFormat::Png)
}

/// `png` resized to `size` and re-encoded as JPEG: a near copy.
pub fn jpeg_copy(png: &[u8], size: u32) -> Vec<u8> {
    let image = image::load_from_memory(png).expect("a picture").resize_exact(size, size, image::imageops::FilterType::Triangle);
    encode(&image, image::ImageFormat::Jpeg)
}

fn encode(image: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encoding a picture");
    out.into_inner()
}
