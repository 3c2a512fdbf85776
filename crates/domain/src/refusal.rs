//! Every way a money operation can be refused, as one closed enum checked in
//! one fixed order (the order of the variants), so that the same bad request
//! always gets the same answer. The HTTP layer maps each variant once to a
//! problem type. A refusal is a business answer, returned as a value: nothing
//! moved, and the idempotency key stays free for a corrected retry.

use serde::Serialize;
use thiserror::Error;

use crate::money::{Amount, AmountError};
use crate::text::TextError;
use crate::{AccountId, CardId};

#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The key was already used by this caller for a different request.
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// Staff accounts do not hold money.
    #[error("this account cannot hold or move money")]
    NoWallet,
    #[error("amount must be a positive whole number of fen")]
    InvalidAmount,
    #[error("amount exceeds the limit of {limit_fen} fen")]
    AmountAboveLimit { limit_fen: i64 },
    #[error("note {reason}")]
    InvalidNote { reason: String },
    /// Real-name rule: unverified customers may receive but not send,
    /// top up or withdraw.
    #[error("real-name verification is required before sending, topping up or withdrawing")]
    NotVerified,
    #[error("no customer has that phone number or id")]
    PayeeNotFound,
    #[error("a transfer to yourself is not a transfer")]
    PayeeIsPayer,
    #[error("that account cannot receive money")]
    PayeeCannotReceive,
    #[error("a transfer that needs the payee's acceptance arrives when accepted; do not also ask for a delayed arrival")]
    ConflictingOptions,
    #[error("no active card with that id is bound to this account")]
    CardNotFound,
    /// Abuse limits (`rate`): the caller's lookup budget (looking payees up
    /// by phone number or id) is spent, or the payer sends transfers faster
    /// than the velocity limit allows.
    #[error("payee lookups are limited; this caller's budget is spent for now")]
    LookupBudgetExhausted { retry_after_seconds: i64 },
    #[error("too many transfers in a short time; try again later")]
    RateLimited { retry_after_seconds: i64 },
    /// Confirmation of payee (see `confirmation`): name completion comes
    /// before the typed-name check, and both before funds.
    #[error("typed-name checks are limited per day; try again later")]
    PayeeCheckLimitReached { retry_after_seconds: i64 },
    #[error("masked-name completion for this payee is locked after repeated wrong answers; try again later")]
    NameCompletionLocked { retry_after_seconds: i64 },
    #[error("complete the payee's masked name {masked_name} (the hidden characters, or the whole name) and send the transfer again with name_completion")]
    NameCompletionRequired { masked_name: String, attempts_left: u32 },
    #[error("this payee has not verified their real name, so nobody can confirm who they are; to pay them anyway send the transfer again with confirm_unverified_payee: true")]
    UnverifiedPayeeNotConfirmed,
    #[error("the name you expected does not match the payee's verified name; to pay anyway send the transfer again with confirm_no_match: true")]
    NameMismatch { masked_name: String },
    /// The risk decision (`risk`): after name completion, before funds.
    #[error("payments to this account are stopped")]
    TransferBlocked { reasons: Vec<String>, warnings: Vec<crate::confirmation::Warning> },
    #[error("read the warnings; to pay anyway send the transfer again with confirm_warnings: true")]
    ConfirmationRequired { reasons: Vec<String>, warnings: Vec<crate::confirmation::Warning> },
    #[error("the available balance is {available_fen} fen, less than the {amount_fen} fen asked for")]
    InsufficientFunds { available_fen: i64, amount_fen: i64 },
}

impl From<crate::money::AmountError> for Refusal {
    fn from(error: crate::money::AmountError) -> Refusal {
        match error {
            crate::money::AmountError::NotPositive => Refusal::InvalidAmount,
            crate::money::AmountError::AboveLimit { limit_fen } => Refusal::AmountAboveLimit { limit_fen },
        }
    }
}

impl From<crate::transfer::ConflictingOptions> for Refusal {
    fn from(_: crate::transfer::ConflictingOptions) -> Refusal {
        Refusal::ConflictingOptions
    }
}

/// Every way an account operation (registration, login, verification, cards,
/// profile changes) is refused: a business answer, returned as a value and
/// mapped once to a problem type. Each operation checks in the order its
/// doc comment gives.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountRefusal {
    #[error("a password has {min_chars} to {max_chars} characters")]
    PasswordLength { min_chars: usize, max_chars: usize },
    #[error("a password cannot be one character repeated")]
    PasswordRepeated,
    #[error("that phone number is already registered")]
    PhoneTaken,
    /// Wrong phone number or wrong password: the two look the same.
    #[error("the phone number or password is wrong")]
    InvalidCredentials,
    #[error("logins for this phone number are paused after repeated failures; try again later")]
    TooManyAttempts { retry_after_seconds: i64 },
    /// Too many registrations or logins from one network address.
    #[error("too many requests from this address; try again later")]
    RateLimited { retry_after_seconds: i64 },
    /// A registration met a phone number that is taken, and this address has
    /// spent its lookup budget: whether the number is taken is not told.
    #[error("payee lookups are limited; this address's budget is spent for now")]
    LookupBudgetExhausted { retry_after_seconds: i64 },
    #[error("this action is for customers; staff accounts hold no money")]
    NotCustomer,
    #[error("this account is already verified")]
    AlreadyVerified,
    #[error("the identity number's birth date is in the future")]
    BornInTheFuture,
    #[error("real-name verification requires an age of at least {min_age_years}")]
    BelowMinimumAge { min_age_years: i16 },
    #[error("the identity provider does not confirm this name and number")]
    IdentityNotConfirmed,
    #[error("this identity is already verified on the maximum number of accounts")]
    IdentityLimitReached,
    #[error("real-name verification is required first")]
    NotVerified,
    #[error("the card holder's name must be the account's verified legal name")]
    CardHolderMismatch,
    #[error("this card is already bound to this account")]
    CardAlreadyBound,
    #[error("the nickname and avatar can change only a limited number of times a day")]
    TooManyChanges { retry_after_seconds: i64 },
}

