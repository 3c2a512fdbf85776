//! Recourse's storage: one store that speaks the domain, over SQLite or
//! PostgreSQL.
//!
//! - [`sql`] is the narrow statement interface both databases implement.
//! - [`ops`] holds every query and every transactional operation, written once.
//! - [`writer`] is the group-commit write path; reads go through a [`pool`].
//! - [`migrations`] creates and upgrades the schema (one SQL file per store).
//!
//! Architecture invariant: every money movement, its journal rows, its business
//! row and its idempotency record are written in one transaction, and a caller
//! is answered only after that transaction is durable.

pub mod audit;
pub mod backup;
pub mod claims;
pub mod disclosures;
pub mod keys;
pub mod limits;
mod migrations;
pub mod ops;
pub mod payees;
mod pool;
mod postgres;
pub mod records;
pub mod risk;
pub mod sql;
mod sqlite;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;

use recourse_domain::{AccountId, UserId};
use thiserror::Error;

pub use audit::{AuditEntry, AuditKey, AuditVerdict};
pub use claims::{Audience, ClaimActor, ClaimChange, ClaimDue, ClaimEventRecord, ClaimFiled, ClaimHoldRecord, ClaimRecord, ClaimRefusal, NewClaim, NotificationRecord, StaffAction};
pub use disclosures::{DisclosureDecided, DisclosureDecision, DisclosureRecord, DisclosureStatus};
pub use payees::{AttemptRecorded, ContactRecord, PayeeRelation};
pub use postgres::PgLimits;
pub use records::*;
pub use risk::{PairFacts, PayeeKey, ReportDecided, ReportReason, ReportRecord, ReportStatus};
use sql::{Dialect, Row, SqlConn, Val};

/// The one bank-settlement account for CNY, created by the first migration.
pub const BANK_SETTLEMENT_CNY: AccountId = AccountId(uuid::Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001));
/// The system account that pays compensation for late claims (migration 6).
pub const COMPENSATION_CNY: AccountId = AccountId(uuid::Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0002));

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error("that phone number is already registered")]
    PhoneTaken,
    #[error("this account is already verified")]
    AlreadyVerified,
    #[error("this identity is already verified on the maximum number of accounts")]
    IdentityLimitReached,
    #[error("this card is already bound to this account")]
    CardAlreadyBound,
    #[error("not found")]
    NotFound,
    #[error("the write queue is full")]
    Overloaded,
    #[error("the store is closed")]
    Closed,
    /// A deadlock or serialization failure; the batch is retried.
    #[error("contention: {0}")]
    Contention(String),
    /// The database connection was lost; the next use reconnects.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The COMMIT itself failed (connection lost, disk full, an fsync
    /// error): the operations may or may not have happened. A retry with the
    /// same idempotency key finds out.
    #[error("the outcome of the commit is unknown: {0}")]
    OutcomeUnknown(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data is not what the code expects: {0}")]
    Corrupt(String),
    /// Identity data encrypted under a key that is no longer the store's
    /// current one: this instance kept running with the old key after a
    /// rotation began. Nothing was written.
    #[error("identity data under key id {written:?}, but the store's current key is id {current}: restart this instance with the current key and the previous one (identity_key, identity_key_previous)")]
    KeyOutdated { current: u8, written: Option<u8> },
}

impl StoreError {
    pub fn corrupt(detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt(detail.into())
    }
}

#[derive(Clone)]
pub enum Backend {
    /// An SQLite database file inside this directory.
    Sqlite {
        data_dir: PathBuf,
    },
    Postgres {
        url: String,
    },
}

impl std::fmt::Debug for Backend {
    // The URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Sqlite { data_dir } => write!(f, "Sqlite({})", data_dir.display()),
            Backend::Postgres { url } => write!(f, "Postgres({})", redact_url(url)),
        }
    }
}

#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub backend: Backend,
    /// `synchronous=FULL` on SQLite. PostgreSQL follows the server's `synchronous_commit`.
    pub durable: bool,
    /// Operations committed together at most.
    pub batch_max: usize,
    /// Writer connections (SQLite always uses one).
    pub writers: usize,
    pub readers: usize,
    /// Operations that may wait for a writer before new ones are turned away.
    pub queue_max: usize,
    /// PostgreSQL: the server cancels a statement running longer, or waiting
    /// for a lock longer, than these (then the batch is retried, then 503).
    pub pg_limits: PgLimits,
    /// SQLite: rate buckets held in memory before the full ones are dropped
    /// at once (`limits.rs`).
    pub memory_buckets_max: usize,
}

