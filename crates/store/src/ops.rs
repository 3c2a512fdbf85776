//! Every query and every transactional operation, written once for both
//! databases against [`SqlConn`]. Public methods on [`Store`] are the
//! domain-speaking interface the service uses.

use recourse_domain::ledger::{AccountAudit, AccountKind, AuditReport, Balance, EntryKind, HoldReason, LedgerEntry, Movement, OperationKind, audit};
use recourse_domain::refusal::Refusal;
use recourse_domain::transfer::{Actor, Arrival, Step, TransferEvent, TransferMode, TransferStatus, claim_return_step, decide, overdue_event};
use recourse_domain::{AccountId, Amount, CardId, Currency, HoldId, OperationId, Role, UserId};

use recourse_domain::lookalike::match_text;

use crate::records::*;
use crate::sql::{Dialect, Row, SqlConn, Val};
use crate::limits::Velocity;
use crate::writer::{BatchStatement, Done, FastItem};
use recourse_domain::rate::{Take, retry_after_seconds};
use crate::{BANK_SETTLEMENT_CNY, Store, StoreError};

pub(crate) fn id(bytes: &[u8; 16]) -> Val {
    Val::Blob(bytes.to_vec())
}

/// How many columns [`USER_COLUMNS`] has.
pub(crate) const USER_COLUMN_COUNT: usize = 16;
pub(crate) const USER_COLUMNS: &str = "id, phone, password_hash, nickname, role, wallet_account_id, created_at, nickname_changed_at, \
     avatar_id, avatar_changed_at, verified_at, masked_name, id_last4, default_arrival, require_acceptance, language";

/// The user behind a live session; columns in `USER_COLUMNS` order.
const SESSION_USER_SQL: &str = "SELECT u.id, u.phone, u.password_hash, u.nickname, u.role, u.wallet_account_id, u.created_at, \
     u.nickname_changed_at, u.avatar_id, u.avatar_changed_at, u.verified_at, u.masked_name, u.id_last4, u.default_arrival, u.require_acceptance, u.language \
     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2";

pub(crate) fn user_from_row(row: &Row) -> Result<UserRecord, StoreError> {
    let role_text = row.text(4)?;
    Ok(UserRecord {
        id: UserId::from_bytes(row.id16(0)?),
        phone: row.text(1)?,
        password_hash: row.text(2)?,
        nickname: row.text(3)?,
        role: Role::parse(&role_text).ok_or_else(|| StoreError::corrupt(format!("unknown role {role_text}")))?,
        wallet: row.opt_id16(5)?.map(AccountId::from_bytes),
        created_at_us: row.i64(6)?,
        nickname_changed_at_us: row.i64(7)?,
        avatar_id: row.opt_id16(8)?.map(uuid::Uuid::from_bytes),
        avatar_changed_at_us: row.opt_i64(9)?,
        verified_at_us: row.opt_i64(10)?,
        masked_name: row.opt_text(11)?,
        id_last4: row.opt_text(12)?,
        default_arrival: arrival_of(&row.text(13)?)?,
        require_acceptance: row.i64(14)? == 1,
        language: recourse_domain::risk::Lang::from_tag(&row.text(15)?).unwrap_or_default(),
    })
}

/// An amount read back from the store: valid when written, checked again.
fn stored_amount(fen: i64) -> Result<Amount, StoreError> {
    Amount::from_fen(fen, recourse_domain::money::AMOUNT_FEN_CEILING).map_err(|_| StoreError::corrupt(format!("stored amount out of range: {fen}")))
}

fn arrival_of(text: &str) -> Result<Arrival, StoreError> {
    Arrival::parse(text).ok_or_else(|| StoreError::corrupt(format!("unknown arrival {text}")))
}

fn currency_of(text: &str) -> Result<Currency, StoreError> {
    Currency::parse(text).ok_or_else(|| StoreError::corrupt(format!("unknown currency {text}")))
}

const TRANSFER_COLUMNS: &str = "id, payer_id, payee_id, payer_account_id, payee_account_id, amount, currency, note, status, created_at, updated_at, checks, \
     arrival, acceptance_required, arrives_at, expires_at";

/// An account's transfers from its journal, newest first; `seq` then
/// `TRANSFER_COLUMNS`. Each transfer has exactly one row per party that
/// started it: the `post` of an instant transfer, or the `reserve` of one in
/// flight (which also puts an incoming pending transfer in the payee's list).
const TRANSFERS_OF_ACCOUNT_SQL: &str = "SELECT j.seq, t.id, t.payer_id, t.payee_id, t.payer_account_id, t.payee_account_id, t.amount, \
     t.currency, t.note, t.status, t.created_at, t.updated_at, t.checks, t.arrival, t.acceptance_required, t.arrives_at, t.expires_at \
     FROM journal j JOIN transfers t ON t.id = j.op_id \
     WHERE j.account_id = $1 AND j.op_kind = $2 AND j.entry IN ('post', 'reserve') AND j.seq < $3 ORDER BY j.seq DESC LIMIT $4";

fn transfer_from_row(row: &Row) -> Result<TransferRecord, StoreError> {
    let status_text = row.text(8)?;
    Ok(TransferRecord {
        id: OperationId::from_bytes(row.id16(0)?),
        payer: UserId::from_bytes(row.id16(1)?),
        payee: UserId::from_bytes(row.id16(2)?),
        payer_account: AccountId::from_bytes(row.id16(3)?),
        payee_account: AccountId::from_bytes(row.id16(4)?),
        amount: stored_amount(row.i64(5)?)?,
        currency: currency_of(&row.text(6)?)?,
        note: row.opt_text(7)?,
        status: TransferStatus::parse(&status_text).ok_or_else(|| StoreError::corrupt(format!("unknown status {status_text}")))?,
        mode: mode_of(&row.text(12)?, row.i64(13)? == 1, row.opt_i64(14)?, row.opt_i64(15)?)?,
        created_at_us: row.i64(9)?,
        updated_at_us: row.i64(10)?,
        checks: row.text(11)?,
    })
}

/// Rebuild a transfer's mode from its stored columns.
fn mode_of(arrival: &str, acceptance_required: bool, arrives_at_us: Option<i64>, expires_at_us: Option<i64>) -> Result<TransferMode, StoreError> {
    let arrival = arrival_of(arrival)?;
    match (acceptance_required, arrival, arrives_at_us, expires_at_us) {
        (true, Arrival::Instant, None, Some(expires_at_us)) => Ok(TransferMode::AcceptanceRequired { expires_at_us }),
        (false, Arrival::Instant, None, None) => Ok(TransferMode::Instant),
        (false, arrival, Some(arrives_at_us), None) if arrival != Arrival::Instant => Ok(TransferMode::Delayed { arrival, arrives_at_us }),
        other => Err(StoreError::corrupt(format!("inconsistent transfer mode columns {other:?}"))),
    }
}

/// `arrival`, `acceptance_required`, `arrives_at`, `expires_at` of a mode.
fn mode_columns(mode: TransferMode) -> [Val; 4] {
    match mode {
        TransferMode::Instant => [Val::Name(Arrival::Instant.as_str()), 0.into(), Val::Null, Val::Null],
        TransferMode::Delayed { arrival, arrives_at_us } => [Val::Name(arrival.as_str()), 0.into(), arrives_at_us.into(), Val::Null],
        TransferMode::AcceptanceRequired { expires_at_us } => [Val::Name(Arrival::Instant.as_str()), 1.into(), Val::Null, expires_at_us.into()],
    }
}

const BANK_MOVEMENT_COLUMNS: &str = "id, kind, user_id, card_id, account_id, amount, currency, created_at";

fn bank_movement_from_row(row: &Row) -> Result<BankMovementRecord, StoreError> {
    let kind_text = row.text(1)?;
    Ok(BankMovementRecord {
        id: OperationId::from_bytes(row.id16(0)?),
        kind: OperationKind::parse(&kind_text).ok_or_else(|| StoreError::corrupt(format!("unknown kind {kind_text}")))?,
        user: UserId::from_bytes(row.id16(2)?),
        card: CardId::from_bytes(row.id16(3)?),
        account: AccountId::from_bytes(row.id16(4)?),
        amount: stored_amount(row.i64(5)?)?,
        currency: currency_of(&row.text(6)?)?,
        created_at_us: row.i64(7)?,
    })
}

