//! Money endpoints: top-ups, withdrawals, transfers and their transitions.
//! Handlers only parse and render: the operations, and the fixed order in
//! which a request is checked, live in `recourse_service::money`. The edge
//! checks authentication, the `Idempotency-Key`, and the body's shape first.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use recourse_domain::ledger::OperationKind;
use recourse_domain::transfer::{Arrival, TransferEvent};
use recourse_domain::{CardId, OperationId, UserId};
use recourse_service::money::{BankMovementCommand, PayeeRef, TransferCommand};
use recourse_service::payees::PayerAnswers;
use recourse_store::{Outcome, TransitionOutcome};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::accounts::parse_phone;
use super::views::{BankMovementView, TransferView};
use crate::auth::Caller;
use crate::extract::{AcceptLanguage, ApiJson, ApiQuery, IdempotencyKey};
use crate::problem::{ApiError, ApiResult, Problem, illegal_transition};
use crate::state::AppState;

pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// 201 with the created or replayed result (`Idempotent-Replayed: true`), or
/// the refusal as a problem.
fn render_outcome<T, V: Serialize>(outcome: Outcome<T>, view: impl FnOnce(&T) -> V) -> ApiResult<(StatusCode, HeaderMap, Json<V>)> {
    let mut headers = HeaderMap::new();
    match outcome {
        Outcome::Created(value) => Ok((StatusCode::CREATED, headers, Json(view(&value)))),
        Outcome::Replayed(value) => {
            headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
            Ok((StatusCode::CREATED, headers, Json(view(&value))))
        }
        Outcome::Refused(refusal) => Err(refusal.into()),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankMovementRequest {
    pub card_id: String,
    /// Fen, a positive integer.
    #[schema(minimum = 1)]
    pub amount: i64,
}

async fn bank_movement(state: &AppState, caller: Caller, key: IdempotencyKey, request: BankMovementRequest, kind: OperationKind) -> ApiResult<(StatusCode, HeaderMap, Json<BankMovementView>)> {
    let command = BankMovementCommand {
        customer: caller.user,
        kind,
        card: request.card_id.parse::<CardId>().ok(),
        card_text: request.card_id,
        amount_fen: request.amount,
        idempotency_key: key.0,
    };
    render_outcome(state.bank_movement(command).await?, |movement| BankMovementView::from(movement))
}

#[utoipa::path(post, path = "/v1/me/topups", summary = "Top up from a card", tag = "money", security(("bearer" = [])), request_body = BankMovementRequest,
    params(("Idempotency-Key" = String, Header, description = "1–255 visible ASCII characters; retries with the same key and body return the original result")),
    responses((status = 201, body = BankMovementView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn topup(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, ApiJson(request): ApiJson<BankMovementRequest>) -> ApiResult<(StatusCode, HeaderMap, Json<BankMovementView>)> {
    bank_movement(&state, caller, key, request, OperationKind::Topup).await
}

#[utoipa::path(post, path = "/v1/me/withdrawals", summary = "Withdraw to a card", tag = "money", security(("bearer" = [])), request_body = BankMovementRequest,
    params(("Idempotency-Key" = String, Header, description = "1–255 visible ASCII characters")),
    responses((status = 201, body = BankMovementView), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, description = "insufficient-funds and validation failures", body = Problem, content_type = "application/problem+json")))]
pub async fn withdraw(State(state): State<AppState>, caller: Caller, key: IdempotencyKey, ApiJson(request): ApiJson<BankMovementRequest>) -> ApiResult<(StatusCode, HeaderMap, Json<BankMovementView>)> {
    bank_movement(&state, caller, key, request, OperationKind::Withdrawal).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AcceptanceRequest {
    /// The payee must accept before the money reaches them.
    Required,
    /// The default: no acceptance step (unless the payee asks for one).
    NotRequired,
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
    /// `instant`, `2h` or `24h`. A delayed transfer holds the payer's funds
    /// now and reaches the payee at `arrives_at`; until then the payer may
    /// revoke it. Absent: the payer's `default_arrival`.
    #[schema(value_type = Option<String>, example = "2h", pattern = "^(instant|2h|24h)$")]
    pub arrival: Option<String>,
    /// `required`: the payee must accept (within the acceptance window, 24 h
    /// by default) or the hold is released. Cannot be combined with a
    /// delayed `arrival`.
    pub acceptance: Option<AcceptanceRequest>,
    /// At or above `limits.name_completion_threshold_fen` (¥1,000 by
    /// default) the payer completes the payee's masked name: the hidden
    /// characters (`张` for `*伟`) or the whole name. Send the transfer first
    /// without it to get 409 `name-completion-required` with `masked_name`
    /// and `attempts_left`. Not part of what the Idempotency-Key identifies.
    pub name_completion: Option<String>,
    /// The name you expect the payee to have: checked first (as
    /// `POST /v1/payee-checks`, counted in the same budget); `no_match`
    /// stops the transfer with 409 `name-mismatch` unless `confirm_no_match`.
    pub expected_name: Option<String>,
    /// Pay even though `expected_name` did not match (recorded).
    #[serde(default)]
    pub confirm_no_match: bool,
    /// At or above the threshold, pay a payee with no verified name anyway
    /// (recorded); without it such a transfer is answered 409
    /// `unverified-payee-confirmation-required`.
    #[serde(default)]
    pub confirm_unverified_payee: bool,
    /// Pay after reading the risk decision's warnings (409
    /// `confirmation-required`; recorded). A suspected impostor's transfer
    /// then becomes a delayed one the payer can revoke (`checks.delay_reason`).
    #[serde(default)]
    pub confirm_warnings: bool,
}

pub fn parse_arrival(text: &str) -> ApiResult<Arrival> {
    Arrival::parse(text).ok_or_else(|| ApiError::invalid("invalid-request", "arrival is one of `instant`, `2h`, `24h`"))
}

fn payee_ref(request: &TransferRequest) -> ApiResult<PayeeRef> {
    match (&request.payee_phone, &request.payee_id) {
        (Some(phone), None) => Ok(PayeeRef::Phone(parse_phone(phone)?)),
        (None, Some(id)) => Ok(id.parse::<UserId>().map_or_else(|_| PayeeRef::Unparsable(id.clone()), PayeeRef::Id)),
        _ => Err(ApiError::invalid("invalid-request", "give exactly one of `payee_phone` and `payee_id`")),
    }
}

#[utoipa::path(post, path = "/v1/transfers", summary = "Pay someone", tag = "money", security(("bearer" = [])), request_body = TransferRequest,
    params(("Idempotency-Key" = String, Header, description = "1–255 visible ASCII characters; the same key with the same body returns the original transfer in its current state, with a different body 409")),
    responses((status = 201, body = TransferView, description = "created (`completed`, `pending_arrival` or `awaiting_acceptance`), or the original transfer when replayed (header `Idempotent-Replayed: true`)"),
              (status = 400, description = "idempotency-key-required / idempotency-key-invalid / malformed-json", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "verification-required / no-wallet", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "idempotency-key-reused / name-completion-required (`masked_name`, `attempts_left`) / unverified-payee-confirmation-required / name-mismatch (`masked_name`) / confirmation-required (`reasons`, `warnings`: resend with `confirm_warnings`)", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-amount / amount-above-limit / invalid-note / payee-not-found / payee-is-payer / payee-cannot-receive / invalid-request / transfer-blocked (`reasons`, `warnings`) / insufficient-funds", body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "name-completion-locked / payee-check-limit-reached / lookup-budget-exhausted (naming the payee by phone spends the lookup budget) / rate-limited (too many transfers a minute), with `retry_after_seconds` and `Retry-After`", body = Problem, content_type = "application/problem+json")))]
pub async fn create_transfer(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    AcceptLanguage(lang): AcceptLanguage,
    ApiJson(request): ApiJson<TransferRequest>,
) -> ApiResult<(StatusCode, HeaderMap, Json<TransferView>)> {
    let payee = payee_ref(&request)?;
    let arrival = request.arrival.as_deref().map(parse_arrival).transpose()?;
    let viewer = caller.user.id;
    let command = TransferCommand {
        payer: caller.user,
        payee,
        amount_fen: request.amount,
        note: request.note,
        arrival,
        acceptance_required: matches!(request.acceptance, Some(AcceptanceRequest::Required)),
        idempotency_key: key.0,
        answers: PayerAnswers {
            name_completion: request.name_completion,
            expected_name: request.expected_name,
            confirm_no_match: request.confirm_no_match,
            confirm_unverified_payee: request.confirm_unverified_payee,
            confirm_warnings: request.confirm_warnings,
            lang,
        },
    };
    render_outcome(state.create_transfer(command).await?, |details| TransferView::new(details, Some(viewer)))
}

fn transfer_not_found() -> ApiError {
    ApiError::not_found("no transfer with that id is visible to you")
}

#[utoipa::path(get, path = "/v1/transfers/{id}", summary = "A transfer", tag = "money", security(("bearer" = [])),
    params(("id" = String, Path, description = "transfer id")),
    responses((status = 200, body = TransferView), (status = 404, description = "no such transfer, or not yours", body = Problem, content_type = "application/problem+json")))]
pub async fn get_transfer(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<TransferView>> {
    let id: OperationId = id.parse().map_err(|_| transfer_not_found())?;
    let details = state.transfer_for(&caller.user, id).await?.ok_or_else(transfer_not_found)?;
    Ok(Json(TransferView::new(&details, Some(caller.user.id))))
}

async fn act(state: &AppState, caller: &Caller, id: &str, event: TransferEvent) -> ApiResult<Response> {
    let id: OperationId = id.parse().map_err(|_| transfer_not_found())?;
    match state.act_on_transfer(&caller.user, id, event).await? {
        TransitionOutcome::Moved(details) | TransitionOutcome::AlreadyDone(details) => Ok(Json(TransferView::new(&details, Some(caller.user.id))).into_response()),
        TransitionOutcome::Illegal(details) => {
            let view = serde_json::to_value(TransferView::new(&details, Some(caller.user.id))).map_err(ApiError::internal)?;
            Err(illegal_transition(details.transfer.status.as_str(), view))
        }
        TransitionOutcome::NotFound => Err(transfer_not_found()),
    }
}

#[utoipa::path(post, path = "/v1/transfers/{id}/revoke", summary = "Revoke a transfer in flight", tag = "money", security(("bearer" = [])),
    description = "The payer takes back a transfer that has not arrived (`pending_arrival`) or not been accepted (`awaiting_acceptance`): the hold is released in full. Asking again answers 200 with the transfer as it is.",
    params(("id" = String, Path, description = "transfer id")),
    responses((status = 200, body = TransferView, description = "revoked (or already revoked)"),
              (status = 404, description = "no such transfer, or you are not its payer", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "illegal-transition: the transfer has moved on; `current_status` says where, `transfer` is the transfer as it is", body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_transfer(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    act(&state, &caller, &id, TransferEvent::Revoke).await
}

#[utoipa::path(post, path = "/v1/transfers/{id}/accept", summary = "Accept a transfer", tag = "money", security(("bearer" = [])),
    description = "The payee accepts a transfer that awaits acceptance: the money moves now.",
    params(("id" = String, Path, description = "transfer id")),
    responses((status = 200, body = TransferView, description = "completed (or already accepted)"),
              (status = 404, description = "no such transfer, or you are not its payee", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "illegal-transition", body = Problem, content_type = "application/problem+json")))]
pub async fn accept_transfer(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    act(&state, &caller, &id, TransferEvent::Accept).await
}

#[utoipa::path(post, path = "/v1/transfers/{id}/decline", summary = "Decline a transfer", tag = "money", security(("bearer" = [])),
    description = "The payee declines a transfer that awaits acceptance: the payer's hold is released at once.",
    params(("id" = String, Path, description = "transfer id")),
    responses((status = 200, body = TransferView, description = "declined (or already declined)"),
              (status = 404, description = "no such transfer, or you are not its payee", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "illegal-transition", body = Problem, content_type = "application/problem+json")))]
pub async fn decline_transfer(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    act(&state, &caller, &id, TransferEvent::Decline).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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

#[utoipa::path(get, path = "/v1/me/transfers", summary = "Your transfers", tag = "money", security(("bearer" = [])), params(ListQuery),
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
    let mut records = state.transfer_history(&caller.user, before_seq, limit + 1).await?;
    let more = records.len() as i64 > limit;
    records.truncate(limit as usize);
    let next_cursor = if more { records.last().map(|(seq, _)| URL_SAFE_NO_PAD.encode(seq.to_be_bytes())) } else { None };
    let transfers = records
        .iter()
        // The full history is in `GET /v1/transfers/{id}`.
        .map(|(_, r)| TransferView::summary(r, Some(caller.user.id)))
        .collect();
    Ok(Json(TransferPage { transfers, next_cursor }))
}
