//! Confirmation of payee over HTTP: the payee preview, the typed-name check
//! and contacts. Handlers parse and render; the rules live in
//! `recourse_service::payees` and the domain.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use recourse_domain::UserId;
use recourse_domain::confirmation::Warning;
use recourse_domain::risk::Lang;
use recourse_domain::phone::Phone;
use recourse_service::money::PayeeRef;
use recourse_service::payees::{ContactRefusal, PayeePreview};
use recourse_store::{ContactRecord, UserRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::accounts::parse_phone;
use super::views::avatar_url;
use crate::auth::CustomerCaller;
use crate::extract::{AcceptLanguage, ApiJson, ApiQuery};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use recourse_service::clock::rfc3339;

/// A warning about a payee, in the one shape used everywhere.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WarningView {
    /// Stable code: `impersonation_suspected`, `fraud_marker`,
    /// `blocked_payer`, `first_payment`, `new_account`, `payee_unverified`,
    /// `recent_profile_change`, `unusual_amount`, `fraud_reports`.
    #[schema(example = "impersonation_suspected")]
    pub code: String,
    /// A sentence for the payer, in Chinese or English by `Accept-Language`.
    pub message: String,
    /// `impersonation_suspected`: the contact the payee looks like.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// `impersonation_suspected`: what looks alike (`nickname`, `avatar`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signals: Option<Vec<String>>,
    /// `fraud_reports`: how many customers reported the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

impl From<&Warning> for WarningView {
    fn from(warning: &Warning) -> Self {
        WarningView {
            code: warning.code.clone(),
            message: warning.message.clone(),
            contact_id: warning.contact_id.clone(),
            signals: warning.signals.clone(),
            count: warning.count,
        }
    }
}

/// The risk decision: what Recourse would do, and why.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RiskView {
    /// `allow`, `warn`, `require_name_completion`, `delay` or `block`.
    #[schema(example = "warn")]
    pub decision: String,
    /// The reason codes (as in `warnings`).
    pub reasons: Vec<String>,
}

/// Who a payee is, as a payer sees them before paying.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PayeePreviewView {
    pub id: String,
    /// Chosen by the payee; anyone can choose any nickname.
    pub nickname: String,
    pub avatar_url: Option<String>,
    /// The verified legal name, masked (`**明`); null when the payee is not verified.
    #[schema(example = "**明")]
    pub masked_name: Option<String>,
    pub verified: bool,
    #[schema(example = "+86 138****8000")]
    pub masked_phone: String,
    pub created_at: String,
    pub nickname_changed_at: String,
    pub avatar_changed_at: Option<String>,
    /// On your contact list (added, or someone you paid or who paid you).
    pub is_contact: bool,
    /// You have paid this person before.
    pub paid_before: bool,
    pub warnings: Vec<WarningView>,
    /// The risk decision as if you paid now (before an amount is known).
    pub risk: RiskView,
}

fn masked_phone(user: &UserRecord) -> String {
    Phone::parse(&user.phone).map(|phone| phone.masked()).unwrap_or_else(|_| "****".to_owned())
}

impl PayeePreviewView {
    fn new(preview: &PayeePreview, lang: Lang) -> Self {
        let payee = &preview.payee;
        PayeePreviewView {
            id: payee.id.to_string(),
            nickname: payee.nickname.clone(),
            avatar_url: avatar_url(payee),
            masked_name: payee.masked_name.clone(),
            verified: payee.verified(),
            masked_phone: masked_phone(payee),
            created_at: rfc3339(payee.created_at_us),
            nickname_changed_at: rfc3339(payee.nickname_changed_at_us),
            avatar_changed_at: payee.avatar_changed_at_us.map(rfc3339),
            is_contact: preview.relation.is_contact,
            paid_before: preview.relation.paid_before,
            warnings: preview.risk.warnings(lang).iter().map(WarningView::from).collect(),
            risk: RiskView { decision: preview.risk.decision.as_str().to_owned(), reasons: preview.risk.reasons.iter().map(|r| r.code.as_str().to_owned()).collect() },
        }
    }
}

