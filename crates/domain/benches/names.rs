//! Name comparison speed (`cargo bench -p recourse-domain --bench names`).
//!
//! Each benchmark runs once over the whole mix of pairs below, so a sample's
//! time is for `PAIRS.len()` operations: divide the median by that count
//! (divan also prints the throughput in items per second). The goal is at
//! least 1,000,000 prepared comparisons per second per core.

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use recourse_domain::identity::LegalName;
use recourse_domain::names::{PreparedName, check_typed_name, compare, completes};

fn main() {
    divan::main();
}

/// (legal name, typed name, completion answer): every kind of answer, Han and
/// Latin, in the proportions of a mixed day.
const PAIRS: &[(&str, &str, &str)] = &[
    ("张伟", "张伟", "张"),
    ("张伟", "張偉", "張"),
    ("张伟", "章伟", "章"),
    ("张伟", "李伟", "李"),
    ("王小明", "王晓明", "王小"),
    ("王小明", "王小朋", "王晓"),
    ("欧阳娜娜", "欧阳娜娜", "欧阳娜"),
    ("单伟", "善伟", "单"),
    ("买买提·艾力", "买买提艾力", "艾力"),
    ("买买提·艾力", "艾力·买买提", "买买提·艾力"),
    ("阿依古丽·买买提·吐尔逊", "阿依古丽・买买提•吐尔逊", "买买提吐尔逊"),
    ("John Smith", "john smith", "ohnmith"),
    ("John Smith", "J. Smith", "ohn mith"),
    ("John Smith", "Smith John", "John Smith"),
    ("John Smith", "Jonh Smith", "Jon Smith"),
    ("John Robert Smith", "Jane Smith", "ohnobertmith"),
    ("José Núñez", "Jose Nunez", "oseunez"),
    ("Anne-Marie O'Neil", "Anne Marie ONeil", "nnearieneil"),
    ("张伟", "", ""),
    ("John Smith", "J0hn Smith 🙂", "' OR 1=1 --"),
];

fn legal_names() -> Vec<LegalName> {
    PAIRS.iter().map(|(legal, _, _)| LegalName::parse(legal).expect("benchmark names are legal names")).collect()
}

/// (a) The comparison itself: both names prepared beforehand.
#[divan::bench]
fn prepared_compare(bencher: Bencher) {
    let prepared: Vec<(PreparedName, PreparedName)> = legal_names()
        .iter()
        .zip(PAIRS)
        .map(|(legal, (_, typed, _))| (PreparedName::legal(legal), PreparedName::typed(typed)))
        .collect();
    bencher.counter(ItemsCount::new(prepared.len())).bench_local(|| {
        for (legal, typed) in &prepared {
            black_box(compare(black_box(legal), black_box(typed)));
        }
    });
}

/// (b) `check_typed_name` end to end: preparing the legal name and the typed
/// text, then comparing.
#[divan::bench]
fn check_typed_name_end_to_end(bencher: Bencher) {
    let legal = legal_names();
    bencher.counter(ItemsCount::new(PAIRS.len())).bench_local(|| {
        for (legal, (_, typed, _)) in legal.iter().zip(PAIRS) {
            black_box(check_typed_name(black_box(legal), black_box(typed)));
        }
    });
}

/// (c) Masked-name completion, end to end.
#[divan::bench]
fn completes_end_to_end(bencher: Bencher) {
    let legal = legal_names();
    bencher.counter(ItemsCount::new(PAIRS.len())).bench_local(|| {
        for (legal, (_, _, answer)) in legal.iter().zip(PAIRS) {
            black_box(completes(black_box(legal), black_box(answer)));
        }
    });
}
