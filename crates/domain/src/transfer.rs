//! The transfer state machine: the one place that says which status may follow
//! which, how a new transfer starts, and which ledger step each transition
//! takes. Instant transfers are born `completed`; delayed ones are born
//! `pending_arrival` and acceptance-required ones `awaiting_acceptance`, and
//! they move on only through [`decide`].
//!
//! ```text
//!                 arrive (system, at arrives_at)
//!  pending_arrival ─────────────────────────────► completed ──return──► returned
//!        │ revoke (payer)                             ▲
//!        ▼                                            │ accept (payee)
//!     revoked ◄──revoke (payer)── awaiting_acceptance ┘
//!                                   │            │
//!                      decline (payee)          expire (system, at expires_at)
//!                                   ▼            ▼
//!                              declined    expired_refunded
//! ```

use serde::Serialize;
use thiserror::Error;

use crate::UserId;
use crate::ledger::EntryKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferStatus {
    PendingArrival,
    AwaitingAcceptance,
    Completed,
    Revoked,
    Declined,
    ExpiredRefunded,
    Returned,
}

/// Everything that can happen to a transfer. `Create` only ever starts a
/// history; every other event is a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferEvent {
    Create,
    Arrive,
    Accept,
    Decline,
    Revoke,
    Expire,
    Return,
}

impl TransferEvent {
    pub const ALL: [TransferEvent; 7] = [
        TransferEvent::Create,
        TransferEvent::Arrive,
        TransferEvent::Accept,
        TransferEvent::Decline,
        TransferEvent::Revoke,
        TransferEvent::Expire,
        TransferEvent::Return,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransferEvent::Create => "create",
            TransferEvent::Arrive => "arrive",
            TransferEvent::Accept => "accept",
            TransferEvent::Decline => "decline",
            TransferEvent::Revoke => "revoke",
            TransferEvent::Expire => "expire",
            TransferEvent::Return => "return",
        }
    }

    pub fn parse(s: &str) -> Option<TransferEvent> {
        TransferEvent::ALL.into_iter().find(|event| event.as_str() == s)
    }
}

/// Who made something happen to a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    Payer,
    Payee,
    /// The scheduler: arrivals and expiries.
    System,
    Staff(UserId),
}

impl Actor {
    /// `payer`, `payee`, `system` or `staff:<user id>`.
    pub fn to_text(self) -> String {
        match self {
            Actor::Staff(id) => format!("staff:{id}"),
            named => named.as_name().unwrap_or_default().to_owned(),
        }
    }

    /// The text of an actor that has no id (`None` for staff).
    pub fn as_name(self) -> Option<&'static str> {
        match self {
            Actor::Payer => Some("payer"),
            Actor::Payee => Some("payee"),
            Actor::System => Some("system"),
            Actor::Staff(_) => None,
        }
    }

    pub fn parse(s: &str) -> Option<Actor> {
        match s {
            "payer" => Some(Actor::Payer),
            "payee" => Some(Actor::Payee),
            "system" => Some(Actor::System),
            other => other.strip_prefix("staff:").and_then(|id| id.parse().ok()).map(Actor::Staff),
        }
    }
}

/// When the money reaches the payee, as the payer asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Arrival {
    #[serde(rename = "instant")]
    Instant,
    #[serde(rename = "2h")]
    After2Hours,
    #[serde(rename = "24h")]
    After24Hours,
}

impl Arrival {
    pub const ALL: [Arrival; 3] = [Arrival::Instant, Arrival::After2Hours, Arrival::After24Hours];

    pub fn as_str(self) -> &'static str {
        match self {
            Arrival::Instant => "instant",
            Arrival::After2Hours => "2h",
            Arrival::After24Hours => "24h",
        }
    }

    pub fn parse(s: &str) -> Option<Arrival> {
        Arrival::ALL.into_iter().find(|arrival| arrival.as_str() == s)
    }

    pub fn delay_us(self) -> i64 {
        const HOUR_US: i64 = 3_600_000_000;
        match self {
            Arrival::Instant => 0,
            Arrival::After2Hours => 2 * HOUR_US,
            Arrival::After24Hours => 24 * HOUR_US,
        }
    }
}

