//! `recourse bench transfers`: real HTTP load on loopback against an
//! in-process server, printing transfers/s and latency percentiles.
//!
//! Accounts are seeded straight through the store (verified, with a bound
//! card and a large balance) so that seeding is not what is measured; every
//! measured transfer is a full `POST /v1/transfers` with its own
//! `Idempotency-Key`, bearer token check, payee lookup and durable commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Subcommand;
use recourse_domain::identity::make_id_number;
use recourse_domain::ledger::OperationKind;
use recourse_domain::{AccountId, CardId, Currency, OperationId, Role, UserId};
use recourse_service::config::PasswordHashing;
use recourse_service::vault::{Slot, Vault};
use recourse_store::{BankMovementRecord, IdempotencyClaim, NewCard, NewUser, Store, Verification};

use crate::settings::Settings;
use crate::{ServeArgs, open_store};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Concurrent transfers between random accounts over HTTP.
    Transfers {
        /// Customer accounts to create and pay between.
        #[arg(long, default_value_t = 1000)]
        accounts: usize,
        /// Concurrent HTTP clients (keep-alive connections).
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// How long to measure.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Warm-up before measuring.
        #[arg(long, default_value_t = 2)]
        warmup_seconds: u64,
        /// Percentage of transfers sent with `"arrival": "2h"`. Above 0 the
        /// server runs on the test clock, which moves two hours every half
        /// second so that delayed transfers arrive (through the scheduler)
        /// during the run; that also adds one read per request (the clock
        /// offset), so compare such runs with each other.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
        delayed_percent: u8,
    },
    /// Risk decisions through the service on a real store: a payer with
    /// `--contacts` contacts previews a stranger (the worst case: every
    /// contact compared) `--decisions` times from `--clients` tasks; prints
    /// decisions/s and latency percentiles.
    Risk {
        #[arg(long, default_value_t = 1000)]
        contacts: usize,
        #[arg(long, default_value_t = 20_000)]
        decisions: usize,
        #[arg(long, default_value_t = 8)]
        clients: usize,
    },
    /// Seed verified, funded customers for load from outside (`wrk`) into the
    /// store named by `--data-dir` / `--database-url`, and write
    /// `OUT/payers.txt` (one bearer token a line) and `OUT/payees.txt` (one
    /// user id a line). `scripts/bench-wrk … popular` uses it.
    Seed {
        #[arg(long, default_value_t = 64)]
        payers: usize,
        #[arg(long, default_value_t = 32)]
        payees: usize,
        /// Directory for `payers.txt` and `payees.txt`.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

pub async fn run(mut settings: Settings, explicit_data_dir: bool, command: BenchCommand) -> anyhow::Result<()> {
    // Benchmarks pay for the capacity limits without being stopped by them
    // (one bench client sends far more than a person would).
    settings.limits.rate_limits = recourse_service::config::RateLimits::Observe;
    eprintln!("rate limits: observe (counted and evaluated, not enforced; the lookup budget and every check on money still hold)");
    match command {
        BenchCommand::Transfers { accounts, clients, seconds, warmup_seconds, delayed_percent } => {
            transfers(settings, explicit_data_dir, accounts, clients, seconds, warmup_seconds, delayed_percent).await
        }
        BenchCommand::Seed { payers, payees, out } => seed_for_wrk(&settings, payers, payees, &out).await,
        BenchCommand::Risk { contacts, decisions, clients } => risk(settings, explicit_data_dir, contacts, decisions, clients).await,
    }
}

/// Payers and payees for `wrk`, with sessions written straight into the store.
async fn seed_for_wrk(settings: &Settings, payers: usize, payees: usize, out: &std::path::Path) -> anyhow::Result<()> {
    anyhow::ensure!((1..=10_000).contains(&payers) && (1..=10_000).contains(&payees), "payers and payees are 1 to 10,000");
    let store = open_store(settings).await?;
    let customers = seed(&store, &Vault::new(&recourse_service::vault::random_key()), payers + payees).await?;
    let users: Vec<UserId> = customers.iter().map(|(_, id)| id.parse()).collect::<Result<_, _>>()?;
    let mut tokens = String::new();
    for user in &users[..payers] {
        let (token, hash) = recourse_service::passwords::new_token();
        // The bench's sessions: created at 0 on the service clock, valid for ten years.
        store.create_session(hash, *user, 0, i64::MAX / 2).await?;
        tokens.push_str(&token);
        tokens.push('\n');
    }
    let ids: String = users[payers..].iter().map(|id| format!("{id}\n")).collect();
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("payers.txt"), tokens)?;
    std::fs::write(out.join("payees.txt"), ids)?;
    eprintln!("seeded {payers} payers and {payees} payees in {}", store.description());
    Ok(())
}

