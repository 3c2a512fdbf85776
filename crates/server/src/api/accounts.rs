//! Customers and staff: registration, sessions, profile, real-name
//! verification and bank cards. Handlers parse requests into domain values
//! and render answers; the operations are `recourse_service::accounts`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use recourse_domain::avatar::{self, AvatarError, AvatarLimits};
use recourse_domain::card::CardNumber;
use recourse_domain::identity::{IdNumber, IdNumberError, LegalName};
use recourse_domain::phone::Phone;
use recourse_domain::refusal::AccountRefusal;
use recourse_domain::text::Nickname;
use recourse_domain::UserId;
use recourse_service::accounts::NewAvatar;
use recourse_service::clock::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::views::{CardView, MeView};
use crate::auth::Caller;
use crate::extract::ClientAddress;
use crate::extract::{AcceptLanguage, ApiJson};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

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

/// An account answer: the value, or the refusal as its problem.
fn answer<T>(result: Result<T, AccountRefusal>) -> ApiResult<T> {
    result.map_err(ApiError::from)
}

#[utoipa::path(post, path = "/v1/users", summary = "Register a customer", security(()), tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = RegisteredView), (status = 409, description = "phone-taken", body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "rate-limited: too many registrations from this address / lookup-budget-exhausted: this address met too many taken numbers; both with `retry_after_seconds` and `Retry-After`", body = Problem, content_type = "application/problem+json")))]
pub async fn register(State(state): State<AppState>, ClientAddress(from): ClientAddress, AcceptLanguage(lang): AcceptLanguage, ApiJson(request): ApiJson<RegisterRequest>) -> ApiResult<(StatusCode, Json<RegisteredView>)> {
    let phone = parse_phone(&request.phone)?;
    let nickname = parse_nickname(&request.nickname)?;
    let avatar = match &request.avatar_base64 {
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| ApiError::invalid("invalid-avatar", "avatar_base64 is not valid base64"))?;
            Some(parse_avatar(&state, bytes).await?)
        }
        None => None,
    };
    let user = answer(state.register(&phone, &request.password, &nickname, avatar, from).await?)?;
    // Notifications are written in the language of the first request.
    if lang != recourse_domain::risk::Lang::default() {
        state.set_language(&user, lang).await?;
    }
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

#[utoipa::path(post, path = "/v1/sessions", summary = "Log in", security(()), tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = SessionView), (status = 401, description = "invalid-credentials", body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "too-many-attempts: logins for this phone are paused / rate-limited: too many logins from this address; both with `retry_after_seconds` and `Retry-After`", body = Problem, content_type = "application/problem+json")))]
pub async fn login(State(state): State<AppState>, ClientAddress(from): ClientAddress, ApiJson(request): ApiJson<LoginRequest>) -> ApiResult<Json<SessionView>> {
    let session = answer(state.log_in(&request.phone, &request.password, from).await?)?;
    Ok(Json(SessionView { token: session.token, user_id: session.user.id.to_string(), role: session.user.role.as_str().to_owned(), expires_at: rfc3339(session.expires_at_us) }))
}

#[utoipa::path(delete, path = "/v1/sessions/current", summary = "Log out", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "the token no longer works"), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    state.log_out(caller.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me_view(state: &AppState, user: UserId) -> ApiResult<MeView> {
    let (user, balance) = state.account(user).await?.ok_or_else(|| ApiError::not_found("user"))?;
    Ok(MeView::new(&user, balance.as_ref()))
}

