//! The ledger's arithmetic and its audit, exactly: each ledger step's rows
//! and effects in fen, the `held` rule at zero, and an audit that reports
//! each broken invariant alone (and so is unsound) while a sound book passes.
//! The audit guards every test, the bench and `admin check-ledger`, so a
//! silenced audit must fail here (mutation testing, `scripts/mutants`).

use recourse_domain::ledger::{
    AccountAudit, AccountEffect, AccountKind, AuditReport, Balance, EntryKind, HoldReason, JournalRow, Layer, LedgerEntry, Movement, OperationKind,
    Posting, audit, held_delta_fen,
};
use recourse_domain::{AccountId, Amount, Currency};

fn movement(from: AccountId, to: AccountId, fen: i64) -> Movement {
    Movement::between(from, to, Amount::from_fen(fen, 1_000_000).unwrap(), Currency::Cny)
}

fn sound(kind: AccountKind, balance_fen: i64, held_fen: i64) -> AccountAudit {
    AccountAudit {
        account: AccountId::new(),
        kind,
        currency: Currency::Cny,
        cached: Balance { balance_fen, held_fen },
        journal_sum_fen: balance_fen,
        journal_held_fen: held_fen,
        active_holds_fen: held_fen,
    }
}

#[test]
fn a_report_with_a_problem_is_not_sound() {
    assert!(AuditReport::default().is_sound());
    let report = AuditReport { problems: vec!["something".into()], ..AuditReport::default() };
    assert!(!report.is_sound());
}

#[test]
fn a_sound_book_passes_and_is_counted() {
    // A wallet with 300 of which 100 held, balanced by the bank mirror.
    let wallet = sound(AccountKind::Wallet, 300, 100);
    let bank = sound(AccountKind::BankSettlement, -300, 0);
    let report = audit(&[wallet, bank], &[], 7, 3);
    assert!(report.is_sound(), "{:?}", report.problems);
    assert_eq!(report.accounts, 2);
    assert_eq!(report.journal_rows, 7);
    assert_eq!(report.operations, 3);
    assert_eq!(report.total_fen_per_currency, vec![("CNY".to_owned(), 0)]);
}

#[test]
fn each_broken_invariant_alone_makes_the_book_unsound() {
    let bank = |fen: i64| sound(AccountKind::BankSettlement, -fen, 0);
    // Balance differs from the journal.
    let mut a = sound(AccountKind::Wallet, 500, 0);
    a.journal_sum_fen = 499;
    let report = audit(&[a.clone(), bank(500)], &[], 0, 0);
    assert!(!report.is_sound());
    assert_eq!(report.problems, vec![format!("account {} caches balance 500 but its journal sums to 499", a.account)]);

    // Held differs from what the pending rows derive.
    let mut a = sound(AccountKind::Wallet, 500, 100);
    a.journal_held_fen = 90;
    let report = audit(&[a.clone(), bank(500)], &[], 0, 0);
    assert_eq!(report.problems, vec![format!("account {} caches held 100 but its pending journal rows derive 90", a.account)]);

    // Held differs from the active holds.
    let mut a = sound(AccountKind::Wallet, 500, 100);
    a.active_holds_fen = 110;
    let report = audit(&[a.clone(), bank(500)], &[], 0, 0);
    assert_eq!(report.problems, vec![format!("account {} caches held 100 but its active holds sum to 110", a.account)]);

    // Negative holds (everything else agreeing).
    let a = sound(AccountKind::BankSettlement, 0, -1);
    let report = audit(std::slice::from_ref(&a), &[], 0, 0);
    assert_eq!(report.problems, vec![format!("account {} has negative holds -1", a.account)]);

    // A wallet whose holds exceed its balance.
    let a = sound(AccountKind::Wallet, 100, 101);
    let report = audit(&[a.clone(), bank(100)], &[], 0, 0);
    assert_eq!(report.problems, vec![format!("account {} has negative available balance -1", a.account)]);

    // Balances that do not sum to zero.
    let report = audit(&[sound(AccountKind::Wallet, 5, 0)], &[], 0, 0);
    assert_eq!(report.problems, vec!["balances in CNY sum to 5, not zero".to_owned()]);
    assert_eq!(report.total_fen_per_currency, vec![("CNY".to_owned(), 5)]);

    // An operation whose postings do not balance.
    let report = audit(&[], &[("op-1".to_owned(), -3)], 2, 1);
    assert_eq!(report.problems, vec!["operation op-1 postings in one layer sum to -3, not zero".to_owned()]);
    assert!(!report.is_sound());
}