/// Name the payee by exactly one of the two.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    /// The payee's phone number.
    pub phone: Option<String>,
    /// The payee's user id.
    pub id: Option<String>,
}

fn payee_ref(phone: Option<&str>, id: Option<&str>, phone_field: &str, id_field: &str) -> ApiResult<PayeeRef> {
    match (phone, id) {
        (Some(phone), None) => Ok(PayeeRef::Phone(parse_phone(phone)?)),
        (None, Some(id)) => Ok(id.parse::<UserId>().map_or_else(|_| PayeeRef::Unparsable(id.to_owned()), PayeeRef::Id)),
        _ => Err(ApiError::invalid("invalid-request", format!("give exactly one of `{phone_field}` and `{id_field}`"))),
    }
}

fn payee_not_found() -> ApiError {
    ApiError::not_found("no customer has that phone number or id")
}

#[utoipa::path(get, path = "/v1/payees/preview", summary = "Preview a payee", tag = "payees", security(("bearer" = [])), params(PreviewQuery),
    description = "Who a payee is before paying them: the masked real name, whether they are verified, when their nickname and avatar last changed, whether you know them, the risk decision and its warnings (sentences in Chinese or English by `Accept-Language`).",
    responses((status = 200, body = PayeePreviewView),
              (status = 404, description = "not-found: no customer has that phone number or id", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-phone / invalid-request", body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "lookup-budget-exhausted: this caller's payee lookups are spent for now (`retry_after_seconds`, `Retry-After`)", body = Problem, content_type = "application/problem+json")))]
pub async fn preview(State(state): State<AppState>, CustomerCaller(caller): CustomerCaller, AcceptLanguage(lang): AcceptLanguage, ApiQuery(query): ApiQuery<PreviewQuery>) -> ApiResult<Json<PayeePreviewView>> {
    let payee = payee_ref(query.phone.as_deref(), query.id.as_deref(), "phone", "id")?;
    let preview = state.preview_payee(&caller.user, &payee).await?.map_err(ApiError::from)?.ok_or_else(payee_not_found)?;
    Ok(Json(PayeePreviewView::new(&preview, lang)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayeeCheckRequest {
    /// Give this or `payee_id`.
    pub payee_phone: Option<String>,
    /// Give this or `payee_phone`.
    pub payee_id: Option<String>,
    /// The name you expect the payee to have. Any text: one that is not a
    /// name is answered `no_match`.
    pub name: String,
}

/// The answer to a typed-name check, as Europe's Verification of Payee gives it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PayeeCheckView {
    /// `match`, `close_match` (a near miss: a homophone character, a
    /// traditional/simplified mix, an initial, a one-letter typo, swapped
    /// name order, a different separator), `no_match`, or `not_possible`
    /// (the payee has no verified name).
    #[schema(example = "close_match")]
    pub result: String,
    /// For `match` and `close_match` only: the masked name, never the full one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked_name: Option<String>,
}

#[utoipa::path(post, path = "/v1/payee-checks", summary = "Check a payee's name", tag = "payees", security(("bearer" = [])), request_body = PayeeCheckRequest,
    description = "Does this name belong to the payee? Each check is recorded and counts against a daily budget per caller (`limits.payee_checks_daily_max`).",
    responses((status = 200, body = PayeeCheckView),
              (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "invalid-phone / invalid-request", body = Problem, content_type = "application/problem+json"),
              (status = 429, description = "payee-check-limit-reached / lookup-budget-exhausted, with `retry_after_seconds` and `Retry-After`", body = Problem, content_type = "application/problem+json")))]
pub async fn check(State(state): State<AppState>, CustomerCaller(caller): CustomerCaller, ApiJson(request): ApiJson<PayeeCheckRequest>) -> ApiResult<Json<PayeeCheckView>> {
    let payee = payee_ref(request.payee_phone.as_deref(), request.payee_id.as_deref(), "payee_phone", "payee_id")?;
    let answer = state.check_payee_name(&caller.user, &payee, &request.name).await?.map_err(ApiError::from)?.ok_or_else(payee_not_found)?;
    Ok(Json(PayeeCheckView { result: answer.result.as_str().to_owned(), masked_name: answer.masked_name }))
}

/// Someone on your contact list, and why.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactView {
    pub user_id: String,
    pub nickname: String,
    pub avatar_url: Option<String>,
    pub masked_name: Option<String>,
    pub verified: bool,
    /// You added them.
    pub added: bool,
    /// You paid them.
    pub paid: bool,
    /// They paid you.
    pub paid_by: bool,
}

impl ContactView {
    fn new(user: &UserRecord, added: bool, paid: bool, paid_by: bool) -> ContactView {
        ContactView {
            user_id: user.id.to_string(),
            nickname: user.nickname.clone(),
            avatar_url: avatar_url(user),
            masked_name: user.masked_name.clone(),
            verified: user.verified(),
            added,
            paid,
            paid_by,
        }
    }
}

impl From<&ContactRecord> for ContactView {
    fn from(contact: &ContactRecord) -> Self {
        ContactView::new(&contact.user, contact.added, contact.paid, contact.paid_by)
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactList {
    /// By nickname; at most 1,000.
    pub contacts: Vec<ContactView>,
}

#[utoipa::path(get, path = "/v1/me/contacts", summary = "Your contacts", tag = "payees", security(("bearer" = [])),
    description = "Your contacts: the people you added, paid or were paid by, except those you removed.",
    responses((status = 200, body = ContactList, description = "your contacts"),
              (status = 403, description = "forbidden: staff accounts have no contacts", body = Problem, content_type = "application/problem+json")))]
pub async fn list_contacts(State(state): State<AppState>, CustomerCaller(caller): CustomerCaller) -> ApiResult<Json<ContactList>> {
    let contacts = state.contacts(&caller.user).await?;
    Ok(Json(ContactList { contacts: contacts.iter().map(ContactView::from).collect() }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddContactRequest {
    pub user_id: String,
}

#[utoipa::path(post, path = "/v1/me/contacts", summary = "Add a contact", tag = "payees", security(("bearer" = [])), request_body = AddContactRequest,
    description = "Add a customer to your contacts (again, if you removed them).",
    responses((status = 201, body = ContactView),
              (status = 404, description = "not-found: no customer has that id", body = Problem, content_type = "application/problem+json"),
              (status = 422, description = "contact-is-self / invalid-request", body = Problem, content_type = "application/problem+json")))]
pub async fn add_contact(State(state): State<AppState>, CustomerCaller(caller): CustomerCaller, ApiJson(request): ApiJson<AddContactRequest>) -> ApiResult<(StatusCode, Json<ContactView>)> {
    let contact: UserId = request.user_id.parse().map_err(|_| payee_not_found())?;
    match state.add_contact(&caller.user, contact).await? {
        Ok(user) => {
            let relation = state.relation_with(&caller.user, user.id).await?;
            let (paid, paid_by) = relation.map_or((false, false), |r| (r.paid_before, r.paid_by));
            Ok((StatusCode::CREATED, Json(ContactView::new(&user, true, paid, paid_by))))
        }
        Err(ContactRefusal::NotFound) => Err(payee_not_found()),
        Err(ContactRefusal::IsSelf) => Err(ApiError::invalid("contact-is-self", "you cannot add yourself as a contact")),
    }
}

#[utoipa::path(delete, path = "/v1/me/contacts/{user_id}", summary = "Remove a contact", tag = "payees", security(("bearer" = [])),
    description = "Take someone off your contacts, however they got there (someone you paid stays off until you add them again).",
    params(("user_id" = String, Path, description = "the contact's user id")),
    responses((status = 204, description = "removed"),
              (status = 404, description = "not-found: not on your contacts", body = Problem, content_type = "application/problem+json")))]
pub async fn remove_contact(State(state): State<AppState>, CustomerCaller(caller): CustomerCaller, Path(user_id): Path<String>) -> ApiResult<StatusCode> {
    let not_a_contact = || ApiError::not_found("that person is not on your contacts");
    let contact: UserId = user_id.parse().map_err(|_| not_a_contact())?;
    if state.remove_contact(&caller.user, contact).await? { Ok(StatusCode::NO_CONTENT) } else { Err(not_a_contact()) }
}
