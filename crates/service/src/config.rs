//! The service's settings: product limits, security parameters, and the
//! identity-data key. Loaded by the binary (file + environment + flags).

use serde::{Deserialize, Serialize};

/// Argon2id cost. Production defaults follow OWASP (19 MiB, 2 passes);
/// tests use tiny parameters so that registration is not the bottleneck.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordHashing {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordHashing {
    fn default() -> Self {
        PasswordHashing { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

impl PasswordHashing {
    pub fn cheap_for_tests() -> Self {
        PasswordHashing { memory_kib: 64, iterations: 1, parallelism: 1 }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most one transfer may move (fen). Default ¥50,000.
    pub transfer_max_fen: i64,
    /// Most one top-up may bring in (fen). Default ¥50,000.
    pub topup_max_fen: i64,
    /// Most one withdrawal may take out (fen). Default ¥50,000.
    pub withdrawal_max_fen: i64,
    /// Minimum age for real-name verification.
    pub verification_min_age_years: i16,
    /// Accounts one identity number may verify.
    pub accounts_per_identity_max: i64,
    /// Session lifetime.
    pub session_ttl_seconds: i64,
    /// Largest request body accepted (bytes).
    pub request_body_max_bytes: usize,
    /// Largest avatar image accepted (bytes).
    pub avatar_max_bytes: usize,
    /// Largest avatar image accepted (width × height), checked from the
    /// image's header before it is decoded: no decompression bombs.
    pub avatar_max_pixels: u64,
    /// Requests taking longer are answered 503.
    pub request_timeout_ms: u64,
    /// Nickname and avatar changes (together) a customer may make in 24 hours.
    /// Impostors change both to look like someone's friend; the history is kept.
    pub profile_changes_per_day: i64,
    /// Failed logins per phone number before logins for it pause.
    pub login_failures_max: i64,
    /// How long failed logins are counted, and how long the pause lasts.
    pub login_failure_window_seconds: i64,
    /// How long a transfer waits for the payee's acceptance before its hold
    /// is released to the payer (`expired_refunded`). Default 24 hours.
    pub acceptance_window_seconds: i64,
    /// A transfer of at least this many fen makes the payer complete the
    /// payee's masked name first (or, to a payee with no verified name,
    /// confirm paying them anyway). Default ¥1,000.
    pub name_completion_threshold_fen: i64,
    /// Wrong masked-name answers per payer→payee pair before completion for
    /// that payee locks (counted since the pair's last right answer).
    pub name_completion_attempts_max: u32,
    /// How long a pair's wrong answers count, and so how long its lock lasts.
    pub name_completion_lock_seconds: i64,
    /// Wrong masked-name answers per payer, all payees, in 24 hours before
    /// completion locks for every payee.
    pub name_completion_daily_failures_max: u32,
    /// Typed-name checks (`POST /v1/payee-checks`, or a transfer's
    /// `expected_name`) per caller in 24 hours.
    pub payee_checks_daily_max: i64,
    /// Password hashes (Argon2id) run at once; 0: one per core.
    pub password_hashing_concurrency: usize,
    /// Hashes that may wait for a turn; beyond: 503 `overloaded`.
    pub password_hashing_queue_max: usize,
    /// The longest a hash waits for its turn (ms); beyond: 503 `overloaded`.
    pub password_hashing_wait_ms: u64,
    /// `enforce` (the default) or `observe`: in `observe` the capacity
    /// limits (per-address registrations and logins, transfer velocity, the
    /// hashing queue's admission) are counted and evaluated but not
    /// enforced, so that a load test pays their cost; the limits that guard
    /// credentials and identity data (the failed-login pause, the lookup
    /// budget, name completion) and every check on money always hold.
    pub rate_limits: RateLimits,
    /// Registrations from one network address per hour (429 `rate-limited`).
    pub registrations_per_address_per_hour: u32,
    /// Login attempts from one network address per minute (429 `rate-limited`).
    pub logins_per_address_per_minute: u32,
    /// Peers whose `X-Forwarded-For` is believed (a load balancer's
    /// addresses, as IPs or CIDR blocks). Empty: the peer address is the
    /// client's.
    pub trusted_proxies: Vec<String>,
    /// Each caller's lookup budget (tokens): looking a payee up by phone or
    /// id (previews, typed-name checks, transfers by phone) and meeting a
    /// taken phone at registration spend it (429 `lookup-budget-exhausted`).
    pub lookup_budget_tokens: u32,
    /// Tokens that come back each minute.
    pub lookup_budget_refill_per_minute: u32,
    /// A lookup that finds an account costs this many tokens.
    pub lookup_cost_found: u32,
    /// A lookup that finds no account costs this many (sweeping numbers is
    /// what the budget stops).
    pub lookup_cost_missing: u32,
    /// Transfers one payer may send per minute (429 `rate-limited`).
    pub transfers_per_minute_max: u32,
    /// How long an `Idempotency-Key` replays its request: older records are
    /// pruned, and the key then starts a new request. Default 7 days.
    pub idempotency_replay_window_seconds: i64,
    /// Avatar images kept per user (the newest, the current one always, and
    /// every one from the last day); older ones are pruned.
    pub avatars_kept: u32,
    /// How often retention runs (expired sessions, idempotency records,
    /// avatars, full rate buckets).
    pub retention_interval_seconds: i64,
    /// Below this much free space in the data directory (SQLite), `/healthz`
    /// answers 503 `disk-full`.
    pub disk_free_min_bytes: u64,
}

/// Whether the capacity limits are enforced or only observed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimits {
    #[default]
    Enforce,
    Observe,
}

impl RateLimits {
    pub fn as_str(self) -> &'static str {
        match self {
            RateLimits::Enforce => "enforce",
            RateLimits::Observe => "observe",
        }
    }
}

impl Limits {
    /// Refuse settings that would make the service misbehave.
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(bool, &str); 32] = [
            ((1..=1_000_000).contains(&self.registrations_per_address_per_hour), "limits.registrations_per_address_per_hour must be 1 to 1000000"),
            ((1..=1_000_000).contains(&self.logins_per_address_per_minute), "limits.logins_per_address_per_minute must be 1 to 1000000"),
            (self.trusted_proxies.iter().all(|p| parse_proxy(p).is_some()), "limits.trusted_proxies must be IP addresses or CIDR blocks"),
            ((1..=1_000_000).contains(&self.lookup_budget_refill_per_minute), "limits.lookup_budget_refill_per_minute must be 1 to 1000000"),
            ((1..=self.lookup_cost_missing).contains(&self.lookup_cost_found), "limits.lookup_cost_found must be 1 to lookup_cost_missing"),
            ((self.lookup_cost_missing..=10_000_000).contains(&self.lookup_budget_tokens), "limits.lookup_budget_tokens must be lookup_cost_missing to 10000000"),
            ((1..=1_000_000).contains(&self.transfers_per_minute_max), "limits.transfers_per_minute_max must be 1 to 1000000"),
            ((60..=366 * 24 * 3600).contains(&self.idempotency_replay_window_seconds), "limits.idempotency_replay_window_seconds must be 60 s to a year"),
            ((1..=10_000).contains(&self.avatars_kept), "limits.avatars_kept must be 1 to 10000"),
            ((1..=7 * 24 * 3600).contains(&self.retention_interval_seconds), "limits.retention_interval_seconds must be 1 s to a week"),
            ((64..=100_000_000).contains(&self.avatar_max_pixels), "limits.avatar_max_pixels must be 64 to 100000000"),
            (self.password_hashing_concurrency <= 256, "limits.password_hashing_concurrency must be 0 (one per core) to 256"),
            ((1..=100_000).contains(&self.password_hashing_queue_max), "limits.password_hashing_queue_max must be 1 to 100000"),
            ((1..=60_000).contains(&self.password_hashing_wait_ms), "limits.password_hashing_wait_ms must be 1 to 60000"),
            (self.name_completion_threshold_fen >= 1, "limits.name_completion_threshold_fen must be at least 1"),
            ((1..=20).contains(&self.name_completion_attempts_max), "limits.name_completion_attempts_max must be 1 to 20"),
            ((60..=30 * 24 * 3600).contains(&self.name_completion_lock_seconds), "limits.name_completion_lock_seconds must be 60 s to 30 days"),
            (
                (self.name_completion_attempts_max..=100).contains(&self.name_completion_daily_failures_max),
                "limits.name_completion_daily_failures_max must be name_completion_attempts_max to 100",
            ),
            ((1..=10_000).contains(&self.payee_checks_daily_max), "limits.payee_checks_daily_max must be 1 to 10000"),
            ((60..=30 * 24 * 3600).contains(&self.acceptance_window_seconds), "limits.acceptance_window_seconds must be 60 s to 30 days"),
            (self.profile_changes_per_day >= 2, "limits.profile_changes_per_day must be at least 2"),
            (self.login_failures_max >= 1, "limits.login_failures_max must be at least 1"),
            ((1..=7 * 24 * 3600).contains(&self.login_failure_window_seconds), "limits.login_failure_window_seconds must be 1 s to a week"),
            (self.transfer_max_fen > 0, "limits.transfer_max_fen must be positive"),
            (self.topup_max_fen > 0, "limits.topup_max_fen must be positive"),
            (self.withdrawal_max_fen > 0, "limits.withdrawal_max_fen must be positive"),
            ((0..=150).contains(&self.verification_min_age_years), "limits.verification_min_age_years must be 0 to 150"),
            (self.accounts_per_identity_max >= 1, "limits.accounts_per_identity_max must be at least 1"),
            ((60..=366 * 24 * 3600).contains(&self.session_ttl_seconds), "limits.session_ttl_seconds must be 60 s to a year"),
            (self.request_body_max_bytes >= 1024, "limits.request_body_max_bytes must be at least 1024"),
            (self.avatar_max_bytes >= 64 && self.avatar_max_bytes <= self.request_body_max_bytes, "limits.avatar_max_bytes must be 64 bytes to request_body_max_bytes"),
            (self.request_timeout_ms >= 100, "limits.request_timeout_ms must be at least 100"),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, problem)) => Err((*problem).to_owned()),
            None => Ok(()),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            transfer_max_fen: 5_000_000,
            topup_max_fen: 5_000_000,
            withdrawal_max_fen: 5_000_000,
            verification_min_age_years: 16,
            accounts_per_identity_max: 1,
            session_ttl_seconds: 30 * 24 * 3600,
            request_body_max_bytes: 1024 * 1024,
            avatar_max_bytes: 512 * 1024,
            avatar_max_pixels: 16_777_216,
            request_timeout_ms: 10_000,
            profile_changes_per_day: 10,
            login_failures_max: 5,
            login_failure_window_seconds: 15 * 60,
            acceptance_window_seconds: 24 * 3600,
            name_completion_threshold_fen: 100_000,
            name_completion_attempts_max: 3,
            name_completion_lock_seconds: 24 * 3600,
            name_completion_daily_failures_max: 10,
            payee_checks_daily_max: 50,
            password_hashing_concurrency: 0,
            password_hashing_queue_max: 64,
            password_hashing_wait_ms: 2_000,
            rate_limits: RateLimits::Enforce,
            registrations_per_address_per_hour: 100,
            logins_per_address_per_minute: 60,
            trusted_proxies: Vec::new(),
            lookup_budget_tokens: 1_000,
            lookup_budget_refill_per_minute: 20,
            lookup_cost_found: 1,
            lookup_cost_missing: 20,
            transfers_per_minute_max: 120,
            idempotency_replay_window_seconds: 7 * 24 * 3600,
            avatars_kept: 20,
            retention_interval_seconds: 3600,
            disk_free_min_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The name-completion limits, as the domain's rules take them.
    pub fn completion(&self) -> recourse_domain::confirmation::CompletionLimits {
        recourse_domain::confirmation::CompletionLimits {
            threshold_fen: self.name_completion_threshold_fen,
            attempts_max: self.name_completion_attempts_max,
            lock_seconds: self.name_completion_lock_seconds,
            daily_failures_max: self.name_completion_daily_failures_max,
        }
    }
}

