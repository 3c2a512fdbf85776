//! Operational endpoints: health, metrics, the API description, and the test clock.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use recourse_service::clock::ADVANCE_SECONDS_MAX;
use crate::extract::ApiJson;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    /// `sqlite` or `postgres`.
    pub store: String,
    /// `enforce`, or `observe`: the capacity limits (per-address rates,
    /// transfer velocity, the hashing queue) are counted but not enforced.
    pub rate_limits: String,
    /// Free bytes for the embedded store's files (SQLite only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_free_bytes: Option<u64>,
}

#[utoipa::path(get, path = "/healthz", summary = "Health of the service and its store", security(()), tag = "system", responses((status = 200, body = Health, description = "the service and its store answer"),
              (status = 405, description = "method-not-allowed: only GET", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "store-unavailable: the store does not answer / disk-full: less free space than `limits.disk_free_min_bytes` for the embedded store, so writes may fail", body = Problem, content_type = "application/problem+json")))]
pub async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    // A real read through the pool: healthy means the store answers.
    state.store.balance(recourse_store::BANK_SETTLEMENT_CNY).await.map_err(|e| {
        tracing::error!(error = %e, "health check: the store does not answer");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store-unavailable", "Store unavailable", "the store does not answer")
    })?;
    let store = match state.store.dialect() {
        recourse_store::sql::Dialect::Sqlite => "sqlite",
        recourse_store::sql::Dialect::Postgres => "postgres",
    };
    let disk_free_bytes = match state.store.free_disk_bytes() {
        None => None,
        Some(Ok(free)) => Some(free),
        Some(Err(error)) => {
            tracing::error!(%error, "health check: cannot read the free disk space");
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store-unavailable", "Store unavailable", "the store's free disk space cannot be read"));
        }
    };
    if let Some(free) = disk_free_bytes
        && free < state.config.limits.disk_free_min_bytes
    {
        tracing::error!(free, min = state.config.limits.disk_free_min_bytes, "health check: the disk is (nearly) full");
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "disk-full", "Disk full", format!("{free} bytes free for the store, less than the {} required", state.config.limits.disk_free_min_bytes))
            .with("disk_free_bytes", free));
    }
    let rate_limits = state.config.limits.rate_limits.as_str().to_owned();
    Ok(Json(Health { status: "ok".into(), store: store.into(), rate_limits, disk_free_bytes }))
}

#[utoipa::path(get, path = "/metrics", summary = "Prometheus metrics", security(()), tag = "system", responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
              (status = 405, description = "method-not-allowed: only GET", body = Problem, content_type = "application/problem+json")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    (headers, state.metrics.render()).into_response()
}

/// The browsable API reference: Scalar, served from this binary (no CDN).
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("../../assets/docs.html"))
}

pub async fn docs_script() -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/javascript; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    (headers, include_str!("../../assets/scalar-standalone.js")).into_response()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceClock {
    /// Seconds to move the service clock forward (0 to ten years).
    pub advance_seconds: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClockView {
    pub now: String,
    /// Scheduled actions (arrivals, expiries) that became due and ran before this answer.
    pub ran: u64,
    /// What retention deleted before this answer.
    pub pruned: PrunedView,
}

/// Rows retention deleted: expired or revoked sessions, idempotency records
/// past the replay window, avatars beyond the kept history, full rate buckets.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PrunedView {
    pub sessions: u64,
    pub idempotency_records: u64,
    pub avatars: u64,
    pub rate_buckets: u64,
}

#[utoipa::path(post, path = "/v1/test/clock", summary = "Move the test clock", security(()), tag = "system", request_body = AdvanceClock,
    description = "Only on a server started with `--test-clock`: moves the service clock forward and runs whatever became due.",
    responses((status = 200, body = ClockView), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn advance_clock(State(state): State<AppState>, ApiJson(request): ApiJson<AdvanceClock>) -> ApiResult<Json<ClockView>> {
    if !(0..=ADVANCE_SECONDS_MAX).contains(&request.advance_seconds) {
        return Err(ApiError::invalid("invalid-advance", format!("advance_seconds is 0 to {ADVANCE_SECONDS_MAX}")));
    }
    let Some((ran, pruned)) = state.advance_test_clock_pruning(request.advance_seconds).await? else {
        return Err(ApiError::not_found("the test clock is not enabled"));
    };
    let pruned = PrunedView { sessions: pruned.sessions, idempotency_records: pruned.idempotency_records, avatars: pruned.avatars, rate_buckets: pruned.rate_buckets };
    Ok(Json(ClockView { now: state.clock.now().to_string(), ran, pruned }))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed", "this route does not accept that method")
}
