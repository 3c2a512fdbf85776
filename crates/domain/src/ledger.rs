//! The double-entry rules. Every money movement is one balanced set of
//! postings between accounts; the store applies them atomically and the
//! journal keeps them forever.
//!
//! Money in flight is a ledger fact too (TigerBeetle's pending/post/void, in
//! journal form). A journal row belongs to one of two layers:
//! - `settled`: the account's balance. Every operation's settled rows sum to zero.
//! - `pending`: money reserved by a payer for a payee and not yet moved. A
//!   reserve writes the pair (payer −x, payee +x); settling or releasing it
//!   writes the reverse pair, so every operation's pending rows also sum to
//!   zero, and an ended hold leaves nothing pending.
//!
//! An account's `held` (what its available balance excludes) is the debit side
//! of its open reserves, and is re-derived from the journal by [`held_delta_fen`].
//!
//! Sign convention: a posting's `amount_fen` is added to the account's balance.
//! Customer wallets hold what Recourse owes the customer (never below zero
//! available). `bank_settlement` is the mirror of money held at partner banks:
//! it goes negative by exactly the money customers have brought in, so the sum
//! of all balances of one currency is always zero.

use crate::{AccountId, Amount, Currency};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A customer's wallet. `balance - held >= 0` always.
    Wallet,
    /// Money held at partner banks for top-ups and withdrawals.
    BankSettlement,
    /// The operator's money paid to claimants for late claims (goes
    /// negative by what was paid).
    Compensation,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Wallet => "wallet",
            AccountKind::BankSettlement => "bank_settlement",
            AccountKind::Compensation => "compensation",
        }
    }
    pub fn parse(s: &str) -> Option<AccountKind> {
        match s {
            "wallet" => Some(AccountKind::Wallet),
            "bank_settlement" => Some(AccountKind::BankSettlement),
            "compensation" => Some(AccountKind::Compensation),
            _ => None,
        }
    }
    /// Whether the available balance of this kind of account must stay >= 0.
    pub fn must_stay_covered(self) -> bool {
        matches!(self, AccountKind::Wallet)
    }
}

/// The kinds of business operation that move money. Every journal row names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    Transfer,
    Topup,
    Withdrawal,
    /// Money held on an account for a claim (a reserve to the claimant),
    /// and how that hold ends: settled to the claimant or released.
    ClaimHold,
    /// Money a payee (or an agent's decision) sends back to a claimant.
    ClaimReturn,
    /// A day's compensation for a claim past its deadline.
    Compensation,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Transfer => "transfer",
            OperationKind::Topup => "topup",
            OperationKind::Withdrawal => "withdrawal",
            OperationKind::ClaimHold => "claim_hold",
            OperationKind::ClaimReturn => "claim_return",
            OperationKind::Compensation => "compensation",
        }
    }
    pub fn parse(s: &str) -> Option<OperationKind> {
        match s {
            "transfer" => Some(OperationKind::Transfer),
            "topup" => Some(OperationKind::Topup),
            "withdrawal" => Some(OperationKind::Withdrawal),
            "claim_hold" => Some(OperationKind::ClaimHold),
            "claim_return" => Some(OperationKind::ClaimReturn),
            "compensation" => Some(OperationKind::Compensation),
            _ => None,
        }
    }
}

/// The journal layer a row belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Settled,
    Pending,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Settled => "settled",
            Layer::Pending => "pending",
        }
    }
    pub fn parse(s: &str) -> Option<Layer> {
        match s {
            "settled" => Some(Layer::Settled),
            "pending" => Some(Layer::Pending),
            _ => None,
        }
    }
}

/// The four ledger steps (TigerBeetle: a plain transfer, pending, post, void).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Money moves now.
    Post,
    /// Money is held on the debited account for the credited one.
    Reserve,
    /// A reserve completes: the held money moves.
    Settle,
    /// A reserve ends without moving: the held money is free again.
    Release,
}

impl EntryKind {
    pub const ALL: [EntryKind; 4] = [EntryKind::Post, EntryKind::Reserve, EntryKind::Settle, EntryKind::Release];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Post => "post",
            EntryKind::Reserve => "reserve",
            EntryKind::Settle => "settle",
            EntryKind::Release => "release",
        }
    }
    pub fn parse(s: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
}

/// Why money is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    DelayedTransfer,
    AwaitingAcceptance,
    Claim,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::DelayedTransfer => "delayed_transfer",
            HoldReason::AwaitingAcceptance => "awaiting_acceptance",
            HoldReason::Claim => "claim",
        }
    }
    pub fn parse(s: &str) -> Option<HoldReason> {
        [HoldReason::DelayedTransfer, HoldReason::AwaitingAcceptance, HoldReason::Claim].into_iter().find(|r| r.as_str() == s)
    }
}

/// One journal row to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalRow {
    pub layer: Layer,
    pub account: AccountId,
    pub amount_fen: i64,
}

/// What one ledger step does to one account's cached figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountEffect {
    pub account: AccountId,
    pub balance_delta_fen: i64,
    pub held_delta_fen: i64,
}

