//! Account operations: registration, login and logout, real-name
//! verification, bank cards, profile changes. Each takes domain values
//! (parsed at the edge) and answers `Ok(Ok(..))`, a refusal as
//! `Ok(Err(AccountRefusal))`, or `Err` when it could not run.

use recourse_domain::card::CardNumber;
use recourse_domain::identity::{AgeError, IdNumber, LegalName};
use recourse_domain::phone::Phone;
use recourse_domain::refusal::AccountRefusal;
use recourse_domain::text::Nickname;
use recourse_domain::{AccountId, CardId, Role, UserId};
use recourse_domain::transfer::Arrival;
use recourse_store::{AccountBalance, Avatar, CardRecord, NewCard, NewUser, ProfileChanges, StoreError, UserRecord, Verification};
use sha2::{Digest, Sha256};

use std::net::IpAddr;

use crate::identity_provider::IdentityRejection;
use crate::limits::{Limit, Lookup};
use crate::passwords::{self, check_password_policy};
use crate::vault::Slot;
use crate::{Service, ServiceError};

/// An answer that may be a refusal.
pub type Answer<T> = Result<Result<T, AccountRefusal>, ServiceError>;

/// An avatar image whose type was recognised at the edge.
#[derive(Clone, Debug)]
pub struct NewAvatar {
    pub content_type: &'static str,
    pub image: Vec<u8>,
    /// Its perceptual hashes, computed when it was decoded at the edge.
    pub hashes: Option<[u64; 2]>,
}

/// A session just opened: the token is shown to the client once.
pub struct NewSession {
    pub token: String,
    pub user: UserRecord,
    pub expires_at_us: i64,
}

const DAY_US: i64 = 24 * 3600 * 1_000_000;

fn avatar_record(user: UserId, avatar: NewAvatar, now_us: i64) -> Avatar {
    let sha256 = Sha256::digest(&avatar.image).to_vec();
    Avatar { id: uuid::Uuid::now_v7(), user, content_type: avatar.content_type.to_owned(), image: avatar.image, sha256, created_at_us: now_us, hashes: avatar.hashes }
}

impl Service {
    /// Create a customer (with a wallet) or a staff account. Registration,
    /// `admin create-staff` and the demo all come here. Order: password
    /// policy, then the phone number's uniqueness (in the store).
    pub async fn create_account(&self, phone: &Phone, password: &str, nickname: &Nickname, role: Role, avatar: Option<NewAvatar>) -> Answer<UserRecord> {
        if let Err(refusal) = check_password_policy(password) {
            return Ok(Err(refusal));
        }
        let params = self.config.password_hashing.clone();
        let password = password.to_owned();
        let password_hash = self.hashing.run(move || passwords::hash_password(&params, &password)).await.map_err(|_| ServiceError::Overloaded("password hashing"))??;
        let id = UserId::new();
        let now_us = self.clock.now_us();
        let new_user = NewUser {
            id,
            phone: phone.as_str().to_owned(),
            password_hash,
            nickname: nickname.as_str().to_owned(),
            role,
            wallet: (role == Role::Customer).then(AccountId::new),
            created_at_us: now_us,
            avatar: avatar.map(|avatar| avatar_record(id, avatar, now_us)),
        };
        match self.store.create_user(new_user).await {
            Ok(user) => Ok(Ok(user)),
            Err(StoreError::PhoneTaken) => Ok(Err(AccountRefusal::PhoneTaken)),
            Err(error) => Err(error.into()),
        }
    }

    /// Registration from the network: the per-address rate first (before
    /// any hashing), then [`Service::create_account`]; a phone that is taken
    /// spends the address's lookup budget, and once it is spent the answer
    /// no longer says whether the number is taken.
    pub async fn register(&self, phone: &Phone, password: &str, nickname: &Nickname, avatar: Option<NewAvatar>, from: Option<IpAddr>) -> Answer<UserRecord> {
        if let Err(exceeded) = self.charge(Limit::Registrations(from), 1).await? {
            return Ok(Err(exceeded.into()));
        }
        let answer = self.create_account(phone, password, nickname, Role::Customer, avatar).await?;
        if let Err(AccountRefusal::PhoneTaken) = answer
            && let Err(exceeded) = self.charge(Limit::AddressLookups(from), self.lookup_cost(Lookup::Found)).await?
        {
            return Ok(Err(exceeded.into()));
        }
        Ok(answer)
    }