/// How a new transfer travels: decided once, when it is created, by [`plan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferMode {
    /// Money moves now; the transfer is born `completed`.
    Instant,
    /// The payer's funds are held now and reach the payee at `arrives_at_us`;
    /// until then the payer may revoke.
    Delayed { arrival: Arrival, arrives_at_us: i64 },
    /// The payer's funds are held until the payee accepts (money moves) or
    /// declines, the payer revokes, or `expires_at_us` passes (released).
    AcceptanceRequired { expires_at_us: i64 },
}

impl TransferMode {
    pub fn initial_status(self) -> TransferStatus {
        match self {
            TransferMode::Instant => TransferStatus::Completed,
            TransferMode::Delayed { .. } => TransferStatus::PendingArrival,
            TransferMode::AcceptanceRequired { .. } => TransferStatus::AwaitingAcceptance,
        }
    }

    /// The ledger step taken when the transfer is created.
    pub fn creation_entry(self) -> EntryKind {
        match self {
            TransferMode::Instant => EntryKind::Post,
            TransferMode::Delayed { .. } | TransferMode::AcceptanceRequired { .. } => EntryKind::Reserve,
        }
    }

    /// The event the scheduler fires, and when, if nobody acts first.
    pub fn due(self) -> Option<(TransferEvent, i64)> {
        match self {
            TransferMode::Instant => None,
            TransferMode::Delayed { arrives_at_us, .. } => Some((TransferEvent::Arrive, arrives_at_us)),
            TransferMode::AcceptanceRequired { expires_at_us } => Some((TransferEvent::Expire, expires_at_us)),
        }
    }
}

/// What the payer asked for and what the payee's settings say.
#[derive(Clone, Copy, Debug)]
pub struct TransferOptions {
    /// `arrival` as sent; `None` falls back to the payer's default.
    pub arrival: Option<Arrival>,
    /// `"acceptance": "required"` as sent.
    pub acceptance_required: bool,
    pub payer_default_arrival: Arrival,
    /// The payee asked to accept every transfer before it reaches them.
    pub payee_requires_acceptance: bool,
}

#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[error("a transfer that needs the payee's acceptance arrives when accepted; do not also ask for a delayed arrival")]
pub struct ConflictingOptions;

/// Decide how a new transfer travels. Acceptance wins over a delay: the money
/// cannot reach the payee before they accept it anyway. Asking for both in
/// one request is refused, because the payer would not get what they asked.
pub fn plan(options: TransferOptions, now_us: i64, acceptance_window_us: i64) -> Result<TransferMode, ConflictingOptions> {
    assert!(acceptance_window_us > 0);
    let explicit_delay = options.arrival.is_some_and(|arrival| arrival != Arrival::Instant);
    if options.acceptance_required && explicit_delay {
        return Err(ConflictingOptions);
    }
    if options.acceptance_required || options.payee_requires_acceptance {
        return Ok(TransferMode::AcceptanceRequired { expires_at_us: now_us.saturating_add(acceptance_window_us) });
    }
    let arrival = options.arrival.unwrap_or(options.payer_default_arrival);
    Ok(match arrival {
        Arrival::Instant => TransferMode::Instant,
        delayed => TransferMode::Delayed { arrival: delayed, arrives_at_us: now_us.saturating_add(delayed.delay_us()) },
    })
}

#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
#[error("a transfer that is {from:?} cannot take the event {event:?}")]
pub struct IllegalTransition {
    pub from: TransferStatus,
    pub event: TransferEvent,
}