/// A ledger step over a balanced movement: the one definition of which
/// journal rows each step writes and what it does to cached balances. Both
/// stores execute exactly this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerEntry {
    pub kind: EntryKind,
    pub movement: Movement,
}

impl LedgerEntry {
    pub fn new(kind: EntryKind, movement: Movement) -> LedgerEntry {
        LedgerEntry { kind, movement }
    }

    /// How much of the debited account's available balance this step needs:
    /// posting and reserving spend it; settling and releasing do not.
    pub fn available_needed_fen(&self) -> i64 {
        match self.kind {
            EntryKind::Post | EntryKind::Reserve => self.movement.amount_fen(),
            EntryKind::Settle | EntryKind::Release => 0,
        }
    }

    /// Effects on the debited and the credited account, in that order.
    pub fn effects(&self) -> [AccountEffect; 2] {
        let x = self.movement.amount_fen();
        let (debit_balance, debit_held, credit_balance) = match self.kind {
            EntryKind::Post => (-x, 0, x),
            EntryKind::Reserve => (0, x, 0),
            EntryKind::Settle => (-x, -x, x),
            EntryKind::Release => (0, -x, 0),
        };
        [
            AccountEffect { account: self.movement.debited(), balance_delta_fen: debit_balance, held_delta_fen: debit_held },
            AccountEffect { account: self.movement.credited(), balance_delta_fen: credit_balance, held_delta_fen: 0 },
        ]
    }

    /// The journal rows, each layer balanced.
    pub fn rows(&self) -> Vec<JournalRow> {
        let (from, to, x) = (self.movement.debited(), self.movement.credited(), self.movement.amount_fen());
        let row = |layer, account, amount_fen| JournalRow { layer, account, amount_fen };
        let rows = match self.kind {
            EntryKind::Post => vec![row(Layer::Settled, from, -x), row(Layer::Settled, to, x)],
            EntryKind::Reserve => vec![row(Layer::Pending, from, -x), row(Layer::Pending, to, x)],
            EntryKind::Settle => vec![row(Layer::Pending, from, x), row(Layer::Pending, to, -x), row(Layer::Settled, from, -x), row(Layer::Settled, to, x)],
            EntryKind::Release => vec![row(Layer::Pending, from, x), row(Layer::Pending, to, -x)],
        };
        debug_assert_eq!(rows.iter().map(|r| r.amount_fen).sum::<i64>(), 0);
        rows
    }
}

/// How one journal row changes its account's `held`: the debit side of a
/// reserve raises it, the debit side of a settle or release lowers it. The
/// audit re-derives every account's `held` with exactly this rule (in SQL).
pub fn held_delta_fen(layer: Layer, kind: EntryKind, amount_fen: i64) -> i64 {
    match (layer, kind) {
        (Layer::Pending, EntryKind::Reserve) if amount_fen < 0 => -amount_fen,
        (Layer::Pending, EntryKind::Settle | EntryKind::Release) if amount_fen > 0 => -amount_fen,
        _ => 0,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posting {
    pub account: AccountId,
    pub amount_fen: i64,
}

/// A balanced set of postings. Only the constructors below make one, so an
/// unbalanced movement cannot be expressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movement {
    pub currency: Currency,
    postings: [Posting; 2],
}

impl Movement {
    /// Money leaves `from` and reaches `to`.
    pub fn between(from: AccountId, to: AccountId, amount: Amount, currency: Currency) -> Movement {
        assert_ne!(from, to, "a movement needs two different accounts");
        let movement = Movement {
            currency,
            postings: [
                Posting { account: from, amount_fen: -amount.fen() },
                Posting { account: to, amount_fen: amount.fen() },
            ],
        };
        debug_assert_eq!(movement.postings.iter().map(|p| p.amount_fen).sum::<i64>(), 0);
        movement
    }

    pub fn postings(&self) -> &[Posting; 2] {
        &self.postings
    }

    pub fn debited(&self) -> AccountId {
        self.postings[0].account
    }

    pub fn credited(&self) -> AccountId {
        self.postings[1].account
    }

    pub fn amount_fen(&self) -> i64 {
        self.postings[1].amount_fen
    }
}

/// An account's cached balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Balance {
    pub balance_fen: i64,
    pub held_fen: i64,
}

impl Balance {
    pub fn available_fen(self) -> i64 {
        self.balance_fen - self.held_fen
    }
}

/// One account's line in a ledger audit: its cached balance against the sum
/// of its journal rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountAudit {
    pub account: AccountId,
    pub kind: AccountKind,
    pub currency: Currency,
    pub cached: Balance,
    /// Sum of the account's settled journal rows.
    pub journal_sum_fen: i64,
    /// `held` re-derived from the pending journal rows ([`held_delta_fen`]).
    pub journal_held_fen: i64,
    /// Sum of the account's active holds.
    pub active_holds_fen: i64,
}

