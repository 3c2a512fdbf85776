//! Password hashing under a bound. Argon2id is slow and memory-hard on
//! purpose, so a flood of logins or registrations must not be allowed to
//! run it without limit: a fixed number of hashes run at once (sized to the
//! cores), on threads of their own (never the blocking pool that serves the
//! store's reads), behind a bounded wait. A job that finds the queue full,
//! or waits longer than allowed, is turned away at once: the caller answers
//! 503 `overloaded` with `Retry-After`. Memory stays bounded by
//! `concurrency × password_hashing.memory_kib`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

/// The pool could not take the job now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overloaded;

pub struct HashingPool {
    permits: Arc<Semaphore>,
    /// Jobs waiting for a permit now.
    waiting: AtomicUsize,
    queue_max: usize,
    wait: Duration,
    /// `false` under `limits.rate_limits = "observe"`: admission is
    /// evaluated (and a refusal counted) but every job waits its turn.
    enforce: bool,
}

impl HashingPool {
    /// `concurrency` 0: one per core.
    pub fn new(concurrency: usize, queue_max: usize, wait: Duration, enforce: bool) -> HashingPool {
        let concurrency = if concurrency == 0 { std::thread::available_parallelism().map_or(1, usize::from) } else { concurrency };
        HashingPool { permits: Arc::new(Semaphore::new(concurrency)), waiting: AtomicUsize::new(0), queue_max, wait, enforce }
    }

    /// A job would be refused for `why`: refused when enforcing, counted when observing.
    fn refuse(&self, why: &'static str) -> Result<(), Overloaded> {
        if self.enforce {
            metrics::counter!("recourse_password_hashing_refused_total", "why" => why).increment(1);
            Err(Overloaded)
        } else {
            metrics::counter!("recourse_rate_limits_observed_total", "limit" => "password_hashing", "why" => why).increment(1);
            Ok(())
        }
    }

    /// Run `job` on a hashing thread, or refuse at once.
    pub async fn run<T, F>(&self, job: F) -> Result<T, Overloaded>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue_max
                    && let Err(overloaded) = self.refuse("queue_full")
                {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(overloaded);
                }
                let waited = match tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned()).await {
                    Ok(acquired) => acquired.ok(),
                    Err(_) => match self.refuse("waited_too_long") {
                        Err(_) => None,
                        Ok(()) => Arc::clone(&self.permits).acquire_owned().await.ok(),
                    },
                };
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                waited.ok_or(Overloaded)?
            }
        };
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new().name("password-hash".into()).spawn(move || {
            let out = job();
            drop(permit);
            let _ = sender.send(out);
        });
        if spawned.is_err() {
            return Err(Overloaded);
        }
        receiver.await.map_err(|_| Overloaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_turns_jobs_away_and_the_rest_run() {
        let pool = Arc::new(HashingPool::new(1, 2, Duration::from_secs(5), true));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = std::sync::Mutex::new(hold);
        // One job runs (and blocks until released); two wait; the fourth is refused.
        let first = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run(move || hold.lock().unwrap().recv().is_ok()).await })
        };
        while pool.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let waiting: Vec<_> = (0..2).map(|n| {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run(move || n).await })
        }).collect();
        while pool.waiting.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(|| 9).await, Err(Overloaded), "the queue is full");
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(true));
        for (n, job) in waiting.into_iter().enumerate() {
            assert_eq!(job.await.unwrap(), Ok(n));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_too_long_is_refused() {
        let pool = HashingPool::new(1, 8, Duration::from_millis(20), true);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = std::sync::Mutex::new(hold);
        let pool = Arc::new(pool);
        let busy = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run(move || hold.lock().unwrap().recv().is_ok()).await })
        };
        while pool.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(|| 1).await, Err(Overloaded));
        release.send(()).unwrap();
        assert_eq!(busy.await.unwrap(), Ok(true));
        assert_eq!(pool.run(|| 2).await, Ok(2), "free again");
    }
}
