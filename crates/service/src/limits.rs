//! Abuse limits: which rate each limit is, whose bucket it takes from, and
//! whether it is enforced. The rule is the domain's (`recourse_domain::rate`),
//! the buckets are the store's (`recourse_store::limits`), the answers are
//! refusals (429 `rate-limited` or `lookup-budget-exhausted` at the edge).
//!
//! Two kinds of limit:
//! - **capacity limits** (per-address registrations and logins; transfer
//!   velocity, which the store takes with each transfer it creates, on the
//!   payer's account row on PostgreSQL; the hashing queue's admission in
//!   `hashing.rs`) protect the
//!   service's capacity. Under `limits.rate_limits = "observe"` they are
//!   counted and evaluated (a benchmark pays their cost) but a refusal is
//!   only counted in `recourse_rate_limits_observed_total`;
//! - **the lookup budget** protects customers' data (who has an account,
//!   under which masked name): always enforced, like the failed-login pause
//!   and name completion.
//!
//! Replays are never charged: an operation that turns out to be a replay
//! gives its tokens back ([`Service::refund`]).

use std::net::IpAddr;

use recourse_domain::UserId;
use recourse_domain::rate::{Rate, Take, retry_after_seconds};
use recourse_store::limits::{Pruned, Retention, Velocity};

use crate::config::RateLimits;
use crate::{Service, ServiceError};

const MINUTE_US: i64 = 60_000_000;
const HOUR_US: i64 = 60 * MINUTE_US;
const DAY_US: i64 = 24 * HOUR_US;

/// A limit and the subject it counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Registrations from one address.
    Registrations(Option<IpAddr>),
    /// Login attempts from one address.
    Logins(Option<IpAddr>),
    /// A customer's payee lookups.
    Lookups(UserId),
    /// Lookups made by registrations from one address (a taken phone).
    AddressLookups(Option<IpAddr>),
}

/// A limit said no.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: Limit,
    pub retry_after_seconds: i64,
}

impl Exceeded {
    /// Whether it was the lookup budget (`lookup-budget-exhausted`) rather
    /// than a rate (`rate-limited`).
    pub fn is_lookup_budget(&self) -> bool {
        matches!(self.limit, Limit::Lookups(_) | Limit::AddressLookups(_))
    }
}

/// How much a lookup costs: finding an account is cheap, finding none is
/// what a sweep of numbers does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Found,
    Missing,
}

fn address_key(address: Option<IpAddr>) -> String {
    // IPv4-mapped IPv6 addresses count as the IPv4 address they are.
    address.map_or_else(|| "unknown".to_owned(), |a| a.to_canonical().to_string())
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::Registrations(_) => "registrations_per_address",
            Limit::Logins(_) => "logins_per_address",
            Limit::Lookups(_) => "lookup_budget",
            Limit::AddressLookups(_) => "address_lookup_budget",
        }
    }

    /// The bucket's subject: one namespace per limit.
    fn subject(self) -> String {
        match self {
            Limit::Registrations(address) => format!("register:{}", address_key(address)),
            Limit::Logins(address) => format!("login:{}", address_key(address)),
            Limit::Lookups(caller) => format!("lookups:{caller}"),
            Limit::AddressLookups(address) => format!("lookups:{}", address_key(address)),
        }
    }

    /// The lookup budget always holds; the others only under `enforce`.
    fn enforced(self, mode: RateLimits) -> bool {
        matches!(self, Limit::Lookups(_) | Limit::AddressLookups(_)) || mode == RateLimits::Enforce
    }

    fn rate(self, limits: &crate::config::Limits) -> Rate {
        match self {
            Limit::Registrations(_) => Rate::per(limits.registrations_per_address_per_hour, HOUR_US),
            Limit::Logins(_) => Rate::per(limits.logins_per_address_per_minute, MINUTE_US),
            Limit::Lookups(_) | Limit::AddressLookups(_) => {
                Rate { burst: limits.lookup_budget_tokens, refill: limits.lookup_budget_refill_per_minute, period_us: MINUTE_US }
            }
        }
    }
}

impl Service {
    /// The payer's transfer velocity, as the store takes it with each
    /// transfer it creates (`Store::create_transfer`).
    pub fn velocity(&self) -> Velocity {
        let limits = &self.config.limits;
        Velocity { rate: Rate::per(limits.transfers_per_minute_max, MINUTE_US), enforce: limits.rate_limits == RateLimits::Enforce }
    }

