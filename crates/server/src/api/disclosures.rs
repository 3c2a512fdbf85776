//! Lawful disclosure over HTTP: authorities request, compliance officers
//! decide, and only the requesting authority reads the identity once
//! approved. The rules live in `recourse_service::disclosures`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use recourse_domain::{OperationId, Role};
use recourse_service::clock::rfc3339;
use recourse_service::disclosures::{DisclosureTarget, DisclosureView};
use recourse_store::{DisclosureDecided, DisclosureRecord, DisclosureStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::claims::{TrailNodeView, trail_view};
use crate::auth::Caller;
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

const TEXT_MAX_CHARS: usize = 500;

fn no_such_disclosure() -> ApiError {
    ApiError::not_found("no disclosure with that id")
}

fn field(name: &str, text: &str) -> ApiResult<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > TEXT_MAX_CHARS || text.chars().any(char::is_control) {
        return Err(ApiError::invalid("invalid-request", format!("{name} is 1 to {TEXT_MAX_CHARS} characters, without control characters")));
    }
    Ok(text.to_owned())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisclosureRequest {
    /// The claim whose counterparty is to be identified (or `transfer_id`).
    pub claim_id: Option<String>,
    /// The transfer whose payee is to be identified (or `claim_id`).
    pub transfer_id: Option<String>,
    /// The law the request rests on.
    pub legal_basis: String,
    /// The authority's document (warrant, court order) reference.
    pub document_ref: String,
}

/// The identity behind the transfer: only for the requesting authority, only once approved.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DisclosedView {
    pub legal_name: Option<String>,
    pub id_number: Option<String>,
    pub phone: String,
    /// Where the money went (see `GET /v1/staff/claims/{id}/trace`).
    pub trail: Vec<TrailNodeView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DisclosureResponse {
    pub id: String,
    /// `requested`, `approved` or `refused`.
    pub status: String,
    pub requester_id: String,
    pub claim_id: Option<String>,
    pub transfer_id: String,
    /// The data subject: the transfer's payee.
    pub subject_id: String,
    pub legal_basis: String,
    pub document_ref: String,
    pub created_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_note: Option<String>,
    pub subject_notified_at: Option<String>,
    /// Present only for the requesting authority after approval; every read is audited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disclosed: Option<DisclosedView>,
}

fn response(record: &DisclosureRecord, disclosed: Option<DisclosedView>) -> DisclosureResponse {
    DisclosureResponse {
        id: record.id.to_string(),
        status: record.status.as_str().to_owned(),
        requester_id: record.requester.to_string(),
        claim_id: record.claim.map(|c| c.to_string()),
        transfer_id: record.transfer.to_string(),
        subject_id: record.subject.to_string(),
        legal_basis: record.legal_basis.clone(),
        document_ref: record.document_ref.clone(),
        created_at: rfc3339(record.created_at_us),
        decided_by: record.decided_by.map(|u| u.to_string()),
        decided_at: record.decided_at_us.map(rfc3339),
        decision_note: record.decision_note.clone(),
        subject_notified_at: record.subject_notified_at_us.map(rfc3339),
        disclosed,
    }
}

impl From<DisclosureView> for DisclosureResponse {
    fn from(view: DisclosureView) -> Self {
        let disclosed = view.data.map(|data| DisclosedView { legal_name: data.legal_name.clone(), id_number: data.id_number.clone(), phone: data.phone.clone(), trail: trail_view(&data.trail, i64::MAX) });
        response(&view.record, disclosed)
    }
}

#[utoipa::path(post, path = "/v1/disclosures", summary = "Request a lawful disclosure", tag = "claims", security(("bearer" = [])), request_body = DisclosureRequest,
    description = "An authority (police, court) asks for the identity of a claim's or transfer's counterparty, with the legal basis and its document reference. A compliance officer decides.",
    responses((status = 201, body = DisclosureResponse, description = "the request, awaiting a compliance officer"),
              (status = 403, description = "forbidden: not an authority account", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "not-found: no such claim or transfer", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-request: not exactly one of `claim_id` / `transfer_id`, or an empty or over-long field", body = Problem, content_type = "application/problem+json")))]
pub async fn request_disclosure(State(state): State<AppState>, caller: Caller, ApiJson(request): ApiJson<DisclosureRequest>) -> ApiResult<(StatusCode, Json<DisclosureResponse>)> {
    if caller.user.role != Role::Authority {
        return Err(ApiError::forbidden("disclosure requests are filed by authority accounts"));
    }
    let not_found = || ApiError::not_found("no such claim or transfer");
    let target = match (&request.claim_id, &request.transfer_id) {
        (Some(claim), None) => DisclosureTarget::Claim(claim.parse().map_err(|_| not_found())?),
        (None, Some(transfer)) => DisclosureTarget::Transfer(transfer.parse::<OperationId>().map_err(|_| not_found())?),
        _ => return Err(ApiError::invalid("invalid-request", "name exactly one of `claim_id` and `transfer_id`")),
    };
    let legal_basis = field("legal_basis", &request.legal_basis)?;
    let document_ref = field("document_ref", &request.document_ref)?;
    let record = state.request_disclosure(&caller.user, target, legal_basis, document_ref).await?.ok_or_else(not_found)?;
    Ok((StatusCode::CREATED, Json(response(&record, None))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisclosureDecisionRequest {
    /// Why (optional when approving).
    pub note: Option<String>,
}

/// An optional JSON body: none, or `{"note": …}`.
fn optional_note(body: &Bytes) -> ApiResult<Option<String>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let request: DisclosureDecisionRequest = serde_json::from_slice(body).map_err(|e| ApiError::invalid("invalid-request", format!("the body is `{{\"note\": \"…\"}}` or nothing: {e}")))?;
    request.note.as_deref().map(|note| field("note", note)).transpose()
}

async fn decide(state: &AppState, caller: &Caller, id: &str, approve: bool, body: &Bytes) -> ApiResult<Json<DisclosureResponse>> {
    if caller.user.role != Role::Compliance {
        return Err(ApiError::forbidden("disclosures are decided by compliance officers"));
    }
    let note = optional_note(body)?;
    let id: uuid::Uuid = id.parse().map_err(|_| no_such_disclosure())?;
    match state.decide_disclosure(&caller.user, id, approve, note).await? {
        DisclosureDecided::Decided(record) => Ok(Json(response(&record, None))),
        DisclosureDecided::AlreadyDecided(record) => Err(ApiError::new(StatusCode::CONFLICT, "disclosure-already-decided", "Disclosure already decided", "this request was decided before")
            .with("disclosure_status", record.status.as_str())),
        DisclosureDecided::OwnRequest => Err(ApiError::forbidden("no one decides their own request")),
        DisclosureDecided::NotFound => Err(no_such_disclosure()),
    }
}

#[utoipa::path(post, path = "/v1/disclosures/{id}/approve", summary = "Approve a disclosure", tag = "claims", security(("bearer" = [])),
    description = "A compliance officer approves (never their own request). Optional body `{\"note\"}`. The data subject is told after `claims.disclosure_notice_days` (90).",
    params(("id" = String, Path, description = "disclosure id")),
    responses((status = 200, body = DisclosureResponse, description = "the request, approved"),
              (status = 403, description = "forbidden: not a compliance officer, or your own request", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "disclosure-already-decided", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-request: a malformed body", body = Problem, content_type = "application/problem+json")))]
pub async fn approve_disclosure(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, body: Bytes) -> ApiResult<Json<DisclosureResponse>> {
    decide(&state, &caller, &id, true, &body).await
}

#[utoipa::path(post, path = "/v1/disclosures/{id}/refuse", summary = "Refuse a disclosure", tag = "claims", security(("bearer" = [])),
    description = "A compliance officer refuses. Optional body `{\"note\"}`.",
    params(("id" = String, Path, description = "disclosure id")),
    responses((status = 200, body = DisclosureResponse, description = "the request, refused"),
              (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "disclosure-already-decided", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-request: a malformed body", body = Problem, content_type = "application/problem+json")))]
pub async fn refuse_disclosure(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, body: Bytes) -> ApiResult<Json<DisclosureResponse>> {
    decide(&state, &caller, &id, false, &body).await
}

#[utoipa::path(get, path = "/v1/disclosures/{id}", summary = "A disclosure", tag = "claims", security(("bearer" = [])),
    description = "The request; for the requesting authority after approval, also the counterparty's legal name, full identity number, phone and the money's trail (each read is written to the audit log). Compliance officers see the request only; anyone else gets 404.",
    params(("id" = String, Path, description = "disclosure id")),
    responses((status = 200, body = DisclosureResponse, description = "the request, with `disclosed` for the requesting authority once approved"),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json")))]
pub async fn get_disclosure(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<DisclosureResponse>> {
    let id: uuid::Uuid = id.parse().map_err(|_| no_such_disclosure())?;
    let view = state.disclosure_for(&caller.user, id).await?.ok_or_else(no_such_disclosure)?;
    Ok(Json(DisclosureResponse::from(view)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DisclosuresQuery {
    /// `requested` (default), `approved` or `refused`.
    pub status: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DisclosureList {
    /// Oldest first, at most 200.
    pub disclosures: Vec<DisclosureResponse>,
}

#[utoipa::path(get, path = "/v1/staff/disclosures", summary = "Disclosures to decide", tag = "claims", security(("bearer" = [])), params(DisclosuresQuery),
    description = "Requests to decide (compliance officers): the request only, never the identity.",
    responses((status = 200, body = DisclosureList, description = "requests in that status, oldest first"),
              (status = 400, description = "invalid-query", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json")))]
pub async fn staff_disclosures(State(state): State<AppState>, caller: Caller, ApiQuery(query): ApiQuery<DisclosuresQuery>) -> ApiResult<Json<DisclosureList>> {
    if caller.user.role != Role::Compliance {
        return Err(ApiError::forbidden("the disclosure queue is for compliance officers"));
    }
    let status = match query.status.as_deref() {
        None | Some("requested") => DisclosureStatus::Requested,
        Some("approved") => DisclosureStatus::Approved,
        Some("refused") => DisclosureStatus::Refused,
        Some(_) => return Err(ApiError::bad_request("invalid-query", "status is `requested`, `approved` or `refused`")),
    };
    let list = state.disclosures(status, 200).await?;
    Ok(Json(DisclosureList { disclosures: list.iter().map(|record| response(record, None)).collect() }))
}
