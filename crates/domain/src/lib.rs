//! Recourse's functional core.
//!
//! Everything here is pure: no clocks, no storage, no network. The shell
//! (`recourse-store`, `recourse-server`) parses input into these types once and
//! from then on holds values that are valid by construction: a [`money::Amount`]
//! is always a positive number of fen within limits, a [`phone::Phone`] is always
//! a mainland mobile number, an [`identity::IdNumber`] always has a correct
//! GB 11643-1999 check digit.

pub mod avatar;
pub mod card;
pub mod claim;
pub mod confirmation;
pub mod hash_index;
pub mod ids;
pub mod identity;
pub mod ledger;
pub mod lookalike;
pub mod money;
pub mod names;
pub mod phone;
pub mod rate;
pub mod refusal;
pub mod risk;
pub mod role;
pub mod text;
pub mod trace;
pub mod transfer;

pub use ids::{AccountId, CardId, HoldId, OperationId, UserId};
pub use money::{Amount, Currency};
pub use role::Role;

/// For tests that pin generated data (pictures, evaluation sets).
#[cfg(test)]
pub(crate) mod pins {
    /// FNV-1a, 64 bits: a digest that does not change between Rust versions.
    pub(crate) fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
        bytes.into_iter().fold(0xCBF2_9CE4_8422_2325, |digest, byte| (digest ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3))
    }
}