// ---------------------------------------------------------------------------
// Building blocks used inside write transactions.
// ---------------------------------------------------------------------------

/// What claiming an idempotency key found.
enum Claim {
    /// The key is new and now belongs to the operation.
    New,
    /// The same request already ran as this operation.
    SameRequest(OperationId),
    /// The key came with a different request before.
    DifferentRequest,
}

/// Claim an idempotency key for an operation. Decided inside the operation's
/// own transaction, so concurrent duplicates cannot both see "new".
fn claim_idempotency(conn: &mut dyn SqlConn, claim: &IdempotencyClaim, kind: OperationKind, op_id: OperationId, now_us: i64) -> Result<Claim, StoreError> {
    let inserted = conn.execute(
        "INSERT INTO idempotency (caller_id, key, request_hash, op_kind, op_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (caller_id, key) DO NOTHING",
        &[
            id(claim.caller.as_bytes()),
            Val::Text(claim.key.clone()),
            Val::Blob(claim.request_hash.clone()),
            Val::Name(kind.as_str()),
            id(op_id.as_bytes()),
            now_us.into(),
        ],
    )?;
    if inserted == 1 {
        return Ok(Claim::New);
    }
    existing_claim(conn, claim, kind)
}

/// Compare `claim` with the operation that already holds its key.
fn existing_claim(conn: &mut dyn SqlConn, claim: &IdempotencyClaim, kind: OperationKind) -> Result<Claim, StoreError> {
    let existing = load_idempotency(conn, claim.caller, &claim.key)?.ok_or_else(|| StoreError::corrupt("an idempotency key vanished inside its transaction"))?;
    Ok(if existing.request_hash == claim.request_hash && existing.op_kind == kind { Claim::SameRequest(existing.op_id) } else { Claim::DifferentRequest })
}

fn load_idempotency(conn: &mut dyn SqlConn, caller: UserId, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
    let row = conn.query_opt("SELECT request_hash, op_kind, op_id FROM idempotency WHERE caller_id = $1 AND key = $2", &[id(caller.as_bytes()), key.into()])?;
    row.map(|row| {
        let kind = row.text(1)?;
        Ok(IdempotencyRecord {
            request_hash: row.blob(0)?,
            op_kind: OperationKind::parse(&kind).ok_or_else(|| StoreError::corrupt(format!("unknown operation kind {kind}")))?,
            op_id: OperationId::from_bytes(row.id16(2)?),
        })
    })
    .transpose()
}

/// Apply one ledger step exactly as the domain defines it
/// ([`LedgerEntry::effects`] and [`LedgerEntry::rows`]): both accounts' cached
/// figures in one statement that changes nothing unless the debited account
/// can cover what the step spends (wallets only; system accounts may go
/// negative), then the journal rows. The database's CHECK constraint
/// (`balance - held >= 0` for wallets, `held >= 0`) stands behind the guard.
/// On PostgreSQL the rows were locked in id order by the writer.
/// `Ok(Some(refusal))`: the debited wallet cannot cover it; nothing was written.
pub(crate) fn apply_entry(conn: &mut dyn SqlConn, op_id: OperationId, kind: OperationKind, entry: &LedgerEntry, now_us: i64) -> Result<Option<Refusal>, StoreError> {
    let [debit, credit] = entry.effects();
    let needed = entry.available_needed_fen();
    let changed = if entry.kind == EntryKind::Post {
        // The common case (every instant transfer, top-up, withdrawal) moves
        // balances only: the narrower statement is measurably cheaper.
        debug_assert!(debit.held_delta_fen == 0 && credit.balance_delta_fen == -debit.balance_delta_fen);
        conn.execute(
            "UPDATE accounts SET balance = balance + CASE WHEN id = $1 THEN -CAST($3 AS BIGINT) ELSE CAST($3 AS BIGINT) END \
             WHERE id IN ($1, $2) AND (SELECT kind <> 'wallet' OR balance - held >= CAST($3 AS BIGINT) FROM accounts WHERE id = $1)",
            &[id(debit.account.as_bytes()), id(credit.account.as_bytes()), needed.into()],
        )?
    } else {
        conn.execute(
            "UPDATE accounts SET balance = balance + CASE WHEN id = $1 THEN CAST($3 AS BIGINT) ELSE CAST($4 AS BIGINT) END, \
               held = held + CASE WHEN id = $1 THEN CAST($5 AS BIGINT) ELSE 0 END \
             WHERE id IN ($1, $2) AND (SELECT kind <> 'wallet' OR balance - held >= CAST($6 AS BIGINT) FROM accounts WHERE id = $1)",
            &[
                id(debit.account.as_bytes()),
                id(credit.account.as_bytes()),
                debit.balance_delta_fen.into(),
                credit.balance_delta_fen.into(),
                debit.held_delta_fen.into(),
                needed.into(),
            ],
        )?
    };
    match changed {
        2 => {}
        0 if needed > 0 => {
            let row = conn.query_opt("SELECT balance, held FROM accounts WHERE id = $1", &[id(debit.account.as_bytes())])?;
            let row = row.ok_or_else(|| StoreError::corrupt(format!("account {} does not exist", debit.account)))?;
            return Ok(Some(Refusal::InsufficientFunds { available_fen: row.i64(0)? - row.i64(1)?, amount_fen: needed }));
        }
        other => return Err(StoreError::corrupt(format!("a {:?} step changed {other} accounts, not 2", entry.kind))),
    }
    // All of the step's rows in one statement (one round trip on the writer).
    let rows = entry.rows();
    let sql = match rows.len() {
        2 => JOURNAL_INSERT_2,
        4 => JOURNAL_INSERT_4,
        other => return Err(StoreError::corrupt(format!("a ledger step with {other} journal rows"))),
    };
    let mut params = Vec::with_capacity(5 + 3 * rows.len());
    params.extend([id(op_id.as_bytes()), Val::Name(kind.as_str()), Val::Name(entry.movement.currency.code()), now_us.into(), Val::Name(entry.kind.as_str())]);
    for row in &rows {
        params.extend([id(row.account.as_bytes()), row.amount_fen.into(), Val::Name(row.layer.as_str())]);
    }
    conn.execute(sql, &params)?;
    Ok(None)
}

/// Journal rows of one ledger step: `$1..$5` are the operation, its kind,
/// the currency, the time and the step; each row adds account, amount, layer.
const JOURNAL_INSERT_2: &str = "INSERT INTO journal (op_id, op_kind, currency, created_at, entry, account_id, amount, layer) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8), ($1, $2, $3, $4, $5, $9, $10, $11)";
const JOURNAL_INSERT_4: &str = "INSERT INTO journal (op_id, op_kind, currency, created_at, entry, account_id, amount, layer) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8), ($1, $2, $3, $4, $5, $9, $10, $11), \
            ($1, $2, $3, $4, $5, $12, $13, $14), ($1, $2, $3, $4, $5, $15, $16, $17)";

fn transfer_params(transfer: &TransferRecord) -> Vec<Val> {
    let mut params = vec![
        id(transfer.id.as_bytes()),
        id(transfer.payer.as_bytes()),
        id(transfer.payee.as_bytes()),
        id(transfer.payer_account.as_bytes()),
        id(transfer.payee_account.as_bytes()),
        transfer.amount.fen().into(),
        Val::Name(transfer.currency.code()),
        transfer.note.clone().into(),
        Val::Name(transfer.status.as_str()),
        transfer.created_at_us.into(),
        transfer.updated_at_us.into(),
        transfer.checks.as_str().into(),
    ];
    params.extend(mode_columns(transfer.mode));
    params
}

/// The movement of a transfer: payer's wallet to payee's wallet.
fn transfer_movement(transfer: &TransferRecord) -> Movement {
    Movement::between(transfer.payer_account, transfer.payee_account, transfer.amount, transfer.currency)
}

