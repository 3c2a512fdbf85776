//! Real-name identity: legal names, resident identity numbers, and the one
//! masking rule every response uses.
//!
//! Masking rule (documented in README):
//! - Han names show only the last character: `张三` → `*三`, `王小明` → `**明`.
//! - Names with a middle dot (many minority names) show the first part and mask
//!   every character after the first dot: `买买提·艾力` → `买买提·**`.
//! - Latin names show the first letter of every word part of two or more
//!   letters: `John Smith` → `J*** S****`, `J. R. Smith` → `*. *. S****`.
//! - Identity numbers show only the last four: `**************123X`.

use jiff::civil::Date;
use serde::Serialize;
use thiserror::Error;
use unicode_normalization::UnicodeNormalization;

/// The canonical middle dot; every look-alike is folded into it.
pub const MIDDLE_DOT: char = '\u{00B7}';
pub(crate) const MIDDLE_DOT_VARIANTS: &[char] = &[
    '\u{00B7}', '\u{0387}', '\u{2022}', '\u{2027}', '\u{2219}', '\u{22C5}', '\u{30FB}', '\u{FF65}', '\u{16EB}', '.',
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameScript {
    Han,
    Latin,
}

/// A legal name as real names come. Plain text only ever lives in memory: the
/// store receives it encrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct LegalName {
    text: String,
    script: NameScript,
}

impl std::fmt::Debug for LegalName {
    // Never print a legal name, even in a debug log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LegalName({})", self.masked().as_str())
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NameError {
    #[error("a legal name must not be empty")]
    Empty,
    #[error("a legal name is at most {0} characters")]
    TooLong(usize),
    #[error("a legal name is written in Han characters (with a middle dot between parts if it has several) or in Latin letters, not a mix")]
    BadCharacters,
    #[error("a Han legal name has at least two characters, and no empty part around a middle dot")]
    BadShape,
}

pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3007 | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF | 0x2A700..=0x2EBEF | 0x30000..=0x3134F)
}

pub(crate) fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || (matches!(c as u32, 0xC0..=0x24F | 0x1E00..=0x1EFF) && c.is_alphabetic() && c != '×' && c != '÷')
}

fn is_latin_joiner(c: char) -> bool {
    matches!(c, ' ' | '-' | '\'' | '\u{2019}' | '.')
}

impl LegalName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(input: &str) -> Result<LegalName, NameError> {
        let nfc: String = input.nfc().collect();
        let collapsed = nfc.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.is_empty() {
            return Err(NameError::Empty);
        }
        if collapsed.chars().count() > Self::MAX_CHARS {
            return Err(NameError::TooLong(Self::MAX_CHARS));
        }
        if collapsed.chars().any(is_han) {
            return Self::parse_han(&collapsed);
        }
        Self::parse_latin(&collapsed)
    }

    fn parse_han(collapsed: &str) -> Result<LegalName, NameError> {
        let mut text = String::with_capacity(collapsed.len());
        for c in collapsed.chars() {
            if c == ' ' {
                continue; // 张 三 is 张三
            } else if MIDDLE_DOT_VARIANTS.contains(&c) {
                text.push(MIDDLE_DOT);
            } else if is_han(c) {
                text.push(c);
            } else {
                return Err(NameError::BadCharacters);
            }
        }
        let parts_ok = text.split(MIDDLE_DOT).all(|part| !part.is_empty());
        let han_count = text.chars().filter(|c| is_han(*c)).count();
        if !parts_ok || han_count < 2 {
            return Err(NameError::BadShape);
        }
        Ok(LegalName { text, script: NameScript::Han })
    }

    fn parse_latin(collapsed: &str) -> Result<LegalName, NameError> {
        let first_is_letter = collapsed.chars().next().is_some_and(is_latin_letter);
        let all_allowed = collapsed.chars().all(|c| is_latin_letter(c) || is_latin_joiner(c));
        let letters = collapsed.chars().filter(|c| is_latin_letter(*c)).count();
        if !first_is_letter || !all_allowed {
            return Err(NameError::BadCharacters);
        }
        if letters < 2 {
            return Err(NameError::BadShape);
        }
        Ok(LegalName { text: collapsed.to_owned(), script: NameScript::Latin })
    }

    /// The plain text. Callers: the vault (to encrypt) and lawful disclosure. Nobody else.
    pub fn expose(&self) -> &str {
        &self.text
    }

    pub fn script(&self) -> NameScript {
        self.script
    }

    pub fn masked(&self) -> MaskedName {
        MaskedName(mask_name(&self.text, self.script))
    }

    /// Whether `other` names the same person as far as writing goes, under the
    /// one normalisation rule of [`crate::names::normalise`]: Unicode
    /// compatibility forms, spacing, middle-dot variants, traditional or
    /// simplified characters, Latin case and diacritics are ignored. A
    /// homophone is another name.
    pub fn same_name_as(&self, other: &LegalName) -> bool {
        self.comparison_key() == other.comparison_key()
    }

    fn comparison_key(&self) -> String {
        crate::names::normalise(&self.text)
    }
}

