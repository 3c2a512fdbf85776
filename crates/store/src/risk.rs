//! The facts a risk decision looks at, blocks, and fraud reports with their
//! staff decisions. All SQL of the risk decision lives here.

use recourse_domain::{AccountId, UserId};

use crate::payees::OWNER_CONTACTS_CTE;
use crate::ops::{USER_COLUMN_COUNT, USER_COLUMNS, hashes_from, id, user_from_row};
use crate::records::UserRecord;
use crate::sql::{Row, SqlConn, Val};
use crate::{Store, StoreError};

/// What a risk decision needs to know about a payer and a payee, read at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PairFacts {
    pub paid_before: bool,
    /// The payee has paid the payer.
    pub paid_by: bool,
    pub is_contact: bool,
    pub payee_blocked_payer: bool,
    /// Distinct customers with an open report on the payee.
    pub open_reports: u32,
    /// When each confirmed report on the payee was confirmed.
    pub markers_confirmed_at_us: Vec<i64>,
    /// The payee's current avatar's perceptual hashes.
    pub payee_avatar_hashes: Option<[u64; 2]>,
}

/// Why an account is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportReason {
    Fraud,
    Impersonation,
    GoodsNotReceived,
    Harassment,
    Other,
}

impl ReportReason {
    pub const ALL: [ReportReason; 5] = [ReportReason::Fraud, ReportReason::Impersonation, ReportReason::GoodsNotReceived, ReportReason::Harassment, ReportReason::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportReason::Fraud => "fraud",
            ReportReason::Impersonation => "impersonation",
            ReportReason::GoodsNotReceived => "goods_not_received",
            ReportReason::Harassment => "harassment",
            ReportReason::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<ReportReason> {
        ReportReason::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// A report's state: open until staff confirm it (a fraud marker) or dismiss it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportStatus {
    Open,
    Confirmed,
    Dismissed,
}

impl ReportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Open => "open",
            ReportStatus::Confirmed => "confirmed",
            ReportStatus::Dismissed => "dismissed",
        }
    }

    pub fn parse(text: &str) -> Option<ReportStatus> {
        [ReportStatus::Open, ReportStatus::Confirmed, ReportStatus::Dismissed].into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRecord {
    pub id: uuid::Uuid,
    pub reporter: UserId,
    pub subject: UserId,
    pub reason: ReportReason,
    pub transfer: Option<uuid::Uuid>,
    pub details: Option<String>,
    pub status: ReportStatus,
    pub created_at_us: i64,
    pub decided_at_us: Option<i64>,
    pub decided_by: Option<UserId>,
    pub decision_note: Option<String>,
}

/// What deciding a report did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportDecided {
    Decided(ReportRecord),
    /// It was decided before: as it is.
    AlreadyDecided(ReportRecord),
    NotFound,
}

const REPORT_COLUMNS: &str = "id, reporter_id, subject_id, reason, transfer_id, details, status, created_at, decided_at, decided_by, decision_note";

fn report_from_row(row: &Row) -> Result<ReportRecord, StoreError> {
    let (reason, status) = (row.text(3)?, row.text(6)?);
    Ok(ReportRecord {
        id: uuid::Uuid::from_bytes(row.id16(0)?),
        reporter: UserId::from_bytes(row.id16(1)?),
        subject: UserId::from_bytes(row.id16(2)?),
        reason: ReportReason::parse(&reason).ok_or_else(|| StoreError::corrupt(format!("unknown report reason {reason}")))?,
        transfer: row.opt_id16(4)?.map(uuid::Uuid::from_bytes),
        details: row.opt_text(5)?,
        status: ReportStatus::parse(&status).ok_or_else(|| StoreError::corrupt(format!("unknown report status {status}")))?,
        created_at_us: row.i64(7)?,
        decided_at_us: row.opt_i64(8)?,
        decided_by: row.opt_id16(9)?.map(UserId::from_bytes),
        decision_note: row.opt_text(10)?,
    })
}

/// Recount the report figures kept on the subject's row (in the report's transaction).
fn refresh_report_counters(conn: &mut dyn SqlConn, subject: UserId) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET \
           open_reporters = (SELECT count(DISTINCT reporter_id) FROM reports WHERE subject_id = $1 AND status = 'open'), \
           confirmed_reports = (SELECT count(*) FROM reports WHERE subject_id = $1 AND status = 'confirmed') \
         WHERE id = $1",
        &[id(subject.as_bytes())],
    )?;
    Ok(())
}