impl StoreConfig {
    pub fn new(backend: Backend) -> StoreConfig {
        let writers = match backend {
            Backend::Sqlite { .. } => 1,
            Backend::Postgres { .. } => 4,
        };
        StoreConfig {
            backend,
            durable: true,
            batch_max: 64,
            writers,
            readers: 8,
            queue_max: 16_384,
            pg_limits: PgLimits { statement_timeout_ms: 30_000, lock_timeout_ms: 5_000 },
            memory_buckets_max: 1_000_000,
        }
    }
}

/// The store. Cheap to clone; all clones share the writer threads and the read pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writes: writer::WriteQueue,
    reads: pool::Pool,
    /// PostgreSQL only: the request path's reads, async and pipelined.
    async_reads: Option<postgres::AsyncReads>,
    dialect: Dialect,
    description: String,
    /// Payment pairs this process knows are recorded (a cache: a transfer
    /// between them skips the pair's write; cleared when it grows large).
    known_pairs: std::sync::Mutex<std::collections::HashSet<(UserId, UserId)>>,
    /// SQLite only: the data directory, whose free space `/healthz` reports.
    data_dir: Option<PathBuf>,
    /// SQLite only: the rate buckets (`limits.rs`), in this process's memory.
    buckets: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    memory_buckets_max: usize,
}

/// Pairs [`Inner::known_pairs`] holds before it starts over.
const KNOWN_PAIRS_MAX: usize = 1_000_000;