/// A trusted proxy setting: an address or a CIDR block.
pub fn parse_proxy(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| text.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// `Debug` leaves the identity key out.
#[derive(Clone)]
pub struct ServiceConfig {
    pub limits: Limits,
    pub password_hashing: PasswordHashing,
    /// 32-byte master key for identity data (AES-256-GCM and blind indexes).
    pub identity_key: [u8; 32],
    /// The id the store gave this key (`Store::claim_key`); 1 for a store's first key.
    pub identity_key_id: u8,
    /// During a rotation, the previous key and its id: old rows are read
    /// with it, and blind-index lookups search under both keys.
    pub identity_key_previous: Option<([u8; 32], u8)>,
    /// Expose `POST /v1/test/clock`.
    pub test_clock: bool,
    /// The operator's time zone (IANA name), for dates such as ages.
    pub time_zone: String,
    /// The risk decision's rules (`[risk]`).
    pub risk: recourse_domain::risk::RiskPolicy,
    /// Claims: filing window, payee answer time, holds, service levels,
    /// compensation, tracing (`[claims]`).
    pub claims: recourse_domain::claim::ClaimsPolicy,
    /// How often each process's scheduler looks for due work (arrivals,
    /// expiries). Due times live in the store, so this only bounds how late
    /// an action can run, never whether it runs.
    pub scheduler_interval_ms: u64,
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("limits", &self.limits)
            .field("identity_key", &"(hidden)")
            .field("identity_key_id", &self.identity_key_id)
            .field("identity_key_previous", &self.identity_key_previous.as_ref().map(|(_, id)| format!("(hidden, id {id})")))
            .field("test_clock", &self.test_clock)
            .field("time_zone", &self.time_zone)
            .field("risk", &self.risk)
            .field("claims", &self.claims)
            .field("scheduler_interval_ms", &self.scheduler_interval_ms)
            .finish_non_exhaustive()
    }
}

impl ServiceConfig {
    /// Settings for tests and benchmarks: cheap hashing, a random key, test clock on.
    pub fn for_tests() -> ServiceConfig {
        ServiceConfig {
            // The project's tests observe the capacity limits (they send
            // many requests from one address); the tests of the limits
            // themselves enforce them.
            limits: Limits { rate_limits: RateLimits::Observe, ..Limits::default() },
            password_hashing: PasswordHashing::cheap_for_tests(),
            identity_key: crate::vault::random_key(),
            identity_key_id: crate::vault::FIRST_KEY_ID,
            identity_key_previous: None,
            test_clock: true,
            time_zone: "Asia/Shanghai".into(),
            risk: recourse_domain::risk::RiskPolicy::default(),
            claims: recourse_domain::claim::ClaimsPolicy::default(),
            scheduler_interval_ms: 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_identity_key() {
        let mut config = ServiceConfig::for_tests();
        config.identity_key = [0xAB; 32];
        config.identity_key_previous = Some(([0xCD; 32], 1));
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("abab"), "{shown}");
        assert!(!shown.contains("205") && !shown.to_lowercase().contains("cdcd"), "{shown}");
        assert!(shown.contains("(hidden)"));
    }
}
