//! Edges and exact arithmetic of the value types: the age rule on the day
//! of the birthday, the GB 11643-1999 and Luhn check digits against their
//! published definitions, every length limit one past and at the limit,
//! amounts at the ceiling, yuan formatting, rates to the microsecond, and
//! tracing to the fen. Each test names one rule, so that changing the rule
//! fails it (mutation testing, `scripts/mutants`).

use jiff::civil::{Date, date};
use recourse_domain::card::{CardNumber, CardNumberError, luhn_valid, with_luhn_digit};
use recourse_domain::identity::{
    AgeError, IdNumber, IdNumberError, LegalName, MaskedName, NameError, NameScript, id_check_char, is_han, make_id_number, mask_id_last4,
};
use recourse_domain::money::{AMOUNT_FEN_CEILING, Amount, AmountError, Currency, format_yuan};
use recourse_domain::phone::{Phone, PhoneError};
use recourse_domain::rate::{Rate, Take, retry_after_seconds};
use recourse_domain::refusal::Refusal;
use recourse_domain::text::{Nickname, TextError, clean_line};
use recourse_domain::trace::{Carried, Destination, Posting, attribute};
use recourse_domain::transfer::ConflictingOptions;
use recourse_domain::{AccountId, OperationId, Role, UserId};

// ---------------------------------------------------------------------------
// Identity numbers and the age rule
// ---------------------------------------------------------------------------

fn id_born(birth: Date) -> IdNumber {
    IdNumber::parse(&make_id_number("110101", birth, 7)).unwrap()
}

#[test]
fn age_turns_on_the_birthday_itself() {
    let id = id_born(date(2008, 6, 15));
    assert_eq!(id.age_on(date(2026, 6, 14)), 17);
    assert_eq!(id.age_on(date(2026, 6, 15)), 18);
    assert_eq!(id.age_on(date(2026, 6, 16)), 18);
    // An earlier month with a later day, a later month with an earlier day.
    assert_eq!(id.age_on(date(2026, 5, 30)), 17);
    assert_eq!(id.age_on(date(2026, 7, 1)), 18);
    assert_eq!(id.age_on(date(2008, 6, 15)), 0);
    assert_eq!(id.age_on(date(2009, 6, 14)), 0);
    assert_eq!(id.age_on(date(2009, 6, 15)), 1);
    // Born on 29 February: a year older on 1 March of common years.
    let leap = id_born(date(2008, 2, 29));
    assert_eq!(leap.age_on(date(2026, 2, 28)), 17);
    assert_eq!(leap.age_on(date(2026, 3, 1)), 18);
    assert_eq!(leap.birth_date(), date(2008, 2, 29));
}

#[test]
fn the_minimum_age_is_reached_on_the_birthday_not_before() {
    let id = id_born(date(2008, 6, 15));
    assert_eq!(id.check_age(date(2026, 6, 15), 18), Ok(()));
    assert_eq!(id.check_age(date(2026, 6, 14), 18), Err(AgeError::BelowMinimum { min_age_years: 18 }));
    assert_eq!(id.check_age(date(2026, 6, 16), 18), Ok(()));
    assert_eq!(id.check_age(date(2026, 6, 15), 19), Err(AgeError::BelowMinimum { min_age_years: 19 }));
    assert_eq!(id.check_age(date(2026, 6, 15), 17), Ok(()));
}

#[test]
fn born_today_is_not_born_in_the_future() {
    let id = id_born(date(2026, 6, 15));
    assert_eq!(id.check_age(date(2026, 6, 15), 0), Ok(()));
    assert_eq!(id.check_age(date(2026, 6, 15), 1), Err(AgeError::BelowMinimum { min_age_years: 1 }));
    assert_eq!(id.check_age(date(2026, 6, 14), 0), Err(AgeError::BornInTheFuture));
    // The future wins over the minimum age, whatever the minimum.
    assert_eq!(id.check_age(date(2020, 1, 1), 18), Err(AgeError::BornInTheFuture));
}

/// GB 11643-1999's definition, written independently of the crate: weight
/// of position i (0-based from the left) is 2^(17-i) mod 11, and the check
/// value is (12 - sum mod 11) mod 11, where 10 is written X.
fn reference_check_char(first17: &str) -> char {
    let sum: u64 = first17.bytes().enumerate().map(|(i, d)| u64::from(d - b'0') * ((1u64 << (17 - i)) % 11)).sum();
    match (12 - sum % 11) % 11 {
        10 => 'X',
        v => char::from(b'0' + v as u8),
    }
}

