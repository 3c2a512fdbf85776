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
    /// An invisible or text-direction character outside an emoji: see
    /// [`crate::lookalike::hidden_character`].
    #[error("must not contain invisible or text-direction characters")]
    HiddenCharacter,
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

    /// A clean line (see [`clean_line`]) without invisible or text-direction
    /// characters, except the joiners and selectors inside emoji
    /// ([`crate::lookalike::hidden_character`]): such characters only serve
    /// to make a copy of someone else's nickname look different to a
    /// computer, or the same to a person. Nicknames made before this rule
    /// may still carry them; look-alike detection ignores them.
    pub fn parse(input: &str) -> Result<Nickname, TextError> {
        let cleaned = clean_line(input, Self::MAX_CHARS, false)?;
        if crate::lookalike::hidden_character(&cleaned).is_some() {
            return Err(TextError::HiddenCharacter);
        }
        Ok(Nickname(cleaned))
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

    #[test]
    fn nicknames_refuse_hidden_characters() {
        for hidden in ["小\u{200B}明", "\u{202E}ecilA", "Alice\u{200E}", "\u{2066}Bob\u{2069}", "Al\u{00AD}ice", "\u{FEFF}小明", "A\u{FE0F}lice"] {
            assert_eq!(Nickname::parse(hidden), Err(TextError::HiddenCharacter), "{hidden:?}");
        }
        for emoji in ["❤️小明", "👩🏽\u{200D}💻 Alice", "小明 🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}"] {
            assert_eq!(Nickname::parse(emoji).map(|n| n.as_str().to_owned()), Ok(emoji.to_owned()), "{emoji:?}");
        }
        assert_eq!(Nickname::parse("\u{200B}"), Err(TextError::HiddenCharacter));
    }
}