    /// A hash to verify against when the phone is unknown, so that a wrong
    /// phone and a wrong password take the same time.
    /// Computed once, on the hashing pool like every other hash (never on
    /// a request thread, where a flood of unknown numbers would block it).
    async fn decoy_hash(&self) -> Result<String, ServiceError> {
        static DECOY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        let params = self.config.password_hashing.clone();
        let decoy = DECOY
            .get_or_try_init(|| async move {
                self.hashing.run(move || passwords::hash_password(&params, "decoy password").unwrap_or_default()).await.map_err(|_| ServiceError::Overloaded("password hashing"))
            })
            .await?;
        Ok(decoy.clone())
    }

    /// Log in. Password guessing is paused per phone number, known or not
    /// (so the pause reveals nothing), across every instance (the count is in
    /// the store). Order: the address's login rate (`from`; `None`: an
    /// address the server could not tell), the pause, then the credentials.
    pub async fn log_in(&self, phone: &str, password: &str, from: Option<IpAddr>) -> Answer<NewSession> {
        if let Err(exceeded) = self.charge(Limit::Logins(from), 1).await? {
            return Ok(Err(exceeded.into()));
        }
        if password.chars().count() > passwords::PASSWORD_CHARS_MAX {
            return Ok(Err(AccountRefusal::InvalidCredentials));
        }
        let Ok(phone) = Phone::parse(phone) else {
            return Ok(Err(AccountRefusal::InvalidCredentials));
        };
        let limits = &self.config.limits;
        let now_us = self.clock.now_us();
        let window_us = limits.login_failure_window_seconds.saturating_mul(1_000_000);
        let window_open_after_us = now_us.saturating_sub(window_us);
        // The attempt is counted before the password is checked: a burst of
        // parallel guesses gets at most `login_failures_max` checks.
        let (attempts, window_started_at_us) = self.store.count_login_attempt(phone.as_str().to_owned(), now_us, window_open_after_us).await?;
        if attempts > limits.login_failures_max {
            let retry_after_seconds = ((window_started_at_us + window_us - now_us) / 1_000_000).max(1);
            return Ok(Err(AccountRefusal::TooManyAttempts { retry_after_seconds }));
        }
        let user = self.store.user_by_phone(phone.as_str()).await?;
        let stored_hash = match &user {
            Some(user) => user.password_hash.clone(),
            None => self.decoy_hash().await?,
        };
        let password = password.to_owned();
        let matches = self.hashing.run(move || passwords::verify_password(&stored_hash, &password)).await.map_err(|_| ServiceError::Overloaded("password hashing"))?;
        let user = match (user, matches) {
            (Some(user), true) => user,
            // A wrong answer stays counted.
            _ => return Ok(Err(AccountRefusal::InvalidCredentials)),
        };
        // The owner got in: the attempts start over.
        self.store.clear_login_failures(phone.as_str().to_owned()).await?;
        let (token, token_hash) = passwords::new_token();
        let expires_at_us = now_us.saturating_add(limits.session_ttl_seconds.saturating_mul(1_000_000));
        self.store.create_session(token_hash, user.id, now_us, expires_at_us).await?;
        Ok(Ok(NewSession { token, user, expires_at_us }))
    }

    /// The user behind a live session token, if any.
    pub async fn authenticate(&self, token: &str) -> Result<Option<(UserRecord, Vec<u8>)>, ServiceError> {
        if !token.starts_with(passwords::TOKEN_PREFIX) || token.len() > passwords::TOKEN_LEN_MAX {
            return Ok(None);
        }
        let token_hash = passwords::hash_token(token);
        let user = self.store.session_user(token_hash.clone(), self.clock.now_us()).await?;
        Ok(user.map(|user| (user, token_hash)))
    }

