//! Tracing money that moved on (as Brazil's Pix does for its special return
//! mechanism): after a claimed payment reached an account, which of that
//! account's later outgoing payments carried it, and how much of it each.
//!
//! Attribution is proportional ("pro rata"): the claimed money is a share of
//! the account's balance, and every payment out of it carries that share of
//! its amount. Money arriving later dilutes the share; money leaving reduces
//! both. The shell follows the payments to other accounts hop by hop
//! (`[claims] trace_hops`, within `trace_window_hours` of each arrival).

use crate::{AccountId, OperationId};

/// Where an outgoing payment went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A transfer to another customer's wallet (followed to the next hop).
    Wallet { transfer: OperationId, account: AccountId },
    /// Out of Recourse (a withdrawal to a bank card): the trail ends.
    Bank { operation: OperationId },
    /// Sent back to a claimant (a claim's return, or a claim's hold
    /// settled): claimed money first, not a share.
    Returned { operation: OperationId },
    /// Anything else that left the account.
    Other { operation: OperationId },
}

/// One settled movement on the traced account after the arrival, in
/// journal order. Positive: money in; negative: money out, to `destination`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posting {
    pub at_us: i64,
    pub amount_fen: i64,
    pub destination: Destination,
}

/// An outgoing payment and the part of the traced money it carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Carried {
    pub at_us: i64,
    pub destination: Destination,
    pub amount_fen: i64,
    pub attributed_fen: i64,
}

/// What became of `traced_fen` that arrived on an account whose balance was
/// `balance_after_fen` just after it arrived: the outgoing payments among
/// `postings` (after the arrival, in order) up to `until_us` that carried
/// some of it, and how much is still on the account at the end.
pub fn attribute(traced_fen: i64, balance_after_fen: i64, postings: &[Posting], until_us: i64) -> (Vec<Carried>, i64) {
    let mut balance = balance_after_fen.max(0);
    let mut traced = traced_fen.clamp(0, balance);
    let mut carried = Vec::new();
    for posting in postings.iter().take_while(|p| p.at_us <= until_us) {
        if posting.amount_fen >= 0 {
            balance += posting.amount_fen;
            continue;
        }
        let out = -posting.amount_fen;
        // The traced share of what leaves, rounded down (never more than is
        // left); what goes back to a claimant is the claimed money itself.
        let share = match posting.destination {
            Destination::Returned { .. } => out,
            _ if balance > 0 => (i128::from(out) * i128::from(traced) / i128::from(balance)) as i64,
            _ => 0,
        };
        let share = share.min(traced);
        balance -= out;
        traced -= share;
        if share > 0 {
            carried.push(Carried { at_us: posting.at_us, destination: posting.destination, amount_fen: out, attributed_fen: share });
        }
        // A balance cannot go below what remains traced.
        traced = traced.min(balance.max(0));
    }
    (carried, traced)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_wallet(n: u8) -> Destination {
        Destination::Wallet { transfer: OperationId::from_bytes([n; 16]), account: AccountId::from_bytes([n; 16]) }
    }

    #[test]
    fn all_of_it_moves_on_when_the_account_held_nothing_else() {
        let postings = [Posting { at_us: 10, amount_fen: -1_000, destination: to_wallet(1) }];
        let (carried, left) = attribute(1_000, 1_000, &postings, 100);
        assert_eq!(carried, vec![Carried { at_us: 10, destination: to_wallet(1), amount_fen: 1_000, attributed_fen: 1_000 }]);
        assert_eq!(left, 0);
    }

    #[test]
    fn a_share_of_each_payment_when_other_money_was_there() {
        // 1,000 claimed on top of 3,000 already there: a quarter of each payment out.
        let postings = [
            Posting { at_us: 10, amount_fen: -2_000, destination: to_wallet(1) },
            Posting { at_us: 20, amount_fen: 4_000, destination: to_wallet(9) },
            Posting { at_us: 30, amount_fen: -3_000, destination: Destination::Bank { operation: OperationId::from_bytes([7; 16]) } },
        ];
        let (carried, left) = attribute(1_000, 4_000, &postings, 100);
        assert_eq!(carried[0].attributed_fen, 500);
        // 2,000 left of which 500 traced, then 4,000 in: 500 / 6,000 of 3,000.
        assert_eq!(carried[1].attributed_fen, 250);
        assert_eq!(left, 250);
        let total: i64 = carried.iter().map(|c| c.attributed_fen).sum();
        assert_eq!(total + left, 1_000, "nothing is lost or created");
    }

    #[test]
    fn money_sent_back_to_a_claimant_is_the_claimed_money_first() {
        let postings = [Posting { at_us: 10, amount_fen: -1_000, destination: Destination::Returned { operation: OperationId::from_bytes([5; 16]) } }];
        let (carried, left) = attribute(3_000, 30_000, &postings, 100);
        assert_eq!(carried[0].attributed_fen, 1_000, "not a tenth of it");
        assert_eq!(left, 2_000);
    }

    #[test]
    fn the_window_bounds_what_is_followed() {
        let postings = [Posting { at_us: 10, amount_fen: -500, destination: to_wallet(1) }, Posting { at_us: 200, amount_fen: -500, destination: to_wallet(2) }];
        let (carried, left) = attribute(1_000, 1_000, &postings, 100);
        assert_eq!(carried.len(), 1);
        assert_eq!(left, 500);
    }

    #[test]
    fn attribution_never_exceeds_the_traced_amount() {
        // Rounding over many small payments never carries more than arrived.
        let postings: Vec<Posting> = (0..300).map(|i| Posting { at_us: i, amount_fen: -7, destination: to_wallet((i % 200) as u8) }).collect();
        let (carried, left) = attribute(333, 2_101, &postings, 1_000);
        let total: i64 = carried.iter().map(|c| c.attributed_fen).sum();
        assert!(total + left <= 333 && left >= 0, "{total} + {left}");
        assert!(carried.iter().all(|c| c.attributed_fen <= c.amount_fen));
    }
}
