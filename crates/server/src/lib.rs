//! Recourse's HTTP service.
//!
//! - [`router`] builds the whole HTTP surface (API, OpenAPI document, docs
//!   page, health, metrics) from an [`state::AppState`].
//! - [`api`] holds the handlers, one module per capability.
//! - [`problem`] maps every failure to `application/problem+json`, once.
//! - [`auth`]: the `Caller` extractor (bearer tokens, checked by the service).
//!
//! Architecture invariant: handlers parse and render. Money operations are
//! `recourse_service` operations; handlers never read the wall clock, never
//! log personal data, and never touch SQL.

pub mod api;
pub mod auth;
pub mod extract;
pub mod logs;
mod openapi;
mod pdf;
pub mod problem;
pub mod state;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use recourse_service::Service;
use recourse_service::config::ServiceConfig;
use recourse_service::identity_provider::IdentityProvider;
use recourse_store::Store;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::problem::ApiError;
use crate::state::AppState;

/// The process-wide Prometheus recorder (installed once, shared by every
/// server in the process — tests start many).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new().install_recorder().unwrap_or_else(|_| {
                // Another recorder is already installed (embedding program):
                // keep a private one so /metrics still answers.
                PrometheusBuilder::new().build_recorder().handle()
            })
        })
        .clone()
}

/// Build the state for a store and settings, with the built-in identity provider.
pub fn app_state(store: Store, config: ServiceConfig) -> anyhow::Result<AppState> {
    let service = Service::new(store, config).map_err(anyhow::Error::msg)?;
    Ok(AppState { service, metrics: metrics_handle() })
}

pub fn app_state_with_provider(store: Store, config: ServiceConfig, identity_provider: Arc<dyn IdentityProvider>) -> anyhow::Result<AppState> {
    let service = Service::with_provider(store, config, identity_provider).map_err(anyhow::Error::msg)?;
    Ok(AppState { service, metrics: metrics_handle() })
}

/// The documented API routes, and the OpenAPI document that describes them.
fn api_routes(state: &AppState, with_metrics: bool) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use api::{accounts, claims, disclosures, evidence, money, payees, risk, system};
    let mut router = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi()).routes(routes!(system::healthz));
    if with_metrics {
        router = router.routes(routes!(system::metrics));
    }
    router = router
        .routes(routes!(accounts::register))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::logout))
        .routes(routes!(accounts::me, accounts::update_me))
        .routes(routes!(accounts::put_avatar))
        .routes(routes!(accounts::get_avatar))
        .routes(routes!(accounts::verify))
        .routes(routes!(accounts::bind_card, accounts::list_cards))
        .routes(routes!(money::topup))
        .routes(routes!(money::withdraw))
        .routes(routes!(money::create_transfer))
        .routes(routes!(money::get_transfer))
        .routes(routes!(money::revoke_transfer))
        .routes(routes!(money::accept_transfer))
        .routes(routes!(money::decline_transfer))
        .routes(routes!(money::list_transfers))
        .routes(routes!(payees::preview))
        .routes(routes!(payees::check))
        .routes(routes!(payees::list_contacts, payees::add_contact))
        .routes(routes!(payees::remove_contact))
        .routes(routes!(risk::block))
        .routes(routes!(risk::report))
        .routes(routes!(risk::staff_reports))
        .routes(routes!(risk::confirm_report))
        .routes(routes!(risk::dismiss_report))
        .routes(routes!(claims::file_claim, claims::my_claims))
        .routes(routes!(claims::get_claim))
        .routes(routes!(evidence::evidence))
        .routes(routes!(claims::return_claim))
        .routes(routes!(claims::contest_claim))
        .routes(routes!(claims::staff_claims))
        .routes(routes!(claims::trace_claim))
        .routes(routes!(claims::take_claim))
        .routes(routes!(claims::note_claim))
        .routes(routes!(claims::message_claim))
        .routes(routes!(claims::hold_claim))
        .routes(routes!(claims::extend_hold))
        .routes(routes!(claims::release_hold))
        .routes(routes!(claims::decide_claim))
        .routes(routes!(claims::notifications))
        .routes(routes!(claims::read_notification))
        .routes(routes!(disclosures::request_disclosure))
        .routes(routes!(disclosures::get_disclosure))
        .routes(routes!(disclosures::approve_disclosure))
        .routes(routes!(disclosures::refuse_disclosure))
        .routes(routes!(disclosures::staff_disclosures));
    if state.clock.is_test_clock() {
        router = router.routes(routes!(system::advance_clock));
    }
    let (router, mut openapi) = router.split_for_parts();
    utoipa::Modify::modify(&openapi::ProblemByDefault, &mut openapi);
    (router, openapi)
}

/// The whole HTTP surface, `/metrics` included.
pub fn router(state: AppState) -> Router {
    surface(state, true)
}

/// The HTTP surface without `/metrics`, and `/metrics` alone, for a
/// deployment that serves the metrics on a separate, private address
/// (`metrics_listen`).
pub fn router_and_metrics(state: AppState) -> (Router, Router) {
    let metrics = Router::new().route("/metrics", get(api::system::metrics)).with_state(state.clone());
    (surface(state, false), metrics)
}

fn surface(state: AppState, with_metrics: bool) -> Router {
    let (api, openapi) = api_routes(&state, with_metrics);
    let openapi_json: Arc<str> = openapi.to_pretty_json().unwrap_or_default().into();
    let limits = &state.config.limits;
    api.route("/openapi.json", get(move || async move { ([("content-type", "application/json")], openapi_json.to_string()) }))
        .route("/docs", get(api::system::docs))
        .route("/docs/scalar.js", get(api::system::docs_script))
        .route_layer(middleware::from_fn_with_state(state.clone(), observe))
        .fallback(api::system::not_found)
        .method_not_allowed_fallback(api::system::method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.request_body_max_bytes))
        .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            ApiError::internal("a handler panicked").into_response()
        }))
        // Browsers must not guess a type other than the one we send (an avatar is an image, nothing else).
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            // The path only: query strings may carry phone numbers.
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %request_id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(middleware::map_request(drop_foreign_request_id))
        .with_state(state)
}

/// A client's own `x-request-id` is kept only if it is a UUID: anything
/// else could smuggle arbitrary text (even personal data) into the logs.
async fn drop_foreign_request_id(mut request: Request) -> Request {
    let acceptable = match request.headers().get("x-request-id") {
        None => true,
        Some(value) => value.to_str().ok().is_some_and(|v| uuid::Uuid::parse_str(v).is_ok()),
    };
    if !acceptable {
        request.headers_mut().remove("x-request-id");
    }
    request
}

/// Per-route metrics and the request deadline.
async fn observe(State(state): State<AppState>, matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let route = matched.map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    // A test clock takes the offset every instance on the store agrees on.
    if let Err(error) = state.sync_test_clock().await {
        return ApiError::from(error).into_response();
    }
    let deadline = Duration::from_millis(state.config.limits.request_timeout_ms);
    let response = match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "request-timeout", "Request timed out", "the request took too long; retry with the same Idempotency-Key").into_response(),
    };
    let status = response.status().as_u16().to_string();
    metrics::counter!("recourse_http_requests_total", "method" => method, "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("recourse_http_request_duration_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    response
}

/// Serve until `shutdown` resolves, then finish the requests in flight.
pub async fn serve(listener: tokio::net::TcpListener, router: Router, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    // The peer's address reaches handlers (`extract::ClientAddress`): the per-address limits count by it.
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).with_graceful_shutdown(shutdown).await
}