    pub async fn log_out(&self, token_hash: Vec<u8>) -> Result<(), ServiceError> {
        Ok(self.store.revoke_session(token_hash, self.clock.now_us()).await?)
    }

    /// A user and, for customers, their wallet's balance.
    pub async fn account(&self, user: UserId) -> Result<Option<(UserRecord, Option<AccountBalance>)>, ServiceError> {
        let Some(user) = self.store.user(user).await? else {
            return Ok(None);
        };
        let balance = match user.wallet {
            Some(wallet) => Some(self.store.balance(wallet).await?),
            None => None,
        };
        Ok(Some((user, balance)))
    }

    /// Real-name verification. Order: a customer, not yet verified, the age
    /// rule on the service clock's date, the identity provider, then the
    /// per-identity account limit (in the store, atomically).
    pub async fn verify(&self, user: &UserRecord, name: &LegalName, number: &IdNumber) -> Answer<UserRecord> {
        if user.role.is_staff() {
            return Ok(Err(AccountRefusal::NotCustomer));
        }
        if user.verified() {
            return Ok(Err(AccountRefusal::AlreadyVerified));
        }
        match number.check_age(self.clock.today(), self.config.limits.verification_min_age_years) {
            Ok(()) => {}
            Err(AgeError::BornInTheFuture) => return Ok(Err(AccountRefusal::BornInTheFuture)),
            Err(AgeError::BelowMinimum { min_age_years }) => return Ok(Err(AccountRefusal::BelowMinimumAge { min_age_years })),
        }
        match self.identity_provider.confirm(name, number).await {
            Ok(()) => {}
            Err(IdentityRejection::NotConfirmed) => return Ok(Err(AccountRefusal::IdentityNotConfirmed)),
            Err(IdentityRejection::Unavailable(detail)) => return Err(ServiceError::IdentityProviderUnavailable(detail)),
        }
        let row = user.id.as_bytes().to_vec();
        let verification = Verification {
            legal_name_enc: self.vault.encrypt(Slot { table: "users", column: "legal_name_enc", row: &row }, name.expose()),
            id_number_enc: self.vault.encrypt(Slot { table: "users", column: "id_number_enc", row: &row }, number.expose()),
            id_number_index: self.vault.blind_index("id_number", number.expose()),
            masked_name: name.masked().as_str().to_owned(),
            id_last4: number.last4().to_owned(),
            verified_at_us: self.clock.now_us(),
        };
        // During a key rotation the identity may still be counted under the previous key's index.
        let previous_index = self.vault.previous_blind_index("id_number", number.expose());
        match self.store.verify_user_indexed(user.id, verification, self.config.limits.accounts_per_identity_max, previous_index).await {
            Ok(user) => {
                tracing::info!(user = %user.id, "real-name verification completed");
                Ok(Ok(user))
            }
            Err(StoreError::AlreadyVerified) => Ok(Err(AccountRefusal::AlreadyVerified)),
            Err(StoreError::IdentityLimitReached) => Ok(Err(AccountRefusal::IdentityLimitReached)),
            Err(error) => Err(error.into()),
        }
    }

    /// The verified legal name of `user`, decrypted for a comparison that needs it.
    pub(crate) async fn legal_name_of(&self, user: UserId) -> Result<Option<LegalName>, ServiceError> {
        let Some(identity) = self.store.encrypted_identity(user).await? else {
            return Ok(None);
        };
        let row = user.as_bytes().to_vec();
        let text = self
            .vault
            .decrypt(Slot { table: "users", column: "legal_name_enc", row: &row }, &identity.legal_name_enc)?;
        LegalName::parse(&text).map(Some).map_err(|e| ServiceError::Internal(format!("a stored legal name does not parse: {e}")))
    }

