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
