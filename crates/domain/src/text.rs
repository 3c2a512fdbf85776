//! Free text that people choose: nicknames and transfer notes.

use thiserror::Error;
use unicode_normalization::UnicodeNormalization;

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max_chars} characters")]
    TooLong { max_chars: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
}

/// NFC-normalise, trim, and bound a short single-line text.
pub fn clean_line(input: &str, max_chars: usize, allow_empty: bool) -> Result<String, TextError> {
    let normalized: String = input.trim().nfc().collect();
    if normalized.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter);
    }
    let count = normalized.chars().count();
    if count == 0 && !allow_empty {
        return Err(TextError::Empty);
    }
    if count > max_chars {
        return Err(TextError::TooLong { max_chars });
    }
    Ok(normalized)
}

/// A nickname: chosen by its owner, shown to others, never trusted as identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nickname(String);

impl Nickname {
    pub const MAX_CHARS: usize = 32;
    pub fn parse(input: &str) -> Result<Nickname, TextError> {
        clean_line(input, Self::MAX_CHARS, false).map(Nickname)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A transfer note, shown to both sides.
pub const NOTE_MAX_CHARS: usize = 140;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames() {
        assert_eq!(Nickname::parse("  小明 ").unwrap().as_str(), "小明");
        assert_eq!(Nickname::parse("   "), Err(TextError::Empty));
        assert_eq!(Nickname::parse("a\u{0}b"), Err(TextError::ControlCharacter));
        assert_eq!(Nickname::parse(&"长".repeat(33)), Err(TextError::TooLong { max_chars: 32 }));
        assert!(clean_line("", 10, true).is_ok());
    }
}
