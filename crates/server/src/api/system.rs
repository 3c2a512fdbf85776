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
}

#[utoipa::path(get, path = "/healthz", summary = "Health of the service and its store", security(()), tag = "system", responses((status = 200, body = Health, description = "the service and its store answer"),
              (status = 405, description = "method-not-allowed: only GET", body = Problem, content_type = "application/problem+json"),
              (status = 503, description = "store-unavailable: the store does not answer", body = Problem, content_type = "application/problem+json")))]
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
    Ok(Json(Health { status: "ok".into(), store: store.into() }))
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
}

#[utoipa::path(post, path = "/v1/test/clock", summary = "Move the test clock", security(()), tag = "system", request_body = AdvanceClock,
    description = "Only on a server started with `--test-clock`: moves the service clock forward and runs whatever became due.",
    responses((status = 200, body = ClockView), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn advance_clock(State(state): State<AppState>, ApiJson(request): ApiJson<AdvanceClock>) -> ApiResult<Json<ClockView>> {
    if !(0..=ADVANCE_SECONDS_MAX).contains(&request.advance_seconds) {
        return Err(ApiError::invalid("invalid-advance", format!("advance_seconds is 0 to {ADVANCE_SECONDS_MAX}")));
    }
    let Some(ran) = state.advance_test_clock(request.advance_seconds).await? else {
        return Err(ApiError::not_found("the test clock is not enabled"));
    };
    Ok(Json(ClockView { now: state.clock.now().to_string(), ran }))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed", "this route does not accept that method")
}
