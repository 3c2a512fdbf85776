//! The tamper-evident audit log: every staff action, every lawful
//! disclosure and every read of disclosed data, appended in the same
//! transaction as the action.
//!
//! Each entry carries an HMAC-SHA256 over its own fields and the previous
//! entry's MAC, keyed with a key derived from the identity key (which is
//! not in the database) and named by a key id stored with the entry. Someone
//! with the database file alone can edit rows, drop triggers and recompute
//! plain hashes, but cannot recompute these MACs: `verify` finds the first
//! entry that was edited, inserted or deleted. (Cutting entries off the end
//! leaves a shorter chain that still verifies, as with any hash chain: the
//! head's sequence number is written to the service log with every append,
//! outside the database, to compare against.)
//!
//! Appends serialize on one row (`audit_head`), which the money path never
//! touches: transfers never wait for the chain.

use hmac::{Hmac, KeyInit, Mac};
use recourse_domain::UserId;
use sha2::Sha256;

use crate::sql::{SqlConn, Val};
use crate::{Store, StoreError};

/// A key of the chain: its id (stored with each entry) and its bytes.
#[derive(Clone)]
pub struct AuditKey {
    pub id: String,
    pub key: [u8; 32],
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey({})", self.id)
    }
}

/// What an entry says.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub at_us: i64,
    pub actor: Option<UserId>,
    /// e.g. `claim.decide`, `disclosure.approve`, `disclosure.read`.
    pub action: String,
    /// e.g. `claim:<id>`.
    pub subject: String,
    pub details: serde_json::Value,
}

/// The fields of a stored entry that its MAC covers.
struct Signed<'a> {
    seq: i64,
    at_us: i64,
    actor: Option<&'a [u8]>,
    action: &'a str,
    subject: &'a str,
    details: &'a str,
    key_id: &'a str,
}

fn mac_of(key: &[u8; 32], entry: &Signed<'_>, previous: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(&entry.seq.to_be_bytes());
    mac.update(&entry.at_us.to_be_bytes());
    for part in [entry.actor.unwrap_or(&[]), entry.action.as_bytes(), entry.subject.as_bytes(), entry.details.as_bytes(), entry.key_id.as_bytes(), previous] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Append an entry inside the caller's transaction.
pub(crate) fn append_audit(conn: &mut dyn SqlConn, key: &AuditKey, entry: &AuditEntry) -> Result<i64, StoreError> {
    // Lock the head (PostgreSQL: the row lock; SQLite: the one writer).
    let head = conn.query_one("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, mac", &[])?;
    let (seq, previous) = (head.i64(0)?, head.blob(1)?);
    let details = entry.details.to_string();
    let actor = entry.actor.map(|u| u.as_bytes().to_vec());
    let signed = Signed { seq, at_us: entry.at_us, actor: actor.as_deref(), action: &entry.action, subject: &entry.subject, details: &details, key_id: &key.id };
    let mac = mac_of(&key.key, &signed, &previous);
    conn.execute(
        "INSERT INTO audit_log (seq, at, actor_id, action, subject, details, key_id, mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[seq.into(), entry.at_us.into(), actor.into(), entry.action.clone().into(), entry.subject.clone().into(), details.into(), key.id.clone().into(), Val::Blob(mac.clone())],
    )?;
    conn.execute("UPDATE audit_head SET mac = $1 WHERE id = 1", &[Val::Blob(mac)])?;
    tracing::info!(audit_seq = seq, action = %entry.action, "audit entry appended");
    Ok(seq)
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditVerdict {
    /// Every entry checks out; the chain has this many, ending in this head.
    Intact { entries: i64 },
    /// The first entry that does not: its sequence number and why.
    Broken { seq: i64, why: String },
}

impl Store {
    /// Append one entry in a transaction of its own (actions that write
    /// nothing else, such as a read of disclosed data).
    pub async fn audit_append(&self, key: AuditKey, entry: AuditEntry) -> Result<i64, StoreError> {
        self.write(Vec::new(), move |conn| append_audit(conn, &key, &entry)).await
    }

    /// Check the whole chain against the keys given (the current one and
    /// any previous ones, by id).
    pub async fn verify_audit(&self, keys: Vec<AuditKey>) -> Result<AuditVerdict, StoreError> {
        self.read_blocking(move |conn| {
            let rows = conn.query("SELECT seq, at, actor_id, action, subject, details, key_id, mac FROM audit_log ORDER BY seq", &[])?;
            let mut previous: Vec<u8> = Vec::new();
            let mut expected = 1;
            for row in &rows {
                let seq = row.i64(0)?;
                let why = match seq.cmp(&expected) {
                    std::cmp::Ordering::Equal => None,
                    std::cmp::Ordering::Greater => Some(format!("entries {expected}..{} are missing", seq - 1)),
                    std::cmp::Ordering::Less => Some("a sequence number repeats".to_owned()),
                };
                if let Some(why) = why {
                    return Ok(AuditVerdict::Broken { seq, why });
                }
                let key_id = row.text(6)?;
                let Some(key) = keys.iter().find(|k| k.id == key_id) else {
                    return Ok(AuditVerdict::Broken { seq, why: format!("signed with unknown key id {key_id}") });
                };
                let actor = row.opt_id16(2)?.map(|bytes| bytes.to_vec());
                let (action, subject, details) = (row.text(3)?, row.text(4)?, row.text(5)?);
                let signed = Signed { seq, at_us: row.i64(1)?, actor: actor.as_deref(), action: &action, subject: &subject, details: &details, key_id: &key_id };
                let mac = mac_of(&key.key, &signed, &previous);
                let stored = row.blob(7)?;
                if mac != stored {
                    return Ok(AuditVerdict::Broken { seq, why: "its MAC does not match its contents and the entry before it (edited, inserted, or the previous entry was deleted)".into() });
                }
                previous = stored;
                expected += 1;
            }
            let head = conn.query_one("SELECT seq, mac FROM audit_head WHERE id = 1", &[])?;
            let (head_seq, head_mac) = (head.i64(0)?, head.blob(1)?);
            if head_seq != expected - 1 {
                return Ok(AuditVerdict::Broken { seq: expected, why: format!("the chain's head says entry {head_seq} but the log ends at {}", expected - 1) });
            }
            if head_mac != previous {
                return Ok(AuditVerdict::Broken { seq: expected, why: format!("the chain's head does not carry entry {head_seq}'s MAC") });
            }
            Ok(AuditVerdict::Intact { entries: expected - 1 })
        })
        .await
    }
}
