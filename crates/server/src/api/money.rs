//! Money-moving endpoints: top-ups, withdrawals and transfers.
//!
//! Every request is checked in one fixed order, so the same bad request always
//! gets the same answer:
//! 1. authentication (401), 2. `Idempotency-Key` present and well-formed (400),
//! 3. body shape (400/415/422), 4. the caller holds a wallet (403 `no-wallet`),
//! 5. amount (422 `invalid-amount` / `amount-above-limit`), 6. note,
//! 7. real-name verification (403 `verification-required`), 8. payee or card,
//! 9. idempotency replay or conflict (409 `idempotency-key-reused`),
//! 10. available balance (422 `insufficient-funds`) — the last two inside the
//!     store transaction that moves the money.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use recourse_domain::ledger::OperationKind;
use recourse_domain::money::{Amount, AmountError};
use recourse_domain::refusal::{Party, check_bank_movement, check_transfer};
use recourse_domain::text::{NOTE_MAX_CHARS, clean_line};
use recourse_domain::transfer::{TransferMode, TransferStatus};
use recourse_domain::{CardId, Currency, OperationId, UserId};
use recourse_store::{BankMovementRecord, IdempotencyClaim, Outcome, TransferRecord, UserRecord};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::accounts::parse_phone;
use super::views::{BankMovementView, TransferView};
use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery, IdempotencyKey};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

pub const REPLAYED_HEADER: &str = "idempotent-replayed";

fn parse_amount(fen: i64, limit_fen: i64) -> ApiResult<Amount> {
    Amount::from_fen(fen, limit_fen).map_err(|e| match e {
        AmountError::NotPositive => ApiError::invalid("invalid-amount", e.to_string()),
        AmountError::AboveLimit { limit_fen } => ApiError::invalid("amount-above-limit", e.to_string()).with("limit", limit_fen),
    })
}

fn party(user: &UserRecord) -> Party {
    Party { has_wallet: user.wallet.is_some(), verified: user.verified() }
}

/// Digest of the parsed request: the same logical request always hashes the
/// same, whatever formatting the client used.
fn request_hash(parts: &[&str]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().to_vec()
}