/// What the pre-checks know about a party before the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Party {
    pub wallet: Option<AccountId>,
    pub verified: bool,
}

/// A transfer request's parts as parsed, for [`check_transfer`]: parse
/// results, so that the check alone decides which failure answers first.
#[derive(Clone, Debug)]
pub struct TransferRequestParts {
    pub payer: Party,
    pub amount: Result<Amount, AmountError>,
    pub note: Result<Option<String>, TextError>,
    /// The payee, and whether it is the payer; `None`: nobody by that name.
    pub payee: Option<(Party, bool)>,
}

/// The proof that a transfer passed its pre-checks: what the write needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedParties {
    pub payer_wallet: AccountId,
    pub payee_wallet: AccountId,
    pub amount: Amount,
    pub note: Option<String>,
}

/// Every pre-check of a transfer that needs no balance, in precedence order:
/// wallet, amount, note, verification, payee. The balance check
/// ([`Refusal::InsufficientFunds`]) happens inside the store's transaction.
pub fn check_transfer(parts: TransferRequestParts) -> Result<CheckedParties, Refusal> {
    let payer_wallet = parts.payer.wallet.ok_or(Refusal::NoWallet)?;
    let amount = parts.amount?;
    let note = parts.note.map_err(|error| Refusal::InvalidNote { reason: error.to_string() })?;
    if !parts.payer.verified {
        return Err(Refusal::NotVerified);
    }
    let (payee, payee_is_payer) = parts.payee.ok_or(Refusal::PayeeNotFound)?;
    if payee_is_payer {
        return Err(Refusal::PayeeIsPayer);
    }
    let payee_wallet = payee.wallet.ok_or(Refusal::PayeeCannotReceive)?;
    Ok(CheckedParties { payer_wallet, payee_wallet, amount, note })
}

/// Pre-checks for top-ups and withdrawals, in precedence order: wallet,
/// amount, verification, a card id. Returns the wallet, amount and card.
pub fn check_bank_movement(customer: Party, amount: Result<Amount, AmountError>, card: Option<CardId>) -> Result<(AccountId, Amount, CardId), Refusal> {
    let wallet = customer.wallet.ok_or(Refusal::NoWallet)?;
    let amount = amount?;
    if !customer.verified {
        return Err(Refusal::NotVerified);
    }
    let card = card.ok_or(Refusal::CardNotFound)?;
    Ok((wallet, amount, card))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_table() {
        let ok = Party { wallet: Some(AccountId::new()), verified: true };
        let payee_wallet = AccountId::new();
        let payee = Party { wallet: Some(payee_wallet), verified: true };
        let unverified = Party { verified: false, ..ok };
        let staff = Party { wallet: None, verified: false };
        let amount = Amount::from_fen(100, 1_000);
        let parts = TransferRequestParts { payer: ok, amount, note: Ok(None), payee: Some((payee, false)) };
        let checked = CheckedParties { payer_wallet: ok.wallet.unwrap(), payee_wallet, amount: amount.unwrap(), note: None };
        let note_error = crate::text::clean_line("a\u{7}b", 10, true).unwrap_err();
        let cases: Vec<(TransferRequestParts, Result<CheckedParties, Refusal>)> = vec![
            (parts.clone(), Ok(checked.clone())),
            // Unverified customers may receive.
            (TransferRequestParts { payee: Some((Party { verified: false, ..payee }, false)), ..parts.clone() }, Ok(checked)),
            // Each failure, and what it wins over.
            (TransferRequestParts { payer: staff, amount: Amount::from_fen(0, 1), payee: None, ..parts.clone() }, Err(Refusal::NoWallet)),
            (TransferRequestParts { amount: Amount::from_fen(0, 1), payer: unverified, ..parts.clone() }, Err(Refusal::InvalidAmount)),
            (TransferRequestParts { amount: Amount::from_fen(2_000, 1_000), ..parts.clone() }, Err(Refusal::AmountAboveLimit { limit_fen: 1_000 })),
            (TransferRequestParts { note: Err(note_error.clone()), payer: unverified, ..parts.clone() }, Err(Refusal::InvalidNote { reason: note_error.to_string() })),
            (TransferRequestParts { payer: unverified, payee: None, ..parts.clone() }, Err(Refusal::NotVerified)),
            (TransferRequestParts { payee: None, ..parts.clone() }, Err(Refusal::PayeeNotFound)),
            (TransferRequestParts { payee: Some((ok, true)), ..parts.clone() }, Err(Refusal::PayeeIsPayer)),
            (TransferRequestParts { payee: Some((staff, false)), ..parts.clone() }, Err(Refusal::PayeeCannotReceive)),
        ];
        for (parts, expected) in cases {
            assert_eq!(check_transfer(parts.clone()), expected, "{parts:?}");
        }
        let card = CardId::new();
        assert_eq!(check_bank_movement(staff, Amount::from_fen(0, 1), None), Err(Refusal::NoWallet));
        assert_eq!(check_bank_movement(unverified, Amount::from_fen(0, 1), None), Err(Refusal::InvalidAmount));
        assert_eq!(check_bank_movement(unverified, amount, None), Err(Refusal::NotVerified));
        assert_eq!(check_bank_movement(ok, amount, None), Err(Refusal::CardNotFound));
        assert_eq!(check_bank_movement(ok, amount, Some(card)), Ok((ok.wallet.unwrap(), amount.unwrap(), card)));
    }
}
