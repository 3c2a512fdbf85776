//! Property tests over the store: random sequences of top-ups, withdrawals,
//! transfers and idempotent retries — valid and invalid — against a simple
//! model. After every case the store must agree with the model on every
//! outcome and balance, and the ledger audit must be sound: balances sum to
//! zero per currency, no wallet has a negative available balance, and every
//! cached balance equals its journal replayed.
//!
//! A second property runs random interleavings of money in flight — instant,
//! delayed and acceptance-required transfers, revoke / accept / decline,
//! retries, and the test clock moving — through the service (the same
//! operations and scheduler the HTTP layer uses) against a model with its
//! own transition rules: every outcome, balance, `held` figure and history
//! must match, and nothing is ever paid twice.

mod common;

use std::collections::HashMap;

use proptest::prelude::*;
use recourse_domain::ledger::OperationKind;
use recourse_domain::refusal::Refusal;
use recourse_domain::transfer::{Arrival, TransferEvent, TransferMode, TransferStatus};
use recourse_service::Service;
use recourse_service::config::ServiceConfig;
use recourse_service::money::{PayeeRef, TransferCommand};
use recourse_domain::{AccountId, CardId, Currency, OperationId, Role, UserId};
use recourse_store::limits::Velocity;
use recourse_store::{BankMovementRecord, IdempotencyClaim, NewCard, NewUser, Outcome, Store, TransferRecord, TransitionOutcome, Verification};

const CUSTOMERS: usize = 4;

