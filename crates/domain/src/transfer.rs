//! The transfer state machine: the one place that says which status may follow
//! which. Instant transfers are born `completed`; the delayed and
//! acceptance-required modes (roadmap) are born `pending_arrival` or
//! `awaiting_acceptance` and move on only through [`next_status`].

use serde::Serialize;
use thiserror::Error;

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

/// Everything that can happen to a transfer after it is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferEvent {
    Arrive,
    Accept,
    Decline,
    Revoke,
    Expire,
    Return,
}

/// How the payer asked the money to travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferMode {
    Instant,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("a transfer that is {from:?} cannot be {event:?}d")]
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

    /// The status a new transfer starts in.
    pub fn initial(mode: TransferMode) -> TransferStatus {
        match mode {
            TransferMode::Instant => TransferStatus::Completed,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, TransferStatus::Revoked | TransferStatus::Declined | TransferStatus::ExpiredRefunded | TransferStatus::Returned)
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
        (S::Completed, E::Return) => S::Returned,
        _ => return Err(IllegalTransition { from, event }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for status in TransferStatus::ALL {
            assert_eq!(TransferStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TransferStatus::parse("done"), None);
    }

    #[test]
    fn final_states_accept_no_event() {
        let events = [TransferEvent::Arrive, TransferEvent::Accept, TransferEvent::Decline, TransferEvent::Revoke, TransferEvent::Expire, TransferEvent::Return];
        for status in TransferStatus::ALL.into_iter().filter(|s| s.is_final()) {
            for event in events {
                assert!(next_status(status, event).is_err(), "{status:?} {event:?}");
            }
        }
        assert_eq!(next_status(TransferStatus::PendingArrival, TransferEvent::Revoke), Ok(TransferStatus::Revoked));
        assert!(next_status(TransferStatus::Completed, TransferEvent::Revoke).is_err());
        assert_eq!(TransferStatus::initial(TransferMode::Instant), TransferStatus::Completed);
    }
}
