//! The narrow SQL interface both stores implement: run a statement, read rows.
//!
//! Every operation in [`crate::ops`] is written once against [`SqlConn`], so
//! SQLite and PostgreSQL cannot drift apart in behaviour; only the schema
//! files and the transaction-opening statement differ. Statements use `$1`
//! placeholders; the SQLite side rewrites them to `?1`.
//! Column types are restricted to BIGINT, TEXT and BLOB/BYTEA so values map
//! one-to-one.

use crate::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to or read from a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    Null,
    I64(i64),
    Text(String),
    /// A constant text bound as a parameter (an enum's name): no allocation
    /// on the write path. Never read back: rows carry `Text`.
    Name(&'static str),
    Blob(Vec<u8>),
    /// An array parameter (PostgreSQL only: a batch statement's column of
    /// values, `$k::bigint[]` and so on). Never read back.
    List(Vec<Val>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::I64(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_owned())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Self {
        Val::Blob(v)
    }
}
impl From<&[u8]> for Val {
    fn from(v: &[u8]) -> Self {
        Val::Blob(v.to_vec())
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Val::Null, Into::into)
    }
}

/// One result row. Accessors name the column index and fail loudly (as a
/// store error, not a panic) when the stored type is not the expected one.
#[derive(Debug, Default)]
pub struct Row(pub Vec<Val>);

impl Row {
    fn get(&self, index: usize) -> Result<&Val, StoreError> {
        self.0.get(index).ok_or_else(|| StoreError::corrupt(format!("missing column {index}")))
    }
    pub fn i64(&self, index: usize) -> Result<i64, StoreError> {
        match self.get(index)? {
            Val::I64(v) => Ok(*v),
            other => Err(StoreError::corrupt(format!("column {index}: expected integer, found {other:?}"))),
        }
    }
    pub fn opt_i64(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.get(index)? {
            Val::Null => Ok(None),
            _ => self.i64(index).map(Some),
        }
    }
    pub fn text(&self, index: usize) -> Result<String, StoreError> {
        match self.get(index)? {
            Val::Text(v) => Ok(v.clone()),
            Val::Name(v) => Ok((*v).to_owned()),
            other => Err(StoreError::corrupt(format!("column {index}: expected text, found {other:?}"))),
        }
    }
    pub fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self.get(index)? {
            Val::Null => Ok(None),
            _ => self.text(index).map(Some),
        }
    }
    pub fn blob(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        match self.get(index)? {
            Val::Blob(v) => Ok(v.clone()),
            other => Err(StoreError::corrupt(format!("column {index}: expected bytes, found {other:?}"))),
        }
    }
    pub fn opt_blob(&self, index: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.get(index)? {
            Val::Null => Ok(None),
            _ => self.blob(index).map(Some),
        }
    }
    pub fn id16(&self, index: usize) -> Result<[u8; 16], StoreError> {
        let bytes = self.blob(index)?;
        bytes.try_into().map_err(|_| StoreError::corrupt(format!("column {index}: expected a 16-byte id")))
    }
    pub fn opt_id16(&self, index: usize) -> Result<Option<[u8; 16]>, StoreError> {
        match self.get(index)? {
            Val::Null => Ok(None),
            _ => self.id16(index).map(Some),
        }
    }
}

/// A connection that runs statements. Implemented by the SQLite and
/// PostgreSQL connections; transactions are opened by whoever holds it.
pub trait SqlConn: Send {
    fn dialect(&self) -> Dialect;
    /// Run a statement and return the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError>;
    /// Run a query and return every row.
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError>;
    /// Run one or more statements without parameters (transaction control, DDL).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;

    fn query_opt(&mut self, sql: &str, params: &[Val]) -> Result<Option<Row>, StoreError> {
        let mut rows = self.query(sql, params)?;
        if rows.len() > 1 {
            return Err(StoreError::corrupt(format!("expected at most one row, found {}", rows.len())));
        }
        Ok(rows.pop())
    }
    fn query_one(&mut self, sql: &str, params: &[Val]) -> Result<Row, StoreError> {
        self.query_opt(sql, params)?.ok_or_else(|| StoreError::corrupt("expected one row, found none"))
    }
    /// Replace the connection if the server closed it (PostgreSQL restarted,
    /// network cut). Called only between transactions — never inside one,
    /// where a silent reconnect would commit statements one by one.
    fn reconnect_if_closed(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Open a write transaction.
    fn begin_write(&mut self) -> Result<(), StoreError> {
        match self.dialect() {
            Dialect::Sqlite => self.batch("BEGIN IMMEDIATE"),
            Dialect::Postgres => self.batch("BEGIN"),
        }
    }
}
