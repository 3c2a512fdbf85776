//! SQLite connections (rusqlite, bundled). WAL mode; `synchronous=FULL` when
//! durability is on, so a commit is on disk before anyone is answered.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use crate::StoreError;
use crate::sql::{Dialect, Row, SqlConn, Val};

pub struct SqliteConn {
    conn: Connection,
}

impl ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::I64(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
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
        if !read_only {
            conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| db_error("journal_mode", e))?;
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
        self.conn.execute_batch(sql).map_err(|e| db_error("batch", e))
    }
}
