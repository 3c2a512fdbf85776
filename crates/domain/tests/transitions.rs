//! The transfer state machine, cell by cell: every (status, event) pair of
//! `next_status`, every (from, to) pair of `ledger_step`, what `decide`,
//! `claim_return_step`, `may_request`, `plan` and `overdue_event` answer at
//! their edges. Written so that changing any one rule fails a test
//! (mutation testing, `scripts/mutants`).

use recourse_domain::UserId;
use recourse_domain::ledger::EntryKind;
use recourse_domain::transfer::{
    Actor, Arrival, ConflictingOptions, IllegalTransition, Step, TransferEvent, TransferMode, TransferOptions, TransferStatus, claim_return_step, decide,
    ledger_step, may_request, next_status, overdue_event, plan,
};

use TransferEvent as E;
use TransferStatus as S;

/// The whole transition table, as the module's diagram draws it.
fn expected_next(from: S, event: E) -> Option<S> {
    match (from, event) {
        (S::PendingArrival, E::Arrive) => Some(S::Completed),
        (S::PendingArrival, E::Revoke) => Some(S::Revoked),
        (S::AwaitingAcceptance, E::Accept) => Some(S::Completed),
        (S::AwaitingAcceptance, E::Decline) => Some(S::Declined),
        (S::AwaitingAcceptance, E::Revoke) => Some(S::Revoked),
        (S::AwaitingAcceptance, E::Expire) => Some(S::ExpiredRefunded),
        (S::Completed, E::Return) => Some(S::Returned),
        _ => None,
    }
}

#[test]
fn every_cell_of_the_transition_table() {
    let mut legal = 0;
    for from in S::ALL {
        for event in E::ALL {
            let got = next_status(from, event);
            match expected_next(from, event) {
                Some(to) => {
                    legal += 1;
                    assert_eq!(got, Ok(to), "{from:?} + {event:?}");
                }
                None => assert_eq!(got, Err(IllegalTransition { from, event }), "{from:?} + {event:?}"),
            }
        }
    }
    assert_eq!(legal, 7, "seven legal transitions, 42 illegal ones");
}

#[test]
fn each_legal_transition_by_name() {
    assert_eq!(next_status(S::PendingArrival, E::Arrive), Ok(S::Completed));
    assert_eq!(next_status(S::PendingArrival, E::Revoke), Ok(S::Revoked));
    assert_eq!(next_status(S::AwaitingAcceptance, E::Accept), Ok(S::Completed));
    assert_eq!(next_status(S::AwaitingAcceptance, E::Decline), Ok(S::Declined));
    assert_eq!(next_status(S::AwaitingAcceptance, E::Revoke), Ok(S::Revoked));
    assert_eq!(next_status(S::AwaitingAcceptance, E::Expire), Ok(S::ExpiredRefunded));
    assert_eq!(next_status(S::Completed, E::Return), Ok(S::Returned));
    // Near misses: right event, wrong status.
    assert!(next_status(S::PendingArrival, E::Accept).is_err());
    assert!(next_status(S::PendingArrival, E::Expire).is_err());
    assert!(next_status(S::AwaitingAcceptance, E::Arrive).is_err());
    assert!(next_status(S::PendingArrival, E::Return).is_err());
    assert!(next_status(S::Returned, E::Return).is_err());
}

#[test]
fn finality_and_money_in_flight() {
    let final_ones = [S::Revoked, S::Declined, S::ExpiredRefunded, S::Returned];
    let in_flight = [S::PendingArrival, S::AwaitingAcceptance];
    for status in S::ALL {
        assert_eq!(status.is_final(), final_ones.contains(&status), "{status:?}");
        assert_eq!(status.is_in_flight(), in_flight.contains(&status), "{status:?}");
    }
    // Completed is neither: a claim can still return it.
    assert!(!S::Completed.is_final() && !S::Completed.is_in_flight());
}