#[test]
fn identity_check_digits_follow_the_standard() {
    // The standard's own worked example.
    assert_eq!(id_check_char(b"11010519491231002"), 'X');
    assert_eq!(reference_check_char("11010519491231002"), 'X');
    let mut seen = std::collections::HashSet::new();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..400 {
        let first17: String = (0..17)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                char::from(b'0' + ((state >> 33) % 10) as u8)
            })
            .collect();
        let expected = reference_check_char(&first17);
        seen.insert(expected);
        assert_eq!(id_check_char(first17.as_bytes()), expected, "{first17}");
    }
    assert_eq!(seen.len(), 11, "every check character, X included, was exercised");
}

#[test]
fn identity_numbers_parse_at_their_edges() {
    let valid = |region: &str, birth: Date| make_id_number(&format!("{region}0101"), birth, 123);
    let birth = date(1990, 3, 7);
    // Every province code the standard lists is accepted; the gaps are not.
    for province in [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83] {
        let number = valid(&format!("{province:02}"), birth);
        assert!(IdNumber::parse(&number).is_ok(), "{number}");
    }
    for province in [0, 1, 10, 16, 19, 20, 24, 28, 30, 38, 40, 47, 49, 55, 60, 66, 70, 72, 80, 84, 90, 91, 99] {
        let number = valid(&format!("{province:02}"), birth);
        assert_eq!(IdNumber::parse(&number), Err(IdNumberError::Region), "{number}");
    }
    // Birth dates: 1900 is the first year, real dates only.
    assert!(IdNumber::parse(&valid("11", date(1900, 1, 1))).is_ok());
    assert!(IdNumber::parse(&valid("11", date(2000, 2, 29))).is_ok());
    let with_date = |yyyymmdd: &str| {
        let first17 = format!("110101{yyyymmdd}123");
        format!("{first17}{}", reference_check_char(&first17))
    };
    for bad in ["18991231", "19000229", "19901301", "19900001", "19900230", "19900132", "19900100"] {
        assert_eq!(IdNumber::parse(&with_date(bad)), Err(IdNumberError::BirthDate), "{bad}");
    }
    assert!(IdNumber::parse(&with_date("19000101")).is_ok());
    // Shape.
    let good = valid("11", birth);
    assert_eq!(IdNumber::parse(&format!("  {good}\n")).unwrap().expose(), good, "surrounding space is trimmed");
    assert_eq!(IdNumber::parse(&good[..17]), Err(IdNumberError::Format));
    assert_eq!(IdNumber::parse(&format!("{good}1")), Err(IdNumberError::Format));
    assert_eq!(IdNumber::parse(&format!("A{}", &good[1..])), Err(IdNumberError::Format));
    assert_eq!(IdNumber::parse(&format!("{}X{}", &good[..16], &good[17..])), Err(IdNumberError::Format), "X only as the check character");
    assert_eq!(IdNumber::parse("1101051949123100.X"), Err(IdNumberError::Format));
    // A wrong check digit, every wrong one.
    let right = good.as_bytes()[17] as char;
    for wrong in "0123456789X".chars().filter(|c| *c != right) {
        assert_eq!(IdNumber::parse(&format!("{}{wrong}", &good[..17])), Err(IdNumberError::CheckDigit), "{wrong}");
    }
}

#[test]
fn identity_numbers_show_only_their_last_four() {
    let id = IdNumber::parse("11010519491231002x").unwrap();
    assert_eq!(id.expose(), "11010519491231002X");
    assert_eq!(id.last4(), "002X");
    assert_eq!(id.masked(), "**************002X");
    assert_eq!(format!("{id:?}"), "IdNumber(**************002X)");
    assert_eq!(mask_id_last4("1234"), "**************1234");
    assert_eq!(id.birth_date(), date(1949, 12, 31));
    // The generator pads and wraps the sequence to three digits.
    assert_eq!(&make_id_number("110105", date(1949, 12, 31), 2)[..17], "11010519491231002");
    assert_eq!(make_id_number("110105", date(1949, 12, 31), 1002), "11010519491231002X");
}

// ---------------------------------------------------------------------------
// Legal names
// ---------------------------------------------------------------------------

