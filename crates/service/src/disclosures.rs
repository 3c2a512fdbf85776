//! Lawful disclosure under dual control: an authority (police, court) asks
//! for the identity behind a claim or transfer, with the legal basis and a
//! document reference; a compliance officer who is not the requester
//! approves or refuses. Only after approval, and only the requesting
//! authority, reads the counterparty's legal name, full identity number,
//! phone and the money's trail; every read is in the audit log before the
//! data leaves. The data subject is told after `claims.disclosure_notice_days`.

use recourse_domain::{OperationId, Role};
use recourse_store::{DisclosureDecided, DisclosureDecision, DisclosureRecord, DisclosureStatus, UserRecord};

use crate::claims::TrailNode;
use crate::vault::Slot;
use crate::{Service, ServiceError};

/// What a disclosure names.
#[derive(Clone, Copy, Debug)]
pub enum DisclosureTarget {
    Claim(uuid::Uuid),
    Transfer(OperationId),
}

/// The identity behind a transfer, for the authority that may see it.
/// (`Debug` shows none of it.)
#[derive(Clone)]
pub struct DisclosedData {
    pub legal_name: Option<String>,
    pub id_number: Option<String>,
    pub phone: String,
    pub trail: Vec<TrailNode>,
}

/// A disclosure as its viewer may see it.
#[derive(Clone, Debug)]
pub struct DisclosureView {
    pub record: DisclosureRecord,
    /// Only for the requesting authority, only once approved.
    pub data: Option<DisclosedData>,
}

impl std::fmt::Debug for DisclosedData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DisclosedData(…)")
    }
}

impl Service {
    /// A customer's decrypted legal name and identity number (for a
    /// disclosure that was approved; nothing else calls this).
    pub(crate) async fn identity_of(&self, subject: &UserRecord) -> Result<(Option<String>, Option<String>), ServiceError> {
        let Some(identity) = self.store.encrypted_identity(subject.id).await? else { return Ok((None, None)) };
        let row = subject.id.as_bytes().to_vec();
        let decrypt = |column, bytes: &[u8]| self.vault.decrypt(Slot { table: "users", column, row: &row }, bytes).map_err(ServiceError::from);
        Ok((Some(decrypt("legal_name_enc", &identity.legal_name_enc)?), Some(decrypt("id_number_enc", &identity.id_number_enc)?)))
    }

    /// An authority files a request. `None`: no such claim or transfer.
    pub async fn request_disclosure(&self, authority: &UserRecord, target: DisclosureTarget, legal_basis: String, document_ref: String) -> Result<Option<DisclosureRecord>, ServiceError> {
        assert_eq!(authority.role, Role::Authority, "disclosure requests are an authority's (checked at the edge)");
        let (claim, transfer) = match target {
            DisclosureTarget::Claim(claim) => match self.store.claim(claim).await? {
                Some(record) => (Some(claim), record.transfer),
                None => return Ok(None),
            },
            DisclosureTarget::Transfer(transfer) => (None, transfer),
        };
        let Some(found) = self.store.transfer(transfer).await? else { return Ok(None) };
        let request = DisclosureRecord {
            id: uuid::Uuid::now_v7(),
            requester: authority.id,
            claim,
            transfer,
            subject: found.transfer.payee,
            legal_basis,
            document_ref,
            status: DisclosureStatus::Requested,
            created_at_us: self.clock.now_us(),
            decided_by: None,
            decided_at_us: None,
            decision_note: None,
            subject_notified_at_us: None,
        };
        Ok(Some(self.store.request_disclosure(request, self.vault.audit_key()).await?))
    }

    /// A compliance officer decides (never their own request).
    pub async fn decide_disclosure(&self, officer: &UserRecord, disclosure: uuid::Uuid, approve: bool, note: Option<String>) -> Result<DisclosureDecided, ServiceError> {
        assert_eq!(officer.role, Role::Compliance, "disclosures are decided by compliance officers (checked at the edge)");
        let now_us = self.clock.now_us();
        let notice_at_us = now_us + self.config.claims.disclosure_notice_days * 24 * 3_600_000_000;
        let decision = if approve { DisclosureDecision::Approve { note, notice_at_us } } else { DisclosureDecision::Refuse { note } };
        Ok(self.store.decide_disclosure(disclosure, officer.id, decision, self.vault.audit_key(), now_us).await?)
    }

    /// Requests in a status, for compliance.
    pub async fn disclosures(&self, status: DisclosureStatus, limit: i64) -> Result<Vec<DisclosureRecord>, ServiceError> {
        Ok(self.store.disclosures(status, limit).await?)
    }

    /// A disclosure for `viewer`: the requesting authority (with the data
    /// once approved, the read logged first) or a compliance officer (the
    /// request only). `None` for anyone else.
    pub async fn disclosure_for(&self, viewer: &UserRecord, disclosure: uuid::Uuid) -> Result<Option<DisclosureView>, ServiceError> {
        let Some(record) = self.store.disclosure(disclosure).await? else { return Ok(None) };
        let requester = viewer.role == Role::Authority && viewer.id == record.requester;
        if !requester && viewer.role != Role::Compliance {
            return Ok(None);
        }
        if !requester || record.status != DisclosureStatus::Approved {
            return Ok(Some(DisclosureView { record, data: None }));
        }
        self.store.log_disclosure_read(disclosure, viewer.id, self.vault.audit_key(), self.clock.now_us()).await?;
        let subject = self.store.user(record.subject).await?.ok_or_else(|| ServiceError::Internal("a disclosure's subject vanished".into()))?;
        let (legal_name, id_number) = self.identity_of(&subject).await?;
        let transfer = self.store.transfer(record.transfer).await?.ok_or_else(|| ServiceError::Internal("a disclosure's transfer vanished".into()))?.transfer;
        let trail = self.trace_from(transfer.payee_account, transfer.id, transfer.amount.fen()).await?;
        let data = DisclosedData { legal_name, id_number, phone: subject.phone.clone(), trail };
        tracing::info!(disclosure = %disclosure, reader = %viewer.id, "disclosed data read");
        Ok(Some(DisclosureView { record, data: Some(data) }))
    }
}