#[test]
fn the_audits_boundaries() {
    // Zero holds and zero available are fine.
    let report = audit(&[sound(AccountKind::Wallet, 100, 100), sound(AccountKind::BankSettlement, -100, 0)], &[], 0, 0);
    assert!(report.is_sound(), "{:?}", report.problems);
    // Only wallets must stay covered: the bank mirror and compensation go negative.
    let report = audit(&[sound(AccountKind::Compensation, -50, 0), sound(AccountKind::BankSettlement, 0, 10), sound(AccountKind::Wallet, 50, 0)], &[], 0, 0);
    assert!(report.is_sound(), "{:?}", report.problems);
    assert!(AccountKind::Wallet.must_stay_covered());
    assert!(!AccountKind::BankSettlement.must_stay_covered());
    assert!(!AccountKind::Compensation.must_stay_covered());
}

#[test]
fn totals_add_every_account_of_a_currency() {
    let accounts = [sound(AccountKind::Wallet, 700, 0), sound(AccountKind::Wallet, 300, 0), sound(AccountKind::BankSettlement, -900, 0)];
    let report = audit(&accounts, &[], 0, 0);
    assert_eq!(report.total_fen_per_currency, vec![("CNY".to_owned(), 100)]);
    assert_eq!(report.problems, vec!["balances in CNY sum to 100, not zero".to_owned()]);
    let balanced = [sound(AccountKind::Wallet, 700, 0), sound(AccountKind::Wallet, 300, 0), sound(AccountKind::BankSettlement, -1_000, 0)];
    assert!(audit(&balanced, &[], 0, 0).is_sound());
}

#[test]
fn available_balance_is_balance_minus_held() {
    assert_eq!(Balance { balance_fen: 1_000, held_fen: 300 }.available_fen(), 700);
    assert_eq!(Balance { balance_fen: 5, held_fen: 7 }.available_fen(), -2);
    assert_eq!(Balance::default().available_fen(), 0);
}

#[test]
fn a_movement_debits_one_account_and_credits_the_other() {
    let (from, to) = (AccountId::new(), AccountId::new());
    let m = movement(from, to, 250);
    assert_eq!(m.debited(), from);
    assert_eq!(m.credited(), to);
    assert_eq!(m.amount_fen(), 250);
    assert_eq!(m.postings(), &[Posting { account: from, amount_fen: -250 }, Posting { account: to, amount_fen: 250 }]);
    assert_eq!(m.currency, Currency::Cny);
}

#[test]
fn each_steps_effects_in_fen() {
    let (from, to) = (AccountId::new(), AccountId::new());
    let m = movement(from, to, 40);
    let effects = |kind| LedgerEntry::new(kind, m.clone()).effects();
    let e = |account, balance_delta_fen, held_delta_fen| AccountEffect { account, balance_delta_fen, held_delta_fen };
    assert_eq!(effects(EntryKind::Post), [e(from, -40, 0), e(to, 40, 0)]);
    assert_eq!(effects(EntryKind::Reserve), [e(from, 0, 40), e(to, 0, 0)]);
    assert_eq!(effects(EntryKind::Settle), [e(from, -40, -40), e(to, 40, 0)]);
    assert_eq!(effects(EntryKind::Release), [e(from, 0, -40), e(to, 0, 0)]);
    let needed = |kind| LedgerEntry::new(kind, m.clone()).available_needed_fen();
    assert_eq!(needed(EntryKind::Post), 40);
    assert_eq!(needed(EntryKind::Reserve), 40);
    assert_eq!(needed(EntryKind::Settle), 0);
    assert_eq!(needed(EntryKind::Release), 0);
}

