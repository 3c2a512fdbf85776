//! The `recourse` binary: `serve`, `demo`, `admin …` and `bench …`.

mod bench;
mod demo;
mod settings;

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Parser, Subcommand};
use recourse_domain::Role;
use recourse_domain::phone::Phone;
use recourse_domain::text::Nickname;
use recourse_store::Store;
use settings::{Settings, StoreArgs};

#[derive(Parser)]
#[command(name = "recourse", version, about = "Person-to-person payments where wrong transfers are hard to make and easy to recover")]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Run the service pre-seeded with demo customers, staff, balances and history.
    Demo(ServeArgs),
    /// Operator commands; safe to run while a server uses the same store.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Benchmarks (real HTTP on loopback).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(clap::Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<String>,
    /// Expose POST /v1/test/clock, which moves the service clock forward.
    #[arg(long)]
    pub test_clock: bool,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a staff account (agent, compliance, authority or admin).
    CreateStaff {
        #[arg(long, value_parser = ["agent", "compliance", "authority", "admin"])]
        role: String,
        #[arg(long)]
        phone: String,
        #[arg(long, env = "RECOURSE_STAFF_PASSWORD")]
        password: String,
        #[arg(long)]
        nickname: Option<String>,
    },
    /// Replay the journal against every balance and check every ledger invariant.
    CheckLedger,
    /// Check the audit log's keyed hash chain (needs the identity key, and
    /// `identity_key_previous` for entries made before a rotation): exit 0
    /// when intact, non-zero naming the first bad entry.
    VerifyAudit,
    /// Create or upgrade the schema, then exit.
    Migrate,
    /// Take a consistent online backup of the embedded store into a new
    /// file, while a server may be running (SQLite's backup API). For
    /// PostgreSQL use `pg_dump`.
    Backup {
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Bring a backup back into a data directory that has no store and no
    /// running server.
    Restore {
        #[arg(long)]
        from: std::path::PathBuf,
        #[arg(long)]
        data_dir: std::path::PathBuf,
    },
    /// Print a fresh random identity-data key (64 hex characters).
    GenerateKey,
    /// Rotate the identity-data key, online: with the new key as
    /// RECOURSE_IDENTITY_KEY and the current one as
    /// RECOURSE_IDENTITY_KEY_PREVIOUS, make the new key current (new writes
    /// use it), re-encrypt every old row in small batches while servers run,
    /// then retire the previous key. Restart every instance with both keys
    /// first: one still running with only the old key would keep writing
    /// under it. Safe to run again after an interruption.
    RotateKey,
    /// Measure the impersonation detectors on their labelled evaluation
    /// sets: recall per transformation, precision and false alarms. Fails
    /// if a target (recall ≥ 0.95, false alarms ≤ 1%) is missed.
    EvalDetectors,
}

fn init_logs(format: &str) {
    let builder = tracing_subscriber::fmt().with_env_filter(recourse_server::logs::filter()).with_writer(std::io::stderr);
    if format == "pretty" {
        builder.compact().init();
    } else {
        builder.json().flatten_event(true).init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(&cli.store)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    match cli.command {
        Command::Serve(args) => {
            init_logs(&settings.log_format);
            let key = settings.required_identity_key()?;
            runtime.block_on(serve(settings, args, key, None))
        }
        Command::Demo(args) => {
            init_logs("pretty");
            runtime.block_on(demo::run(settings, cli.store.data_dir.is_none(), args))
        }
        Command::Admin(command) => {
            init_logs("pretty");
            runtime.block_on(admin(settings, command))
        }
        Command::Bench(command) => runtime.block_on(bench::run(settings, cli.store.data_dir.is_some(), command)),
    }
}

pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let config = settings.store_config();
    let store = tokio::task::spawn_blocking(move || Store::open(&config)).await?.context("opening the store")?;
    Ok(store)
}

