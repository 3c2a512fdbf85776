//! A small blocking pool of connections for reads.
//!
//! Written here rather than taken from r2d2 because it must hold both
//! connection types behind one trait object, and the r2d2 adapters pin their
//! own versions of the SQLite and PostgreSQL drivers (STACK.md: only one
//! SQLite may be linked).

use std::sync::{Condvar, Mutex};

use crate::sql::SqlConn;

pub struct Pool {
    idle: Mutex<Idle>,
    returned: Condvar,
}

struct Idle {
    connections: Vec<Box<dyn SqlConn>>,
    /// Threads waiting in `get`; `notify_one` is a system call, so it is
    /// only made when someone waits.
    waiting: usize,
}

pub struct Pooled<'a> {
    pool: &'a Pool,
    conn: Option<Box<dyn SqlConn>>,
}

impl Pool {
    pub fn new(connections: Vec<Box<dyn SqlConn>>) -> Pool {
        assert!(!connections.is_empty(), "a pool needs at least one connection");
        Pool { idle: Mutex::new(Idle { connections, waiting: 0 }), returned: Condvar::new() }
    }

    /// Wait for an idle connection. Callers are blocking threads, never async tasks.
    pub fn get(&self) -> Pooled<'_> {
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            if let Some(conn) = idle.connections.pop() {
                return Pooled { pool: self, conn: Some(conn) };
            }
            idle.waiting += 1;
            idle = self.returned.wait(idle).unwrap_or_else(|poisoned| poisoned.into_inner());
            idle.waiting -= 1;
        }
    }
}

impl Pooled<'_> {
    pub fn conn(&mut self) -> &mut dyn SqlConn {
        self.conn.as_deref_mut().expect("a pooled connection is present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            idle.connections.push(conn);
            if idle.waiting > 0 {
                self.pool.returned.notify_one();
            }
        }
    }
}

impl Drop for Pool {
    /// Close connections on a plain thread: the PostgreSQL client blocks on
    /// its own runtime when dropped, which must not happen on an async worker.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.idle.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).connections);
        if !idle.is_empty() {
            let _ = std::thread::Builder::new().name("recourse-pool-close".into()).spawn(move || drop(idle));
        }
    }
}
