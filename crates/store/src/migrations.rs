//! Schema migrations: one SQL file per store per version, applied in order,
//! each in its own transaction, recorded in `schema_version`. Several
//! processes may start at once: SQLite serialises them with `BEGIN IMMEDIATE`,
//! PostgreSQL with a transaction-scoped advisory lock.

use crate::StoreError;
use crate::sql::{Dialect, SqlConn, Val};

/// A migration step written in Rust.
type Step = fn(&mut dyn SqlConn) -> Result<(), StoreError>;

struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
    /// Work SQL cannot do (computing with the domain's rules), run after the
    /// SQL in the same transaction.
    then: Option<Step>,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: include_str!("migrations/sqlite_0001_core.sql"),
        postgres: include_str!("migrations/postgres_0001_core.sql"),
        then: None,
    },
    Migration {
        version: 2,
        sqlite: include_str!("migrations/sqlite_0002_money_in_flight.sql"),
        postgres: include_str!("migrations/postgres_0002_money_in_flight.sql"),
        then: None,
    },
    Migration {
        version: 3,
        sqlite: include_str!("migrations/sqlite_0003_confirmation_of_payee.sql"),
        postgres: include_str!("migrations/postgres_0003_confirmation_of_payee.sql"),
        then: None,
    },
    Migration {
        version: 4,
        sqlite: include_str!("migrations/sqlite_0004_risk.sql"),
        postgres: include_str!("migrations/postgres_0004_risk.sql"),
        then: None,
    },
    Migration {
        version: 5,
        sqlite: "",
        postgres: "",
        then: Some(crate::risk::backfill_look_alike_keys),
    },
    Migration {
        version: 6,
        sqlite: include_str!("migrations/sqlite_0006_claims.sql"),
        postgres: include_str!("migrations/postgres_0006_claims.sql"),
        then: None,
    },
    Migration {
        version: 7,
        sqlite: include_str!("migrations/sqlite_0007_key_fingerprint.sql"),
        postgres: include_str!("migrations/postgres_0007_key_fingerprint.sql"),
        then: None,
    },
    Migration {
        version: 8,
        sqlite: include_str!("migrations/sqlite_0008_limits_and_retention.sql"),
        postgres: include_str!("migrations/postgres_0008_limits_and_retention.sql"),
        then: None,
    },
    Migration {
        version: 9,
        sqlite: include_str!("migrations/sqlite_0009_transfer_velocity.sql"),
        postgres: include_str!("migrations/postgres_0009_transfer_velocity.sql"),
        then: None,
    },
    Migration {
        version: 10,
        sqlite: include_str!("migrations/sqlite_0010_key_rotation.sql"),
        postgres: include_str!("migrations/postgres_0010_key_rotation.sql"),
        then: None,
    },
];

/// An arbitrary constant naming Recourse's migration lock.
const ADVISORY_LOCK_KEY: i64 = 0x5245_434f_5552_5345; // "RECOURSE"

pub(crate) fn migrate(conn: &mut dyn SqlConn) -> Result<(), StoreError> {
    for migration in MIGRATIONS {
        conn.begin_write()?;
        let result = apply(conn, migration);
        match result {
            Ok(()) => conn.batch("COMMIT")?,
            Err(error) => {
                let _ = conn.batch("ROLLBACK");
                return Err(error);
            }
        }
    }
    Ok(())
}

fn apply(conn: &mut dyn SqlConn, migration: &Migration) -> Result<(), StoreError> {
    if conn.dialect() == Dialect::Postgres {
        conn.batch(&format!("SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})"))?;
    }
    conn.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")?;
    let applied = conn.query_opt("SELECT version FROM schema_version WHERE version = $1", &[Val::I64(migration.version)])?;
    if applied.is_some() {
        return Ok(());
    }
    let sql = match conn.dialect() {
        Dialect::Sqlite => migration.sqlite,
        Dialect::Postgres => migration.postgres,
    };
    if !sql.is_empty() {
        conn.batch(sql)?;
    }
    if let Some(then) = migration.then {
        then(conn)?;
    }
    // Migrations are recorded with wall time 0: the service clock is not
    // available at this layer, and the version is what matters.
    conn.execute("INSERT INTO schema_version (version, applied_at) VALUES ($1, 0)", &[Val::I64(migration.version)])?;
    tracing::info!(version = migration.version, "applied schema migration");
    Ok(())
}