#[test]
fn legal_name_lengths_and_shapes() {
    let hundred: String = "张".repeat(100);
    assert_eq!(LegalName::parse(&hundred).unwrap().expose(), hundred);
    assert_eq!(LegalName::parse(&"张".repeat(101)), Err(NameError::TooLong(100)));
    let latin = format!("A{}", "b".repeat(99));
    assert!(LegalName::parse(&latin).is_ok());
    assert_eq!(LegalName::parse(&format!("{latin}c")), Err(NameError::TooLong(100)));
    assert_eq!(LegalName::parse("   "), Err(NameError::Empty));
    assert_eq!(LegalName::parse("张"), Err(NameError::BadShape));
    assert_eq!(LegalName::parse("J."), Err(NameError::BadShape));
    assert_eq!(LegalName::parse("Jo").unwrap().expose(), "Jo");
    assert_eq!(LegalName::parse("买买提·"), Err(NameError::BadShape));
    assert_eq!(LegalName::parse("A×B"), Err(NameError::BadCharacters));
    assert_eq!(LegalName::parse("A÷B"), Err(NameError::BadCharacters));
    assert_eq!(LegalName::parse("  John   Smith ").unwrap().expose(), "John Smith");
    assert_eq!(LegalName::parse("张 三").unwrap().expose(), "张三");
    assert_eq!(LegalName::parse("张三").unwrap().script(), NameScript::Han);
    assert_eq!(LegalName::parse("Ana").unwrap().script(), NameScript::Latin);
    assert!(is_han('一') && is_han('〇') && is_han('\u{9FFF}') && is_han('\u{3400}') && is_han('\u{20000}'));
    assert!(!is_han('A') && !is_han('·') && !is_han('\u{3006}') && !is_han('\u{4DC0}'));
}

#[test]
fn legal_names_are_masked_part_by_part() {
    let cases = [
        ("Li", "L*"),
        ("Li Na", "L* N*"),
        ("O'Neil", "O'****"),
        ("Jean-Luc Picard", "J***-L** P*****"),
        ("A. Li", "*. L*"),
        ("Mary Ann", "M*** A**"),
        ("Élodie", "É*****"),
        ("欧阳娜娜", "***娜"),
        ("阿依·买买提·吐尔逊", "阿依·***·***"),
        ("张三", "*三"),
    ];
    for (name, masked) in cases {
        let legal = LegalName::parse(name).unwrap();
        assert_eq!(legal.masked().as_str(), masked, "{name}");
        assert_eq!(format!("{legal:?}"), format!("LegalName({masked})"));
    }
    assert_eq!(MaskedName::from_stored("*三".to_owned()).as_str(), "*三");
}

// ---------------------------------------------------------------------------
// Bank cards
// ---------------------------------------------------------------------------

#[test]
fn luhn_against_published_examples() {
    // The classic worked example, and the test numbers card networks publish.
    assert!(luhn_valid(b"79927398713"));
    for wrong in [b"79927398710", b"79927398711", b"79927398712", b"79927398714", b"79927398719"] {
        assert!(!luhn_valid(wrong), "{}", String::from_utf8_lossy(wrong));
    }
    for valid in ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "3530111333300000", "0"] {
        assert!(luhn_valid(valid.as_bytes()), "{valid}");
    }
    assert!(!luhn_valid(b"4111111111111112"));
    assert!(!luhn_valid(b"5555555555554440"));
    // Doubling a 5..9 subtracts 9; a 0..4 does not.
    assert!(luhn_valid(b"59"), "5 doubles to 10 → 1; 1 + 9 = 10");
    assert!(luhn_valid(b"91"), "9 doubles to 18 → 9; 9 + 1 = 10");
    assert!(luhn_valid(b"42"), "4 doubles to 8; 8 + 2 = 10");
    assert!(!luhn_valid(b"95"));
    assert_eq!(with_luhn_digit("7992739871"), "79927398713");
    assert_eq!(with_luhn_digit("411111111111111"), "4111111111111111");
    assert_eq!(with_luhn_digit("555555555555444"), "5555555555554444");
}