#[test]
fn every_ledger_step() {
    for from in S::ALL {
        for to in S::ALL {
            let expected = match (from, to) {
                (S::PendingArrival | S::AwaitingAcceptance, S::Completed) => Some(EntryKind::Settle),
                (S::PendingArrival | S::AwaitingAcceptance, S::Revoked | S::Declined | S::ExpiredRefunded) => Some(EntryKind::Release),
                _ => None,
            };
            assert_eq!(ledger_step(from, to), expected, "{from:?} -> {to:?}");
        }
    }
    // A claim's return moves no money in the transfer itself.
    assert_eq!(ledger_step(S::Completed, S::Returned), None);
}

#[test]
fn decide_moves_with_the_right_ledger_step() {
    for from in S::ALL {
        for event in [E::Arrive, E::Accept, E::Decline, E::Revoke, E::Expire] {
            let expected = match expected_next(from, event) {
                Some(to) => Ok(Step::Move { to, ledger: ledger_step(from, to) }),
                None => Err(IllegalTransition { from, event }),
            };
            // The last event was the creation: nothing has happened yet.
            assert_eq!(decide(from, E::Create, event), expected, "{from:?} asked {event:?}");
        }
    }
    assert_eq!(decide(S::PendingArrival, E::Create, E::Arrive), Ok(Step::Move { to: S::Completed, ledger: Some(EntryKind::Settle) }));
    assert_eq!(decide(S::AwaitingAcceptance, E::Create, E::Expire), Ok(Step::Move { to: S::ExpiredRefunded, ledger: Some(EntryKind::Release) }));
}

#[test]
fn decide_refuses_what_nobody_may_ask_for() {
    // Create and Return are never asked for, whatever the transfer's state,
    // even right after the same event.
    for from in S::ALL {
        for last in E::ALL {
            for event in [E::Create, E::Return] {
                assert_eq!(decide(from, last, event), Err(IllegalTransition { from, event }), "{from:?} after {last:?}, asked {event:?}");
            }
        }
    }
}

#[test]
fn decide_answers_a_repeat_as_already_done() {
    for event in [E::Arrive, E::Accept, E::Decline, E::Revoke, E::Expire] {
        for current in S::ALL {
            assert_eq!(decide(current, event, event), Ok(Step::AlreadyDone), "{current:?}, {event:?} twice");
        }
    }
    // A different last event is not a repeat: the table decides.
    assert_eq!(decide(S::Completed, E::Accept, E::Revoke), Err(IllegalTransition { from: S::Completed, event: E::Revoke }));
    assert_eq!(decide(S::AwaitingAcceptance, E::Revoke, E::Accept), Ok(Step::Move { to: S::Completed, ledger: Some(EntryKind::Settle) }));
}

#[test]
fn a_claim_returns_only_a_completed_transfer() {
    for current in S::ALL {
        let expected = if current == S::Completed {
            Ok(Step::Move { to: S::Returned, ledger: None })
        } else {
            Err(IllegalTransition { from: current, event: E::Return })
        };
        assert_eq!(claim_return_step(current), expected, "{current:?}");
    }
}

#[test]
fn who_may_ask_for_what() {
    let staff = Actor::Staff(UserId::new());
    for actor in [Actor::Payer, Actor::Payee, Actor::System, staff] {
        for event in E::ALL {
            let expected = matches!(
                (actor, event),
                (Actor::Payer, E::Revoke) | (Actor::Payee, E::Accept | E::Decline) | (Actor::System, E::Arrive | E::Expire)
            );
            assert_eq!(may_request(actor, event), expected, "{actor:?} asks {event:?}");
        }
    }
}