    /// Bind a bank card. Order: a customer, verified, the holder is the
    /// verified legal name, then not already bound (in the store).
    pub async fn bind_card(&self, user: &UserRecord, card: &CardNumber, holder: &LegalName) -> Answer<CardRecord> {
        if user.role.is_staff() {
            return Ok(Err(AccountRefusal::NotCustomer));
        }
        if !user.verified() {
            return Ok(Err(AccountRefusal::NotVerified));
        }
        let Some(legal_name) = self.legal_name_of(user.id).await? else {
            return Ok(Err(AccountRefusal::NotVerified));
        };
        if !legal_name.same_name_as(holder) {
            return Ok(Err(AccountRefusal::CardHolderMismatch));
        }
        let id = CardId::new();
        let row = id.as_bytes().to_vec();
        let new_card = NewCard {
            id,
            user: user.id,
            card_enc: self.vault.encrypt(Slot { table: "cards", column: "card_enc", row: &row }, card.expose()),
            card_index: self.vault.blind_index("card_number", card.expose()),
            last4: card.last4().to_owned(),
            created_at_us: self.clock.now_us(),
        };
        let previous_index = self.vault.previous_blind_index("card_number", card.expose());
        match self.store.bind_card_indexed(new_card, previous_index).await {
            Ok(record) => Ok(Ok(record)),
            Err(StoreError::CardAlreadyBound) => Ok(Err(AccountRefusal::CardAlreadyBound)),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn cards_of(&self, user: UserId) -> Result<Vec<CardRecord>, ServiceError> {
        Ok(self.store.cards_of(user).await?)
    }

    /// Refuse a nickname or avatar change beyond `limits.profile_changes_per_day`.
    async fn profile_change_allowed(&self, user: UserId) -> Result<Result<(), AccountRefusal>, ServiceError> {
        let now_us = self.clock.now_us();
        let (changes, oldest_us) = self.store.profile_changes_since(user, now_us - DAY_US).await?;
        if changes >= self.config.limits.profile_changes_per_day {
            let retry_after_seconds = ((oldest_us + DAY_US - now_us) / 1_000_000).max(1);
            return Ok(Err(AccountRefusal::TooManyChanges { retry_after_seconds }));
        }
        Ok(Ok(()))
    }

    /// Change the nickname (kept in its history) and the transfer
    /// preferences (`default_arrival`, `require_acceptance`), all or nothing.
    /// Order: preferences need a wallet; a new nickname counts against the
    /// daily cap (the same nickname is no change).
    pub async fn update_profile(&self, user: &UserRecord, nickname: Option<&Nickname>, default_arrival: Option<Arrival>, require_acceptance: Option<bool>) -> Answer<()> {
        if (default_arrival.is_some() || require_acceptance.is_some()) && user.wallet.is_none() {
            return Ok(Err(AccountRefusal::NotCustomer));
        }
        let nickname = nickname.filter(|n| n.as_str() != user.nickname);
        if nickname.is_some()
            && let Err(refusal) = self.profile_change_allowed(user.id).await?
        {
            return Ok(Err(refusal));
        }
        let changes = ProfileChanges { nickname: nickname.map(|n| n.as_str().to_owned()), default_arrival, require_acceptance };
        self.store.update_profile(user.id, changes, self.clock.now_us()).await?;
        Ok(Ok(()))
    }

    /// Change the avatar (every image is kept, with its time).
    pub async fn change_avatar(&self, user: &UserRecord, avatar: NewAvatar) -> Answer<()> {
        if let Err(refusal) = self.profile_change_allowed(user.id).await? {
            return Ok(Err(refusal));
        }
        self.store.set_avatar(avatar_record(user.id, avatar, self.clock.now_us())).await?;
        Ok(Ok(()))
    }

    pub async fn avatar(&self, avatar: uuid::Uuid) -> Result<Option<Avatar>, ServiceError> {
        Ok(self.store.avatar(avatar).await?)
    }
}
