//! Micro-benchmarks of the pure pieces on every request's path (run with
//! `cargo bench -p recourse-server --bench core`). Results in BENCHMARKS.md.

use recourse_domain::card::{CardNumber, with_luhn_digit};
use recourse_domain::identity::{IdNumber, LegalName, make_id_number};
use recourse_domain::phone::Phone;
use recourse_service::config::PasswordHashing;
use recourse_service::vault::{Slot, Vault, random_key};

fn main() {
    divan::main();
}

#[divan::bench(args = ["王小明", "买买提·艾力", "Anne-Marie O'Neil"])]
fn legal_name_parse_and_mask(name: &str) -> String {
    LegalName::parse(divan::black_box(name)).map(|n| n.masked().as_str().to_owned()).unwrap_or_default()
}

#[divan::bench]
fn id_number_parse(bencher: divan::Bencher) {
    let number = make_id_number("110105", jiff::civil::date(1990, 3, 7), 123);
    bencher.bench(|| IdNumber::parse(divan::black_box(&number)).is_ok());
}

#[divan::bench]
fn phone_parse() -> bool {
    Phone::parse(divan::black_box("+86 138 0013 8000")).is_ok()
}

#[divan::bench]
fn card_parse(bencher: divan::Bencher) {
    let card = with_luhn_digit("622202123456789012");
    bencher.bench(|| CardNumber::parse(divan::black_box(&card)).is_ok());
}

#[divan::bench]
fn vault_encrypt_decrypt(bencher: divan::Bencher) {
    let vault = Vault::new(&random_key());
    let slot = Slot { table: "users", column: "legal_name_enc", row: b"0123456789abcdef" };
    bencher.bench(|| {
        let stored = vault.encrypt(slot, divan::black_box("买买提·艾力"));
        vault.decrypt(slot, &stored).is_ok()
    });
}

#[divan::bench]
fn session_token_hash(bencher: divan::Bencher) {
    let (token, _) = recourse_service::passwords::new_token();
    bencher.bench(|| recourse_service::passwords::hash_token(divan::black_box(&token)));
}

/// The cost of one login or registration with the production Argon2id settings.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn password_hash_production_settings() -> bool {
    recourse_service::passwords::hash_password(&PasswordHashing::default(), divan::black_box("correct horse battery")).is_ok()
}