#[derive(Clone, Debug)]
enum Op {
    Topup { who: usize, amount: i64 },
    Withdraw { who: usize, amount: i64 },
    Transfer { from: usize, to: usize, amount: i64 },
    /// Send the request of an earlier operation again with its key.
    Retry { earlier: usize },
    /// Reuse an earlier operation's key with a different amount.
    Conflict { earlier: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..CUSTOMERS;
    let amount = prop_oneof![1i64..=500, 1i64..=20_000];
    prop_oneof![
        (who.clone(), amount.clone()).prop_map(|(who, amount)| Op::Topup { who, amount }),
        (who.clone(), amount.clone()).prop_map(|(who, amount)| Op::Withdraw { who, amount }),
        (who.clone(), who, amount).prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        (0usize..40).prop_map(|earlier| Op::Retry { earlier }),
        (0usize..40).prop_map(|earlier| Op::Conflict { earlier }),
    ]
}

struct Customer {
    user: UserId,
    wallet: AccountId,
    card: CardId,
}

async fn customers(store: &Store) -> Vec<Customer> {
    let mut out = Vec::new();
    for _ in 0..CUSTOMERS {
        let user = UserId::new();
        let wallet = AccountId::new();
        store
            .create_user(NewUser { id: user, phone: format!("+86{}", common::unique_phone()), password_hash: "x".into(), nickname: format!("p{}", common::unique_phone()), role: Role::Customer, wallet: Some(wallet), created_at_us: 1, avatar: None })
            .await
            .unwrap();
        let verification = Verification { legal_name_enc: vec![1], id_number_enc: vec![2], id_number_index: user.as_bytes().to_vec(), masked_name: "*明".into(), id_last4: "0000".into(), verified_at_us: 1 };
        store.verify_user(user, verification, 1).await.unwrap();
        let card = store.bind_card(NewCard { id: CardId::new(), user, card_enc: vec![3], card_index: vec![4], last4: "1111".into(), created_at_us: 1 }).await.unwrap();
        out.push(Customer { user, wallet, card: card.id });
    }
    out
}

/// What was sent, so that it can be retried.
#[derive(Clone)]
enum Sent {
    Bank { kind: OperationKind, who: usize, amount: i64, key: String, succeeded: bool },
    Transfer { from: usize, to: usize, amount: i64, key: String, succeeded: bool },
}

fn hash(parts: &[&str]) -> Vec<u8> {
    parts.join("\u{0}").into_bytes()
}

async fn run_case(store: &Store, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let people = customers(store).await;
    let mut model: HashMap<usize, i64> = (0..CUSTOMERS).map(|i| (i, 0)).collect();
    let mut sent: Vec<Sent> = Vec::new();
    for (index, op) in ops.into_iter().enumerate() {
        let key = format!("k{index}");
        let resolved = match op {
            Op::Topup { who, amount } => Some(Sent::Bank { kind: OperationKind::Topup, who, amount, key, succeeded: false }),
            Op::Withdraw { who, amount } => Some(Sent::Bank { kind: OperationKind::Withdrawal, who, amount, key, succeeded: false }),
            Op::Transfer { from, to, amount } if from != to => Some(Sent::Transfer { from, to, amount, key, succeeded: false }),
            Op::Transfer { .. } => None,
            Op::Retry { earlier } => sent.get(earlier).cloned(),
            Op::Conflict { earlier } => sent.get(earlier).cloned().map(|s| match s {
                Sent::Bank { kind, who, amount, key, succeeded } => Sent::Bank { kind, who, amount: amount + 1, key, succeeded },
                Sent::Transfer { from, to, amount, key, succeeded } => Sent::Transfer { from, to, amount: amount + 1, key, succeeded },
            }),
        };
        let Some(request) = resolved else { continue };
        match request {
            Sent::Bank { kind, who, amount, key, .. } => {
                let person = &people[who];
                let claim = IdempotencyClaim { caller: person.user, key: key.clone(), request_hash: hash(&[kind.as_str(), &amount.to_string()]) };
                let record = BankMovementRecord { id: OperationId::new(), kind, user: person.user, card: person.card, account: person.wallet, amount: recourse_domain::Amount::from_stored(amount), currency: Currency::Cny, created_at_us: 2 };
                let earlier = sent.iter().find_map(|s| match s {
                    Sent::Bank { kind: k, who: w, amount: a, key: kk, succeeded: true } if *kk == key && *w == who => Some((*k, *a)),
                    Sent::Transfer { from, key: kk, succeeded: true, .. } if *kk == key && *from == who => Some((OperationKind::Transfer, -1)),
                    _ => None,
                });
                let result = store.create_bank_movement(claim, record).await;
                match earlier {
                    Some((k, a)) if k == kind && a == amount => prop_assert!(matches!(result, Ok(Outcome::Replayed(_))), "replay expected: {result:?}"),
                    Some(_) => prop_assert!(matches!(result, Ok(Outcome::Refused(Refusal::IdempotencyKeyReused))), "conflict expected: {result:?}"),
                    None => {
                        let balance = model[&who];
                        let covered = kind == OperationKind::Topup || balance >= amount;
                        if covered {
                            prop_assert!(matches!(result, Ok(Outcome::Created(_))), "created expected: {result:?}");
                            *model.get_mut(&who).unwrap() += if kind == OperationKind::Topup { amount } else { -amount };
                            sent.push(Sent::Bank { kind, who, amount, key, succeeded: true });
                        } else {
                            prop_assert!(matches!(result, Ok(Outcome::Refused(Refusal::InsufficientFunds { .. }))), "refusal expected: {result:?}");
                            sent.push(Sent::Bank { kind, who, amount, key, succeeded: false });
                        }
                    }
                }
            }
            Sent::Transfer { from, to, amount, key, .. } => {
                let (payer, payee) = (&people[from], &people[to]);
                let claim = IdempotencyClaim { caller: payer.user, key: key.clone(), request_hash: hash(&["transfer", &to.to_string(), &amount.to_string()]) };
                let record = TransferRecord {
                    id: OperationId::new(),
                    payer: payer.user,
                    payee: payee.user,
                    payer_account: payer.wallet,
                    payee_account: payee.wallet,
                    amount: recourse_domain::Amount::from_stored(amount),
                    currency: Currency::Cny,
                    note: None,
                    status: TransferStatus::Completed,
                    mode: TransferMode::Instant,
                    created_at_us: 2,
                    updated_at_us: 2,
                    checks: "{}".into(),
                };
                let earlier = sent.iter().find_map(|s| match s {
                    Sent::Transfer { from: f, to: t, amount: a, key: kk, succeeded: true } if *kk == key && *f == from => Some(Some((*t, *a))),
                    Sent::Bank { who, key: kk, succeeded: true, .. } if *kk == key && *who == from => Some(None),
                    _ => None,
                });
                let result = store.create_transfer(claim, record, Velocity::UNLIMITED).await;
                match earlier {
                    Some(Some((t, a))) if t == to && a == amount => prop_assert!(matches!(result, Ok(Outcome::Replayed(_))), "replay expected: {result:?}"),
                    Some(_) => prop_assert!(matches!(result, Ok(Outcome::Refused(Refusal::IdempotencyKeyReused))), "conflict expected: {result:?}"),
                    None => {
                        if model[&from] >= amount {
                            prop_assert!(matches!(result, Ok(Outcome::Created(_))), "created expected: {result:?}");
                            *model.get_mut(&from).unwrap() -= amount;
                            *model.get_mut(&to).unwrap() += amount;
                            sent.push(Sent::Transfer { from, to, amount, key, succeeded: true });
                        } else {
                            prop_assert!(matches!(result, Ok(Outcome::Refused(Refusal::InsufficientFunds { .. }))), "refusal expected: {result:?}");
                            sent.push(Sent::Transfer { from, to, amount, key, succeeded: false });
                        }
                    }
                }
            }
        }
    }
    for (index, person) in people.iter().enumerate() {
        let balance = store.balance(person.wallet).await.unwrap();
        prop_assert_eq!(balance.balance.balance_fen, model[&index], "customer {}", index);
        prop_assert!(balance.balance.available_fen() >= 0);
    }
    let report = store.audit().await.unwrap();
    prop_assert!(report.is_sound(), "ledger problems: {:?}", report.problems);
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    Instant,
    In2Hours,
    In24Hours,
    Acceptance,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ask {
    Revoke,
    Accept,
    Decline,
}

#[derive(Clone, Debug)]
enum FlightOp {
    Topup { who: usize, amount: i64 },
    Send { from: usize, to: usize, amount: i64, how: How },
    Act { pick: usize, ask: Ask },
    Advance { hours: i64 },
    Retry { pick: usize },
}

fn flight_op() -> impl Strategy<Value = FlightOp> {
    let who = 0..CUSTOMERS;
    let how = prop_oneof![Just(How::Instant), Just(How::In2Hours), Just(How::In24Hours), Just(How::Acceptance)];
    let ask = prop_oneof![Just(Ask::Revoke), Just(Ask::Accept), Just(Ask::Decline)];
    prop_oneof![
        1 => (who.clone(), 1i64..=20_000).prop_map(|(who, amount)| FlightOp::Topup { who, amount }),
        4 => (who.clone(), who, 1i64..=8_000, how).prop_map(|(from, to, amount, how)| FlightOp::Send { from, to, amount, how }),
        3 => (0usize..64, ask).prop_map(|(pick, ask)| FlightOp::Act { pick, ask }),
        2 => (0i64..=26).prop_map(|hours| FlightOp::Advance { hours }),
        1 => (0usize..64).prop_map(|pick| FlightOp::Retry { pick }),
    ]
}

/// The model's own view of a transfer (its rules are written here, not
/// borrowed from the domain, so that a wrong transition table fails).
#[derive(Clone, Debug)]
struct ModelTransfer {
    id: OperationId,
    from: usize,
    to: usize,
    amount: i64,
    how: How,
    key: String,
    /// `pending_arrival`, `awaiting_acceptance`, `completed`, `revoked`, `declined`, `expired_refunded`.
    status: &'static str,
    last_event: &'static str,
    events: usize,
    due_hour: i64,
}

struct Model {
    total: Vec<i64>,
    held: Vec<i64>,
    transfers: Vec<ModelTransfer>,
    hour: i64,
}

impl Model {
    fn settle(&mut self, index: usize, status: &'static str, event: &'static str) {
        let t = &mut self.transfers[index];
        let (from, to, amount) = (t.from, t.to, t.amount);
        (t.status, t.last_event, t.events) = (status, event, t.events + 1);
        self.held[from] -= amount;
        if status == "completed" {
            self.total[from] -= amount;
            self.total[to] += amount;
        }
    }
}

fn command(people: &[recourse_store::UserRecord], t: &ModelTransfer) -> TransferCommand {
    TransferCommand {
        payer: people[t.from].clone(),
        payee: PayeeRef::Id(people[t.to].id),
        amount_fen: t.amount,
        note: None,
        arrival: match t.how {
            How::Instant => Some(Arrival::Instant),
            How::In2Hours => Some(Arrival::After2Hours),
            How::In24Hours => Some(Arrival::After24Hours),
            How::Acceptance => None,
        },
        acceptance_required: t.how == How::Acceptance,
        idempotency_key: t.key.clone(),
        answers: Default::default(),
    }
}

async fn run_flight_case(service: &Service, ops: Vec<FlightOp>) -> Result<(), TestCaseError> {
    let store = &service.store;
    let mut people = Vec::new();
    for customer in customers(store).await {
        people.push(store.user(customer.user).await.unwrap().unwrap());
    }
    let mut model = Model { total: vec![0; CUSTOMERS], held: vec![0; CUSTOMERS], transfers: Vec::new(), hour: 0 };
    let bank = customers(store).await;
    for (index, op) in ops.into_iter().enumerate() {
        match op {
            FlightOp::Topup { who, amount } => {
                let claim = IdempotencyClaim { caller: people[who].id, key: format!("t{index}"), request_hash: vec![1] };
                let record = BankMovementRecord { id: OperationId::new(), kind: OperationKind::Topup, user: bank[who].user, card: bank[who].card, account: people[who].wallet.unwrap(), amount: recourse_domain::Amount::from_stored(amount), currency: Currency::Cny, created_at_us: 2 };
                // Top up through the bank customer's card, into this person's wallet.
                let record = BankMovementRecord { user: bank[who].user, ..record };
                let claim = IdempotencyClaim { caller: bank[who].user, ..claim };
                prop_assert!(matches!(store.create_bank_movement(claim, record).await, Ok(Outcome::Created(_))));
                model.total[who] += amount;
            }
            FlightOp::Send { from, to, amount, how } => {
                if from == to {
                    continue;
                }
                let mut t = ModelTransfer { id: OperationId::new(), from, to, amount, how, key: format!("s{index}"), status: "", last_event: "create", events: 1, due_hour: 0 };
                let outcome = service.create_transfer(command(&people, &t)).await.unwrap();
                if model.total[from] - model.held[from] < amount {
                    prop_assert!(matches!(outcome, Outcome::Refused(Refusal::InsufficientFunds { .. })), "{outcome:?}");
                    continue;
                }
                let Outcome::Created(details) = outcome else { return Err(TestCaseError::fail(format!("created expected: {outcome:?}"))) };
                t.id = details.transfer.id;
                (t.status, t.due_hour) = match how {
                    How::Instant => ("completed", 0),
                    How::In2Hours => ("pending_arrival", model.hour + 2),
                    How::In24Hours => ("pending_arrival", model.hour + 24),
                    How::Acceptance => ("awaiting_acceptance", model.hour + 24),
                };
                prop_assert_eq!(details.transfer.status.as_str(), t.status);
                if how == How::Instant {
                    model.total[from] -= amount;
                    model.total[to] += amount;
                } else {
                    model.held[from] += amount;
                }
                model.transfers.push(t);
            }
            FlightOp::Act { pick, ask } => {
                if model.transfers.is_empty() {
                    continue;
                }
                let index = pick % model.transfers.len();
                let t = model.transfers[index].clone();
                let (event, who, name) = match ask {
                    Ask::Revoke => (TransferEvent::Revoke, t.from, "revoke"),
                    Ask::Accept => (TransferEvent::Accept, t.to, "accept"),
                    Ask::Decline => (TransferEvent::Decline, t.to, "decline"),
                };
                let outcome = service.act_on_transfer(&people[who], t.id, event).await.unwrap();
                let expected = match (t.status, ask) {
                    ("pending_arrival" | "awaiting_acceptance", Ask::Revoke) => Some(("revoked", "revoke")),
                    ("awaiting_acceptance", Ask::Accept) => Some(("completed", "accept")),
                    ("awaiting_acceptance", Ask::Decline) => Some(("declined", "decline")),
                    _ => None,
                };
                match (expected, &outcome) {
                    (Some((status, event)), TransitionOutcome::Moved(details)) => {
                        prop_assert_eq!(details.transfer.status.as_str(), status);
                        model.settle(index, status, event);
                    }
                    (None, TransitionOutcome::AlreadyDone(details)) => {
                        prop_assert_eq!(t.last_event, name, "already done only for the same event");
                        prop_assert_eq!(details.transfer.status.as_str(), t.status);
                    }
                    (None, TransitionOutcome::Illegal(details)) => {
                        prop_assert!(t.last_event != name, "{} after {}", name, t.last_event);
                        prop_assert_eq!(details.transfer.status.as_str(), t.status);
                    }
                    _ => return Err(TestCaseError::fail(format!("{name} on {} answered {outcome:?}", t.status))),
                }
            }
            FlightOp::Advance { hours } => {
                let ran = service.advance_test_clock(hours * 3600).await.unwrap().expect("a test clock");
                model.hour += hours;
                let mut expected = 0;
                for index in 0..model.transfers.len() {
                    let t = &model.transfers[index];
                    if t.due_hour <= model.hour && (t.status == "pending_arrival" || t.status == "awaiting_acceptance") {
                        let (status, event) = if t.status == "pending_arrival" { ("completed", "arrive") } else { ("expired_refunded", "expire") };
                        model.settle(index, status, event);
                        expected += 1;
                    }
                }
                prop_assert_eq!(ran, expected, "scheduled transitions at hour {}", model.hour);
            }
            FlightOp::Retry { pick } => {
                if model.transfers.is_empty() {
                    continue;
                }
                let t = &model.transfers[pick % model.transfers.len()];
                match service.create_transfer(command(&people, t)).await.unwrap() {
                    Outcome::Replayed(details) => {
                        prop_assert_eq!(details.transfer.id, t.id);
                        prop_assert_eq!(details.transfer.status.as_str(), t.status, "a replay shows the current state");
                    }
                    other => return Err(TestCaseError::fail(format!("replay expected: {other:?}"))),
                }
            }
        }
        for (who, person) in people.iter().enumerate() {
            let balance = store.balance(person.wallet.unwrap()).await.unwrap().balance;
            prop_assert_eq!((balance.balance_fen, balance.held_fen), (model.total[who], model.held[who]), "customer {} after op {}", who, index);
        }
    }
    for t in &model.transfers {
        let details = store.transfer(t.id).await.unwrap().unwrap();
        prop_assert_eq!(details.transfer.status.as_str(), t.status);
        prop_assert_eq!(details.history.len(), t.events, "one event per transition, no double payment: {:?}", details.history);
    }
    let report = store.audit().await.unwrap();
    prop_assert!(report.is_sound(), "ledger problems: {:?}", report.problems);
    // Leave nothing in flight for the next case: everything due runs now.
    service.advance_test_clock(25 * 3600).await.unwrap();
    Ok(())
}

/// Run `cases` proptest cases against one scratch store of `kind` (skipped
/// on PostgreSQL when none is configured), then drop it.
fn with_scratch_store(kind: common::StoreKind, run: impl FnOnce(&tokio::runtime::Runtime, Store)) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pg = match kind {
        common::StoreKind::Sqlite => None,
        common::StoreKind::Postgres => match runtime.block_on(common::PgScratch::create()) {
            Some(pg) => Some(pg),
            None => return,
        },
    };
    let store = runtime.block_on(common::open_store(kind, Some(&dir), pg.as_ref()));
    run(&runtime, store);
    if let Some(pg) = pg {
        runtime.block_on(pg.drop_database());
    }
}

fn check_flights(kind: common::StoreKind, cases: u32) {
    with_scratch_store(kind, |runtime, store| {
        let service = Service::new(store, ServiceConfig::for_tests()).unwrap();
        let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
        proptest!(config, |(ops in proptest::collection::vec(flight_op(), 1..40))| {
            runtime.block_on(run_flight_case(&service, ops))?;
        });
    });
}

#[test]
fn random_interleavings_in_flight_keep_the_ledger_sound_on_sqlite() {
    check_flights(common::StoreKind::Sqlite, 32);
}

#[test]
fn random_interleavings_in_flight_keep_the_ledger_sound_on_postgres() {
    check_flights(common::StoreKind::Postgres, 12);
}

fn check_store(kind: common::StoreKind, cases: u32) {
    with_scratch_store(kind, |runtime, store| {
        let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
        proptest!(config, |(ops in proptest::collection::vec(op(), 1..40))| {
            runtime.block_on(run_case(&store, ops))?;
        });
    });
}

#[test]
fn random_operations_keep_the_ledger_sound_on_sqlite() {
    check_store(common::StoreKind::Sqlite, 48);
}

#[test]
fn random_operations_keep_the_ledger_sound_on_postgres() {
    check_store(common::StoreKind::Postgres, 24);
}
