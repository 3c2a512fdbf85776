//! Who knows whom, and what a payer tried: payment pairs (who paid whom),
//! the contacts a customer manages, masked-name completion attempts and
//! typed-name checks. All SQL of confirmation of payee lives here; the
//! pair a transfer creates is written by the transfer's own operations in
//! `ops.rs` (`record_pair`, and the marked batch statement).

use recourse_domain::confirmation::{AttemptCounts, CompletionLimits, Gate, NameCheckResult, after_wrong_answer, gate};
use recourse_domain::{AccountId, UserId};

use crate::ops::{USER_COLUMN_COUNT, USER_COLUMNS, id, user_from_row};
use crate::records::UserRecord;
use crate::sql::{Row, SqlConn, Val};
use crate::{Store, StoreError};

/// The most contacts one listing returns.
pub const CONTACTS_MAX: i64 = 1_000;

/// How a payee stands to the one asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayeeRelation {
    /// On the caller's list: added by hand, or paid / paid by, and not removed.
    pub is_contact: bool,
    /// The caller has paid this payee before (money reached them).
    pub paid_before: bool,
    /// This payee has paid the caller before.
    pub paid_by: bool,
}

/// One contact of a customer, and why they are one.
#[derive(Clone, Debug)]
pub struct ContactRecord {
    pub user: UserRecord,
    /// Added by hand.
    pub added: bool,
    /// The owner paid them.
    pub paid: bool,
    /// They paid the owner.
    pub paid_by: bool,
}

/// What recording a masked-name answer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptRecorded {
    /// Completion was locked: nothing was recorded.
    Locked { retry_after_seconds: i64 },
    /// A right answer was recorded; `attempts` counts it with the wrong
    /// ones before it in the window.
    Passed { attempts: u32 },
    /// A wrong answer was recorded; the gate after it.
    Wrong { after: Gate },
}

/// Who is on `$1`'s contact list, as the CTE `owner_contacts (other, paid,
/// paid_by, added)`: the people `$1` paid, who paid `$1`, or whom `$1`
/// added, except those `$1` removed. The one definition of a contact in SQL.
pub(crate) const OWNER_CONTACTS_CTE: &str = "related AS ( \
         SELECT payee_id AS other, 1 AS paid, 0 AS paid_by, 0 AS added FROM payment_pairs WHERE payer_id = $1 \
         UNION ALL SELECT payer_id, 0, 1, 0 FROM payment_pairs WHERE payee_id = $1 \
         UNION ALL SELECT contact_id, 0, 0, 1 FROM contacts WHERE owner_id = $1 AND state = 'added'), \
     owner_contacts AS ( \
         SELECT other, max(paid) AS paid, max(paid_by) AS paid_by, max(added) AS added FROM related r \
         WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.owner_id = $1 AND c.contact_id = r.other AND c.state = 'removed') \
         GROUP BY other)";

static CONTACTS_OF_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH {OWNER_CONTACTS_CTE} SELECT {USER_COLUMNS}, added, paid, paid_by FROM owner_contacts JOIN users ON users.id = owner_contacts.other \
         ORDER BY nickname, users.id LIMIT $2"
    )
});

impl From<&crate::risk::PairFacts> for PayeeRelation {
    fn from(facts: &crate::risk::PairFacts) -> Self {
        PayeeRelation { is_contact: facts.is_contact, paid_before: facts.paid_before, paid_by: facts.paid_by }
    }
}

/// Insert the pair unless it is known (inside a transfer's transaction).
pub(crate) fn record_pair(conn: &mut dyn SqlConn, payer: UserId, payee: UserId, at_us: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO payment_pairs (payer_id, payee_id, first_at) VALUES ($1, $2, $3) ON CONFLICT (payer_id, payee_id) DO NOTHING",
        &[id(payer.as_bytes()), id(payee.as_bytes()), at_us.into()],
    )?;
    Ok(())
}

/// Put `contact` on the owner's list (`added`) or take them off (`removed`).
fn set_contact_state(conn: &mut dyn SqlConn, owner: UserId, contact: UserId, state: &'static str, now_us: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO contacts (owner_id, contact_id, state, changed_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (owner_id, contact_id) DO UPDATE SET state = excluded.state, changed_at = excluded.changed_at",
        &[id(owner.as_bytes()), id(contact.as_bytes()), Val::Name(state), now_us.into()],
    )?;
    Ok(())
}

fn attempt_counts(conn: &mut dyn SqlConn, payer: UserId, payee: UserId, limits: &CompletionLimits, now_us: i64) -> Result<AttemptCounts, StoreError> {
    let (pair_since, daily_since) = AttemptCounts::windows(limits, now_us);
    let row = conn.query_one(
        "SELECT count(*), min(at) FROM name_attempts WHERE payer_id = $1 AND payee_id = $2 AND outcome = 'wrong' AND at > $3 \
           AND at > COALESCE((SELECT max(at) FROM name_attempts WHERE payer_id = $1 AND payee_id = $2 AND outcome = 'passed'), $3)",
        &[id(payer.as_bytes()), id(payee.as_bytes()), pair_since.into()],
    )?;
    let daily = conn.query_one(
        "SELECT count(*), min(at) FROM name_attempts WHERE payer_id = $1 AND outcome = 'wrong' AND at > $2",
        &[id(payer.as_bytes()), daily_since.into()],
    )?;
    let count = |row: &Row| -> Result<u32, StoreError> { u32::try_from(row.i64(0)?).map_err(|_| StoreError::corrupt("a negative count")) };
    Ok(AttemptCounts { pair_wrong: count(&row)?, pair_oldest_us: row.opt_i64(1)?, daily_wrong: count(&daily)?, daily_oldest_us: daily.opt_i64(1)? })
}

