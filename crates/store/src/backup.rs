//! Backups of the embedded store, and the lock that says a server is using
//! a data directory.
//!
//! A backup is taken with SQLite's online backup API while the server keeps
//! writing: the whole database is copied in one step under one read
//! transaction (WAL lets the writer go on), so the copy is one consistent
//! moment of the ledger. A restore refuses a directory that already has a
//! store or that a running server holds (`serve.lock`). PostgreSQL is backed
//! up with its own tools (`pg_dump`), as the README says.

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::StoreError;

/// The database file inside a data directory.
fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("recourse.db")
}

fn error(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("{context}: {e}"))
}

/// A data directory held by a running server (released when dropped, or
/// when the process dies).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Take the data directory's server lock, or say that another process has it.
pub fn lock_data_dir(data_dir: &Path) -> Result<DataDirLock, StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|e| error(&format!("creating {}", data_dir.display()), e))?;
    let path = data_dir.join("serve.lock");
    let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(|e| error(&format!("opening {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Database(format!("{} is in use by a running recourse server", data_dir.display()))),
        Err(std::fs::TryLockError::Error(e)) => Err(error(&format!("locking {}", path.display()), e)),
    }
}

/// Copy a database into a new file with the online backup API, in one step
/// (all pages at once: one read transaction, so one consistent moment).
fn copy(source: &Connection, to: &Path) -> Result<(), StoreError> {
    let mut destination = Connection::open(to).map_err(|e| error(&format!("creating {}", to.display()), e))?;
    {
        let backup = rusqlite::backup::Backup::new(source, &mut destination).map_err(|e| error("starting the backup", e))?;
        backup.run_to_completion(i32::MAX, std::time::Duration::ZERO, None).map_err(|e| error("copying the database", e))?;
    }
    check(&destination, to)
}

/// The copy is a whole Recourse store: SQLite's integrity check passes and it has a schema version.
fn check(db: &Connection, path: &Path) -> Result<(), StoreError> {
    let integrity: String = db.query_row("PRAGMA integrity_check", [], |row| row.get(0)).map_err(|e| error("checking integrity", e))?;
    if integrity != "ok" {
        return Err(StoreError::Database(format!("{} fails SQLite's integrity check: {integrity}", path.display())));
    }
    let version: i64 = db
        .query_row("SELECT MAX(version) FROM schema_version", [], |row| row.get(0))
        .map_err(|e| StoreError::Database(format!("{} is not a Recourse store: {e}", path.display())))?;
    tracing::info!(path = %path.display(), schema_version = version, "checked the copy");
    Ok(())
}

/// Take a consistent backup of the store in `data_dir` into `out` (a new
/// file), while a server may be writing to it.
pub fn backup_sqlite(data_dir: &Path, out: &Path) -> Result<(), StoreError> {
    if out.exists() {
        return Err(StoreError::Database(format!("{} already exists: a backup never overwrites a file", out.display())));
    }
    let path = database_path(data_dir);
    if !path.exists() {
        return Err(StoreError::Database(format!("there is no store in {}", data_dir.display())));
    }
    let source = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| error(&format!("opening {}", path.display()), e))?;
    source.busy_timeout(std::time::Duration::from_secs(30)).map_err(|e| error("busy timeout", e))?;
    let partial = out.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    copy(&source, &partial).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;
    std::fs::rename(&partial, out).map_err(|e| error(&format!("moving the backup to {}", out.display()), e))
}

/// Bring a backup back into `data_dir`, which must hold no store and no
/// running server.
pub fn restore_sqlite(from: &Path, data_dir: &Path) -> Result<(), StoreError> {
    let _lock = lock_data_dir(data_dir)?;
    let path = database_path(data_dir);
    if path.exists() {
        return Err(StoreError::Database(format!("{} already has a store: restore into an empty directory", data_dir.display())));
    }
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| error(&format!("opening {}", from.display()), e))?;
    check(&source, from)?;
    let partial = data_dir.join("recourse.db.restoring");
    let _ = std::fs::remove_file(&partial);
    copy(&source, &partial).inspect_err(|_| {
        let _ = std::fs::remove_file(&partial);
    })?;
    std::fs::rename(&partial, &path).map_err(|e| error(&format!("moving the store to {}", path.display()), e))
}