#[test]
fn card_numbers_at_their_length_limits() {
    let of_len = |n: usize| with_luhn_digit(&"4".repeat(n - 1));
    assert_eq!(CardNumber::parse(&of_len(11)), Err(CardNumberError::Format));
    assert!(CardNumber::parse(&of_len(12)).is_ok());
    assert!(CardNumber::parse(&of_len(19)).is_ok());
    assert_eq!(CardNumber::parse(&of_len(20)), Err(CardNumberError::Format));
    // At most 40 characters of input, separators included.
    let card = "4111 1111 1111 1111";
    let forty = format!("{card}{}", " ".repeat(40 - card.len()));
    assert_eq!(forty.len(), 40);
    assert_eq!(CardNumber::parse(&forty).unwrap().expose(), "4111111111111111");
    assert_eq!(CardNumber::parse(&format!("{forty} ")), Err(CardNumberError::Format));
    assert_eq!(CardNumber::parse("4111-1111-1111-1111").unwrap().expose(), "4111111111111111");
    assert_eq!(CardNumber::parse("4111_1111_1111_1111"), Err(CardNumberError::Format));
    assert_eq!(CardNumber::parse("4111111111111112"), Err(CardNumberError::CheckDigit));
}

#[test]
fn a_card_shows_its_last_four_only() {
    let card = CardNumber::parse("5555 5555 5555 4444").unwrap();
    assert_eq!(card.last4(), "4444");
    assert_eq!(format!("{card:?}"), "CardNumber(…4444)");
}

// ---------------------------------------------------------------------------
// Money
// ---------------------------------------------------------------------------

#[test]
fn amounts_at_their_limits() {
    assert_eq!(Amount::from_fen(1, 1).map(Amount::fen), Ok(1));
    assert_eq!(Amount::from_fen(0, 1), Err(AmountError::NotPositive));
    assert_eq!(Amount::from_fen(2, 1), Err(AmountError::AboveLimit { limit_fen: 1 }));
    assert_eq!(Amount::from_fen(AMOUNT_FEN_CEILING, i64::MAX).map(Amount::fen), Ok(AMOUNT_FEN_CEILING));
    assert_eq!(Amount::from_fen(AMOUNT_FEN_CEILING + 1, i64::MAX), Err(AmountError::AboveLimit { limit_fen: AMOUNT_FEN_CEILING }));
    assert_eq!(Amount::from_fen(i64::MIN, 100), Err(AmountError::NotPositive));
    assert_eq!(Amount::from_stored(1).fen(), 1);
    assert_eq!(Amount::from_stored(AMOUNT_FEN_CEILING).fen(), AMOUNT_FEN_CEILING);
    for out_of_range in [0, -1, AMOUNT_FEN_CEILING + 1] {
        assert!(std::panic::catch_unwind(|| Amount::from_stored(out_of_range)).is_err(), "{out_of_range}");
    }
    assert_eq!(Currency::Cny.code(), "CNY");
    assert_eq!(Currency::parse("CNY"), Some(Currency::Cny));
    assert_eq!(Currency::parse("cny"), None);
    assert_eq!(Refusal::from(AmountError::NotPositive), Refusal::InvalidAmount);
    assert_eq!(Refusal::from(AmountError::AboveLimit { limit_fen: 9 }), Refusal::AmountAboveLimit { limit_fen: 9 });
    assert_eq!(Refusal::from(ConflictingOptions), Refusal::ConflictingOptions);
}

#[test]
fn yuan_are_grouped_by_thousands() {
    let cases = [
        (1, "¥0.01"),
        (99, "¥0.99"),
        (100, "¥1.00"),
        (101, "¥1.01"),
        (99_999, "¥999.99"),
        (100_000, "¥1,000.00"),
        (1_234_567, "¥12,345.67"),
        (12_345_678, "¥123,456.78"),
        (123_456_789, "¥1,234,567.89"),
        (-1, "-¥0.01"),
        (-123_456, "-¥1,234.56"),
        (i64::MIN, "-¥92,233,720,368,547,758.08"),
    ];
    for (fen, text) in cases {
        assert_eq!(format_yuan(fen), text, "{fen}");
    }
}

// ---------------------------------------------------------------------------
// Phones
// ---------------------------------------------------------------------------

#[test]
fn phones_at_their_edges() {
    for second in '3'..='9' {
        let number = format!("1{second}800138000");
        assert_eq!(Phone::parse(&number).unwrap().as_str(), format!("+86{number}"));
    }
    for bad in ["10800138000", "11800138000", "12800138000", "03800138000", "2380013800", "+8513800138000", "86 13800138000"] {
        assert_eq!(Phone::parse(bad), Err(PhoneError), "{bad}");
    }
    // At most 32 characters of input.
    let padded = format!("+86{}13800138000", " ".repeat(32 - 14));
    assert_eq!(padded.len(), 32);
    assert_eq!(Phone::parse(&padded).unwrap().as_str(), "+8613800138000");
    assert_eq!(Phone::parse(&format!(" {padded}")), Err(PhoneError));
    let phone = Phone::parse("13912345678").unwrap();
    assert_eq!(phone.masked(), "+86 139****5678");
    assert_eq!(format!("{phone:?}"), "Phone(+86 139****5678)");
}

