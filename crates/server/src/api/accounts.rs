//! Customers and staff: registration, sessions, profile, real-name
//! verification and bank cards.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use recourse_domain::card::CardNumber;
use recourse_domain::identity::{AgeError, IdNumber, IdNumberError, LegalName};
use recourse_domain::phone::Phone;
use recourse_domain::text::Nickname;
use recourse_domain::{AccountId, CardId, Role, UserId};
use recourse_store::{Avatar, NewCard, NewUser, UserRecord, Verification};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::views::{CardView, MeView};
use crate::auth::{self, Caller};
use recourse_service::clock::rfc3339;
use crate::extract::ApiJson;
use recourse_service::identity_provider::IdentityRejection;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use recourse_service::vault::Slot;

/// No `Debug`: it carries secrets that must never reach a log.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Mainland mobile number, with or without `+86`.
    #[schema(example = "+8613800138000")]
    pub phone: String,
    /// 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    #[schema(example = "小明", min_length = 1, max_length = 32)]
    pub nickname: String,
    /// Optional avatar image (PNG, JPEG or WebP), base64.
    pub avatar_base64: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegisteredView {
    pub id: String,
    pub phone: String,
    pub nickname: String,
    pub verified: bool,
    pub created_at: String,
}

pub fn parse_phone(text: &str) -> ApiResult<Phone> {
    Phone::parse(text).map_err(|e| ApiError::invalid("invalid-phone", e.to_string()))
}

fn parse_nickname(text: &str) -> ApiResult<Nickname> {
    Nickname::parse(text).map_err(|e| ApiError::invalid("invalid-nickname", format!("nickname {e}")))
}

/// Create a user record (customer or staff). Shared by registration, the
/// admin command and the demo seeder so that all go through the same checks.
pub async fn create_account(state: &AppState, phone: &Phone, password: &str, nickname: &Nickname, role: Role, avatar: Option<(&'static str, Vec<u8>)>) -> ApiResult<UserRecord> {
    auth::check_password_policy(password)?;
    let params = state.config.password_hashing.clone();
    let password = password.to_owned();
    let password_hash = tokio::task::spawn_blocking(move || auth::hash_password(&params, &password)).await.map_err(ApiError::internal)??;
    let id = UserId::new();
    let now_us = state.clock.now_us();
    let avatar = avatar.map(|(content_type, image)| new_avatar(id, content_type, image, now_us));
    let new_user = NewUser {
        id,
        phone: phone.as_str().to_owned(),
        password_hash,
        nickname: nickname.as_str().to_owned(),
        role,
        wallet: (role == Role::Customer).then(AccountId::new),
        created_at_us: now_us,
        avatar,
    };
    Ok(state.store.create_user(new_user).await?)
}

#[utoipa::path(post, path = "/v1/users", tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = RegisteredView), (status = 409, description = "phone-taken", body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn register(State(state): State<AppState>, ApiJson(request): ApiJson<RegisterRequest>) -> ApiResult<(StatusCode, Json<RegisteredView>)> {
    let phone = parse_phone(&request.phone)?;
    let nickname = parse_nickname(&request.nickname)?;
    let avatar = match &request.avatar_base64 {
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| ApiError::invalid("invalid-avatar", "avatar_base64 is not valid base64"))?;
            let (content_type, _) = check_avatar(&state, &bytes)?;
            Some((content_type, bytes))
        }
        None => None,
    };
    let user = create_account(&state, &phone, &request.password, &nickname, Role::Customer, avatar).await?;
    let view = RegisteredView { id: user.id.to_string(), phone: user.phone, nickname: user.nickname, verified: false, created_at: rfc3339(user.created_at_us) };
    Ok((StatusCode::CREATED, Json(view)))
}

/// No `Debug`: it carries secrets that must never reach a log.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub phone: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub user_id: String,
    pub role: String,
    pub expires_at: String,
}

/// A hash to verify against when the phone is unknown, so that a wrong phone
/// and a wrong password take the same time.
fn decoy_hash(state: &AppState) -> String {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| auth::hash_password(&state.config.password_hashing, "decoy password").unwrap_or_default()).clone()
}

