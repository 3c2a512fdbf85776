//! The durable scheduler. Due times live in the store (`due_work`), never in
//! memory: a transfer in flight gets its deadline in the transaction that
//! creates it, and loses it in the transaction that moves it on.
//!
//! Every `recourse serve` runs [`spawn`]: each `scheduler_interval_ms` it
//! reads what is due on the service clock and fires each deadline's event
//! through the same transition as a payer's revoke or a payee's accept. Two
//! processes may read the same due row; the transition updates a transfer
//! only if it is still in the status it was read in, under its account
//! locks, so exactly one of them moves it and money moves once — the same
//! rule that gives a revoke racing an arrival exactly one winner. After a
//! crash or downtime, the first round runs everything overdue. The test
//! clock's `POST /v1/test/clock` calls [`run_due`] before it answers.
//!
//! The same loop runs retention ([`Service::prune`], `limits.rs`) every
//! `limits.retention_interval_seconds`; moving the test clock runs it too.

use std::time::Duration;

use recourse_domain::transfer::Actor;
use recourse_store::TransitionOutcome;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::{Service, ServiceError};

/// Due rows read per round.
const DUE_BATCH_MAX: i64 = 256;
/// Rounds per call: bounds one call's work even if due work keeps appearing.
const ROUNDS_MAX: u32 = 64;

/// Run every action due at the service clock's now. Returns how many moved a
/// transfer (a deadline another process met first counts nothing).
pub async fn run_due(service: &Service) -> Result<u64, ServiceError> {
    let mut moved = 0;
    for _ in 0..ROUNDS_MAX {
        let now_us = service.clock.now_us();
        let due = service.store.due_transfers(now_us, DUE_BATCH_MAX).await?;
        if due.is_empty() {
            break;
        }
        let read = due.len();
        // Concurrently, so that the writer commits them in groups.
        let mut tasks = JoinSet::new();
        for (transfer, event) in due {
            let store = service.store.clone();
            tasks.spawn(async move { (transfer, event, store.transition_transfer(transfer, event, Actor::System, None, now_us).await) });
        }
        let mut progressed = 0;
        let mut failed = None;
        // Every transition of the round is awaited: one that fails (the store
        // busy, a lost connection) stays due for the next round and does not
        // stop the others.
        while let Some(joined) = tasks.join_next().await {
            let Ok((transfer, event, outcome)) = joined else {
                failed = Some(ServiceError::Internal("a scheduler task panicked".into()));
                continue;
            };
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(error) => {
                    tracing::warn!(%transfer, event = event.as_str(), %error, "a due transition failed; it stays due");
                    metrics::counter!("recourse_scheduled_transition_failures_total").increment(1);
                    failed = Some(error.into());
                    continue;
                }
            };
            match outcome {
                TransitionOutcome::Moved(_) => {
                    moved += 1;
                    progressed += 1;
                    metrics::counter!("recourse_scheduled_transitions_total", "event" => event.as_str()).increment(1);
                }
                // Another process, or the payer or payee, got there first.
                TransitionOutcome::AlreadyDone(_) | TransitionOutcome::Illegal(_) | TransitionOutcome::NotFound => {
                    tracing::debug!(%transfer, event = event.as_str(), "due work was already met");
                }
            }
        }
        if let Some(error) = failed {
            // Some of the round failed: report it (the next round retries),
            // unless others moved, which the caller should hear about.
            if progressed == 0 {
                return Err(error);
            }
            break;
        }
        if read < DUE_BATCH_MAX as usize {
            break;
        }
    }
    moved += run_claims_due(service).await?;
    Ok(moved)
}

/// Claims' deadlines: the payee's answer window, service levels,
/// compensation for each day past the resolution deadline, hold expiries.
/// One at a time (they are few, and each may move money).
async fn run_claims_due(service: &Service) -> Result<u64, ServiceError> {
    let mut done = 0;
    let per_day_fen = service.config.claims.compensation_fen_per_day;
    for _ in 0..ROUNDS_MAX {
        let now_us = service.clock.now_us();
        let due = service.store.due_claim_work(now_us, DUE_BATCH_MAX).await?;
        if due.is_empty() {
            break;
        }
        let read = due.len();
        for (subject, what) in due {
            match service.store.run_claim_due(subject, what, per_day_fen, now_us).await {
                Ok(true) => {
                    done += 1;
                    metrics::counter!("recourse_scheduled_claim_work_total", "event" => what.as_str()).increment(1);
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%subject, event = what.as_str(), %error, "due claim work failed; it stays due");
                    return Err(error.into());
                }
            }
        }
        if read < DUE_BATCH_MAX as usize {
            break;
        }
    }
    // Data subjects told of a disclosure once its legal delay is over.
    for disclosure in service.store.due_disclosure_notices(service.clock.now_us(), DUE_BATCH_MAX).await? {
        if service.store.send_disclosure_notice(disclosure, service.clock.now_us()).await? {
            done += 1;
        }
    }
    Ok(done)
}

/// Run the scheduler until `shutdown` turns true (or its sender is gone).
pub fn spawn(service: Service, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let interval = Duration::from_millis(service.config.scheduler_interval_ms);
    let retention_us = service.config.limits.retention_interval_seconds.saturating_mul(1_000_000);
    tokio::spawn(async move {
        let mut pruned_at_us: Option<i64> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Retention, every `retention_interval_seconds` of the service clock.
            let now_us = service.clock.now_us();
            if pruned_at_us.is_none_or(|at| now_us - at >= retention_us) {
                match service.prune().await {
                    Ok(_) => pruned_at_us = Some(now_us),
                    Err(error) => tracing::warn!(%error, "retention failed; retrying next round"),
                }
            }
            let round = async {
                service.sync_test_clock().await?;
                run_due(&service).await
            };
            match round.await {
                Ok(0) => {}
                Ok(moved) => tracing::info!(moved, "scheduler ran due work"),
                Err(error) => tracing::warn!(%error, "scheduler round failed; retrying next round"),
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                changed = shutdown.changed() => if changed.is_err() { break },
            }
        }
        tracing::info!("scheduler stopped");
    })
}
