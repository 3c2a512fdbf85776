//! Claims over HTTP: filing and following a claim, the payee's one click,
//! the agents' console, and the notification inbox. Handlers parse and
//! render; the rules live in `recourse_service::claims` and the domain.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use recourse_domain::claim::{ClaimReason, ClaimStatus, Outcome, ReturnRefusal};
use recourse_domain::trace::Destination;
use recourse_domain::{AccountId, OperationId, Role};
use recourse_service::claims::{CLAIM_TEXT_MAX_CHARS, ClaimRole, ClaimView, FilingRefusal, PayeeAnswer, StaffRequest, TrailNode};
use recourse_service::clock::rfc3339;
use recourse_store::{Audience, ClaimChange, ClaimFiled, ClaimRecord, ClaimRefusal};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

fn no_such_claim() -> ApiError {
    ApiError::not_found("no claim with that id")
}

fn claim_id(text: &str) -> ApiResult<uuid::Uuid> {
    text.parse().map_err(|_| no_such_claim())
}

/// A text a person wrote: trimmed, 1 to 2,000 characters, no control characters.
fn person_text(field: &str, text: &str) -> ApiResult<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > CLAIM_TEXT_MAX_CHARS || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid("invalid-request", format!("{field} is 1 to {CLAIM_TEXT_MAX_CHARS} characters, without control characters")));
    }
    Ok(text.to_owned())
}

fn positive_amount(amount: i64) -> ApiResult<i64> {
    if amount <= 0 {
        return Err(ApiError::invalid("invalid-amount", "amount is a positive number of fen"));
    }
    Ok(amount)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadlinesView {
    /// The payee's time to return or contest before an agent takes over.
    pub payee_answer: String,
    pub acknowledgement: String,
    pub first_contact: String,
    /// Each day the claim stays open past this is compensated.
    pub resolution: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClaimEventView {
    pub seq: i64,
    /// `filed`, `hold_placed`, `hold_extended`, `hold_released`, `hold_expired`, `returned`, `contested`, `escalated`, `taken`, `note`, `message`, `overdue`, `compensation`, `decided`.
    pub kind: String,
    /// `claimant`, `payee`, `staff` or `system`.
    pub actor: String,
    pub at: String,
    pub amount_fen: Option<i64>,
    pub account_id: Option<String>,
    pub text: Option<String>,
    /// Staff only: who sees the entry besides staff (`all`, `claimant`, `payee`, `staff`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClaimHoldView {
    pub id: String,
    pub account_id: String,
    pub amount_fen: i64,
    /// Always `claim`.
    pub reason: String,
    pub placed_at: String,
    pub expires_at: String,
    pub ended_at: Option<String>,
    /// `settled` (the money went to the claimant) or `released`.
    pub ending: Option<String>,
    pub note: Option<String>,
}

/// A claim as its viewer may see it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClaimResponse {
    pub id: String,
    /// The case reference to quote (`RC-…`).
    pub reference: String,
    pub transfer_id: String,
    /// `awaiting_payee`, `in_review`, `returned`, `rejected` or `legal_route`.
    pub status: String,
    pub reason: String,
    /// The claimant's own words (claimant and staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    pub amount_fen: i64,
    pub returned_fen: i64,
    /// Held for the claim now.
    pub held_fen: i64,
    /// `claimant`, `payee` or `staff`.
    pub your_role: String,
    /// The agent handling the case (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    pub filed_at: String,
    pub deadlines: DeadlinesView,
    pub acknowledged_at: Option<String>,
    pub first_contact_at: Option<String>,
    pub payee_answered_at: Option<String>,
    pub resolved_at: Option<String>,
    /// Days compensated for being late.
    pub compensation_days: i64,
    pub timeline: Vec<ClaimEventView>,
    pub holds: Vec<ClaimHoldView>,
}

fn deadlines(claim: &ClaimRecord) -> DeadlinesView {
    let d = claim.deadlines;
    DeadlinesView { payee_answer: rfc3339(d.payee_answer_us), acknowledgement: rfc3339(d.acknowledgement_us), first_contact: rfc3339(d.first_contact_us), resolution: rfc3339(d.resolution_us) }
}

fn role_name(role: ClaimRole) -> &'static str {
    match role {
        ClaimRole::Claimant => "claimant",
        ClaimRole::Payee => "payee",
        ClaimRole::Staff => "staff",
    }
}