// ---- the one marked duplication (see ARCHITECTURE.md, invariant 4) --------
/// PostgreSQL, instant transfers only: the *success* of `claim_idempotency`,
/// `apply_entry` (a `post`) and the transfer and first-event inserts, for a
/// whole batch of transfers in one set-based statement over arrays
/// (data-modifying CTEs) — one round trip, and each account's row updated
/// once per batch however many of the batch's transfers touch it.
///
/// A transfer is done whole or not at all: it is *covered* if its payer's
/// available balance covers it together with the payer's earlier transfers
/// in the batch (a running sum in batch order, so the covered transfers of a
/// payer are a prefix and no wallet can go below zero), and *claimed* if its
/// idempotency key was new (and, when the velocity limit is enforced, if
/// the payer's velocity — GCRA on the account row, `velocity_tat`, counted
/// in batch order like the running sum — allows it; the account's state
/// moves on by the transfers done, capped at a full bucket's worth, so an
/// observed limit never runs ahead); a covered, claimed transfer gets its journal
/// rows, its row and its first event, its share of its two accounts'
/// balance changes, and its payment pair if the store did not know it. Anything else (a replay, a conflict, a refusal, a key
/// used twice in one batch) writes nothing here, and the ordinary closure —
/// the same code as on SQLite — runs for it afterwards and gives the answer.
/// Its coverage test is stricter than the closure's (money a payer receives
/// in the same batch is not counted), never looser. The store's conformance
/// suite and every HTTP test run it.
const INSTANT_TRANSFERS_POSTGRES: &str = "WITH input AS ( \
         SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bigint[], $7::text[], $8::text[], $9::text[], \
                              $10::bigint[], $11::bigint[], $12::text[], $13::text[], $14::bytea[], $15::text[], $16::bytea[], $17::bigint[], \
                              $18::bigint[], $19::bigint[], $20::bigint[]) WITH ORDINALITY \
           AS i(id, payer, payee, payer_account, payee_account, amount, currency, note, status, created_at, updated_at, checks, op_kind, caller, key, request_hash, \
                new_pair, interval_us, tolerance_us, enforce, n)), \
     covered AS ( \
         SELECT i.*, CAST(CASE WHEN GREATEST(a.velocity_tat, i.created_at) + i.sent * i.interval_us - i.created_at > i.tolerance_us THEN 1 ELSE 0 END AS BIGINT) \
                AS over_velocity \
         FROM (SELECT input.*, sum(amount) OVER w AS spent, row_number() OVER w AS sent FROM input \
                          WINDOW w AS (PARTITION BY payer_account ORDER BY n)) i \
         JOIN accounts a ON a.id = i.payer_account WHERE (a.kind <> 'wallet' OR a.balance - a.held >= i.spent) \
           AND (i.enforce = 0 OR GREATEST(a.velocity_tat, i.created_at) + i.sent * i.interval_us - i.created_at <= i.tolerance_us)), \
     claimed AS ( \
         INSERT INTO idempotency (caller_id, key, request_hash, op_kind, op_id, created_at) \
         SELECT caller, key, request_hash, op_kind, id, created_at FROM covered ORDER BY n \
         ON CONFLICT (caller_id, key) DO NOTHING RETURNING op_id), \
     done AS (SELECT covered.* FROM covered JOIN claimed ON claimed.op_id = covered.id), \
     moved AS ( \
         UPDATE accounts SET balance = accounts.balance + d.delta, \
                velocity_tat = CASE WHEN d.sent = 0 THEN accounts.velocity_tat \
                                    ELSE LEAST(GREATEST(accounts.velocity_tat, d.at) + d.sent * d.interval_us, d.at + d.tolerance_us) END \
         FROM (SELECT v.account, sum(v.delta) AS delta, sum(v.sent) AS sent, max(done.created_at) AS at, \
                      max(done.interval_us) AS interval_us, max(done.tolerance_us) AS tolerance_us \
               FROM done, LATERAL (VALUES (done.payer_account, -done.amount, 1), (done.payee_account, done.amount, 0)) AS v(account, delta, sent) \
               GROUP BY v.account) AS d \
         WHERE accounts.id = d.account RETURNING 1), \
     journal_rows AS ( \
         INSERT INTO journal (op_id, op_kind, account_id, amount, currency, created_at, layer, entry) \
         SELECT done.id, done.op_kind, v.account, v.amount, done.currency, done.created_at, 'settled', 'post' \
         FROM done, LATERAL (VALUES (done.payer_account, -done.amount), (done.payee_account, done.amount)) AS v(account, amount) RETURNING 1), \
     transfer_rows AS ( \
         INSERT INTO transfers (id, payer_id, payee_id, payer_account_id, payee_account_id, amount, currency, note, status, created_at, updated_at, checks, \
                                arrival, acceptance_required) \
         SELECT id, payer, payee, payer_account, payee_account, amount, currency, note, status, created_at, updated_at, checks, 'instant', 0 FROM done RETURNING 1), \
     event_rows AS ( \
         INSERT INTO transfer_events (transfer_id, seq, status, event, actor, at) SELECT id, 1, status, 'create', 'payer', created_at FROM done RETURNING 1), \
     pair_rows AS ( \
         INSERT INTO payment_pairs (payer_id, payee_id, first_at) SELECT payer, payee, min(created_at) FROM done WHERE new_pair = 1 GROUP BY payer, payee \
         ON CONFLICT (payer_id, payee_id) DO NOTHING RETURNING 1) \
     SELECT n, (SELECT count(*) FROM journal_rows), (SELECT count(*) FROM transfer_rows), (SELECT count(*) FROM event_rows), \
            (SELECT count(*) FROM moved) > 0, over_velocity FROM done";

/// The transfers the statement did, by position; an error unless each was
/// written whole (two journal rows, its row and its event). Those done over
/// an observed (not enforced) velocity limit are counted as observed, as the
/// closure counts them on SQLite.
fn instant_transfers_done(rows: &[Row]) -> Result<Vec<usize>, StoreError> {
    let done = rows.iter().map(|row| row.i64(0).map(|n| usize::try_from(n).unwrap_or(0))).collect::<Result<Vec<_>, _>>()?;
    let observed = rows.iter().map(|row| row.i64(5)).collect::<Result<Vec<_>, _>>()?.into_iter().filter(|over| *over == 1).count();
    // Most batches observe nothing: no metrics lookup for them on this path.
    if observed > 0 {
        Velocity::observed(observed as u64);
    }
    if let Some(row) = rows.first() {
        let k = i64::try_from(done.len()).unwrap_or(i64::MAX);
        let counts = (row.i64(1)?, row.i64(2)?, row.i64(3)?, row.i64(4)?);
        if counts != (2 * k, k, k, 1) {
            return Err(StoreError::corrupt(format!("the batch statement did {k} transfers but wrote {counts:?}")));
        }
    }
    Ok(done)
}

static INSTANT_TRANSFERS: BatchStatement = BatchStatement { sql: INSTANT_TRANSFERS_POSTGRES, check: instant_transfers_done };

/// An instant transfer's row of [`INSTANT_TRANSFERS_POSTGRES`].
fn instant_transfer_fast(claim: &IdempotencyClaim, transfer: &TransferRecord, new_pair: bool, velocity: Velocity, created: TransferDetails) -> FastItem<Outcome<TransferDetails>> {
    // The statement posts the amount from the payer's wallet to the payee's: exactly the domain's entry.
    let entry = LedgerEntry::new(transfer.mode.creation_entry(), transfer_movement(transfer));
    assert!(entry.kind == EntryKind::Post && entry.movement.debited() == transfer.payer_account && entry.movement.credited() == transfer.payee_account);
    let mut row = transfer_params(transfer);
    row.truncate(12);
    row.extend([
        Val::Name(OperationKind::Transfer.as_str()),
        id(claim.caller.as_bytes()),
        Val::Text(claim.key.clone()),
        Val::Blob(claim.request_hash.clone()),
        i64::from(new_pair).into(),
        velocity.rate.interval_us().into(),
        velocity.rate.tolerance_us().into(),
        i64::from(velocity.enforce).into(),
    ]);
    FastItem { statement: &INSTANT_TRANSFERS, row, answer: Box::new(move || Outcome::Created(created.clone())) }
}
// ---- end of the marked duplication -----------------------------------------

fn load_transfer(conn: &mut dyn SqlConn, transfer: OperationId) -> Result<Option<TransferRecord>, StoreError> {
    let sql = format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = $1");
    conn.query_opt(&sql, &[id(transfer.as_bytes())])?.map(|row| transfer_from_row(&row)).transpose()
}

