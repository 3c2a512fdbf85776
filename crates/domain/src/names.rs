//! Name comparison: the one normalisation rule for names, masked-name
//! completion, and the typed-name check of confirmation of payee.
//!
//! Everything here is pure. Text that people type is arbitrary: nothing in
//! this module panics on it or returns an error for it; what is not a name is
//! simply no match.
//!
//! # The normalisation rule
//!
//! Two texts are the same name, as far as writing goes, when they are equal
//! after [`normalise`]:
//! 1. Unicode NFKC: full-width and half-width forms, compatibility
//!    ideographs and ligatures are written the ordinary way (`ＪＯＨＮ` =
//!    `JOHN`);
//! 2. whitespace and zero-width characters removed (`张 伟` = `张伟`,
//!    `John  Smith` = `JohnSmith`);
//! 3. every middle-dot look-alike (`·` `•` `‧` `・` `･` `.` …, see
//!    [`crate::identity::MIDDLE_DOT`]) written as `·`, every dash as `-`,
//!    every apostrophe as `'`;
//! 4. traditional Chinese characters written simplified (`張偉` = `张伟`);
//!    where traditional Chinese has two characters for one simplified
//!    character (`後`/`后`, `髮`/`發`), they are the same here;
//! 5. Latin letters lower-cased and without diacritics (`José` = `jose`,
//!    `Łukasz` = `lukasz`: canonical decomposition, combining marks dropped,
//!    and the letters with a stroke `ł ø đ ħ ŧ ı` written plain).
//!
//! A homophone is a different character: `章伟` is not `张伟`.
//! The rule decides [`LegalName::same_name_as`] (card-holder names) and
//! [`completes`] (masked-name completion).
//!
//! # Masked-name completion
//!
//! A payer proves they know the payee by completing the masked name
//! ([`LegalName::masked`]): [`completes`] accepts, under the rule above,
//! either the whole legal name or exactly the characters the mask hides, in
//! order (`*伟` → `张`; `**明` → `王小`; `买买提·**` → `艾力`;
//! `J*** S****` → `ohnmith`, spaces ignored). Middle dots in the answer are
//! ignored when it is compared with the hidden characters: the mask shows
//! them, so retyping them is harmless. Nothing else is accepted: no
//! homophone, no typo, no initial.
//!
//! # Typed-name check (confirmation of payee)
//!
//! [`check_typed_name`] answers what Europe's Verification of Payee answers,
//! as a [`NameCheck`]. The checks run in this order; the first that holds
//! decides:
//! 1. The typed text is not a name (empty, digits, symbols, Han and Latin
//!    mixed, a script other than Han or Latin such as a Cyrillic look-alike
//!    letter, or longer than [`TYPED_TEXT_BYTES_MAX`]), or it is written in
//!    the other script than the legal name (`Zhang Wei` for `张伟`):
//!    [`NameCheck::NoMatch`].
//! 2. Equal after the formatting steps 1–3 and Latin case:
//!    [`NameCheck::Match`].
//! 3. Equal after the whole rule, that is, differing only by traditional or
//!    simplified characters (`張偉`, `張伟` for `张伟`) or by diacritics
//!    (`Jose Nunez` for `José Núñez`): [`NameCheck::CloseMatch`].
//! 4. Equal letter for letter once separators are ignored: a missing, extra
//!    or differently written separator (`买买提艾力`, `买买提-艾力`,
//!    `买买提 艾力` for `买买提·艾力`; `Anne Marie` for `Anne-Marie`;
//!    `ONeil` for `O'Neil`): [`NameCheck::CloseMatch`].
//! 5. Han names: the same number of characters, every one equal or a
//!    homophone (the same pinyin without tones, in any of either character's
//!    readings, so `单` matches `善` and `丹`, `曾` matches `增` and `层`), and
//!    at most [`HOMOPHONES_MAX`] homophone (`章伟` for `张伟`, but not `章炜`).
//!    Two characters that look alike (`己/已/巳`, `王/玉`, `大/太`, `侯/候` …)
//!    are never homophones of each other, even where a rare reading makes
//!    them sound alike: a similar-looking character is another name.
//!    Separators are ignored here. [`NameCheck::CloseMatch`].
//! 6. Latin names, with diacritics and separators already ignored:
//!    - the given names (every word but the last) given as initials, each
//!      initial the first letter of its word, the family name exact
//!      (`J Smith`, `J. Smith` for `John Smith`; `John R. Smith` for
//!      `John Robert Smith`);
//!    - the words rotated by one place: the family name moved to the front
//!      or the first name moved to the end (`Smith John`, `Smith, John` for
//!      `John Smith`);
//!    - one word with one typo (one letter substituted, inserted or deleted,
//!      or two neighbours swapped) where the legal word has at least
//!      [`TYPO_WORD_LETTERS_MIN`] letters (`Jon Smith`, `Jonh Smith`,
//!      `John Smyth` for `John Smith`; not `Mac Lee` for `Max Lee`).
//!
//!    [`NameCheck::CloseMatch`].
//! 7. Anything else: [`NameCheck::NoMatch`]. Only one near miss at a time:
//!    an initial together with a typo, or a swap together with an initial,
//!    is no match.
//!
//! Han names in swapped order (`伟张` for `张伟`, `艾力·买买提` for
//! `买买提·艾力`) are no match: Han names are always written family name
//! first, and swapping the parts of a minority name gives another person's
//! name (`艾力·买买提` is Ali, son of Mamat).
//!
//! A close match is a warning, not a pass, and it is kept narrow so that it
//! reveals little more than an exact answer would: initials are what the
//! mask shows anyway, and a Han near miss needs all characters but one
//! exactly right.
//!
//! # Speed
//!
//! [`PreparedName`] does the expensive work once per text (normalisation,
//! traditional → simplified, pinyin readings, Latin words); [`compare`] on
//! two prepared names does not allocate. Prepare a payee's legal name once
//! and compare every typed name against it.

