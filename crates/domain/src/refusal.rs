//! Every way a money operation can be refused, as one closed enum checked in
//! one fixed order (the order of the variants), so that the same bad request
//! always gets the same answer. The HTTP layer maps each variant once to a
//! problem type. A refusal is a business answer, returned as a value: nothing
//! moved, and the idempotency key stays free for a corrected retry.

use serde::Serialize;
use thiserror::Error;

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

/// What the pre-checks know about the parties before the write.
#[derive(Clone, Copy, Debug)]
pub struct Party {
    pub has_wallet: bool,
    pub verified: bool,
}

/// The checks that need no balance, in precedence order. The balance check
/// ([`Refusal::InsufficientFunds`]) happens inside the store's transaction.
pub fn check_transfer(payer: Party, payee: Option<(Party, bool)>) -> Result<(), Refusal> {
    if !payer.has_wallet {
        return Err(Refusal::NoWallet);
    }
    if !payer.verified {
        return Err(Refusal::NotVerified);
    }
    let Some((payee, payee_is_payer)) = payee else {
        return Err(Refusal::PayeeNotFound);
    };
    if payee_is_payer {
        return Err(Refusal::PayeeIsPayer);
    }
    if !payee.has_wallet {
        return Err(Refusal::PayeeCannotReceive);
    }
    Ok(())
}

/// Pre-checks for top-ups and withdrawals.
pub fn check_bank_movement(customer: Party, card_found: bool) -> Result<(), Refusal> {
    if !customer.has_wallet {
        return Err(Refusal::NoWallet);
    }
    if !customer.verified {
        return Err(Refusal::NotVerified);
    }
    if !card_found {
        return Err(Refusal::CardNotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Party = Party { has_wallet: true, verified: true };

    #[test]
    fn precedence_table() {
        let unverified = Party { verified: false, ..OK };
        let staff = Party { has_wallet: false, verified: false };
        type Case = (Party, Option<(Party, bool)>, Result<(), Refusal>);
        let cases: &[Case] = &[
            (OK, Some((OK, false)), Ok(())),
            (OK, Some((unverified, false)), Ok(())), // unverified customers may receive
            (staff, None, Err(Refusal::NoWallet)),
            (unverified, None, Err(Refusal::NotVerified)),
            (OK, None, Err(Refusal::PayeeNotFound)),
            (OK, Some((OK, true)), Err(Refusal::PayeeIsPayer)),
            (OK, Some((staff, false)), Err(Refusal::PayeeCannotReceive)),
        ];
        for (payer, payee, expected) in cases {
            assert_eq!(check_transfer(*payer, *payee), *expected, "{payer:?} {payee:?}");
        }
        assert_eq!(check_bank_movement(unverified, false), Err(Refusal::NotVerified));
        assert_eq!(check_bank_movement(OK, false), Err(Refusal::CardNotFound));
    }
}