fn load_report(conn: &mut dyn SqlConn, report: uuid::Uuid) -> Result<Option<ReportRecord>, StoreError> {
    conn.query_opt(&format!("SELECT {REPORT_COLUMNS} FROM reports WHERE id = $1"), &[id(report.as_bytes())])?.map(|row| report_from_row(&row)).transpose()
}

/// The facts about a payer (`$1`) and the user of the row (`users`), as
/// columns appended to that user's row: one round trip reads the payee and
/// everything the risk decision needs about them.
const PAIR_FACTS_COLUMNS: &str = "\
       EXISTS (SELECT 1 FROM payment_pairs p WHERE p.payer_id = $1 AND p.payee_id = users.id), \
       EXISTS (SELECT 1 FROM payment_pairs p WHERE p.payer_id = users.id AND p.payee_id = $1), \
       (SELECT c.state FROM contacts c WHERE c.owner_id = $1 AND c.contact_id = users.id), \
       EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = users.id AND b.blocked_id = $1), \
       users.open_reporters, users.confirmed_reports, users.avatar_hash_a, users.avatar_hash_b";

static PAYEE_BY_ID_WITH_FACTS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {USER_COLUMNS}, {PAIR_FACTS_COLUMNS} FROM users WHERE users.id = $2"));
static PAYEE_BY_PHONE_WITH_FACTS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {USER_COLUMNS}, {PAIR_FACTS_COLUMNS} FROM users WHERE users.phone = $2"));

const CONTACTS_WITH_NICKNAME_KEY: &str = "SELECT u.id FROM users u WHERE u.nickname_key = $3 AND u.id <> $2 \
       AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.owner_id = $1 AND c.contact_id = u.id AND c.state = 'removed') \
       AND (EXISTS (SELECT 1 FROM payment_pairs p WHERE p.payer_id = $1 AND p.payee_id = u.id) \
            OR EXISTS (SELECT 1 FROM payment_pairs p WHERE p.payer_id = u.id AND p.payee_id = $1) \
            OR EXISTS (SELECT 1 FROM contacts c WHERE c.owner_id = $1 AND c.contact_id = u.id AND c.state = 'added')) \
     LIMIT $4";

static CONTACT_AVATAR_HASHES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH {OWNER_CONTACTS_CTE} SELECT users.id, users.avatar_hash_a, users.avatar_hash_b FROM owner_contacts JOIN users ON users.id = owner_contacts.other \
         WHERE users.id <> $2 AND users.avatar_hash_a IS NOT NULL AND users.avatar_hash_b IS NOT NULL LIMIT $3"
    )
});

/// How a payer named the payee.
#[derive(Clone, Debug)]
pub enum PayeeKey {
    Id(UserId),
    Phone(String),
}

/// Migration 5: the look-alike keys of nicknames and the perceptual hashes
/// of avatars stored before version 4 computed them, so that customers who
/// never renamed or re-uploaded are compared too. A picture that does not
/// decode (stored before avatars were decoded) keeps no hashes.
pub(crate) fn backfill_look_alike_keys(conn: &mut dyn SqlConn) -> Result<(), StoreError> {
    use recourse_domain::avatar::{self, AvatarLimits};
    use recourse_domain::lookalike::match_text;
    let nicknames = conn.query("SELECT id, nickname FROM users WHERE nickname_key IS NULL", &[])?;
    for row in &nicknames {
        if let Some(key) = match_text(&row.text(1)?) {
            conn.execute("UPDATE users SET nickname_key = $1 WHERE id = $2", &[key.into(), id(&row.id16(0)?)])?;
        }
    }
    // The default pixel limit of today's uploads; stored files passed the byte limit of their day.
    let limits = AvatarLimits { max_bytes: usize::MAX, max_pixels: 16_777_216 };
    let avatars = conn.query("SELECT id, image FROM avatars WHERE hash_a IS NULL", &[])?;
    for row in &avatars {
        let Ok(decoded) = avatar::decode(&row.blob(1)?, &limits) else { continue };
        let [a, b]: [u64; 2] = avatar::hash(&decoded).into();
        let (a, b, avatar) = (Val::I64(a.cast_signed()), Val::I64(b.cast_signed()), id(&row.id16(0)?));
        conn.execute("UPDATE avatars SET hash_a = $1, hash_b = $2 WHERE id = $3", &[a.clone(), b.clone(), avatar.clone()])?;
        conn.execute("UPDATE users SET avatar_hash_a = $1, avatar_hash_b = $2 WHERE avatar_id = $3", &[a, b, avatar])?;
    }
    if !nicknames.is_empty() || !avatars.is_empty() {
        tracing::info!(nicknames = nicknames.len(), avatars = avatars.len(), "look-alike keys computed for profiles stored before them");
    }
    Ok(())
}