use std::borrow::Cow;
use std::fmt;

use pinyin::ToPinyinMulti;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::identity::{LegalName, MIDDLE_DOT, MIDDLE_DOT_VARIANTS, NameScript, is_han, is_latin_letter};

/// The longest typed text (answer or typed name) that is looked at, in UTF-8
/// bytes; anything longer is no name. A legal name is at most
/// [`LegalName::MAX_CHARS`] characters, so this is generous.
pub const TYPED_TEXT_BYTES_MAX: usize = 1024;

/// At most this many characters of a Han name may be homophones of the legal
/// name's for a close match.
pub const HOMOPHONES_MAX: usize = 1;

/// A one-letter typo is a close match only in a legal word of at least this
/// many letters: in shorter words one letter makes another name.
pub const TYPO_WORD_LETTERS_MIN: usize = 4;

/// The answer of a typed-name check, as in Europe's Verification of Payee.
/// (When the payee has no verified name the caller answers "not possible";
/// that is not a comparison.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameCheck {
    /// The legal name, written differently only in formatting: spacing,
    /// full-/half-width forms, middle-dot variants, Latin case.
    Match,
    /// A near miss people make typing the right person's name: traditional
    /// and simplified characters, diacritics, a separator, one Han homophone,
    /// Latin initials, swapped Latin word order, one Latin typo.
    CloseMatch,
    /// Anything else, including text that is not a name at all.
    NoMatch,
}

impl NameCheck {
    /// The wire name: `match`, `close_match`, `no_match`.
    pub fn as_str(self) -> &'static str {
        match self {
            NameCheck::Match => "match",
            NameCheck::CloseMatch => "close_match",
            NameCheck::NoMatch => "no_match",
        }
    }
}

/// The one normalisation rule (see the module documentation): the key under
/// which two names are the same name. Linear in the text; any text is fine.
pub fn normalise(text: &str) -> String {
    fold_key(&format_key(&format_text(text)))
}

/// Whether `answer` completes the masked name of `legal`: it is, under
/// [`normalise`], the whole legal name or exactly the characters the mask
/// hides, in order (middle dots in the answer ignored). Any text is fine;
/// empty, over-long or garbage text completes nothing.
pub fn completes(legal: &LegalName, answer: &str) -> bool {
    if answer.len() > TYPED_TEXT_BYTES_MAX {
        return false;
    }
    let answer_key = normalise(answer);
    if answer_key.is_empty() {
        return false;
    }
    if answer_key == normalise(legal.expose()) {
        return true;
    }
    let hidden_key = normalise(&hidden_characters(legal));
    debug_assert!(!hidden_key.is_empty(), "every mask hides something");
    // Middle dots are ignored on both sides: a hidden letter may carry one
    // (Ŀ is L with a middle dot under NFKC).
    answer_key.chars().filter(|c| *c != MIDDLE_DOT).eq(hidden_key.chars().filter(|c| *c != MIDDLE_DOT))
}

/// The characters `legal.masked()` replaces with `*`, in order. The mask
/// keeps every character's place, so name and mask line up one to one.
fn hidden_characters(legal: &LegalName) -> String {
    let masked = legal.masked();
    debug_assert_eq!(masked.as_str().chars().count(), legal.expose().chars().count(), "a mask keeps every character's place");
    legal.expose().chars().zip(masked.as_str().chars()).filter(|(_, shown)| *shown == '*').map(|(hidden, _)| hidden).collect()
}

/// The typed-name check of confirmation of payee: how `typed` compares with
/// the payee's `legal` name (rules in the module documentation). Any text is
/// fine; what is not a name is [`NameCheck::NoMatch`].
pub fn check_typed_name(legal: &LegalName, typed: &str) -> NameCheck {
    compare(&PreparedName::legal(legal), &PreparedName::typed(typed))
}

/// The typed-name check on prepared names; does not allocate. Not symmetric:
/// initials and typo lengths are judged against `legal`.
pub fn compare(legal: &PreparedName, typed: &PreparedName) -> NameCheck {
    let (Some(legal_script), Some(typed_script)) = (legal.script, typed.script) else {
        return NameCheck::NoMatch;
    };
    if legal_script != typed_script {
        return NameCheck::NoMatch;
    }
    if legal.format_key == typed.format_key {
        return NameCheck::Match;
    }
    if legal.folded_key == typed.folded_key || legal.letters == typed.letters {
        return NameCheck::CloseMatch;
    }
    let close = match legal_script {
        NameScript::Han => differs_by_homophones(legal, typed),
        NameScript::Latin => {
            given_names_as_initials(legal, typed) || words_rotated(legal, typed) || one_word_has_one_typo(legal, typed)
        }
    };
    if close { NameCheck::CloseMatch } else { NameCheck::NoMatch }
}

/// A name made ready for [`compare`]: built once per legal name or typed
/// text. Holds the name's text in normalised forms, so, like [`LegalName`],
/// its `Debug` never shows it.
#[derive(Clone)]
pub struct PreparedName {
    /// `None`: the text is not a name.
    script: Option<NameScript>,
    /// Rule steps 1–3 and lower case.
    format_key: String,
    /// The whole rule: [`normalise`].
    folded_key: String,
    /// The folded letters (Latin) or characters (Han) without any separator.
    letters: Vec<char>,
    /// Latin: the words, as ranges of `letters`.
    words: Vec<Span>,
    /// Han: one range of `readings` per character of `letters`.
    reading_spans: Vec<Span>,
    /// Han: toneless pinyin readings, deduplicated per character.
    readings: Vec<&'static str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl fmt::Debug for PreparedName {
    // Never print a name, not even normalised.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedName")
            .field("script", &self.script)
            .field("letters", &self.letters.len())
            .field("words", &self.words.len())
            .finish_non_exhaustive()
    }
}

