//! Property tests over the store: random sequences of top-ups, withdrawals,
//! transfers and idempotent retries — valid and invalid — against a simple
//! model. After every case the store must agree with the model on every
//! outcome and balance, and the ledger audit must be sound: balances sum to
//! zero per currency, no wallet has a negative available balance, and every
//! cached balance equals its journal replayed.

mod common;

use std::collections::HashMap;

use proptest::prelude::*;
use recourse_domain::ledger::OperationKind;
use recourse_domain::refusal::Refusal;
use recourse_domain::transfer::{TransferMode, TransferStatus};
use recourse_domain::{AccountId, CardId, Currency, OperationId, Role, UserId};
use recourse_store::{BankMovementRecord, IdempotencyClaim, NewCard, NewUser, Outcome, Store, TransferRecord, Verification};

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
            .create_user(NewUser { id: user, phone: format!("+86{}", common::unique_phone()), password_hash: "x".into(), nickname: "p".into(), role: Role::Customer, wallet: Some(wallet), created_at_us: 1, avatar: None })
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
                let record = BankMovementRecord { id: OperationId::new(), kind, user: person.user, card: person.card, account: person.wallet, amount_fen: amount, currency: Currency::Cny, created_at_us: 2 };
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
                    amount_fen: amount,
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
                let result = store.create_transfer(claim, record).await;
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

fn check_store(kind: common::StoreKind, cases: u32) {
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
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(ops in proptest::collection::vec(op(), 1..40))| {
        runtime.block_on(run_case(&store, ops))?;
    });
    drop(store);
    if let Some(pg) = pg {
        runtime.block_on(pg.drop_database());
    }
}

#[test]
fn random_operations_keep_the_ledger_sound_on_sqlite() {
    check_store(common::StoreKind::Sqlite, 48);
}

#[test]
fn random_operations_keep_the_ledger_sound_on_postgres() {
    check_store(common::StoreKind::Postgres, 24);
}