// ---------------------------------------------------------------------------
// Rates
// ---------------------------------------------------------------------------

#[test]
fn rates_to_the_microsecond() {
    let rate = Rate::per(4, 1_000_000);
    assert_eq!(rate, Rate { burst: 4, refill: 4, period_us: 1_000_000 });
    assert_eq!(rate.interval_us(), 250_000);
    assert_eq!(rate.tolerance_us(), 1_000_000);
    // A fresh bucket: tat moves cost × interval past now.
    assert_eq!(rate.take(None, 100, 1), Take::Allowed { tat_us: 250_100 });
    assert_eq!(rate.take(None, 100, 4), Take::Allowed { tat_us: 1_000_100 });
    assert_eq!(rate.take(None, 100, 5), Take::Refused { retry_after_us: 250_000 });
    // A tat in the past counts from now; one in the future from itself.
    assert_eq!(rate.take(Some(50), 100, 1), Take::Allowed { tat_us: 250_100 });
    assert_eq!(rate.take(Some(500_100), 100, 1), Take::Allowed { tat_us: 750_100 });
    assert_eq!(rate.take(Some(750_100), 100, 1), Take::Allowed { tat_us: 1_000_100 });
    assert_eq!(rate.take(Some(1_000_100), 100, 1), Take::Refused { retry_after_us: 250_000 });
    assert_eq!(rate.take(Some(1_000_100), 250_000, 1), Take::Refused { retry_after_us: 100 });
    assert_eq!(rate.refund(1_000_100, 2), 500_100);
    // No refill rate means one token per period; the interval is never zero.
    assert_eq!(Rate { burst: 1, refill: 0, period_us: 10 }.interval_us(), 10);
    assert_eq!(Rate { burst: 3, refill: 20, period_us: 10 }.interval_us(), 1);
    assert_eq!(Rate { burst: 3, refill: 20, period_us: 10 }.tolerance_us(), 3);
    assert_eq!(Rate { burst: 3, refill: 2, period_us: 10 }.tolerance_us(), 15);
    // Saturation instead of overflow.
    let huge = Rate { burst: u32::MAX, refill: 1, period_us: i64::MAX };
    assert_eq!(huge.tolerance_us(), i64::MAX);
    assert_eq!(huge.refund(i64::MIN + 1, 2), i64::MIN);
}

#[test]
fn retry_after_in_whole_seconds() {
    let cases = [(-5, 1), (0, 1), (1, 1), (999_999, 1), (1_000_000, 1), (1_000_001, 2), (2_000_000, 2), (2_000_001, 3), (59_500_000, 60)];
    for (us, seconds) in cases {
        assert_eq!(retry_after_seconds(us), seconds, "{us}");
    }
}

// ---------------------------------------------------------------------------
// Free text
// ---------------------------------------------------------------------------

#[test]
fn text_lengths_count_characters_after_normalising() {
    assert_eq!(clean_line("abc", 3, false), Ok("abc".to_owned()));
    assert_eq!(clean_line("abcd", 3, false), Err(TextError::TooLong { max_chars: 3 }));
    // e + combining acute is one character once composed.
    assert_eq!(clean_line("caf\u{65}\u{301}", 4, false), Ok("café".to_owned()));
    assert_eq!(clean_line("  a  ", 1, false), Ok("a".to_owned()));
    assert_eq!(clean_line("", 0, true), Ok(String::new()));
    assert_eq!(clean_line("", 5, false), Err(TextError::Empty));
    assert_eq!(clean_line("a\nb", 5, true), Err(TextError::ControlCharacter));
    assert_eq!(clean_line("\u{7}", 0, true), Err(TextError::ControlCharacter), "control characters are checked before length");
    assert_eq!(Nickname::parse(&"好".repeat(32)).unwrap().as_str(), "好".repeat(32));
    assert_eq!(Nickname::parse(&"好".repeat(33)), Err(TextError::TooLong { max_chars: 32 }));
    assert_eq!(Nickname::parse(""), Err(TextError::Empty));
}