impl From<ClaimView> for ClaimResponse {
    fn from(view: ClaimView) -> Self {
        let staff = view.role == ClaimRole::Staff;
        let claim = view.claim;
        ClaimResponse {
            id: claim.id.to_string(),
            reference: claim.reference.clone(),
            transfer_id: claim.transfer.to_string(),
            status: claim.status.as_str().to_owned(),
            reason: claim.reason.as_str().to_owned(),
            details: (view.role != ClaimRole::Payee).then(|| claim.details.clone()),
            amount_fen: claim.amount_fen,
            returned_fen: claim.returned_fen,
            held_fen: claim.held_fen,
            your_role: role_name(view.role).to_owned(),
            owner_id: if staff { claim.owner.map(|o| o.to_string()) } else { None },
            filed_at: rfc3339(claim.filed_at_us),
            deadlines: deadlines(&claim),
            acknowledged_at: claim.acknowledged_at_us.map(rfc3339),
            first_contact_at: claim.first_contact_at_us.map(rfc3339),
            payee_answered_at: claim.payee_answered_at_us.map(rfc3339),
            resolved_at: claim.resolved_at_us.map(rfc3339),
            compensation_days: claim.compensation_days,
            timeline: view
                .timeline
                .into_iter()
                .map(|e| ClaimEventView {
                    seq: e.seq,
                    kind: e.kind,
                    actor: e.actor,
                    at: rfc3339(e.at_us),
                    amount_fen: e.amount_fen,
                    account_id: e.account.map(|a| a.to_string()),
                    text: e.text,
                    audience: staff.then(|| e.audience.as_str().to_owned()),
                })
                .collect(),
            holds: view
                .holds
                .into_iter()
                .map(|h| ClaimHoldView {
                    id: h.id.to_string(),
                    account_id: h.account.to_string(),
                    amount_fen: h.amount_fen,
                    reason: "claim".into(),
                    placed_at: rfc3339(h.created_at_us),
                    expires_at: rfc3339(h.expires_at_us),
                    ended_at: h.ended_at_us.map(rfc3339),
                    ending: h.ending,
                    note: h.note,
                })
                .collect(),
        }
    }
}

/// A claim in a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClaimSummary {
    pub id: String,
    pub reference: String,
    pub transfer_id: String,
    pub status: String,
    pub reason: String,
    pub amount_fen: i64,
    pub returned_fen: i64,
    pub held_fen: i64,
    pub owner_id: Option<String>,
    pub filed_at: String,
    pub deadlines: DeadlinesView,
}

