//! Settings for every subcommand: defaults, then a TOML file
//! (`--config`, default `recourse.toml` if present), then `RECOURSE_*`
//! environment variables (nested keys with `__`, e.g.
//! `RECOURSE_LIMITS__TRANSFER_MAX_FEN`), then command-line flags.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use recourse_domain::risk::RiskPolicy;
use recourse_service::config::{Limits, PasswordHashing, ServiceConfig};
use recourse_store::{Backend, StoreConfig};
use serde::{Deserialize, Serialize};

/// Flags shared by every subcommand that touches storage.
#[derive(Debug, Clone, Args, Default)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite store.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Use PostgreSQL instead of SQLite, e.g. postgres://user:pass@127.0.0.1/recourse.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Settings file (TOML).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// Operations committed together at most (group commit).
    pub batch_max: usize,
    /// Writer connections (PostgreSQL only; SQLite has one writer). One is
    /// the measured best on a small machine: a batch's transfers go to the
    /// server in one round trip, and several writers mostly wait for each
    /// other's locks on popular accounts (BENCHMARKS.md).
    pub writers: usize,
    pub readers: usize,
    /// fsync on commit (SQLite `synchronous=FULL`). Never turn off in production.
    pub durable: bool,
    /// PostgreSQL `statement_timeout` of every connection (a longer
    /// statement is cancelled; the batch is retried, then answered 503).
    pub statement_timeout_ms: u64,
    /// PostgreSQL `lock_timeout` of every connection.
    pub lock_timeout_ms: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings { batch_max: 64, writers: 1, readers: 8, durable: true, statement_timeout_ms: 30_000, lock_timeout_ms: 5_000 }
    }
}

/// No `Debug`: it carries the identity key and perhaps a database password.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub listen: String,
    /// Serve `/metrics` on this address instead of the public one (it then
    /// answers 404 there), so that it need not be public.
    pub metrics_listen: Option<String>,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// 64 hex characters. Required by `serve`; keep it out of the repository.
    pub identity_key: Option<String>,
    /// The key before the last rotation (64 hex characters), if any: the
    /// audit log's entries made under it still verify.
    pub identity_key_previous: Option<String>,
    pub time_zone: String,
    /// `json` (default for serve) or `pretty`.
    pub log_format: String,
    pub limits: Limits,
    /// The risk decision's rules and weights (`[risk]`).
    pub risk: RiskPolicy,
    /// Claims: deadlines, holds, compensation, tracing (`[claims]`).
    pub claims: recourse_domain::claim::ClaimsPolicy,
    pub password_hashing: PasswordHashing,
    pub store: StoreSettings,
    /// How often each `serve` process looks for due arrivals and expiries.
    pub scheduler_interval_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            metrics_listen: None,
            data_dir: PathBuf::from("./recourse-data"),
            database_url: None,
            identity_key: None,
            identity_key_previous: None,
            time_zone: "Asia/Shanghai".into(),
            log_format: "json".into(),
            limits: Limits::default(),
            risk: RiskPolicy::default(),
            claims: recourse_domain::claim::ClaimsPolicy::default(),
            password_hashing: PasswordHashing::default(),
            store: StoreSettings::default(),
            scheduler_interval_ms: 1000,
        }
    }
}

impl Settings {
    pub fn load(args: &StoreArgs) -> anyhow::Result<Settings> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match &args.config {
            Some(path) => {
                anyhow::ensure!(path.exists(), "settings file {} does not exist", path.display());
                figment = figment.merge(Toml::file(path));
            }
            None => figment = figment.merge(Toml::file("recourse.toml")),
        }
        // RECOURSE_LOG, RECOURSE_STAFF_PASSWORD and RECOURSE_TEST_DATABASE_URL
        // belong to the log filter, one command's flag and the test suite.
        figment = figment.merge(Env::prefixed("RECOURSE_").ignore(&["LOG", "STAFF_PASSWORD", "TEST_DATABASE_URL"]).split("__"));
        let mut settings: Settings = figment.extract().context("reading settings")?;
        if let Some(dir) = &args.data_dir {
            settings.data_dir = dir.clone();
        }
        if let Some(url) = &args.database_url {
            settings.database_url = Some(url.clone());
        }
        Ok(settings)
    }

    pub fn store_config(&self) -> StoreConfig {
        let backend = match &self.database_url {
            Some(url) => Backend::Postgres { url: url.clone() },
            None => Backend::Sqlite { data_dir: self.data_dir.clone() },
        };
        let mut config = StoreConfig::new(backend);
        config.batch_max = self.store.batch_max;
        if self.database_url.is_some() {
            config.writers = self.store.writers;
        }
        config.readers = self.store.readers;
        config.durable = self.store.durable;
        config.pg_limits = recourse_store::PgLimits { statement_timeout_ms: self.store.statement_timeout_ms, lock_timeout_ms: self.store.lock_timeout_ms };
        config
    }

    pub fn service_config(&self, identity_key: [u8; 32], test_clock: bool) -> ServiceConfig {
        ServiceConfig {
            limits: self.limits.clone(),
            risk: self.risk.clone(),
            claims: self.claims.clone(),
            password_hashing: self.password_hashing.clone(),
            identity_key,
            identity_key_id: recourse_service::vault::FIRST_KEY_ID,
            identity_key_previous: None,
            test_clock,
            time_zone: self.time_zone.clone(),
            scheduler_interval_ms: self.scheduler_interval_ms,
        }
    }

    /// The identity key from settings, or a clear error saying how to set one.
    pub fn required_identity_key(&self) -> anyhow::Result<[u8; 32]> {
        let text = self.identity_key.as_deref().context(
            "no identity key: set RECOURSE_IDENTITY_KEY to 64 hex characters (generate one with `recourse admin generate-key`)",
        )?;
        recourse_service::vault::parse_key(text).context("RECOURSE_IDENTITY_KEY")
    }

    /// The previous identity key, if one is set.
    pub fn previous_identity_key(&self) -> anyhow::Result<Option<[u8; 32]>> {
        self.identity_key_previous.as_deref().map(|text| recourse_service::vault::parse_key(text).context("RECOURSE_IDENTITY_KEY_PREVIOUS")).transpose()
    }
}