// ---------------------------------------------------------------------------
// Tracing claimed money
// ---------------------------------------------------------------------------

fn wallet(n: u8) -> Destination {
    Destination::Wallet { transfer: OperationId::from_bytes([n; 16]), account: AccountId::from_bytes([n; 16]) }
}

fn out(at_us: i64, fen: i64, destination: Destination) -> Posting {
    Posting { at_us, amount_fen: -fen, destination }
}

#[test]
fn tracing_to_the_fen() {
    // A payment at the window's last microsecond still counts.
    let (carried, left) = attribute(1_000, 1_000, &[out(100, 1_000, wallet(1))], 100);
    assert_eq!(carried, vec![Carried { at_us: 100, destination: wallet(1), amount_fen: 1_000, attributed_fen: 1_000 }]);
    assert_eq!(left, 0);
    // A share that rounds to nothing is not listed.
    let (carried, left) = attribute(1, 1_000, &[out(1, 10, wallet(1))], 100);
    assert_eq!((carried, left), (vec![], 1));
    // Money that arrived on an empty (or overdrawn) account: nothing to share.
    assert_eq!(attribute(100, 0, &[out(1, 50, wallet(1))], 100), (vec![], 0));
    assert_eq!(attribute(100, -50, &[Posting { at_us: 1, amount_fen: 200, destination: wallet(2) }, out(2, 100, wallet(1))], 100), (vec![], 0));
    // No more is traced than the balance held.
    let (carried, left) = attribute(5_000, 1_000, &[out(1, 500, wallet(1))], 100);
    assert_eq!(carried[0].attributed_fen, 500);
    assert_eq!(left, 500);
    assert_eq!(attribute(-5, 1_000, &[], 100), (vec![], 0));
    // Returned to a claimant: the claimed money first, never more than is traced.
    let returned = Destination::Returned { operation: OperationId::from_bytes([3; 16]) };
    let (carried, left) = attribute(300, 1_000, &[out(1, 500, returned)], 100);
    assert_eq!(carried, vec![Carried { at_us: 1, destination: returned, amount_fen: 500, attributed_fen: 300 }]);
    assert_eq!(left, 0);
    // Two payments of a third each, an arrival between them, a bank withdrawal.
    let bank = Destination::Bank { operation: OperationId::from_bytes([4; 16]) };
    let other = Destination::Other { operation: OperationId::from_bytes([5; 16]) };
    let postings = [out(1, 300, wallet(1)), Posting { at_us: 2, amount_fen: 300, destination: wallet(9) }, out(3, 600, bank), out(4, 300, other)];
    // 600 of 900 traced; 300 out carries 200; 400 of 900 after 300 in; 600 out carries 266; 134 of 300; 300 out carries 134.
    let (carried, left) = attribute(600, 900, &postings, 100);
    let attributed: Vec<i64> = carried.iter().map(|c| c.attributed_fen).collect();
    assert_eq!(attributed, vec![200, 266, 134]);
    assert_eq!(carried[1].destination, bank);
    assert_eq!(carried[2].amount_fen, 300);
    assert_eq!(left, 0);
}

// ---------------------------------------------------------------------------
// Roles and ids
// ---------------------------------------------------------------------------

#[test]
fn roles_and_ids() {
    let roles = [(Role::Customer, "customer"), (Role::Agent, "agent"), (Role::Compliance, "compliance"), (Role::Authority, "authority"), (Role::Admin, "admin")];
    for (role, text) in roles {
        assert_eq!(role.as_str(), text);
        assert_eq!(Role::parse(text), Some(role));
        assert_eq!(role.is_staff(), role != Role::Customer);
        assert_eq!(Role::STAFF.contains(&role), role.is_staff());
    }
    assert_eq!(Role::parse("root"), None);
    assert_eq!(Role::parse(""), None);
    let id = UserId::from_bytes([7; 16]);
    assert_eq!(id.as_bytes(), &[7; 16]);
    assert_eq!(id.to_string(), "07070707-0707-0707-0707-070707070707");
    assert_eq!("07070707-0707-0707-0707-070707070707".parse::<UserId>().unwrap(), id);
    assert!("not-an-id".parse::<UserId>().is_err());
    assert_ne!(UserId::new(), UserId::default());
    assert_eq!(UserId::new().0.get_version_num(), 7);
}