#[utoipa::path(get, path = "/v1/me", summary = "Your account", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = MeView), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<MeView>> {
    Ok(Json(me_view(&state, caller.user.id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    pub nickname: Option<String>,
    /// How your transfers travel when a request does not say: `instant`, `2h` or `24h`.
    #[schema(value_type = Option<String>, example = "2h", pattern = "^(instant|2h|24h)$")]
    pub default_arrival: Option<String>,
    /// "Ask me before accepting transfers": transfers to you wait for your
    /// acceptance, and go back to the payer if you do not answer in time.
    pub require_acceptance: Option<bool>,
    /// The language of your notifications: `zh-CN` or `en`.
    #[schema(value_type = Option<String>, example = "en", pattern = "^(zh-CN|en)$")]
    pub language: Option<String>,
}

#[utoipa::path(patch, path = "/v1/me", summary = "Change your profile and preferences", tag = "accounts", security(("bearer" = [])), request_body = UpdateMeRequest,
    description = "Change the nickname and the transfer preferences together: all or nothing.",
    responses((status = 200, body = MeView, description = "the account after the change"),
              (status = 403, description = "forbidden: transfer preferences on a staff account", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-nickname / invalid-request (an unknown `default_arrival`)", body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "too-many-changes", body = Problem, content_type = "application/problem+json")))]
pub async fn update_me(State(state): State<AppState>, caller: Caller, ApiJson(request): ApiJson<UpdateMeRequest>) -> ApiResult<Json<MeView>> {
    let default_arrival = request.default_arrival.as_deref().map(super::money::parse_arrival).transpose()?;
    let nickname = request.nickname.as_deref().map(parse_nickname).transpose()?;
    let language = request
        .language
        .as_deref()
        .map(|tag| recourse_domain::risk::Lang::from_tag(tag).ok_or_else(|| ApiError::invalid("invalid-request", "language is `zh-CN` or `en`")))
        .transpose()?;
    if request.nickname.is_some() || default_arrival.is_some() || request.require_acceptance.is_some() {
        answer(state.update_profile(&caller.user, nickname.as_ref(), default_arrival, request.require_acceptance).await?)?;
    }
    if let Some(language) = language {
        state.set_language(&caller.user, language).await?;
    }
    Ok(Json(me_view(&state, caller.user.id).await?))
}

/// Parse an avatar upload: decoded for real under the byte and pixel limits
/// (`recourse_domain::avatar`: PNG, JPEG or WebP; the pixel count is read
/// from the header before any pixel is), and hashed for near-copy
/// detection. Decoding runs on a blocking thread.
async fn parse_avatar(state: &AppState, bytes: Vec<u8>) -> ApiResult<NewAvatar> {
    let limits = AvatarLimits { max_bytes: state.config.limits.avatar_max_bytes, max_pixels: state.config.limits.avatar_max_pixels };
    let (bytes, decoded) = tokio::task::spawn_blocking(move || {
        let decoded = avatar::decode(&bytes, &limits).map(|decoded| (decoded.format(), avatar::hash(&decoded)));
        (bytes, decoded)
    })
    .await
    .map_err(ApiError::internal)?;
    match decoded {
        Ok((format, hash)) => Ok(NewAvatar { content_type: format.media_type(), image: bytes, hashes: Some(hash.into()) }),
        Err(error @ (AvatarError::TooManyBytes { .. } | AvatarError::TooLarge { .. })) => {
            Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Avatar too large", error.to_string()))
        }
        Err(error) => Err(ApiError::invalid("invalid-avatar", error.to_string())),
    }
}

#[utoipa::path(put, path = "/v1/me/avatar", summary = "Upload your avatar", tag = "accounts", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 200, body = MeView), (status = 413, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "too-many-changes", body = Problem, content_type = "application/problem+json")))]
pub async fn put_avatar(State(state): State<AppState>, caller: Caller, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<MeView>> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Request body too large", rejection.body_text()),
        _ => ApiError::bad_request("malformed-request", rejection.body_text()),
    })?;
    let avatar = parse_avatar(&state, body.to_vec()).await?;
    answer(state.change_avatar(&caller.user, avatar).await?)?;
    Ok(Json(me_view(&state, caller.user.id).await?))
}

#[utoipa::path(get, path = "/v1/avatars/{id}", summary = "An avatar picture", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path, description = "avatar id")),
    description = "The picture, with the type its bytes are (`image/png`, `image/jpeg` or `image/webp`) and `X-Content-Type-Options: nosniff`.",
    responses((status = 200, description = "the image", content_type = "image/png"), (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json")))]
pub async fn get_avatar(State(state): State<AppState>, _caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found("no such avatar"))?;
    let avatar = state.avatar(id).await?.ok_or_else(|| ApiError::not_found("no such avatar"))?;
    let mut headers = HeaderMap::new();
    // The type the bytes are (avatars are decoded when stored; older ones are sniffed here).
    let content_type = recourse_domain::avatar::AvatarFormat::sniff(&avatar.image).map_or("application/octet-stream", |format| format.media_type());
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
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

#[utoipa::path(post, path = "/v1/me/verification", summary = "Verify your real name", tag = "accounts", security(("bearer" = [])), request_body = VerificationRequest,
    responses((status = 200, body = MeView), (status = 409, description = "already-verified / identity-limit-reached", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-legal-name / invalid-id-number / below-minimum-age / identity-not-confirmed", body = Problem, content_type = "application/problem+json")))]
pub async fn verify(State(state): State<AppState>, caller: Caller, ApiJson(request): ApiJson<VerificationRequest>) -> ApiResult<Json<MeView>> {
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
    let user = answer(state.verify(&caller.user, &name, &number).await?)?;
    Ok(Json(me_view(&state, user.id).await?))
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

#[utoipa::path(post, path = "/v1/me/cards", summary = "Bind a bank card", tag = "cards", security(("bearer" = [])), request_body = BindCardRequest,
    responses((status = 201, body = CardView), (status = 403, description = "verification-required", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "card-already-bound", body = Problem, content_type = "application/problem+json"), (status = 422, description = "invalid-card-number / card-holder-mismatch", body = Problem, content_type = "application/problem+json")))]
pub async fn bind_card(State(state): State<AppState>, caller: Caller, ApiJson(request): ApiJson<BindCardRequest>) -> ApiResult<(StatusCode, Json<CardView>)> {
    if caller.user.role.is_staff() {
        return Err(AccountRefusal::NotCustomer.into());
    }
    if !caller.user.verified() {
        return Err(AccountRefusal::NotVerified.into());
    }
    let card = CardNumber::parse(&request.card_number).map_err(|e| ApiError::invalid("invalid-card-number", e.to_string()))?;
    let holder = LegalName::parse(&request.holder_name).map_err(|e| ApiError::invalid("card-holder-mismatch", format!("holder name: {e}")))?;
    let record = answer(state.bind_card(&caller.user, &card, &holder).await?)?;
    Ok((StatusCode::CREATED, Json(CardView::from(&record))))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CardsView {
    pub cards: Vec<CardView>,
}

#[utoipa::path(get, path = "/v1/me/cards", summary = "Your bank cards", tag = "cards", security(("bearer" = [])), responses((status = 200, body = CardsView, description = "your cards, numbers masked (none for staff)"),
              (status = 401, description = "unauthenticated", body = Problem, content_type = "application/problem+json")))]
pub async fn list_cards(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<CardsView>> {
    let cards = state.cards_of(caller.user.id).await?;
    Ok(Json(CardsView { cards: cards.iter().map(CardView::from).collect() }))
}