fn mask_name(text: &str, script: NameScript) -> String {
    match script {
        NameScript::Han => match text.split_once(MIDDLE_DOT) {
            Some((first, rest)) => {
                let masked_rest: String = rest.chars().map(|c| if c == MIDDLE_DOT { c } else { '*' }).collect();
                format!("{first}{MIDDLE_DOT}{masked_rest}")
            }
            None => {
                let count = text.chars().count();
                let last = text.chars().last().unwrap_or('*');
                let mut masked = "*".repeat(count.saturating_sub(1));
                masked.push(last);
                masked
            }
        },
        NameScript::Latin => {
            // The first letter of each word part shows, the rest is hidden;
            // apostrophes belong to their word (O'Neil → O'****). A part of one
            // letter ("J." in "J. R. Smith") hides that letter, so that no
            // name is ever shown whole.
            let chars: Vec<char> = text.chars().collect();
            let mut masked = String::with_capacity(text.len());
            let mut index = 0;
            while index < chars.len() {
                if !is_latin_letter(chars[index]) {
                    masked.push(chars[index]);
                    index += 1;
                    continue;
                }
                let start = index;
                let in_word = |i: usize| {
                    is_latin_letter(chars[i]) || (matches!(chars[i], '\'' | '\u{2019}') && chars.get(i + 1).copied().is_some_and(is_latin_letter))
                };
                while index < chars.len() && in_word(index) {
                    index += 1;
                }
                let letters = chars[start..index].iter().filter(|c| is_latin_letter(**c)).count();
                for (offset, c) in chars[start..index].iter().enumerate() {
                    let shown = offset == 0 && letters > 1;
                    masked.push(if !is_latin_letter(*c) || shown { *c } else { '*' });
                }
            }
            masked
        }
    }
}

/// A name as others may see it. Only constructible by masking a [`LegalName`]
/// or by reading back a mask the store kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MaskedName(String);