impl PreparedName {
    /// Prepare a payee's legal name (always a name).
    pub fn legal(legal: &LegalName) -> PreparedName {
        let prepared = Self::build(legal.expose());
        debug_assert_eq!(prepared.script, Some(legal.script()), "a legal name is always a name in its own script");
        prepared
    }

    /// Prepare text someone typed. Any text is fine: what is not a name (see
    /// the module documentation) prepares as "not a name", which matches
    /// nothing.
    pub fn typed(text: &str) -> PreparedName {
        if text.len() > TYPED_TEXT_BYTES_MAX {
            return Self::not_a_name();
        }
        Self::build(text)
    }

    /// The script the text is written in; `None` when it is not a name.
    pub fn script(&self) -> Option<NameScript> {
        self.script
    }

    fn not_a_name() -> PreparedName {
        PreparedName {
            script: None,
            format_key: String::new(),
            folded_key: String::new(),
            letters: Vec::new(),
            words: Vec::new(),
            reading_spans: Vec::new(),
            readings: Vec::new(),
        }
    }

    fn build(text: &str) -> PreparedName {
        let formatted = format_text(text);
        let Some(script) = script_of(&formatted) else {
            return Self::not_a_name();
        };
        let format_key = format_key(&formatted);
        let folded_key = fold_key(&format_key);
        let mut prepared = PreparedName { script: Some(script), format_key, folded_key, ..Self::not_a_name() };
        match script {
            NameScript::Han => prepared.add_han_readings(),
            NameScript::Latin => prepared.add_latin_words(&formatted),
        }
        debug_assert!(!prepared.letters.is_empty(), "a name has a letter");
        prepared
    }

    fn add_han_readings(&mut self) {
        self.letters = self.folded_key.chars().filter(|c| !is_separator(*c)).collect();
        self.reading_spans.reserve(self.letters.len());
        for c in &self.letters {
            let start = self.readings.len();
            for reading in c.to_pinyin_multi().into_iter().flatten() {
                let plain = reading.plain();
                if !self.readings[start..].contains(&plain) {
                    self.readings.push(plain);
                }
            }
            self.reading_spans.push(Span { start, end: self.readings.len() });
        }
    }

    /// Words are split at whitespace, dashes, middle dots (and full stops)
    /// and commas; an apostrophe belongs to its word and is dropped.
    fn add_latin_words(&mut self, formatted: &str) {
        let mut start = 0;
        for c in formatted.chars() {
            if is_separator(c) || c == WORD_BREAK || c == ',' {
                if self.letters.len() > start {
                    self.words.push(Span { start, end: self.letters.len() });
                }
                start = self.letters.len();
            } else if c != '\'' {
                fold_char(c, |folded| self.letters.push(folded));
            }
        }
        if self.letters.len() > start {
            self.words.push(Span { start, end: self.letters.len() });
        }
    }

    fn word(&self, index: usize) -> &[char] {
        let span = self.words[index];
        &self.letters[span.start..span.end]
    }

    fn readings_at(&self, index: usize) -> &[&'static str] {
        let span = self.reading_spans[index];
        &self.readings[span.start..span.end]
    }
}

// ---- The normalisation steps ----

/// Marks a run of whitespace in a formatted text, so that Latin words can be
/// found; no key contains it.
const WORD_BREAK: char = ' ';

/// Not whitespace to Unicode, but invisible; pasted text carries them.
const ZERO_WIDTH: &[char] = &['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}'];

/// Written `-`. (NFKC already turns U+2011, U+FE63 and U+FF0D into these.)
const DASH_VARIANTS: &[char] =
    &['\u{2010}', '\u{2011}', '\u{2012}', '\u{2013}', '\u{2014}', '\u{2015}', '\u{2212}', '\u{FE58}', '\u{FE63}', '\u{FF0D}'];

/// Written `'`.
const APOSTROPHE_VARIANTS: &[char] = &['\u{2018}', '\u{2019}', '\u{02BC}', '\u{FF07}'];

/// Latin letters with a stroke have no canonical decomposition; written plain.
const STROKE_FOLDS: &[(char, char)] = &[('ł', 'l'), ('ø', 'o'), ('đ', 'd'), ('ħ', 'h'), ('ŧ', 't'), ('ı', 'i')];

/// Rule steps 1–3: NFKC; a run of whitespace becomes one [`WORD_BREAK`] (none
/// at the ends); zero-width characters go; look-alike marks are written one
/// way. Case is kept.
fn format_text(text: &str) -> String {
    let mut formatted = String::with_capacity(text.len());
    let mut break_pending = false;
    for c in text.nfkc() {
        if c.is_whitespace() {
            break_pending = true;
            continue;
        }
        if ZERO_WIDTH.contains(&c) {
            continue;
        }
        if break_pending && !formatted.is_empty() {
            formatted.push(WORD_BREAK);
        }
        break_pending = false;
        formatted.push(canonical_mark(c));
    }
    formatted
}

fn canonical_mark(c: char) -> char {
    if c.is_ascii_alphanumeric() || is_han(c) {
        c // the common case
    } else if MIDDLE_DOT_VARIANTS.contains(&c) {
        MIDDLE_DOT
    } else if DASH_VARIANTS.contains(&c) {
        '-'
    } else if APOSTROPHE_VARIANTS.contains(&c) {
        '\''
    } else {
        c
    }
}

/// The formatted text without word breaks, lower-cased: what [`NameCheck::Match`] compares.
fn format_key(formatted: &str) -> String {
    let mut key = String::with_capacity(formatted.len());
    for c in formatted.chars().filter(|c| *c != WORD_BREAK) {
        if c.is_ascii() {
            key.push(c.to_ascii_lowercase());
        } else {
            key.extend(c.to_lowercase());
        }
    }
    key
}