impl Store {
    /// The payee a payer named, with the facts about paying them, in one
    /// round trip (on PostgreSQL an async, pipelined read).
    pub async fn payee_with_facts(&self, payer: UserId, payee: PayeeKey) -> Result<Option<(UserRecord, PairFacts)>, StoreError> {
        let (sql, key) = match payee {
            PayeeKey::Id(user) => (PAYEE_BY_ID_WITH_FACTS.as_str(), id(user.as_bytes())),
            PayeeKey::Phone(phone) => (PAYEE_BY_PHONE_WITH_FACTS.as_str(), Val::Text(phone)),
        };
        let Some(row) = self.read_row(sql, vec![id(payer.as_bytes()), key]).await? else {
            return Ok(None);
        };
        let user = user_from_row(&row)?;
        let at = USER_COLUMN_COUNT;
        let (paid, paid_by, state) = (row.i64(at)? != 0, row.i64(at + 1)? != 0, row.opt_text(at + 2)?);
        let is_contact = match state.as_deref() {
            Some("added") => true,
            Some(_) => false,
            None => paid || paid_by,
        };
        let subject = user.id;
        let markers_confirmed_at_us = if row.i64(at + 5)? > 0 {
            self.read(move |conn| {
                let rows = conn.query("SELECT decided_at FROM reports WHERE subject_id = $1 AND status = 'confirmed'", &[id(subject.as_bytes())])?;
                rows.iter().map(|row| row.i64(0)).collect::<Result<Vec<_>, _>>()
            })
            .await?
        } else {
            Vec::new()
        };
        let facts = PairFacts {
            paid_before: paid,
            paid_by,
            is_contact,
            payee_blocked_payer: row.i64(at + 3)? != 0,
            open_reports: u32::try_from(row.i64(at + 4)?).unwrap_or(u32::MAX),
            markers_confirmed_at_us,
            payee_avatar_hashes: hashes_from(row.opt_i64(at + 6)?, row.opt_i64(at + 7)?),
        };
        Ok(Some((user, facts)))
    }

    /// The payer's last `limit` transfer amounts out of `wallet` (fen, newest first).
    pub async fn recent_amounts_sent(&self, wallet: AccountId, limit: i64) -> Result<Vec<i64>, StoreError> {
        self.read(move |conn| {
            let rows = conn.query(
                "SELECT -amount FROM journal WHERE account_id = $1 AND op_kind = 'transfer' AND layer = 'settled' AND amount < 0 ORDER BY seq DESC LIMIT $2",
                &[id(wallet.as_bytes()), limit.into()],
            )?;
            rows.iter().map(|row| row.i64(0)).collect()
        })
        .await
    }

    /// The payer's contacts (added, paid or paid by, not removed) other than
    /// `payee` whose nickname looks like the payee's (`nickname_key`, see
    /// `lookalike::match_text`): an index lookup of everyone with that key,
    /// then the relation of each of those few to the payer.
    pub async fn contacts_with_nickname_key(&self, payer: UserId, payee: UserId, nickname_key: String) -> Result<Vec<UserId>, StoreError> {
        let rows = self.read_rows(CONTACTS_WITH_NICKNAME_KEY, vec![id(payer.as_bytes()), id(payee.as_bytes()), nickname_key.into(), crate::payees::CONTACTS_MAX.into()]).await?;
        rows.iter().map(|row| Ok(UserId::from_bytes(row.id16(0)?))).collect()
    }

