//! Bank card numbers: 12–19 digits with a Luhn check digit.

use thiserror::Error;

#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber(String);

impl std::fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CardNumber(…{})", self.last4())
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CardNumberError {
    #[error("a card number has 12 to 19 digits")]
    Format,
    #[error("the card number's check digit (Luhn) does not match")]
    CheckDigit,
}

pub fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Append the Luhn digit to a digit string (tests, demo).
pub fn with_luhn_digit(prefix: &str) -> String {
    (0..=9u8)
        .map(|d| format!("{prefix}{d}"))
        .find(|candidate| luhn_valid(candidate.as_bytes()))
        .expect("one of ten check digits always fits")
}

impl CardNumber {
    pub fn parse(input: &str) -> Result<CardNumber, CardNumberError> {
        if input.len() > 40 {
            return Err(CardNumberError::Format);
        }
        let digits: String = input.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if !(12..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardNumberError::Format);
        }
        if !luhn_valid(digits.as_bytes()) {
            return Err(CardNumberError::CheckDigit);
        }
        Ok(CardNumber(digits))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_table() {
        assert_eq!(CardNumber::parse("4111 1111 1111 1111").unwrap().last4(), "1111");
        assert_eq!(CardNumber::parse("4111111111111112"), Err(CardNumberError::CheckDigit));
        assert_eq!(CardNumber::parse("41111"), Err(CardNumberError::Format));
        assert_eq!(CardNumber::parse("4111x11111111111"), Err(CardNumberError::Format));
        let generated = with_luhn_digit("622202123456789012");
        assert!(CardNumber::parse(&generated).is_ok());
        let dashed = format!("{}-{}", &generated[..4], &generated[4..]);
        assert_eq!(CardNumber::parse(&dashed).unwrap().expose(), generated);
    }
}