impl TransferStatus {
    pub const ALL: [TransferStatus; 7] = [
        TransferStatus::PendingArrival,
        TransferStatus::AwaitingAcceptance,
        TransferStatus::Completed,
        TransferStatus::Revoked,
        TransferStatus::Declined,
        TransferStatus::ExpiredRefunded,
        TransferStatus::Returned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TransferStatus::PendingArrival => "pending_arrival",
            TransferStatus::AwaitingAcceptance => "awaiting_acceptance",
            TransferStatus::Completed => "completed",
            TransferStatus::Revoked => "revoked",
            TransferStatus::Declined => "declined",
            TransferStatus::ExpiredRefunded => "expired_refunded",
            TransferStatus::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Option<TransferStatus> {
        TransferStatus::ALL.into_iter().find(|status| status.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, TransferStatus::Revoked | TransferStatus::Declined | TransferStatus::ExpiredRefunded | TransferStatus::Returned)
    }

    /// Money is held for the transfer and has not reached the payee.
    pub fn is_in_flight(self) -> bool {
        matches!(self, TransferStatus::PendingArrival | TransferStatus::AwaitingAcceptance)
    }
}

/// The transition table. Anything not listed is illegal.
pub fn next_status(from: TransferStatus, event: TransferEvent) -> Result<TransferStatus, IllegalTransition> {
    use TransferEvent as E;
    use TransferStatus as S;
    let to = match (from, event) {
        (S::PendingArrival, E::Arrive) => S::Completed,
        (S::PendingArrival, E::Revoke) => S::Revoked,
        (S::AwaitingAcceptance, E::Accept) => S::Completed,
        (S::AwaitingAcceptance, E::Decline) => S::Declined,
        (S::AwaitingAcceptance, E::Revoke) => S::Revoked,
        (S::AwaitingAcceptance, E::Expire) => S::ExpiredRefunded,
        // A claim got the whole amount back (`claim_return_step`); the
        // money moved in the claim's own operations.
        (S::Completed, E::Return) => S::Returned,
        _ => return Err(IllegalTransition { from, event }),
    };
    Ok(to)
}

/// The ledger step a transition takes: money in flight either reaches the
/// payee (settle) or goes back to the payer (release).
pub fn ledger_step(from: TransferStatus, to: TransferStatus) -> Option<EntryKind> {
    match (from.is_in_flight(), to) {
        (true, TransferStatus::Completed) => Some(EntryKind::Settle),
        (true, TransferStatus::Revoked | TransferStatus::Declined | TransferStatus::ExpiredRefunded) => Some(EntryKind::Release),
        _ => None,
    }
}

/// What asking for `event` does to a transfer that is `current`, whose last
/// event was `last_event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A legal transition: write it.
    Move { to: TransferStatus, ledger: Option<EntryKind> },
    /// The same transition was already made (a retried revoke, accept,
    /// decline): nothing to write, answer with the transfer as it is.
    AlreadyDone,
}

pub fn decide(current: TransferStatus, last_event: TransferEvent, event: TransferEvent) -> Result<Step, IllegalTransition> {
    if !may_anyone_request(event) {
        return Err(IllegalTransition { from: current, event });
    }
    if event != TransferEvent::Create && last_event == event {
        return Ok(Step::AlreadyDone);
    }
    let to = next_status(current, event)?;
    Ok(Step::Move { to, ledger: ledger_step(current, to) })
}

/// A claim on a completed transfer got the whole amount back: the transfer
/// becomes `returned`. No one asks for this directly (`decide` refuses it);
/// the money came back in the claim's own ledger operations, so the step
/// moves none.
pub fn claim_return_step(current: TransferStatus) -> Result<Step, IllegalTransition> {
    let to = next_status(current, TransferEvent::Return)?;
    Ok(Step::Move { to, ledger: None })
}

fn may_anyone_request(event: TransferEvent) -> bool {
    !matches!(event, TransferEvent::Create | TransferEvent::Return)
}