#[test]
fn each_steps_rows_in_fen() {
    let (from, to) = (AccountId::new(), AccountId::new());
    let m = movement(from, to, 40);
    let rows = |kind| LedgerEntry::new(kind, m.clone()).rows();
    let r = |layer, account, amount_fen| JournalRow { layer, account, amount_fen };
    use Layer::{Pending, Settled};
    assert_eq!(rows(EntryKind::Post), vec![r(Settled, from, -40), r(Settled, to, 40)]);
    assert_eq!(rows(EntryKind::Reserve), vec![r(Pending, from, -40), r(Pending, to, 40)]);
    assert_eq!(rows(EntryKind::Settle), vec![r(Pending, from, 40), r(Pending, to, -40), r(Settled, from, -40), r(Settled, to, 40)]);
    assert_eq!(rows(EntryKind::Release), vec![r(Pending, from, 40), r(Pending, to, -40)]);
}

#[test]
fn held_is_derived_from_the_debit_side_of_pending_rows_only() {
    use EntryKind::{Post, Release, Reserve, Settle};
    use Layer::{Pending, Settled};
    // The payer's side of a reserve raises held; of a settle or release lowers it.
    assert_eq!(held_delta_fen(Pending, Reserve, -40), 40);
    assert_eq!(held_delta_fen(Pending, Settle, 40), -40);
    assert_eq!(held_delta_fen(Pending, Release, 40), -40);
    // The payee's side never touches held.
    assert_eq!(held_delta_fen(Pending, Reserve, 40), 0);
    assert_eq!(held_delta_fen(Pending, Settle, -40), 0);
    assert_eq!(held_delta_fen(Pending, Release, -40), 0);
    // Zero is nobody's side.
    for kind in EntryKind::ALL {
        assert_eq!(held_delta_fen(Pending, kind, 0), 0, "{kind:?}");
    }
    // Settled rows and posts never touch held.
    for kind in EntryKind::ALL {
        for amount in [-40, 40] {
            assert_eq!(held_delta_fen(Settled, kind, amount), 0, "{kind:?} {amount}");
        }
    }
    assert_eq!(held_delta_fen(Pending, Post, -40), 0);
    assert_eq!(held_delta_fen(Pending, Post, 40), 0);
    // One fen at the edge.
    assert_eq!(held_delta_fen(Pending, Reserve, -1), 1);
    assert_eq!(held_delta_fen(Pending, Release, 1), -1);
}

#[test]
fn names_of_ledger_things() {
    for (kind, text) in [(AccountKind::Wallet, "wallet"), (AccountKind::BankSettlement, "bank_settlement"), (AccountKind::Compensation, "compensation")] {
        assert_eq!(kind.as_str(), text);
        assert_eq!(AccountKind::parse(text), Some(kind));
    }
    let operations = [
        (OperationKind::Transfer, "transfer"),
        (OperationKind::Topup, "topup"),
        (OperationKind::Withdrawal, "withdrawal"),
        (OperationKind::ClaimHold, "claim_hold"),
        (OperationKind::ClaimReturn, "claim_return"),
        (OperationKind::Compensation, "compensation"),
    ];
    for (kind, text) in operations {
        assert_eq!(kind.as_str(), text);
        assert_eq!(OperationKind::parse(text), Some(kind));
    }
    for (layer, text) in [(Layer::Settled, "settled"), (Layer::Pending, "pending")] {
        assert_eq!(layer.as_str(), text);
        assert_eq!(Layer::parse(text), Some(layer));
    }
    for (kind, text) in [(EntryKind::Post, "post"), (EntryKind::Reserve, "reserve"), (EntryKind::Settle, "settle"), (EntryKind::Release, "release")] {
        assert_eq!(kind.as_str(), text);
        assert_eq!(EntryKind::parse(text), Some(kind));
    }
    for (reason, text) in [(HoldReason::DelayedTransfer, "delayed_transfer"), (HoldReason::AwaitingAcceptance, "awaiting_acceptance"), (HoldReason::Claim, "claim")] {
        assert_eq!(reason.as_str(), text);
        assert_eq!(HoldReason::parse(text), Some(reason));
    }
    for unknown in ["", "xyzzy", "Wallet", "post "] {
        assert_eq!(AccountKind::parse(unknown), None);
        assert_eq!(OperationKind::parse(unknown), None);
        assert_eq!(Layer::parse(unknown), None);
        assert_eq!(EntryKind::parse(unknown), None);
        assert_eq!(HoldReason::parse(unknown), None);
    }
}
