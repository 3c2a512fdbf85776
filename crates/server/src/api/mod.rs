//! HTTP handlers, one module per capability. Each handler parses its input
//! into domain types, calls the store, and returns a view; failures are
//! `ApiError`s mapped in `crate::problem`.

pub mod accounts;
pub mod claims;
pub mod disclosures;
pub mod evidence;
pub mod money;
pub mod payees;
pub mod risk;
pub mod system;
pub mod views;
