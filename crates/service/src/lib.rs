//! Recourse's application operations, between the shells and the store.
//!
//! ```text
//! cli ──► server (HTTP: parse, render) ──► service (operations) ──► store (SQL) ──► domain (pure)
//!  └──────────── scheduler, admin, demo ──┘
//! ```
//!
//! Every operation takes a command built of domain values and answers with a
//! business outcome ([`recourse_store::Outcome`], [`recourse_store::TransitionOutcome`]):
//! created, replayed, refused with a [`recourse_domain::refusal::Refusal`],
//! moved, already done, illegal. `Err` is kept for "the operation could not
//! run" (store down, contention, a broken invariant). HTTP handlers, the
//! scheduler, the CLI and the demo all call these same operations, so the
//! logic exists once.
//!
//! - [`money`]: transfers (instant, delayed, acceptance-required), their
//!   transitions, top-ups and withdrawals, transfer preferences.
//! - [`accounts`]: registration, login, real-name verification, cards,
//!   profile changes; [`passwords`]: Argon2id and session tokens.
//! - [`scheduler`]: runs due work (arrivals, expiries) from the store, on a
//!   timer in every `recourse serve` and whenever the test clock moves.
//! - [`clock`]: the only wall-clock reader; [`vault`]: identity data at rest;
//!   [`identity_provider`]: confirmation of identities; [`config`]: settings.

pub mod accounts;
pub mod claims;
pub mod clock;
pub mod config;
pub mod disclosures;
pub mod hashing;
pub mod identity_provider;
pub mod keys;
pub mod limits;
pub mod money;
pub mod passwords;
pub mod payees;
pub mod risk;
pub mod scheduler;
pub mod vault;

use std::sync::Arc;

use recourse_store::{Store, StoreError};
use thiserror::Error;

use crate::clock::Clock;
use crate::config::ServiceConfig;
use crate::identity_provider::{ChecksumOnly, IdentityProvider};
use crate::vault::Vault;

/// An operation could not run. Business answers are never errors.
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The identity provider could not be asked (not: it said no).
    #[error("the identity provider is unavailable: {0}")]
    IdentityProviderUnavailable(String),
    /// Too much work is waiting (password hashing): try again shortly.
    #[error("overloaded: {0}")]
    Overloaded(&'static str),
    /// Identity data under a key id this instance does not hold: it still
    /// runs with the key a rotation has replaced (a rotation re-encrypts
    /// every row before it retires a key, so an unknown id is a newer one).
    #[error("identity data under key id {0}, which this instance does not hold: restart it with the current key and the previous one (identity_key, identity_key_previous)")]
    KeyOutdated(u8),
    /// A broken invariant or a failed internal task.
    #[error("internal failure: {0}")]
    Internal(String),
}

impl From<vault::VaultError> for ServiceError {
    fn from(error: vault::VaultError) -> ServiceError {
        match error {
            vault::VaultError::UnknownKey(id) => ServiceError::KeyOutdated(id),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

/// The application: one owner for the store, the clock, the vault, the
/// identity provider and the settings. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub store: Store,
    pub clock: Clock,
    pub vault: Vault,
    pub config: Arc<ServiceConfig>,
    pub identity_provider: Arc<dyn IdentityProvider>,
    /// Where password hashes run: bounded (`hashing.rs`).
    pub hashing: Arc<hashing::HashingPool>,
    /// `limits.trusted_proxies`, parsed once (validated with the settings).
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
}

impl Service {
    /// Build the service with the built-in identity provider.
    pub fn new(store: Store, config: ServiceConfig) -> Result<Service, String> {
        Service::with_provider(store, config, Arc::new(ChecksumOnly))
    }

    /// Build the service; refuses settings that would make it misbehave.
    pub fn with_provider(store: Store, config: ServiceConfig, identity_provider: Arc<dyn IdentityProvider>) -> Result<Service, String> {
        config.limits.validate().map_err(|problem| format!("invalid settings: {problem}"))?;
        config.risk.validate().map_err(|problem| format!("invalid settings: {problem}"))?;
        config.claims.validate().map_err(|problem| format!("invalid settings: {problem}"))?;
        if !(10..=3_600_000).contains(&config.scheduler_interval_ms) {
            return Err("invalid settings: scheduler_interval_ms must be 10 ms to an hour".into());
        }
        let zone = jiff::tz::TimeZone::get(&config.time_zone).map_err(|e| format!("time zone {:?}: {e}", config.time_zone))?;
        let clock = if config.test_clock { Clock::test(zone) } else { Clock::system(zone) };
        let limits = &config.limits;
        let hashing = Arc::new(hashing::HashingPool::new(
            limits.password_hashing_concurrency,
            limits.password_hashing_queue_max,
            std::time::Duration::from_millis(limits.password_hashing_wait_ms),
            limits.rate_limits == config::RateLimits::Enforce,
        ));
        let trusted_proxies = limits.trusted_proxies.iter().filter_map(|p| config::parse_proxy(p)).collect();
        Ok(Service { store, clock, trusted_proxies, vault: Vault::with_keys(&config.identity_key, config.identity_key_id, config.identity_key_previous.as_ref().map(|(key, id)| (key, *id))), config: Arc::new(config), identity_provider, hashing })
    }

    /// On a test clock, take the offset every instance on this store agrees
    /// on. A real clock reads nothing.
    pub async fn sync_test_clock(&self) -> Result<(), ServiceError> {
        if self.clock.is_test_clock() {
            let offset_us = self.store.clock_offset_us().await?;
            self.clock.set_offset_us(offset_us);
        }
        Ok(())
    }

    /// Move the shared test clock forward, then run everything that became
    /// due before answering: due transitions (how many moved), and retention
    /// (what it deleted). `None` on a real clock.
    pub async fn advance_test_clock(&self, seconds: i64) -> Result<Option<u64>, ServiceError> {
        Ok(self.advance_test_clock_pruning(seconds).await?.map(|(ran, _)| ran))
    }

    /// [`Service::advance_test_clock`], with what retention deleted.
    pub async fn advance_test_clock_pruning(&self, seconds: i64) -> Result<Option<(u64, recourse_store::limits::Pruned)>, ServiceError> {
        assert!((0..=clock::ADVANCE_SECONDS_MAX).contains(&seconds), "advance is validated at the edge");
        if !self.clock.is_test_clock() {
            return Ok(None);
        }
        let offset_us = self.store.advance_clock_offset(seconds * 1_000_000).await?;
        self.clock.set_offset_us(offset_us);
        let ran = scheduler::run_due(self).await?;
        let pruned = self.prune().await?;
        Ok(Some((ran, pruned)))
    }
}
