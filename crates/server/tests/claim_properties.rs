//! Property test of claims over the service (the same operations and
//! scheduler the HTTP layer uses), on SQLite and PostgreSQL: random
//! interleavings of payments, claims, payee returns, agents' holds and
//! decisions, and the test clock moving (holds expiring, claims escalating,
//! compensation falling due) against a model with its own rules. After every
//! operation every customer's balance and held figure must match the model;
//! every claim's returned amount, status and days compensated must match;
//! and the ledger audit must be sound at the end: returns, holds and
//! compensation never create or lose a fen.

mod common;

use proptest::prelude::*;
use recourse_domain::claim::{ClaimReason, Outcome as ClaimOutcome};
use recourse_domain::ledger::OperationKind;
use recourse_domain::{AccountId, CardId, Currency, OperationId, Role, UserId};
use recourse_service::Service;
use recourse_service::claims::{PayeeAnswer, StaffRequest};
use recourse_service::config::ServiceConfig;
use recourse_service::money::{PayeeRef, TransferCommand};
use recourse_store::{BankMovementRecord, ClaimChange, ClaimFiled, IdempotencyClaim, NewCard, NewUser, Outcome, Store, UserRecord, Verification};

const CUSTOMERS: usize = 4;
const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 24 * HOUR_US;
/// The defaults of `[claims]`, written here again so that a wrong rule fails.
const HOLD_US: i64 = 72 * HOUR_US;
const RESOLUTION_US: i64 = 30 * DAY_US;
const COMPENSATION_FEN: i64 = 1_000;

#[derive(Clone, Debug)]
enum Op {
    Pay { from: usize, to: usize, amount: i64 },
    File { pick: usize },
    Return { pick: usize, amount: i64 },
    Hold { pick: usize, amount: i64 },
    Decide { pick: usize, outcome: u8 },
    Advance { hours: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..CUSTOMERS;
    prop_oneof![
        4 => (who.clone(), who, 1i64..=6_000).prop_map(|(from, to, amount)| Op::Pay { from, to, amount }),
        3 => (0usize..16).prop_map(|pick| Op::File { pick }),
        3 => (0usize..16, 1i64..=6_000).prop_map(|(pick, amount)| Op::Return { pick, amount }),
        3 => (0usize..16, 1i64..=6_000).prop_map(|(pick, amount)| Op::Hold { pick, amount }),
        2 => (0usize..16, 0u8..3).prop_map(|(pick, outcome)| Op::Decide { pick, outcome }),
        2 => prop_oneof![0i64..=30, 24i64..=24 * 12, Just(24 * 31)].prop_map(|hours| Op::Advance { hours }),
    ]
}

#[derive(Clone, Debug)]
struct ModelHold {
    account: usize,
    amount: i64,
    expires_us: i64,
    active: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Open,
    Returned,
    Rejected,
    Legal,
}

#[derive(Clone, Debug)]
struct ModelClaim {
    id: uuid::Uuid,
    claimant: usize,
    payee: usize,
    amount: i64,
    returned: i64,
    status: Status,
    filed_us: i64,
    days_paid: i64,
    holds: Vec<ModelHold>,
}

impl ModelClaim {
    fn held_on(&self, account: usize) -> i64 {
        self.holds.iter().filter(|h| h.active && h.account == account).map(|h| h.amount).sum()
    }
}

struct Model {
    total: Vec<i64>,
    held: Vec<i64>,
    /// Completed payments: (transfer, from, to, amount, claimed, made at).
    payments: Vec<(OperationId, usize, usize, i64, bool, i64)>,
    claims: Vec<ModelClaim>,
}

impl Model {
    fn available(&self, who: usize) -> i64 {
        self.total[who] - self.held[who]
    }

