//! The store's own conformance suite: every operation and every refusal of
//! `Store`, run against SQLite and PostgreSQL alike (PostgreSQL when
//! `RECOURSE_TEST_DATABASE_URL` names a database the suite may create
//! scratch databases from). Both dialects must give the same answers; the
//! PostgreSQL one-statement instant transfer is exercised by the same cases
//! that run the generic path on SQLite. Each case ends with a ledger audit.

use recourse_domain::ledger::OperationKind;
use recourse_domain::refusal::Refusal;
use recourse_domain::transfer::{Actor, Arrival, TransferEvent, TransferMode, TransferStatus};
use recourse_domain::{AccountId, CardId, Currency, OperationId, Role, UserId};
use recourse_store::limits::Velocity;
use recourse_store::{Backend, BankMovementRecord, IdempotencyClaim, NewCard, NewUser, Outcome, ProfileChanges, Store, StoreConfig, StoreError, TransferRecord, TransitionOutcome, Verification};

const HOUR_US: i64 = 3_600_000_000;

/// Observed (not enforced) velocity excesses the store counted in this test
/// binary: `recourse_rate_limits_observed_total{limit="transfer_velocity"}`,
/// read through a recorder of our own. Only the velocity test observes any.
fn velocity_observed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, OnceLock};
    struct Velocity(Arc<AtomicU64>);
    impl metrics::Recorder for Velocity {
        fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
            let velocity = key.name() == "recourse_rate_limits_observed_total" && key.labels().any(|label| label.value() == "transfer_velocity");
            if velocity { metrics::Counter::from_arc(self.0.clone()) } else { metrics::Counter::noop() }
        }
        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }
        fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }
    static COUNT: OnceLock<Arc<AtomicU64>> = OnceLock::new();
    COUNT
        .get_or_init(|| {
            let count = Arc::new(AtomicU64::new(0));
            metrics::set_global_recorder(Velocity(count.clone())).expect("the only recorder of this test binary");
            count
        })
        .load(Ordering::SeqCst)
}

/// A fresh store of each kind; PostgreSQL only when configured.
async fn stores() -> Vec<(&'static str, Store, Option<(String, String)>, tempfile::TempDir)> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = open(Backend::Sqlite { data_dir: dir.path().to_path_buf() }).await;
    out.push(("sqlite", sqlite, None, dir));
    match std::env::var("RECOURSE_TEST_DATABASE_URL") {
        Ok(admin) => {
            let name = format!("recourse_store_{}", uuid::Uuid::now_v7().simple());
            let (a, n) = (admin.clone(), name.clone());
            tokio::task::spawn_blocking(move || postgres::Client::connect(&a, postgres::NoTls).unwrap().batch_execute(&format!("CREATE DATABASE {n}")).unwrap()).await.unwrap();
            let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
            let pg = open(Backend::Postgres { url }).await;
            out.push(("postgres", pg, Some((admin, name)), tempfile::tempdir().unwrap()));
        }
        Err(_) => eprintln!("skipped on PostgreSQL: RECOURSE_TEST_DATABASE_URL is not set"),
    }
    out
}

async fn open(backend: Backend) -> Store {
    let mut config = StoreConfig::new(backend);
    config.readers = 2;
    tokio::task::spawn_blocking(move || Store::open(&config)).await.unwrap().expect("opening the store")
}

async fn finish(store: Store, pg: Option<(String, String)>) {
    let report = store.audit().await.unwrap();
    assert!(report.is_sound(), "ledger problems: {:?}", report.problems);
    drop(store);
    if let Some((admin, name)) = pg {
        tokio::task::spawn_blocking(move || {
            let _ = postgres::Client::connect(&admin, postgres::NoTls).unwrap().batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        })
        .await
        .unwrap();
    }
}

struct Person {
    user: UserId,
    wallet: AccountId,
    card: CardId,
}

async fn person(store: &Store, n: u32, verified: bool) -> Person {
    let (user, wallet) = (UserId::new(), AccountId::new());
    let phone = format!("+86139{:08}", n + (uuid::Uuid::now_v7().as_u128() % 1000) as u32 * 100_000);
    store.create_user(NewUser { id: user, phone, password_hash: "x".into(), nickname: "n".into(), role: Role::Customer, wallet: Some(wallet), created_at_us: 1, avatar: None }).await.unwrap();
    if verified {
        let verification =
            Verification { legal_name_enc: vec![1], id_number_enc: vec![2], id_number_index: user.as_bytes().to_vec(), masked_name: "*三".into(), id_last4: "0000".into(), verified_at_us: 1 };
        store.verify_user(user, verification, 1).await.unwrap();
    }
    let card = CardId::new();
    store.bind_card(NewCard { id: card, user, card_enc: vec![3], card_index: card.as_bytes().to_vec(), last4: "1111".into(), created_at_us: 1 }).await.unwrap();
    Person { user, wallet, card }
}

fn claim(caller: UserId, key: &str, hash: u8) -> IdempotencyClaim {
    IdempotencyClaim { caller, key: key.into(), request_hash: vec![hash] }
}

fn bank(kind: OperationKind, who: &Person, amount: i64) -> BankMovementRecord {
    BankMovementRecord {
        id: OperationId::new(),
        kind,
        user: who.user,
        card: who.card,
        account: who.wallet,
        amount: recourse_domain::Amount::from_stored(amount),
        currency: Currency::Cny,
        created_at_us: 5,
    }
}

fn transfer(from: &Person, to: &Person, amount: i64, mode: TransferMode, now_us: i64) -> TransferRecord {
    TransferRecord {
        id: OperationId::new(),
        payer: from.user,
        payee: to.user,
        payer_account: from.wallet,
        payee_account: to.wallet,
        amount: recourse_domain::Amount::from_stored(amount),
        currency: Currency::Cny,
        note: Some("n".into()),
        status: mode.initial_status(),
        mode,
        created_at_us: now_us,
        updated_at_us: now_us,
        checks: "{}".into(),
    }
}