impl From<&ClaimRecord> for ClaimSummary {
    fn from(claim: &ClaimRecord) -> Self {
        ClaimSummary {
            id: claim.id.to_string(),
            reference: claim.reference.clone(),
            transfer_id: claim.transfer.to_string(),
            status: claim.status.as_str().to_owned(),
            reason: claim.reason.as_str().to_owned(),
            amount_fen: claim.amount_fen,
            returned_fen: claim.returned_fen,
            held_fen: claim.held_fen,
            owner_id: claim.owner.map(|o| o.to_string()),
            filed_at: rfc3339(claim.filed_at_us),
            deadlines: deadlines(claim),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClaimList {
    pub claims: Vec<ClaimSummary>,
}

async fn view(state: &AppState, caller: &Caller, claim: uuid::Uuid) -> ApiResult<ClaimResponse> {
    let view = state.claim_for(&caller.user, claim).await?.ok_or_else(no_such_claim)?;
    Ok(ClaimResponse::from(view))
}

fn change(change: ClaimChange) -> ApiResult<uuid::Uuid> {
    match change {
        ClaimChange::Done(claim) => Ok(claim.id),
        ClaimChange::NotFound => Err(no_such_claim()),
        ClaimChange::Refused(refusal) => Err(match refusal {
            ClaimRefusal::NotAllowed(status) => ApiError::new(StatusCode::CONFLICT, "claim-not-open", "Not possible in this claim's status", format!("the claim is {}", status.as_str()))
                .with("claim_status", status.as_str()),
            ClaimRefusal::Return(ReturnRefusal::NotPositive) => ApiError::invalid("invalid-amount", "amount is a positive number of fen"),
            ClaimRefusal::Return(ReturnRefusal::BeyondClaimed { amount_fen, outstanding_fen }) => {
                ApiError::new(StatusCode::CONFLICT, "return-exceeds-claim", "More than is still claimed", format!("{amount_fen} fen is more than the {outstanding_fen} fen still claimed"))
                    .with("outstanding", outstanding_fen)
            }
            ClaimRefusal::InsufficientFunds { available_fen, amount_fen } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "insufficient-funds", "Insufficient funds", format!("{available_fen} fen available, {amount_fen} fen asked"))
                    .with("available", available_fen)
                    .with("amount", amount_fen)
            }
            ClaimRefusal::HoldBeyondLimit { limit_fen } => ApiError::new(StatusCode::CONFLICT, "hold-exceeds-limit", "More than may be held or returned", format!("at most {limit_fen} fen"))
                .with("limit", limit_fen),
            ClaimRefusal::HoldNotFound => ApiError::not_found("no active hold of this claim has that id"),
            ClaimRefusal::ExtensionBeyondLimit { limit_us } => {
                ApiError::invalid("invalid-request", format!("a hold may be extended into the future, up to {}", rfc3339(limit_us))).with("limit", rfc3339(limit_us))
            }
        }),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileClaimRequest {
    pub transfer_id: String,
    /// `wrong_recipient`, `impersonation`, `fraud`, `goods_not_received` or `blocked_after_payment`.
    #[schema(example = "wrong_recipient")]
    pub reason: String,
    /// What happened, in your words (1–2,000 characters).
    pub details: String,
}

#[utoipa::path(post, path = "/v1/claims", summary = "File a claim", tag = "claims", security(("bearer" = [])), request_body = FileClaimRequest,
    description = "Claim a transfer you made back (within `claims.filing_window_days`, default 90). The payee is asked first and can return it in one click; when the risk is high (a look-alike warning when you paid, a fraud marker on the payee, the payee blocked you) the funds still there are held at once. Deadlines per reason; every day past the resolution deadline is compensated.",
    responses((status = 201, body = ClaimResponse, description = "the claim filed, with its deadlines and first timeline entries"),
              (status = 404, description = "not-found: no transfer you made has that id", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "claim-exists (`claim_id`) or transfer-not-completed (`transfer_status`: revoke a transfer still in flight)", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-request, or claim-window-closed", body = Problem, content_type = "application/problem+json")))]
pub async fn file_claim(State(state): State<AppState>, caller: Caller, ApiJson(request): ApiJson<FileClaimRequest>) -> ApiResult<(StatusCode, Json<ClaimResponse>)> {
    let not_found = || ApiError::not_found("no transfer you made has that id");
    let transfer: OperationId = request.transfer_id.parse().map_err(|_| not_found())?;
    let reason = ClaimReason::parse(&request.reason)
        .ok_or_else(|| ApiError::invalid("invalid-request", "reason is one of `wrong_recipient`, `impersonation`, `fraud`, `goods_not_received`, `blocked_after_payment`"))?;
    let details = person_text("details", &request.details)?;
    let filed = state.file_claim(&caller.user, transfer, reason, details).await?.map_err(|refusal| match refusal {
        FilingRefusal::TransferNotFound => not_found(),
        FilingRefusal::NotCompleted(status) => ApiError::new(StatusCode::CONFLICT, "transfer-not-completed", "The money has not reached the payee", "a transfer still in flight can be revoked instead; a refunded one needs no claim")
            .with("transfer_status", status.as_str()),
        FilingRefusal::WindowClosed { days } => ApiError::invalid("claim-window-closed", format!("a transfer can be claimed within {days} days")),
    })?;
    match filed {
        ClaimFiled::Filed(claim) => Ok((StatusCode::CREATED, Json(view(&state, &caller, claim.id).await?))),
        ClaimFiled::AlreadyClaimed(claim) => Err(ApiError::new(StatusCode::CONFLICT, "claim-exists", "This transfer has a claim", "follow the existing claim").with("claim_id", claim.id.to_string())),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

fn limit(limit: Option<i64>) -> ApiResult<i64> {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request("invalid-query", "limit is 1 to 200"));
    }
    Ok(limit)
}

#[utoipa::path(get, path = "/v1/claims", summary = "Your claims", tag = "claims", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = ClaimList, description = "claims you filed or that concern a payment to you, newest first"),
              (status = 400, description = "invalid-query", body = Problem, content_type = "application/problem+json")))]
pub async fn my_claims(State(state): State<AppState>, caller: Caller, ApiQuery(query): ApiQuery<ListQuery>) -> ApiResult<Json<ClaimList>> {
    let claims = state.claims_of(&caller.user, limit(query.limit)?).await?;
    Ok(Json(ClaimList { claims: claims.iter().map(ClaimSummary::from).collect() }))
}

#[utoipa::path(get, path = "/v1/claims/{id}", summary = "A claim with its timeline", tag = "claims", security(("bearer" = [])),
    description = "A claim with its timeline: for the claimant, the payee (without the claimant's own words and staff-only entries) and staff.",
    params(("id" = String, Path, description = "claim id")),
    responses((status = 200, body = ClaimResponse, description = "the claim as you may see it, with its timeline"), (status = 404, description = "not-found (also for anyone who may not see it)", body = Problem, content_type = "application/problem+json")))]
