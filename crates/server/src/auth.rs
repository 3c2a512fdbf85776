//! The `Caller` extractor: the bearer token of a request, checked by the
//! service (`Service::authenticate`). Tokens and passwords themselves live in
//! `recourse_service::passwords`.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use recourse_store::UserRecord;

use crate::problem::ApiError;
use crate::state::AppState;

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: UserRecord,
    pub token_hash: Vec<u8>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(ApiError::unauthenticated)?;
        let token = header.to_str().ok().and_then(|value| value.strip_prefix("Bearer ")).map(str::trim).ok_or_else(ApiError::unauthenticated)?;
        let (user, token_hash) = state.authenticate(token).await?.ok_or_else(ApiError::unauthenticated)?;
        Ok(Caller { user, token_hash })
    }
}

/// A caller who is a customer. Staff accounts hold no money and pay no one:
/// the routes that take this (payee previews and checks, contacts, blocks,
/// reports) answer them 403 before reading the body.
#[derive(Clone, Debug)]
pub struct CustomerCaller(pub Caller);

impl FromRequestParts<AppState> for CustomerCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.user.role.is_staff() {
            return Err(ApiError::forbidden("this is for customers: staff accounts hold no money and pay no one"));
        }
        Ok(CustomerCaller(caller))
    }
}