/// Tell the store which identity key this instance has (and the previous
/// one, during a rotation): the key id to write under and the previous key
/// to read with, or a clear refusal to start (`recourse_service::keys`).
async fn claim_identity_key(store: &recourse_store::Store, settings: &Settings, key: &[u8; 32]) -> anyhow::Result<(u8, Option<([u8; 32], u8)>)> {
    use recourse_service::vault::Vault;
    let fingerprint = Vault::fingerprint_of(key);
    let previous = settings.previous_identity_key()?;
    let state = match store.claim_key(fingerprint.clone(), previous.as_ref().map(Vault::fingerprint_of)).await? {
        Ok(state) => state,
        Err(mismatch) if mismatch.stored.previous.as_ref().is_some_and(|p| p.fingerprint == fingerprint) => {
            anyhow::bail!(
                "this identity key (fingerprint {fingerprint}) is being rotated out: start with the new key (fingerprint {}) as RECOURSE_IDENTITY_KEY and this one as RECOURSE_IDENTITY_KEY_PREVIOUS",
                mismatch.stored.current.fingerprint
            )
        }
        Err(mismatch) => anyhow::bail!(
            "this store was set up with another identity key (fingerprint {stored}; the key given has {fingerprint}): start with the key the store was set up with (RECOURSE_IDENTITY_KEY), or identity data written now could not be read by the other instances; to rotate keys give the new key as RECOURSE_IDENTITY_KEY and the current one as RECOURSE_IDENTITY_KEY_PREVIOUS",
            stored = mismatch.stored.current.fingerprint
        ),
    };
    let previous = match (&state.previous, previous) {
        (None, _) => None,
        (Some(record), Some(previous)) if Vault::fingerprint_of(&previous) == record.fingerprint => Some((previous, record.key_id)),
        (Some(record), _) => anyhow::bail!(
            "a rotation of the identity key is under way and rows under the previous key remain: set RECOURSE_IDENTITY_KEY_PREVIOUS to the previous key (fingerprint {}) until `recourse admin rotate-key` has finished",
            record.fingerprint
        ),
    };
    Ok((state.current.key_id, previous))
}

