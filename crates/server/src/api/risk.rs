//! What feeds the risk decision over HTTP: blocks, reports, and the staff
//! decisions on reports. Handlers parse and render; the rules live in
//! `recourse_service::risk` and the domain.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use recourse_domain::{OperationId, Role, UserId};
use recourse_service::clock::rfc3339;
use recourse_service::risk::RelationRefusal;
use recourse_store::{ReportDecided, ReportReason, ReportRecord, ReportStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, CustomerCaller};
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

fn no_such_customer() -> ApiError {
    ApiError::not_found("no customer has that id")
}

fn refusal(refusal: RelationRefusal) -> ApiError {
    match refusal {
        RelationRefusal::NotFound => no_such_customer(),
        RelationRefusal::IsSelf => ApiError::invalid("invalid-request", "that is your own account"),
        RelationRefusal::TransferNotBetweenYou => ApiError::invalid("invalid-request", "transfer_id must name a transfer between you and the account you report"),
    }
}

fn user_id(text: &str) -> ApiResult<UserId> {
    text.parse().map_err(|_| no_such_customer())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    pub user_id: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockView {
    pub user_id: String,
    pub blocked: bool,
}

#[utoipa::path(post, path = "/v1/me/blocks", summary = "Block someone", tag = "risk", security(("bearer" = [])), request_body = BlockRequest,
    description = "Block someone (as a chat app would report it). A payment from them to you afterwards carries the `blocked_payer` warning and needs their confirmation. Blocking again changes nothing.",
    responses((status = 201, body = BlockView),
              (status = 404, description = "not-found: no customer has that id", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-request (yourself, or a malformed body)", body = Problem, content_type = "application/problem+json")))]
pub async fn block(State(state): State<AppState>, CustomerCaller(caller): CustomerCaller, ApiJson(request): ApiJson<BlockRequest>) -> ApiResult<(StatusCode, Json<BlockView>)> {
    let blocked = user_id(&request.user_id)?;
    state.block_user(&caller.user, blocked).await?.map_err(refusal)?;
    Ok((StatusCode::CREATED, Json(BlockView { user_id: blocked.to_string(), blocked: true })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// The account reported.
    pub user_id: String,
    /// `fraud`, `impersonation`, `goods_not_received`, `harassment` or `other`.
    #[schema(example = "fraud")]
    pub reason: String,
    /// A transfer between you and the account, if the report is about one.
    pub transfer_id: Option<String>,
    /// What happened, in your words (at most 1,000 characters).
    #[schema(max_length = 1000)]
    pub details: Option<String>,
}

/// A report, and what staff decided about it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReportView {
    pub id: String,
    pub reporter_id: String,
    pub user_id: String,
    pub reason: String,
    pub transfer_id: Option<String>,
    pub details: Option<String>,
    /// `open`, `confirmed` (a fraud marker: payments to the account are blocked while it lasts) or `dismissed`.
    pub status: String,
    pub created_at: String,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
}

impl From<&ReportRecord> for ReportView {
    fn from(report: &ReportRecord) -> Self {
        ReportView {
            id: report.id.to_string(),
            reporter_id: report.reporter.to_string(),
            user_id: report.subject.to_string(),
            reason: report.reason.as_str().to_owned(),
            transfer_id: report.transfer.map(|t| t.to_string()),
            details: report.details.clone(),
            status: report.status.as_str().to_owned(),
            created_at: rfc3339(report.created_at_us),
            decided_at: report.decided_at_us.map(rfc3339),
            decided_by: report.decided_by.map(|u| u.to_string()),
            decision_note: report.decision_note.clone(),
        }
    }
}

const DETAILS_MAX_CHARS: usize = 1_000;

#[utoipa::path(post, path = "/v1/reports", summary = "Report an account", tag = "risk", security(("bearer" = [])), request_body = ReportRequest,
    description = "Report an account. Open reports show as a `fraud_reports` warning to payers (with how many customers reported it) and never stop a payment on their own; staff confirm or dismiss them.",
    responses((status = 201, body = ReportView),
              (status = 404, description = "not-found: no customer has that id", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-request: unknown reason, yourself, details too long, or a transfer not between you", body = Problem, content_type = "application/problem+json")))]
pub async fn report(State(state): State<AppState>, CustomerCaller(caller): CustomerCaller, ApiJson(request): ApiJson<ReportRequest>) -> ApiResult<(StatusCode, Json<ReportView>)> {
    let subject = user_id(&request.user_id)?;
    let reason = ReportReason::parse(&request.reason)
        .ok_or_else(|| ApiError::invalid("invalid-request", "reason is one of `fraud`, `impersonation`, `goods_not_received`, `harassment`, `other`"))?;
    let transfer = match &request.transfer_id {
        Some(text) => Some(text.parse::<OperationId>().map_err(|_| refusal(RelationRefusal::TransferNotBetweenYou))?),
        None => None,
    };
    let details = request.details.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    if details.as_ref().is_some_and(|d| d.chars().count() > DETAILS_MAX_CHARS || d.chars().any(char::is_control)) {
        return Err(ApiError::invalid("invalid-request", format!("details are at most {DETAILS_MAX_CHARS} characters, without control characters")));
    }
    let record = state.report_user(&caller.user, subject, reason, transfer, details).await?.map_err(refusal)?;
    Ok((StatusCode::CREATED, Json(ReportView::from(&record))))
}

/// Reports are decided by customer-service agents and compliance officers.
fn require_report_staff(caller: &Caller) -> ApiResult<()> {
    match caller.user.role {
        Role::Agent | Role::Compliance => Ok(()),
        _ => Err(ApiError::forbidden("reports are handled by agents and compliance officers")),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportsQuery {
    /// `open` (default), `confirmed` or `dismissed`.
    pub status: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReportList {
    /// Oldest first.
    pub reports: Vec<ReportView>,
}

#[utoipa::path(get, path = "/v1/staff/reports", summary = "Reports to decide", tag = "risk", security(("bearer" = [])), params(ReportsQuery),
    responses((status = 200, body = ReportList),
              (status = 400, description = "invalid-query", body = Problem, content_type = "application/problem+json"),
              (status = 403, description = "forbidden: not an agent or compliance officer", body = Problem, content_type = "application/problem+json")))]
pub async fn staff_reports(State(state): State<AppState>, caller: Caller, ApiQuery(query): ApiQuery<ReportsQuery>) -> ApiResult<Json<ReportList>> {
    require_report_staff(&caller)?;
    let status = match query.status.as_deref() {
        None => ReportStatus::Open,
        Some(text) => ReportStatus::parse(text).ok_or_else(|| ApiError::bad_request("invalid-query", "status is `open`, `confirmed` or `dismissed`"))?,
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request("invalid-query", "limit is 1 to 200"));
    }
    let reports = state.reports(status, limit).await?;
    Ok(Json(ReportList { reports: reports.iter().map(ReportView::from).collect() }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why (recorded with who decided; 1–1,000 characters).
    pub note: String,
}

async fn decide(state: &AppState, caller: &Caller, id: &str, confirm: bool, request: DecisionRequest) -> ApiResult<Json<ReportView>> {
    require_report_staff(caller)?;
    let not_found = || ApiError::not_found("no report with that id");
    let id: uuid::Uuid = id.parse().map_err(|_| not_found())?;
    let note = request.note.trim().to_owned();
    if note.is_empty() || note.chars().count() > DETAILS_MAX_CHARS {
        return Err(ApiError::invalid("invalid-request", "note is 1 to 1000 characters: say why"));
    }
    match state.decide_report(&caller.user, id, confirm, note).await? {
        ReportDecided::Decided(record) => Ok(Json(ReportView::from(&record))),
        ReportDecided::AlreadyDecided(record) => Err(ApiError::new(StatusCode::CONFLICT, "report-already-decided", "Report already decided", "this report was decided before")
            .with("report", serde_json::to_value(ReportView::from(&record)).unwrap_or_default())),
        ReportDecided::NotFound => Err(not_found()),
    }
}

#[utoipa::path(post, path = "/v1/staff/reports/{id}/confirm", summary = "Confirm a report (fraud marker)", tag = "risk", security(("bearer" = [])), request_body = DecisionRequest,
    description = "Confirm a report: a fraud marker on the account. Payments to it are blocked for everyone (422 `transfer-blocked`) until the marker decays (`risk.marker_half_life_days`).",
    params(("id" = String, Path, description = "report id")),
    responses((status = 200, body = ReportView),
              (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "report-already-decided (`report`)", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-request: a note is required", body = Problem, content_type = "application/problem+json")))]
pub async fn confirm_report(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, ApiJson(request): ApiJson<DecisionRequest>) -> ApiResult<Json<ReportView>> {
    decide(&state, &caller, &id, true, request).await
}

#[utoipa::path(post, path = "/v1/staff/reports/{id}/dismiss", summary = "Dismiss a report", tag = "risk", security(("bearer" = [])), request_body = DecisionRequest,
    params(("id" = String, Path, description = "report id")),
    responses((status = 200, body = ReportView),
              (status = 403, description = "forbidden", body = Problem, content_type = "application/problem+json"),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "report-already-decided (`report`)", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-request: a note is required", body = Problem, content_type = "application/problem+json")))]
pub async fn dismiss_report(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, ApiJson(request): ApiJson<DecisionRequest>) -> ApiResult<Json<ReportView>> {
    decide(&state, &caller, &id, false, request).await
}