fn load_history(conn: &mut dyn SqlConn, transfer: OperationId) -> Result<Vec<TransferEventRecord>, StoreError> {
    let rows = conn.query("SELECT seq, status, event, actor, reason, at FROM transfer_events WHERE transfer_id = $1 ORDER BY seq", &[id(transfer.as_bytes())])?;
    rows.iter()
        .map(|row| {
            let (status, event, actor) = (row.text(1)?, row.text(2)?, row.text(3)?);
            Ok(TransferEventRecord {
                seq: row.i64(0)?,
                status: TransferStatus::parse(&status).ok_or_else(|| StoreError::corrupt(format!("unknown status {status}")))?,
                event: TransferEvent::parse(&event).ok_or_else(|| StoreError::corrupt(format!("unknown event {event}")))?,
                actor: Actor::parse(&actor).ok_or_else(|| StoreError::corrupt(format!("unknown actor {actor}")))?,
                reason: row.opt_text(4)?,
                at_us: row.i64(5)?,
            })
        })
        .collect()
}

fn load_details(conn: &mut dyn SqlConn, transfer: OperationId) -> Result<Option<TransferDetails>, StoreError> {
    let Some(record) = load_transfer(conn, transfer)? else {
        return Ok(None);
    };
    let history = load_history(conn, transfer)?;
    Ok(Some(TransferDetails { transfer: record, history }))
}

fn insert_event(conn: &mut dyn SqlConn, transfer: OperationId, event: &TransferEventRecord) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO transfer_events (transfer_id, seq, status, event, actor, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            id(transfer.as_bytes()),
            event.seq.into(),
            Val::Name(event.status.as_str()),
            Val::Name(event.event.as_str()),
            match event.actor.as_name() {
                Some(name) => Val::Name(name),
                None => event.actor.to_text().into(),
            },
            event.reason.clone().into(),
            event.at_us.into(),
        ],
    )?;
    Ok(())
}

/// The event that creates a transfer.
fn creation_event(transfer: &TransferRecord) -> TransferEventRecord {
    TransferEventRecord { seq: 1, status: transfer.status, event: TransferEvent::Create, actor: Actor::Payer, reason: None, at_us: transfer.created_at_us }
}

/// Write a transfer that was just claimed: its ledger step, its row, its
/// first event, and (in flight) its hold and its deadline.
/// `Some(refusal)`: the payer cannot cover it; the caller discards the writes.
/// PostgreSQL: take one transfer from the payer's velocity on its account
/// row (locked by the batch), as the fast statement does for a batch.
/// `Ok(Err(refusal))` when an enforced limit refuses.
fn take_velocity(conn: &mut dyn SqlConn, payer_account: AccountId, velocity: Velocity, now_us: i64) -> Result<Result<bool, Refusal>, StoreError> {
    let tat = conn.query_one("SELECT velocity_tat FROM accounts WHERE id = $1", &[id(payer_account.as_bytes())])?.i64(0)?;
    let next = match velocity.rate.take(Some(tat), now_us, 1) {
        Take::Allowed { tat_us } => tat_us,
        Take::Refused { retry_after_us } if velocity.enforce => return Ok(Err(Refusal::RateLimited { retry_after_seconds: retry_after_seconds(retry_after_us) })),
        // Observed: counted, and the state stays within one bucket of now.
        Take::Refused { .. } => {
            Velocity::observed(1);
            now_us.saturating_add(velocity.rate.tolerance_us())
        }
    };
    conn.execute("UPDATE accounts SET velocity_tat = $2 WHERE id = $1", &[id(payer_account.as_bytes()), next.into()])?;
    Ok(Ok(true))
}

fn insert_transfer(conn: &mut dyn SqlConn, transfer: &TransferRecord, new_pair: bool) -> Result<Option<Refusal>, StoreError> {
    let entry = LedgerEntry::new(transfer.mode.creation_entry(), transfer_movement(transfer));
    if let Some(refusal) = apply_entry(conn, transfer.id, OperationKind::Transfer, &entry, transfer.created_at_us)? {
        return Ok(Some(refusal));
    }
    // `new_pair` is only ever set for an instant transfer, complete when written.
    if new_pair {
        debug_assert_eq!(transfer.status, TransferStatus::Completed);
        crate::payees::record_pair(conn, transfer.payer, transfer.payee, transfer.created_at_us)?;
    }
    conn.execute(
        &format!("INSERT INTO transfers ({TRANSFER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"),
        &transfer_params(transfer),
    )?;
    insert_event(conn, transfer.id, &creation_event(transfer))?;
    let reason = match transfer.mode {
        TransferMode::Instant => return Ok(None),
        TransferMode::Delayed { .. } => HoldReason::DelayedTransfer,
        TransferMode::AcceptanceRequired { .. } => HoldReason::AwaitingAcceptance,
    };
    let (event, due_at_us) = transfer.mode.due().ok_or_else(|| StoreError::corrupt("a transfer in flight has no deadline"))?;
    conn.execute(
        "INSERT INTO holds (id, op_id, account_id, counter_account_id, amount, currency, reason, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            id(HoldId::new().as_bytes()),
            id(transfer.id.as_bytes()),
            id(transfer.payer_account.as_bytes()),
            id(transfer.payee_account.as_bytes()),
            transfer.amount.fen().into(),
            transfer.currency.code().into(),
            reason.as_str().into(),
            transfer.created_at_us.into(),
            due_at_us.into(),
        ],
    )?;
    conn.execute("INSERT INTO due_work (subject_id, event, due_at) VALUES ($1, $2, $3)", &[id(transfer.id.as_bytes()), event.as_str().into(), due_at_us.into()])?;
    Ok(None)
}

/// The one function through which a transfer changes status: ask the domain
/// for the step, update the row only if it is still in the status it was read
/// in, append the numbered event, take the ledger step, end the hold and
/// clear the deadline — all inside the caller's transaction. A deadline that
/// has passed decides first (`overdue_event`): a revoke asked for after
/// `arrives_at` finds the transfer arrived, even if no scheduler has run yet.
pub(crate) fn transition(conn: &mut dyn SqlConn, transfer: OperationId, event: TransferEvent, actor: Actor, reason: Option<&str>, now_us: i64) -> Result<TransitionOutcome, StoreError> {
    let Some(mut details) = load_details(conn, transfer)? else {
        clear_stale_due_work(conn, transfer, actor)?;
        return Ok(TransitionOutcome::NotFound);
    };
    if let Some(due_event) = overdue_event(details.transfer.status, details.transfer.mode, event, now_us) {
        details = match take_step(conn, details, due_event, Actor::System, None, now_us)? {
            TransitionOutcome::Moved(details) => details,
            other => return Err(StoreError::corrupt(format!("an overdue transfer {transfer} could not take its {due_event:?}: {other:?}"))),
        };
    }
    let outcome = take_step(conn, details, event, actor, reason, now_us)?;
    if !matches!(outcome, TransitionOutcome::Moved(_)) {
        clear_stale_due_work(conn, transfer, actor)?;
    }
    Ok(outcome)
}

/// A deadline whose event can no longer happen (the transfer moved on, or is
/// gone) must not be read again and again: the scheduler's own attempt
/// deletes it. (Deadlines are deleted when a transfer moves on, so this only
/// mends data that was already inconsistent.)
fn clear_stale_due_work(conn: &mut dyn SqlConn, transfer: OperationId, actor: Actor) -> Result<(), StoreError> {
    if actor == Actor::System {
        conn.execute("DELETE FROM due_work WHERE subject_id = $1", &[id(transfer.as_bytes())])?;
    }
    Ok(())
}