async fn transfers(mut settings: Settings, explicit_data_dir: bool, accounts: usize, clients: usize, seconds: u64, warmup_seconds: u64, delayed_percent: u8) -> anyhow::Result<()> {
    anyhow::ensure!(accounts >= 2 && clients >= 1 && accounts >= clients, "need at least 2 accounts and no more clients than accounts");
    anyhow::ensure!((1..=3600).contains(&seconds), "seconds is 1 to 3600");
    // The bench clock moves 4 hours a second: sessions (30 days) would expire after 180 s.
    anyhow::ensure!(delayed_percent == 0 || seconds + warmup_seconds <= 150, "with --delayed-percent, warm-up plus measuring is at most 150 s");
    let _scratch;
    if settings.database_url.is_none() && !explicit_data_dir {
        // A scratch store, unless the operator named one with --data-dir.
        let dir = tempfile::tempdir().context("scratch directory")?;
        settings.data_dir = dir.path().to_path_buf();
        _scratch = dir;
    }
    settings.password_hashing = PasswordHashing::cheap_for_tests();
    let key = recourse_service::vault::random_key();
    let store = open_store(&settings).await?;
    let description = store.description().to_owned();
    eprintln!("seeding {accounts} accounts in {description} …");
    let customers = seed(&store, &Vault::new(&key), accounts).await?;
    drop(store);

    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let server_settings = settings.clone();
    tokio::spawn(async move {
        let args = ServeArgs { listen: Some("127.0.0.1:0".into()), test_clock: delayed_percent > 0 };
        if let Err(error) = crate::serve(server_settings, args, key, Some(ready_tx)).await {
            eprintln!("bench server failed: {error:#}");
        }
    });
    let base = format!("http://{}", ready_rx.await.context("the bench server did not start")?);
    let address = base.trim_start_matches("http://").to_owned();
    let client = reqwest::Client::new();
    let mut sessions = Vec::with_capacity(clients);
    for (phone, _) in customers.iter().take(clients) {
        let response = client.post(format!("{base}/v1/sessions")).json(&serde_json::json!({"phone": phone, "password": "bench-password"})).send().await?;
        anyhow::ensure!(response.status() == 200, "bench login failed: {}", response.status());
        let body: serde_json::Value = response.json().await?;
        sessions.push(body["token"].as_str().context("token")?.to_owned());
    }
    let all_ids: Arc<Vec<String>> = Arc::new(customers.iter().map(|(_, id)| id.clone()).collect());

    eprintln!("warming up for {warmup_seconds}s, then measuring {seconds}s with {clients} clients …");
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (index, token) in sessions.into_iter().enumerate() {
        let address = address.clone();
        let measuring = Arc::clone(&measuring);
        let stop = Arc::clone(&stop);
        let ids = Arc::clone(&all_ids);
        let own_id = customers[index].1.clone();
        tasks.push(tokio::spawn(async move {
            let mut connection = Http1Client::connect(&address).await?;
            let mut latencies_us: Vec<u32> = Vec::with_capacity(200_000);
            let mut errors = 0u64;
            let mut seed = (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            while !stop.load(Ordering::Relaxed) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut payee = &ids[(seed % ids.len() as u64) as usize];
                if *payee == own_id {
                    payee = &ids[((seed + 1) % ids.len() as u64) as usize];
                }
                let arrival = if (seed >> 32) % 100 < u64::from(delayed_percent) { r#","arrival":"2h""# } else { "" };
                let body = format!(r#"{{"payee_id":"{payee}","amount":{}{arrival}}}"#, 1 + seed % 100);
                // Time-ordered keys, as clients generating UUID v7 keys send them.
                let key = uuid::Uuid::now_v7().simple().to_string();
                let started = Instant::now();
                let status = connection.post("/v1/transfers", &token, &key, &body).await?;
                if measuring.load(Ordering::Relaxed) {
                    if status == 201 {
                        latencies_us.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    } else {
                        errors += 1;
                    }
                }
            }
            anyhow::Ok((latencies_us, errors))
        }));
    }
    // Delayed transfers arrive during the run: the test clock moves two hours
    // every half second, and each move runs everything that became due.
    let clock = (delayed_percent > 0).then(|| {
        let (stop, base, client) = (Arc::clone(&stop), base.clone(), client.clone());
        tokio::spawn(async move {
            let mut arrived = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let reply = client.post(format!("{base}/v1/test/clock")).json(&serde_json::json!({"advance_seconds": 7200})).send().await?;
                anyhow::ensure!(reply.status() == 200, "advancing the bench clock failed: {}", reply.status());
                arrived += reply.json::<serde_json::Value>().await?["ran"].as_u64().unwrap_or(0);
            }
            anyhow::Ok(arrived)
        })
    });
    tokio::time::sleep(Duration::from_secs(warmup_seconds)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut l, e) = task.await??;
        latencies.append(&mut l);
        errors += e;
    }
    let arrived = match clock {
        Some(clock) => Some(clock.await??),
        None => None,
    };
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        f64::from(latencies[index]) / 1000.0
    };
    let store = open_store(&settings).await?;
    let audit = store.audit().await?;
    let durability = if settings.store.durable { "fsync on every commit (SQLite synchronous=FULL; PostgreSQL per server setting)" } else { "OFF (not durable)" };
    println!("store:        {description}");
    println!("durability:   {durability}; group commit up to {} operations", settings.store.batch_max);
    println!("accounts:     {accounts}   clients: {clients}   measured: {elapsed:.1}s (after {warmup_seconds}s warm-up)");
    println!("transfers:    {} ok, {errors} failed", latencies.len());
    if let Some(arrived) = arrived {
        println!("delayed:      {delayed_percent}% sent with arrival 2h; {arrived} arrived during the run (scheduler on the test clock)");
    }
    println!("throughput:   {:.0} transfers/s", latencies.len() as f64 / elapsed);
    println!("latency ms:   p50 {:.2}   p99 {:.2}   p99.9 {:.2}   max {:.2}", pct(0.50), pct(0.99), pct(0.999), pct(1.0));
    println!("ledger audit: {} ({} journal rows, {} operations)", if audit.is_sound() { "sound" } else { "PROBLEMS" }, audit.journal_rows, audit.operations);
    anyhow::ensure!(audit.is_sound(), "ledger problems after the benchmark: {:?}", audit.problems);
    Ok(())
}