#[utoipa::path(post, path = "/v1/sessions", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = SessionView), (status = 401, description = "invalid-credentials", body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "too-many-attempts: logins for this phone are paused (`retry_after_seconds`)", body = Problem, content_type = "application/problem+json")))]
pub async fn login(State(state): State<AppState>, ApiJson(request): ApiJson<LoginRequest>) -> ApiResult<Json<SessionView>> {
    let invalid = || ApiError::new(StatusCode::UNAUTHORIZED, "invalid-credentials", "Invalid credentials", "the phone number or password is wrong");
    if request.password.chars().count() > auth::PASSWORD_CHARS_MAX {
        return Err(invalid());
    }
    let Ok(phone) = Phone::parse(&request.phone) else {
        return Err(invalid());
    };
    // Password guessing is paused per phone number, known or not (so the
    // pause reveals nothing), across every instance (the count is in the store).
    let limits = &state.config.limits;
    let now_us = state.clock.now_us();
    let window_us = limits.login_failure_window_seconds.saturating_mul(1_000_000);
    let window_open_after_us = now_us.saturating_sub(window_us);
    let (failures, window_started_at_us) = state.store.login_failures(phone.as_str(), window_open_after_us).await?;
    if failures >= limits.login_failures_max {
        let retry_after_seconds = ((window_started_at_us + window_us - now_us) / 1_000_000).max(1);
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too-many-attempts", "Too many failed logins", "logins for this phone number are paused after repeated failures; try again later")
            .with("retry_after_seconds", retry_after_seconds));
    }
    let user = state.store.user_by_phone(phone.as_str()).await?;
    let stored_hash = user.as_ref().map_or_else(|| decoy_hash(&state), |u| u.password_hash.clone());
    let password = request.password.clone();
    let matches = tokio::task::spawn_blocking(move || auth::verify_password(&stored_hash, &password)).await.map_err(ApiError::internal)?;
    let user = match (user, matches) {
        (Some(user), true) => user,
        _ => {
            state.store.record_login_failure(phone.as_str().to_owned(), now_us, window_open_after_us).await?;
            return Err(invalid());
        }
    };
    if failures > 0 {
        state.store.clear_login_failures(phone.as_str().to_owned()).await?;
    }
    let (token, token_hash) = auth::new_token();
    let expires_at_us = now_us.saturating_add(state.config.limits.session_ttl_seconds.saturating_mul(1_000_000));
    state.store.create_session(token_hash, user.id, now_us, expires_at_us).await?;
    Ok(Json(SessionView { token, user_id: user.id.to_string(), role: user.role.as_str().to_owned(), expires_at: rfc3339(expires_at_us) }))
}

#[utoipa::path(delete, path = "/v1/sessions/current", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "the token no longer works"), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    state.store.revoke_session(caller.token_hash, state.clock.now_us()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me_view(state: &AppState, user: &UserRecord) -> ApiResult<MeView> {
    let balance = match user.wallet {
        Some(wallet) => Some(state.store.balance(wallet).await?),
        None => None,
    };
    Ok(MeView::new(user, balance.as_ref()))
}

#[utoipa::path(get, path = "/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = MeView), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<MeView>> {
    Ok(Json(me_view(&state, &caller.user).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    pub nickname: Option<String>,
    /// How your transfers travel when a request does not say: `instant`, `2h` or `24h`.
    #[schema(value_type = Option<String>, example = "2h")]
    pub default_arrival: Option<String>,
    /// "Ask me before accepting transfers": transfers to you wait for your
    /// acceptance, and go back to the payer if you do not answer in time.
    pub require_acceptance: Option<bool>,
}

/// Refuse a nickname or avatar change beyond `limits.profile_changes_per_day`.
async fn check_profile_change_allowed(state: &AppState, user: UserId) -> ApiResult<()> {
    const DAY_US: i64 = 24 * 3600 * 1_000_000;
    let now_us = state.clock.now_us();
    let (changes, oldest_us) = state.store.profile_changes_since(user, now_us - DAY_US).await?;
    if changes >= state.config.limits.profile_changes_per_day {
        let retry_after_seconds = ((oldest_us + DAY_US - now_us) / 1_000_000).max(1);
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too-many-changes", "Too many profile changes", "the nickname and avatar can change only a limited number of times a day")
            .with("retry_after_seconds", retry_after_seconds));
    }
    Ok(())
}

#[utoipa::path(patch, path = "/v1/me", tag = "accounts", security(("bearer" = [])), request_body = UpdateMeRequest,
    responses((status = 200, body = MeView), (status = 422, body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "too-many-changes", body = Problem, content_type = "application/problem+json")))]