/// Rule steps 4–5 on a format key: traditional → simplified, then every
/// character through [`fold_char`].
fn fold_key(format_key: &str) -> String {
    // fast2s converts character by character (with a few two-character
    // exceptions such as 乾隆), so the text keeps its length.
    let simplified: Cow<'_, str> = if format_key.is_ascii() { Cow::Borrowed(format_key) } else { Cow::Owned(fast2s::convert(format_key)) };
    let mut key = String::with_capacity(simplified.len());
    for c in simplified.chars() {
        fold_char(c, |folded| key.push(folded));
    }
    key
}

/// Lower case, canonical decomposition without combining marks, strokes
/// written plain. A character folds to zero or more characters.
fn fold_char(c: char, mut push: impl FnMut(char)) {
    if c.is_ascii() {
        push(c.to_ascii_lowercase());
        return;
    }
    if is_han(c) {
        push(c);
        return;
    }
    for lower in c.to_lowercase() {
        for decomposed in std::iter::once(lower).nfd() {
            if is_combining_mark(decomposed) {
                continue;
            }
            let plain = STROKE_FOLDS.iter().find(|(stroked, _)| *stroked == decomposed).map_or(decomposed, |(_, plain)| *plain);
            push(plain);
        }
    }
}

/// Marks between the parts of a name: middle dots (full stops are middle
/// dots by now) and dashes.
fn is_separator(c: char) -> bool {
    c == MIDDLE_DOT || c == '-'
}

/// Letters that typed Latin text may carry besides [`is_latin_letter`]:
/// modifier letters (U+02B0–U+02FF) and combining diacritics that NFKC could
/// not compose (U+0300–U+036F), two neighbouring blocks.
fn is_latin_modifier(c: char) -> bool {
    matches!(c as u32, 0x02B0..=0x036F)
}

/// Which script a formatted text is a name in: Han characters with
/// separators, or Latin letters with separators, apostrophes and commas.
/// Nothing else is a name.
fn script_of(formatted: &str) -> Option<NameScript> {
    let mut han = false;
    let mut latin = false;
    let mut latin_only_marks = false;
    for c in formatted.chars() {
        if is_han(c) {
            han = true;
        } else if is_latin_letter(c) {
            latin = true;
        } else if is_latin_modifier(c) || c == '\'' || c == ',' {
            latin_only_marks = true;
        } else if !(is_separator(c) || c == WORD_BREAK) {
            return None;
        }
    }
    match (han, latin) {
        (true, false) if !latin_only_marks => Some(NameScript::Han),
        (false, true) => Some(NameScript::Latin),
        _ => None,
    }
}

// ---- The near-miss rules ----

/// Han rule: same length, every character equal or a homophone that does
/// not merely look alike, at most [`HOMOPHONES_MAX`] homophones.
fn differs_by_homophones(legal: &PreparedName, typed: &PreparedName) -> bool {
    if legal.letters.len() != typed.letters.len() {
        return false;
    }
    let mut homophones = 0;
    for (index, (legal_char, typed_char)) in legal.letters.iter().zip(&typed.letters).enumerate() {
        if legal_char == typed_char {
            continue;
        }
        let sound_alike = legal.readings_at(index).iter().any(|reading| typed.readings_at(index).contains(reading));
        if !sound_alike || look_alike(*legal_char, *typed_char) {
            return false;
        }
        homophones += 1;
        if homophones > HOMOPHONES_MAX {
            return false;
        }
    }
    homophones > 0
}

/// Groups of Han characters that are told apart by a stroke or a dot. Where
/// one of them also has a reading of another (已 yǐ/sì and 巳 sì/yǐ, 王 yù
/// and 玉 yù, 大 tài and 太 tài, 侯 hòu and 候 hòu) the sound rule would
/// otherwise pass a different name; the others are listed so that the table
/// says what it is for.
const LOOK_ALIKE_HAN: &[&[char]] = &[
    &['己', '已', '巳'],
    &['王', '玉', '主', '壬'],
    &['大', '太', '犬', '丈'],
    &['天', '夭'],
    &['未', '末'],
    &['戊', '戌', '戍', '戎'],
    &['土', '士'],
    &['日', '曰'],
    &['人', '入', '八'],
    &['干', '千', '于'],
    &['刀', '力'],
    &['侯', '候'],
    &['辨', '辩', '辫', '瓣'],
    &['密', '蜜'],
    &['贝', '见'],
    &['鸟', '乌'],
    &['免', '兔'],
    &['冶', '治'],
    &['折', '析'],
    &['拔', '拨'],
    &['汩', '汨'],
];

fn look_alike(a: char, b: char) -> bool {
    LOOK_ALIKE_HAN.iter().any(|group| group.contains(&a) && group.contains(&b))
}

/// Latin rule: the same words, but one or more given names (every word but
/// the last) typed as their initial; the family name exact.
fn given_names_as_initials(legal: &PreparedName, typed: &PreparedName) -> bool {
    let count = legal.words.len();
    if count < 2 || typed.words.len() != count || legal.word(count - 1) != typed.word(count - 1) {
        return false;
    }
    let mut initials = 0;
    for index in 0..count - 1 {
        let (legal_word, typed_word) = (legal.word(index), typed.word(index));
        if legal_word == typed_word {
            continue;
        }
        if typed_word.len() == 1 && legal_word.len() > 1 && typed_word[0] == legal_word[0] {
            initials += 1;
            continue;
        }
        return false;
    }
    initials > 0
}

