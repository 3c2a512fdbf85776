//! PostgreSQL connections: `tokio-postgres` driven by a small current-thread
//! runtime that each connection owns, used only from the store's own threads
//! (writers, and reads on blocking threads). Prepared statements are cached
//! per connection, so each statement costs one round trip; a batch's fast
//! items travel as one set-based statement over arrays ([`Val::List`]).

use std::collections::HashMap;
use std::error::Error;

use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, Statement};

use crate::StoreError;
use crate::sql::{Dialect, Row, SqlConn, Val};

pub struct PgConn {
    config: tokio_postgres::Config,
    runtime: tokio::runtime::Runtime,
    client: Client,
    statements: HashMap<String, Statement>,
    /// Set when an error showed the connection is gone.
    broken: bool,
}

impl ToSql for Val {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::I64(v) => v.to_sql(ty, out),
            Val::Text(s) => s.to_sql(ty, out),
            Val::Name(s) => s.to_sql(ty, out),
            Val::Blob(b) => b.to_sql(ty, out),
            Val::List(items) => items.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn db_error(context: &str, error: tokio_postgres::Error) -> StoreError {
    // The driver's error carries the server's message and SQLSTATE.
    let detail = match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    };
    let code = error.code().map(|c| c.code().to_owned()).unwrap_or_default();
    // Serialization failures, deadlocks, and the timeouts every connection
    // runs under (`lock_timeout`: 55P03; `statement_timeout`: 57014) are
    // retried, then answered 503.
    let contended = matches!(code.as_str(), "40001" | "40P01" | "55P03" | "57014");
    // Connection exceptions (08…), operator intervention (57P…: shutdown,
    // terminated backend, restarting server) and a primary that turned
    // read-only (25006, after a failover) mean "reconnect and try again".
    let io_failure = std::error::Error::source(&error).is_some_and(|source| source.is::<std::io::Error>());
    let connection_lost = error.is_closed()
        || io_failure
        || code.starts_with("08")
        || code.starts_with("57P")
        || code == "25006"
        || context == "connect"
        || context == "reconnect";
    if connection_lost {
        StoreError::Unavailable(format!("postgres {context}: {detail}"))
    } else if contended {
        StoreError::Contention(format!("postgres {context}: {detail}"))
    } else {
        StoreError::Database(format!("postgres {context}: {detail}"))
    }
}

/// Limits every connection runs under, on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PgLimits {
    pub statement_timeout_ms: u64,
    pub lock_timeout_ms: u64,
}

/// The connection settings of `url`, with our limits added to any `options` it has.
pub fn connection_config(url: &str, limits: PgLimits) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Unavailable(format!("postgres url: {e}")))?;
    let ours = format!("-c statement_timeout={} -c lock_timeout={}", limits.statement_timeout_ms, limits.lock_timeout_ms);
    let options = match config.get_options() {
        Some(theirs) if !theirs.is_empty() => format!("{theirs} {ours}"),
        _ => ours,
    };
    config.options(&options);
    Ok(config)
}

/// Open a client; its connection task runs on `runtime` whenever the
/// runtime is driven (every call blocks on it).
fn open(runtime: &tokio::runtime::Runtime, config: &tokio_postgres::Config, context: &str) -> Result<Client, StoreError> {
    let (client, connection) = runtime.block_on(config.connect(NoTls)).map_err(|e| db_error(context, e))?;
    runtime.spawn(async move {
        // Ends when the client is dropped or the server closes the connection.
        let _ = connection.await;
    });
    Ok(client)
}

impl PgConn {
    pub fn connect(config: &tokio_postgres::Config) -> Result<PgConn, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("postgres runtime: {e}")))?;
        let client = open(&runtime, config, "connect")?;
        Ok(PgConn { config: config.clone(), runtime, client, statements: HashMap::new(), broken: false })
    }

    /// Remember a lost connection, so that the next transaction replaces it.
    fn note<T>(&mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if matches!(result, Err(StoreError::Unavailable(_))) {
            self.broken = true;
        }
        result
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let prepared = self.runtime.block_on(self.client.prepare(sql)).map_err(|e| db_error("prepare", e));
        let statement = self.note(prepared)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

fn params_of(params: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn rows_of(rows: &[tokio_postgres::Row]) -> Result<Vec<Row>, StoreError> {
    rows.iter()
        .map(|row| {
            let values = row.columns().iter().enumerate().map(|(index, column)| convert(row, index, column.type_())).collect::<Result<Vec<_>, _>>()?;
            Ok(Row(values))
        })
        .collect()
}

impl SqlConn for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        let statement = self.statement(sql)?;
        let result = self.runtime.block_on(self.client.execute(&statement, &params_of(params))).map_err(|e| db_error("execute", e));
        self.note(result)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
        let statement = self.statement(sql)?;
        let result = self.runtime.block_on(self.client.query(&statement, &params_of(params))).map_err(|e| db_error("query", e));
        let rows = self.note(result)?;
        rows_of(&rows)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        let result = self.runtime.block_on(self.client.batch_execute(sql)).map_err(|e| db_error("batch", e));
        self.note(result)
    }

    fn reconnect_if_closed(&mut self) -> Result<(), StoreError> {
        if !self.broken && !self.client.is_closed() {
            return Ok(());
        }
        tracing::warn!("the PostgreSQL connection was closed; reconnecting");
        self.client = open(&self.runtime, &self.config, "reconnect")?;
        self.statements.clear();
        self.broken = false;
        Ok(())
    }
}

