//! Confirmation of a claimed identity by an outside authority (in China, the
//! public-security identity service). The built-in provider accepts what
//! passed the format, check-digit, date and age checks; an operator plugs in
//! a real one by implementing [`IdentityProvider`].

use std::future::Future;
use std::pin::Pin;

use recourse_domain::identity::{IdNumber, LegalName};

#[derive(Debug, thiserror::Error)]
pub enum IdentityRejection {
    #[error("the identity provider does not confirm this name and number")]
    NotConfirmed,
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
}

pub type ProviderFuture<'a> = Pin<Box<dyn Future<Output = Result<(), IdentityRejection>> + Send + 'a>>;

pub trait IdentityProvider: Send + Sync {
    fn confirm<'a>(&'a self, name: &'a LegalName, number: &'a IdNumber) -> ProviderFuture<'a>;
}

/// Accepts every identity that passed the built-in checks.
pub struct ChecksumOnly;

impl IdentityProvider for ChecksumOnly {
    fn confirm<'a>(&'a self, _name: &'a LegalName, _number: &'a IdNumber) -> ProviderFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}
