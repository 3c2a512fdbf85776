//! The double-entry rules. Every money movement is one balanced set of
//! postings between accounts; the store applies them atomically and the
//! journal keeps them forever.
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
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Wallet => "wallet",
            AccountKind::BankSettlement => "bank_settlement",
        }
    }
    pub fn parse(s: &str) -> Option<AccountKind> {
        match s {
            "wallet" => Some(AccountKind::Wallet),
            "bank_settlement" => Some(AccountKind::BankSettlement),
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
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Transfer => "transfer",
            OperationKind::Topup => "topup",
            OperationKind::Withdrawal => "withdrawal",
        }
    }
    pub fn parse(s: &str) -> Option<OperationKind> {
        match s {
            "transfer" => Some(OperationKind::Transfer),
            "topup" => Some(OperationKind::Topup),
            "withdrawal" => Some(OperationKind::Withdrawal),
            _ => None,
        }
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
    pub journal_sum_fen: i64,
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
        report.problems.push(format!("operation {operation} postings sum to {sum}, not zero"));
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
        let sound = AccountAudit { account, kind: AccountKind::Wallet, currency: Currency::Cny, cached: Balance { balance_fen: 0, held_fen: 0 }, journal_sum_fen: 0 };
        assert!(audit(std::slice::from_ref(&sound), &[], 0, 0).is_sound());
        let drifted = AccountAudit { cached: Balance { balance_fen: 5, held_fen: 10 }, ..sound };
        let report = audit(&[drifted], &[("op".into(), 3)], 1, 1);
        assert_eq!(report.problems.len(), 4, "{:?}", report.problems);
    }
}
