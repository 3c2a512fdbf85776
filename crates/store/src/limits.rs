//! Abuse limits and retention in the store.
//!
//! Rate buckets follow `recourse_domain::rate` (GCRA: one theoretical
//! arrival time per subject). On PostgreSQL they live in the UNLOGGED
//! table `rate_buckets`, so that every instance sees one bucket, and a take
//! is one autocommit statement on the request path's pipelined connection
//! (the same arithmetic as the domain's, in SQL; the conformance suite runs
//! both against the same sequence). On SQLite one server owns the store, so
//! they live in its memory, under the domain's own function.
//!
//! Retention deletes what nobody may ask for again: expired or revoked
//! sessions, idempotency records past the replay window, avatar images
//! beyond the kept history, and full rate buckets. Each pass deletes a
//! bounded batch, oldest first, so a backlog never holds a long transaction.

use recourse_domain::rate::{Rate, Take};

use crate::sql::Val;
use crate::{Store, StoreError};

/// A payer's transfer velocity, as `Store::create_transfer` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Velocity {
    pub rate: Rate,
    /// `false` under `limits.rate_limits = "observe"`: evaluated and counted, not refused.
    pub enforce: bool,
}

impl Velocity {
    /// No limit to speak of (tests of other things, tools).
    pub const UNLIMITED: Velocity = Velocity { rate: Rate { burst: u32::MAX, refill: u32::MAX, period_us: 1 }, enforce: false };

    /// An observed limit would have refused `count` transfers.
    pub(crate) fn observed(count: u64) {
        metrics::counter!("recourse_rate_limits_observed_total", "limit" => "transfer_velocity").increment(count);
    }
}

/// What one retention pass deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub idempotency_records: u64,
    pub avatars: u64,
    pub rate_buckets: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.sessions + self.idempotency_records + self.avatars + self.rate_buckets
    }
}

/// What retention keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Idempotency records created before this are deleted: a retry with
    /// such a key is a new request.
    pub idempotency_created_before_us: i64,
    /// Avatars kept per user, newest first (the current one always).
    pub avatars_kept: i64,
    /// Avatars created after this are kept whatever their number: the daily
    /// cap on profile changes counts them.
    pub avatars_recent_after_us: i64,
    /// Most rows of each kind one pass deletes.
    pub batch: i64,
}

impl Store {
    /// Take `cost` tokens from `subject`'s bucket at `now_us`.
    pub async fn take_tokens(&self, subject: String, rate: Rate, cost: u32, now_us: i64) -> Result<Take, StoreError> {
        if cost > rate.burst {
            // More than the bucket ever holds: refused for good; the
            // settings are validated so that this never happens.
            return Ok(Take::Refused { retry_after_us: rate.tolerance_us() });
        }
        let Some(pg) = &self.inner.async_reads else {
            return Ok(self.take_in_memory(subject, rate, cost, now_us));
        };
        let cost_us = rate.interval_us().saturating_mul(i64::from(cost));
        let row = pg
            .query_opt(
                "INSERT INTO rate_buckets (subject, tat_us, allowed) VALUES ($1, $2::BIGINT + $3::BIGINT, 1) \
                 ON CONFLICT (subject) DO UPDATE SET \
                   allowed = CASE WHEN GREATEST(rate_buckets.tat_us, $2) + $3 - $2 <= $4 THEN 1 ELSE 0 END, \
                   tat_us = CASE WHEN GREATEST(rate_buckets.tat_us, $2) + $3 - $2 <= $4 THEN GREATEST(rate_buckets.tat_us, $2) + $3 ELSE rate_buckets.tat_us END \
                 RETURNING tat_us, allowed",
                &[Val::Text(subject), now_us.into(), cost_us.into(), rate.tolerance_us().into()],
            )
            .await?
            .ok_or_else(|| StoreError::corrupt("a rate bucket upsert returned no row"))?;
        let tat_us = row.i64(0)?;
        Ok(if row.i64(1)? == 1 { Take::Allowed { tat_us } } else { Take::Refused { retry_after_us: tat_us.max(now_us) + cost_us - now_us - rate.tolerance_us() } })
    }