fn convert(row: &tokio_postgres::Row, index: usize, ty: &Type) -> Result<Val, StoreError> {
    let err = |e: tokio_postgres::Error| db_error("column", e);
    let value = if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(index).map_err(err)?.map(Val::I64)
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(index).map_err(err)?.map(|v| Val::I64(v.into()))
    } else if *ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(index).map_err(err)?.map(|v| Val::I64(v.into()))
    } else if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(index).map_err(err)?.map(|v| Val::I64(v.into()))
    } else if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::NAME {
        row.try_get::<_, Option<String>>(index).map_err(err)?.map(Val::Text)
    } else if *ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(index).map_err(err)?.map(Val::Blob)
    } else {
        return Err(StoreError::corrupt(format!("column {index} has unsupported type {ty}")));
    };
    Ok(value.unwrap_or(Val::Null))
}

/// PostgreSQL reads on the request path (the session behind a token, the
/// payee), as async queries on a few shared connections. Many requests in
/// flight share one connection and tokio-postgres pipelines their queries,
/// instead of a blocking thread and a backend wake-up per read — measured:
/// context switches were the largest share of PostgreSQL's CPU.
/// Connections open lazily on the runtime that first reads, and are
/// replaced when closed (server restart, terminated backend).
pub struct AsyncReads {
    config: tokio_postgres::Config,
    slots: Vec<tokio::sync::Mutex<Option<std::sync::Arc<AsyncClient>>>>,
    next: std::sync::atomic::AtomicUsize,
}

struct AsyncClient {
    client: Client,
    statements: std::sync::Mutex<HashMap<&'static str, Statement>>,
}

impl AsyncReads {
    pub fn new(config: &tokio_postgres::Config, connections: usize) -> AsyncReads {
        assert!(connections >= 1);
        AsyncReads { config: config.clone(), slots: (0..connections).map(|_| tokio::sync::Mutex::new(None)).collect(), next: std::sync::atomic::AtomicUsize::new(0) }
    }

    async fn client(&self) -> Result<std::sync::Arc<AsyncClient>, StoreError> {
        let index = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[index].lock().await;
        if let Some(client) = slot.as_ref().filter(|c| !c.client.is_closed()) {
            return Ok(client.clone());
        }
        let (client, connection) = self.config.connect(NoTls).await.map_err(|e| db_error("connect", e))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let client = std::sync::Arc::new(AsyncClient { client, statements: std::sync::Mutex::new(HashMap::new()) });
        *slot = Some(client.clone());
        Ok(client)
    }

    /// At most one row of a prepared, cached statement.
    pub async fn query_opt(&self, sql: &'static str, params: &[Val]) -> Result<Option<Row>, StoreError> {
        let mut rows = self.query(sql, params).await?;
        if rows.len() > 1 {
            return Err(StoreError::corrupt(format!("expected at most one row, found {}", rows.len())));
        }
        Ok(rows.pop())
    }

    /// Every row of a prepared, cached statement.
    pub async fn query(&self, sql: &'static str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
        let connection = self.client().await?;
        let cached = connection.statements.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(sql).cloned();
        let statement = match cached {
            Some(statement) => statement,
            None => {
                let statement = connection.client.prepare(sql).await.map_err(|e| db_error("prepare", e))?;
                connection.statements.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(sql, statement.clone());
                statement
            }
        };
        let rows = connection.client.query(&statement, &params_of(params)).await.map_err(|e| db_error("query", e))?;
        rows_of(&rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connection_gets_the_timeouts_added_to_its_own_options() {
        let limits = PgLimits { statement_timeout_ms: 1_500, lock_timeout_ms: 200 };
        let plain = connection_config("postgres://u:p@127.0.0.1/db", limits).unwrap();
        assert_eq!(plain.get_options(), Some("-c statement_timeout=1500 -c lock_timeout=200"));
        let theirs = connection_config("postgres://u:p@127.0.0.1/db?options=-c%20search_path%3Dx", limits).unwrap();
        assert_eq!(theirs.get_options(), Some("-c search_path=x -c statement_timeout=1500 -c lock_timeout=200"));
        assert!(matches!(connection_config("not a url", limits), Err(StoreError::Unavailable(_))));
    }
}
