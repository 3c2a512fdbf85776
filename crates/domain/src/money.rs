//! Money: integer fen, one currency, checked arithmetic. No floats anywhere.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The currencies the ledger knows. One today; the journal carries the
/// currency on every row so that adding one is a data change, not a schema change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Currency {
    #[serde(rename = "CNY")]
    Cny,
}

impl Currency {
    pub fn code(self) -> &'static str {
        match self {
            Currency::Cny => "CNY",
        }
    }
    pub fn parse(code: &str) -> Option<Currency> {
        match code {
            "CNY" => Some(Currency::Cny),
            _ => None,
        }
    }
}

/// Largest amount any single operation may move: ¥10,000,000.00. Far above
/// every configured product limit; it exists so that sums of many amounts can
/// never come near `i64::MAX`.
pub const AMOUNT_FEN_CEILING: i64 = 1_000_000_000;

/// A strictly positive amount of fen that one operation moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Amount(i64);

#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum AmountError {
    #[error("amount must be a positive whole number of fen")]
    NotPositive,
    #[error("amount exceeds the limit of {limit_fen} fen")]
    AboveLimit { limit_fen: i64 },
}

impl Amount {
    /// Parse a fen amount against a product limit (itself capped at
    /// [`AMOUNT_FEN_CEILING`]).
    pub fn from_fen(fen: i64, limit_fen: i64) -> Result<Amount, AmountError> {
        let limit_fen = limit_fen.min(AMOUNT_FEN_CEILING);
        if fen <= 0 {
            return Err(AmountError::NotPositive);
        }
        if fen > limit_fen {
            return Err(AmountError::AboveLimit { limit_fen });
        }
        Ok(Amount(fen))
    }

    /// Rebuild an amount read back from the store, where it was valid when written.
    pub fn from_stored(fen: i64) -> Amount {
        assert!(fen > 0 && fen <= AMOUNT_FEN_CEILING, "stored amount out of range: {fen}");
        Amount(fen)
    }

    pub fn fen(self) -> i64 {
        self.0
    }
}

/// Format fen as yuan for people ("¥1,234.56"). Display only; never parsed back.
pub fn format_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    let yuan = abs / 100;
    let cents = abs % 100;
    let digits = yuan.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}¥{grouped}.{cents:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_table() {
        let cases: &[(i64, i64, Result<i64, AmountError>)] = &[
            (1, 100, Ok(1)),
            (100, 100, Ok(100)),
            (0, 100, Err(AmountError::NotPositive)),
            (-5, 100, Err(AmountError::NotPositive)),
            (101, 100, Err(AmountError::AboveLimit { limit_fen: 100 })),
            (i64::MAX, i64::MAX, Err(AmountError::AboveLimit { limit_fen: AMOUNT_FEN_CEILING })),
        ];
        for (fen, limit, expected) in cases {
            assert_eq!(Amount::from_fen(*fen, *limit).map(Amount::fen), *expected, "{fen} / {limit}");
        }
    }

    #[test]
    fn yuan_formatting() {
        assert_eq!(format_yuan(0), "¥0.00");
        assert_eq!(format_yuan(123456), "¥1,234.56");
        assert_eq!(format_yuan(-5), "-¥0.05");
        assert_eq!(format_yuan(100000000), "¥1,000,000.00");
    }
}
