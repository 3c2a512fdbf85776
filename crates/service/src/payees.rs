//! Confirmation of payee: who the payee is before paying (the preview),
//! contacts, the typed-name check, and the step-up a transfer goes through
//! before money moves (`confirm_payee`, called by `money.rs`). The rules are
//! the domain's (`recourse_domain::confirmation`, `recourse_domain::names`);
//! this module reads what they need and records what happened.

use recourse_domain::UserId;
use recourse_domain::confirmation::{
    CompletionRecord, Confirmation, DAY_US, Gate, NameCheckRecord, NameCheckResult, RiskRecord, StepUp, TransferChecks, gate, step_up,
};
use recourse_domain::risk::{Decision, Lang, RiskDecision};
use recourse_domain::identity::LegalName;
use recourse_domain::names;
use recourse_domain::refusal::Refusal;
use recourse_store::{AttemptRecorded, ContactRecord, PairFacts, PayeeKey, PayeeRelation, UserRecord};

use crate::money::PayeeRef;
use crate::{Service, ServiceError};

/// A payee as a payer sees them before paying.
#[derive(Clone, Debug)]
pub struct PayeePreview {
    pub payee: UserRecord,
    pub relation: PayeeRelation,
    /// The risk decision as if paying now, without an amount; its reasons
    /// are the preview's warnings.
    pub risk: RiskDecision,
}

/// Why a contact cannot be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactRefusal {
    /// No customer has that id.
    NotFound,
    /// Oneself.
    IsSelf,
}

/// The answer to a typed-name check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayeeCheckAnswer {
    pub result: NameCheckResult,
    /// The masked name, for `match` and `close_match` only: never the full one.
    pub masked_name: Option<String>,
}

/// What the payer asked for and answered, from a transfer request.
#[derive(Clone, Debug, Default)]
pub struct PayerAnswers {
    /// The hidden characters of the payee's masked name, or the whole name.
    pub name_completion: Option<String>,
    /// The name the payer expects the payee to have (a typed-name check).
    pub expected_name: Option<String>,
    pub confirm_no_match: bool,
    pub confirm_unverified_payee: bool,
    /// The payer read the risk decision's warnings and pays anyway.
    pub confirm_warnings: bool,
    /// The language of the sentences the payer is shown.
    pub lang: Lang,
}

/// A customer who can be paid, named by `payee_ref`; `None` for anyone else.
pub(crate) fn payable(user: Option<UserRecord>) -> Option<UserRecord> {
    user.filter(|u| !u.role.is_staff())
}

impl Service {
    /// The customer `payee_ref` names, if any.
    pub(crate) async fn resolve_payee(&self, payee_ref: &PayeeRef) -> Result<Option<UserRecord>, ServiceError> {
        Ok(match payee_ref {
            PayeeRef::Phone(phone) => self.store.user_by_phone(phone.as_str()).await?,
            PayeeRef::Id(id) => self.store.user(*id).await?,
            PayeeRef::Unparsable(_) => None,
        })
    }

    /// The payee `payee_ref` names, with the facts about `payer` paying
    /// them (one read).
    pub(crate) async fn resolve_payee_with_facts(&self, payer: &UserRecord, payee_ref: &PayeeRef) -> Result<Option<(UserRecord, PairFacts)>, ServiceError> {
        let key = match payee_ref {
            PayeeRef::Phone(phone) => PayeeKey::Phone(phone.as_str().to_owned()),
            PayeeRef::Id(id) => PayeeKey::Id(*id),
            PayeeRef::Unparsable(_) => return Ok(None),
        };
        Ok(self.store.payee_with_facts(payer.id, key).await?)
    }

    /// Who `payee_ref` is, as `viewer` may see them before paying: `None`
    /// when no customer has that phone number or id.
    /// A lookup: it spends the viewer's lookup budget (`limits.rs`), more
    /// when nobody has that phone number or id.
    pub async fn preview_payee(&self, viewer: &UserRecord, payee_ref: &PayeeRef) -> Result<Result<Option<PayeePreview>, Refusal>, ServiceError> {
        let found = self.resolve_payee_with_facts(viewer, payee_ref).await?.filter(|(payee, _)| !payee.role.is_staff());
        if let Err(exceeded) = self.charge_lookup(viewer.id, found.is_some()).await? {
            return Ok(Err(exceeded.into()));
        }
        let Some((payee, facts)) = found else {
            return Ok(Ok(None));
        };
        let relation = PayeeRelation::from(&facts);
        let risk = self.risk_decision(viewer, &payee, facts, None, false, self.clock.now_us()).await?;
        Ok(Ok(Some(PayeePreview { payee, relation, risk })))
    }

