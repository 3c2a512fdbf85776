//! The write path: a few dedicated threads that each own one connection and
//! commit whatever operations are waiting as one transaction (group commit).
//!
//! For each batch: open a write transaction, take the row locks of every
//! account the batch will touch in account-id order (PostgreSQL; SQLite has a
//! single writer), run each operation inside its own SAVEPOINT — a refused or
//! failed operation rolls back to its savepoint, not the batch — then COMMIT,
//! and only after the commit answer every caller. With `synchronous=FULL` /
//! `synchronous_commit=on` an answer therefore means the operation is on disk.
//! If the commit fails, every operation in the batch gets the error — as
//! `OutcomeUnknown`, since a commit that did not answer may have happened —; if
//! PostgreSQL reports a deadlock or serialization failure, the whole batch is
//! rolled back and run again (bounded).
//!
//! On PostgreSQL, an operation may also offer a *fast item*: its row of a
//! set-based statement that takes the whole batch's items as arrays, never
//! aborts the transaction, and writes each item whole or not at all. A
//! batch's items go in one statement — one round trip — right after the
//! account locks; an operation whose item did not succeed (a replay, a
//! refusal) then runs its ordinary closure in its savepoint. The account
//! locks are held for a few round trips per batch, not two per operation,
//! and a hot account's row is updated once per batch, not once per transfer.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use recourse_domain::AccountId;
use tokio::sync::oneshot;

use crate::StoreError;
use crate::sql::{Dialect, Row, SqlConn, Val};

/// Batch retries after deadlock or serialization failures before giving up.
const CONTENTION_RETRIES_MAX: u32 = 5;

/// What an operation wants done with its writes once it has answered.
pub(crate) enum Done<T> {
    /// Commit what it wrote.
    Keep(T),
    /// Roll its writes back (to its savepoint) and still answer `T`.
    Discard(T),
}

pub(crate) trait Job: Send {
    fn accounts_to_lock(&self) -> &[AccountId];
    /// Run inside the open transaction; `false` means roll this job back.
    fn run(&mut self, conn: &mut dyn SqlConn) -> bool;
    fn contended(&self) -> bool;
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
    /// The job's fast item, if it has one (see the module header): its
    /// batch statement and its row of values.
    fn fast_item(&self) -> Option<(&'static BatchStatement, &[Val])>;
    /// The batch statement did this job's whole work: answer it.
    fn answer_fast(&mut self);
}

/// A set-based statement that does the whole work of many operations of one
/// kind: parameter `$k` is the array of every item's `k`-th value, and it
/// answers a row per item it did, whose first column is the item's position
/// (from 1) in the arrays. `check` reads those rows (all of them) and fails
/// if they do not show each listed item written whole.
pub(crate) struct BatchStatement {
    pub sql: &'static str,
    pub check: fn(&[Row]) -> Result<Vec<usize>, StoreError>,
}

/// A job's row of a [`BatchStatement`], and its answer if the row is done.
pub(crate) struct FastItem<T> {
    pub statement: &'static BatchStatement,
    pub row: Vec<Val>,
    pub answer: Box<dyn Fn() -> T + Send>,
}

struct TypedJob<T, F> {
    work: F,
    fast: Option<FastItem<T>>,
    locks: Vec<AccountId>,
    result: Option<Result<T, StoreError>>,
    reply: Option<oneshot::Sender<Result<T, StoreError>>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnMut(&mut dyn SqlConn) -> Result<Done<T>, StoreError> + Send,
{
    fn accounts_to_lock(&self) -> &[AccountId] {
        &self.locks
    }

    fn run(&mut self, conn: &mut dyn SqlConn) -> bool {
        // A panicking operation (a broken invariant) fails alone: its
        // savepoint is rolled back and the writer thread lives on.
        let work = &mut self.work;
        let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(conn))) {
            Ok(result) => result,
            Err(panic) => {
                let message = panic.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
                tracing::error!(%message, "a write operation panicked; it was rolled back");
                Err(StoreError::Database(format!("the operation failed an internal check: {message}")))
            }
        };
        let (result, keep) = match result {
            Ok(Done::Keep(value)) => (Ok(value), true),
            Ok(Done::Discard(value)) => (Ok(value), false),
            Err(error) => (Err(error), false),
        };
        self.result = Some(result);
        keep
    }

    fn contended(&self) -> bool {
        matches!(self.result, Some(Err(StoreError::Contention(_))))
    }

    fn fast_item(&self) -> Option<(&'static BatchStatement, &[Val])> {
        self.fast.as_ref().map(|fast| (fast.statement, fast.row.as_slice()))
    }