    /// SQLite: take from this process's bucket (synchronous: the writer's
    /// closures call it inside their transaction).
    pub(crate) fn take_in_memory(&self, subject: String, rate: Rate, cost: u32, now_us: i64) -> Take {
        let mut buckets = self.inner.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let take = rate.take(buckets.get(&subject).copied(), now_us, cost);
        if let Take::Allowed { tat_us } = take {
            if buckets.len() >= self.inner.memory_buckets_max {
                buckets.retain(|_, tat| *tat > now_us);
            }
            buckets.insert(subject, tat_us);
        }
        take
    }

    pub(crate) fn refund_in_memory(&self, subject: &str, rate: Rate, cost: u32) {
        let mut buckets = self.inner.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tat) = buckets.get_mut(subject) {
            *tat = rate.refund(*tat, cost);
        }
    }

    /// Give back `cost` tokens taken for a request that turned out to be a replay.
    pub async fn refund_tokens(&self, subject: String, rate: Rate, cost: u32) -> Result<(), StoreError> {
        let Some(pg) = &self.inner.async_reads else {
            self.refund_in_memory(&subject, rate, cost);
            return Ok(());
        };
        let cost_us = rate.interval_us().saturating_mul(i64::from(cost));
        pg.query("UPDATE rate_buckets SET tat_us = tat_us - $2 WHERE subject = $1", &[Val::Text(subject), cost_us.into()]).await?;
        Ok(())
    }

    /// One retention pass at `now_us`.
    pub async fn prune(&self, retention: Retention, now_us: i64) -> Result<Pruned, StoreError> {
        let rate_buckets = match &self.inner.async_reads {
            None => {
                let mut buckets = self.inner.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let before = buckets.len();
                buckets.retain(|_, tat| *tat > now_us);
                (before - buckets.len()) as u64
            }
            Some(_) => 0,
        };
        let mut pruned = self
            .write(Vec::new(), move |conn| {
                let sessions = conn.execute(
                    "DELETE FROM sessions WHERE token_hash IN \
                     (SELECT token_hash FROM sessions WHERE expires_at <= $1 OR revoked_at IS NOT NULL ORDER BY expires_at LIMIT $2)",
                    &[now_us.into(), retention.batch.into()],
                )?;
                let idempotency_records = conn.execute(
                    "DELETE FROM idempotency WHERE (caller_id, key) IN \
                     (SELECT caller_id, key FROM idempotency WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
                    &[retention.idempotency_created_before_us.into(), retention.batch.into()],
                )?;
                // Beyond the newest `avatars_kept` of each user; never the
                // current one (`users.avatar_id`).
                let avatars = conn.execute(
                    "DELETE FROM avatars WHERE id IN (SELECT id FROM \
                       (SELECT a.id, ROW_NUMBER() OVER (PARTITION BY a.user_id ORDER BY a.created_at DESC) AS newest \
                        FROM avatars a JOIN users u ON u.id = a.user_id \
                        WHERE (u.avatar_id IS NULL OR u.avatar_id <> a.id) AND a.created_at < $3) ranked \
                     WHERE newest >= $1 LIMIT $2)",
                    &[retention.avatars_kept.into(), retention.batch.into(), retention.avatars_recent_after_us.into()],
                )?;
                Ok(Pruned { sessions, idempotency_records, avatars, rate_buckets: 0 })
            })
            .await?;
        pruned.rate_buckets = rate_buckets;
        if let Some(pg) = &self.inner.async_reads {
            let rows =
                pg.query("DELETE FROM rate_buckets WHERE subject IN (SELECT subject FROM rate_buckets WHERE tat_us <= $1 LIMIT $2) RETURNING 1", &[now_us.into(), retention.batch.into()]).await?;
            pruned.rate_buckets = rows.len() as u64;
        }
        Ok(pruned)
    }
}