/// Start the service; `ready` learns the bound address once it listens.
pub async fn serve(settings: Settings, args: ServeArgs, identity_key: [u8; 32], ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>) -> anyhow::Result<()> {
    // One server per embedded store: the lock also keeps `admin restore` out.
    let _data_dir_lock = match settings.database_url {
        None => Some(recourse_store::backup::lock_data_dir(&settings.data_dir).context("the data directory")?),
        Some(_) => None,
    };
    let store = open_store(&settings).await?;
    let description = store.description().to_owned();
    let mut config = settings.service_config(identity_key, args.test_clock);
    (config.identity_key_id, config.identity_key_previous) = claim_identity_key(&store, &settings, &identity_key).await?;
    let state = recourse_server::app_state(store, config)?;
    if state.config.limits.rate_limits == recourse_service::config::RateLimits::Observe {
        tracing::warn!(
            "limits.rate_limits = observe: per-address registration and login rates, transfer velocity and the password-hashing queue are counted but NOT enforced (for load tests; /healthz says so); the lookup budget, the failed-login pause and every check on money still hold"
        );
    }
    let listen = args.listen.unwrap_or(settings.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("listening on {listen}"))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, store = %description, test_clock = args.test_clock, "recourse is serving");
    if let Some(ready) = ready {
        let _ = ready.send(address);
    }
    // The scheduler runs beside the server and stops with it: on SIGTERM the
    // server finishes its requests, then the scheduler finishes its round.
    let (stop_scheduler, stopping) = tokio::sync::watch::channel(false);
    let scheduler = recourse_service::scheduler::spawn(state.service.clone(), stopping);
    let router = match &settings.metrics_listen {
        None => recourse_server::router(state),
        Some(metrics_listen) => {
            let (router, metrics) = recourse_server::router_and_metrics(state);
            let metrics_listener = tokio::net::TcpListener::bind(metrics_listen).await.with_context(|| format!("listening on {metrics_listen} for /metrics"))?;
            tracing::info!(address = %metrics_listener.local_addr()?, "metrics are served here only");
            tokio::spawn(async move {
                if let Err(error) = recourse_server::serve(metrics_listener, metrics, std::future::pending()).await {
                    tracing::warn!(%error, "the metrics listener stopped");
                }
            });
            router
        }
    };
    let served = recourse_server::serve(listener, router, shutdown_signal()).await;
    let _ = stop_scheduler.send(true);
    let _ = scheduler.await;
    served?;
    tracing::info!("recourse stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

async fn admin(settings: Settings, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::GenerateKey => {
            println!("{}", recourse_service::vault::key_to_hex(&recourse_service::vault::random_key()));
        }
        AdminCommand::EvalDetectors => {
            let nicknames = recourse_domain::lookalike::evaluate();
            println!("{nicknames}");
            let avatars = recourse_domain::avatar::evaluate();
            println!("{avatars}");
            anyhow::ensure!(nicknames.meets_targets(), "the look-alike nickname detector misses its targets");
            anyhow::ensure!(avatars.meets_targets(), "the avatar near-copy detector misses its targets");
        }
        AdminCommand::Migrate => {
            let store = open_store(&settings).await?;
            println!("schema is current in {}", store.description());
        }
        AdminCommand::CheckLedger => {
            let store = open_store(&settings).await?;
            let report = store.audit().await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            anyhow::ensure!(report.is_sound(), "the ledger has {} problem(s)", report.problems.len());
        }
        AdminCommand::Backup { out } => {
            anyhow::ensure!(
                settings.database_url.is_none(),
                "admin backup copies the embedded SQLite store; for PostgreSQL use its own tools: pg_dump --format=custom --file=FILE DATABASE_URL (and pg_restore to bring it back), see the README's operator section"
            );
            let data_dir = settings.data_dir.clone();
            let target = out.clone();
            tokio::task::spawn_blocking(move || recourse_store::backup::backup_sqlite(&data_dir, &target)).await?.context("backup")?;
            println!("backed up {} to {}", settings.data_dir.display(), out.display());
        }
        AdminCommand::Restore { from, data_dir } => {
            anyhow::ensure!(settings.database_url.is_none(), "admin restore brings back an embedded SQLite store; for PostgreSQL use pg_restore");
            let (source, target) = (from.clone(), data_dir.clone());
            tokio::task::spawn_blocking(move || recourse_store::backup::restore_sqlite(&source, &target)).await?.context("restore")?;
            println!("restored {} into {}", from.display(), data_dir.display());
        }
        AdminCommand::RotateKey => {
            let key = settings.required_identity_key()?;
            settings.previous_identity_key()?.context("set RECOURSE_IDENTITY_KEY_PREVIOUS to the key being replaced (RECOURSE_IDENTITY_KEY is the new one, from `recourse admin generate-key`)")?;
            let store = open_store(&settings).await?;
            let mut config = settings.service_config(key, false);
            (config.identity_key_id, config.identity_key_previous) = claim_identity_key(&store, &settings, &key).await?;
            let previous = config.identity_key_previous;
            let service = recourse_service::Service::new(store.clone(), config).map_err(anyhow::Error::msg)?;
            let rotated = service.rotate_keys().await?;
            let fingerprint = recourse_service::vault::Vault::fingerprint_of(&key);
            match previous {
                Some((previous, _)) => {
                    store.retire_previous_key(recourse_service::vault::Vault::fingerprint_of(&previous)).await?;
                    println!(
                        "re-encrypted {} identities and {} cards under the key with fingerprint {fingerprint}; the previous key is retired (keep it as RECOURSE_IDENTITY_KEY_PREVIOUS for admin verify-audit)",
                        rotated.identities, rotated.cards
                    );
                }
                None => println!(
                    "nothing to rotate: the key with fingerprint {fingerprint} is current and no previous key remains ({} identities, {} cards re-encrypted)",
                    rotated.identities, rotated.cards
                ),
            }
        }
        AdminCommand::VerifyAudit => {
            let mut keys = vec![settings.required_identity_key()?];
            keys.extend(settings.previous_identity_key()?);
            let store = open_store(&settings).await?;
            let audit_keys = keys.iter().map(|key| recourse_service::vault::Vault::new(key).audit_key()).collect();
            match store.verify_audit(audit_keys).await? {
                recourse_store::AuditVerdict::Intact { entries } => {
                    println!("audit log intact: {entries} entries")
                }
                recourse_store::AuditVerdict::Broken { seq, why } => {
                    anyhow::bail!("audit log broken at entry {seq}: {why}")
                }
            }
        }
        AdminCommand::CreateStaff { role, phone, password, nickname } => {
            let role = Role::parse(&role).context("role")?;
            let phone = Phone::parse(&phone).context("phone")?;
            let nickname = Nickname::parse(nickname.as_deref().unwrap_or(role.as_str())).context("nickname")?;
            let store = open_store(&settings).await?;
            // Staff records carry no identity data, so a throwaway key is enough here.
            let config = settings.service_config(recourse_service::vault::random_key(), false);
            let service = recourse_service::Service::new(store, config).map_err(anyhow::Error::msg)?;
            let user = service.create_account(&phone, &password, &nickname, role, None).await?.map_err(|refusal| anyhow::anyhow!("{refusal}"))?;
            println!("created {} {} ({})", role.as_str(), user.id, phone.masked());
        }
    }
    Ok(())
}