    fn answer_fast(&mut self) {
        if let Some(fast) = &self.fast {
            self.result = Some(Ok((fast.answer)()));
        }
    }

    fn finish(mut self: Box<Self>, commit: Result<(), StoreError>) {
        let result = match (commit, self.result.take()) {
            // The batch failed before this job ran (BEGIN, account locks): the job gets that failure.
            (Err(batch_error), None) => Err(batch_error),
            (Ok(()), None) => Err(StoreError::Database("operation never ran".into())),
            (Ok(()), Some(result)) => result,
            // A refusal may have depended on an earlier operation of the same
            // batch that did not commit either: every job gets the failure.
            (Err(commit_error), Some(_)) => Err(commit_error),
        };
        if let Some(reply) = self.reply.take() {
            // The caller may have gone away (client disconnected); the
            // operation's outcome is durable either way.
            let _ = reply.send(result);
        }
    }
}

#[derive(Clone)]
pub(crate) struct WriteQueue {
    sender: SyncSender<Box<dyn Job>>,
}

impl WriteQueue {
    /// Start `connections.len()` writer threads sharing one bounded queue.
    pub fn start(connections: Vec<Box<dyn SqlConn>>, queue_max: usize, batch_max: usize) -> WriteQueue {
        assert!(batch_max >= 1 && queue_max >= 1);
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Box<dyn Job>>(queue_max);
        let receiver = Arc::new(Mutex::new(receiver));
        for (index, conn) in connections.into_iter().enumerate() {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("recourse-writer-{index}"))
                .spawn(move || writer_loop(conn, &receiver, batch_max))
                .expect("spawning a writer thread");
        }
        WriteQueue { sender }
    }

    pub async fn submit<T, F>(&self, locks: Vec<AccountId>, fast: Option<FastItem<T>>, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut dyn SqlConn) -> Result<Done<T>, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob { work, fast, locks, result: None, reply: Some(reply) });
        match self.sender.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(StoreError::Overloaded),
            Err(TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

fn writer_loop(mut conn: Box<dyn SqlConn>, receiver: &Mutex<Receiver<Box<dyn Job>>>, batch_max: usize) {
    loop {
        let batch = {
            let receiver = receiver.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let Ok(first) = receiver.recv() else {
                return; // every sender is gone: the store was dropped
            };
            let mut batch = Vec::with_capacity(batch_max);
            batch.push(first);
            while batch.len() < batch_max {
                match receiver.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        run_batch(conn.as_mut(), batch);
    }
}

fn run_batch(conn: &mut dyn SqlConn, mut batch: Vec<Box<dyn Job>>) {
    let mut attempt = 0;
    let outcome = loop {
        attempt += 1;
        let outcome = try_batch(conn, &mut batch);
        match outcome {
            Err(StoreError::Contention(_)) if attempt < CONTENTION_RETRIES_MAX => {
                tracing::debug!(attempt, "write batch hit contention; retrying");
                continue;
            }
            other => break other,
        }
    };
    if let Err(error) = &outcome {
        tracing::error!(%error, jobs = batch.len(), "write batch failed");
    }
    for job in batch {
        job.finish(outcome.clone());
    }
}

fn try_batch(conn: &mut dyn SqlConn, batch: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    conn.reconnect_if_closed()?;
    if let Err(error) = conn.begin_write() {
        // A connection that died while idle is noticed only now: reconnect once.
        conn.reconnect_if_closed()?;
        conn.begin_write().map_err(|_| error)?;
    }
    let result = match run_jobs(conn, batch) {
        Ok(ending) => conn.batch(ending.sql()).map_err(|error| match (error, ending) {
            // A rollback that fails changes nothing; PostgreSQL rolls back a
            // transaction whose commit meets a serialization failure or deadlock.
            (error @ StoreError::Contention(_), _) | (error, Ending::Rollback) => error,
            // The commit was sent and did not answer "done": it may have happened.
            (error, _) => StoreError::OutcomeUnknown(error.to_string()),
        }),
        Err(error) => Err(error),
    };
    if result.is_err() {
        // Best effort: the connection may already have ended the transaction.
        let _ = conn.batch("ROLLBACK");
    }
    result
}

/// How a batch's transaction ends.
enum Ending {
    Commit,
    /// The last job was refused: undo it, keep the others.
    RollbackLastThenCommit,
    /// A single refused job: nothing to keep.
    Rollback,
}

impl Ending {
    fn sql(&self) -> &'static str {
        match self {
            Ending::Commit => "COMMIT",
            Ending::RollbackLastThenCommit => "ROLLBACK TO SAVEPOINT op; COMMIT",
            Ending::Rollback => "ROLLBACK",
        }
    }
}

fn contention() -> StoreError {
    StoreError::Contention("an operation in the batch was chosen as a deadlock victim".into())
}

fn run_jobs(conn: &mut dyn SqlConn, batch: &mut [Box<dyn Job>]) -> Result<Ending, StoreError> {
    let postgres = conn.dialect() == Dialect::Postgres;
    let mut answered = vec![false; batch.len()];
    if postgres {
        lock_accounts_in_order(conn, batch)?;
        run_fast_items(conn, batch, &mut answered)?;
    }
    let mut pending: Vec<&mut Box<dyn Job>> = batch.iter_mut().zip(&answered).filter(|(_, done)| !**done).map(|(job, _)| job).collect();
    if pending.is_empty() {
        return Ok(Ending::Commit);
    }
    if pending.len() == 1 && answered.iter().all(|done| !done) {
        // One job: the transaction itself is its savepoint.
        let job = &mut pending[0];
        let ok = job.run(conn);
        if job.contended() {
            return Err(contention());
        }
        return Ok(if ok { Ending::Commit } else { Ending::Rollback });
    }
    let last = pending.len() - 1;
    conn.batch("SAVEPOINT op")?;
    for (index, job) in pending.iter_mut().enumerate() {
        let ok = job.run(conn);
        if job.contended() {
            return Err(contention());
        }
        if index == last {
            // COMMIT releases the savepoint.
            return Ok(if ok { Ending::Commit } else { Ending::RollbackLastThenCommit });
        }
        let end = if ok { "RELEASE SAVEPOINT op" } else { "ROLLBACK TO SAVEPOINT op; RELEASE SAVEPOINT op" };
        if postgres {
            // One round trip ends this job's savepoint and opens the next one's.
            conn.batch(&format!("{end}; SAVEPOINT op"))?;
        } else {
            conn.batch(end)?;
            conn.batch("SAVEPOINT op")?;
        }
    }
    Ok(Ending::Commit)
}

/// Send the batch's fast items, one statement per kind (usually one in
/// all), and answer the jobs whose items were done. A statement that failed
/// outright (contention, a lost connection) or whose rows do not show whole
/// items aborts the batch (which is rolled back, and retried on contention).
fn run_fast_items(conn: &mut dyn SqlConn, batch: &mut [Box<dyn Job>], answered: &mut [bool]) -> Result<(), StoreError> {
    let mut kinds: Vec<(&'static BatchStatement, Vec<usize>)> = Vec::new();
    for (index, job) in batch.iter().enumerate() {
        if let Some((statement, _)) = job.fast_item() {
            match kinds.iter_mut().find(|(kind, _)| std::ptr::eq(*kind, statement)) {
                Some((_, members)) => members.push(index),
                None => kinds.push((statement, vec![index])),
            }
        }
    }
    for (statement, members) in kinds {
        let rows: Vec<&[Val]> = members.iter().filter_map(|&index| batch[index].fast_item().map(|(_, row)| row)).collect();
        let width = rows[0].len();
        let columns: Vec<Val> = (0..width).map(|column| Val::List(rows.iter().map(|row| row[column].clone()).collect())).collect();
        let done = (statement.check)(&conn.query(statement.sql, &columns)?)?;
        for position in done {
            let index = *members.get(position.wrapping_sub(1)).ok_or_else(|| StoreError::corrupt(format!("a batch statement answered item {position} of {}", members.len())))?;
            batch[index].answer_fast();
            answered[index] = true;
        }
    }
    Ok(())
}

/// Lock every account row the batch will update, in id order, before any job
/// runs: two batches then can never wait for each other in a cycle.
/// (PostgreSQL takes `FOR UPDATE` locks above the sort, i.e. in `ORDER BY` order.)
fn lock_accounts_in_order(conn: &mut dyn SqlConn, batch: &[Box<dyn Job>]) -> Result<(), StoreError> {
    let mut accounts: Vec<AccountId> = batch.iter().flat_map(|job| job.accounts_to_lock().iter().copied()).collect();
    if accounts.is_empty() {
        return Ok(());
    }
    accounts.sort();
    accounts.dedup();
    let placeholders: Vec<String> = (1..=accounts.len()).map(|i| format!("${i}")).collect();
    let sql = format!("SELECT id FROM accounts WHERE id IN ({}) ORDER BY id FOR UPDATE", placeholders.join(", "));
    let params: Vec<Val> = accounts.iter().map(|a| Val::Blob(a.as_bytes().to_vec())).collect();
    conn.query(&sql, &params)?;
    Ok(())
}