    /// The payer's contacts (as above) other than `payee` that have an
    /// avatar, with its hashes: what the avatar comparison reads.
    pub async fn contact_avatar_hashes(&self, payer: UserId, payee: UserId) -> Result<Vec<(UserId, [u64; 2])>, StoreError> {
        let rows = self.read_rows(&CONTACT_AVATAR_HASHES, vec![id(payer.as_bytes()), id(payee.as_bytes()), crate::payees::CONTACTS_MAX.into()]).await?;
        rows.iter()
            .filter_map(|row| {
                let hashes = hashes_from(row.opt_i64(1).ok()?, row.opt_i64(2).ok()?)?;
                Some(row.id16(0).map(|user| (UserId::from_bytes(user), hashes)))
            })
            .collect()
    }

    /// `blocker` blocks `blocked` (again: nothing changes).
    pub async fn block(&self, blocker: UserId, blocked: UserId, now_us: i64) -> Result<(), StoreError> {
        self.write(Vec::new(), move |conn| {
            conn.execute(
                "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (blocker_id, blocked_id) DO NOTHING",
                &[id(blocker.as_bytes()), id(blocked.as_bytes()), now_us.into()],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn create_report(&self, report: ReportRecord) -> Result<ReportRecord, StoreError> {
        self.write(Vec::new(), move |conn| {
            let subject = report.subject;
            conn.execute(
                &format!("INSERT INTO reports ({REPORT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, NULL)"),
                &[
                    id(report.id.as_bytes()),
                    id(report.reporter.as_bytes()),
                    id(report.subject.as_bytes()),
                    Val::Name(report.reason.as_str()),
                    report.transfer.map(|t| t.as_bytes().to_vec()).into(),
                    report.details.clone().into(),
                    Val::Name(ReportStatus::Open.as_str()),
                    report.created_at_us.into(),
                ],
            )?;
            refresh_report_counters(conn, subject)?;
            load_report(conn, report.id)?.ok_or_else(|| StoreError::corrupt("a report vanished inside its transaction"))
        })
        .await
    }

    /// Reports in `status`, oldest first, at most `limit`.
    pub async fn reports(&self, status: ReportStatus, limit: i64) -> Result<Vec<ReportRecord>, StoreError> {
        self.read(move |conn| {
            let rows = conn.query(
                &format!("SELECT {REPORT_COLUMNS} FROM reports WHERE status = $1 ORDER BY created_at, id LIMIT $2"),
                &[Val::Name(status.as_str()), limit.into()],
            )?;
            rows.iter().map(report_from_row).collect()
        })
        .await
    }

    /// Staff confirm or dismiss an open report, with who and why.
    /// The decision goes into the audit log in the same transaction.
    pub async fn decide_report(&self, report: uuid::Uuid, to: ReportStatus, staff: UserId, note: String, audit_key: crate::AuditKey, now_us: i64) -> Result<ReportDecided, StoreError> {
        assert!(to != ReportStatus::Open, "a decision confirms or dismisses");
        self.write(Vec::new(), move |conn| {
            let changed = conn.execute(
                "UPDATE reports SET status = $1, decided_at = $2, decided_by = $3, decision_note = $4 WHERE id = $5 AND status = 'open'",
                &[Val::Name(to.as_str()), now_us.into(), id(staff.as_bytes()), note.clone().into(), id(report.as_bytes())],
            )?;
            Ok(match (changed, load_report(conn, report)?) {
                (_, None) => ReportDecided::NotFound,
                (1, Some(record)) => {
                    refresh_report_counters(conn, record.subject)?;
                    let entry = crate::AuditEntry {
                        at_us: now_us,
                        actor: Some(staff),
                        action: format!("report.{}", if to == ReportStatus::Confirmed { "confirm" } else { "dismiss" }),
                        subject: format!("report:{report}"),
                        details: serde_json::json!({ "user_id": record.subject.to_string(), "note": note }),
                    };
                    crate::audit::append_audit(conn, &audit_key, &entry)?;
                    ReportDecided::Decided(record)
                }
                (_, Some(record)) => ReportDecided::AlreadyDecided(record),
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_user_column_count_is_right() {
        assert_eq!(crate::ops::USER_COLUMNS.split(',').count(), crate::ops::USER_COLUMN_COUNT);
    }
}
