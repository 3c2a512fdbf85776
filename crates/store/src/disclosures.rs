//! Lawful disclosure: an authority's request for the identity behind a
//! claim or transfer, a compliance officer's decision, the reads of the
//! disclosed data, and the data subject's notice after the legal delay.
//! Every step writes an audit entry in its own transaction.

use recourse_domain::claim::Notice;
use recourse_domain::{OperationId, UserId};

use crate::audit::{AuditEntry, AuditKey, append_audit};
use crate::claims::notify;
use crate::ops::id;
use crate::sql::{Row, SqlConn, Val};
use crate::{Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisclosureStatus {
    Requested,
    Approved,
    Refused,
}

impl DisclosureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DisclosureStatus::Requested => "requested",
            DisclosureStatus::Approved => "approved",
            DisclosureStatus::Refused => "refused",
        }
    }

    fn parse(text: &str) -> Option<DisclosureStatus> {
        [DisclosureStatus::Requested, DisclosureStatus::Approved, DisclosureStatus::Refused].into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisclosureRecord {
    pub id: uuid::Uuid,
    pub requester: UserId,
    pub claim: Option<uuid::Uuid>,
    pub transfer: OperationId,
    /// Whose identity: the counterparty (the transfer's payee).
    pub subject: UserId,
    pub legal_basis: String,
    pub document_ref: String,
    pub status: DisclosureStatus,
    pub created_at_us: i64,
    pub decided_by: Option<UserId>,
    pub decided_at_us: Option<i64>,
    pub decision_note: Option<String>,
    pub subject_notified_at_us: Option<i64>,
}

/// A compliance officer's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisclosureDecision {
    /// The data subject is told at `notice_at_us`.
    Approve { note: Option<String>, notice_at_us: i64 },
    Refuse { note: Option<String> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisclosureDecided {
    Decided(DisclosureRecord),
    AlreadyDecided(DisclosureRecord),
    /// No one decides their own request.
    OwnRequest,
    NotFound,
}

const DISCLOSURE_COLUMNS: &str =
    "id, requester_id, claim_id, transfer_id, subject_id, legal_basis, document_ref, status, created_at, decided_by, decided_at, decision_note, subject_notified_at";

fn disclosure_from_row(row: &Row) -> Result<DisclosureRecord, StoreError> {
    let status = row.text(7)?;
    Ok(DisclosureRecord {
        id: uuid::Uuid::from_bytes(row.id16(0)?),
        requester: UserId::from_bytes(row.id16(1)?),
        claim: row.opt_id16(2)?.map(uuid::Uuid::from_bytes),
        transfer: OperationId::from_bytes(row.id16(3)?),
        subject: UserId::from_bytes(row.id16(4)?),
        legal_basis: row.text(5)?,
        document_ref: row.text(6)?,
        status: DisclosureStatus::parse(&status).ok_or_else(|| StoreError::corrupt(format!("unknown disclosure status {status}")))?,
        created_at_us: row.i64(8)?,
        decided_by: row.opt_id16(9)?.map(UserId::from_bytes),
        decided_at_us: row.opt_i64(10)?,
        decision_note: row.opt_text(11)?,
        subject_notified_at_us: row.opt_i64(12)?,
    })
}

fn load(conn: &mut dyn SqlConn, disclosure: uuid::Uuid) -> Result<Option<DisclosureRecord>, StoreError> {
    conn.query_opt(&format!("SELECT {DISCLOSURE_COLUMNS} FROM disclosures WHERE id = $1"), &[id(disclosure.as_bytes())])?.map(|row| disclosure_from_row(&row)).transpose()
}

/// The scheduler's event for a subject's notice (`due_work.event`).
pub const DISCLOSURE_NOTICE_EVENT: &str = "disclosure_notice";

impl Store {
    /// Record an authority's request, with its audit entry.
    pub async fn request_disclosure(&self, request: DisclosureRecord, audit_key: AuditKey) -> Result<DisclosureRecord, StoreError> {
        self.write(Vec::new(), move |conn| {
            let r = &request;
            conn.execute(
                &format!("INSERT INTO disclosures ({DISCLOSURE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', $8, NULL, NULL, NULL, NULL)"),
                &[
                    id(r.id.as_bytes()),
                    id(r.requester.as_bytes()),
                    r.claim.map(|c| c.as_bytes().to_vec()).into(),
                    id(r.transfer.as_bytes()),
                    id(r.subject.as_bytes()),
                    r.legal_basis.clone().into(),
                    r.document_ref.clone().into(),
                    r.created_at_us.into(),
                ],
            )?;
            let details = serde_json::json!({ "transfer_id": r.transfer.to_string(), "claim_id": r.claim.map(|c| c.to_string()), "legal_basis": r.legal_basis, "document_ref": r.document_ref });
            append_audit(conn, &audit_key, &AuditEntry { at_us: r.created_at_us, actor: Some(r.requester), action: "disclosure.request".into(), subject: format!("disclosure:{}", r.id), details })?;
            load(conn, r.id)?.ok_or_else(|| StoreError::corrupt("a disclosure vanished inside its transaction"))
        })
        .await
    }

    pub async fn disclosure(&self, disclosure: uuid::Uuid) -> Result<Option<DisclosureRecord>, StoreError> {
        self.read(move |conn| load(conn, disclosure)).await
    }

    /// Requests in `status`, oldest first.
    pub async fn disclosures(&self, status: DisclosureStatus, limit: i64) -> Result<Vec<DisclosureRecord>, StoreError> {
        self.read(move |conn| {
            let rows = conn.query(&format!("SELECT {DISCLOSURE_COLUMNS} FROM disclosures WHERE status = $1 ORDER BY created_at, id LIMIT $2"), &[Val::Name(status.as_str()), limit.into()])?;
            rows.iter().map(disclosure_from_row).collect()
        })
        .await
    }

    /// A compliance officer approves or refuses, once, never their own
    /// request; an approval schedules the subject's notice at `notice_at_us`.
    pub async fn decide_disclosure(&self, disclosure: uuid::Uuid, officer: UserId, decision: DisclosureDecision, audit_key: AuditKey, now_us: i64) -> Result<DisclosureDecided, StoreError> {
        self.write(Vec::new(), move |conn| {
            let (approve, note, notice_at_us) = match &decision {
                DisclosureDecision::Approve { note, notice_at_us } => (true, note.clone(), Some(*notice_at_us)),
                DisclosureDecision::Refuse { note } => (false, note.clone(), None),
            };
            let Some(record) = load(conn, disclosure)? else { return Ok(DisclosureDecided::NotFound) };
            if record.requester == officer {
                return Ok(DisclosureDecided::OwnRequest);
            }
            if record.status != DisclosureStatus::Requested {
                return Ok(DisclosureDecided::AlreadyDecided(record));
            }
            let to = if approve { DisclosureStatus::Approved } else { DisclosureStatus::Refused };
            conn.execute(
                "UPDATE disclosures SET status = $1, decided_by = $2, decided_at = $3, decision_note = $4 WHERE id = $5 AND status = 'requested'",
                &[Val::Name(to.as_str()), id(officer.as_bytes()), now_us.into(), note.clone().into(), id(disclosure.as_bytes())],
            )?;
            if let Some(notice_at_us) = notice_at_us {
                conn.execute(
                    "INSERT INTO due_work (subject_id, event, due_at) VALUES ($1, $2, $3) ON CONFLICT (subject_id, event) DO NOTHING",
                    &[id(disclosure.as_bytes()), Val::Name(DISCLOSURE_NOTICE_EVENT), notice_at_us.into()],
                )?;
            }
            let details = serde_json::json!({ "decision": to.as_str(), "note": note });
            let action = if approve { "disclosure.approve" } else { "disclosure.refuse" };
            append_audit(conn, &audit_key, &AuditEntry { at_us: now_us, actor: Some(officer), action: action.into(), subject: format!("disclosure:{disclosure}"), details })?;
            Ok(DisclosureDecided::Decided(load(conn, disclosure)?.ok_or_else(|| StoreError::corrupt("a disclosure vanished inside its transaction"))?))
        })
        .await
    }

    /// The approved disclosure `requester` holds for `claim`, if any.
    pub async fn approved_disclosure_for_claim(&self, claim: uuid::Uuid, requester: UserId) -> Result<Option<DisclosureRecord>, StoreError> {
        self.read(move |conn| {
            let row = conn.query_opt(
                &format!("SELECT {DISCLOSURE_COLUMNS} FROM disclosures WHERE claim_id = $1 AND requester_id = $2 AND status = 'approved' ORDER BY created_at LIMIT 1"),
                &[id(claim.as_bytes()), id(requester.as_bytes())],
            )?;
            row.map(|row| disclosure_from_row(&row)).transpose()
        })
        .await
    }

    /// Log a read of disclosed data (before the data leaves the service).
    pub async fn log_disclosure_read(&self, disclosure: uuid::Uuid, reader: UserId, audit_key: AuditKey, now_us: i64) -> Result<(), StoreError> {
        let entry = AuditEntry { at_us: now_us, actor: Some(reader), action: "disclosure.read".into(), subject: format!("disclosure:{disclosure}"), details: serde_json::json!({}) };
        self.audit_append(audit_key, entry).await.map(|_| ())
    }

    /// Disclosure notices due at `now_us`.
    pub async fn due_disclosure_notices(&self, now_us: i64, limit: i64) -> Result<Vec<uuid::Uuid>, StoreError> {
        self.read(move |conn| {
            let rows = conn.query(
                "SELECT subject_id FROM due_work WHERE due_at <= $1 AND event = $2 ORDER BY due_at, subject_id LIMIT $3",
                &[now_us.into(), Val::Name(DISCLOSURE_NOTICE_EVENT), limit.into()],
            )?;
            rows.iter().map(|row| Ok(uuid::Uuid::from_bytes(row.id16(0)?))).collect()
        })
        .await
    }

    /// Tell the data subject, once, that their identity was disclosed.
    pub async fn send_disclosure_notice(&self, disclosure: uuid::Uuid, now_us: i64) -> Result<bool, StoreError> {
        self.write(Vec::new(), move |conn| {
            let deleted = conn.execute("DELETE FROM due_work WHERE subject_id = $1 AND event = $2", &[id(disclosure.as_bytes()), Val::Name(DISCLOSURE_NOTICE_EVENT)])?;
            let Some(record) = load(conn, disclosure)? else { return Ok(false) };
            if deleted == 0 || record.subject_notified_at_us.is_some() {
                return Ok(false);
            }
            notify(conn, record.subject, Notice::DisclosureMade, None, None, None, now_us)?;
            conn.execute("UPDATE disclosures SET subject_notified_at = $1 WHERE id = $2", &[now_us.into(), id(disclosure.as_bytes())])?;
            Ok(true)
        })
        .await
    }
}
