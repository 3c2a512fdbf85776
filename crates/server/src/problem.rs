//! The one place where failures become HTTP answers: RFC 9457
//! `application/problem+json` with a stable `code` (and `type` = `/problems/{code}`).
//!
//! Handlers return `Result<_, ApiError>`; domain and store errors convert into
//! `ApiError` with `?`, and each variant maps to exactly one status and code.
//! Internal failures are logged once here, with their cause, and answered
//! with a generic 500 that carries the request's correlation id only.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use recourse_domain::refusal::{AccountRefusal, Refusal};
use recourse_service::ServiceError;
use recourse_store::StoreError;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The problem document every error response carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `/problems/{code}`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code; never changes meaning.
    pub code: String,
    /// Extra members specific to the problem (for example `available` for insufficient funds).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub extra: Map<String, Value>,
    /// The internal cause, logged (never shown) for 5xx.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, title: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError { status, code, title, detail: detail.into(), extra: Map::new(), cause: None }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// The internal cause of a 5xx, for the log.
    pub fn caused_by(mut self, cause: String) -> ApiError {
        self.cause = Some(cause);
        self
    }

    pub fn invalid(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, "The request is not valid", detail)
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, "The request is malformed", detail)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "Authentication required", "send a valid session token as `Authorization: Bearer <token>`")
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error", "the service failed; nothing was changed by a partial operation").caused_by(cause.to_string())
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        let detail = refusal.to_string();
        match refusal {
            Refusal::IdempotencyKeyReused => ApiError::new(StatusCode::CONFLICT, "idempotency-key-reused", "Idempotency key reused", detail),
            Refusal::InvalidAmount => ApiError::invalid("invalid-amount", detail),
            Refusal::AmountAboveLimit { limit_fen } => ApiError::invalid("amount-above-limit", detail).with("limit", limit_fen),
            Refusal::InvalidNote { .. } => ApiError::invalid("invalid-note", detail),
            Refusal::ConflictingOptions => ApiError::invalid("invalid-request", detail),
            Refusal::NoWallet => ApiError::new(StatusCode::FORBIDDEN, "no-wallet", "This account holds no money", detail),
            Refusal::NotVerified => ApiError::new(StatusCode::FORBIDDEN, "verification-required", "Real-name verification required", detail),
            Refusal::PayeeNotFound => ApiError::invalid("payee-not-found", detail),
            Refusal::PayeeIsPayer => ApiError::invalid("payee-is-payer", detail),
            Refusal::PayeeCannotReceive => ApiError::invalid("payee-cannot-receive", detail),
            Refusal::CardNotFound => ApiError::invalid("card-not-found", detail),
            Refusal::RateLimited { retry_after_seconds } => rate_limited(detail, retry_after_seconds),
            Refusal::LookupBudgetExhausted { retry_after_seconds } => lookup_budget_exhausted(detail, retry_after_seconds),
            Refusal::PayeeCheckLimitReached { retry_after_seconds } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "payee-check-limit-reached", "Too many name checks", detail).with("retry_after_seconds", retry_after_seconds)
            }
            Refusal::NameCompletionLocked { retry_after_seconds } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "name-completion-locked", "Name completion locked", detail).with("retry_after_seconds", retry_after_seconds)
            }
            Refusal::NameCompletionRequired { masked_name, attempts_left } => {
                ApiError::new(StatusCode::CONFLICT, "name-completion-required", "Complete the payee's name", detail).with("masked_name", masked_name).with("attempts_left", attempts_left)
            }
            Refusal::UnverifiedPayeeNotConfirmed => {
                ApiError::new(StatusCode::CONFLICT, "unverified-payee-confirmation-required", "Confirm paying an unverified payee", detail)
            }
            Refusal::TransferBlocked { reasons, warnings } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "transfer-blocked", "Transfer blocked", detail)
                .with("reasons", reasons)
                .with("warnings", serde_json::to_value(warnings).unwrap_or_default()),
            Refusal::ConfirmationRequired { reasons, warnings } => ApiError::new(StatusCode::CONFLICT, "confirmation-required", "Confirm after reading the warnings", detail)
                .with("reasons", reasons)
                .with("warnings", serde_json::to_value(warnings).unwrap_or_default()),
            Refusal::NameMismatch { masked_name } => {
                ApiError::new(StatusCode::CONFLICT, "name-mismatch", "The name does not match", detail).with("masked_name", masked_name).with("result", "no_match")
            }
            Refusal::InsufficientFunds { available_fen, amount_fen } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "insufficient-funds", "Insufficient funds", detail)
                    .with("available", available_fen)
                    .with("amount", amount_fen)
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        let detail = error.to_string();
        match error {
            StoreError::PhoneTaken => ApiError::new(StatusCode::CONFLICT, "phone-taken", "Phone number already registered", detail),
            StoreError::AlreadyVerified => ApiError::new(StatusCode::CONFLICT, "already-verified", "Already verified", detail),
            StoreError::IdentityLimitReached => ApiError::new(StatusCode::CONFLICT, "identity-limit-reached", "Identity already in use", detail),
            StoreError::CardAlreadyBound => ApiError::new(StatusCode::CONFLICT, "card-already-bound", "Card already bound", detail),
            StoreError::NotFound => ApiError::not_found(detail),
            StoreError::Overloaded | StoreError::Closed | StoreError::Contention(_) | StoreError::Unavailable(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "Service busy", "the store could not take the operation now; retry shortly with the same Idempotency-Key")
                    .caused_by(detail)
            }
            StoreError::OutcomeUnknown(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "outcome-unknown",
                "Outcome unknown",
                "the store could not confirm whether the operation was saved; send the same request again with the same Idempotency-Key: it is done exactly once either way",
            )
            .caused_by(detail),
            StoreError::KeyOutdated { .. } => key_outdated(detail),
            StoreError::Database(_) | StoreError::Corrupt(_) => ApiError::internal(error),
        }
    }
}