/// What a full ledger audit found. Empty `problems` means the books are sound.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub accounts: usize,
    pub journal_rows: u64,
    pub operations: u64,
    pub total_fen_per_currency: Vec<(String, i64)>,
    pub problems: Vec<String>,
}

impl AuditReport {
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The pure audit: given every account and the per-operation sums of the
/// journal, list every broken invariant.
pub fn audit(accounts: &[AccountAudit], unbalanced_operations: &[(String, i64)], journal_rows: u64, operations: u64) -> AuditReport {
    let mut report = AuditReport { accounts: accounts.len(), journal_rows, operations, ..AuditReport::default() };
    let mut totals: Vec<(String, i64)> = Vec::new();
    for account in accounts {
        if account.cached.balance_fen != account.journal_sum_fen {
            report.problems.push(format!(
                "account {} caches balance {} but its journal sums to {}",
                account.account, account.cached.balance_fen, account.journal_sum_fen
            ));
        }
        if account.cached.held_fen != account.journal_held_fen {
            report.problems.push(format!(
                "account {} caches held {} but its pending journal rows derive {}",
                account.account, account.cached.held_fen, account.journal_held_fen
            ));
        }
        if account.cached.held_fen != account.active_holds_fen {
            report.problems.push(format!(
                "account {} caches held {} but its active holds sum to {}",
                account.account, account.cached.held_fen, account.active_holds_fen
            ));
        }
        if account.cached.held_fen < 0 {
            report.problems.push(format!("account {} has negative holds {}", account.account, account.cached.held_fen));
        }
        if account.kind.must_stay_covered() && account.cached.available_fen() < 0 {
            report.problems.push(format!("account {} has negative available balance {}", account.account, account.cached.available_fen()));
        }
        let code = account.currency.code().to_owned();
        match totals.iter_mut().find(|(c, _)| *c == code) {
            Some((_, total)) => *total += account.cached.balance_fen,
            None => totals.push((code, account.cached.balance_fen)),
        }
    }
    for (currency, total) in &totals {
        if *total != 0 {
            report.problems.push(format!("balances in {currency} sum to {total}, not zero"));
        }
    }
    for (operation, sum) in unbalanced_operations {
        report.problems.push(format!("operation {operation} postings in one layer sum to {sum}, not zero"));
    }
    report.total_fen_per_currency = totals;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn movements_balance() {
        let (a, b) = (AccountId::new(), AccountId::new());
        let m = Movement::between(b, a, Amount::from_fen(500, 1000).unwrap(), Currency::Cny);
        assert_eq!(m.postings().iter().map(|p| p.amount_fen).sum::<i64>(), 0);
        assert_eq!(m.debited(), b);
        assert_eq!(m.amount_fen(), 500);
    }

    #[test]
    fn audit_finds_each_broken_invariant() {
        let account = AccountId::new();
        let sound = AccountAudit {
            account,
            kind: AccountKind::Wallet,
            currency: Currency::Cny,
            cached: Balance { balance_fen: 0, held_fen: 0 },
            journal_sum_fen: 0,
            journal_held_fen: 0,
            active_holds_fen: 0,
        };
        assert!(audit(std::slice::from_ref(&sound), &[], 0, 0).is_sound());
        let drifted = AccountAudit { cached: Balance { balance_fen: 5, held_fen: 10 }, ..sound };
        let report = audit(&[drifted], &[("op".into(), 3)], 1, 1);
        // balance vs journal, held vs journal, held vs holds, negative available, total, unbalanced op
        assert_eq!(report.problems.len(), 6, "{:?}", report.problems);
    }

    /// Replaying every step's rows and effects must agree: cached figures
    /// follow the effects, the audit derives them from the rows.
    #[test]
    fn each_step_rows_and_effects_agree() {
        let (payer, payee) = (AccountId::new(), AccountId::new());
        let movement = Movement::between(payer, payee, Amount::from_fen(700, 1000).unwrap(), Currency::Cny);
        for kind in EntryKind::ALL {
            let entry = LedgerEntry::new(kind, movement.clone());
            let rows = entry.rows();
            for layer in [Layer::Settled, Layer::Pending] {
                assert_eq!(rows.iter().filter(|r| r.layer == layer).map(|r| r.amount_fen).sum::<i64>(), 0, "{kind:?} {layer:?}");
            }
            for effect in entry.effects() {
                let mine = rows.iter().filter(|r| r.account == effect.account);
                let settled: i64 = mine.clone().filter(|r| r.layer == Layer::Settled).map(|r| r.amount_fen).sum();
                let held: i64 = mine.map(|r| held_delta_fen(r.layer, kind, r.amount_fen)).sum();
                assert_eq!((settled, held), (effect.balance_delta_fen, effect.held_delta_fen), "{kind:?} on {}", effect.account);
            }
        }
        let reserve = LedgerEntry::new(EntryKind::Reserve, movement.clone());
        assert_eq!(reserve.available_needed_fen(), 700);
        assert_eq!(LedgerEntry::new(EntryKind::Settle, movement).available_needed_fen(), 0);
    }
}