    /// What a lookup costs under the settings.
    pub fn lookup_cost(&self, lookup: Lookup) -> u32 {
        match lookup {
            Lookup::Found => self.config.limits.lookup_cost_found,
            Lookup::Missing => self.config.limits.lookup_cost_missing,
        }
    }

    /// Take `cost` from `limit`'s bucket. `Ok(Err)` only when the limit is
    /// enforced; an observed limit that would refuse is counted and passes.
    pub async fn charge(&self, limit: Limit, cost: u32) -> Result<Result<(), Exceeded>, ServiceError> {
        let rate = limit.rate(&self.config.limits);
        match self.store.take_tokens(limit.subject(), rate, cost, self.clock.now_us()).await? {
            Take::Allowed { .. } => Ok(Ok(())),
            Take::Refused { retry_after_us } => {
                if limit.enforced(self.config.limits.rate_limits) {
                    metrics::counter!("recourse_rate_limited_total", "limit" => limit.name()).increment(1);
                    Ok(Err(Exceeded { limit, retry_after_seconds: retry_after_seconds(retry_after_us) }))
                } else {
                    metrics::counter!("recourse_rate_limits_observed_total", "limit" => limit.name()).increment(1);
                    Ok(Ok(()))
                }
            }
        }
    }

    /// Give back what [`Service::charge`] took, for a replay.
    pub async fn refund(&self, limit: Limit, cost: u32) -> Result<(), ServiceError> {
        Ok(self.store.refund_tokens(limit.subject(), limit.rate(&self.config.limits), cost).await?)
    }

    /// One retention pass (the scheduler runs it every
    /// `retention_interval_seconds`): expired and revoked sessions,
    /// idempotency records past the replay window, avatars beyond the kept
    /// history, full rate buckets, each in bounded batches until none is left.
    pub async fn prune(&self) -> Result<Pruned, ServiceError> {
        let limits = &self.config.limits;
        let mut total = Pruned::default();
        loop {
            let now_us = self.clock.now_us();
            let retention = Retention {
                idempotency_created_before_us: now_us - limits.idempotency_replay_window_seconds.saturating_mul(1_000_000),
                avatars_kept: i64::from(limits.avatars_kept),
                avatars_recent_after_us: now_us - DAY_US,
                batch: 1_000,
            };
            let pruned = self.store.prune(retention, now_us).await?;
            total.sessions += pruned.sessions;
            total.idempotency_records += pruned.idempotency_records;
            total.avatars += pruned.avatars;
            total.rate_buckets += pruned.rate_buckets;
            if pruned.sessions < 1_000 && pruned.idempotency_records < 1_000 && pruned.avatars < 1_000 && pruned.rate_buckets < 1_000 {
                break;
            }
        }
        if total.total() > 0 {
            tracing::info!(sessions = total.sessions, idempotency_records = total.idempotency_records, avatars = total.avatars, rate_buckets = total.rate_buckets, "retention pruned");
        }
        Ok(total)
    }
}

impl Service {
    /// Charge `caller`'s lookup budget for one lookup that found an account or none.
    pub(crate) async fn charge_lookup(&self, caller: UserId, found: bool) -> Result<Result<(), Exceeded>, ServiceError> {
        let cost = self.lookup_cost(if found { Lookup::Found } else { Lookup::Missing });
        self.charge(Limit::Lookups(caller), cost).await
    }
}

impl From<Exceeded> for recourse_domain::refusal::Refusal {
    fn from(exceeded: Exceeded) -> Self {
        let retry_after_seconds = exceeded.retry_after_seconds;
        if exceeded.is_lookup_budget() {
            recourse_domain::refusal::Refusal::LookupBudgetExhausted { retry_after_seconds }
        } else {
            recourse_domain::refusal::Refusal::RateLimited { retry_after_seconds }
        }
    }
}

impl From<Exceeded> for recourse_domain::refusal::AccountRefusal {
    fn from(exceeded: Exceeded) -> Self {
        let retry_after_seconds = exceeded.retry_after_seconds;
        if exceeded.is_lookup_budget() {
            recourse_domain::refusal::AccountRefusal::LookupBudgetExhausted { retry_after_seconds }
        } else {
            recourse_domain::refusal::AccountRefusal::RateLimited { retry_after_seconds }
        }
    }
}