/// A deadline that has passed decides first: once `arrives_at` (or
/// `expires_at`) is behind the clock, the transfer has arrived (or expired)
/// whether or not the scheduler has run yet, so a revoke, accept or decline
/// asked for after it is too late. `Some(event)`: fire this due event first.
pub fn overdue_event(status: TransferStatus, mode: TransferMode, event: TransferEvent, now_us: i64) -> Option<TransferEvent> {
    let (due_event, due_at_us) = mode.due()?;
    (status.is_in_flight() && now_us >= due_at_us && event != due_event).then_some(due_event)
}

/// Whether `actor` may ask for `event`. The scheduler alone makes money
/// arrive or expire; only the payer revokes; only the payee answers.
pub fn may_request(actor: Actor, event: TransferEvent) -> bool {
    match event {
        TransferEvent::Revoke => actor == Actor::Payer,
        TransferEvent::Accept | TransferEvent::Decline => actor == Actor::Payee,
        TransferEvent::Arrive | TransferEvent::Expire => actor == Actor::System,
        TransferEvent::Return | TransferEvent::Create => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for status in TransferStatus::ALL {
            assert_eq!(TransferStatus::parse(status.as_str()), Some(status));
        }
        for event in TransferEvent::ALL {
            assert_eq!(TransferEvent::parse(event.as_str()), Some(event));
        }
        for arrival in Arrival::ALL {
            assert_eq!(Arrival::parse(arrival.as_str()), Some(arrival));
        }
        let staff = Actor::Staff(UserId::new());
        for actor in [Actor::Payer, Actor::Payee, Actor::System, staff] {
            assert_eq!(Actor::parse(&actor.to_text()), Some(actor));
        }
        assert_eq!(TransferStatus::parse("done"), None);
        assert_eq!(Actor::parse("staff:nope"), None);
    }

    #[test]
    fn final_states_accept_no_event() {
        for status in TransferStatus::ALL.into_iter().filter(|s| s.is_final()) {
            for event in TransferEvent::ALL {
                assert!(next_status(status, event).is_err(), "{status:?} {event:?}");
            }
        }
    }

    #[test]
    fn transition_table() {
        use EntryKind::{Release, Settle};
        use TransferEvent as E;
        use TransferStatus as S;
        let cases: &[(S, E, E, Result<Step, IllegalTransition>)] = &[
            (S::PendingArrival, E::Create, E::Arrive, Ok(Step::Move { to: S::Completed, ledger: Some(Settle) })),
            (S::PendingArrival, E::Create, E::Revoke, Ok(Step::Move { to: S::Revoked, ledger: Some(Release) })),
            (S::PendingArrival, E::Create, E::Accept, Err(IllegalTransition { from: S::PendingArrival, event: E::Accept })),
            (S::AwaitingAcceptance, E::Create, E::Accept, Ok(Step::Move { to: S::Completed, ledger: Some(Settle) })),
            (S::AwaitingAcceptance, E::Create, E::Decline, Ok(Step::Move { to: S::Declined, ledger: Some(Release) })),
            (S::AwaitingAcceptance, E::Create, E::Expire, Ok(Step::Move { to: S::ExpiredRefunded, ledger: Some(Release) })),
            (S::AwaitingAcceptance, E::Create, E::Revoke, Ok(Step::Move { to: S::Revoked, ledger: Some(Release) })),
            // Asked again: the answer is the transfer as it is.
            (S::Revoked, E::Revoke, E::Revoke, Ok(Step::AlreadyDone)),
            (S::Completed, E::Accept, E::Accept, Ok(Step::AlreadyDone)),
            (S::Declined, E::Decline, E::Decline, Ok(Step::AlreadyDone)),
            // Too late: another event won.
            (S::Completed, E::Arrive, E::Revoke, Err(IllegalTransition { from: S::Completed, event: E::Revoke })),
            (S::Completed, E::Arrive, E::Accept, Err(IllegalTransition { from: S::Completed, event: E::Accept })),
            (S::Revoked, E::Revoke, E::Arrive, Err(IllegalTransition { from: S::Revoked, event: E::Arrive })),
            (S::ExpiredRefunded, E::Expire, E::Accept, Err(IllegalTransition { from: S::ExpiredRefunded, event: E::Accept })),
            (S::Completed, E::Create, E::Revoke, Err(IllegalTransition { from: S::Completed, event: E::Revoke })),
            (S::Completed, E::Create, E::Return, Err(IllegalTransition { from: S::Completed, event: E::Return })),
        ];
        for (current, last, event, expected) in cases {
            assert_eq!(decide(*current, *last, *event), *expected, "{current:?} after {last:?}, asked {event:?}");
        }
    }

    #[test]
    fn deadlines_decide_first() {
        let delayed = TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: 100 };
        let asking = TransferMode::AcceptanceRequired { expires_at_us: 100 };
        use TransferEvent as E;
        use TransferStatus as S;
        assert_eq!(overdue_event(S::PendingArrival, delayed, E::Revoke, 99), None);
        assert_eq!(overdue_event(S::PendingArrival, delayed, E::Revoke, 100), Some(E::Arrive));
        assert_eq!(overdue_event(S::PendingArrival, delayed, E::Arrive, 100), None, "the due event itself");
        assert_eq!(overdue_event(S::AwaitingAcceptance, asking, E::Accept, 150), Some(E::Expire));
        assert_eq!(overdue_event(S::Completed, delayed, E::Revoke, 150), None, "no longer in flight");
        assert_eq!(overdue_event(S::Completed, TransferMode::Instant, E::Revoke, 150), None);
    }

    #[test]
    fn who_may_ask() {
        assert!(may_request(Actor::Payer, TransferEvent::Revoke));
        assert!(!may_request(Actor::Payee, TransferEvent::Revoke));
        assert!(may_request(Actor::Payee, TransferEvent::Accept));
        assert!(!may_request(Actor::Payer, TransferEvent::Accept));
        assert!(!may_request(Actor::Payer, TransferEvent::Arrive));
        assert!(may_request(Actor::System, TransferEvent::Expire));
    }

    #[test]
    fn planning_table() {
        const NOW: i64 = 1_000;
        const WINDOW: i64 = 86_400_000_000;
        let base = TransferOptions { arrival: None, acceptance_required: false, payer_default_arrival: Arrival::Instant, payee_requires_acceptance: false };
        let two_hours = Arrival::After2Hours.delay_us();
        let cases: &[(TransferOptions, Result<TransferMode, ConflictingOptions>)] = &[
            (base, Ok(TransferMode::Instant)),
            (TransferOptions { arrival: Some(Arrival::After2Hours), ..base }, Ok(TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: NOW + two_hours })),
            (TransferOptions { payer_default_arrival: Arrival::After24Hours, ..base }, Ok(TransferMode::Delayed { arrival: Arrival::After24Hours, arrives_at_us: NOW + 24 * 3_600_000_000 })),
            // An explicit "instant" overrides the payer's default.
            (TransferOptions { arrival: Some(Arrival::Instant), payer_default_arrival: Arrival::After24Hours, ..base }, Ok(TransferMode::Instant)),
            (TransferOptions { acceptance_required: true, ..base }, Ok(TransferMode::AcceptanceRequired { expires_at_us: NOW + WINDOW })),
            (TransferOptions { payee_requires_acceptance: true, payer_default_arrival: Arrival::After2Hours, ..base }, Ok(TransferMode::AcceptanceRequired { expires_at_us: NOW + WINDOW })),
            (TransferOptions { acceptance_required: true, arrival: Some(Arrival::After2Hours), ..base }, Err(ConflictingOptions)),
            (TransferOptions { acceptance_required: true, arrival: Some(Arrival::Instant), ..base }, Ok(TransferMode::AcceptanceRequired { expires_at_us: NOW + WINDOW })),
        ];
        for (options, expected) in cases {
            assert_eq!(plan(*options, NOW, WINDOW), *expected, "{options:?}");
        }
        assert_eq!(TransferMode::Instant.initial_status(), TransferStatus::Completed);
        assert_eq!(TransferMode::Instant.creation_entry(), EntryKind::Post);
    }
}