    /// Whether `viewer` and the customer `other` paid each other (no lookup:
    /// `other` is already known, e.g. a contact just added by id).
    pub async fn relation_with(&self, viewer: &UserRecord, other: UserId) -> Result<Option<PayeeRelation>, ServiceError> {
        Ok(self.resolve_payee_with_facts(viewer, &PayeeRef::Id(other)).await?.map(|(_, facts)| PayeeRelation::from(&facts)))
    }

    pub async fn contacts(&self, owner: &UserRecord) -> Result<Vec<ContactRecord>, ServiceError> {
        Ok(self.store.contacts_of(owner.id).await?)
    }

    /// Put a customer on the owner's contact list.
    pub async fn add_contact(&self, owner: &UserRecord, contact: UserId) -> Result<Result<UserRecord, ContactRefusal>, ServiceError> {
        if contact == owner.id {
            return Ok(Err(ContactRefusal::IsSelf));
        }
        let Some(user) = payable(self.store.user(contact).await?) else {
            return Ok(Err(ContactRefusal::NotFound));
        };
        self.store.add_contact(owner.id, contact, self.clock.now_us()).await?;
        Ok(Ok(user))
    }

    /// Take a customer off the owner's list; `false` if they were not on it.
    pub async fn remove_contact(&self, owner: &UserRecord, contact: UserId) -> Result<bool, ServiceError> {
        Ok(self.store.remove_contact(owner.id, contact, self.clock.now_us()).await?)
    }

    /// Refuse a typed-name check beyond the caller's daily budget.
    async fn check_budget(&self, caller: UserId, now_us: i64) -> Result<Result<(), Refusal>, ServiceError> {
        let (count, oldest_us) = self.store.payee_checks_since(caller, now_us - DAY_US).await?;
        if count < self.config.limits.payee_checks_daily_max {
            return Ok(Ok(()));
        }
        let retry_after_seconds = ((oldest_us.unwrap_or(now_us) + DAY_US - now_us).max(1) + 999_999) / 1_000_000;
        Ok(Err(Refusal::PayeeCheckLimitReached { retry_after_seconds }))
    }

    /// Compare a typed name with the payee's verified name, and record that
    /// the check ran (never the text typed).
    async fn run_name_check(&self, caller: UserId, payee: &UserRecord, typed: &str, source: &'static str, now_us: i64) -> Result<NameCheckResult, ServiceError> {
        let result = match self.legal_name_of(payee.id).await? {
            Some(legal) => NameCheckResult::from(names::check_typed_name(&legal, typed)),
            None => NameCheckResult::NotPossible,
        };
        self.store.record_payee_check(caller, payee.id, result, source, now_us).await?;
        Ok(result)
    }

    /// `POST /v1/payee-checks`: does `typed` name the payee? `Ok(None)`: no such payee.
    pub async fn check_payee_name(&self, caller: &UserRecord, payee_ref: &PayeeRef, typed: &str) -> Result<Result<Option<PayeeCheckAnswer>, Refusal>, ServiceError> {
        let payee = payable(self.resolve_payee(payee_ref).await?);
        if let Err(exceeded) = self.charge_lookup(caller.id, payee.is_some()).await? {
            return Ok(Err(exceeded.into()));
        }
        let Some(payee) = payee else {
            return Ok(Ok(None));
        };
        let now_us = self.clock.now_us();
        if let Err(refusal) = self.check_budget(caller.id, now_us).await? {
            return Ok(Err(refusal));
        }
        let result = self.run_name_check(caller.id, &payee, typed, "check", now_us).await?;
        let masked_name = matches!(result, NameCheckResult::Match | NameCheckResult::CloseMatch).then(|| payee.masked_name.clone()).flatten();
        Ok(Ok(Some(PayeeCheckAnswer { result, masked_name })))
    }