pub async fn update_me(State(state): State<AppState>, caller: Caller, ApiJson(request): ApiJson<UpdateMeRequest>) -> ApiResult<Json<MeView>> {
    let default_arrival = request.default_arrival.as_deref().map(super::money::parse_arrival).transpose()?;
    let nickname = request.nickname.as_deref().map(parse_nickname).transpose()?;
    if default_arrival.is_some() || request.require_acceptance.is_some() {
        if caller.user.wallet.is_none() {
            return Err(recourse_domain::refusal::Refusal::NoWallet.into());
        }
        state.set_transfer_preferences(caller.user.id, default_arrival, request.require_acceptance).await?;
    }
    if let Some(nickname) = nickname {
        if nickname.as_str() != caller.user.nickname {
            check_profile_change_allowed(&state, caller.user.id).await?;
            state.store.set_nickname(caller.user.id, nickname.as_str().to_owned(), state.clock.now_us()).await?;
        }
    }
    let user = state.store.user(caller.user.id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(me_view(&state, &user).await?))
}

/// Recognise an image by its first bytes; the declared type is not trusted.
fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn check_avatar<'a>(state: &AppState, bytes: &'a [u8]) -> ApiResult<(&'static str, &'a [u8])> {
    if bytes.len() > state.config.limits.avatar_max_bytes {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Avatar too large", format!("an avatar is at most {} bytes", state.config.limits.avatar_max_bytes)));
    }
    let content_type = sniff_image(bytes).ok_or_else(|| ApiError::invalid("invalid-avatar", "an avatar is a PNG, JPEG or WebP image"))?;
    Ok((content_type, bytes))
}

fn new_avatar(user: UserId, content_type: &str, image: Vec<u8>, now_us: i64) -> Avatar {
    let sha256 = Sha256::digest(&image).to_vec();
    Avatar { id: uuid::Uuid::now_v7(), user, content_type: content_type.to_owned(), image, sha256, created_at_us: now_us }
}

#[utoipa::path(put, path = "/v1/me/avatar", tag = "accounts", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 200, body = MeView), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "too-many-changes", body = Problem, content_type = "application/problem+json")))]
pub async fn put_avatar(State(state): State<AppState>, caller: Caller, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<MeView>> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Request body too large", rejection.body_text()),
        _ => ApiError::bad_request("malformed-request", rejection.body_text()),
    })?;
    let (content_type, bytes) = check_avatar(&state, &body)?;
    check_profile_change_allowed(&state, caller.user.id).await?;
    state.store.set_avatar(new_avatar(caller.user.id, content_type, bytes.to_vec(), state.clock.now_us())).await?;
    let user = state.store.user(caller.user.id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(me_view(&state, &user).await?))
}

#[utoipa::path(get, path = "/v1/avatars/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path, description = "avatar id")),
    responses((status = 200, description = "the image", content_type = "image/png"), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_avatar(State(state): State<AppState>, _caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found("no such avatar"))?;
    let avatar = state.store.avatar(id).await?.ok_or_else(|| ApiError::not_found("no such avatar"))?;
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, avatar.content_type.parse().map_err(ApiError::internal)?);
    headers.insert(header::CACHE_CONTROL, "private, max-age=86400, immutable".parse().map_err(ApiError::internal)?);
    Ok((headers, avatar.image).into_response())
}

/// No `Debug`: it carries secrets that must never reach a log.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationRequest {
    #[schema(example = "王小明")]
    pub legal_name: String,
    /// 18-character resident identity number (GB 11643-1999).
    #[schema(example = "11010519491231002X", pattern = "^[0-9]{17}[0-9Xx]$")]
    pub id_number: String,
}