/// One step of the state machine on a transfer read in this transaction.
fn take_step(conn: &mut dyn SqlConn, details: TransferDetails, event: TransferEvent, actor: Actor, reason: Option<&str>, now_us: i64) -> Result<TransitionOutcome, StoreError> {
    let transfer = details.transfer.id;
    let current = details.transfer.status;
    let last = details.history.last().ok_or_else(|| StoreError::corrupt(format!("transfer {transfer} has no history")))?;
    let (last_event, next_seq) = (last.event, last.seq + 1);
    let step = if event == TransferEvent::Return { claim_return_step(current) } else { decide(current, last_event, event) };
    let (to, ledger) = match step {
        Err(_) => return Ok(TransitionOutcome::Illegal(details)),
        Ok(Step::AlreadyDone) => return Ok(TransitionOutcome::AlreadyDone(details)),
        Ok(Step::Move { to, ledger }) => (to, ledger),
    };
    let changed = conn.execute(
        "UPDATE transfers SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        &[Val::Name(to.as_str()), now_us.into(), id(transfer.as_bytes()), Val::Name(current.as_str())],
    )?;
    if changed != 1 {
        return Err(StoreError::corrupt(format!("transfer {transfer} changed status under its writer")));
    }
    insert_event(conn, transfer, &TransferEventRecord { seq: next_seq, status: to, event, actor, reason: reason.map(str::to_owned), at_us: now_us })?;
    if let Some(kind) = ledger {
        let entry = LedgerEntry::new(kind, transfer_movement(&details.transfer));
        if let Some(refusal) = apply_entry(conn, transfer, OperationKind::Transfer, &entry, now_us)? {
            return Err(StoreError::corrupt(format!("a {kind:?} step was refused: {refusal}")));
        }
        let ending = if kind == EntryKind::Settle { "settled" } else { "released" };
        let ended = conn.execute(
            "UPDATE holds SET ended_at = $1, ending = $2 WHERE op_id = $3 AND ended_at IS NULL",
            &[now_us.into(), Val::Name(ending), id(transfer.as_bytes())],
        )?;
        if ended != 1 {
            return Err(StoreError::corrupt(format!("transfer {transfer} had no active hold to end")));
        }
    }
    conn.execute("DELETE FROM due_work WHERE subject_id = $1", &[id(transfer.as_bytes())])?;
    if to == TransferStatus::Completed {
        crate::payees::record_pair(conn, details.transfer.payer, details.transfer.payee, now_us)?;
    }
    let details = load_details(conn, transfer)?.ok_or_else(|| StoreError::corrupt("a transfer vanished inside its transaction"))?;
    debug_assert_eq!(details.transfer.status, to);
    Ok(TransitionOutcome::Moved(details))
}

fn load_bank_movement(conn: &mut dyn SqlConn, movement: OperationId) -> Result<Option<BankMovementRecord>, StoreError> {
    let sql = format!("SELECT {BANK_MOVEMENT_COLUMNS} FROM bank_movements WHERE id = $1");
    conn.query_opt(&sql, &[id(movement.as_bytes())])?.map(|row| bank_movement_from_row(&row)).transpose()
}

/// Two stored perceptual hashes (signed in the store), when both are there.
pub(crate) fn hashes_from(a: Option<i64>, b: Option<i64>) -> Option<[u64; 2]> {
    Some([a?.cast_unsigned(), b?.cast_unsigned()])
}

/// Store an avatar and make it the user's current one (history is kept).
fn insert_avatar(conn: &mut dyn SqlConn, avatar: &Avatar) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO avatars (id, user_id, content_type, image, sha256, created_at, hash_a, hash_b) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            id(avatar.id.as_bytes()),
            id(avatar.user.as_bytes()),
            avatar.content_type.as_str().into(),
            Val::Blob(avatar.image.clone()),
            Val::Blob(avatar.sha256.clone()),
            avatar.created_at_us.into(),
            avatar.hashes.map(|[a, _]| a.cast_signed()).into(),
            avatar.hashes.map(|[_, b]| b.cast_signed()).into(),
        ],
    )?;
    conn.execute(
        "UPDATE users SET avatar_id = $1, avatar_changed_at = $2, avatar_hash_a = $3, avatar_hash_b = $4 WHERE id = $5",
        &[
            id(avatar.id.as_bytes()),
            avatar.created_at_us.into(),
            avatar.hashes.map(|[a, _]| a.cast_signed()).into(),
            avatar.hashes.map(|[_, b]| b.cast_signed()).into(),
            id(avatar.user.as_bytes()),
        ],
    )?;
    Ok(())
}

static USER_BY_ID_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"));
static USER_BY_PHONE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!("SELECT {USER_COLUMNS} FROM users WHERE phone = $1"));

fn load_user(conn: &mut dyn SqlConn, user: UserId) -> Result<Option<UserRecord>, StoreError> {
    conn.query_opt(&USER_BY_ID_SQL, &[id(user.as_bytes())])?.map(|row| user_from_row(&row)).transpose()
}

// ---------------------------------------------------------------------------
// The store's interface.
// ---------------------------------------------------------------------------

impl Store {
    // ----- people -----