impl From<AccountRefusal> for ApiError {
    fn from(refusal: AccountRefusal) -> ApiError {
        let detail = refusal.to_string();
        match refusal {
            AccountRefusal::PasswordLength { .. } | AccountRefusal::PasswordRepeated => ApiError::invalid("weak-password", detail),
            AccountRefusal::PhoneTaken => ApiError::new(StatusCode::CONFLICT, "phone-taken", "Phone number already registered", detail),
            AccountRefusal::InvalidCredentials => ApiError::new(StatusCode::UNAUTHORIZED, "invalid-credentials", "Invalid credentials", detail),
            AccountRefusal::RateLimited { retry_after_seconds } => rate_limited(detail, retry_after_seconds),
            AccountRefusal::LookupBudgetExhausted { retry_after_seconds } => lookup_budget_exhausted(detail, retry_after_seconds),
            AccountRefusal::TooManyAttempts { retry_after_seconds } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too-many-attempts", "Too many failed logins", detail).with("retry_after_seconds", retry_after_seconds)
            }
            AccountRefusal::NotCustomer => ApiError::forbidden(detail),
            AccountRefusal::AlreadyVerified => ApiError::new(StatusCode::CONFLICT, "already-verified", "Already verified", detail),
            AccountRefusal::BornInTheFuture => ApiError::invalid("invalid-id-number", detail).with("reason", "birth_date"),
            AccountRefusal::BelowMinimumAge { .. } => ApiError::invalid("below-minimum-age", detail),
            AccountRefusal::IdentityNotConfirmed => ApiError::invalid("identity-not-confirmed", detail),
            AccountRefusal::IdentityLimitReached => ApiError::new(StatusCode::CONFLICT, "identity-limit-reached", "Identity already in use", detail),
            AccountRefusal::NotVerified => Refusal::NotVerified.into(),
            AccountRefusal::CardHolderMismatch => ApiError::invalid("card-holder-mismatch", detail),
            AccountRefusal::CardAlreadyBound => ApiError::new(StatusCode::CONFLICT, "card-already-bound", "Card already bound", detail),
            AccountRefusal::TooManyChanges { retry_after_seconds } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too-many-changes", "Too many profile changes", detail).with("retry_after_seconds", retry_after_seconds)
            }
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> ApiError {
        match error {
            ServiceError::Store(error) => error.into(),
            ServiceError::IdentityProviderUnavailable(detail) => {
                // The provider's own words may echo the name or number asked
                // about: log their length, never their text.
                tracing::warn!(detail_chars = detail.chars().count(), "identity provider unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "identity-provider-unavailable", "Identity check unavailable", "the identity check could not be completed; try again later")
            }
            ServiceError::Overloaded(what) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "Service busy", format!("too much {what} is waiting; retry shortly")),
            ServiceError::KeyOutdated(_) => key_outdated(error.to_string()),
            ServiceError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// 503 `key-outdated`: this instance still runs with an identity key that a
/// rotation has replaced, so it may neither write identity data (the store
/// refuses) nor read what was written under the new key. Nothing was saved.
fn key_outdated(cause: String) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "key-outdated",
        "Service being reconfigured",
        "this server has not yet been restarted with the current identity key; nothing was saved. Try again shortly",
    )
    .caused_by(cause)
}

/// A transition that is no longer possible: 409 with the transfer as it is
/// now. Its status is `current_status` (and `transfer.status`): the
/// problem's own `status` member is the HTTP status, as RFC 9457 defines it.
pub fn illegal_transition(current_status: &str, transfer: Value) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "illegal-transition", "Transition not possible", format!("the transfer is {current_status}; that is no longer possible"))
        .with("current_status", current_status)
        .with("transfer", transfer)
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the body as JSON with `Content-Type: application/json`",
            ),
            JsonRejection::JsonSyntaxError(e) => ApiError::bad_request("malformed-json", e.body_text()),
            JsonRejection::JsonDataError(e) => ApiError::invalid("invalid-request", e.body_text()),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Request body too large", other.body_text())
            }
            other => ApiError::bad_request("malformed-request", other.body_text()),
        }
    }
}

/// 429 `rate-limited`: a capacity limit (per-address, transfer velocity).
fn rate_limited(detail: String, retry_after_seconds: i64) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", "Too many requests", detail).with("retry_after_seconds", retry_after_seconds)
}

/// 429 `lookup-budget-exhausted`: the caller's payee lookups are spent for now.
fn lookup_budget_exhausted(detail: String, retry_after_seconds: i64) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "lookup-budget-exhausted", "Lookup budget exhausted", detail).with("retry_after_seconds", retry_after_seconds)
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::bad_request("invalid-query", rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, cause = self.cause.as_deref().unwrap_or(""), "request failed");
        }
        let retry_after_seconds = self.extra.get("retry_after_seconds").and_then(Value::as_i64);
        let problem = Problem {
            problem_type: format!("/problems/{}", self.code),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
            extra: self.extra,
        };
        let mut response = (self.status, Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        match self.status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let seconds = retry_after_seconds.unwrap_or(60);
                if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