#[utoipa::path(post, path = "/v1/me/verification", tag = "accounts", security(("bearer" = [])), request_body = VerificationRequest,
    responses((status = 200, body = MeView), (status = 409, description = "already-verified / identity-limit-reached", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-legal-name / invalid-id-number / below-minimum-age / identity-not-confirmed", body = Problem, content_type = "application/problem+json")))]
pub async fn verify(State(state): State<AppState>, caller: Caller, ApiJson(request): ApiJson<VerificationRequest>) -> ApiResult<Json<MeView>> {
    caller.require_customer()?;
    if caller.user.verified() {
        return Err(recourse_store::StoreError::AlreadyVerified.into());
    }
    let name = LegalName::parse(&request.legal_name).map_err(|e| ApiError::invalid("invalid-legal-name", e.to_string()))?;
    let number = IdNumber::parse(&request.id_number).map_err(|e| {
        let reason = match e {
            IdNumberError::Format => "format",
            IdNumberError::Region => "region",
            IdNumberError::BirthDate => "birth_date",
            IdNumberError::CheckDigit => "check_digit",
        };
        ApiError::invalid("invalid-id-number", e.to_string()).with("reason", reason)
    })?;
    number.check_age(state.clock.today(), state.config.limits.verification_min_age_years).map_err(|e| match e {
        AgeError::BornInTheFuture => ApiError::invalid("invalid-id-number", e.to_string()).with("reason", "birth_date"),
        AgeError::BelowMinimum { .. } => ApiError::invalid("below-minimum-age", e.to_string()),
    })?;
    state.identity_provider.confirm(&name, &number).await.map_err(|e| match e {
        IdentityRejection::NotConfirmed => ApiError::invalid("identity-not-confirmed", e.to_string()),
        IdentityRejection::Unavailable(_) => {
            tracing::warn!(error = %e, "identity provider unavailable");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "identity-provider-unavailable", "Identity check unavailable", "the identity check could not be completed; try again later")
        }
    })?;
    let row = caller.user.id.as_bytes().to_vec();
    let verification = Verification {
        legal_name_enc: state.vault.encrypt(Slot { table: "users", column: "legal_name_enc", row: &row }, name.expose()),
        id_number_enc: state.vault.encrypt(Slot { table: "users", column: "id_number_enc", row: &row }, number.expose()),
        id_number_index: state.vault.blind_index("id_number", number.expose()),
        masked_name: name.masked().as_str().to_owned(),
        id_last4: number.last4().to_owned(),
        verified_at_us: state.clock.now_us(),
    };
    let user = state.store.verify_user(caller.user.id, verification, state.config.limits.accounts_per_identity_max).await?;
    tracing::info!(user = %user.id, "real-name verification completed");
    Ok(Json(me_view(&state, &user).await?))
}

/// The caller's verified legal name, decrypted for a comparison that needs it.
async fn legal_name_of(state: &AppState, user: UserId) -> ApiResult<LegalName> {
    let identity = state.store.encrypted_identity(user).await?.ok_or_else(|| ApiError::from(recourse_domain::refusal::Refusal::NotVerified))?;
    let row = user.as_bytes().to_vec();
    let text = state.vault.decrypt(Slot { table: "users", column: "legal_name_enc", row: &row }, &identity.legal_name_enc).map_err(ApiError::internal)?;
    LegalName::parse(&text).map_err(ApiError::internal)
}

/// No `Debug`: it carries secrets that must never reach a log.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindCardRequest {
    #[schema(example = "6222021234567890128")]
    pub card_number: String,
    /// Must be the account's verified legal name.
    pub holder_name: String,
}

#[utoipa::path(post, path = "/v1/me/cards", tag = "cards", security(("bearer" = [])), request_body = BindCardRequest,
    responses((status = 201, body = CardView), (status = 403, description = "verification-required", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "card-already-bound", body = Problem, content_type = "application/problem+json"), (status = 422, description = "invalid-card-number / card-holder-mismatch", body = Problem, content_type = "application/problem+json")))]
pub async fn bind_card(State(state): State<AppState>, caller: Caller, ApiJson(request): ApiJson<BindCardRequest>) -> ApiResult<(StatusCode, Json<CardView>)> {
    caller.require_customer()?;
    if !caller.user.verified() {
        return Err(recourse_domain::refusal::Refusal::NotVerified.into());
    }
    let card = CardNumber::parse(&request.card_number).map_err(|e| ApiError::invalid("invalid-card-number", e.to_string()))?;
    let holder = LegalName::parse(&request.holder_name).map_err(|e| ApiError::invalid("card-holder-mismatch", format!("holder name: {e}")))?;
    if !legal_name_of(&state, caller.user.id).await?.same_name_as(&holder) {
        return Err(ApiError::invalid("card-holder-mismatch", "the card holder's name must be the account's verified legal name"));
    }
    let id = CardId::new();
    let row = id.as_bytes().to_vec();
    let new_card = NewCard {
        id,
        user: caller.user.id,
        card_enc: state.vault.encrypt(Slot { table: "cards", column: "card_enc", row: &row }, card.expose()),
        card_index: state.vault.blind_index("card_number", card.expose()),
        last4: card.last4().to_owned(),
        created_at_us: state.clock.now_us(),
    };
    let record = state.store.bind_card(new_card).await?;
    Ok((StatusCode::CREATED, Json(CardView::from(&record))))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CardsView {
    pub cards: Vec<CardView>,
}

#[utoipa::path(get, path = "/v1/me/cards", tag = "cards", security(("bearer" = [])), responses((status = 200, body = CardsView)))]
pub async fn list_cards(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<CardsView>> {
    let cards = state.store.cards_of(caller.user.id).await?;
    Ok(Json(CardsView { cards: cards.iter().map(CardView::from).collect() }))
}