#[test]
fn the_scheduler_knows_what_is_due_and_when() {
    assert_eq!(TransferMode::Instant.due(), None);
    assert_eq!(TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: 42 }.due(), Some((E::Arrive, 42)));
    assert_eq!(TransferMode::AcceptanceRequired { expires_at_us: -7 }.due(), Some((E::Expire, -7)));
    let delayed = TransferMode::Delayed { arrival: Arrival::After24Hours, arrives_at_us: 5 };
    let asking = TransferMode::AcceptanceRequired { expires_at_us: 5 };
    assert_eq!(delayed.initial_status(), S::PendingArrival);
    assert_eq!(asking.initial_status(), S::AwaitingAcceptance);
    assert_eq!(TransferMode::Instant.initial_status(), S::Completed);
    assert_eq!(delayed.creation_entry(), EntryKind::Reserve);
    assert_eq!(asking.creation_entry(), EntryKind::Reserve);
    assert_eq!(TransferMode::Instant.creation_entry(), EntryKind::Post);
}

#[test]
fn a_passed_deadline_decides_at_the_exact_microsecond() {
    let delayed = TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: 1_000 };
    let asking = TransferMode::AcceptanceRequired { expires_at_us: 1_000 };
    // One microsecond before: the request itself decides.
    assert_eq!(overdue_event(S::PendingArrival, delayed, E::Revoke, 999), None);
    assert_eq!(overdue_event(S::AwaitingAcceptance, asking, E::Accept, 999), None);
    // At and after the deadline: the due event first.
    for now in [1_000, 1_001, i64::MAX] {
        assert_eq!(overdue_event(S::PendingArrival, delayed, E::Revoke, now), Some(E::Arrive), "{now}");
        assert_eq!(overdue_event(S::AwaitingAcceptance, asking, E::Accept, now), Some(E::Expire), "{now}");
        assert_eq!(overdue_event(S::AwaitingAcceptance, asking, E::Decline, now), Some(E::Expire), "{now}");
        assert_eq!(overdue_event(S::AwaitingAcceptance, asking, E::Revoke, now), Some(E::Expire), "{now}");
        // The due event itself is not overdue of itself.
        assert_eq!(overdue_event(S::PendingArrival, delayed, E::Arrive, now), None);
        assert_eq!(overdue_event(S::AwaitingAcceptance, asking, E::Expire, now), None);
    }
    // Not in flight any more: nothing is due, however late.
    for status in S::ALL.into_iter().filter(|s| !s.is_in_flight()) {
        assert_eq!(overdue_event(status, delayed, E::Revoke, 5_000), None, "{status:?}");
        assert_eq!(overdue_event(status, asking, E::Accept, 5_000), None, "{status:?}");
    }
    // Before the deadline, in flight, a different event: still nothing.
    assert_eq!(overdue_event(S::PendingArrival, delayed, E::Arrive, 0), None);
    assert_eq!(overdue_event(S::PendingArrival, TransferMode::Instant, E::Revoke, 5_000), None);
}

#[test]
fn arrival_delays_are_exact() {
    const HOUR_US: i64 = 3_600_000_000;
    assert_eq!(Arrival::Instant.delay_us(), 0);
    assert_eq!(Arrival::After2Hours.delay_us(), 7_200_000_000);
    assert_eq!(Arrival::After24Hours.delay_us(), 24 * HOUR_US);
    assert_eq!(Arrival::After24Hours.delay_us(), 86_400_000_000);
}

fn options() -> TransferOptions {
    TransferOptions { arrival: None, acceptance_required: false, payer_default_arrival: Arrival::Instant, payee_requires_acceptance: false }
}

