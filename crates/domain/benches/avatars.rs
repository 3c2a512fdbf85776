//! Avatar speed (`cargo bench -p recourse-domain --bench avatars`).
//!
//! - near-copy search among 1,000,000 stored hashes (the target:
//!   under 1 ms), in the 64-bit [`HashIndex`] alone, in the two-hash
//!   [`AvatarIndex`] (benchmarked here; the service compares a payee with the payer's own contacts), and as a linear scan for comparison;
//!   each sample is one query, taken in turn from 64 queries that each have
//!   a few planted near copies among the random hashes;
//! - `hash` of a decoded 256 × 256 picture;
//! - `decode` + `hash` of a JPEG of about 100 KB.

use std::sync::LazyLock;

use divan::{Bencher, black_box};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};
use recourse_domain::avatar::{AvatarHash, AvatarIndex, AvatarLimits, NEAR_COPY_DISTANCE_MAX, decode, hash};
use recourse_domain::hash_index::HashIndex;

fn main() {
    divan::main();
}

const STORED: u32 = 1_000_000;
const QUERIES: usize = 64;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `hash` with `bits` distinct random bits flipped.
    fn flip(&mut self, hash: u64, bits: u32) -> u64 {
        let mut out = hash;
        while (out ^ hash).count_ones() < bits {
            out ^= 1 << (self.next() % 64);
        }
        out
    }
}

/// 1,000,000 random hashes, then for each query four planted copies at
/// 2, 6, 10 and 14 bits, and one at 20 bits that must not be found.
struct Stored {
    hashes: Vec<(u32, AvatarHash)>,
    queries: Vec<AvatarHash>,
}

static STORED_HASHES: LazyLock<Stored> = LazyLock::new(|| {
    let mut rng = XorShift(0x5EED_0FA7_A7A5);
    let mut hashes: Vec<(u32, AvatarHash)> = (0..STORED).map(|key| (key, AvatarHash { luma: rng.next(), lightness: rng.next() })).collect();
    let queries: Vec<AvatarHash> = (0..QUERIES).map(|_| AvatarHash { luma: rng.next(), lightness: rng.next() }).collect();
    let mut key = STORED;
    for query in &queries {
        for bits in [2, 6, 10, 14, 20] {
            hashes.push((key, AvatarHash { luma: rng.flip(query.luma, bits), lightness: rng.next() }));
            key += 1;
        }
    }
    Stored { hashes, queries }
});

static LUMA_INDEX: LazyLock<HashIndex<u32>> = LazyLock::new(|| {
    let mut index = HashIndex::new();
    for &(key, hash) in &STORED_HASHES.hashes {
        index.insert(key, hash.luma);
    }
    index
});

static AVATAR_INDEX: LazyLock<AvatarIndex<u32>> = LazyLock::new(|| {
    let mut index = AvatarIndex::new();
    for &(key, hash) in &STORED_HASHES.hashes {
        index.insert(key, hash);
    }
    index
});

/// One 64-bit index: the multi-index lookup itself.
#[divan::bench]
fn hash_index_near_among_1m(bencher: Bencher) {
    let (index, queries) = (&*LUMA_INDEX, &STORED_HASHES.queries);
    // Random 64-bit hashes also meet a query within 14 bits now and then
    // (about 3.5 in a million): only the planted keys are counted.
    let planted = |q: &AvatarHash| index.near(q.luma, NEAR_COPY_DISTANCE_MAX).into_iter().filter(|(key, _)| *key >= STORED).count();
    assert!(queries.iter().all(|q| planted(q) == 4), "finds the planted copies, not the far one");
    let mut turn = 0;
    bencher.bench_local(|| {
        turn = (turn + 1) % QUERIES;
        index.near(black_box(queries[turn].luma), NEAR_COPY_DISTANCE_MAX)
    });
}

/// The service's query: both hashes looked up, candidates merged.
#[divan::bench]
fn avatar_index_near_copies_among_1m(bencher: Bencher) {
    let (index, queries) = (&*AVATAR_INDEX, &STORED_HASHES.queries);
    let planted = |q: &AvatarHash| index.near_copies(q).into_iter().filter(|(key, _)| *key >= STORED).count();
    assert!(queries.iter().all(|q| planted(q) == 4), "finds the planted copies, not the far one");
    let mut turn = 0;
    bencher.bench_local(|| {
        turn = (turn + 1) % QUERIES;
        index.near_copies(black_box(&queries[turn]))
    });
}

/// What the index saves: a popcount over every stored hash.
#[divan::bench]
fn linear_scan_among_1m(bencher: Bencher) {
    let hashes: Vec<u64> = STORED_HASHES.hashes.iter().map(|(_, h)| h.luma).collect();
    let queries = &STORED_HASHES.queries;
    let mut turn = 0;
    bencher.bench_local(|| {
        turn = (turn + 1) % QUERIES;
        let query = black_box(queries[turn].luma);
        hashes.iter().enumerate().filter(|(_, h)| (*h ^ query).count_ones() <= NEAR_COPY_DISTANCE_MAX).map(|(i, _)| i).collect::<Vec<_>>()
    });
}

/// A photo-like test picture: gradients, soft discs, noise.
fn picture(side: u32) -> RgbImage {
    let mut rng = XorShift(0xC0FFEE);
    let discs: Vec<(f64, f64, f64, [f64; 3])> = (0..6)
        .map(|_| {
            let unit = |rng: &mut XorShift| (rng.next() % 1000) as f64 / 1000.0;
            (unit(&mut rng), unit(&mut rng), 0.1 + 0.2 * unit(&mut rng), [unit(&mut rng) * 255.0, unit(&mut rng) * 255.0, unit(&mut rng) * 255.0])
        })
        .collect();
    RgbImage::from_fn(side, side, |x, y| {
        let (u, v) = (f64::from(x) / f64::from(side), f64::from(y) / f64::from(side));
        let mut colour = [255.0 * u, 255.0 * v, 255.0 * (1.0 - u * v)];
        for (cx, cy, radius, disc) in &discs {
            let d = ((u - cx).powi(2) + (v - cy).powi(2)).sqrt();
            let alpha = ((radius - d) / 0.05).clamp(0.0, 1.0);
            colour = [0, 1, 2].map(|c| colour[c] * (1.0 - alpha) + disc[c] * alpha);
        }
        let noise = (rng.next() % 25) as f64 - 12.0;
        Rgb(colour.map(|c| (c + noise).clamp(0.0, 255.0) as u8))
    })
}

fn jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgb8)
        .expect("encodes");
    bytes
}

#[divan::bench]
fn hash_256px(bencher: Bencher) {
    let decoded = decode(&jpeg(&picture(256), 90), &AvatarLimits::default()).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (256, 256));
    bencher.bench_local(|| hash(black_box(&decoded)));
}

#[divan::bench]
fn decode_and_hash_100kb_jpeg(bencher: Bencher) {
    let image = picture(512);
    let bytes = (40..=95).map(|quality| jpeg(&image, quality)).min_by_key(|b| b.len().abs_diff(100_000)).expect("some quality");
    assert!((80_000..=120_000).contains(&bytes.len()), "about 100 KB: {}", bytes.len());
    eprintln!("decode_and_hash_100kb_jpeg: 512 × 512 JPEG of {} bytes", bytes.len());
    let limits = AvatarLimits::default();
    bencher.bench_local(|| hash(&decode(black_box(&bytes), &limits).expect("decodes")));
}