async fn figures(store: &Store, who: &Person) -> (i64, i64) {
    let balance = store.balance(who.wallet).await.unwrap().balance;
    (balance.balance_fen, balance.held_fen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_cards_and_profiles() {
    for (kind, store, pg, _dir) in stores().await {
        let alice = person(&store, 1, true).await;
        let record = store.user(alice.user).await.unwrap().unwrap();
        let phone = record.phone.clone();
        assert_eq!(store.user_by_phone(&phone).await.unwrap().map(|u| u.id), Some(alice.user), "{kind}");
        assert!(store.user_by_phone("+8613900000000").await.unwrap().is_none(), "{kind}");
        let again = NewUser { id: UserId::new(), phone, password_hash: "x".into(), nickname: "n".into(), role: Role::Customer, wallet: Some(AccountId::new()), created_at_us: 2, avatar: None };
        assert_eq!(store.create_user(again).await.err(), Some(StoreError::PhoneTaken), "{kind}");
        let verification = Verification { legal_name_enc: vec![1], id_number_enc: vec![2], id_number_index: vec![9], masked_name: "*三".into(), id_last4: "0000".into(), verified_at_us: 1 };
        assert_eq!(store.verify_user(alice.user, verification.clone(), 1).await.err(), Some(StoreError::AlreadyVerified), "{kind}");
        // One identity, at most one account (limit 1): the second is refused atomically.
        let bob = person(&store, 2, false).await;
        let carol = person(&store, 3, false).await;
        store.verify_user(bob.user, verification.clone(), 1).await.unwrap();
        assert_eq!(store.verify_user(carol.user, verification, 1).await.err(), Some(StoreError::IdentityLimitReached), "{kind}");
        let card = NewCard { id: CardId::new(), user: alice.user, card_enc: vec![3], card_index: alice.card.as_bytes().to_vec(), last4: "1111".into(), created_at_us: 1 };
        assert_eq!(store.bind_card(card).await.err(), Some(StoreError::CardAlreadyBound), "{kind}");
        let cards: Vec<_> = store.cards_of(alice.user).await.unwrap().into_iter().map(|c| (c.id, c.user, c.last4, c.created_at_us)).collect();
        assert_eq!(cards, vec![(alice.card, alice.user, "1111".to_owned(), 1)], "{kind}: the refused card was not bound");
        let changes = ProfileChanges { nickname: Some("新名".into()), default_arrival: Some(Arrival::After24Hours), require_acceptance: Some(true) };
        store.update_profile(alice.user, changes, 10).await.unwrap();
        let updated = store.user(alice.user).await.unwrap().unwrap();
        assert_eq!((updated.nickname.as_str(), updated.default_arrival, updated.require_acceptance), ("新名", Arrival::After24Hours, true), "{kind}");
        assert_eq!(store.profile_changes_since(alice.user, 5).await.unwrap(), (1, 10), "{kind}: one change, at 10");
        assert_eq!(store.profile_changes_since(alice.user, 10).await.unwrap(), (0, 0), "{kind}: none after 10");
        // One preference alone changes that one alone.
        store.update_profile(alice.user, ProfileChanges { require_acceptance: Some(false), ..Default::default() }, 11).await.unwrap();
        let updated = store.user(alice.user).await.unwrap().unwrap();
        assert_eq!((updated.nickname.as_str(), updated.default_arrival, updated.require_acceptance), ("新名", Arrival::After24Hours, false), "{kind}");
        // No account at all may be verified under a limit below one.
        let erin = person(&store, 5, false).await;
        let fresh = |index: &[u8]| Verification { legal_name_enc: vec![1], id_number_enc: vec![2], id_number_index: index.to_vec(), masked_name: "*四".into(), id_last4: "0001".into(), verified_at_us: 1 };
        assert_eq!(store.verify_user(erin.user, fresh(b"erin"), 0).await.err(), Some(StoreError::IdentityLimitReached), "{kind}");
        // During a key rotation the count under the previous index is used.
        let (frank, gina, hank) = (person(&store, 6, false).await, person(&store, 7, false).await, person(&store, 8, false).await);
        store.verify_user(frank.user, fresh(b"old index"), 2).await.unwrap();
        store.verify_user_indexed(gina.user, fresh(b"new index"), 2, Some(b"old index".to_vec())).await.unwrap();
        assert_eq!(store.verify_user_indexed(hank.user, fresh(b"new index"), 2, Some(b"old index".to_vec())).await.err(), Some(StoreError::IdentityLimitReached), "{kind}: two under the old index");
        store.verify_user_indexed(hank.user, fresh(b"other new"), 2, Some(b"other old".to_vec())).await.unwrap();
        let ivan = person(&store, 9, false).await;
        store.verify_user(ivan.user, fresh(b"new index"), 1).await.expect("gina was counted under the old index only");
        // The encrypted identity, for verified users only.
        let identity = store.encrypted_identity(frank.user).await.unwrap().map(|i| (i.legal_name_enc, i.id_number_enc));
        assert_eq!(identity, Some((vec![1], vec![2])), "{kind}");
        assert!(store.encrypted_identity(erin.user).await.unwrap().is_none(), "{kind}: not verified");
        assert!(store.encrypted_identity(UserId::new()).await.unwrap().is_none(), "{kind}: nobody");
        // Login attempts are counted before the password is checked; a
        // window that closed starts over; a success clears the count.
        let phone = "+8613912345678".to_owned();
        assert_eq!(store.count_login_attempt(phone.clone(), 100, 0).await.unwrap(), (1, 100), "{kind}");
        assert_eq!(store.count_login_attempt(phone.clone(), 110, 0).await.unwrap(), (2, 100), "{kind}");
        assert_eq!(store.count_login_attempt(phone.clone(), 120, 99).await.unwrap(), (3, 100), "{kind}: the window is still open");
        assert_eq!(store.count_login_attempt(phone.clone(), 200, 100).await.unwrap(), (1, 200), "{kind}: a window that started at 100 closed");
        assert_eq!(store.count_login_attempt("+8613900000001".into(), 200, 0).await.unwrap(), (1, 200), "{kind}: per phone");
        store.clear_login_failures(phone.clone()).await.unwrap();
        assert_eq!(store.count_login_attempt(phone, 210, 0).await.unwrap(), (1, 210), "{kind}: cleared");
        assert_eq!(store.clock_offset_us().await.unwrap(), 0);
        assert_eq!(store.advance_clock_offset(7).await.unwrap(), 7);
        assert_eq!(store.clock_offset_us().await.unwrap(), 7, "{kind}");
        finish(store, pg).await;
    }
}

/// Identity data is written under the store's current key only (a
/// ciphertext begins with its key's id). During a rotation, an instance that
/// kept running with the old key is refused, and nothing it sent is written
/// or counted: its rows would become unreadable once the old key is retired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_data_is_written_under_the_current_key_only() {
    use recourse_store::keys::{ReencryptedCard, ReencryptedIdentity, StoredCard, StoredIdentity};
    for (kind, store, pg, _dir) in stores().await {
        let alice = person(&store, 1, false).await;
        let under = |key: u8| Verification { legal_name_enc: vec![key, 7], id_number_enc: vec![key, 8], id_number_index: vec![9], masked_name: "*三".into(), id_last4: "0000".into(), verified_at_us: 1 };
        assert_eq!(store.claim_key("old".into(), None).await.unwrap().unwrap().current.key_id, 1, "{kind}");
        assert_eq!(store.claim_key("new".into(), Some("old".into())).await.unwrap().unwrap().current.key_id, 2, "{kind}");
        let outdated = |written| Some(StoreError::KeyOutdated { current: 2, written });
        assert_eq!(store.verify_user(alice.user, under(1), 1).await.err(), outdated(Some(1)), "{kind}");
        let number_under_old = Verification { id_number_enc: vec![1, 8], ..under(2) };
        assert_eq!(store.verify_user(alice.user, number_under_old, 1).await.err(), outdated(Some(1)), "{kind}");
        let empty = Verification { legal_name_enc: Vec::new(), ..under(2) };
        assert_eq!(store.verify_user(alice.user, empty, 1).await.err(), outdated(None), "{kind}");
        assert!(store.encrypted_identity(alice.user).await.unwrap().is_none(), "{kind}: nothing written");
        // Nothing was counted either: the identity's one account is still free.
        store.verify_user(alice.user, under(2), 1).await.unwrap();
        let identity = store.encrypted_identity(alice.user).await.unwrap().map(|i| (i.legal_name_enc, i.id_number_enc));
        assert_eq!(identity, Some((vec![2, 7], vec![2, 8])), "{kind}");
        let old = StoredIdentity { user: alice.user, legal_name_enc: vec![2, 7], id_number_enc: vec![2, 8], id_number_index: vec![9] };
        let back = ReencryptedIdentity { old, legal_name_enc: vec![1, 7], id_number_enc: vec![2, 8], id_number_index: vec![10] };
        assert_eq!(store.reencrypt_identities(vec![back]).await.err(), outdated(Some(1)), "{kind}");
        let identity = store.encrypted_identity(alice.user).await.unwrap().map(|i| (i.legal_name_enc, i.id_number_enc));
        assert_eq!(identity, Some((vec![2, 7], vec![2, 8])), "{kind}: unchanged");
        // Cards alike, and the rotation's own re-encryption.
        let card = |key: u8| NewCard { id: CardId::new(), user: alice.user, card_enc: vec![key, 3], card_index: vec![4], last4: "4242".into(), created_at_us: 2 };
        assert_eq!(store.bind_card(card(1)).await.err(), outdated(Some(1)), "{kind}");
        let bound = store.bind_card(card(2)).await.unwrap();
        let stored = StoredCard { card: bound.id, card_enc: vec![2, 3], card_index: vec![4] };
        let back = ReencryptedCard { old: stored, card_enc: vec![1, 3], card_index: vec![5] };
        assert_eq!(store.reencrypt_cards(vec![back]).await.err(), outdated(Some(1)), "{kind}");
        let cards: Vec<_> = store.cards_after(None, 10).await.unwrap().into_iter().filter(|c| c.card == bound.id).map(|c| (c.card_enc, c.card_index)).collect();
        assert_eq!(cards, vec![(vec![2, 3], vec![4])], "{kind}: unchanged");
        finish(store, pg).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_movements_and_their_refusals() {
    for (kind, store, pg, _dir) in stores().await {
        let alice = person(&store, 1, true).await;
        let bob = person(&store, 2, true).await;
        let topup = store.create_bank_movement(claim(alice.user, "t", 1), bank(OperationKind::Topup, &alice, 1_000)).await.unwrap();
        let Outcome::Created(made) = topup else { panic!("{kind}: {topup:?}") };
        assert_eq!(store.bank_movement(made.id).await.unwrap(), Some(made.clone()), "{kind}: read back as written");
        assert_eq!(store.bank_movement(OperationId::new()).await.unwrap(), None, "{kind}");
        assert!(matches!(store.create_bank_movement(claim(alice.user, "t", 1), bank(OperationKind::Topup, &alice, 1_000)).await.unwrap(), Outcome::Replayed(_)), "{kind}");
        let conflict = store.create_bank_movement(claim(alice.user, "t", 2), bank(OperationKind::Topup, &alice, 1_001)).await.unwrap();
        assert_eq!(conflict, Outcome::Refused(Refusal::IdempotencyKeyReused), "{kind}");
        let over = store.create_bank_movement(claim(alice.user, "w", 3), bank(OperationKind::Withdrawal, &alice, 1_001)).await.unwrap();
        assert_eq!(over, Outcome::Refused(Refusal::InsufficientFunds { available_fen: 1_000, amount_fen: 1_001 }), "{kind}");
        // Someone else's card is not bound to this account.
        let foreign = BankMovementRecord { card: bob.card, ..bank(OperationKind::Withdrawal, &alice, 1) };
        assert_eq!(store.create_bank_movement(claim(alice.user, "f", 4), foreign).await.unwrap(), Outcome::Refused(Refusal::CardNotFound), "{kind}");
        // A refused request left its key free.
        assert!(matches!(store.create_bank_movement(claim(alice.user, "w", 5), bank(OperationKind::Withdrawal, &alice, 400)).await.unwrap(), Outcome::Created(_)), "{kind}");
        assert_eq!(figures(&store, &alice).await, (600, 0), "{kind}");
        finish(store, pg).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_transfers_replays_conflicts_and_refusals() {
    for (kind, store, pg, _dir) in stores().await {
        let alice = person(&store, 1, true).await;
        let bob = person(&store, 2, true).await;
        store.create_bank_movement(claim(alice.user, "seed", 0), bank(OperationKind::Topup, &alice, 1_000)).await.unwrap();
        let first = transfer(&alice, &bob, 300, TransferMode::Instant, 10);
        let Outcome::Created(created) = store.create_transfer(claim(alice.user, "k", 1), first.clone(), Velocity::UNLIMITED).await.unwrap() else { panic!("{kind}: created") };
        assert_eq!((created.transfer.status, created.history.len()), (TransferStatus::Completed, 1), "{kind}");
        let Outcome::Replayed(replayed) = store.create_transfer(claim(alice.user, "k", 1), transfer(&alice, &bob, 300, TransferMode::Instant, 11), Velocity::UNLIMITED).await.unwrap() else {
            panic!("{kind}: replay")
        };
        assert_eq!(replayed.transfer.id, first.id, "{kind}");
        assert_eq!(
            store.create_transfer(claim(alice.user, "k", 2), transfer(&alice, &bob, 301, TransferMode::Instant, 12), Velocity::UNLIMITED).await.unwrap(),
            Outcome::Refused(Refusal::IdempotencyKeyReused),
            "{kind}"
        );
        let over = store.create_transfer(claim(alice.user, "o", 3), transfer(&alice, &bob, 701, TransferMode::Instant, 13), Velocity::UNLIMITED).await.unwrap();
        assert_eq!(over, Outcome::Refused(Refusal::InsufficientFunds { available_fen: 700, amount_fen: 701 }), "{kind}");
        assert!(
            matches!(store.create_transfer(claim(alice.user, "o", 4), transfer(&alice, &bob, 700, TransferMode::Instant, 14), Velocity::UNLIMITED).await.unwrap(), Outcome::Created(_)),
            "{kind}: the key stayed free"
        );
        assert_eq!((figures(&store, &alice).await, figures(&store, &bob).await), ((0, 0), (1_000, 0)), "{kind}");
        let history = store.transfers_of(bob.wallet, None, 10).await.unwrap();
        assert_eq!(history.len(), 2, "{kind}");
        // An instant transfer takes no event after creation.
        for event in [TransferEvent::Revoke, TransferEvent::Accept, TransferEvent::Arrive, TransferEvent::Return] {
            assert!(matches!(store.transition_transfer(first.id, event, Actor::Payer, None, 20).await.unwrap(), TransitionOutcome::Illegal(_)), "{kind} {event:?}");
        }
        assert_eq!(store.transition_transfer(OperationId::new(), TransferEvent::Revoke, Actor::Payer, None, 20).await.unwrap(), TransitionOutcome::NotFound, "{kind}");
        finish(store, pg).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_in_flight_hold_settle_release_and_expire() {
    for (kind, store, pg, dir) in stores().await {
        let alice = person(&store, 1, true).await;
        let bob = person(&store, 2, true).await;
        store.create_bank_movement(claim(alice.user, "seed", 0), bank(OperationKind::Topup, &alice, 10_000)).await.unwrap();
        let delayed = |n: i64, amount| transfer(&alice, &bob, amount, TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: n + 2 * HOUR_US }, n);
        let asking = |n: i64, amount| transfer(&alice, &bob, amount, TransferMode::AcceptanceRequired { expires_at_us: n + 24 * HOUR_US }, n);
        let (arrives, revoked, accepted, declined, expires) = (delayed(100, 1_000), delayed(101, 2_000), asking(102, 300), asking(103, 400), asking(104, 500));
        for (index, record) in [&arrives, &revoked, &accepted, &declined, &expires].into_iter().enumerate() {
            assert!(matches!(store.create_transfer(claim(alice.user, &format!("f{index}"), 1), record.clone(), Velocity::UNLIMITED).await.unwrap(), Outcome::Created(_)), "{kind}");
        }
        assert_eq!(figures(&store, &alice).await, (10_000, 4_200), "{kind}: held, not moved");
        assert_eq!(store.transfers_of(bob.wallet, None, 10).await.unwrap().len(), 5, "{kind}: the payee sees them coming");
        assert_eq!(
            store.create_transfer(claim(alice.user, "big", 1), delayed(105, 5_801), Velocity::UNLIMITED).await.unwrap(),
            Outcome::Refused(Refusal::InsufficientFunds { available_fen: 5_800, amount_fen: 5_801 }),
            "{kind}"
        );

        let step = |id, event, actor| store.transition_transfer(id, event, actor, None, 200);
        assert!(matches!(step(revoked.id, TransferEvent::Revoke, Actor::Payer).await.unwrap(), TransitionOutcome::Moved(d) if d.transfer.status == TransferStatus::Revoked), "{kind}");
        assert!(matches!(step(revoked.id, TransferEvent::Revoke, Actor::Payer).await.unwrap(), TransitionOutcome::AlreadyDone(_)), "{kind}");
        assert!(matches!(step(accepted.id, TransferEvent::Accept, Actor::Payee).await.unwrap(), TransitionOutcome::Moved(d) if d.transfer.status == TransferStatus::Completed), "{kind}");
        assert!(matches!(step(declined.id, TransferEvent::Decline, Actor::Payee).await.unwrap(), TransitionOutcome::Moved(d) if d.transfer.status == TransferStatus::Declined), "{kind}");
        assert!(matches!(step(arrives.id, TransferEvent::Accept, Actor::Payee).await.unwrap(), TransitionOutcome::Illegal(_)), "{kind}: a delayed transfer is not accepted");
        assert_eq!(figures(&store, &alice).await, (9_700, 1_500), "{kind}");
        assert_eq!(figures(&store, &bob).await, (300, 0), "{kind}");

        // The deadlines, in order; only what is due at `now`.
        assert!(store.due_transfers(100 + 2 * HOUR_US - 1, 10).await.unwrap().is_empty(), "{kind}");
        assert_eq!(store.due_transfers(100 + 2 * HOUR_US, 10).await.unwrap(), vec![(arrives.id, TransferEvent::Arrive)], "{kind}");
        let all_due = store.due_transfers(200 + 24 * HOUR_US, 10).await.unwrap();
        assert_eq!(all_due, vec![(arrives.id, TransferEvent::Arrive), (expires.id, TransferEvent::Expire)], "{kind}: settled ones have no deadline");
        for (id, event) in all_due {
            assert!(matches!(store.transition_transfer(id, event, Actor::System, None, 200 + 24 * HOUR_US).await.unwrap(), TransitionOutcome::Moved(_)), "{kind}");
        }
        assert!(store.due_transfers(i64::MAX, 10).await.unwrap().is_empty(), "{kind}");
        // Each hold says how it ended: the money went to the payee, or back.
        let endings = raw_texts(&dir, pg.as_ref(), "SELECT ending FROM holds ORDER BY amount");
        assert_eq!(endings, ["settled", "released", "released", "settled", "released"], "{kind}: 300 accepted, 400 declined, 500 expired, 1,000 arrived, 2,000 revoked");
        assert_eq!(figures(&store, &alice).await, (8_700, 0), "{kind}");
        assert_eq!(figures(&store, &bob).await, (1_300, 0), "{kind}");
        let arrived = store.transfer(arrives.id).await.unwrap().unwrap();
        let events: Vec<_> = arrived.history.iter().map(|e| (e.seq, e.status, e.event, e.actor)).collect();
        assert_eq!(events, vec![(1, TransferStatus::PendingArrival, TransferEvent::Create, Actor::Payer), (2, TransferStatus::Completed, TransferEvent::Arrive, Actor::System)], "{kind}");

        // A late revoke: the passed deadline decides first, in the same transaction.
        let late = delayed(300, 100);
        store.create_transfer(claim(alice.user, "late", 1), late.clone(), Velocity::UNLIMITED).await.unwrap();
        let answer = store.transition_transfer(late.id, TransferEvent::Revoke, Actor::Payer, None, 300 + 3 * HOUR_US).await.unwrap();
        assert!(matches!(&answer, TransitionOutcome::Illegal(d) if d.transfer.status == TransferStatus::Completed && d.history.len() == 2), "{kind}: {answer:?}");
        assert!(store.due_transfers(i64::MAX, 10).await.unwrap().is_empty(), "{kind}");
        finish(store, pg).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_asking_about_a_missing_transfer_gets_not_found() {
    for (kind, store, pg, _dir) in stores().await {
        assert_eq!(store.transition_transfer(OperationId::new(), TransferEvent::Arrive, Actor::System, None, 1).await.unwrap(), TransitionOutcome::NotFound, "{kind}");
        finish(store, pg).await;
    }
}

/// Many transfers at once, so that they share write batches (on PostgreSQL,
/// the set-based statement): a payer's transfers beyond what they cover are
/// refused however they are batched, a key sent twice at once creates one
/// transfer and replays it, and a payee receiving from many payers at once
/// gets every fen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transfers_share_batches_and_keep_every_rule() {
    for (kind, store, pg, _dir) in stores().await {
        let alice = person(&store, 1, true).await;
        let bob = person(&store, 2, true).await;
        let dave = person(&store, 4, true).await;
        store.create_bank_movement(claim(alice.user, "seed", 0), bank(OperationKind::Topup, &alice, 1_000)).await.unwrap();
        store.create_bank_movement(claim(dave.user, "seed", 0), bank(OperationKind::Topup, &dave, 500)).await.unwrap();
        let mut crowd = Vec::new();
        for n in 0..20 {
            let payer = person(&store, 10 + n, true).await;
            store.create_bank_movement(claim(payer.user, "seed", 0), bank(OperationKind::Topup, &payer, 100)).await.unwrap();
            crowd.push(payer);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..5 {
            let (store, record) = (store.clone(), transfer(&alice, &bob, 300, TransferMode::Instant, 10 + n));
            let key = claim(alice.user, &format!("a{n}"), 1);
            tasks.spawn(async move { ("alice", store.create_transfer(key, record, Velocity::UNLIMITED).await.unwrap()) });
        }
        for n in 0..2 {
            let (store, record) = (store.clone(), transfer(&dave, &bob, 200, TransferMode::Instant, 20 + n));
            let key = claim(dave.user, "dup", 7);
            tasks.spawn(async move { ("dave", store.create_transfer(key, record, Velocity::UNLIMITED).await.unwrap()) });
        }
        for payer in &crowd {
            let (store, record) = (store.clone(), transfer(payer, &bob, 100, TransferMode::Instant, 30));
            let key = claim(payer.user, "k", 1);
            tasks.spawn(async move { ("crowd", store.create_transfer(key, record, Velocity::UNLIMITED).await.unwrap()) });
        }
        let (mut created, mut insufficient, mut dave_ids, mut replays) = (std::collections::HashMap::new(), 0, Vec::new(), 0);
        while let Some(answer) = tasks.join_next().await {
            match answer.unwrap() {
                (who, Outcome::Created(details)) => {
                    *created.entry(who).or_insert(0) += 1;
                    if who == "dave" {
                        dave_ids.push(details.transfer.id);
                    }
                }
                ("alice", Outcome::Refused(Refusal::InsufficientFunds { available_fen: 100, amount_fen: 300 })) => insufficient += 1,
                ("dave", Outcome::Replayed(details)) => {
                    replays += 1;
                    dave_ids.push(details.transfer.id);
                }
                other => panic!("{kind}: unexpected {other:?}"),
            }
        }
        assert_eq!((created.get("alice"), insufficient), (Some(&3), 2), "{kind}");
        assert_eq!((created.get("dave"), replays), (Some(&1), 1), "{kind}");
        assert_eq!(dave_ids[0], dave_ids[1], "{kind}: the replay names the one transfer");
        assert_eq!(created.get("crowd"), Some(&20), "{kind}");
        assert_eq!(figures(&store, &alice).await, (100, 0), "{kind}");
        assert_eq!(figures(&store, &dave).await, (300, 0), "{kind}");
        assert_eq!(figures(&store, &bob).await, (900 + 200 + 2_000, 0), "{kind}");
        for payer in &crowd {
            assert_eq!(figures(&store, payer).await, (0, 0), "{kind}");
        }
        finish(store, pg).await;
    }
}

/// Who paid whom, contacts, and the name-completion attempt limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_pairs_contacts_and_name_attempts() {
    use recourse_domain::confirmation::{CompletionLimits, Gate, NameCheckResult};
    use recourse_store::{AttemptRecorded, PayeeRelation};
    for (kind, store, pg, _dir) in stores().await {
        let alice = person(&store, 1, true).await;
        let bob = person(&store, 2, true).await;
        let carol = person(&store, 3, true).await;
        let dave = person(&store, 4, true).await;
        store.create_bank_movement(claim(alice.user, "seed", 0), bank(OperationKind::Topup, &alice, 10_000)).await.unwrap();
        let none = PayeeRelation { is_contact: false, paid_before: false, paid_by: false };
        assert_eq!(store.payee_relation(alice.user, bob.user).await.unwrap(), none, "{kind}");
        // An instant transfer records the pair, twice over it stays one pair.
        for n in 0..2 {
            store.create_transfer(claim(alice.user, &format!("i{n}"), 1), transfer(&alice, &bob, 10, TransferMode::Instant, 10 + n), Velocity::UNLIMITED).await.unwrap();
        }
        assert_eq!(store.payee_relation(alice.user, bob.user).await.unwrap(), PayeeRelation { is_contact: true, paid_before: true, paid_by: false }, "{kind}");
        assert_eq!(store.payee_relation(bob.user, alice.user).await.unwrap(), PayeeRelation { is_contact: true, paid_before: false, paid_by: true }, "{kind}: paid by");
        // One in flight records it when the money arrives, not before.
        let delayed = transfer(&alice, &carol, 10, TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: 20 + 2 * HOUR_US }, 20);
        store.create_transfer(claim(alice.user, "d", 1), delayed.clone(), Velocity::UNLIMITED).await.unwrap();
        assert_eq!(store.payee_relation(alice.user, carol.user).await.unwrap(), none, "{kind}: not arrived yet");
        store.transition_transfer(delayed.id, TransferEvent::Arrive, Actor::System, None, 20 + 2 * HOUR_US).await.unwrap();
        assert!(store.payee_relation(alice.user, carol.user).await.unwrap().paid_before, "{kind}");
        // Contacts: added by hand, removed (even a counterparty), added again.
        store.add_contact(alice.user, dave.user, 30).await.unwrap();
        assert!(store.remove_contact(alice.user, bob.user, 31).await.unwrap(), "{kind}");
        assert!(!store.remove_contact(alice.user, bob.user, 32).await.unwrap(), "{kind}: already off the list");
        let listed: Vec<_> = store.contacts_of(alice.user).await.unwrap().into_iter().map(|c| (c.user.id, c.added, c.paid, c.paid_by)).collect();
        let mut expected = vec![(carol.user, false, true, false), (dave.user, true, false, false)];
        expected.sort_by_key(|(user, ..)| *user);
        let mut listed_sorted = listed.clone();
        listed_sorted.sort_by_key(|(user, ..)| *user);
        assert_eq!(listed_sorted, expected, "{kind}");
        assert_eq!(store.payee_relation(alice.user, bob.user).await.unwrap(), PayeeRelation { is_contact: false, paid_before: true, paid_by: false }, "{kind}");
        store.add_contact(alice.user, bob.user, 33).await.unwrap();
        assert!(store.payee_relation(alice.user, bob.user).await.unwrap().is_contact, "{kind}");
        assert_eq!(store.contacts_of(bob.user).await.unwrap().len(), 1, "{kind}: bob was paid by alice");

        // Name completion: three wrong answers lock the pair; a right one resets it.
        let limits = CompletionLimits { threshold_fen: 100, attempts_max: 3, lock_seconds: 3_600, daily_failures_max: 5 };
        let now = 100 * HOUR_US;
        let attempt = |payee: UserId, right, at| store.record_name_attempt(alice.user, alice.wallet, payee, right, limits, at);
        assert_eq!(attempt(bob.user, false, now).await.unwrap(), AttemptRecorded::Wrong { after: Gate::Open { attempts_left: 2 } }, "{kind}");
        assert_eq!(attempt(bob.user, true, now + 1).await.unwrap(), AttemptRecorded::Passed { attempts: 2 }, "{kind}");
        assert_eq!(attempt(bob.user, false, now + 2).await.unwrap(), AttemptRecorded::Wrong { after: Gate::Open { attempts_left: 2 } }, "{kind}: reset by the pass");
        assert_eq!(attempt(bob.user, false, now + 3).await.unwrap(), AttemptRecorded::Wrong { after: Gate::Open { attempts_left: 1 } }, "{kind}");
        assert_eq!(attempt(bob.user, false, now + 4).await.unwrap(), AttemptRecorded::Wrong { after: Gate::Locked { retry_after_seconds: 3_600 } }, "{kind}");
        assert_eq!(attempt(bob.user, true, now + 5).await.unwrap(), AttemptRecorded::Locked { retry_after_seconds: 3_600 }, "{kind}: even a right answer");
        let counts = store.name_attempt_counts(alice.user, bob.user, limits, now + 5).await.unwrap();
        assert_eq!((counts.pair_wrong, counts.daily_wrong), (3, 4), "{kind}");
        // The daily limit spans payees: one more wrong answer for carol reaches 5.
        assert_eq!(attempt(carol.user, false, now + 6).await.unwrap(), AttemptRecorded::Wrong { after: Gate::Locked { retry_after_seconds: 24 * 3_600 } }, "{kind}");
        assert!(matches!(attempt(dave.user, true, now + 7).await.unwrap(), AttemptRecorded::Locked { .. }), "{kind}");
        // The pair's lock ends an hour after its first counted wrong answer.
        let later = now + 2 + 3_600_000_000;
        assert_eq!(store.name_attempt_counts(alice.user, bob.user, limits, later).await.unwrap().pair_wrong, 2, "{kind}");

        store.record_payee_check(alice.user, bob.user, NameCheckResult::CloseMatch, "check", now).await.unwrap();
        store.record_payee_check(alice.user, bob.user, NameCheckResult::NoMatch, "transfer", now + 1).await.unwrap();
        assert_eq!(store.payee_checks_since(alice.user, now - 1).await.unwrap(), (2, Some(now)), "{kind}");
        assert_eq!(store.payee_checks_since(alice.user, now).await.unwrap(), (1, Some(now + 1)), "{kind}");
        finish(store, pg).await;
    }
}

/// Run SQL on a store's database from outside the store (as an older
/// version of Recourse would have left it).
fn raw_sql(kind: &str, dir: &tempfile::TempDir, pg: Option<&(String, String)>, sql: &str) {
    match pg {
        None => rusqlite::Connection::open(dir.path().join("recourse.db")).unwrap().execute_batch(sql).unwrap(),
        Some((admin, name)) => {
            let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
            tokio::task::block_in_place(|| postgres::Client::connect(&url, postgres::NoTls).unwrap().batch_execute(sql)).unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
    }
}

/// The first column of each row of a query run from outside the store, as text.
fn raw_texts(dir: &tempfile::TempDir, pg: Option<&(String, String)>, sql: &str) -> Vec<String> {
    match pg {
        None => {
            let conn = rusqlite::Connection::open(dir.path().join("recourse.db")).unwrap();
            let mut statement = conn.prepare(sql).unwrap();
            statement.query_map([], |row| row.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
        }
        Some((admin, name)) => {
            let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
            tokio::task::block_in_place(|| postgres::Client::connect(&url, postgres::NoTls).unwrap().query(sql, &[]).unwrap()).iter().map(|row| row.get::<_, String>(0)).collect()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_stored_before_look_alike_keys_get_them_once() {
    for (kind, store, pg, dir) in stores().await {
        let (alice, bob) = (person(&store, 1, true).await, person(&store, 2, true).await);
        store.update_profile(alice.user, ProfileChanges { nickname: Some("Alice Wang".into()), ..Default::default() }, 5).await.unwrap();
        store.update_profile(bob.user, ProfileChanges { nickname: Some("Bob".into()), ..Default::default() }, 5).await.unwrap();
        let mut png = Vec::new();
        let picture = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, ((x * y) % 256) as u8]));
        image::DynamicImage::ImageRgb8(picture).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let avatar = |user| recourse_store::Avatar { id: uuid::Uuid::now_v7(), user, content_type: "image/png".into(), image: png.clone(), sha256: vec![0; 32], created_at_us: 6, hashes: None };
        store.set_avatar(avatar(alice.user)).await.unwrap();
        store.set_avatar(recourse_store::Avatar { image: b"not a picture".to_vec(), ..avatar(bob.user) }).await.unwrap();
        drop(store);
        // As version 4 left them: no keys, no hashes; version 5 not yet applied.
        raw_sql(kind, &dir, pg.as_ref(), "UPDATE users SET nickname_key = NULL; DELETE FROM schema_version WHERE version = 5");
        let backend = match &pg {
            None => Backend::Sqlite { data_dir: dir.path().to_path_buf() },
            Some((admin, name)) => Backend::Postgres { url: format!("{}/{name}", admin.rsplit_once('/').unwrap().0) },
        };
        let store = open(backend).await;
        let alice_row = store.user(alice.user).await.unwrap().unwrap();
        let key = recourse_domain::lookalike::match_text("Alice Wang").unwrap();
        assert_eq!(store.contacts_with_nickname_key(bob.user, bob.user, key.clone()).await.unwrap(), Vec::<UserId>::new(), "{kind}: alice is no contact of bob yet");
        store.add_contact(bob.user, alice.user, 7).await.unwrap();
        assert_eq!(store.contacts_with_nickname_key(bob.user, bob.user, key).await.unwrap(), vec![alice.user], "{kind}: the backfilled key finds alice");
        let hashes = store.contact_avatar_hashes(bob.user, bob.user).await.unwrap();
        assert_eq!(hashes.len(), 1, "{kind}: alice's picture was hashed, bob's junk was not: {hashes:?}");
        assert_eq!(hashes[0].0, alice_row.id, "{kind}");
        finish(store, pg).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_chain_catches_edited_inserted_and_deleted_entries() {
    use recourse_store::{AuditEntry, AuditKey, AuditVerdict};
    for (kind, store, pg, dir) in stores().await {
        let key = AuditKey { id: "k1".into(), key: [7; 32] };
        let old = AuditKey { id: "k0".into(), key: [3; 32] };
        let entry = |n: i64| AuditEntry { at_us: n, actor: Some(UserId::new()), action: "claim.note".into(), subject: format!("claim:{n}"), details: serde_json::json!({ "n": n }) };
        store.audit_append(old.clone(), entry(1)).await.unwrap();
        for n in 2..=5 {
            store.audit_append(key.clone(), entry(n)).await.unwrap();
        }
        assert_eq!(format!("{key:?}"), "AuditKey(k1)", "the key's bytes stay out of Debug");
        let both = vec![key.clone(), old.clone()];
        assert_eq!(store.verify_audit(both.clone()).await.unwrap(), AuditVerdict::Intact { entries: 5 }, "{kind}: a rotated key still verifies its entries");
        let broken = |seq: i64, why: &str| AuditVerdict::Broken { seq, why: why.into() };
        assert_eq!(store.verify_audit(vec![key.clone()]).await.unwrap(), broken(1, "signed with unknown key id k0"), "{kind}: without the previous key");
        let wrong = AuditKey { id: "k1".into(), key: [8; 32] };
        assert!(matches!(store.verify_audit(vec![wrong, old.clone()]).await.unwrap(), AuditVerdict::Broken { seq: 2, .. }), "{kind}: a key outside the database");
        // Edited.
        raw_sql(kind, &dir, pg.as_ref(), "UPDATE audit_log SET details = '{\"n\": 99}' WHERE seq = 3");
        let edited = "its MAC does not match its contents and the entry before it (edited, inserted, or the previous entry was deleted)";
        assert_eq!(store.verify_audit(both.clone()).await.unwrap(), broken(3, edited), "{kind}: edited");
        raw_sql(kind, &dir, pg.as_ref(), "UPDATE audit_log SET details = '{\"n\":3}' WHERE seq = 3");
        assert_eq!(store.verify_audit(both.clone()).await.unwrap(), AuditVerdict::Intact { entries: 5 }, "{kind}: restored");
        // The head's MAC must be the last entry's, not only its number.
        raw_sql(kind, &dir, pg.as_ref(), "UPDATE audit_head SET mac = (SELECT mac FROM audit_log WHERE seq = 4)");
        assert_eq!(store.verify_audit(both.clone()).await.unwrap(), broken(6, "the chain's head does not carry entry 5's MAC"), "{kind}: a head from elsewhere");
        raw_sql(kind, &dir, pg.as_ref(), "UPDATE audit_head SET mac = (SELECT mac FROM audit_log WHERE seq = 5)");
        assert_eq!(store.verify_audit(both.clone()).await.unwrap(), AuditVerdict::Intact { entries: 5 }, "{kind}: the head restored");
        // Deleted in the middle, and at the end without fixing the head.
        raw_sql(kind, &dir, pg.as_ref(), "DELETE FROM audit_log WHERE seq = 5");
        assert_eq!(store.verify_audit(both.clone()).await.unwrap(), broken(5, "the chain's head says entry 5 but the log ends at 4"), "{kind}: the head names a missing entry");
        raw_sql(kind, &dir, pg.as_ref(), "DELETE FROM audit_log WHERE seq IN (2, 3)");
        assert_eq!(store.verify_audit(both.clone()).await.unwrap(), broken(4, "entries 2..3 are missing"), "{kind}: deleted in the middle");
        finish(store, pg).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_buckets_follow_the_domain_rule_exactly() {
    use recourse_domain::rate::{Rate, Take};
    // A seeded sequence of takes (costs, times, refunds) over a few subjects,
    // answered by each store and by the domain's function on a model.
    let rate = Rate { burst: 50, refill: 20, period_us: 60_000_000 };
    for (kind, store, pg, _dir) in stores().await {
        let mut model: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut now_us = 1_000_000_000_000;
        let (mut allowed, mut refused) = (0, 0);
        for step in 0..600 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let subject = format!("s{}", seed % 3);
            let cost = [1, 1, 1, 20, 50, 51][(seed >> 8) as usize % 6];
            now_us += [0, 0, 1, 2_999_999, 3_000_000, 60_000_000][(seed >> 16) as usize % 6];
            let expected = if cost > rate.burst { Take::Refused { retry_after_us: rate.tolerance_us() } } else { rate.take(model.get(&subject).copied(), now_us, cost) };
            let got = store.take_tokens(subject.clone(), rate, cost, now_us).await.unwrap();
            assert_eq!(got, expected, "{kind}: step {step}, {subject} cost {cost}");
            match got {
                Take::Allowed { tat_us } => {
                    allowed += 1;
                    model.insert(subject.clone(), tat_us);
                    if seed.is_multiple_of(7) {
                        store.refund_tokens(subject.clone(), rate, cost).await.unwrap();
                        model.insert(subject, rate.refund(tat_us, cost));
                    }
                }
                Take::Refused { .. } => refused += 1,
            }
        }
        assert!(allowed > 100 && refused > 100, "{kind}: the sequence exercises both answers ({allowed} allowed, {refused} refused)");
        finish(store, pg).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_velocity_is_taken_in_the_write_after_the_key() {
    use recourse_domain::rate::Rate;
    let minute = 60_000_000;
    let enforced = Velocity { rate: Rate::per(3, minute), enforce: true };
    let observed = Velocity { enforce: false, ..enforced };
    for (kind, store, pg, _dir) in stores().await {
        let alice = person(&store, 1, true).await;
        let bob = person(&store, 2, true).await;
        store.create_bank_movement(claim(alice.user, "seed", 0), bank(OperationKind::Topup, &alice, 10_000)).await.unwrap();
        let now = 1_000 * minute;
        let observed_before = velocity_observed();
        // A refusal for funds takes nothing.
        let poor = store.create_transfer(claim(alice.user, "poor", 1), transfer(&alice, &bob, 20_000, TransferMode::Instant, now), enforced).await.unwrap();
        assert!(matches!(poor, Outcome::Refused(Refusal::InsufficientFunds { .. })), "{kind}: {poor:?}");
        for n in 0..3 {
            let made = store.create_transfer(claim(alice.user, &format!("v{n}"), 1), transfer(&alice, &bob, 10, TransferMode::Instant, now), enforced).await.unwrap();
            assert!(matches!(made, Outcome::Created(_)), "{kind}: transfer {n}: {made:?}");
        }
        // The fourth in the minute is refused, and leaves its key free …
        let fourth = store.create_transfer(claim(alice.user, "v3", 1), transfer(&alice, &bob, 10, TransferMode::Instant, now), enforced).await.unwrap();
        assert_eq!(fourth, Outcome::Refused(Refusal::RateLimited { retry_after_seconds: 20 }), "{kind}");
        // … an observed excess refused for funds gives back nothing it did not take …
        let poor_observed = store.create_transfer(claim(alice.user, "po", 1), transfer(&alice, &bob, 20_000, TransferMode::Instant, now), observed).await.unwrap();
        assert!(matches!(poor_observed, Outcome::Refused(Refusal::InsufficientFunds { .. })), "{kind}: {poor_observed:?}");
        // … a delayed transfer counts the same …
        let delayed = TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: now + 2 * HOUR_US };
        let later = store.create_transfer(claim(alice.user, "d", 1), transfer(&alice, &bob, 10, delayed, now), enforced).await.unwrap();
        assert_eq!(later, Outcome::Refused(Refusal::RateLimited { retry_after_seconds: 20 }), "{kind}");
        // … a replay is answered, never refused nor charged …
        let replay = store.create_transfer(claim(alice.user, "v0", 1), transfer(&alice, &bob, 10, TransferMode::Instant, now), enforced).await.unwrap();
        assert!(matches!(replay, Outcome::Replayed(_)), "{kind}: {replay:?}");
        // … observed, the limit lets it through …
        assert!(matches!(store.create_transfer(claim(alice.user, "o", 1), transfer(&alice, &bob, 10, TransferMode::Instant, now), observed).await.unwrap(), Outcome::Created(_)), "{kind}");
        assert!(matches!(store.create_transfer(claim(alice.user, "od", 1), transfer(&alice, &bob, 10, delayed, now), observed).await.unwrap(), Outcome::Created(_)), "{kind}: delayed");
        // … and an observed excess does not run the state ahead: 20 s later one transfer is back.
        let back = store.create_transfer(claim(alice.user, "v3", 1), transfer(&alice, &bob, 10, TransferMode::Instant, now + 20_000_000), enforced).await.unwrap();
        assert!(matches!(back, Outcome::Created(_)), "{kind}: {back:?}");
        assert_eq!(figures(&store, &alice).await, (10_000 - 50, 10), "{kind}: five arrived, one held in flight");
        assert_eq!(velocity_observed() - observed_before, 3, "{kind}: the observed excesses, counted once each (one refused for funds, one instant, one delayed)");
        finish(store, pg).await;
    }
}

/// Retention: each pass deletes at most `batch` rows of each kind, and only
/// what nobody may ask for again — expired or revoked sessions, idempotency
/// records before the replay window, avatars beyond the kept history (never
/// the current one, never a recent one) and full rate buckets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_what_nobody_may_ask_for_again_in_bounded_passes() {
    use recourse_domain::rate::Rate;
    use recourse_store::limits::{Pruned, Retention};
    for (kind, store, pg, _dir) in stores().await {
        let (alice, bob) = (person(&store, 1, true).await, person(&store, 2, true).await);
        let now = 1_000_000_000;
        // Sessions: expired (2), revoked (1), live (1).
        for (token, expires) in [(1u8, now - 10), (2, now), (3, now + 10), (4, now + 10)] {
            store.create_session(vec![token], alice.user, 1, expires).await.unwrap();
        }
        store.revoke_session(vec![3], 2).await.unwrap();
        // Idempotency records: two before the window (bank movements at 5), one inside it.
        store.create_bank_movement(claim(alice.user, "old-1", 0), bank(OperationKind::Topup, &alice, 100)).await.unwrap();
        store.create_bank_movement(claim(bob.user, "old-2", 0), bank(OperationKind::Topup, &bob, 100)).await.unwrap();
        store.create_transfer(claim(alice.user, "new", 1), transfer(&alice, &bob, 10, TransferMode::Instant, now), Velocity::UNLIMITED).await.unwrap();
        // Avatars: alice's five, the newest current; bob's one, current.
        let avatar =
            |user, at: i64| recourse_store::Avatar { id: uuid::Uuid::now_v7(), user, content_type: "image/png".into(), image: vec![at as u8], sha256: vec![0; 32], created_at_us: at, hashes: None };
        let alices: Vec<_> = (1..=5).map(|at| avatar(alice.user, at * 100)).collect();
        for a in &alices {
            store.set_avatar(a.clone()).await.unwrap();
        }
        // Bob's one, current, with its perceptual hashes (stored signed, read back as they were).
        let bobs = recourse_store::Avatar { hashes: Some([u64::MAX, 7]), ..avatar(bob.user, 100) };
        store.set_avatar(bobs.clone()).await.unwrap();
        assert_eq!(store.avatar(bobs.id).await.unwrap().map(|a| a.hashes), Some(Some([u64::MAX, 7])), "{kind}");
        assert_eq!(store.avatar(alices[0].id).await.unwrap().map(|a| a.hashes), Some(None), "{kind}: none stored, none read");
        // Rate buckets: two full by `now` ("b" exactly at `now`: one token's
        // interval, 6 s, before), one not.
        let rate = Rate::per(10, 60_000_000);
        for (subject, at) in [("a", 0), ("b", now - 6_000_000), ("c", now)] {
            store.take_tokens(subject.into(), rate, 1, at).await.unwrap();
        }
        // Keep 2 avatars (the current and the newest other), and any after 250.
        let retention = Retention { idempotency_created_before_us: 6, avatars_kept: 2, avatars_recent_after_us: 250, batch: 1 };
        // SQLite's buckets are in memory: one pass drops every full one.
        let buckets = if kind == "sqlite" { [2, 0] } else { [1, 1] };
        let first = store.prune(retention, now).await.unwrap();
        assert_eq!(first, Pruned { sessions: 1, idempotency_records: 1, avatars: 1, rate_buckets: buckets[0] }, "{kind}: one of each a pass");
        assert_eq!(first.total(), 3 + buckets[0]);
        let second = store.prune(retention, now).await.unwrap();
        assert_eq!(second, Pruned { sessions: 1, idempotency_records: 1, avatars: 0, rate_buckets: buckets[1] }, "{kind}: avatar 3 is recent");
        let third = store.prune(retention, now).await.unwrap();
        assert_eq!(third, Pruned { sessions: 1, idempotency_records: 0, avatars: 0, rate_buckets: 0 }, "{kind}: the revoked session last (by expiry)");
        assert_eq!(store.prune(retention, now).await.unwrap().total(), 0, "{kind}: nothing left to prune");
        assert_eq!(Pruned { sessions: 1, idempotency_records: 20, avatars: 300, rate_buckets: 4_000 }.total(), 4_321);
        // What is left answers as before.
        assert!(store.session_user(vec![4], now).await.unwrap().is_some(), "{kind}: the live session");
        assert!(store.session_user(vec![1], now - 20).await.unwrap().is_none(), "{kind}: an expired session is gone");
        assert!(store.idempotency_record(alice.user, "old-1".into()).await.unwrap().is_none(), "{kind}");
        assert!(store.idempotency_record(alice.user, "new".into()).await.unwrap().is_some(), "{kind}: inside the window");
        let kept: Vec<bool> = futures_kept(&store, &alices).await;
        assert_eq!(kept, vec![false, true, true, true, true], "{kind}: the oldest went; 2 (newest other than the current before the recent ones), 3-4 (recent) and 5 (current) stay");
        // A bucket that is full again is a new bucket: its subject starts from a full burst.
        assert!(matches!(store.take_tokens("a".into(), rate, 10, now).await.unwrap(), recourse_domain::rate::Take::Allowed { .. }), "{kind}");
        finish(store, pg).await;
    }
}

async fn futures_kept(store: &Store, avatars: &[recourse_store::Avatar]) -> Vec<bool> {
    let mut kept = Vec::new();
    for a in avatars {
        kept.push(store.avatar(a.id).await.unwrap().is_some());
    }
    kept
}

/// SQLite keeps rate buckets in memory; when it holds `memory_buckets_max`
/// of them, a new subject first drops the full ones (never one in use).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_drops_full_buckets_when_its_memory_is_full() {
    use recourse_domain::rate::{Rate, Take};
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(Backend::Sqlite { data_dir: dir.path().to_path_buf() });
    config.memory_buckets_max = 3;
    let store = tokio::task::spawn_blocking(move || Store::open(&config)).await.unwrap().unwrap();
    let (rate, now) = (Rate::per(10, 60_000_000), 1_000_000_000);
    // "b" is full exactly at `now` (one token's interval, 6 s, before).
    for (subject, at) in [("a", 0), ("b", now - 6_000_000), ("c", now)] {
        store.take_tokens(subject.into(), rate, 1, at).await.unwrap();
    }
    // Three held, "a" and "b" full by now: the fourth subject drops them.
    assert!(matches!(store.take_tokens("d".into(), rate, 1, now).await.unwrap(), Take::Allowed { .. }));
    let retention = recourse_store::limits::Retention { idempotency_created_before_us: 0, avatars_kept: 1, avatars_recent_after_us: 0, batch: 10 };
    assert_eq!(store.prune(retention, now).await.unwrap().rate_buckets, 0, "already dropped");
    // "c" was in use and stayed: nine of its ten tokens are left.
    assert!(matches!(store.take_tokens("c".into(), rate, 10, now).await.unwrap(), Take::Refused { .. }));
    assert!(matches!(store.take_tokens("c".into(), rate, 9, now).await.unwrap(), Take::Allowed { .. }));
    // Below the limit nothing is dropped: "e" is the third bucket.
    assert!(matches!(store.take_tokens("e".into(), rate, 1, 0).await.unwrap(), Take::Allowed { .. }));
    assert_eq!(store.prune(retention, now).await.unwrap().rate_buckets, 1, "e, full by now, was kept until the pass");
    finish(store, None).await;
}

/// A deadline whose event can no longer happen is deleted by the
/// scheduler's own attempt (and only by the scheduler's): whether the
/// transfer moved on or does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_deadlines_are_cleared_by_the_schedulers_attempt() {
    for (kind, store, pg, dir) in stores().await {
        let (alice, bob) = (person(&store, 1, true).await, person(&store, 2, true).await);
        store.create_bank_movement(claim(alice.user, "seed", 0), bank(OperationKind::Topup, &alice, 1_000)).await.unwrap();
        let arrives = 10 + 2 * HOUR_US;
        let delayed = transfer(&alice, &bob, 10, TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: arrives }, 10);
        store.create_transfer(claim(alice.user, "d", 1), delayed.clone(), Velocity::UNLIMITED).await.unwrap();
        assert_eq!(store.due_transfers(arrives, 10).await.unwrap(), vec![(delayed.id, TransferEvent::Arrive)], "{kind}");
        let revoked = store.transition_transfer(delayed.id, TransferEvent::Revoke, Actor::Payer, None, 20).await.unwrap();
        assert!(matches!(revoked, TransitionOutcome::Moved(_)), "{kind}: {revoked:?}");
        assert_eq!(store.due_transfers(arrives, 10).await.unwrap(), vec![], "{kind}: moving on deletes the deadline");
        // Stale deadlines, as inconsistent data would leave them: the revoked
        // transfer's arrival, and an expiry for ids that are no transfer.
        raw_sql(
            kind,
            &dir,
            pg.as_ref(),
            "INSERT INTO due_work (subject_id, event, due_at) SELECT id, 'arrive', 30 FROM transfers; \
             INSERT INTO due_work (subject_id, event, due_at) SELECT id, 'expire', 30 FROM users",
        );
        let stale = store.due_transfers(30, 100).await.unwrap();
        assert!(stale.len() >= 3 && stale.contains(&(delayed.id, TransferEvent::Arrive)), "{kind}: {stale:?}");
        // The payer's own attempt changes nothing and clears nothing.
        let by_payer = store.transition_transfer(delayed.id, TransferEvent::Revoke, Actor::Payer, None, 40).await.unwrap();
        assert!(matches!(by_payer, TransitionOutcome::AlreadyDone(_)), "{kind}: {by_payer:?}");
        let missing = OperationId::from_bytes(*alice.user.as_bytes());
        assert_eq!(store.transition_transfer(missing, TransferEvent::Expire, Actor::Payer, None, 40).await.unwrap(), TransitionOutcome::NotFound, "{kind}");
        assert_eq!(store.due_transfers(30, 100).await.unwrap(), stale, "{kind}");
        // The scheduler's attempts clear each.
        for (id, event) in &stale {
            let outcome = store.transition_transfer(*id, *event, Actor::System, None, 40).await.unwrap();
            assert!(!matches!(outcome, TransitionOutcome::Moved(_)), "{kind}: {outcome:?}");
        }
        assert_eq!(store.due_transfers(30, 100).await.unwrap(), vec![], "{kind}: all cleared");
        finish(store, pg).await;
    }
}

/// A payer and payee become a payment pair when money moves between them,
/// not when a transfer between them is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_transfer_makes_no_payment_pair() {
    for (kind, store, pg, _dir) in stores().await {
        let (alice, bob) = (person(&store, 1, true).await, person(&store, 2, true).await);
        store.create_bank_movement(claim(alice.user, "seed", 0), bank(OperationKind::Topup, &alice, 100)).await.unwrap();
        let refused = store.create_transfer(claim(alice.user, "big", 1), transfer(&alice, &bob, 101, TransferMode::Instant, 10), Velocity::UNLIMITED).await.unwrap();
        assert!(matches!(refused, Outcome::Refused(Refusal::InsufficientFunds { .. })), "{kind}: {refused:?}");
        assert!(!store.payee_relation(alice.user, bob.user).await.unwrap().paid_before, "{kind}");
        store.create_transfer(claim(alice.user, "ok", 1), transfer(&alice, &bob, 100, TransferMode::Instant, 11), Velocity::UNLIMITED).await.unwrap();
        assert!(store.payee_relation(alice.user, bob.user).await.unwrap().paid_before, "{kind}: the transfer that moved money made the pair");
        finish(store, pg).await;
    }
}

/// The ledger audit that closes every case can fail: it counts what it
/// read, and a cached figure that disagrees with the journal, or a hold the
/// pending rows do not explain, makes the book unsound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_audit_counts_the_book_and_catches_tampering() {
    for (kind, store, pg, dir) in stores().await {
        let (alice, bob) = (person(&store, 1, true).await, person(&store, 2, true).await);
        let before = store.audit().await.unwrap();
        store.create_bank_movement(claim(alice.user, "seed", 0), bank(OperationKind::Topup, &alice, 1_000)).await.unwrap();
        store.create_transfer(claim(alice.user, "i", 1), transfer(&alice, &bob, 100, TransferMode::Instant, 10), Velocity::UNLIMITED).await.unwrap();
        let delayed = TransferMode::Delayed { arrival: Arrival::After2Hours, arrives_at_us: 11 + 2 * HOUR_US };
        store.create_transfer(claim(alice.user, "d", 1), transfer(&alice, &bob, 50, delayed, 11), Velocity::UNLIMITED).await.unwrap();
        let report = store.audit().await.unwrap();
        assert!(report.is_sound(), "{kind}: {:?}", report.problems);
        assert_eq!(report.accounts, before.accounts, "{kind}: no account was added");
        assert!(report.accounts >= 3, "{kind}: two wallets and the bank's");
        assert_eq!((report.operations - before.operations, report.journal_rows - before.journal_rows), (3, 2 + 2 + 2), "{kind}: a top-up, a transfer and a reserve, two rows each");
        assert_eq!(report.total_fen_per_currency, vec![("CNY".to_owned(), 0)], "{kind}");
        // A balance changed behind the journal's back.
        raw_sql(kind, &dir, pg.as_ref(), "UPDATE accounts SET balance = balance + 1 WHERE id = (SELECT account_id FROM bank_movements LIMIT 1)");
        let tampered = store.audit().await.unwrap();
        assert!(!tampered.is_sound(), "{kind}");
        assert!(tampered.problems.iter().any(|p| p.contains("caches balance 901 but its journal sums to 900")), "{kind}: {:?}", tampered.problems);
        raw_sql(kind, &dir, pg.as_ref(), "UPDATE accounts SET balance = balance - 1 WHERE id = (SELECT account_id FROM bank_movements LIMIT 1)");
        // A hold that no pending row explains.
        raw_sql(kind, &dir, pg.as_ref(), "UPDATE holds SET amount = amount + 1");
        let tampered = store.audit().await.unwrap();
        assert!(tampered.problems.iter().any(|p| p.contains("holds")), "{kind}: {:?}", tampered.problems);
        raw_sql(kind, &dir, pg.as_ref(), "UPDATE holds SET amount = amount - 1");
        finish(store, pg).await;
    }
}
