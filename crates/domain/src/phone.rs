//! Mainland China mobile numbers: `+86` then 11 digits starting 1[3-9].

use serde::Serialize;
use thiserror::Error;

#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Phone(String);

/// Masked, like `LegalName`: a `Debug` of a command must not leak a number.
impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("a phone number must be a mainland mobile number: 11 digits starting 13–19, optionally prefixed +86")]
pub struct PhoneError;

impl Phone {
    /// Accepts `13800138000`, `+8613800138000`, `+86 138 0013 8000`, `138-0013-8000`.
    /// Stores the canonical `+86XXXXXXXXXXX`.
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        if input.len() > 32 {
            return Err(PhoneError);
        }
        let compact: String = input.chars().filter(|c| *c != ' ' && *c != '-').collect();
        let national = compact.strip_prefix("+86").unwrap_or(&compact);
        let bytes = national.as_bytes();
        let well_formed = bytes.len() == 11
            && bytes.iter().all(u8::is_ascii_digit)
            && bytes[0] == b'1'
            && (b'3'..=b'9').contains(&bytes[1]);
        if !well_formed {
            return Err(PhoneError);
        }
        Ok(Phone(format!("+86{national}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `+86 138****8000`: enough to recognise one's own contact, not enough to harvest.
    pub fn masked(&self) -> String {
        let national = &self.0[3..];
        format!("+86 {}****{}", &national[..3], &national[7..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_table() {
        let ok = [
            ("13800138000", "+8613800138000"),
            ("+8613800138000", "+8613800138000"),
            ("+86 138 0013 8000", "+8613800138000"),
            ("199-0000-1111", "+8619900001111"),
        ];
        for (input, canonical) in ok {
            assert_eq!(Phone::parse(input).unwrap().as_str(), canonical, "{input}");
        }
        let bad = ["", "1380013800", "138001380001", "12800138000", "23800138000", "+1 13800138000", "1380013800a", "８１３８００１３８０００", "+86+8613800138000"];
        for input in bad {
            assert_eq!(Phone::parse(input), Err(PhoneError), "{input}");
        }
    }

    #[test]
    fn masking() {
        assert_eq!(Phone::parse("13800138000").unwrap().masked(), "+86 138****8000");
    }
}