    /// What the scheduler does when the clock reaches `now_us`.
    fn advance_to(&mut self, now_us: i64) {
        for claim in &mut self.claims {
            for hold in claim.holds.iter_mut().filter(|h| h.active && h.expires_us <= now_us) {
                hold.active = false;
                self.held[hold.account] -= hold.amount;
            }
            if claim.status == Status::Open && now_us > claim.filed_us + RESOLUTION_US {
                let owed = (now_us - claim.filed_us - RESOLUTION_US) / DAY_US;
                self.total[claim.claimant] += (owed - claim.days_paid) * COMPENSATION_FEN;
                claim.days_paid = owed;
            }
        }
    }
}

async fn people(store: &Store) -> (Vec<UserRecord>, Vec<CardId>) {
    let (mut out, mut cards) = (Vec::new(), Vec::new());
    for _ in 0..CUSTOMERS {
        let (user, wallet) = (UserId::new(), AccountId::new());
        let phone = format!("+86{}", common::unique_phone());
        store.create_user(NewUser { id: user, phone, password_hash: "x".into(), nickname: format!("p{}", common::unique_phone()), role: Role::Customer, wallet: Some(wallet), created_at_us: 1, avatar: None }).await.unwrap();
        let verification = Verification { legal_name_enc: vec![1], id_number_enc: vec![2], id_number_index: user.as_bytes().to_vec(), masked_name: "*明".into(), id_last4: "0000".into(), verified_at_us: 1 };
        store.verify_user(user, verification, 1).await.unwrap();
        let card = store.bind_card(NewCard { id: CardId::new(), user, card_enc: vec![3], card_index: vec![4], last4: "1111".into(), created_at_us: 1 }).await.unwrap();
        out.push(store.user(user).await.unwrap().unwrap());
        cards.push(card.id);
    }
    (out, cards)
}

async fn run_case(service: &Service, agent: &UserRecord, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let store = &service.store;
    let (people, cards) = people(store).await;
    let mut model = Model { total: vec![0; CUSTOMERS], held: vec![0; CUSTOMERS], payments: Vec::new(), claims: Vec::new() };
    for (who, person) in people.iter().enumerate() {
        let claim = IdempotencyClaim { caller: person.id, key: "seed".into(), request_hash: vec![1] };
        let record = BankMovementRecord { id: OperationId::new(), kind: OperationKind::Topup, user: person.id, card: cards[who], account: person.wallet.unwrap(), amount: recourse_domain::Amount::from_stored(20_000), currency: Currency::Cny, created_at_us: 2 };
        prop_assert!(matches!(store.create_bank_movement(claim, record).await, Ok(Outcome::Created(_))));
        model.total[who] = 20_000;
    }
    for (index, op) in ops.into_iter().enumerate() {
        match op {
            Op::Pay { from, to, amount } => {
                if from == to {
                    continue;
                }
                let command = TransferCommand {
                    payer: people[from].clone(),
                    payee: PayeeRef::Id(people[to].id),
                    amount_fen: amount,
                    note: None,
                    arrival: Some(recourse_domain::transfer::Arrival::Instant),
                    acceptance_required: false,
                    idempotency_key: format!("pay{index}"),
                    answers: Default::default(),
                };
                let outcome = service.create_transfer(command).await.unwrap();
                if model.available(from) >= amount {
                    let Outcome::Created(details) = outcome else { return Err(TestCaseError::fail(format!("op {index}: payment refused: {outcome:?}"))) };
                    model.total[from] -= amount;
                    model.total[to] += amount;
                    model.payments.push((details.transfer.id, from, to, amount, false, details.transfer.created_at_us));
                } else {
                    prop_assert!(matches!(outcome, Outcome::Refused(recourse_domain::refusal::Refusal::InsufficientFunds { .. })), "op {}: {:?}", index, outcome);
                }
            }
            Op::File { pick } => {
                if model.payments.is_empty() {
                    continue;
                }
                let pick = pick % model.payments.len();
                let (transfer, from, to, amount, claimed, made_at) = model.payments[pick];
                let filed = service.file_claim(&people[from], transfer, ClaimReason::WrongRecipient, "wrong".into()).await.unwrap();
                let too_late = service.clock.now_us() - made_at > 90 * DAY_US;
                match filed {
                    Err(recourse_service::claims::FilingRefusal::WindowClosed { .. }) if too_late => {}
                    Ok(ClaimFiled::Filed(record)) => {
                        prop_assert!(!claimed && !too_late, "op {}: a second claim on one transfer, or too late", index);
                        prop_assert_eq!(record.held_fen, 0, "a wrong recipient is not high risk");
                        model.payments[pick].4 = true;
                        model.claims.push(ModelClaim { id: record.id, claimant: from, payee: to, amount, returned: 0, status: Status::Open, filed_us: record.filed_at_us, days_paid: 0, holds: Vec::new() });
                    }
                    Ok(ClaimFiled::AlreadyClaimed(_)) => prop_assert!(claimed && !too_late, "op {}", index),
                    Err(refusal) => return Err(TestCaseError::fail(format!("op {index}: filing refused: {refusal:?}"))),
                }
            }
            Op::Return { pick, amount } => {
                if model.claims.is_empty() {
                    continue;
                }
                let pick = pick % model.claims.len();
                let claim = model.claims[pick].clone();
                let change = service.payee_answer(&people[claim.payee], claim.id, PayeeAnswer::Return { amount_fen: amount }).await.unwrap().expect("the payee's claim");
                let outstanding = claim.amount - claim.returned;
                let held_here = claim.held_on(claim.payee);
                let can = claim.status != Status::Returned && claim.status != Status::Rejected && amount <= outstanding && model.available(claim.payee) + held_here >= amount;
                prop_assert_eq!(matches!(change, ClaimChange::Done(_)), can, "op {}: return {} of {:?}: {:?}", index, amount, claim, change);
                if can {
                    let c = &mut model.claims[pick];
                    let expires = c.holds.iter().filter(|h| h.active && h.account == c.payee).map(|h| h.expires_us).max();
                    for hold in c.holds.iter_mut().filter(|h| h.active && h.account == c.payee) {
                        hold.active = false;
                    }
                    model.held[c.payee] -= held_here;
                    model.total[c.payee] -= amount;
                    model.total[c.claimant] += amount;
                    c.returned += amount;
                    let complete = c.returned == c.amount;
                    let again = held_here.min(outstanding - amount).min(model.total[c.payee] - model.held[c.payee]);
                    if again > 0 && !complete {
                        c.holds.push(ModelHold { account: c.payee, amount: again, expires_us: expires.unwrap_or(0), active: true });
                        model.held[c.payee] += again;
                    }
                    if complete {
                        for hold in c.holds.iter_mut().filter(|h| h.active) {
                            hold.active = false;
                            model.held[hold.account] -= hold.amount;
                        }
                        c.status = Status::Returned;
                    }
                }
            }
            Op::Hold { pick, amount } => {
                if model.claims.is_empty() {
                    continue;
                }
                let pick = pick % model.claims.len();
                let claim = model.claims[pick].clone();
                let request = StaffRequest::Hold { account: None, amount_fen: amount, reason: "hold".into() };
                let change = service.staff_claim_action(agent, claim.id, request).await.unwrap().expect("a claim");
                let limit = claim.amount - claim.returned - claim.held_on(claim.payee);
                let can = matches!(claim.status, Status::Open | Status::Legal) && amount <= limit && amount <= model.available(claim.payee);
                prop_assert_eq!(matches!(change, ClaimChange::Done(_)), can, "op {}: hold {} on {:?}: {:?}", index, amount, claim, change);
                if can {
                    let now = service.clock.now_us();
                    model.claims[pick].holds.push(ModelHold { account: claim.payee, amount, expires_us: now + HOLD_US, active: true });
                    model.held[claim.payee] += amount;
                }
            }
            Op::Decide { pick, outcome } => {
                if model.claims.is_empty() {
                    continue;
                }
                let pick = pick % model.claims.len();
                let claim = model.claims[pick].clone();
                let outcome = [ClaimOutcome::Return, ClaimOutcome::Reject, ClaimOutcome::LegalRoute][outcome as usize];
                let request = StaffRequest::Decide { outcome, amount_fen: None, reason: "decided".into() };
                let change = service.staff_claim_action(agent, claim.id, request).await.unwrap().expect("a claim");
                let held: i64 = claim.holds.iter().filter(|h| h.active).map(|h| h.amount).sum();
                let can = claim.status == Status::Open && (outcome != ClaimOutcome::Return || held > 0);
                prop_assert_eq!(matches!(change, ClaimChange::Done(_)), can, "op {}: {:?} on {:?}: {:?}", index, outcome, claim, change);
                if can {
                    let c = &mut model.claims[pick];
                    match outcome {
                        ClaimOutcome::Return => {
                            for hold in c.holds.iter_mut().filter(|h| h.active) {
                                hold.active = false;
                                model.held[hold.account] -= hold.amount;
                                model.total[hold.account] -= hold.amount;
                                model.total[c.claimant] += hold.amount;
                            }
                            c.returned += held;
                            c.status = Status::Returned;
                        }
                        ClaimOutcome::Reject => {
                            for hold in c.holds.iter_mut().filter(|h| h.active) {
                                hold.active = false;
                                model.held[hold.account] -= hold.amount;
                            }
                            c.status = Status::Rejected;
                        }
                        ClaimOutcome::LegalRoute => c.status = Status::Legal,
                    }
                }
            }
            Op::Advance { hours } => {
                service.advance_test_clock(hours * 3600).await.unwrap();
                model.advance_to(service.clock.now_us());
            }
        }
        for (who, person) in people.iter().enumerate() {
            let balance = store.balance(person.wallet.unwrap()).await.unwrap().balance;
            prop_assert_eq!((balance.balance_fen, balance.held_fen), (model.total[who], model.held[who]), "customer {} after op {}", who, index);
        }
        for c in &model.claims {
            let record = store.claim(c.id).await.unwrap().unwrap();
            let status = match record.status.as_str() {
                "awaiting_payee" | "in_review" => Status::Open,
                "returned" => Status::Returned,
                "rejected" => Status::Rejected,
                _ => Status::Legal,
            };
            prop_assert_eq!((record.returned_fen, status, record.compensation_days), (c.returned, c.status, c.days_paid), "claim after op {}", index);
            prop_assert!(record.returned_fen <= record.amount_fen);
        }
    }
    let report = store.audit().await.unwrap();
    prop_assert!(report.is_sound(), "ledger problems: {:?}", report.problems);
    Ok(())
}

fn check(kind: common::StoreKind, cases: u32) {
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
    let service = Service::new(store, ServiceConfig::for_tests()).unwrap();
    let agent = runtime.block_on(async {
        let id = UserId::new();
        service.store.create_user(NewUser { id, phone: format!("+86{}", common::unique_phone()), password_hash: "x".into(), nickname: "agent".into(), role: Role::Agent, wallet: None, created_at_us: 1, avatar: None }).await.unwrap();
        service.store.user(id).await.unwrap().unwrap()
    });
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(ops in proptest::collection::vec(op(), 1..40))| {
        runtime.block_on(run_case(&service, &agent, ops))?;
    });
    if let Some(pg) = pg {
        runtime.block_on(pg.drop_database());
    }
}

#[test]
fn random_claims_returns_holds_and_compensation_keep_the_ledger_sound_on_sqlite() {
    check(common::StoreKind::Sqlite, 32);
}

#[test]
fn random_claims_returns_holds_and_compensation_keep_the_ledger_sound_on_postgres() {
    check(common::StoreKind::Postgres, 12);
}