pub async fn get_claim(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<ClaimResponse>> {
    Ok(Json(view(&state, &caller, claim_id(&id)?).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    /// Fen to send back: all or part of what is still claimed.
    pub amount: i64,
}

#[utoipa::path(post, path = "/v1/claims/{id}/return", summary = "Return money to the claimant", tag = "claims", security(("bearer" = [])), request_body = ReturnRequest,
    description = "The payee sends money back (all or part), linked to the claimed transfer. No `Idempotency-Key`: the claim makes it safe to repeat, and a return beyond what is still claimed is 409. Money held for the claim on your account is used first.",
    params(("id" = String, Path, description = "claim id")),
    responses((status = 200, body = ClaimResponse, description = "the claim after the change, as you may see it"),
              (status = 404, description = "not-found: not a claim on a payment to you", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "return-exceeds-claim (`outstanding`), claim-not-open", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-amount, insufficient-funds", body = Problem, content_type = "application/problem+json")))]
pub async fn return_claim(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, ApiJson(request): ApiJson<ReturnRequest>) -> ApiResult<Json<ClaimResponse>> {
    let claim = claim_id(&id)?;
    let amount_fen = positive_amount(request.amount)?;
    let answered = state.payee_answer(&caller.user, claim, PayeeAnswer::Return { amount_fen }).await?.ok_or_else(no_such_claim)?;
    Ok(Json(view(&state, &caller, change(answered)?).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContestRequest {
    /// Why the money is yours (1–2,000 characters).
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/claims/{id}/contest", summary = "Contest a claim", tag = "claims", security(("bearer" = [])), request_body = ContestRequest,
    params(("id" = String, Path, description = "claim id")),
    responses((status = 200, body = ClaimResponse, description = "the claim after the change, as you may see it"),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "claim-not-open (contested already, or decided)", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-request", body = Problem, content_type = "application/problem+json")))]
pub async fn contest_claim(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, ApiJson(request): ApiJson<ContestRequest>) -> ApiResult<Json<ClaimResponse>> {
    let claim = claim_id(&id)?;
    let reason = person_text("reason", &request.reason)?;
    let answered = state.payee_answer(&caller.user, claim, PayeeAnswer::Contest { reason }).await?.ok_or_else(no_such_claim)?;
    Ok(Json(view(&state, &caller, change(answered)?).await?))
}

fn require_agent(caller: &Caller) -> ApiResult<()> {
    if caller.user.role == Role::Agent {
        Ok(())
    } else {
        Err(ApiError::forbidden("claims are handled by customer-service agents"))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    /// One status, or `open` (default: `awaiting_payee` and `in_review`).
    pub status: Option<String>,
    /// `me` (the caller's cases) or `none` (nobody's yet).
    pub owner: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/staff/claims", summary = "The claims queue", tag = "claims", security(("bearer" = [])), params(QueueQuery),
    description = "The agents' queue, nearest resolution deadline first (agents, compliance officers, admins).",
    responses((status = 200, body = ClaimList, description = "open claims by default, nearest resolution deadline first"),
              (status = 400, description = "invalid-query", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json")))]
pub async fn staff_claims(State(state): State<AppState>, caller: Caller, ApiQuery(query): ApiQuery<QueueQuery>) -> ApiResult<Json<ClaimList>> {
    if !matches!(caller.user.role, Role::Agent | Role::Compliance | Role::Admin) {
        return Err(ApiError::forbidden("the claims queue is for staff"));
    }
    let statuses = match query.status.as_deref() {
        None | Some("open") => vec![ClaimStatus::AwaitingPayee, ClaimStatus::InReview],
        Some(text) => vec![ClaimStatus::parse(text).ok_or_else(|| ApiError::bad_request("invalid-query", "status is `open` or a claim status"))?],
    };
    let owner = match query.owner.as_deref() {
        None => None,
        Some("me") => Some(Some(caller.user.id)),
        Some("none") => Some(None),
        Some(_) => return Err(ApiError::bad_request("invalid-query", "owner is `me` or `none`")),
    };
    let claims = state.claims_queue(statuses, owner, limit(query.limit)?).await?;
    Ok(Json(ClaimList { claims: claims.iter().map(ClaimSummary::from).collect() }))
}

async fn act(state: &AppState, caller: &Caller, id: &str, request: StaffRequest) -> ApiResult<Json<ClaimResponse>> {
    require_agent(caller)?;
    let claim = claim_id(id)?;
    let done = state.staff_claim_action(&caller.user, claim, request).await?.ok_or_else(no_such_claim)?;
    Ok(Json(view(state, caller, change(done)?).await?))
}

#[utoipa::path(post, path = "/v1/staff/claims/{id}/take", summary = "Take a case", tag = "claims", security(("bearer" = [])),
    description = "Take the case (agent). Takes no body.",
    params(("id" = String, Path, description = "claim id")),
    responses((status = 200, body = ClaimResponse, description = "the claim after the change, as you may see it"), (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "claim-not-open", body = Problem, content_type = "application/problem+json")))]
pub async fn take_claim(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<ClaimResponse>> {
    act(&state, &caller, &id, StaffRequest::Take).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// Staff only (1–2,000 characters).
    pub text: String,
}

#[utoipa::path(post, path = "/v1/staff/claims/{id}/notes", summary = "Add a staff note", tag = "claims", security(("bearer" = [])), request_body = NoteRequest,
    params(("id" = String, Path, description = "claim id")),
    responses((status = 200, body = ClaimResponse, description = "the claim after the change, as you may see it"), (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-request", body = Problem, content_type = "application/problem+json")))]
pub async fn note_claim(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, ApiJson(request): ApiJson<NoteRequest>) -> ApiResult<Json<ClaimResponse>> {
    let text = person_text("text", &request.text)?;
    act(&state, &caller, &id, StaffRequest::Note { text }).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// `claimant` or `payee`.
    pub to: String,
    pub text: String,
}

#[utoipa::path(post, path = "/v1/staff/claims/{id}/messages", summary = "Message a party", tag = "claims", security(("bearer" = [])), request_body = MessageRequest,
    description = "Message a party (agent): in their timeline and their notifications. The first message meets the first-contact deadline.",
    params(("id" = String, Path, description = "claim id")),
    responses((status = 200, body = ClaimResponse, description = "the claim after the change, as you may see it"), (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-request", body = Problem, content_type = "application/problem+json")))]
pub async fn message_claim(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, ApiJson(request): ApiJson<MessageRequest>) -> ApiResult<Json<ClaimResponse>> {
    let to = match request.to.as_str() {
        "claimant" => Audience::Claimant,
        "payee" => Audience::Payee,
        _ => return Err(ApiError::invalid("invalid-request", "to is `claimant` or `payee`")),
    };
    let text = person_text("text", &request.text)?;
    act(&state, &caller, &id, StaffRequest::Message { to, text }).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// The account to hold on (default: the payee's).
    pub account_id: Option<String>,
    /// Fen, within the account's available balance and what is still claimed.
    pub amount: i64,
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/staff/claims/{id}/holds", summary = "Hold money for a claim", tag = "claims", security(("bearer" = [])), request_body = HoldRequest,
    description = "Hold money for the claim (agent): a hold with reason `claim`, for `claims.hold_hours` (default 72), visible to the account's owner.",
    params(("id" = String, Path, description = "claim id")),
    responses((status = 200, body = ClaimResponse, description = "the claim after the change, as you may see it"), (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "hold-exceeds-limit (`limit`), claim-not-open", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-amount, insufficient-funds, invalid-request", body = Problem, content_type = "application/problem+json")))]
pub async fn hold_claim(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, ApiJson(request): ApiJson<HoldRequest>) -> ApiResult<Json<ClaimResponse>> {
    let amount_fen = positive_amount(request.amount)?;
    let reason = person_text("reason", &request.reason)?;
    let account = match &request.account_id {
        Some(text) => Some(text.parse::<AccountId>().map_err(|_| ApiError::invalid("invalid-request", "account_id is not an account id"))?),
        None => None,
    };
    act(&state, &caller, &id, StaffRequest::Hold { account, amount_fen, reason }).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// The hold then ends this many hours from now (at most `claims.hold_max_days` after it was placed).
    pub hours: i64,
}

fn hold_id(text: &str) -> ApiResult<OperationId> {
    text.parse().map_err(|_| ApiError::not_found("no active hold of this claim has that id"))
}

#[utoipa::path(post, path = "/v1/staff/claims/{id}/holds/{hold_id}/extend", summary = "Extend a hold", tag = "claims", security(("bearer" = [])), request_body = ExtendRequest,
    params(("id" = String, Path, description = "claim id"), ("hold_id" = String, Path, description = "hold id")),
    responses((status = 200, body = ClaimResponse, description = "the claim after the change, as you may see it"), (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-request: beyond the longest a hold may last", body = Problem, content_type = "application/problem+json")))]
pub async fn extend_hold(State(state): State<AppState>, caller: Caller, Path((id, hold)): Path<(String, String)>, ApiJson(request): ApiJson<ExtendRequest>) -> ApiResult<Json<ClaimResponse>> {
    let hold = hold_id(&hold)?;
    if !(1..=24 * 3_650).contains(&request.hours) {
        return Err(ApiError::invalid("invalid-request", "hours is a positive number of hours"));
    }
    let until_us = state.clock.now_us().saturating_add(request.hours * 3_600_000_000);
    act(&state, &caller, &id, StaffRequest::ExtendHold { hold, until_us }).await
}

#[utoipa::path(post, path = "/v1/staff/claims/{id}/holds/{hold_id}/release", summary = "Release a hold", tag = "claims", security(("bearer" = [])),
    description = "Release a hold (agent). Takes no body.",
    params(("id" = String, Path, description = "claim id"), ("hold_id" = String, Path, description = "hold id")),
    responses((status = 200, body = ClaimResponse, description = "the claim after the change, as you may see it"), (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json")))]
pub async fn release_hold(State(state): State<AppState>, caller: Caller, Path((id, hold)): Path<(String, String)>) -> ApiResult<Json<ClaimResponse>> {
    let hold = hold_id(&hold)?;
    act(&state, &caller, &id, StaffRequest::ReleaseHold { hold }).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `return` (from the holds: all, or `amount`), `reject` or `legal_route`.
    pub outcome: String,
    pub amount: Option<i64>,
    /// Told to both parties (1–2,000 characters).
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/staff/claims/{id}/decision", summary = "Decide a claim", tag = "claims", security(("bearer" = [])), request_body = DecisionRequest,
    description = "Decide the claim (agent), at any time, taking the case if nobody has it: `return` sends held money to the claimant (the payee's account first, then down the trail) and releases the rest; `reject` releases every hold; `legal_route` keeps holds until they expire and points the claimant to court with the evidence pack.",
    params(("id" = String, Path, description = "claim id")),
    responses((status = 200, body = ClaimResponse, description = "the claim after the change, as you may see it"), (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "claim-not-open, hold-exceeds-limit", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-request, invalid-amount", body = Problem, content_type = "application/problem+json")))]
pub async fn decide_claim(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, ApiJson(request): ApiJson<DecisionRequest>) -> ApiResult<Json<ClaimResponse>> {
    let outcome = Outcome::parse(&request.outcome).ok_or_else(|| ApiError::invalid("invalid-request", "outcome is `return`, `reject` or `legal_route`"))?;
    let amount_fen = request.amount.map(positive_amount).transpose()?;
    if amount_fen.is_some() && outcome != Outcome::Return {
        return Err(ApiError::invalid("invalid-request", "amount goes with `return` only"));
    }
    let reason = person_text("reason", &request.reason)?;
    act(&state, &caller, &id, StaffRequest::Decide { outcome, amount_fen, reason }).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NotificationsQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    /// `claim_filed`, `claim_against_you`, `funds_held`, `money_returned`, `payee_contested`, `escalated`, `agent_assigned`, `message`, `decided`, `compensated`, `overdue`, `hold_ended`, `disclosure_made`.
    pub kind: String,
    pub claim_id: Option<String>,
    /// In your language (`PATCH /v1/me {"language"}`).
    pub message: String,
    pub created_at: String,
    pub read: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationList {
    /// Newest first.
    pub notifications: Vec<NotificationView>,
    pub unread: i64,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/me/notifications", summary = "Your notifications", tag = "claims", security(("bearer" = [])), params(NotificationsQuery),
    responses((status = 200, body = NotificationList, description = "newest first, with the unread count and the next page's cursor"), (status = 400, description = "invalid-query", body = Problem, content_type = "application/problem+json")))]
pub async fn notifications(State(state): State<AppState>, caller: Caller, ApiQuery(query): ApiQuery<NotificationsQuery>) -> ApiResult<Json<NotificationList>> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("invalid-query", "limit is 1 to 100"));
    }
    let cursor = query.cursor.as_deref().map(|c| c.parse::<uuid::Uuid>().map_err(|_| ApiError::bad_request("invalid-query", "cursor is a `next_cursor`"))).transpose()?;
    let (list, unread) = state.notifications(&caller.user, cursor, limit).await?;
    let next_cursor = (list.len() as i64 == limit).then(|| list.last().map(|n| n.id.to_string())).flatten();
    let notifications = list
        .into_iter()
        .map(|n| NotificationView { id: n.id.to_string(), kind: n.kind, claim_id: n.claim.map(|c| c.to_string()), message: n.message, created_at: rfc3339(n.created_at_us), read: n.read_at_us.is_some() })
        .collect();
    Ok(Json(NotificationList { notifications, unread, next_cursor }))
}

#[utoipa::path(post, path = "/v1/me/notifications/{id}/read", summary = "Mark a notification read", tag = "claims", security(("bearer" = [])),
    description = "Mark a notification read (again: unchanged). Takes no body.",
    params(("id" = String, Path, description = "notification id")),
    responses((status = 204, description = "read"), (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json")))]
pub async fn read_notification(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let not_found = || ApiError::not_found("no notification of yours has that id");
    let id: uuid::Uuid = id.parse().map_err(|_| not_found())?;
    if state.mark_notification_read(&caller.user, id).await? { Ok(StatusCode::NO_CONTENT) } else { Err(not_found()) }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CarriedView {
    /// `transfer` (to another wallet: followed), `withdrawal` (out to a bank card: the trail ends), `returned` (to a claimant: claimed money first) or `other`.
    pub kind: String,
    pub operation_id: String,
    pub to_account_id: Option<String>,
    pub at: String,
    pub amount_fen: i64,
    /// The share of the claimed money it carried.
    pub attributed_fen: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrailNodeView {
    /// 1: the payee's account; 2: an account the payee paid; …
    pub hop: u32,
    pub account_id: String,
    pub user_id: Option<String>,
    /// The payment that brought the claimed money here.
    pub arrived_via: String,
    pub arrived_at: String,
    /// How much of the claimed money arrived here.
    pub traced_fen: i64,
    /// How much of it is still here, by proportional attribution.
    pub remaining_fen: i64,
    pub available_now_fen: i64,
    /// At most this may be held here for the claim (`POST /v1/staff/claims/{id}/holds` with `account_id`).
    pub holdable_fen: i64,
    pub carried: Vec<CarriedView>,
    /// The account moved more money than tracing reads: the trail beyond is incomplete.
    pub truncated: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TraceView {
    pub claim_id: String,
    /// Breadth first from the payee's account.
    pub trail: Vec<TrailNodeView>,
}

#[utoipa::path(get, path = "/v1/staff/claims/{id}/trace", summary = "Where the claimed money went", tag = "claims", security(("bearer" = [])),
    description = "Where the claimed money went (agents, compliance officers, admins): the payee's later payments within `claims.trace_window_hours` of each arrival, up to `claims.trace_hops` hops, each carrying a proportional share of the claimed money.",
    params(("id" = String, Path, description = "claim id")),
    responses((status = 200, body = TraceView, description = "the trail, breadth first from the payee's account"),
              (status = 404, description = "not-found (also for anyone but staff)", body = Problem, content_type = "application/problem+json")))]
pub async fn trace_claim(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<TraceView>> {
    let claim = claim_id(&id)?;
    let (record, trail) = state.trace_for(&caller.user, claim).await?.ok_or_else(no_such_claim)?;
    let trail = trail_view(&trail, record.amount_fen - record.returned_fen);
    Ok(Json(TraceView { claim_id: claim.to_string(), trail }))
}

/// The trail as shown to staff and to an authority; `outstanding`: what is
/// still claimed (bounds what may be held on each account).
pub fn trail_view(trail: &[TrailNode], outstanding: i64) -> Vec<TrailNodeView> {
    trail
        .iter()
        .map(|node| TrailNodeView {
            hop: node.hop,
            account_id: node.account.to_string(),
            user_id: node.owner.map(|u| u.to_string()),
            arrived_via: node.arrived_via.to_string(),
            arrived_at: rfc3339(node.arrived_at_us),
            traced_fen: node.traced_fen,
            remaining_fen: node.remaining_fen,
            available_now_fen: node.available_now_fen,
            holdable_fen: node.traced_fen.min(outstanding).min(node.available_now_fen).max(0),
            carried: node
                .carried
                .iter()
                .map(|c| {
                    let (kind, operation, to) = match c.destination {
                        Destination::Wallet { transfer, account } => ("transfer", transfer, Some(account.to_string())),
                        Destination::Bank { operation } => ("withdrawal", operation, None),
                        Destination::Returned { operation } => ("returned", operation, None),
                        Destination::Other { operation } => ("other", operation, None),
                    };
                    CarriedView { kind: kind.into(), operation_id: operation.to_string(), to_account_id: to, at: rfc3339(c.at_us), amount_fen: c.amount_fen, attributed_fen: c.attributed_fen }
                })
                .collect(),
            truncated: node.truncated,
        })
        .collect()
}
