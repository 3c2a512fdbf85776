//! SQLite connections (rusqlite, bundled). WAL mode; `synchronous=FULL` when
//! durability is on, so a commit is on disk before anyone is answered.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use crate::StoreError;
use crate::sql::{Dialect, Row, SqlConn, Val};

/// WAL pages between automatic checkpoints (4 KiB each).
const WAL_CHECKPOINT_PAGES: i64 = 10_000;

pub struct SqliteConn {
    conn: Connection,
}

impl ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::I64(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Name(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Val::List(_) => return Err(rusqlite::Error::ToSqlConversionFailure("SQLite has no array parameters".into())),
        })
    }
}

fn db_error(context: &str, error: rusqlite::Error) -> StoreError {
    StoreError::Database(format!("sqlite {context}: {error}"))
}

/// `$1` → `?1`: SQLite binds `?NNN` by number.
fn rewrite_placeholders(sql: &str) -> String {
    sql.replace('$', "?")
}

impl SqliteConn {
    pub fn open(path: &Path, read_only: bool, durable: bool) -> Result<SqliteConn, StoreError> {
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = Connection::open_with_flags(path, flags).map_err(|e| db_error("open", e))?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(|e| db_error("busy_timeout", e))?;
        conn.set_prepared_statement_cache_capacity(128);
        // Query plans must not depend on bound values: otherwise every query
        // touching a table with a partial index is re-prepared whenever its
        // parameters change (measured: 17% of a worker's CPU).
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(|e| db_error("qpsg", e))?;
        if !read_only {
            conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| db_error("journal_mode", e))?;
            // Savepoint sub-journals in memory, not a temporary file (measured: 14% of the writer).
            conn.pragma_update(None, "temp_store", "MEMORY").map_err(|e| db_error("temp_store", e))?;
            // Checkpoint every ~40 MiB of WAL instead of ~4 MiB: a page written
            // many times between checkpoints is copied back once (measured in
            // BENCHMARKS.md: 5.4k → 7.1k → 7.8k transfers/s for 1,000 / 4,000 /
            // 20,000 pages). Inline on the writer: a separate checkpoint thread
            // measured slower, as STACK.md predicted.
            conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES).map_err(|e| db_error("wal_autocheckpoint", e))?;
        }
        let synchronous = if durable { "FULL" } else { "NORMAL" };
        conn.pragma_update(None, "synchronous", synchronous).map_err(|e| db_error("synchronous", e))?;
        Ok(SqliteConn { conn })
    }
}

impl SqlConn for SqliteConn {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        let sql = rewrite_placeholders(sql);
        let mut statement = self.conn.prepare_cached(&sql).map_err(|e| db_error("prepare", e))?;
        let changed = statement.execute(rusqlite::params_from_iter(params.iter())).map_err(|e| db_error("execute", e))?;
        Ok(changed as u64)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
        let sql = rewrite_placeholders(sql);
        let mut statement = self.conn.prepare_cached(&sql).map_err(|e| db_error("prepare", e))?;
        let columns = statement.column_count();
        let mut rows = statement.query(rusqlite::params_from_iter(params.iter())).map_err(|e| db_error("query", e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| db_error("step", e))? {
            let mut values = Vec::with_capacity(columns);
            for index in 0..columns {
                let value = match row.get_ref(index).map_err(|e| db_error("column", e))? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(v) => Val::I64(v),
                    ValueRef::Real(v) => return Err(StoreError::corrupt(format!("unexpected REAL {v} in column {index}"))),
                    ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Val::Blob(b.to_vec()),
                };
                values.push(value);
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        if sql.contains(';') {
            return self.conn.execute_batch(sql).map_err(|e| db_error("batch", e));
        }
        // Single statements (SAVEPOINT, COMMIT, …) run often: keep them prepared.
        let mut statement = self.conn.prepare_cached(sql).map_err(|e| db_error("prepare", e))?;
        statement.raw_execute().map_err(|e| db_error("batch", e))?;
        Ok(())
    }
}

