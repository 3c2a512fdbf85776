//! Passwords (Argon2id, PHC strings) and session tokens.
//!
//! Session tokens are random 256-bit values handed to the client once; the
//! store keeps only their SHA-256, so a stolen database holds no usable
//! token. Checking a token is one indexed read — no password hashing per
//! request — and because sessions live in the store, every instance sharing
//! it accepts them.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use recourse_domain::refusal::AccountRefusal;
use sha2::{Digest, Sha256};

use crate::ServiceError;
use crate::config::PasswordHashing;

pub const TOKEN_PREFIX: &str = "rcs_";
pub const TOKEN_LEN_MAX: usize = 128;
pub const PASSWORD_CHARS_MIN: usize = 8;
pub const PASSWORD_CHARS_MAX: usize = 128;

/// A new session token and the hash the store keeps.
pub fn new_token() -> (String, Vec<u8>) {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).expect("the operating system's random source works");
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Argon2id hash as a PHC string. CPU-heavy: call from a blocking thread.
pub fn hash_password(params: &PasswordHashing, password: &str) -> Result<String, ServiceError> {
    let internal = |e: &dyn std::fmt::Display| ServiceError::Internal(format!("password hashing: {e}"));
    let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None).map_err(|e| internal(&e))?;
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password(password.as_bytes()).map_err(|e| internal(&e))?;
    Ok(hash.to_string())
}

/// Check a password against a stored PHC string (the string carries its own parameters).
pub fn verify_password(stored: &str, password: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

pub fn check_password_policy(password: &str) -> Result<(), AccountRefusal> {
    let chars = password.chars().count();
    if !(PASSWORD_CHARS_MIN..=PASSWORD_CHARS_MAX).contains(&chars) {
        return Err(AccountRefusal::PasswordLength { min_chars: PASSWORD_CHARS_MIN, max_chars: PASSWORD_CHARS_MAX });
    }
    if password.chars().all(|c| c == password.chars().next().unwrap_or(' ')) {
        return Err(AccountRefusal::PasswordRepeated);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_tokens_hash() {
        let stored = hash_password(&PasswordHashing::cheap_for_tests(), "correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify_password(&stored, "correct horse"));
        assert!(!verify_password(&stored, "wrong horse"));
        assert!(!verify_password("garbage", "x"));
        let (token, hash) = new_token();
        assert_eq!(hash_token(&token), hash);
        assert!(token.starts_with(TOKEN_PREFIX));
    }

    #[test]
    fn password_policy() {
        assert_eq!(check_password_policy("short"), Err(AccountRefusal::PasswordLength { min_chars: 8, max_chars: 128 }));
        assert_eq!(check_password_policy("aaaaaaaaaa"), Err(AccountRefusal::PasswordRepeated));
        assert!(check_password_policy("a good passphrase").is_ok());
    }
}
