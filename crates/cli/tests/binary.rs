//! The `recourse` binary as an operator runs it: `serve` in one process and
//! `admin …` in another on the same store (SQLite and PostgreSQL), the test
//! clock flag, the identity-key requirement, and a clean stop on SIGTERM.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_recourse");
const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn recourse(store: &[String]) -> Command {
    let mut command = Command::new(BINARY);
    // The project's tests observe the capacity limits (many requests from one address).
    command.args(store).env("RECOURSE_IDENTITY_KEY", KEY).env("RECOURSE_LOG", "warn").env("RECOURSE_LIMITS__RATE_LIMITS", "observe").env_remove("RECOURSE_DATABASE_URL");
    command
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_healthy(client: &reqwest::Client, base: &str, server: &mut Server) {
    for _ in 0..300 {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await
            && response.status() == 200
        {
            return;
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("the server exited early: {status}");
        }
        // Polling a process we do not control; no service clock is involved.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not become healthy");
}

async fn serve_and_operate(store: Vec<String>) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Server(recourse(&store).args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--test-clock"]).stderr(Stdio::null()).spawn().unwrap());
    let client = reqwest::Client::new();
    wait_healthy(&client, &base, &mut server).await;

    // An operator command on the same store while the server runs.
    let created = recourse(&store)
        .args(["admin", "create-staff", "--role", "compliance", "--phone", "13900001111", "--password", "staff password 1"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(String::from_utf8_lossy(&created.stdout).contains("+86 139****1111"), "the phone is masked in output");
    let duplicate = recourse(&store).args(["admin", "create-staff", "--role", "agent", "--phone", "13900001111", "--password", "staff password 1"]).output().unwrap();
    assert!(!duplicate.status.success());

    let session = client.post(format!("{base}/v1/sessions")).json(&serde_json::json!({"phone": "13900001111", "password": "staff password 1"})).send().await.unwrap();
    assert_eq!(session.status(), 200);
    let session: serde_json::Value = session.json().await.unwrap();
    assert_eq!(session["role"], "compliance");

    let clock = client.post(format!("{base}/v1/test/clock")).json(&serde_json::json!({"advance_seconds": 60})).send().await.unwrap();
    assert_eq!(clock.status(), 200);

    let audit = recourse(&store).args(["admin", "check-ledger"]).output().unwrap();
    assert!(audit.status.success(), "{}", String::from_utf8_lossy(&audit.stderr));
    assert!(String::from_utf8_lossy(&audit.stdout).contains("\"problems\": []"));

    // SIGTERM: finish in-flight requests, then exit cleanly.
    let pid = server.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "graceful stop exits 0, got {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_admin_share_one_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    serve_and_operate(vec!["--data-dir".into(), dir.path().display().to_string()]).await;
}

/// A scratch PostgreSQL database for one test; `None` (the test is skipped,
/// with the reason) when `RECOURSE_TEST_DATABASE_URL` is not set.
struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    async fn create(prefix: &str) -> Option<ScratchDatabase> {
        let Ok(admin_url) = std::env::var("RECOURSE_TEST_DATABASE_URL") else {
            eprintln!("skipped on PostgreSQL: RECOURSE_TEST_DATABASE_URL is not set");
            return None;
        };
        let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
        let (admin, db) = (admin_url.clone(), name.clone());
        tokio::task::spawn_blocking(move || postgres::Client::connect(&admin, postgres::NoTls).unwrap().batch_execute(&format!("CREATE DATABASE {db}")).unwrap()).await.unwrap();
        Some(ScratchDatabase { admin_url, name, url })
    }

    fn store_args(&self) -> Vec<String> {
        vec!["--database-url".into(), self.url.clone()]
    }

    async fn drop_database(self) {
        tokio::task::spawn_blocking(move || {
            let _ = postgres::Client::connect(&self.admin_url, postgres::NoTls).unwrap().batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        })
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_admin_share_one_postgres_store() {
    let Some(database) = ScratchDatabase::create("recourse_cli").await else { return };
    serve_and_operate(database.store_args()).await;
    database.drop_database().await;
}

#[test]
fn serve_refuses_to_start_without_an_identity_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .args(["--data-dir", &dir.path().display().to_string(), "serve", "--listen", "127.0.0.1:0"])
        .env_remove("RECOURSE_IDENTITY_KEY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("RECOURSE_IDENTITY_KEY"));
}

#[test]
fn generate_key_prints_a_usable_key() {
    let output = Command::new(BINARY).args(["admin", "generate-key"]).output().unwrap();
    assert!(output.status.success());
    let key = String::from_utf8(output.stdout).unwrap();
    assert_eq!(key.trim().len(), 64);
    assert!(key.trim().chars().all(|c| c.is_ascii_hexdigit()));
}

/// The evaluation of the impersonation detectors prints its figures and
/// succeeds only when the targets hold.
#[test]
fn eval_detectors_prints_the_figures_and_meets_the_targets() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY).args(["--data-dir", &dir.path().display().to_string(), "admin", "eval-detectors"]).output().unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(printed.contains("Look-alike nicknames") && printed.contains("Avatar near-copy detection") && printed.contains("precision"), "{printed}");
}

/// The README's first command: the demo serves seeded customers and staff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_seeded_customers_and_staff() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Server(
        Command::new(BINARY)
            .args(["--data-dir", &dir.path().display().to_string(), "demo", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("RECOURSE_IDENTITY_KEY")
            .env("RECOURSE_LOG", "warn")
            .env("RECOURSE_PASSWORD_HASHING__MEMORY_KIB", "64")
            .env("RECOURSE_PASSWORD_HASHING__ITERATIONS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    wait_healthy(&client, &base, &mut server).await;
    // Seeding finishes after the server listens; the banner is printed last.
    let mut seeded = false;
    for _ in 0..300 {
        let login = client.post(format!("{base}/v1/sessions")).json(&serde_json::json!({"phone": "13800000004", "password": "recourse-demo"})).send().await.unwrap();
        if login.status() == 200 {
            let token = login.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
            let transfers = client.get(format!("{base}/v1/me/transfers")).bearer_auth(&token).send().await.unwrap().json::<serde_json::Value>().await.unwrap();
            if !transfers["transfers"].as_array().unwrap().is_empty() {
                seeded = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seeded, "the demo seeds its customers and history");
    let login = client.post(format!("{base}/v1/sessions")).json(&serde_json::json!({"phone": "13800000001", "password": "recourse-demo"})).send().await.unwrap();
    let token = login.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let me: serde_json::Value = client.get(format!("{base}/v1/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["verified"], true);
    assert_eq!(me["masked_name"], "**明");
    assert!(me["balance"]["available"].as_i64().unwrap() > 0);
    let newcomer = client.post(format!("{base}/v1/sessions")).json(&serde_json::json!({"phone": "13800000005", "password": "recourse-demo"})).send().await.unwrap();
    let newcomer_token = newcomer.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let newcomer_me: serde_json::Value = client.get(format!("{base}/v1/me")).bearer_auth(&newcomer_token).send().await.unwrap().json().await.unwrap();
    assert_eq!(newcomer_me["verified"], false);
    let staff = client.post(format!("{base}/v1/sessions")).json(&serde_json::json!({"phone": "13900000004", "password": "recourse-demo"})).send().await.unwrap();
    assert_eq!(staff.json::<serde_json::Value>().await.unwrap()["role"], "admin");
    assert!(dir.path().join("demo-identity.key").exists(), "the demo keeps its generated key beside its data");
}

/// Register, verify, bind a card and top up one customer over HTTP; returns (token, id).
async fn funded_customer(client: &reqwest::Client, base: &str, phone: &str, id_number: &str, card: &str, amount: i64) -> (String, String) {
    let registered: serde_json::Value = client.post(format!("{base}/v1/users")).json(&serde_json::json!({"phone": phone, "password": "crash test 1", "nickname": "c"})).send().await.unwrap().json().await.unwrap();
    let session: serde_json::Value = client.post(format!("{base}/v1/sessions")).json(&serde_json::json!({"phone": phone, "password": "crash test 1"})).send().await.unwrap().json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    let verified = client.post(format!("{base}/v1/me/verification")).bearer_auth(&token).json(&serde_json::json!({"legal_name": "王小明", "id_number": id_number})).send().await.unwrap();
    assert_eq!(verified.status(), 200);
    let card: serde_json::Value = client.post(format!("{base}/v1/me/cards")).bearer_auth(&token).json(&serde_json::json!({"card_number": card, "holder_name": "王小明"})).send().await.unwrap().json().await.unwrap();
    let topup = client.post(format!("{base}/v1/me/topups")).bearer_auth(&token).header("idempotency-key", "seed").json(&serde_json::json!({"card_id": card["id"], "amount": amount})).send().await.unwrap();
    assert_eq!(topup.status(), 201);
    (token, registered["id"].as_str().unwrap().to_owned())
}

/// `recourse serve` on `port` with cheap password hashing (the tests log in often).
fn serve_cheaply(store: &[String], port: u16, extra: &[&str]) -> Server {
    Server(
        recourse(store)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("RECOURSE_PASSWORD_HASHING__MEMORY_KIB", "64")
            .env("RECOURSE_PASSWORD_HASHING__ITERATIONS", "1")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// "Acknowledged means durable": kill -9 the server while transfers are in
/// flight, restart it on the same store, and find every acknowledged transfer.
async fn acknowledged_transfers_survive_kill_9(store: Vec<String>) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let start = |store: &Vec<String>| serve_cheaply(store, port, &[]);
    let mut server = start(&store);
    let client = reqwest::Client::new();
    wait_healthy(&client, &base, &mut server).await;
    let birth = jiff::civil::date(1990, 1, 1);
    let payer = funded_customer(&client, &base, "13700000001", &recourse_domain::identity::make_id_number("110105", birth, 1), &recourse_domain::card::with_luhn_digit("622202000000000001"), 5_000_000).await;
    let payee = funded_customer(&client, &base, "13700000002", &recourse_domain::identity::make_id_number("110105", birth, 2), &recourse_domain::card::with_luhn_digit("622202000000000002"), 1).await;

    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut senders = Vec::new();
    for worker in 0..16 {
        let (client, base, token, payee_id, acknowledged) = (client.clone(), base.clone(), payer.0.clone(), payee.1.clone(), acknowledged.clone());
        senders.push(tokio::spawn(async move {
            for n in 0.. {
                let sent = client.post(format!("{base}/v1/transfers")).bearer_auth(&token).header("idempotency-key", format!("crash-{worker}-{n}"))
                    .json(&serde_json::json!({"payee_id": payee_id, "amount": 1})).send().await;
                match sent {
                    Ok(response) if response.status() == 201 => {
                        let Ok(body) = response.json::<serde_json::Value>().await else { return };
                        acknowledged.lock().unwrap().push(body["id"].as_str().unwrap().to_owned());
                    }
                    _ => return, // the server is gone
                }
            }
        }));
    }
    while acknowledged.lock().unwrap().len() < 400 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.0.kill().unwrap(); // SIGKILL, mid-flight
    server.0.wait().unwrap();
    for sender in senders {
        sender.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let mut restarted = start(&store);
    wait_healthy(&client, &base, &mut restarted).await;
    let session: serde_json::Value = client.post(format!("{base}/v1/sessions")).json(&serde_json::json!({"phone": "13700000001", "password": "crash test 1"})).send().await.unwrap().json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    for id in &acknowledged {
        let found = client.get(format!("{base}/v1/transfers/{id}")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(found.status(), 200, "acknowledged transfer {id} was lost");
    }
    let me: serde_json::Value = client.get(format!("{base}/v1/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let spent = 5_000_000 - me["balance"]["available"].as_i64().unwrap();
    assert!(spent >= acknowledged.len() as i64, "every acknowledged fen left the payer ({spent} < {})", acknowledged.len());
    drop(restarted);
    let audit = recourse(&store).args(["admin", "check-ledger"]).output().unwrap();
    assert!(audit.status.success(), "{}", String::from_utf8_lossy(&audit.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_transfers_survive_kill_9_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    acknowledged_transfers_survive_kill_9(vec!["--data-dir".into(), dir.path().display().to_string()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_transfers_survive_kill_9_on_postgres() {
    let Some(database) = ScratchDatabase::create("recourse_crash").await else { return };
    acknowledged_transfers_survive_kill_9(database.store_args()).await;
    database.drop_database().await;
}

/// Money in flight survives a crash: `kill -9` the server with a delayed
/// transfer pending, restart it on the same store, move the (stored) test
/// clock past the arrival time: the transfer arrives, once.
async fn a_pending_transfer_survives_kill_9(store: Vec<String>) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let start = |store: &Vec<String>| serve_cheaply(store, port, &["--test-clock"]);
    let mut server = start(&store);
    let client = reqwest::Client::new();
    wait_healthy(&client, &base, &mut server).await;
    let birth = jiff::civil::date(1991, 1, 1);
    let payer = funded_customer(&client, &base, "13600000001", &recourse_domain::identity::make_id_number("110105", birth, 1), &recourse_domain::card::with_luhn_digit("622202000000000011"), 10_000).await;
    let payee = funded_customer(&client, &base, "13600000002", &recourse_domain::identity::make_id_number("110105", birth, 2), &recourse_domain::card::with_luhn_digit("622202000000000012"), 1).await;
    let sent: serde_json::Value = client.post(format!("{base}/v1/transfers")).bearer_auth(&payer.0).header("idempotency-key", "pending")
        .json(&serde_json::json!({"payee_id": payee.1, "amount": 2_500, "arrival": "2h"})).send().await.unwrap().json().await.unwrap();
    assert_eq!(sent["status"], "pending_arrival");
    let id = sent["id"].as_str().unwrap().to_owned();
    server.0.kill().unwrap(); // SIGKILL with the transfer in flight
    server.0.wait().unwrap();

    let mut restarted = start(&store);
    wait_healthy(&client, &base, &mut restarted).await;
    let held: serde_json::Value = client.get(format!("{base}/v1/me")).bearer_auth(&payer.0).send().await.unwrap().json().await.unwrap();
    assert_eq!((held["balance"]["available"].as_i64(), held["balance"]["held"].as_i64()), (Some(7_500), Some(2_500)), "the hold survived");
    let clock = client.post(format!("{base}/v1/test/clock")).json(&serde_json::json!({"advance_seconds": 7200})).send().await.unwrap();
    assert_eq!(clock.status(), 200);
    let arrived: serde_json::Value = client.get(format!("{base}/v1/transfers/{id}")).bearer_auth(&payee.0).send().await.unwrap().json().await.unwrap();
    assert_eq!(arrived["status"], "completed", "{arrived}");
    assert_eq!(arrived["history"].as_array().unwrap().len(), 2, "arrived once: {arrived}");
    let me: serde_json::Value = client.get(format!("{base}/v1/me")).bearer_auth(&payee.0).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["balance"]["total"], 2_501);
    drop(restarted);
    let audit = recourse(&store).args(["admin", "check-ledger"]).output().unwrap();
    assert!(audit.status.success(), "{}", String::from_utf8_lossy(&audit.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_transfer_survives_kill_9_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_pending_transfer_survives_kill_9(vec!["--data-dir".into(), dir.path().display().to_string()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_transfer_survives_kill_9_on_postgres() {
    let Some(database) = ScratchDatabase::create("recourse_pending").await else { return };
    a_pending_transfer_survives_kill_9(database.store_args()).await;
    database.drop_database().await;
}

/// `admin verify-audit` on a store whose audit log was written under the
/// previous key and the current one, then edited behind the service's back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_audit_finds_the_first_edited_entry() {
    const OLD_KEY: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
    let dir = tempfile::tempdir().unwrap();
    let store_args = vec!["--data-dir".to_owned(), dir.path().display().to_string()];
    {
        let mut config = recourse_store::StoreConfig::new(recourse_store::Backend::Sqlite { data_dir: dir.path().to_path_buf() });
        config.readers = 1;
        let store = tokio::task::spawn_blocking(move || recourse_store::Store::open(&config)).await.unwrap().unwrap();
        let key = |hex: &str| recourse_service::vault::Vault::new(&recourse_service::vault::parse_key(hex).unwrap()).audit_key();
        let entry = |n: i64| recourse_store::AuditEntry { at_us: n, actor: None, action: "claim.note".into(), subject: format!("claim:{n}"), details: serde_json::json!({ "n": n }) };
        store.audit_append(key(OLD_KEY), entry(1)).await.unwrap();
        store.audit_append(key(KEY), entry(2)).await.unwrap();
        store.audit_append(key(KEY), entry(3)).await.unwrap();
    }
    let verify = |previous: Option<&str>| {
        let mut command = recourse(&store_args);
        command.args(["admin", "verify-audit"]);
        if let Some(previous) = previous {
            command.env("RECOURSE_IDENTITY_KEY_PREVIOUS", previous);
        }
        command.output().unwrap()
    };
    let intact = verify(Some(OLD_KEY));
    assert!(intact.status.success(), "{}", String::from_utf8_lossy(&intact.stderr));
    assert!(String::from_utf8_lossy(&intact.stdout).contains("intact: 3 entries"));
    let without_previous = verify(None);
    assert!(!without_previous.status.success());
    assert!(String::from_utf8_lossy(&without_previous.stderr).contains("entry 1"), "{}", String::from_utf8_lossy(&without_previous.stderr));
    rusqlite::Connection::open(dir.path().join("recourse.db")).unwrap().execute_batch("UPDATE audit_log SET subject = 'claim:99' WHERE seq = 2").unwrap();
    let edited = verify(Some(OLD_KEY));
    assert!(!edited.status.success());
    assert!(String::from_utf8_lossy(&edited.stderr).contains("broken at entry 2"), "{}", String::from_utf8_lossy(&edited.stderr));
}

/// `metrics_listen` moves `/metrics` off the public address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_served_on_a_separate_address() {
    let dir = tempfile::tempdir().unwrap();
    let store = vec!["--data-dir".to_owned(), dir.path().display().to_string()];
    let (port, metrics_port) = (free_port(), free_port());
    let mut server = Server(
        recourse(&store)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("RECOURSE_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&client, &base, &mut server).await;
    assert_eq!(client.get(format!("{base}/metrics")).send().await.unwrap().status(), 404, "not on the public address");
    let openapi: serde_json::Value = client.get(format!("{base}/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(openapi["paths"]["/metrics"].is_null(), "nor in its API description");
    let metrics = client.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("recourse_http_requests_total"));
}

/// `admin backup` while transfers are being written, then `admin restore`
/// into a fresh directory: the copy is one consistent moment of the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_to_a_sound_ledger() {
    let (live, restored) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = vec!["--data-dir".to_owned(), live.path().display().to_string()];
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = serve_cheaply(&store, port, &[]);
    let client = reqwest::Client::new();
    wait_healthy(&client, &base, &mut server).await;
    let birth = jiff::civil::date(1990, 1, 1);
    let payer = funded_customer(&client, &base, "13700000011", &recourse_domain::identity::make_id_number("110105", birth, 11), &recourse_domain::card::with_luhn_digit("622202000000000011"), 5_000_000).await;
    let payee = funded_customer(&client, &base, "13700000012", &recourse_domain::identity::make_id_number("110105", birth, 12), &recourse_domain::card::with_luhn_digit("622202000000000012"), 1).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for worker in 0..8 {
        let (client, base, token, payee_id, stop) = (client.clone(), base.clone(), payer.0.clone(), payee.1.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            let mut sent = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let response = client.post(format!("{base}/v1/transfers")).bearer_auth(&token).header("idempotency-key", format!("load-{worker}-{sent}"))
                    .json(&serde_json::json!({"payee_id": payee_id, "amount": 1})).send().await.unwrap();
                assert_eq!(response.status(), 201);
                sent += 1;
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let file = restored.path().join("backup.db");
    let backup = recourse(&store).args(["admin", "backup", "--out", &file.display().to_string()]).output().unwrap();
    assert!(backup.status.success(), "{}", String::from_utf8_lossy(&backup.stderr));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for sender in senders {
        total += sender.await.unwrap();
    }
    assert!(total > 0);
    // Never over an existing file.
    assert!(!recourse(&store).args(["admin", "backup", "--out", &file.display().to_string()]).output().unwrap().status.success());

    // Not into the directory a running server holds, then into a fresh one, once.
    let restore = |dir: &std::path::Path| Command::new(BINARY).args(["admin", "restore", "--from", &file.display().to_string(), "--data-dir", &dir.display().to_string()]).env("RECOURSE_LOG", "warn").output().unwrap();
    let busy = restore(live.path());
    assert!(!busy.status.success() && String::from_utf8_lossy(&busy.stderr).contains("in use"), "{}", String::from_utf8_lossy(&busy.stderr));
    let target = restored.path().join("store");
    let done = restore(&target);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let again = restore(&target);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already has a store"), "{}", String::from_utf8_lossy(&again.stderr));
    let checked = recourse(&["--data-dir".to_owned(), target.display().to_string()]).args(["admin", "check-ledger"]).output().unwrap();
    assert!(checked.status.success(), "{}{}", String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));
    let transfers: i64 = rusqlite::Connection::open(target.join("recourse.db")).unwrap().query_row("SELECT COUNT(*) FROM transfers", [], |row| row.get(0)).unwrap();
    assert!(transfers > 0 && transfers <= total, "the backup holds {transfers} of the {total} transfers made around it");
    // PostgreSQL has its own tools.
    let pg = recourse(&["--database-url".to_owned(), "postgres://nobody@127.0.0.1:1/none".to_owned()]).args(["admin", "backup", "--out", "x.db"]).output().unwrap();
    assert!(!pg.status.success() && String::from_utf8_lossy(&pg.stderr).contains("pg_dump"), "{}", String::from_utf8_lossy(&pg.stderr));
}

/// Two servers never share one embedded store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_directory_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = vec!["--data-dir".to_owned(), dir.path().display().to_string()];
    let port = free_port();
    let mut first = serve_cheaply(&store, port, &[]);
    wait_healthy(&reqwest::Client::new(), &format!("http://127.0.0.1:{port}"), &mut first).await;
    let second = recourse(&store).args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())]).output().unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("in use by a running recourse server"), "{}", String::from_utf8_lossy(&second.stderr));
}

/// A store remembers its identity key's fingerprint: another key cannot start on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_another_identity_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = vec!["--data-dir".to_owned(), dir.path().display().to_string()];
    let port = free_port();
    let mut first = serve_cheaply(&store, port, &[]);
    wait_healthy(&reqwest::Client::new(), &format!("http://127.0.0.1:{port}"), &mut first).await;
    drop(first);
    let other = "1".repeat(64);
    let refused = recourse(&store).args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())]).env("RECOURSE_IDENTITY_KEY", &other).output().unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("another identity key"), "{stderr}");
    assert!(!stderr.contains(KEY) && !stderr.contains(&other), "no key in the message");
    // A key that is not one never panics: a clear error.
    let garbage = recourse(&store).args(["serve"]).env("RECOURSE_IDENTITY_KEY", "é".repeat(32)).output().unwrap();
    assert!(!garbage.status.success());
    assert!(!String::from_utf8_lossy(&garbage.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&garbage.stderr));
    // The right key starts again.
    let port = free_port();
    let mut again = serve_cheaply(&store, port, &[]);
    wait_healthy(&reqwest::Client::new(), &format!("http://127.0.0.1:{port}"), &mut again).await;
}

/// Schemathesis (PyPI, pinned in `tools/api-fuzz`) over every operation of
/// `/openapi.json` against a live server, as a logged-in, funded customer
/// (log-out excluded): no 5xx, and every answer's status, content type,
/// headers and body as documented.
async fn fuzz_the_api(store: Vec<String>) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // The server's own log, at info, is scanned afterwards for secrets.
    let logs = tempfile::NamedTempFile::new().unwrap();
    let mut server = Server(
        recourse(&store)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--test-clock"])
            .env("RECOURSE_LOG", "info")
            .env("RECOURSE_PASSWORD_HASHING__MEMORY_KIB", "64")
            .env("RECOURSE_PASSWORD_HASHING__ITERATIONS", "1")
            .stderr(logs.reopen().unwrap())
            .stdout(logs.reopen().unwrap())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    wait_healthy(&client, &base, &mut server).await;
    let birth = jiff::civil::date(1990, 1, 1);
    let id_number = recourse_domain::identity::make_id_number("110105", birth, 21);
    let card = recourse_domain::card::with_luhn_digit("622202000000000021");
    let (token, _) = funded_customer(&client, &base, "13700000021", &id_number, &card, 1_000_000).await;
    let output = Command::new("st")
        .args(["run", &format!("{base}/openapi.json"), "-H", &format!("Authorization: Bearer {token}"), "--exclude-path", "/v1/sessions/current", "--max-examples", "15"])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance"])
        .args(["--seed", "20261126", "--request-timeout", "10", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("the API fuzzer runs: `python3 -m pip install -r tools/api-fuzz/requirements.txt` (scripts/test does)");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the fuzzer found problems:\n{report}\n{}", String::from_utf8_lossy(&output.stderr));
    // The summary's line: "N generated, N passed" (or with failures).
    let generated = report.lines().find(|line| line.contains(" generated, ")).unwrap_or_default().trim().to_owned();
    eprintln!("api fuzzing: {generated}");
    assert!(generated.contains("passed"), "{report}");
    drop(server);
    // Nothing the fuzzer did broke the ledger, and no secret reached the log.
    let checked = recourse(&store).args(["admin", "check-ledger"]).output().unwrap();
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stdout));
    let log = std::fs::read_to_string(logs.path()).unwrap();
    assert!(log.contains("request"), "the log was written");
    for secret in [token.as_str(), "crash test 1", "王小明", id_number.as_str(), card.as_str()] {
        assert!(!log.contains(secret), "a secret reached the log: {secret}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_fuzzer_finds_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    fuzz_the_api(vec!["--data-dir".into(), dir.path().display().to_string()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_fuzzer_finds_nothing_on_postgres() {
    let Some(db) = ScratchDatabase::create("recourse_fuzz").await else { return };
    fuzz_the_api(db.store_args()).await;
    db.drop_database().await;
}

/// One request of the many-kills crash test, and what became of it.
#[derive(Clone, Debug)]
enum Sent {
    /// An instant or a 24-hour delayed transfer, by key; `Some(id)` once acknowledged.
    Transfer { key: String, delayed: bool, id: Option<String> },
    /// A revoke of an acknowledged delayed transfer; `true` once acknowledged.
    Revoke { transfer: String, done: bool },
}

async fn send(client: &reqwest::Client, base: &str, token: &str, payee: &str, sent: &Sent) -> Option<Sent> {
    match sent {
        Sent::Transfer { key, delayed, .. } => {
            let mut body = serde_json::json!({"payee_id": payee, "amount": 1});
            if *delayed {
                body["arrival"] = serde_json::json!("24h");
            }
            let response = client.post(format!("{base}/v1/transfers")).bearer_auth(token).header("idempotency-key", key).json(&body).send().await.ok()?;
            assert!(response.status() == 201 || response.status() == 503, "{}", response.status());
            if response.status() != 201 {
                return None;
            }
            let id = response.json::<serde_json::Value>().await.ok()?["id"].as_str()?.to_owned();
            Some(Sent::Transfer { key: key.clone(), delayed: *delayed, id: Some(id) })
        }
        Sent::Revoke { transfer, .. } => {
            let response = client.post(format!("{base}/v1/transfers/{transfer}/revoke")).bearer_auth(token).send().await.ok()?;
            assert!(response.status() == 200 || response.status() == 503, "{}", response.status());
            (response.status() == 200).then(|| Sent::Revoke { transfer: transfer.clone(), done: true })
        }
    }
}

/// "Acknowledged means durable, many times over": concurrent instant and
/// delayed transfers and revokes, the server SIGKILLed at random moments
/// again and again, every unacknowledged request retried with its key after
/// each restart; then every acknowledged transfer and revoke is there, once,
/// and the balances, the holds and the ledger audit agree.
async fn survive_many_kills(store: Vec<String>, kills: usize) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    // Every life of the server logs at info into one file, scanned for secrets at the end.
    let logs = tempfile::NamedTempFile::new().unwrap();
    let serve_logging = |store: &[String]| {
        let file = std::fs::OpenOptions::new().append(true).open(logs.path()).unwrap();
        Server(
            recourse(store)
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .env("RECOURSE_LOG", "info")
                .env("RECOURSE_PASSWORD_HASHING__MEMORY_KIB", "64")
                .env("RECOURSE_PASSWORD_HASHING__ITERATIONS", "1")
                .stdout(file.try_clone().unwrap())
                .stderr(file)
                .spawn()
                .unwrap(),
        )
    };
    let mut server = serve_logging(&store);
    wait_healthy(&client, &base, &mut server).await;
    let birth = jiff::civil::date(1990, 1, 1);
    let (payer, _) = funded_customer(&client, &base, "13700000031", &recourse_domain::identity::make_id_number("110105", birth, 31), &recourse_domain::card::with_luhn_digit("622202000000000031"), 5_000_000).await;
    let (payee_token, payee) = funded_customer(&client, &base, "13700000032", &recourse_domain::identity::make_id_number("110105", birth, 32), &recourse_domain::card::with_luhn_digit("622202000000000032"), 1).await;
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Sent>::new()));
    let mut state = 0x9E37_79B9_7F4A_7C15u64; // a fixed seed: the same kill moments each run
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..kills {
        let mut workers = Vec::new();
        for worker in 0..6 {
            let (client, base, payer, payee, log) = (client.clone(), base.clone(), payer.clone(), payee.clone(), log.clone());
            workers.push(tokio::spawn(async move {
                for n in 0.. {
                    let sent = Sent::Transfer { key: format!("k-{round}-{worker}-{n}"), delayed: n % 3 == 1, id: None };
                    let index = {
                        let mut log = log.lock().unwrap();
                        log.push(sent.clone());
                        log.len() - 1
                    };
                    let Some(done) = send(&client, &base, &payer, &payee, &sent).await else { return };
                    let revoke = match &done {
                        Sent::Transfer { delayed: true, id: Some(id), .. } if n % 2 == 1 => Some(Sent::Revoke { transfer: id.clone(), done: false }),
                        _ => None,
                    };
                    log.lock().unwrap()[index] = done;
                    // Half of the delayed transfers are revoked at once, racing the kill too.
                    if let Some(revoke) = revoke {
                        let index = {
                            let mut log = log.lock().unwrap();
                            log.push(revoke.clone());
                            log.len() - 1
                        };
                        let Some(done) = send(&client, &base, &payer, &payee, &revoke).await else { return };
                        log.lock().unwrap()[index] = done;
                    }
                }
            }));
        }
        // Let some requests through, then kill it mid-flight.
        let until = log.lock().unwrap().len() + 20 + (next() % 80) as usize;
        while log.lock().unwrap().len() < until {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.0.kill().unwrap();
        server.0.wait().unwrap();
        for worker in workers {
            worker.await.unwrap();
        }
        server = serve_logging(&store);
        wait_healthy(&client, &base, &mut server).await;
        // Retry everything unacknowledged, with its key, until it is.
        let pending: Vec<(usize, Sent)> = log.lock().unwrap().iter().cloned().enumerate().filter(|(_, s)| matches!(s, Sent::Transfer { id: None, .. } | Sent::Revoke { done: false, .. })).collect();
        for (index, sent) in pending {
            let done = loop {
                if let Some(done) = send(&client, &base, &payer, &payee, &sent).await {
                    break done;
                }
            };
            log.lock().unwrap()[index] = done;
        }
    }
    let log = log.lock().unwrap().clone();
    let revoked: std::collections::HashSet<String> = log.iter().filter_map(|s| match s { Sent::Revoke { transfer, done: true } => Some(transfer.clone()), _ => None }).collect();
    let (mut instant, mut pending) = (0i64, 0i64);
    for sent in &log {
        let Sent::Transfer { delayed, id: Some(id), .. } = sent else { continue };
        let found: serde_json::Value = client.get(format!("{base}/v1/transfers/{id}")).bearer_auth(&payer).send().await.unwrap().json().await.unwrap();
        let expected = match (delayed, revoked.contains(id)) {
            (false, _) => "completed",
            (true, true) => "revoked",
            (true, false) => "pending_arrival",
        };
        assert_eq!(found["status"], expected, "acknowledged transfer {id}");
        assert_eq!(found["history"].as_array().unwrap().len(), if expected == "revoked" { 2 } else { 1 }, "one event per step, never twice: {found}");
        match expected {
            "completed" => instant += 1,
            "pending_arrival" => pending += 1,
            _ => {}
        }
    }
    let balance = |token: String| {
        let (client, base) = (client.clone(), base.clone());
        async move { client.get(format!("{base}/v1/me")).bearer_auth(token).send().await.unwrap().json::<serde_json::Value>().await.unwrap()["balance"].clone() }
    };
    let (payer_balance, payee_balance) = (balance(payer.clone()).await, balance(payee_token.clone()).await);
    assert_eq!((payer_balance["total"].as_i64(), payer_balance["held"].as_i64()), (Some(5_000_000 - instant), Some(pending)), "{payer_balance}");
    assert_eq!(payee_balance["total"].as_i64(), Some(1 + instant), "{payee_balance}");
    drop(server);
    let audit = recourse(&store).args(["admin", "check-ledger"]).output().unwrap();
    assert!(audit.status.success(), "{}", String::from_utf8_lossy(&audit.stdout));
    let logged = std::fs::read_to_string(logs.path()).unwrap();
    assert!(logged.contains("recourse is serving"), "the logs were captured");
    let id_numbers = [31, 32].map(|n| recourse_domain::identity::make_id_number("110105", birth, n));
    let cards = ["622202000000000031", "622202000000000032"].map(recourse_domain::card::with_luhn_digit);
    for secret in [payer.as_str(), payee_token.as_str(), "crash test 1", "王小明", &id_numbers[0], &id_numbers[1], &cards[0], &cards[1]] {
        assert!(!logged.contains(secret), "a secret reached the log of a crash run: {secret}");
    }
    eprintln!("survived {kills} kills: {} requests, {instant} instant and {pending} pending transfers, {} revokes", log.len(), revoked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_means_durable_through_many_kills_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    survive_many_kills(vec!["--data-dir".into(), dir.path().display().to_string()], 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_means_durable_through_many_kills_on_postgres() {
    let Some(db) = ScratchDatabase::create("recourse_kills").await else { return };
    survive_many_kills(db.store_args(), 6).await;
    db.drop_database().await;
}

/// `recourse admin rotate-key`, online: instances restarted with the new key
/// and the old one as previous write under the new key at once and still
/// read the old rows; lookups by blind index (the one-account-per-identity
/// rule, a card bound twice) search under both keys; the command re-encrypts
/// the old rows while a server runs and retires the old key, after which
/// the new key alone serves everything and the old key alone is refused.
/// Where several instances serve one store (PostgreSQL), one left running
/// with the old key alone writes no identity data once the rotation began.
async fn rotate_the_identity_key(store: Vec<String>, several_instances: bool) {
    const NEW_KEY: &str = "ab01cd23ef45ab01cd23ef45ab01cd23ef45ab01cd23ef45ab01cd23ef45ab01";
    let birth = jiff::civil::date(1990, 1, 1);
    let id_number = |n| recourse_domain::identity::make_id_number("110105", birth, n);
    let card = |n: u32| recourse_domain::card::with_luhn_digit(&format!("6222020000000{n:05}"));
    let client = reqwest::Client::new();
    let with_keys = |port: u16, key: &str, previous: Option<&str>| {
        let mut command = recourse(&store);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("RECOURSE_IDENTITY_KEY", key)
            .env("RECOURSE_PASSWORD_HASHING__MEMORY_KIB", "64")
            .env("RECOURSE_PASSWORD_HASHING__ITERATIONS", "1")
            .stderr(Stdio::piped());
        if let Some(previous) = previous {
            command.env("RECOURSE_IDENTITY_KEY_PREVIOUS", previous);
        }
        command
    };
    let bind = |base: String, token: String, number: String| {
        let client = client.clone();
        async move {
            let response = client.post(format!("{base}/v1/me/cards")).bearer_auth(&token).json(&serde_json::json!({"card_number": number, "holder_name": "王小明"})).send().await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body["code"].as_str().unwrap_or("").to_owned())
        }
    };

    // The first key: a verified customer with a card.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = Server(with_keys(port, KEY, None).stderr(Stdio::null()).spawn().unwrap());
    wait_healthy(&client, &base, &mut first).await;
    let (token, _) = funded_customer(&client, &base, "13700000011", &id_number(11), &card(1), 10_000).await;
    let stale = if several_instances { Some((first, base)) } else { drop(first); None };

    // Restarted with the new key and the old one: the rotation begins.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut rotating = Server(with_keys(port, NEW_KEY, Some(KEY)).stderr(Stdio::null()).spawn().unwrap());
    wait_healthy(&client, &base, &mut rotating).await;
    if let Some((_, stale_base)) = &stale {
        assert_eq!(bind(stale_base.clone(), token.clone(), card(5)).await, (503, "key-outdated".to_owned()), "the instance left with the old key alone writes nothing");
    }
    assert_eq!(bind(base.clone(), token.clone(), card(2)).await, (201, String::new()), "the old legal name still decrypts");
    assert_eq!(bind(base.clone(), token.clone(), card(1)).await.1, "card-already-bound", "found under the old key's index");
    // Someone else with the same identity number: counted under the old key's index.
    client.post(format!("{base}/v1/users")).json(&serde_json::json!({"phone": "13700000012", "password": "crash test 1", "nickname": "c"})).send().await.unwrap();
    let other: serde_json::Value = client.post(format!("{base}/v1/sessions")).json(&serde_json::json!({"phone": "13700000012", "password": "crash test 1"})).send().await.unwrap().json().await.unwrap();
    let other = other["token"].as_str().unwrap().to_owned();
    let same_person = client.post(format!("{base}/v1/me/verification")).bearer_auth(&other).json(&serde_json::json!({"legal_name": "王小明", "id_number": id_number(11)})).send().await.unwrap();
    assert_eq!(same_person.status(), 409, "one account per identity, across both keys");
    let (newcomer, _) = funded_customer(&client, &base, "13700000013", &id_number(13), &card(3), 100).await;
    if let Some((stale, stale_base)) = stale {
        assert_eq!(bind(stale_base, newcomer, card(6)).await, (503, "key-outdated".to_owned()), "nor reads a legal name written under the new key");
        drop(stale);
    }

    // While old rows remain, neither key alone may start (one server per
    // SQLite data directory: stop this one to try).
    drop(rotating);
    let old_alone = with_keys(free_port(), KEY, None).output().unwrap();
    assert!(!old_alone.status.success());
    assert!(String::from_utf8_lossy(&old_alone.stderr).contains("being rotated out"), "{}", String::from_utf8_lossy(&old_alone.stderr));
    let new_alone = with_keys(free_port(), NEW_KEY, None).output().unwrap();
    assert!(!new_alone.status.success());
    assert!(String::from_utf8_lossy(&new_alone.stderr).contains("RECOURSE_IDENTITY_KEY_PREVIOUS"), "{}", String::from_utf8_lossy(&new_alone.stderr));

    // The command re-encrypts the old rows while the server runs, and retires the old key.
    let port = free_port();
    let mut rotating = Server(with_keys(port, NEW_KEY, Some(KEY)).stderr(Stdio::null()).spawn().unwrap());
    wait_healthy(&client, &format!("http://127.0.0.1:{port}"), &mut rotating).await;
    let rotated = recourse(&store).args(["admin", "rotate-key"]).env("RECOURSE_IDENTITY_KEY", NEW_KEY).env("RECOURSE_IDENTITY_KEY_PREVIOUS", KEY).output().unwrap();
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let said = String::from_utf8_lossy(&rotated.stdout);
    assert!(said.contains("re-encrypted 1 identities and 1 cards"), "only the rows written before the rotation: {said}");
    let again = recourse(&store).args(["admin", "rotate-key"]).env("RECOURSE_IDENTITY_KEY", NEW_KEY).env("RECOURSE_IDENTITY_KEY_PREVIOUS", KEY).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to rotate"), "{}", String::from_utf8_lossy(&again.stdout));
    drop(rotating);

    // The new key alone serves everything; the old key alone is refused.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut rotated = Server(with_keys(port, NEW_KEY, None).stderr(Stdio::null()).spawn().unwrap());
    wait_healthy(&client, &base, &mut rotated).await;
    let token: serde_json::Value = client.post(format!("{base}/v1/sessions")).json(&serde_json::json!({"phone": "13700000011", "password": "crash test 1"})).send().await.unwrap().json().await.unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    assert_eq!(bind(base.clone(), token.clone(), card(4)).await, (201, String::new()), "the re-encrypted legal name decrypts under the new key");
    assert_eq!(bind(base.clone(), token.clone(), card(1)).await.1, "card-already-bound", "the re-encrypted card is found under the new key's index");
    let same_person = client.post(format!("{base}/v1/me/verification")).bearer_auth(&other).json(&serde_json::json!({"legal_name": "王小明", "id_number": id_number(11)})).send().await.unwrap();
    assert_eq!(same_person.status(), 409, "the identity's count moved with its index");
    drop(rotated);
    let old_alone = with_keys(free_port(), KEY, None).output().unwrap();
    assert!(!old_alone.status.success());
    let stderr = String::from_utf8_lossy(&old_alone.stderr);
    assert!(stderr.contains("another identity key") && !stderr.contains(KEY) && !stderr.contains(NEW_KEY), "{stderr}");
    let audit = recourse(&store).args(["admin", "check-ledger"]).env("RECOURSE_IDENTITY_KEY", NEW_KEY).output().unwrap();
    assert!(String::from_utf8_lossy(&audit.stdout).contains("\"problems\": []"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_key_rotates_online_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    rotate_the_identity_key(vec!["--data-dir".to_owned(), dir.path().display().to_string()], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_key_rotates_online_on_postgres() {
    let Some(database) = ScratchDatabase::create("recourse_rotate").await else { return };
    rotate_the_identity_key(database.store_args(), true).await;
    database.drop_database().await;
}