impl MaskedName {
    pub fn from_stored(masked: String) -> MaskedName {
        debug_assert!(masked.contains('*'), "a stored mask must hide something");
        MaskedName(masked)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An 18-character resident identity number (GB 11643-1999).
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

impl std::fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdNumberError {
    #[error("an identity number has 18 characters: 17 digits and a check digit (0-9 or X)")]
    Format,
    #[error("the identity number's region code is not a mainland, Hong Kong, Macao or Taiwan province code")]
    Region,
    #[error("the identity number's birth date is not a real date")]
    BirthDate,
    #[error("the identity number's check digit does not match")]
    CheckDigit,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AgeError {
    #[error("the identity number's birth date is in the future")]
    BornInTheFuture,
    #[error("real-name verification needs an age of at least {min_age_years}")]
    BelowMinimum { min_age_years: i16 },
}

const CHECK_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: [u8; 11] = *b"10X98765432";
const PROVINCE_CODES: &[u32] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62,
    63, 64, 65, 71, 81, 82, 83,
];

/// The check character for the first 17 digits.
pub fn id_check_char(first17: &[u8]) -> char {
    debug_assert_eq!(first17.len(), 17);
    let sum: u32 = first17.iter().zip(CHECK_WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    CHECK_CHARS[(sum % 11) as usize] as char
}

impl IdNumber {
    pub fn parse(input: &str) -> Result<IdNumber, IdNumberError> {
        let upper = input.trim().to_ascii_uppercase();
        let bytes = upper.as_bytes();
        if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) || !(bytes[17].is_ascii_digit() || bytes[17] == b'X') {
            return Err(IdNumberError::Format);
        }
        let province = u32::from(bytes[0] - b'0') * 10 + u32::from(bytes[1] - b'0');
        if !PROVINCE_CODES.contains(&province) {
            return Err(IdNumberError::Region);
        }
        birth_date_of(&upper)?;
        if id_check_char(&bytes[..17]) != bytes[17] as char {
            return Err(IdNumberError::CheckDigit);
        }
        Ok(IdNumber(upper))
    }

    pub fn birth_date(&self) -> Date {
        birth_date_of(&self.0).expect("parsed identity numbers have valid birth dates")
    }

    /// Whole years of age on `today`.
    pub fn age_on(&self, today: Date) -> i16 {
        let birth = self.birth_date();
        let mut age = today.year() - birth.year();
        if (today.month(), today.day()) < (birth.month(), birth.day()) {
            age -= 1;
        }
        age
    }

    /// The age rule of real-name verification, on the operator's `today`.
    pub fn check_age(&self, today: Date, min_age_years: i16) -> Result<(), AgeError> {
        if self.birth_date() > today {
            return Err(AgeError::BornInTheFuture);
        }
        if self.age_on(today) < min_age_years {
            return Err(AgeError::BelowMinimum { min_age_years });
        }
        Ok(())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn last4(&self) -> &str {
        &self.0[14..]
    }

    pub fn masked(&self) -> String {
        mask_id_last4(self.last4())
    }
}

pub fn mask_id_last4(last4: &str) -> String {
    format!("**************{last4}")
}

fn birth_date_of(number: &str) -> Result<Date, IdNumberError> {
    let year: i16 = number[6..10].parse().map_err(|_| IdNumberError::BirthDate)?;
    let month: i8 = number[10..12].parse().map_err(|_| IdNumberError::BirthDate)?;
    let day: i8 = number[12..14].parse().map_err(|_| IdNumberError::BirthDate)?;
    if year < 1900 {
        return Err(IdNumberError::BirthDate);
    }
    Date::new(year, month, day).map_err(|_| IdNumberError::BirthDate)
}

/// Build a valid identity number for tests, demos and benchmarks.
pub fn make_id_number(region6: &str, birth: Date, sequence3: u16) -> String {
    let first17 = format!("{region6}{:04}{:02}{:02}{:03}", birth.year(), birth.month(), birth.day(), sequence3 % 1000);
    let check = id_check_char(first17.as_bytes());
    format!("{first17}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn names_table() {
        let cases: &[(&str, Result<&str, NameError>)] = &[
            ("张三", Ok("*三")),
            ("王小明", Ok("**明")),
            (" 欧阳 娜娜 ", Ok("***娜")),
            ("买买提·艾力", Ok("买买提·**")),
            ("买买提•艾力", Ok("买买提·**")),
            ("阿依古丽・买买提·吐尔逊", Ok("阿依古丽·***·***")),
            ("John Smith", Ok("J*** S****")),
            ("Anne-Marie  O'Neil", Ok("A***-M**** O'****")),
            ("José Núñez", Ok("J*** N****")),
            ("J. R. Smith", Ok("*. *. S****")),
            ("A B", Ok("* *")),
            ("", Err(NameError::Empty)),
            ("张", Err(NameError::BadShape)),
            ("·艾力", Err(NameError::BadShape)),
            ("买买提··艾力", Err(NameError::BadShape)),
            ("张3", Err(NameError::BadCharacters)),
            ("张John", Err(NameError::BadCharacters)),
            ("J0hn", Err(NameError::BadCharacters)),
            ("-John", Err(NameError::BadCharacters)),
            ("J", Err(NameError::BadShape)),
            ("<script>", Err(NameError::BadCharacters)),
        ];
        for (input, expected) in cases {
            let got = LegalName::parse(input).map(|n| n.masked().as_str().to_owned());
            assert_eq!(got.as_deref().map_err(|e| e.clone_kind()), expected.as_ref().map(|s| *s).map_err(|e| e.clone_kind()), "{input}");
        }
    }

    impl NameError {
        fn clone_kind(&self) -> u8 {
            match self {
                NameError::Empty => 0,
                NameError::TooLong(_) => 1,
                NameError::BadCharacters => 2,
                NameError::BadShape => 3,
            }
        }
    }

    #[test]
    fn same_name_ignores_formatting() {
        let a = LegalName::parse("买买提·艾力").unwrap();
        let b = LegalName::parse("买买提・艾力").unwrap();
        assert!(a.same_name_as(&b));
        let c = LegalName::parse("john  SMITH").unwrap();
        assert!(LegalName::parse("John Smith").unwrap().same_name_as(&c));
        assert!(!LegalName::parse("张三").unwrap().same_name_as(&LegalName::parse("张四").unwrap()));
    }

    #[test]
    fn debug_never_shows_the_name() {
        let name = LegalName::parse("王小明").unwrap();
        assert!(!format!("{name:?}").contains("小"));
        let id = IdNumber::parse(&make_id_number("110101", date(1990, 3, 7), 123)).unwrap();
        assert!(!format!("{id:?}").contains("1990"));
    }

    #[test]
    fn id_numbers_table() {
        // 11010519491231002X is the standard's own worked example.
        assert_eq!(IdNumber::parse("11010519491231002X").unwrap().masked(), "**************002X");
        assert_eq!(IdNumber::parse("11010519491231002x").unwrap().expose(), "11010519491231002X");
        let cases: &[(&str, IdNumberError)] = &[
            ("110105194912310021", IdNumberError::CheckDigit),
            ("1101051949123100", IdNumberError::Format),
            ("11010519491231002Y", IdNumberError::Format),
            ("99010519491231002X", IdNumberError::Region),
            ("110105194913310029", IdNumberError::BirthDate),
            ("110105189001010011", IdNumberError::BirthDate),
        ];
        for (input, expected) in cases {
            assert_eq!(IdNumber::parse(input).unwrap_err(), *expected, "{input}");
        }
    }

    #[test]
    fn ages() {
        let id = IdNumber::parse(&make_id_number("310101", date(2010, 6, 15), 1)).unwrap();
        assert_eq!(id.age_on(date(2026, 6, 14)), 15);
        assert_eq!(id.age_on(date(2026, 6, 15)), 16);
        assert_eq!(id.birth_date(), date(2010, 6, 15));
        assert_eq!(id.check_age(date(2026, 6, 15), 16), Ok(()));
        assert_eq!(id.check_age(date(2026, 6, 14), 16), Err(AgeError::BelowMinimum { min_age_years: 16 }));
        assert_eq!(id.check_age(date(2010, 6, 14), 0), Err(AgeError::BornInTheFuture));
    }
}