#[test]
fn planning_each_combination() {
    const NOW: i64 = 10;
    const WINDOW: i64 = 1_000;
    let accepted = Ok(TransferMode::AcceptanceRequired { expires_at_us: NOW + WINDOW });
    for arrival in [None, Some(Arrival::Instant), Some(Arrival::After2Hours), Some(Arrival::After24Hours)] {
        for default in Arrival::ALL {
            for acceptance_required in [false, true] {
                for payee_requires_acceptance in [false, true] {
                    let o = TransferOptions { arrival, acceptance_required, payer_default_arrival: default, payee_requires_acceptance };
                    let explicit_delay = matches!(arrival, Some(Arrival::After2Hours | Arrival::After24Hours));
                    let expected = if acceptance_required && explicit_delay {
                        Err(ConflictingOptions)
                    } else if acceptance_required || payee_requires_acceptance {
                        accepted
                    } else {
                        match arrival.unwrap_or(default) {
                            Arrival::Instant => Ok(TransferMode::Instant),
                            delayed => Ok(TransferMode::Delayed { arrival: delayed, arrives_at_us: NOW + delayed.delay_us() }),
                        }
                    };
                    assert_eq!(plan(o, NOW, WINDOW), expected, "{o:?}");
                }
            }
        }
    }
    // The payee's setting alone asks for acceptance, even with a delay asked.
    let o = TransferOptions { arrival: Some(Arrival::After2Hours), payee_requires_acceptance: true, ..options() };
    assert_eq!(plan(o, NOW, WINDOW), accepted);
    // Far in the future the deadline saturates instead of wrapping.
    let o = TransferOptions { acceptance_required: true, ..options() };
    assert_eq!(plan(o, i64::MAX - 1, WINDOW), Ok(TransferMode::AcceptanceRequired { expires_at_us: i64::MAX }));
}

#[test]
fn names_of_events_statuses_arrivals_and_actors() {
    let events = [(E::Create, "create"), (E::Arrive, "arrive"), (E::Accept, "accept"), (E::Decline, "decline"), (E::Revoke, "revoke"), (E::Expire, "expire"), (E::Return, "return")];
    for (event, text) in events {
        assert_eq!(event.as_str(), text);
        assert_eq!(E::parse(text), Some(event));
    }
    let statuses = [
        (S::PendingArrival, "pending_arrival"),
        (S::AwaitingAcceptance, "awaiting_acceptance"),
        (S::Completed, "completed"),
        (S::Revoked, "revoked"),
        (S::Declined, "declined"),
        (S::ExpiredRefunded, "expired_refunded"),
        (S::Returned, "returned"),
    ];
    for (status, text) in statuses {
        assert_eq!(status.as_str(), text);
        assert_eq!(S::parse(text), Some(status));
    }
    for (arrival, text) in [(Arrival::Instant, "instant"), (Arrival::After2Hours, "2h"), (Arrival::After24Hours, "24h")] {
        assert_eq!(arrival.as_str(), text);
        assert_eq!(Arrival::parse(text), Some(arrival));
    }
    for unknown in ["", "xyzzy", "Completed", "1h"] {
        assert_eq!(E::parse(unknown), None);
        assert_eq!(S::parse(unknown), None);
        assert_eq!(Arrival::parse(unknown), None);
        assert_eq!(Actor::parse(unknown), None);
    }
    assert_eq!(Actor::Payer.as_name(), Some("payer"));
    assert_eq!(Actor::Payee.as_name(), Some("payee"));
    assert_eq!(Actor::System.as_name(), Some("system"));
    let id = UserId::new();
    assert_eq!(Actor::Staff(id).as_name(), None);
    assert_eq!(Actor::Payer.to_text(), "payer");
    assert_eq!(Actor::Payee.to_text(), "payee");
    assert_eq!(Actor::System.to_text(), "system");
    assert_eq!(Actor::Staff(id).to_text(), format!("staff:{id}"));
    assert_eq!(Actor::parse("payer"), Some(Actor::Payer));
    assert_eq!(Actor::parse("payee"), Some(Actor::Payee));
    assert_eq!(Actor::parse("system"), Some(Actor::System));
    assert_eq!(Actor::parse(&format!("staff:{id}")), Some(Actor::Staff(id)));
    assert_eq!(Actor::parse(&id.to_string()), None, "a bare id is not an actor");
}