fn replay_headers<T>(outcome: &Outcome<T>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if outcome.is_replay() {
        headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    headers
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankMovementRequest {
    pub card_id: String,
    /// Fen, a positive integer.
    #[schema(minimum = 1)]
    pub amount: i64,
}

async fn bank_movement(
    state: &AppState,
    caller: &Caller,
    key: IdempotencyKey,
    request: BankMovementRequest,
    kind: OperationKind,
    limit_fen: i64,
) -> ApiResult<(StatusCode, HeaderMap, Json<BankMovementView>)> {
    let wallet = caller.user.wallet.ok_or(recourse_domain::refusal::Refusal::NoWallet)?;
    let amount = parse_amount(request.amount, limit_fen)?;
    check_bank_movement(party(&caller.user), true)?;
    let card: CardId = request.card_id.parse().map_err(|_| recourse_domain::refusal::Refusal::CardNotFound)?;
    let hash = request_hash(&[kind.as_str(), &card.to_string(), &amount.fen().to_string()]);
    let record = BankMovementRecord {
        id: OperationId::new(),
        kind,
        user: caller.user.id,
        card,
        account: wallet,
        amount_fen: amount.fen(),
        currency: Currency::Cny,
        created_at_us: state.clock.now_us(),
    };
    let claim = IdempotencyClaim { caller: caller.user.id, key: key.0, request_hash: hash };
    let outcome = state.store.create_bank_movement(claim, record).await?;
    metrics::counter!("recourse_bank_movements_total", "kind" => kind.as_str(), "replayed" => if outcome.is_replay() { "true" } else { "false" }).increment(1);
    let headers = replay_headers(&outcome);
    Ok((StatusCode::CREATED, headers, Json(BankMovementView::from(&outcome.into_inner()))))
}

#[utoipa::path(post, path = "/v1/me/topups", tag = "money", security(("bearer" = [])), request_body = BankMovementRequest,
    params(("Idempotency-Key" = String, Header, description = "1–255 visible ASCII characters; retries with the same key and body return the original result")),
    responses((status = 201, body = BankMovementView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn topup(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, ApiJson(request): ApiJson<BankMovementRequest>) -> ApiResult<(StatusCode, HeaderMap, Json<BankMovementView>)> {
    let limit = state.config.limits.topup_max_fen;
    bank_movement(&state, &caller, key, request, OperationKind::Topup, limit).await
}

#[utoipa::path(post, path = "/v1/me/withdrawals", tag = "money", security(("bearer" = [])), request_body = BankMovementRequest,
    params(("Idempotency-Key" = String, Header, description = "1–255 visible ASCII characters")),
    responses((status = 201, body = BankMovementView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, description = "insufficient-funds and validation failures", body = Problem, content_type = "application/problem+json")))]
pub async fn withdraw(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, ApiJson(request): ApiJson<BankMovementRequest>) -> ApiResult<(StatusCode, HeaderMap, Json<BankMovementView>)> {
    let limit = state.config.limits.withdrawal_max_fen;
    bank_movement(&state, &caller, key, request, OperationKind::Withdrawal, limit).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The payee's phone number. Give this or `payee_id`.
    pub payee_phone: Option<String>,
    /// The payee's user id. Give this or `payee_phone`.
    pub payee_id: Option<String>,
    /// Fen, a positive integer.
    #[schema(minimum = 1)]
    pub amount: i64,
    /// Up to 140 characters, shown to both sides.
    #[schema(max_length = 140)]
    pub note: Option<String>,
}

async fn resolve_payee(state: &AppState, request: &TransferRequest) -> ApiResult<Option<UserRecord>> {
    match (&request.payee_phone, &request.payee_id) {
        (Some(phone), None) => {
            let phone = parse_phone(phone)?;
            Ok(state.store.user_by_phone(phone.as_str()).await?)
        }
        (None, Some(id)) => match id.parse::<UserId>() {
            Ok(id) => Ok(state.store.user(id).await?),
            Err(_) => Ok(None),
        },
        _ => Err(ApiError::invalid("invalid-request", "give exactly one of `payee_phone` and `payee_id`")),
    }
}

#[utoipa::path(post, path = "/v1/transfers", tag = "money", security(("bearer" = [])), request_body = TransferRequest,
    params(("Idempotency-Key" = String, Header, description = "1–255 visible ASCII characters; the same key with the same body returns the original transfer, with a different body 409")),
    responses((status = 201, body = TransferView, description = "created, or the original transfer when replayed (header `Idempotent-Replayed: true`)"),
              (status = 400, description = "idempotency-key-required / idempotency-key-invalid / malformed-json", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "verification-required / no-wallet", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-amount / amount-above-limit / payee-not-found / payee-is-payer / insufficient-funds", body = Problem, content_type = "application/problem+json")))]
pub async fn create_transfer(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, ApiJson(request): ApiJson<TransferRequest>) -> ApiResult<(StatusCode, HeaderMap, Json<TransferView>)> {
    let payer_wallet = caller.user.wallet.ok_or(recourse_domain::refusal::Refusal::NoWallet)?;
    let amount = parse_amount(request.amount, state.config.limits.transfer_max_fen)?;
    let note = match &request.note {
        Some(note) => Some(clean_line(note, NOTE_MAX_CHARS, true).map_err(|e| ApiError::invalid("invalid-note", format!("note {e}")))?).filter(|n| !n.is_empty()),
        None => None,
    };
    if !caller.user.verified() {
        return Err(recourse_domain::refusal::Refusal::NotVerified.into());
    }
    let payee = resolve_payee(&state, &request).await?;
    check_transfer(party(&caller.user), payee.as_ref().map(|p| (party(p), p.id == caller.user.id)))?;
    let payee = payee.expect("check_transfer refuses a missing payee");
    let payee_wallet = payee.wallet.expect("check_transfer refuses a payee without a wallet");
    let hash = request_hash(&["transfer", &payee.id.to_string(), &amount.fen().to_string(), note.as_deref().unwrap_or("")]);
    let now_us = state.clock.now_us();
    let checks = serde_json::json!({
        "payer_verified": true,
        "payee_verified": payee.verified(),
        "payee_masked_name_shown": payee.masked_name,
        "warnings": [],
    });
    let record = TransferRecord {
        id: OperationId::new(),
        payer: caller.user.id,
        payee: payee.id,
        payer_account: payer_wallet,
        payee_account: payee_wallet,
        amount_fen: amount.fen(),
        currency: Currency::Cny,
        note,
        status: TransferStatus::initial(TransferMode::Instant),
        created_at_us: now_us,
        updated_at_us: now_us,
        checks: checks.to_string(),
    };
    let claim = IdempotencyClaim { caller: caller.user.id, key: key.0, request_hash: hash };
    let outcome = state.store.create_transfer(claim, record).await?;
    metrics::counter!("recourse_transfers_total", "replayed" => if outcome.is_replay() { "true" } else { "false" }).increment(1);
    let headers = replay_headers(&outcome);
    let (record, history) = match outcome {
        // Just created: its history is the one status it was born with.
        Outcome::Created(record) => {
            let history = vec![recourse_store::StatusChange { status: record.status, at_us: record.created_at_us }];
            (record, history)
        }
        Outcome::Replayed(record) => {
            let history = state.store.transfer(record.id).await?.map(|(_, history)| history).unwrap_or_default();
            (record, history)
        }
    };
    Ok((StatusCode::CREATED, headers, Json(TransferView::new(&record, &history, Some(caller.user.id)))))
}

#[utoipa::path(get, path = "/v1/transfers/{id}", tag = "money", security(("bearer" = [])),
    params(("id" = String, Path, description = "transfer id")),
    responses((status = 200, body = TransferView), (status = 404, description = "no such transfer, or not yours", body = Problem, content_type = "application/problem+json")))]
pub async fn get_transfer(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<TransferView>> {
    let not_found = || ApiError::not_found("no transfer with that id is visible to you");
    let id: OperationId = id.parse().map_err(|_| not_found())?;
    let (record, history) = state.store.transfer(id).await?.ok_or_else(not_found)?;
    let party_to_it = record.payer == caller.user.id || record.payee == caller.user.id;
    if !party_to_it && !caller.user.role.is_staff() {
        return Err(not_found());
    }
    Ok(Json(TransferView::new(&record, &history, Some(caller.user.id))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferPage {
    pub transfers: Vec<TransferView>,
    /// Opaque; pass as `cursor` for the next (older) page. Null on the last page.
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/me/transfers", tag = "money", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = TransferPage), (status = 400, body = Problem, content_type = "application/problem+json")))]
pub async fn list_transfers(State(state): State<AppState>, caller: Caller, ApiQuery(query): ApiQuery<ListQuery>) -> ApiResult<Json<TransferPage>> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("invalid-query", "limit is 1 to 100"));
    }
    // The cursor is the journal position of the last item shown, opaque to clients.
    let before_seq = match &query.cursor {
        Some(cursor) => {
            let bytes = URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|b| <[u8; 8]>::try_from(b).ok());
            let seq = bytes.map(i64::from_be_bytes).filter(|seq| *seq > 0);
            Some(seq.ok_or_else(|| ApiError::bad_request("invalid-query", "cursor is not one this service issued"))?)
        }
        None => None,
    };
    // Staff hold no wallet, so no money moved through them.
    let Some(wallet) = caller.user.wallet else {
        return Ok(Json(TransferPage { transfers: Vec::new(), next_cursor: None }));
    };
    let mut records = state.store.transfers_of(wallet, before_seq, limit + 1).await?;
    let more = records.len() as i64 > limit;
    records.truncate(limit as usize);
    let next_cursor = if more { records.last().map(|(seq, _)| URL_SAFE_NO_PAD.encode(seq.to_be_bytes())) } else { None };
    let transfers = records
        .iter()
        // The full status history is in `GET /v1/transfers/{id}`.
        .map(|(_, r)| TransferView::new(r, &[], Some(caller.user.id)))
        .collect();
    Ok(Json(TransferPage { transfers, next_cursor }))
}