    pub async fn create_user(&self, user: NewUser) -> Result<UserRecord, StoreError> {
        self.write(Vec::new(), move |conn| {
            let inserted = conn.execute(
                "INSERT INTO users (id, phone, password_hash, nickname, role, wallet_account_id, created_at, nickname_changed_at, nickname_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) ON CONFLICT (phone) DO NOTHING",
                &[
                    id(user.id.as_bytes()),
                    user.phone.as_str().into(),
                    user.password_hash.as_str().into(),
                    user.nickname.as_str().into(),
                    user.role.as_str().into(),
                    user.wallet.map(|w| w.as_bytes().to_vec()).into(),
                    user.created_at_us.into(),
                    match_text(&user.nickname).into(),
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::PhoneTaken);
            }
            if let Some(wallet) = user.wallet {
                conn.execute(
                    "INSERT INTO accounts (id, kind, user_id, currency, balance, held, created_at) VALUES ($1, $2, $3, $4, 0, 0, $5)",
                    &[
                        id(wallet.as_bytes()),
                        AccountKind::Wallet.as_str().into(),
                        id(user.id.as_bytes()),
                        Currency::Cny.code().into(),
                        user.created_at_us.into(),
                    ],
                )?;
            }
            conn.execute(
                "INSERT INTO nickname_history (user_id, nickname, changed_at) VALUES ($1, $2, $3)",
                &[id(user.id.as_bytes()), user.nickname.as_str().into(), user.created_at_us.into()],
            )?;
            if let Some(avatar) = &user.avatar {
                assert_eq!(avatar.user, user.id, "an avatar belongs to the user it is registered with");
                insert_avatar(conn, avatar)?;
            }
            load_user(conn, user.id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    pub async fn user(&self, user: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.read_row(&USER_BY_ID_SQL, vec![id(user.as_bytes())]).await?.map(|row| user_from_row(&row)).transpose()
    }

    pub async fn user_by_phone(&self, phone: &str) -> Result<Option<UserRecord>, StoreError> {
        self.read_row(&USER_BY_PHONE_SQL, vec![phone.into()]).await?.map(|row| user_from_row(&row)).transpose()
    }

    /// How often `user` changed their nickname or avatar since `since_us`,
    /// and when the oldest of those changes was (0 when none).
    pub async fn profile_changes_since(&self, user: UserId, since_us: i64) -> Result<(i64, i64), StoreError> {
        self.read(move |conn| {
            let row = conn.query_one(
                "SELECT COUNT(*), CAST(COALESCE(MIN(at), 0) AS BIGINT) FROM ( \
                   SELECT changed_at AS at FROM nickname_history WHERE user_id = $1 AND changed_at > $2 \
                   UNION ALL SELECT created_at AS at FROM avatars WHERE user_id = $1 AND created_at > $2) AS changes",
                &[id(user.as_bytes()), since_us.into()],
            )?;
            Ok((row.i64(0)?, row.i64(1)?))
        })
        .await
    }

    /// Change a user's profile in one transaction: the nickname (kept in its
    /// history) and the transfer preferences. `None` keeps a field.
    pub async fn update_profile(&self, user: UserId, changes: ProfileChanges, now_us: i64) -> Result<(), StoreError> {
        self.write(Vec::new(), move |conn| {
            if changes.default_arrival.is_some() || changes.require_acceptance.is_some() {
                conn.execute(
                    "UPDATE users SET default_arrival = COALESCE($1, default_arrival), require_acceptance = COALESCE($2, require_acceptance) WHERE id = $3",
                    &[changes.default_arrival.map(Arrival::as_str).into(), changes.require_acceptance.map(i64::from).into(), id(user.as_bytes())],
                )?;
            }
            if let Some(nickname) = &changes.nickname {
                conn.execute(
                    "UPDATE users SET nickname = $1, nickname_changed_at = $2, nickname_key = $3 WHERE id = $4",
                    &[nickname.as_str().into(), now_us.into(), match_text(nickname.as_str()).into(), id(user.as_bytes())],
                )?;
                conn.execute(
                    "INSERT INTO nickname_history (user_id, nickname, changed_at) VALUES ($1, $2, $3)",
                    &[id(user.as_bytes()), nickname.as_str().into(), now_us.into()],
                )?;
            }
            Ok(())
        })
        .await
    }

    pub async fn set_avatar(&self, avatar: Avatar) -> Result<(), StoreError> {
        self.write(Vec::new(), move |conn| insert_avatar(conn, &avatar)).await
    }

    pub async fn avatar(&self, avatar: uuid::Uuid) -> Result<Option<Avatar>, StoreError> {
        self.read(move |conn| {
            let row = conn.query_opt(
                "SELECT id, user_id, content_type, image, sha256, created_at, hash_a, hash_b FROM avatars WHERE id = $1",
                &[id(avatar.as_bytes())],
            )?;
            row.map(|row| {
                Ok(Avatar {
                    id: uuid::Uuid::from_bytes(row.id16(0)?),
                    user: UserId::from_bytes(row.id16(1)?),
                    content_type: row.text(2)?,
                    image: row.blob(3)?,
                    sha256: row.blob(4)?,
                    created_at_us: row.i64(5)?,
                    hashes: hashes_from(row.opt_i64(6)?, row.opt_i64(7)?),
                })
            })
            .transpose()
        })
        .await
    }

    /// Record a real-name verification. At most `accounts_per_identity_max`
    /// accounts may share one identity number.
    pub async fn verify_user(&self, user: UserId, verification: Verification, accounts_per_identity_max: i64) -> Result<UserRecord, StoreError> {
        self.verify_user_indexed(user, verification, accounts_per_identity_max, None).await
    }

    /// [`Store::verify_user`] during a key rotation: the identity's count is
    /// also looked for under its blind index by the previous key (where it
    /// stays until a rotation pass moves it).
    pub async fn verify_user_indexed(&self, user: UserId, verification: Verification, accounts_per_identity_max: i64, previous_index: Option<Vec<u8>>) -> Result<UserRecord, StoreError> {
        self.write(Vec::new(), move |conn| {
            if accounts_per_identity_max < 1 {
                return Err(StoreError::IdentityLimitReached);
            }
            crate::keys::require_current_key(conn, &[&verification.legal_name_enc, &verification.id_number_enc])?;
            // Count this account against its identity atomically: the upsert
            // changes no row when the identity is already at its limit.
            let under_previous = match &previous_index {
                Some(previous) => {
                    let counted = conn.execute(
                        "UPDATE identities SET accounts = accounts + 1 WHERE id_number_index = $1 AND accounts < $2",
                        &[Val::Blob(previous.clone()), accounts_per_identity_max.into()],
                    )?;
                    if counted == 0 && conn.query_opt("SELECT 1 FROM identities WHERE id_number_index = $1", &[Val::Blob(previous.clone())])?.is_some() {
                        return Err(StoreError::IdentityLimitReached);
                    }
                    counted == 1
                }
                None => false,
            };
            if !under_previous {
                let counted = conn.execute(
                    "INSERT INTO identities (id_number_index, accounts) VALUES ($1, 1) \
                     ON CONFLICT (id_number_index) DO UPDATE SET accounts = identities.accounts + 1 WHERE identities.accounts < $2",
                    &[Val::Blob(verification.id_number_index.clone()), accounts_per_identity_max.into()],
                )?;
                if counted == 0 {
                    return Err(StoreError::IdentityLimitReached);
                }
            }
            let changed = conn.execute(
                "UPDATE users SET verified_at = $1, legal_name_enc = $2, id_number_enc = $3, id_number_index = $4, masked_name = $5, id_last4 = $6 \
                 WHERE id = $7 AND verified_at IS NULL AND role = 'customer'",
                &[
                    verification.verified_at_us.into(),
                    Val::Blob(verification.legal_name_enc.clone()),
                    Val::Blob(verification.id_number_enc.clone()),
                    Val::Blob(verification.id_number_index.clone()),
                    verification.masked_name.as_str().into(),
                    verification.id_last4.as_str().into(),
                    id(user.as_bytes()),
                ],
            )?;
            if changed == 0 {
                return Err(StoreError::AlreadyVerified);
            }
            load_user(conn, user)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// The encrypted identity of a verified user, for checks that must compare
    /// against it (card holder name) and for lawful disclosure.
    pub async fn encrypted_identity(&self, user: UserId) -> Result<Option<EncryptedIdentity>, StoreError> {
        self.read(move |conn| {
            let row = conn.query_opt("SELECT legal_name_enc, id_number_enc FROM users WHERE id = $1", &[id(user.as_bytes())])?;
            match row {
                Some(row) => match (row.opt_blob(0)?, row.opt_blob(1)?) {
                    (Some(legal_name_enc), Some(id_number_enc)) => Ok(Some(EncryptedIdentity { legal_name_enc, id_number_enc })),
                    _ => Ok(None),
                },
                None => Ok(None),
            }
        })
        .await
    }

    // ----- login failures -----

    /// Count a login attempt for `phone` before its password is checked,
    /// atomically: the answer is how many attempts the current window holds,
    /// this one included, and when the window started (a window that closed
    /// before `window_open_after_us` starts over at `now_us`). Parallel
    /// attempts each get their own number, so no burst gets more than the
    /// limit through to the password check.
    pub async fn count_login_attempt(&self, phone: String, now_us: i64, window_open_after_us: i64) -> Result<(i64, i64), StoreError> {
        self.write(Vec::new(), move |conn| {
            let row = conn.query_one(
                "INSERT INTO login_failures (phone, failures, window_started_at) VALUES ($1, 1, $2) \
                 ON CONFLICT (phone) DO UPDATE SET \
                   failures = CASE WHEN login_failures.window_started_at <= $3 THEN 1 ELSE login_failures.failures + 1 END, \
                   window_started_at = CASE WHEN login_failures.window_started_at <= $3 THEN $2 ELSE login_failures.window_started_at END \
                 RETURNING failures, window_started_at",
                &[phone.as_str().into(), now_us.into(), window_open_after_us.into()],
            )?;
            Ok((row.i64(0)?, row.i64(1)?))
        })
        .await
    }

    pub async fn clear_login_failures(&self, phone: String) -> Result<(), StoreError> {
        self.write(Vec::new(), move |conn| {
            conn.execute("DELETE FROM login_failures WHERE phone = $1", &[phone.as_str().into()])?;
            Ok(())
        })
        .await
    }

    // ----- sessions -----

    pub async fn create_session(&self, token_hash: Vec<u8>, user: UserId, now_us: i64, expires_at_us: i64) -> Result<(), StoreError> {
        self.write(Vec::new(), move |conn| {
            conn.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[Val::Blob(token_hash.clone()), id(user.as_bytes()), now_us.into(), expires_at_us.into()],
            )?;
            Ok(())
        })
        .await
    }

    /// The user behind a live session token.
    pub async fn session_user(&self, token_hash: Vec<u8>, now_us: i64) -> Result<Option<UserRecord>, StoreError> {
        self.read_row(SESSION_USER_SQL, vec![Val::Blob(token_hash), now_us.into()]).await?.map(|row| user_from_row(&row)).transpose()
    }

    pub async fn revoke_session(&self, token_hash: Vec<u8>, now_us: i64) -> Result<(), StoreError> {
        self.write(Vec::new(), move |conn| {
            conn.execute(
                "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
                &[now_us.into(), Val::Blob(token_hash.clone())],
            )?;
            Ok(())
        })
        .await
    }

    // ----- cards -----

    pub async fn bind_card(&self, card: NewCard) -> Result<CardRecord, StoreError> {
        self.bind_card_indexed(card, None).await
    }

    /// [`Store::bind_card`] during a key rotation: the card is also looked
    /// for under its blind index by the previous key.
    pub async fn bind_card_indexed(&self, card: NewCard, previous_index: Option<Vec<u8>>) -> Result<CardRecord, StoreError> {
        self.write(Vec::new(), move |conn| {
            crate::keys::require_current_key(conn, &[&card.card_enc])?;
            if let Some(previous) = &previous_index
                && conn.query_opt("SELECT 1 FROM cards WHERE user_id = $1 AND card_index = $2", &[id(card.user.as_bytes()), Val::Blob(previous.clone())])?.is_some()
            {
                return Err(StoreError::CardAlreadyBound);
            }
            let inserted = conn.execute(
                "INSERT INTO cards (id, user_id, card_enc, card_index, last4, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (user_id, card_index) DO NOTHING",
                &[
                    id(card.id.as_bytes()),
                    id(card.user.as_bytes()),
                    Val::Blob(card.card_enc.clone()),
                    Val::Blob(card.card_index.clone()),
                    card.last4.as_str().into(),
                    card.created_at_us.into(),
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::CardAlreadyBound);
            }
            Ok(CardRecord { id: card.id, user: card.user, last4: card.last4.clone(), created_at_us: card.created_at_us })
        })
        .await
    }

    pub async fn cards_of(&self, user: UserId) -> Result<Vec<CardRecord>, StoreError> {
        self.read(move |conn| {
            let rows = conn.query("SELECT id, user_id, last4, created_at FROM cards WHERE user_id = $1 ORDER BY id", &[id(user.as_bytes())])?;
            rows.iter()
                .map(|row| {
                    Ok(CardRecord { id: CardId::from_bytes(row.id16(0)?), user: UserId::from_bytes(row.id16(1)?), last4: row.text(2)?, created_at_us: row.i64(3)? })
                })
                .collect()
        })
        .await
    }

    // ----- money -----

    /// What this caller's idempotency key already holds, if anything: read
    /// before any pre-check, so that a retry of a request that already ran
    /// gets its original result whatever the checks would say now.
    pub async fn idempotency_record(&self, caller: UserId, key: String) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.read(move |conn| load_idempotency(conn, caller, &key)).await
    }

    /// Create a transfer exactly once per idempotency key: an instant one
    /// moves the money now; one in flight reserves it (a hold on the payer)
    /// and records its deadline for the scheduler.
    ///
    /// The payer's `velocity` is taken for a transfer that is created, in
    /// its write, after its key (so a replay is never charged, nor refused):
    /// on PostgreSQL from the account row (`velocity_tat`, in the batch
    /// statement or [`take_velocity`]); on SQLite from this process's memory
    /// (one server owns the store), given back if the transfer is refused.
    /// An enforced limit refuses `RateLimited`.
    pub async fn create_transfer(&self, claim: IdempotencyClaim, transfer: TransferRecord, velocity: Velocity) -> Result<Outcome<TransferDetails>, StoreError> {
        assert_eq!(transfer.status, transfer.mode.initial_status(), "a transfer starts in its mode's initial status");
        let postgres = self.dialect() == Dialect::Postgres;
        let locks = vec![transfer.payer_account, transfer.payee_account];
        let created = TransferDetails { transfer: transfer.clone(), history: vec![creation_event(&transfer)] };
        let pair = (transfer.payer, transfer.payee);
        let new_pair = transfer.mode == TransferMode::Instant && !self.knows_pair(pair);
        let fast = (postgres && transfer.mode == TransferMode::Instant).then(|| instant_transfer_fast(&claim, &transfer, new_pair, velocity, created.clone()));
        let store = self.clone();
        let outcome = self
            .write_deciding(locks, fast, move |conn| match claim_idempotency(conn, &claim, OperationKind::Transfer, transfer.id, transfer.created_at_us)? {
                Claim::SameRequest(original) => {
                    let details = load_details(conn, original)?.ok_or_else(|| StoreError::corrupt("idempotency record points at a missing transfer"))?;
                    Ok(Done::Keep(Outcome::Replayed(details)))
                }
                Claim::DifferentRequest => Ok(Done::Discard(Outcome::Refused(Refusal::IdempotencyKeyReused))),
                Claim::New => {
                    let subject = format!("transfers:{}", transfer.payer);
                    let taken = if postgres {
                        take_velocity(conn, transfer.payer_account, velocity, transfer.created_at_us)?
                    } else {
                        match store.take_in_memory(subject.clone(), velocity.rate, 1, transfer.created_at_us) {
                            Take::Allowed { .. } => Ok(true),
                            Take::Refused { retry_after_us } if velocity.enforce => Err(Refusal::RateLimited { retry_after_seconds: retry_after_seconds(retry_after_us) }),
                            Take::Refused { .. } => {
                                Velocity::observed(1);
                                Ok(false)
                            }
                        }
                    };
                    let in_memory = match taken {
                        Ok(taken) => taken && !postgres,
                        Err(refusal) => return Ok(Done::Discard(Outcome::Refused(refusal))),
                    };
                    match insert_transfer(conn, &transfer, new_pair)? {
                        Some(refusal) => {
                            if in_memory {
                                store.refund_in_memory(&subject, velocity.rate, 1);
                            }
                            Ok(Done::Discard(Outcome::Refused(refusal)))
                        }
                        None => Ok(Done::Keep(Outcome::Created(created.clone()))),
                    }
                }
            })
            .await?;
        if new_pair && matches!(outcome, Outcome::Created(_)) {
            self.learn_pair(pair);
        }
        Ok(outcome)
    }

    /// Ask for `event` on a transfer, as `actor`. The state machine decides;
    /// a race between two events (a revoke and the arrival) has exactly one
    /// winner, because both run through [`transition`] under the row's lock.
    pub async fn transition_transfer(&self, transfer: OperationId, event: TransferEvent, actor: Actor, reason: Option<String>, now_us: i64) -> Result<TransitionOutcome, StoreError> {
        let Some(record) = self.read(move |conn| load_transfer(conn, transfer)).await? else {
            // The scheduler asking about a transfer that does not exist
            // holds a deadline nothing can fire: it goes, or it would be
            // read again on every tick.
            if actor == Actor::System {
                self.write(Vec::new(), move |conn| clear_stale_due_work(conn, transfer, actor)).await?;
            }
            return Ok(TransitionOutcome::NotFound);
        };
        let locks = vec![record.payer_account, record.payee_account];
        self.write(locks, move |conn| {
            // `return` is a claim's (claims.rs), taken with the money that came back: nobody asks for it.
            if event == TransferEvent::Return {
                return Ok(load_details(conn, transfer)?.map_or(TransitionOutcome::NotFound, TransitionOutcome::Illegal));
            }
            transition(conn, transfer, event, actor, reason.as_deref(), now_us)
        })
        .await
    }

    /// Transfers whose deadline has passed at `now_us`, oldest first, with
    /// the event their deadline fires (at most `limit`).
    pub async fn due_transfers(&self, now_us: i64, limit: i64) -> Result<Vec<(OperationId, TransferEvent)>, StoreError> {
        assert!((1..=10_000).contains(&limit));
        self.read(move |conn| {
            // A transfer's deadlines fire `arrive` or `expire` (`TransferMode::due`);
            // claims' and disclosures' work is read by their own queries.
            let rows = conn.query(
                "SELECT subject_id, event FROM due_work WHERE due_at <= $1 AND event IN ('arrive', 'expire') ORDER BY due_at, subject_id LIMIT $2",
                &[now_us.into(), limit.into()],
            )?;
            rows.iter()
                .map(|row| {
                    let event = row.text(1)?;
                    Ok((OperationId::from_bytes(row.id16(0)?), TransferEvent::parse(&event).ok_or_else(|| StoreError::corrupt(format!("unknown due event {event}")))?))
                })
                .collect()
        })
        .await
    }

    /// A top-up or a withdrawal between a customer's wallet and the bank,
    /// exactly once per idempotency key.
    pub async fn create_bank_movement(&self, claim: IdempotencyClaim, movement: BankMovementRecord) -> Result<Outcome<BankMovementRecord>, StoreError> {
        assert!(matches!(movement.kind, OperationKind::Topup | OperationKind::Withdrawal));
        let locks = vec![movement.account, BANK_SETTLEMENT_CNY];
        self.write_deciding(locks, None::<FastItem<Outcome<BankMovementRecord>>>, move |conn| {
            match claim_idempotency(conn, &claim, movement.kind, movement.id, movement.created_at_us)? {
                Claim::New => {}
                Claim::SameRequest(original) => {
                    let record = load_bank_movement(conn, original)?.ok_or_else(|| StoreError::corrupt("idempotency record points at a missing movement"))?;
                    return Ok(Done::Keep(Outcome::Replayed(record)));
                }
                Claim::DifferentRequest => return Ok(Done::Discard(Outcome::Refused(Refusal::IdempotencyKeyReused))),
            }
            let card_bound = conn.query_opt("SELECT id FROM cards WHERE id = $1 AND user_id = $2", &[id(movement.card.as_bytes()), id(movement.user.as_bytes())])?;
            if card_bound.is_none() {
                return Ok(Done::Discard(Outcome::Refused(Refusal::CardNotFound)));
            }
            let ledger_movement = match movement.kind {
                OperationKind::Topup => Movement::between(BANK_SETTLEMENT_CNY, movement.account, movement.amount, movement.currency),
                _ => Movement::between(movement.account, BANK_SETTLEMENT_CNY, movement.amount, movement.currency),
            };
            let entry = LedgerEntry::new(EntryKind::Post, ledger_movement);
            if let Some(refusal) = apply_entry(conn, movement.id, movement.kind, &entry, movement.created_at_us)? {
                return Ok(Done::Discard(Outcome::Refused(refusal)));
            }
            conn.execute(
                &format!("INSERT INTO bank_movements ({BANK_MOVEMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
                &[
                    id(movement.id.as_bytes()),
                    movement.kind.as_str().into(),
                    id(movement.user.as_bytes()),
                    id(movement.card.as_bytes()),
                    id(movement.account.as_bytes()),
                    movement.amount.fen().into(),
                    movement.currency.code().into(),
                    movement.created_at_us.into(),
                ],
            )?;
            Ok(Done::Keep(Outcome::Created(movement.clone())))
        })
        .await
    }

    pub async fn balance(&self, account: AccountId) -> Result<AccountBalance, StoreError> {
        self.read(move |conn| {
            let row = conn.query_opt("SELECT balance, held, currency FROM accounts WHERE id = $1", &[id(account.as_bytes())])?;
            let row = row.ok_or(StoreError::NotFound)?;
            Ok(AccountBalance { account, balance: Balance { balance_fen: row.i64(0)?, held_fen: row.i64(1)? }, currency: currency_of(&row.text(2)?)? })
        })
        .await
    }

    /// A transfer with its whole history.
    pub async fn transfer(&self, transfer: OperationId) -> Result<Option<TransferDetails>, StoreError> {
        self.read(move |conn| load_details(conn, transfer)).await
    }

    /// The transfers that moved money in or out of `wallet`, or hold money
    /// for or from it, newest first, read from the account's journal: the
    /// ledger is where an account's history lives. Each item comes with the
    /// journal position to page from: pass the last one as `before_seq` for
    /// the next (older) page.
    pub async fn transfers_of(&self, wallet: AccountId, before_seq: Option<i64>, limit: i64) -> Result<Vec<(i64, TransferRecord)>, StoreError> {
        assert!((1..=500).contains(&limit));
        self.read(move |conn| {
            let params = [id(wallet.as_bytes()), OperationKind::Transfer.as_str().into(), before_seq.unwrap_or(i64::MAX).into(), limit.into()];
            let rows = conn.query(TRANSFERS_OF_ACCOUNT_SQL, &params)?;
            rows.iter()
                .map(|row| {
                    let shifted = Row(row.0[1..].to_vec());
                    Ok((row.i64(0)?, transfer_from_row(&shifted)?))
                })
                .collect()
        })
        .await
    }

    pub async fn bank_movement(&self, movement: OperationId) -> Result<Option<BankMovementRecord>, StoreError> {
        self.read(move |conn| load_bank_movement(conn, movement)).await
    }

    // ----- the test clock -----

    /// The test clock's offset, shared by every process on this store.
    pub async fn clock_offset_us(&self) -> Result<i64, StoreError> {
        self.read(|conn| conn.query_one("SELECT offset_us FROM service_clock WHERE id = 1", &[])?.i64(0)).await
    }

    /// Move the shared test clock forward; returns the new offset.
    pub async fn advance_clock_offset(&self, delta_us: i64) -> Result<i64, StoreError> {
        assert!(delta_us >= 0);
        self.write(Vec::new(), move |conn| {
            conn.query_one("UPDATE service_clock SET offset_us = offset_us + $1 WHERE id = 1 RETURNING offset_us", &[delta_us.into()])?.i64(0)
        })
        .await
    }

    // ----- audit -----

    /// Replay the journal against every cached figure (balance and held) and
    /// the holds, and check every ledger invariant. Reads one consistent snapshot.
    pub async fn audit(&self) -> Result<AuditReport, StoreError> {
        self.read_blocking(|conn| {
            match conn.dialect() {
                Dialect::Sqlite => conn.batch("BEGIN")?,
                Dialect::Postgres => conn.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?,
            }
            let report = audit_in(conn);
            let _ = conn.batch("COMMIT");
            report
        })
        .await
    }
}

fn audit_in(conn: &mut dyn SqlConn) -> Result<AuditReport, StoreError> {
    // `held` re-derived from the journal: ledger::held_delta_fen, in SQL.
    let rows = conn.query(
        "SELECT a.id, a.kind, a.currency, a.balance, a.held, \
           CAST(COALESCE((SELECT SUM(j.amount) FROM journal j WHERE j.account_id = a.id AND j.layer = 'settled'), 0) AS BIGINT), \
           CAST(COALESCE((SELECT SUM(CASE WHEN j.entry = 'reserve' AND j.amount < 0 THEN -j.amount \
                                          WHEN j.entry IN ('settle', 'release') AND j.amount > 0 THEN -j.amount ELSE 0 END) \
                          FROM journal j WHERE j.account_id = a.id AND j.layer = 'pending'), 0) AS BIGINT), \
           CAST(COALESCE((SELECT SUM(h.amount) FROM holds h WHERE h.account_id = a.id AND h.ended_at IS NULL), 0) AS BIGINT) \
         FROM accounts a",
        &[],
    )?;
    let accounts = rows
        .iter()
        .map(|row| {
            let kind = row.text(1)?;
            Ok(AccountAudit {
                account: AccountId::from_bytes(row.id16(0)?),
                kind: AccountKind::parse(&kind).ok_or_else(|| StoreError::corrupt(format!("unknown account kind {kind}")))?,
                currency: currency_of(&row.text(2)?)?,
                cached: Balance { balance_fen: row.i64(3)?, held_fen: row.i64(4)? },
                journal_sum_fen: row.i64(5)?,
                journal_held_fen: row.i64(6)?,
                active_holds_fen: row.i64(7)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let unbalanced = conn.query("SELECT op_id, layer, CAST(SUM(amount) AS BIGINT) FROM journal GROUP BY op_id, layer HAVING SUM(amount) <> 0", &[])?;
    let unbalanced = unbalanced
        .iter()
        .map(|row| Ok((format!("{} ({})", uuid::Uuid::from_bytes(row.id16(0)?), row.text(1)?), row.i64(2)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let counts = conn.query_one("SELECT COUNT(*), COUNT(DISTINCT op_id) FROM journal", &[])?;
    Ok(audit(&accounts, &unbalanced, counts.i64(0)? as u64, counts.i64(1)? as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mode survives its columns, and columns no mode writes are
    /// refused as corrupt instead of being read as some mode.
    #[test]
    fn a_mode_round_trips_through_its_columns_and_nothing_else_is_a_mode() {
        let modes = [
            TransferMode::Instant,
            TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: 7 },
            TransferMode::Delayed { arrival: Arrival::After24Hours, arrives_at_us: 9 },
            TransferMode::AcceptanceRequired { expires_at_us: 11 },
        ];
        for mode in modes {
            let [arrival, acceptance, arrives, expires] = mode_columns(mode);
            let (Val::Name(arrival), Val::I64(acceptance)) = (arrival, acceptance) else { panic!("{mode:?}") };
            let optional = |v: Val| match v {
                Val::I64(n) => Some(n),
                _ => None,
            };
            assert_eq!(mode_of(arrival, acceptance == 1, optional(arrives), optional(expires)).unwrap(), mode);
        }
        for (arrival, acceptance, arrives, expires) in [
            ("instant", false, Some(5), None),
            ("instant", true, None, None),
            ("instant", false, None, Some(5)),
            ("2h", false, None, None),
            ("2h", true, Some(5), None),
            ("2h", false, Some(5), Some(6)),
        ] {
            assert!(matches!(mode_of(arrival, acceptance, arrives, expires), Err(StoreError::Corrupt(_))), "{arrival} {acceptance} {arrives:?} {expires:?}");
        }
        assert!(matches!(mode_of("tomorrow", false, None, None), Err(StoreError::Corrupt(_))));
    }
}