impl Store {
    /// Open (and migrate) the store. Blocking: call before starting the
    /// runtime or from a blocking thread.
    pub fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        assert!(config.batch_max >= 1 && config.readers >= 1 && config.writers >= 1);
        type Connections = Vec<Box<dyn SqlConn>>;
        let (writers, readers, dialect, description): (Connections, Connections, Dialect, String) = match &config.backend {
            Backend::Sqlite { data_dir } => {
                std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Database(format!("creating {}: {e}", data_dir.display())))?;
                let path = data_dir.join("recourse.db");
                let mut writer = sqlite::SqliteConn::open(&path, false, config.durable)?;
                migrations::migrate(&mut writer)?;
                let readers = (0..config.readers).map(|_| sqlite::SqliteConn::open(&path, true, config.durable).map(|c| Box::new(c) as Box<dyn SqlConn>)).collect::<Result<Vec<_>, _>>()?;
                (vec![Box::new(writer)], readers, Dialect::Sqlite, format!("sqlite:{}", path.display()))
            }
            Backend::Postgres { url } => {
                let pg = postgres::connection_config(url, config.pg_limits)?;
                let mut first = postgres::PgConn::connect(&pg)?;
                migrations::migrate(&mut first)?;
                let mut writers: Vec<Box<dyn SqlConn>> = vec![Box::new(first)];
                for _ in 1..config.writers {
                    writers.push(Box::new(postgres::PgConn::connect(&pg)?));
                }
                let readers = (0..config.readers).map(|_| postgres::PgConn::connect(&pg).map(|c| Box::new(c) as Box<dyn SqlConn>)).collect::<Result<Vec<_>, _>>()?;
                (writers, readers, Dialect::Postgres, format!("postgres:{}", redact_url(url)))
            }
        };
        let async_reads = match &config.backend {
            Backend::Postgres { url } => Some(postgres::AsyncReads::new(&postgres::connection_config(url, config.pg_limits)?, config.readers.div_ceil(2))),
            Backend::Sqlite { .. } => None,
        };
        Ok(Store {
            inner: Arc::new(Inner {
                writes: writer::WriteQueue::start(writers, config.queue_max, config.batch_max),
                reads: pool::Pool::new(readers),
                async_reads,
                dialect,
                description,
                known_pairs: std::sync::Mutex::new(std::collections::HashSet::new()),
                buckets: std::sync::Mutex::new(std::collections::HashMap::new()),
                memory_buckets_max: config.memory_buckets_max,
                data_dir: match &config.backend {
                    Backend::Sqlite { data_dir } => Some(data_dir.clone()),
                    Backend::Postgres { .. } => None,
                },
            }),
        })
    }

    /// Whether this process knows the payment pair is recorded.
    pub(crate) fn knows_pair(&self, pair: (UserId, UserId)) -> bool {
        self.inner.known_pairs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(&pair)
    }

    /// Remember a pair whose row committed.
    pub(crate) fn learn_pair(&self, pair: (UserId, UserId)) {
        let mut known = self.inner.known_pairs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if known.len() >= KNOWN_PAIRS_MAX {
            known.clear();
        }
        known.insert(pair);
    }

    /// Free bytes for the embedded store's files (SQLite); `None` for
    /// PostgreSQL, whose disk is the database server's to watch.
    pub fn free_disk_bytes(&self) -> Option<Result<u64, StoreError>> {
        let dir = self.inner.data_dir.as_ref()?;
        Some(rustix::fs::statvfs(dir).map(|stat| stat.f_bavail.saturating_mul(stat.f_frsize)).map_err(|e| StoreError::Database(format!("free space of {}: {e}", dir.display()))))
    }

    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// Which store this is, for logs and benchmark output (no password).
    pub fn description(&self) -> &str {
        &self.inner.description
    }

    /// Run `work` in a write transaction shared with other waiting operations.
    /// `work` may run more than once (after a deadlock retry), always in a
    /// fresh transaction; it must only touch the database.
    pub(crate) async fn write<T, F>(&self, locks: Vec<AccountId>, mut work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn SqlConn) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.writes.submit(locks, None::<writer::FastItem<T>>, move |conn| work(conn).map(writer::Done::Keep)).await
    }

    /// Like [`Store::write`], but `work` decides whether what it wrote is
    /// kept: a refusal that must leave no trace (not even its idempotency
    /// claim) answers `Done::Discard`; one that must record something (an
    /// attempt counter, an audit row) answers `Done::Keep`. On PostgreSQL a
    /// `fast` item, when given, is tried first, in one statement with the
    /// batch's others; `work` runs only if it was not done.
    pub(crate) async fn write_deciding<T, F>(&self, locks: Vec<AccountId>, fast: Option<writer::FastItem<T>>, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn SqlConn) -> Result<writer::Done<T>, StoreError> + Send + 'static,
    {
        self.inner.writes.submit(locks, fast, work).await
    }

    /// Run `work` on a read connection.
    ///
    /// SQLite reads run inline on the calling task: they are served from the
    /// page cache in microseconds and WAL readers never wait for the writer,
    /// so handing them to a blocking thread would cost more (two context
    /// switches) than the read itself — measured in BENCHMARKS.md.
    /// PostgreSQL reads are network round trips and go to a blocking thread.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn SqlConn) -> Result<T, StoreError> + Send + 'static,
    {
        if self.inner.dialect == Dialect::Sqlite {
            let mut pooled = self.inner.reads.get();
            return work(pooled.conn());
        }
        self.read_blocking(work).await
    }

    /// At most one row of `sql`: on PostgreSQL an async, pipelined query on a
    /// shared connection (for the reads every request makes); on SQLite the
    /// same inline read as [`Store::read`].
    pub(crate) async fn read_row(&self, sql: &'static str, params: Vec<Val>) -> Result<Option<Row>, StoreError> {
        match &self.inner.async_reads {
            Some(reads) => reads.query_opt(sql, &params).await,
            None => self.read(move |conn| conn.query_opt(sql, &params)).await,
        }
    }

    /// Every row of `sql`, like [`Store::read_row`]: async and pipelined on
    /// PostgreSQL, inline on SQLite.
    pub(crate) async fn read_rows(&self, sql: &'static str, params: Vec<Val>) -> Result<Vec<Row>, StoreError> {
        match &self.inner.async_reads {
            Some(reads) => reads.query(sql, &params).await,
            None => self.read(move |conn| conn.query(sql, &params)).await,
        }
    }

    /// Run `work` on a read connection on a blocking thread, whatever the
    /// store: for long reads (the ledger audit scans the whole journal).
    pub(crate) async fn read_blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn SqlConn) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut pooled = inner.reads.get();
            pooled.conn().reconnect_if_closed()?;
            work(pooled.conn())
        })
        .await
        .map_err(|e| StoreError::Database(format!("read task failed: {e}")))?
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