/// Latin rule: the same words rotated by one place (family name first, or
/// first name last).
fn words_rotated(legal: &PreparedName, typed: &PreparedName) -> bool {
    let count = legal.words.len();
    if count < 2 || typed.words.len() != count {
        return false;
    }
    let family_name_first = (0..count).all(|index| typed.word(index) == legal.word((index + count - 1) % count));
    let first_name_last = (0..count).all(|index| typed.word(index) == legal.word((index + 1) % count));
    family_name_first || first_name_last
}

/// Latin rule: all words equal but one, which is one edit away from a legal
/// word of at least [`TYPO_WORD_LETTERS_MIN`] letters.
fn one_word_has_one_typo(legal: &PreparedName, typed: &PreparedName) -> bool {
    let count = legal.words.len();
    if typed.words.len() != count {
        return false;
    }
    let mut differing = None;
    for index in 0..count {
        if legal.word(index) != typed.word(index) {
            if differing.is_some() {
                return false;
            }
            differing = Some(index);
        }
    }
    let Some(index) = differing else {
        return false;
    };
    let legal_word = legal.word(index);
    legal_word.len() >= TYPO_WORD_LETTERS_MIN && one_edit_apart(legal_word, typed.word(index))
}

/// Whether `a` and `b` are exactly one edit apart: one substitution, one
/// insertion or deletion, or one swap of neighbours (optimal string
/// alignment distance 1). No allocation.
fn one_edit_apart(a: &[char], b: &[char]) -> bool {
    let first_difference = a.iter().zip(b).position(|(x, y)| x != y);
    match a.len().abs_diff(b.len()) {
        0 => {
            let Some(at) = first_difference else {
                return false; // equal
            };
            let substituted = a[at + 1..] == b[at + 1..];
            let swapped = at + 1 < a.len() && a[at] == b[at + 1] && a[at + 1] == b[at] && a[at + 2..] == b[at + 2..];
            substituted || swapped
        }
        1 => {
            let (longer, shorter) = if a.len() > b.len() { (a, b) } else { (b, a) };
            let at = first_difference.unwrap_or(shorter.len());
            longer[at + 1..] == shorter[at..]
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::NameCheck::{CloseMatch, Match, NoMatch};
    use super::*;
    use proptest::prelude::*;

    /// (legal name, typed text, expected answer). The spec in a table.
    const CORPUS: &[(&str, &str, NameCheck)] = &[
        // Han: formatting only.
        ("张伟", "张伟", Match),
        ("张伟", " 张 伟 ", Match),
        ("张伟", "张\u{3000}伟", Match),
        ("张伟", "张\u{200B}伟", Match),
        ("王小明", "王小明", Match),
        ("張偉", "張偉", Match),
        ("欧阳娜娜", "欧阳 娜娜", Match),
        ("司马光", "司马光", Match),
        ("诸葛亮", "诸葛　亮", Match),
        ("买买提·艾力", "买买提·艾力", Match),
        ("买买提·艾力", "买买提•艾力", Match),
        ("买买提·艾力", "买买提‧艾力", Match),
        ("买买提·艾力", "买买提・艾力", Match),
        ("买买提·艾力", "买买提･艾力", Match),
        ("买买提·艾力", "买买提.艾力", Match),
        ("买买提·艾力", "买买提 · 艾力", Match),
        ("阿依古丽·买买提·吐尔逊", "阿依古丽・买买提•吐尔逊", Match),
        // Han: traditional and simplified.
        ("张伟", "張偉", CloseMatch),
        ("张伟", "張伟", CloseMatch),
        ("張偉", "张伟", CloseMatch),
        ("欧阳娜娜", "歐陽娜娜", CloseMatch),
        ("司马光", "司馬光", CloseMatch),
        ("诸葛亮", "諸葛亮", CloseMatch),
        ("阿依古丽·买买提·吐尔逊", "阿依古麗·買買提·吐爾遜", CloseMatch),
        // Han: one homophone, any reading, tones ignored.
        ("张伟", "章伟", CloseMatch),
        ("张伟", "章偉", CloseMatch),
        ("张伟", "张炜", CloseMatch),
        ("王小明", "汪小明", CloseMatch),
        ("王小明", "王晓明", CloseMatch),
        ("王小明", "王小鸣", CloseMatch),
        ("欧阳娜娜", "欧杨娜娜", CloseMatch),
        ("欧阳娜娜", "欧阳纳娜", CloseMatch),
        ("司马光", "司马广", CloseMatch),
        ("诸葛亮", "朱葛亮", CloseMatch),
        ("单伟", "善伟", CloseMatch),
        ("单伟", "丹伟", CloseMatch),
        ("曾伟", "增伟", CloseMatch),
        ("曾伟", "层伟", CloseMatch),
        ("区伟", "欧伟", CloseMatch),
        ("仇伟", "裘伟", CloseMatch),
        ("解伟", "谢伟", CloseMatch),
        ("买买提·艾力", "买买提·爱力", CloseMatch),
        ("买买提·艾力", "买买提·艾立", CloseMatch),
        // Han: separators in minority names.
        ("买买提·艾力", "买买提艾力", CloseMatch),
        ("买买提·艾力", "买买提-艾力", CloseMatch),
        ("买买提·艾力", "买买提 艾力", CloseMatch),
        ("买买提·艾力", "买买提—艾力", CloseMatch),
        ("买买提·艾力", "买买提··艾力", CloseMatch),
        ("买买提·艾力", "买买提爱力", CloseMatch),
        ("阿依古丽·买买提·吐尔逊", "阿依古丽买买提吐尔逊", CloseMatch),
        ("阿依古丽·买买提·吐尔逊", "阿依古丽-买买提 吐尔逊", CloseMatch),
        // Han: different people.
        ("张伟", "张三", NoMatch),
        ("张伟", "李伟", NoMatch),
        ("张伟", "章炜", NoMatch),
        ("王小明", "王晓鸣", NoMatch),
        ("王小明", "王小朋", NoMatch),
        ("李己", "李已", NoMatch),
        ("李已", "李巳", NoMatch),
        ("王伟", "玉伟", NoMatch),
        ("王大明", "王太明", NoMatch),
        ("侯伟", "候伟", NoMatch),
        ("王天明", "王夭明", NoMatch),
        ("王未", "王末", NoMatch),
        ("王戊", "王戌", NoMatch),
        ("曾伟", "曹伟", NoMatch),
        ("单伟", "单传", NoMatch),
        ("欧阳娜娜", "欧娜娜", NoMatch),
        ("欧阳娜娜", "欧阳娜娜娜", NoMatch),
        ("司马光", "马光", NoMatch),
        ("诸葛亮", "诸亮", NoMatch),
        ("张伟", "伟张", NoMatch),
        ("买买提·艾力", "艾力·买买提", NoMatch),
        ("买买提·艾力", "买买提", NoMatch),
        // Han: not a name, or the other script.
        ("张伟", "", NoMatch),
        ("张伟", "   ", NoMatch),
        ("张伟", "张伟1", NoMatch),
        ("张伟", "12345", NoMatch),
        ("张伟", "*伟", NoMatch),
        ("张伟", "张Wei", NoMatch),
        ("张伟", "Zhang Wei", NoMatch),
        ("张伟", "张'伟", NoMatch),
        ("张伟", "张伟🙂", NoMatch),
        // Latin: formatting only.
        ("John Smith", "John Smith", Match),
        ("John Smith", "john  SMITH", Match),
        ("John Smith", "ＪＯＨＮ　ＳＭＩＴＨ", Match),
        ("John Smith", "JohnSmith", Match),
        ("John Smith", "\tJohn Smith\n", Match),
        ("José Núñez", "JOSÉ NÚÑEZ", Match),
        ("José Núñez", "Jose\u{301} Nu\u{301}n\u{303}ez", Match),
        ("Anne-Marie O'Neil", "anne‐marie o’neil", Match),
        // Latin: diacritics.
        ("José Núñez", "Jose Nunez", CloseMatch),
        ("Zoë Brontë", "Zoe Bronte", CloseMatch),
        ("Łukasz Wójcik", "Lukasz Wojcik", CloseMatch),
        ("John Smith", "Jöhn Smith", CloseMatch),
        // Latin: separators.
        ("Anne-Marie O'Neil", "Anne Marie O'Neil", CloseMatch),
        ("Anne-Marie O'Neil", "Anne-Marie ONeil", CloseMatch),
        ("J. R. Smith", "J R Smith", CloseMatch),
        // Latin: initials.
        ("John Smith", "J Smith", CloseMatch),
        ("John Smith", "J. Smith", CloseMatch),
        ("John Smith", "j.smith", CloseMatch),
        ("John Robert Smith", "J. R. Smith", CloseMatch),
        ("John Robert Smith", "John R. Smith", CloseMatch),
        ("José Núñez", "J. Nunez", CloseMatch),
        // Latin: order.
        ("John Smith", "Smith John", CloseMatch),
        ("John Smith", "SMITH, John", CloseMatch),
        ("John Robert Smith", "Smith John Robert", CloseMatch),
        ("Anne-Marie O'Neil", "O'Neil Anne-Marie", CloseMatch),
        // Latin: one typo.
        ("John Smith", "Jon Smith", CloseMatch),
        ("John Smith", "Jonh Smith", CloseMatch),
        ("John Smith", "Jhon Smith", CloseMatch),
        ("John Smith", "John Smyth", CloseMatch),
        ("John Smith", "John Smitth", CloseMatch),
        ("John Smith", "John Smiht", CloseMatch),
        // A typo can make another real name: a close match is only a warning.
        ("John Smith", "Joan Smith", CloseMatch),
        // Latin: different people, or two near misses at once.
        ("John Smith", "Jane Smith", NoMatch),
        ("John Smith", "John Smithson", NoMatch),
        ("John Smith", "Jon Smyth", NoMatch),
        ("John Smith", "J Smyth", NoMatch),
        ("John Smith", "Smith J", NoMatch),
        ("John Smith", "K Smith", NoMatch),
        ("John Smith", "John", NoMatch),
        ("John Smith", "Smith", NoMatch),
        ("John Smith", "John Smith Jr", NoMatch),
        ("John Smith", "Jo Smith", NoMatch),
        ("Max Lee", "Mac Lee", NoMatch),
        ("Ann Lee", "Anne Lee", NoMatch),
        ("John Robert Smith", "John Smith", NoMatch),
        ("J. R. Smith", "John R. Smith", NoMatch),
        // Latin: not a name, or the other script.
        ("John Smith", "", NoMatch),
        ("John Smith", "J0hn Smith", NoMatch),
        ("John Smith", "J\u{043E}hn Smith", NoMatch),
        ("John Smith", "Джон Смит", NoMatch),
        ("John Smith", "约翰史密斯", NoMatch),
        ("John Smith", "John Smith <script>", NoMatch),
        ("John Smith", "J*** S****", NoMatch),
    ];

    fn legal(text: &str) -> LegalName {
        LegalName::parse(text).unwrap_or_else(|e| panic!("{text} is a legal name: {e}"))
    }

    #[test]
    fn corpus_accuracy() {
        let mut wrong = Vec::new();
        for (legal_text, typed, expected) in CORPUS {
            let got = check_typed_name(&legal(legal_text), typed);
            if got != *expected {
                wrong.push(format!("{legal_text} / {typed:?}: expected {expected:?}, got {got:?}"));
            }
        }
        let correct = CORPUS.len() - wrong.len();
        let per_mille = correct * 1000 / CORPUS.len();
        println!("name-check corpus: {correct}/{} correct ({}.{}%)", CORPUS.len(), per_mille / 10, per_mille % 10);
        assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
    }

    #[test]
    fn corpus_covers_the_spec() {
        assert!(CORPUS.len() >= 80, "at least 80 pairs");
        for answer in [Match, CloseMatch, NoMatch] {
            assert!(CORPUS.iter().filter(|(_, _, expected)| *expected == answer).count() >= 20, "{answer:?} well covered");
        }
    }

    #[test]
    fn prepared_comparison_equals_the_convenience_function() {
        for (legal_text, typed, _) in CORPUS {
            let legal_name = legal(legal_text);
            let prepared = PreparedName::legal(&legal_name);
            assert_eq!(compare(&prepared, &PreparedName::typed(typed)), check_typed_name(&legal_name, typed));
        }
    }

    /// Typed text up to [`TYPED_TEXT_BYTES_MAX`] bytes is read; longer is
    /// not a name. A name has its script; what is not a name has none.
    #[test]
    fn typed_text_is_a_name_in_its_script_up_to_the_limit() {
        let at_limit = format!("John{}", " ".repeat(TYPED_TEXT_BYTES_MAX - 4));
        assert_eq!(PreparedName::typed(&at_limit).script(), Some(NameScript::Latin));
        assert_eq!(PreparedName::typed(&format!("{at_limit} ")).script(), None);
        assert_eq!(PreparedName::typed("王小明").script(), Some(NameScript::Han));
        assert_eq!(PreparedName::typed("12345").script(), None);
    }

    /// Han text with a mark only Latin names use is not a name; the same
    /// name twice does not "differ by homophones".
    #[test]
    fn han_with_latin_marks_is_no_name_and_equal_names_are_no_homophones() {
        assert_eq!(PreparedName::typed("王'小明").script(), None);
        assert_eq!(PreparedName::typed("王,小明").script(), None);
        let name = PreparedName::legal(&legal("王小明"));
        assert!(!differs_by_homophones(&name, &PreparedName::typed("王小明")));
    }

    /// Words end at separators; a separator at the end adds no empty word.
    #[test]
    fn words_are_split_at_separators_without_empty_ones() {
        for (text, words) in [("John Smith", 2), ("John Smith,", 2), ("John, Smith", 2), ("O'Brien", 1), ("Mary-Jane Smith", 3)] {
            let shown = format!("{:?}", PreparedName::typed(text));
            assert!(shown.contains(&format!("words: {words}")), "{text}: {shown}");
        }
    }

    /// `canonical_mark` returns ASCII letters and digits and Han characters
    /// unchanged before it looks at its tables; that shortcut is only right
    /// while the tables hold none of them.
    #[test]
    fn the_mark_tables_hold_no_letter_digit_or_han() {
        for c in MIDDLE_DOT_VARIANTS.iter().chain(DASH_VARIANTS).chain(APOSTROPHE_VARIANTS) {
            assert!(!c.is_ascii_alphanumeric() && !is_han(*c), "{c:?}");
        }
    }

    /// An answer is read up to [`TYPED_TEXT_BYTES_MAX`] bytes, spaces
    /// included; one byte more completes nothing.
    #[test]
    fn an_answer_at_the_length_limit_still_completes() {
        let name = legal("张伟");
        let at_limit = format!("张{}", " ".repeat(TYPED_TEXT_BYTES_MAX - "张".len()));
        assert_eq!(at_limit.len(), TYPED_TEXT_BYTES_MAX);
        assert!(completes(&name, &at_limit));
        assert!(!completes(&name, &format!("{at_limit} ")));
    }

    #[test]
    fn completion_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("张伟", "张", true),
            ("张伟", "张伟", true),
            ("张伟", " 张 伟 ", true),
            ("张伟", "張", true),
            ("张伟", "張偉", true),
            ("张伟", "章", false),
            ("张伟", "伟", false),
            ("张伟", "张张", false),
            ("张伟", "张伟张", false),
            ("张伟", "*伟", false),
            ("张伟", "", false),
            ("张伟", "   ", false),
            ("张伟", "*", false),
            ("张伟", "🙂", false),
            ("张伟", "' OR 1=1 --", false),
            ("張偉", "张", true),
            ("張偉", "张伟", true),
            ("王小明", "王小", true),
            ("王小明", "王 小", true),
            ("王小明", "王小明", true),
            ("王小明", "王", false),
            ("王小明", "小", false),
            ("王小明", "王晓", false),
            ("王小明", "汪小", false),
            ("王小明", "王小明明", false),
            ("欧阳娜娜", "欧阳娜", true),
            ("欧阳娜娜", "歐陽娜", true),
            ("买买提·艾力", "艾力", true),
            ("买买提·艾力", "买买提·艾力", true),
            ("买买提·艾力", "买买提•艾力", true),
            ("买买提·艾力", "·艾力", true),
            ("买买提·艾力", "爱力", false),
            ("买买提·艾力", "买买提", false),
            ("阿依古丽·买买提·吐尔逊", "买买提吐尔逊", true),
            ("阿依古丽·买买提·吐尔逊", "买买提·吐尔逊", true),
            ("阿依古丽·买买提·吐尔逊", "吐尔逊", false),
            ("John Smith", "ohnmith", true),
            ("John Smith", "ohn mith", true),
            ("John Smith", "OHN MITH", true),
            ("John Smith", "John Smith", true),
            ("John Smith", "john  smith", true),
            ("John Smith", "J*** S****", false),
            ("John Smith", "ohn", false),
            ("John Smith", "John", false),
            ("John Smith", "Jon Smith", false),
            ("John Smith", "J Smith", false),
            ("John Smith", "ohnmiht", false),
            ("José Núñez", "osé úñez", true),
            ("José Núñez", "oseunez", true),
            ("José Núñez", "Jose Nunez", true),
            ("J. R. Smith", "JRmith", true),
            ("J. R. Smith", "J.R. Smith", true),
        ];
        for (legal_text, answer, expected) in cases {
            assert_eq!(completes(&legal(legal_text), answer), *expected, "{legal_text} completed by {answer:?}");
        }
        assert!(!completes(&legal("张伟"), &"张".repeat(10_000)));
    }

    #[test]
    fn hidden_characters_follow_the_mask() {
        let cases = [
            ("张伟", "张"),
            ("王小明", "王小"),
            ("买买提·艾力", "艾力"),
            ("阿依古丽·买买提·吐尔逊", "买买提吐尔逊"),
            ("John Smith", "ohnmith"),
            ("J. R. Smith", "JRmith"),
        ];
        for (legal_text, hidden) in cases {
            assert_eq!(hidden_characters(&legal(legal_text)), hidden, "{legal_text}");
        }
    }

    #[test]
    fn the_one_rule() {
        let same = [
            ("张伟", "張偉"),
            ("张 伟", "张伟"),
            ("JOHN SMITH", "john smith"),
            ("ＪＯＨＮ", "john"),
            ("José", "Jose"),
            ("Łukasz", "lukasz"),
            ("买买提•艾力", "买买提·艾力"),
            ("买买提.艾力", "买买提・艾力"),
        ];
        for (a, b) in same {
            assert_eq!(normalise(a), normalise(b), "{a} = {b}");
        }
        assert_ne!(normalise("章伟"), normalise("张伟"), "a homophone is another character");
        assert_ne!(normalise("己"), normalise("已"));
        assert!(legal("張偉").same_name_as(&legal("张伟")));
        assert!(legal("José Núñez").same_name_as(&legal("Jose Nunez")));
        assert!(!legal("章伟").same_name_as(&legal("张伟")));
    }

    #[test]
    fn one_edit() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        let cases = [
            ("john", "jon", true),
            ("john", "jonh", true),
            ("john", "johns", true),
            ("john", "xjohn", true),
            ("john", "jxhn", true),
            ("john", "ojhn", true),
            ("john", "john", false),
            ("john", "jnho", false),
            ("john", "jo", false),
            ("john", "", false),
            ("", "a", true),
        ];
        for (a, b, expected) in cases {
            assert_eq!(one_edit_apart(&chars(a), &chars(b)), expected, "{a} / {b}");
            assert_eq!(one_edit_apart(&chars(b), &chars(a)), expected, "{b} / {a}");
        }
    }

    #[test]
    fn wire_names() {
        for (check, wire) in [(Match, "match"), (CloseMatch, "close_match"), (NoMatch, "no_match")] {
            assert_eq!(check.as_str(), wire);
            assert_eq!(serde_json::to_string(&check).expect("serialises"), format!("\"{wire}\""));
            assert_eq!(serde_json::from_str::<NameCheck>(&format!("\"{wire}\"")).expect("deserialises"), check);
        }
    }

    #[test]
    fn debug_never_shows_the_name() {
        let prepared = PreparedName::legal(&legal("王小明"));
        let shown = format!("{prepared:?}");
        assert!(!shown.contains('小') && !shown.contains('明'), "{shown}");
        assert!(shown.starts_with("PreparedName { script: ") && shown.contains("letters: 3") && shown.ends_with(", .. }"), "{shown}");
        let shown = format!("{:?}", PreparedName::typed("John Smith"));
        assert!(!shown.to_lowercase().contains("smith"), "{shown}");
    }

    fn legal_names() -> impl Strategy<Value = LegalName> {
        prop_oneof![
            "[\u{4E00}-\u{9FFF}]{2,4}",
            "[\u{4E00}-\u{9FFF}]{1,4}[·•・.][\u{4E00}-\u{9FFF}]{1,4}([·‧][\u{4E00}-\u{9FFF}]{1,3})?",
            "[张張章王汪玉单善曾增己已巳大太欧歐阳陽买買提艾爱力立\u{F900}-\u{F90F}]{2,5}",
            "[A-Za-z\u{C0}-\u{24F}\u{1E00}-\u{1EFF}]{1,10}([ '\u{2019}-][A-Za-z\u{C0}-\u{24F}\u{1E00}-\u{1EFF}]{1,10}){0,3}",
            "[A-Z]\\. [A-Z][a-z]{1,8}",
        ]
        .prop_filter_map("a legal name", |text| LegalName::parse(&text).ok())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text_is_fine(legal_name in legal_names(), text in any::<String>(), near in "[张伟王小明买提·•.\\- A-Za-zé'0-9]{0,12}") {
            let _ = check_typed_name(&legal_name, &text);
            let _ = completes(&legal_name, &text);
            let _ = check_typed_name(&legal_name, &near);
            let _ = completes(&legal_name, &near);
            let _ = normalise(&text);
        }

        #[test]
        fn a_legal_name_matches_and_completes_itself(legal_name in legal_names()) {
            prop_assert_eq!(check_typed_name(&legal_name, legal_name.expose()), NameCheck::Match);
            prop_assert!(completes(&legal_name, legal_name.expose()));
            prop_assert!(completes(&legal_name, &hidden_characters(&legal_name)));
            prop_assert!(legal_name.same_name_as(&legal_name));
        }

        #[test]
        fn a_match_always_completes(legal_name in legal_names(), spaces in "[ \u{3000}]{0,2}") {
            let typed: String = legal_name.expose().chars().flat_map(|c| [c].into_iter().chain(spaces.chars())).collect();
            let typed = typed.to_uppercase();
            if check_typed_name(&legal_name, &typed) == NameCheck::Match {
                prop_assert!(completes(&legal_name, &typed));
            }
        }
    }
}