impl Store {
    pub async fn payee_relation(&self, viewer: UserId, payee: UserId) -> Result<PayeeRelation, StoreError> {
        let facts = self.payee_with_facts(viewer, crate::risk::PayeeKey::Id(payee)).await?;
        Ok(facts.map_or(PayeeRelation { is_contact: false, paid_before: false, paid_by: false }, |(_, facts)| PayeeRelation::from(&facts)))
    }

    /// The owner's contacts (added by hand, paid, or paid by, and not
    /// removed), by nickname; at most [`CONTACTS_MAX`].
    pub async fn contacts_of(&self, owner: UserId) -> Result<Vec<ContactRecord>, StoreError> {
        self.read(move |conn| {
            let rows = conn.query(&CONTACTS_OF_SQL, &[id(owner.as_bytes()), CONTACTS_MAX.into()])?;
            rows.iter()
                .map(|row| {
                    let at = USER_COLUMN_COUNT;
                    Ok(ContactRecord { user: user_from_row(row)?, added: row.i64(at)? != 0, paid: row.i64(at + 1)? != 0, paid_by: row.i64(at + 2)? != 0 })
                })
                .collect()
        })
        .await
    }

    /// Add `contact` to the owner's list (again, if it was removed).
    pub async fn add_contact(&self, owner: UserId, contact: UserId, now_us: i64) -> Result<(), StoreError> {
        self.write(Vec::new(), move |conn| set_contact_state(conn, owner, contact, "added", now_us)).await
    }

    /// Take `contact` off the owner's list, however they got on it (a
    /// counterparty stays hidden until added again). `false`: they were not on it.
    pub async fn remove_contact(&self, owner: UserId, contact: UserId, now_us: i64) -> Result<bool, StoreError> {
        let relation = self.payee_relation(owner, contact).await?;
        if !relation.is_contact {
            return Ok(false);
        }
        self.write(Vec::new(), move |conn| set_contact_state(conn, owner, contact, "removed", now_us)).await?;
        Ok(true)
    }

    /// The wrong masked-name answers counted against `payer` for `payee` now.
    pub async fn name_attempt_counts(&self, payer: UserId, payee: UserId, limits: CompletionLimits, now_us: i64) -> Result<AttemptCounts, StoreError> {
        self.read(move |conn| attempt_counts(conn, payer, payee, &limits, now_us)).await
    }

    /// Record one masked-name answer, unless completion is locked — decided
    /// in the same transaction as the write, under the payer's wallet lock,
    /// so that answers sent at once cannot pass the limit together.
    pub async fn record_name_attempt(
        &self,
        payer: UserId,
        payer_wallet: AccountId,
        payee: UserId,
        right: bool,
        limits: CompletionLimits,
        now_us: i64,
    ) -> Result<AttemptRecorded, StoreError> {
        self.write(vec![payer_wallet], move |conn| {
            let counts = attempt_counts(conn, payer, payee, &limits, now_us)?;
            if let Gate::Locked { retry_after_seconds } = gate(&counts, &limits, now_us) {
                return Ok(AttemptRecorded::Locked { retry_after_seconds });
            }
            conn.execute(
                "INSERT INTO name_attempts (id, payer_id, payee_id, at, outcome) VALUES ($1, $2, $3, $4, $5)",
                &[id(uuid::Uuid::now_v7().as_bytes()), id(payer.as_bytes()), id(payee.as_bytes()), now_us.into(), (if right { "passed" } else { "wrong" }).into()],
            )?;
            Ok(if right {
                AttemptRecorded::Passed { attempts: counts.pair_wrong + 1 }
            } else {
                AttemptRecorded::Wrong { after: gate(&after_wrong_answer(&counts, now_us), &limits, now_us) }
            })
        })
        .await
    }

    /// Record a typed-name check (`source`: `check` or `transfer`).
    pub async fn record_payee_check(&self, caller: UserId, payee: UserId, result: NameCheckResult, source: &'static str, now_us: i64) -> Result<(), StoreError> {
        self.write(Vec::new(), move |conn| {
            conn.execute(
                "INSERT INTO payee_checks (id, caller_id, payee_id, at, result, source) VALUES ($1, $2, $3, $4, $5, $6)",
                &[id(uuid::Uuid::now_v7().as_bytes()), id(caller.as_bytes()), id(payee.as_bytes()), now_us.into(), result.as_str().into(), source.into()],
            )?;
            Ok(())
        })
        .await
    }

    /// Typed-name checks the caller made since `since_us`, and when the oldest of them was.
    pub async fn payee_checks_since(&self, caller: UserId, since_us: i64) -> Result<(i64, Option<i64>), StoreError> {
        self.read(move |conn| {
            let row = conn.query_one("SELECT count(*), min(at) FROM payee_checks WHERE caller_id = $1 AND at > $2", &[id(caller.as_bytes()), since_us.into()])?;
            Ok((row.i64(0)?, row.opt_i64(1)?))
        })
        .await
    }
}