/// Create `accounts` verified customers with money; return (phone, id) of all of them.
async fn risk(mut settings: Settings, explicit_data_dir: bool, contacts: usize, decisions: usize, clients: usize) -> anyhow::Result<()> {
    anyhow::ensure!((1..=1000).contains(&contacts) && decisions >= 1 && clients >= 1, "contacts is 1 to 1000; decisions and clients at least 1");
    let _scratch;
    if settings.database_url.is_none() && !explicit_data_dir {
        let dir = tempfile::tempdir().context("scratch directory")?;
        settings.data_dir = dir.path().to_path_buf();
        _scratch = dir;
    }
    let key = recourse_service::vault::random_key();
    let store = open_store(&settings).await?;
    eprintln!("seeding a payer with {contacts} contacts in {} …", store.description());
    let people = seed(&store, &Vault::new(&key), contacts + 2).await?;
    let ids: Vec<UserId> = people.iter().map(|(_, id)| id.parse::<UserId>()).collect::<Result<_, _>>()?;
    let (payer, stranger) = (ids[0], ids[1]);
    for contact in &ids[2..] {
        store.add_contact(payer, *contact, 1).await?;
    }
    let mut config = settings.service_config(key, false);
    config.password_hashing = PasswordHashing::cheap_for_tests();
    // One payer previews the stranger `decisions` times: a budget to match
    // (each preview still takes its tokens).
    config.limits.lookup_budget_tokens = config.limits.lookup_budget_tokens.max(u32::try_from(decisions).unwrap_or(u32::MAX).saturating_mul(config.limits.lookup_cost_found));
    let service = Arc::new(recourse_service::Service::new(store, config).map_err(anyhow::Error::msg)?);
    let payer = Arc::new(service.account(payer).await?.context("the payer")?.0);
    let stranger = recourse_service::money::PayeeRef::Id(stranger);
    let per_client = decisions.div_ceil(clients);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (service, payer, stranger) = (service.clone(), payer.clone(), stranger.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let begun = Instant::now();
                let preview = service.preview_payee(&payer, &stranger).await?.map_err(|refusal| anyhow::anyhow!("{refusal}"))?.context("the stranger")?;
                anyhow::ensure!(!preview.risk.reasons.is_empty(), "a stranger's preview has reasons");
                latencies.push(begun.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64() * 1000.0;
    println!("risk decisions: {} in {:.2}s with {clients} tasks, {contacts} contacts compared each", latencies.len(), elapsed.as_secs_f64());
    println!("throughput:   {:.0} decisions/s", latencies.len() as f64 / elapsed.as_secs_f64());
    println!("latency ms:   p50 {:.3}   p99 {:.3}   max {:.3}", at(0.5), at(0.99), at(1.0));
    Ok(())
}

async fn seed(store: &Store, vault: &Vault, accounts: usize) -> anyhow::Result<Vec<(String, String)>> {
    let password_hash = recourse_service::passwords::hash_password(&PasswordHashing::cheap_for_tests(), "bench-password")?;
    let run_prefix = (uuid::Uuid::now_v7().as_u128() % 90) as u64 + 10;
    let mut out = Vec::with_capacity(accounts);
    let chunk = 256;
    let mut index = 0;
    while index < accounts {
        let end = (index + chunk).min(accounts);
        let mut jobs = Vec::new();
        for i in index..end {
            let store = store.clone();
            let vault = vault.clone();
            let password_hash = password_hash.clone();
            jobs.push(tokio::spawn(async move { seed_one(&store, &vault, &password_hash, run_prefix, i).await }));
        }
        for job in jobs {
            out.push(job.await??);
        }
        index = end;
    }
    Ok(out)
}

async fn seed_one(store: &Store, vault: &Vault, password_hash: &str, run_prefix: u64, i: usize) -> anyhow::Result<(String, String)> {
    let phone = format!("+86199{run_prefix:02}{i:06}");
    let user = store
        .create_user(NewUser {
            id: UserId::new(),
            phone: phone.clone(),
            password_hash: password_hash.to_owned(),
            nickname: format!("bench{i}"),
            role: Role::Customer,
            wallet: Some(AccountId::new()),
            created_at_us: 0,
            avatar: None,
        })
        .await?;
    let row = user.id.as_bytes().to_vec();
    let id_number = make_id_number("110105", jiff::civil::date(1990, 1, 1), (i % 1000) as u16);
    store
        .verify_user(
            user.id,
            Verification {
                legal_name_enc: vault.encrypt(Slot { table: "users", column: "legal_name_enc", row: &row }, "压测用户"),
                id_number_enc: vault.encrypt(Slot { table: "users", column: "id_number_enc", row: &row }, &id_number),
                id_number_index: vault.blind_index("id_number", &format!("{run_prefix}-{i}")),
                masked_name: "***户".into(),
                id_last4: id_number[14..].to_owned(),
                verified_at_us: 0,
            },
            i64::MAX,
        )
        .await?;
    let card = store
        .bind_card(NewCard { id: CardId::new(), user: user.id, card_enc: vec![1], card_index: vec![i as u8, (i >> 8) as u8, (i >> 16) as u8], last4: "0000".into(), created_at_us: 0 })
        .await?;
    let wallet = user.wallet.context("customers have wallets")?;
    store
        .create_bank_movement(
            IdempotencyClaim { caller: user.id, key: "bench-seed".into(), request_hash: vec![0] },
            BankMovementRecord { id: OperationId::new(), kind: OperationKind::Topup, user: user.id, card: card.id, account: wallet, amount: recourse_domain::Amount::from_stored(1_000_000_000), currency: Currency::Cny, created_at_us: 0 },
        )
        .await?;
    Ok((phone, user.id.to_string()))
}

/// A minimal HTTP/1.1 keep-alive client, so that the load generator costs
/// little of the two cores it shares with the server (a general-purpose
/// client cost more than half of the measured throughput).
struct Http1Client {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
    host: String,
    buffer: Vec<u8>,
}

impl Http1Client {
    async fn connect(address: &str) -> anyhow::Result<Http1Client> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Http1Client { stream: tokio::io::BufReader::new(stream), host: address.to_owned(), buffer: Vec::with_capacity(4096) })
    }

    /// Send a JSON POST and read the whole response; returns the status code.
    async fn post(&mut self, path: &str, token: &str, key: &str, body: &str) -> anyhow::Result<u16> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {token}\r\nidempotency-key: {key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut status = 0u16;
        let mut content_length = 0usize;
        loop {
            self.buffer.clear();
            let read = self.stream.read_until(b'\n', &mut self.buffer).await?;
            anyhow::ensure!(read > 0, "the server closed the connection");
            let line = std::str::from_utf8(&self.buffer)?.trim_end();
            if status == 0 {
                status = line.split(' ').nth(1).and_then(|code| code.parse().ok()).context("status line")?;
            } else if line.is_empty() {
                break;
            } else if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse()?;
            }
        }
        self.buffer.resize(content_length, 0);
        self.stream.read_exact(&mut self.buffer).await?;
        Ok(status)
    }
}
