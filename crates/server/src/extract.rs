//! Request extractors whose failures are problem documents, not axum's
//! plain-text rejections.

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::{Json, RequestExt};
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// A JSON body. Rejections become `malformed-json` (400), `invalid-request`
/// (422), `unsupported-media-type` (415) or `payload-too-large` (413).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + 'static> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = request.extract::<Json<T>, _>().await?;
        Ok(ApiJson(value))
    }
}

/// Query parameters, rejected as `invalid-query` (400).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(value))
    }
}

pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 255;

/// The `Idempotency-Key` header: 1–255 visible ASCII characters, scoped to the caller.
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(IDEMPOTENCY_KEY_HEADER).ok_or_else(|| {
            ApiError::bad_request("idempotency-key-required", "money-moving requests need an `Idempotency-Key` header (for example a UUID) so that retries never move money twice")
        })?;
        let key = value.to_str().ok().filter(|key| {
            !key.is_empty() && key.len() <= IDEMPOTENCY_KEY_LEN_MAX && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
        });
        match key {
            Some(key) => Ok(IdempotencyKey(key.to_owned())),
            None => Err(ApiError::bad_request(
                "idempotency-key-invalid",
                format!("an `Idempotency-Key` is 1 to {IDEMPOTENCY_KEY_LEN_MAX} visible ASCII characters"),
            )),
        }
    }
}

/// The language of the sentences in warnings, from `Accept-Language`
/// (Chinese unless English is preferred). Never rejects.
pub struct AcceptLanguage(pub recourse_domain::risk::Lang);

impl<S: Send + Sync> FromRequestParts<S> for AcceptLanguage {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        Ok(AcceptLanguage(recourse_domain::risk::Lang::from_accept_language(header)))
    }
}

/// The client's network address: the peer's, or — when the peer is one of
/// `limits.trusted_proxies` — the last address in `X-Forwarded-For` that is
/// not a trusted proxy (a client can put anything at the front of that
/// header; only what the trusted proxies appended is believed). `None` when
/// the connection's address is not known (a server embedded without it).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl FromRequestParts<crate::state::AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &crate::state::AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
        let trusted = |address: &std::net::IpAddr| state.trusted_proxies.iter().any(|net| net.contains(&address.to_canonical()));
        let Some(mut client) = peer else {
            return Ok(ClientAddress(None));
        };
        if trusted(&client) {
            let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|value| value.to_str().ok()).flat_map(|value| value.split(',')).map(str::trim).collect::<Vec<_>>();
            for hop in forwarded.iter().rev() {
                match hop.parse::<std::net::IpAddr>() {
                    Ok(address) => {
                        client = address;
                        if !trusted(&address) {
                            break;
                        }
                    }
                    // Garbage from the client side: stop at the last good hop.
                    Err(_) => break,
                }
            }
        }
        Ok(ClientAddress(Some(client.to_canonical())))
    }
}