    /// The step-up of a transfer that passed its pre-checks, in order: name
    /// completion (or, to an unverified payee, the explicit confirmation),
    /// then the typed-name check. Wrong answers are recorded even when a
    /// later check refuses. Returns what the transfer records.
    pub(crate) async fn confirm_payee(
        &self,
        payer: &UserRecord,
        payee: &UserRecord,
        amount_fen: i64,
        answers: &PayerAnswers,
        risk: &RiskDecision,
        now_us: i64,
    ) -> Result<Result<TransferChecks, Refusal>, ServiceError> {
        let limits = self.config.limits.completion();
        let mut checks = TransferChecks {
            payer_verified: payer.verified(),
            payee_verified: payee.verified(),
            payee_masked_name_shown: payee.masked_name.clone(),
            payee_requires_acceptance: payee.require_acceptance,
            name_completion: CompletionRecord { required: false, attempts: 0, passed: false },
            name_check: None,
            warnings: risk.warnings(answers.lang),
            confirmations: Vec::new(),
            risk: RiskRecord { decision: risk.decision.as_str().to_owned(), reasons: risk.reasons.iter().map(|r| r.code.as_str().to_owned()).collect() },
            delay_reason: None,
        };
        let masked_name = || payee.masked_name.clone().unwrap_or_default();
        match step_up(amount_fen, &limits, payee.verified(), risk.decision == Decision::RequireNameCompletion) {
            StepUp::None => {}
            StepUp::ConfirmUnverified => {
                if !answers.confirm_unverified_payee {
                    return Ok(Err(Refusal::UnverifiedPayeeNotConfirmed));
                }
                checks.confirmations.push(Confirmation::ConfirmUnverifiedPayee);
            }
            StepUp::CompleteName => {
                checks.name_completion.required = true;
                let wallet = payer.wallet.ok_or_else(|| ServiceError::Internal("a checked payer has no wallet".into()))?;
                let Some(answer) = &answers.name_completion else {
                    let counts = self.store.name_attempt_counts(payer.id, payee.id, limits, now_us).await?;
                    return Ok(Err(match gate(&counts, &limits, now_us) {
                        Gate::Locked { retry_after_seconds } => Refusal::NameCompletionLocked { retry_after_seconds },
                        Gate::Open { attempts_left } => Refusal::NameCompletionRequired { masked_name: masked_name(), attempts_left },
                    }));
                };
                let legal: LegalName = self.legal_name_of(payee.id).await?.ok_or_else(|| ServiceError::Internal("a verified payee has no legal name".into()))?;
                let right = names::completes(&legal, answer);
                match self.store.record_name_attempt(payer.id, wallet, payee.id, right, limits, now_us).await? {
                    AttemptRecorded::Locked { retry_after_seconds } => return Ok(Err(Refusal::NameCompletionLocked { retry_after_seconds })),
                    AttemptRecorded::Wrong { after } => {
                        let attempts_left = match after {
                            Gate::Open { attempts_left } => attempts_left,
                            Gate::Locked { .. } => 0,
                        };
                        metrics::counter!("recourse_name_completions_total", "outcome" => "wrong").increment(1);
                        return Ok(Err(Refusal::NameCompletionRequired { masked_name: masked_name(), attempts_left }));
                    }
                    AttemptRecorded::Passed { attempts } => {
                        metrics::counter!("recourse_name_completions_total", "outcome" => "passed").increment(1);
                        checks.name_completion.attempts = attempts;
                        checks.name_completion.passed = true;
                    }
                }
            }
        }
        if let Some(expected) = &answers.expected_name {
            if let Err(refusal) = self.check_budget(payer.id, now_us).await? {
                return Ok(Err(refusal));
            }
            let result = self.run_name_check(payer.id, payee, expected, "transfer", now_us).await?;
            checks.name_check = Some(NameCheckRecord { result });
            if result == NameCheckResult::NoMatch {
                if !answers.confirm_no_match {
                    return Ok(Err(Refusal::NameMismatch { masked_name: masked_name() }));
                }
                checks.confirmations.push(Confirmation::ConfirmNoMatch);
            }
        }
        Ok(Ok(checks))
    }
}
