//! The OpenAPI 3.1 document's frame; paths and schemas come from the
//! `#[utoipa::path]` annotations on each handler via `utoipa_axum::routes!`,
//! so a route cannot exist without being documented.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Recourse",
        description = "Person-to-person payments where wrong transfers are hard to make and easy to recover. \
                       Amounts are integers in fen (CNY). Errors are RFC 9457 `application/problem+json` with a stable `code`. \
                       Money-moving requests need an `Idempotency-Key` header.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    servers((url = "/", description = "the server that serves this document")),
    // Every operation needs a session unless it says `security: [{}]` (public).
    security(("bearer" = [])),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Registration, sessions, profile and real-name verification"),
        (name = "cards", description = "Bank cards for top-ups and withdrawals"),
        (name = "money", description = "Top-ups, withdrawals and transfers"),
        (name = "payees", description = "Confirmation of payee: preview, typed-name check, contacts"),
        (name = "risk", description = "Impersonation and fraud: blocks, reports, and staff decisions on reports"),
        (name = "claims", description = "Help after the fact: claims, the payee's one-click return, holds, the agents' console, and the notification inbox"),
        (name = "system", description = "Health, metrics and test support"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// Every operation may also answer with a problem document that its own
/// annotation does not list (401, 413, 415, 503, …): say so once, here.
/// A listed response without its own description gets the status's reason
/// and what its body is, so that every response in the document says
/// something. Applied after the routes are merged in (modifiers on `ApiDoc`
/// run before).
pub struct ProblemByDefault;

impl Modify for ProblemByDefault {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = ResponseBuilder::new()
            .description("Any other failure, as an RFC 9457 problem document with a stable `code`")
            .content("application/problem+json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
            .build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                for (code, response) in operation.responses.responses.iter_mut() {
                    if let utoipa::openapi::RefOr::T(response) = response
                        && response.description.is_empty()
                    {
                        response.description = describe(code);
                    }
                }
                operation.responses.responses.entry("default".to_owned()).or_insert_with(|| problem.clone().into());
            }
        }
    }
}

/// `200` → "OK: the resource, as the schema shows"; `422` → "Unprocessable
/// Entity: a problem document …".
fn describe(code: &str) -> String {
    let status = code.parse::<u16>().ok().and_then(|c| axum::http::StatusCode::from_u16(c).ok());
    let reason = status.and_then(|s| s.canonical_reason()).unwrap_or("Response");
    match status {
        Some(status) if status.is_success() => format!("{reason}: the resource, as the schema shows"),
        _ => format!("{reason}: an RFC 9457 problem document; its `code` says which (README, problem codes)"),
    }
}
