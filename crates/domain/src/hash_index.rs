//! Near-copy search among many 64-bit perceptual hashes, without scanning
//! them all: multi-index hashing (Norouzi, Punjani and Fleet, 2012).
//!
//! A hash is cut into [`BLOCKS`] blocks (13, 13, 13, 13 and 12 bits) and
//! every stored hash is filed, in each block's table, under that block's
//! value. If two hashes differ in at most `d` bits, then (pigeonhole) some
//! block differs in at most its share of `d`: with `d = 5q + a`, the first
//! `a + 1` blocks within `q` bits or the others within `q - 1`. A query
//! therefore enumerates, per table, the few block values within that radius
//! of its own block and verifies the hashes filed there with a full Hamming
//! distance. The hashes are stored in the buckets themselves, so
//! verification streams through memory (8 bytes a candidate) instead of
//! chasing a pointer per candidate.
//!
//! At a million stored hashes and `d = 14` that is 5 × 92 bucket reads and
//! about 56,000 verified entries instead of 1,000,000. Blocks of 16 bits
//! (radius 3, 697 buckets each) read four times as many buckets, and the
//! classic "d + 1 blocks, exact match" form puts a twentieth of the whole
//! index in every bucket at this `d`; a BK-tree visits most of its nodes at
//! such radii. `cargo bench -p recourse-domain --bench avatars` measures it.
//!
//! Limits: at most 2^32 entries (slots are `u32`); a query's distance at most
//! [`DISTANCE_MAX`] (beyond that the enumeration grows quickly and a linear
//! scan is the honest tool).

use std::collections::HashMap;
use std::hash::Hash;

/// Number of blocks a hash is cut into.
pub const BLOCKS: usize = 5;
/// Bits of each block, most significant first.
const BLOCK_BITS: [u32; BLOCKS] = [13, 13, 13, 13, 12];
/// Largest distance a query may ask for.
pub const DISTANCE_MAX: u32 = 19;

/// Block `index` of `hash` (0 = the most significant bits).
fn block(hash: u64, index: usize) -> u32 {
    let shift: u32 = BLOCK_BITS[index + 1..].iter().sum();
    ((hash >> shift) & ((1 << BLOCK_BITS[index]) - 1)) as u32
}

/// How far each block is searched for `distance_max` (generalised
/// pigeonhole): `Some(radius)`, or `None` for a block that need not be
/// searched at all.
fn block_radii(distance_max: u32) -> [Option<u32>; BLOCKS] {
    let (q, a) = (distance_max / BLOCKS as u32, distance_max as usize % BLOCKS);
    std::array::from_fn(|index| if index <= a { Some(q) } else { q.checked_sub(1) })
}

/// The hashes filed under one block value, and their slots (which name
/// their keys). Kept apart so that verification reads 8 bytes an entry.
#[derive(Clone, Debug, Default)]
struct Bucket {
    hashes: Vec<u64>,
    slots: Vec<u32>,
}

/// Keys `K` with a 64-bit hash each, searchable by Hamming distance.
#[derive(Debug)]
pub struct HashIndex<K> {
    /// Slot → stored hash.
    hashes: Vec<u64>,
    /// Slot → key; `None` for a free slot.
    keys: Vec<Option<K>>,
    free_slots: Vec<u32>,
    slot_of: HashMap<K, u32>,
    /// Per block, `2^BLOCK_BITS` buckets indexed by the block's value;
    /// allocated at the first insert.
    tables: Vec<Vec<Bucket>>,
}

impl<K: Clone + Eq + Hash> Default for HashIndex<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash> HashIndex<K> {
    pub fn new() -> Self {
        HashIndex { hashes: Vec::new(), keys: Vec::new(), free_slots: Vec::new(), slot_of: HashMap::new(), tables: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    /// The hash stored for `key`.
    pub fn get(&self, key: &K) -> Option<u64> {
        self.slot_of.get(key).map(|&slot| self.hashes[slot as usize])
    }

    /// Stores `key` with `hash`, replacing its earlier hash if it had one.
    pub fn insert(&mut self, key: K, hash: u64) {
        self.remove(&key);
        if self.tables.is_empty() {
            self.tables = BLOCK_BITS.iter().map(|&bits| vec![Bucket::default(); 1 << bits]).collect();
        }
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.hashes[slot as usize] = hash;
                self.keys[slot as usize] = Some(key.clone());
                slot
            }
            None => {
                let slot = u32::try_from(self.hashes.len()).expect("a hash index holds at most 2^32 entries");
                self.hashes.push(hash);
                self.keys.push(Some(key.clone()));
                slot
            }
        };
        for (index, table) in self.tables.iter_mut().enumerate() {
            let bucket = &mut table[block(hash, index) as usize];
            bucket.hashes.push(hash);
            bucket.slots.push(slot);
        }
        self.slot_of.insert(key, slot);
        debug_assert_eq!(self.slot_of.len() + self.free_slots.len(), self.keys.len());
    }

    /// Forgets `key`; returns whether it was there. Costs one bucket scan
    /// per block (about 120 entries at a million hashes).
    pub fn remove(&mut self, key: &K) -> bool {
        let Some(slot) = self.slot_of.remove(key) else {
            return false;
        };
        let hash = self.hashes[slot as usize];
        for (index, table) in self.tables.iter_mut().enumerate() {
            let bucket = &mut table[block(hash, index) as usize];
            let position = bucket.slots.iter().position(|&s| s == slot).expect("an indexed slot is in its block's bucket");
            bucket.hashes.swap_remove(position);
            bucket.slots.swap_remove(position);
        }
        self.keys[slot as usize] = None;
        self.free_slots.push(slot);
        true
    }

    /// Every stored key whose hash is within `distance_max` bits of `hash`,
    /// with its distance, in no particular order.
    ///
    /// # Panics
    /// If `distance_max` exceeds [`DISTANCE_MAX`] (a programming error: the
    /// thresholds are constants).
    pub fn near(&self, hash: u64, distance_max: u32) -> Vec<(K, u32)> {
        assert!(distance_max <= DISTANCE_MAX, "near-copy search radius {distance_max} exceeds {DISTANCE_MAX}");
        let mut found = Vec::new();
        if self.tables.is_empty() {
            return found;
        }
        let radii = block_radii(distance_max);
        let query_blocks: [u32; BLOCKS] = std::array::from_fn(|index| block(hash, index));
        // A candidate is reported by the first block whose search reaches it.
        let reached_earlier = |stored: u64, index: usize| (0..index).any(|earlier| radii[earlier].is_some_and(|radius| (block(stored, earlier) ^ query_blocks[earlier]).count_ones() <= radius));
        for (index, table) in self.tables.iter().enumerate() {
            let Some(radius) = radii[index] else {
                continue;
            };
            for_each_within(query_blocks[index], BLOCK_BITS[index], radius, |value| {
                let bucket = &table[value as usize];
                for (position, &stored) in bucket.hashes.iter().enumerate() {
                    let distance = (stored ^ hash).count_ones();
                    if distance <= distance_max && !reached_earlier(stored, index) {
                        let key = self.keys[bucket.slots[position] as usize].as_ref().expect("an indexed slot holds a key");
                        found.push((key.clone(), distance));
                    }
                }
            });
        }
        found
    }
}

/// Calls `visit` with every `bits`-bit value within `radius` bits of
/// `centre` (each once).
fn for_each_within(centre: u32, bits: u32, radius: u32, mut visit: impl FnMut(u32)) {
    fn flip(value: u32, first_bit: u32, bits: u32, flips_left: u32, visit: &mut impl FnMut(u32)) {
        visit(value);
        if flips_left == 0 {
            return;
        }
        for bit in first_bit..bits {
            flip(value ^ (1 << bit), bit + 1, bits, flips_left - 1, visit);
        }
    }
    flip(centre, 0, bits, radius, &mut visit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn linear_scan(stored: &[(u32, u64)], query: u64, distance_max: u32) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = stored.iter().map(|&(key, hash)| (key, (hash ^ query).count_ones())).filter(|&(_, distance)| distance <= distance_max).collect();
        out.sort_unstable();
        out
    }

    fn sorted(mut found: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
        found.sort_unstable();
        found
    }

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

    #[test]
    fn enumerates_each_value_within_the_radius_once() {
        for (radius, expected) in [(0, 1), (1, 14), (2, 92), (3, 378)] {
            let mut seen = Vec::new();
            for_each_within(0x1BEF, 13, radius, |v| seen.push(v));
            assert_eq!(seen.len(), expected);
            assert!(seen.iter().all(|v| *v < 1 << 13 && (v ^ 0x1BEF).count_ones() <= radius));
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), expected, "no value twice");
        }
    }

    #[test]
    fn blocks_cover_the_hash_and_radii_follow_the_pigeonhole() {
        assert_eq!(BLOCK_BITS.iter().sum::<u32>(), 64);
        let all_ones: Vec<u32> = (0..BLOCKS).map(|index| block(u64::MAX, index)).collect();
        assert_eq!(all_ones, vec![0x1FFF, 0x1FFF, 0x1FFF, 0x1FFF, 0xFFF]);
        assert_eq!(block(1 << 63, 0), 1 << 12);
        assert_eq!(block(1, 4), 1);
        for (distance_max, expected) in [(0, [Some(0), None, None, None, None]), (4, [Some(0); 5]), (7, [Some(1), Some(1), Some(1), Some(0), Some(0)]), (14, [Some(2); 5])] {
            let radii = block_radii(distance_max);
            assert_eq!(radii, expected, "d = {distance_max}");
            // Pigeonhole: exceeding every block's radius exceeds d.
            let just_missed: u32 = radii.iter().map(|r| r.map_or(0, |r| r + 1)).sum();
            assert_eq!(just_missed, distance_max + 1);
        }
    }

    #[test]
    fn finds_planted_near_copies_and_not_far_ones() {
        let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
        let mut index = HashIndex::new();
        for key in 0..20_000u32 {
            index.insert(key, rng.next());
        }
        let query = rng.next();
        for (key, bits) in [(100_000u32, 0u32), (100_001, 3), (100_002, 7), (100_003, 12), (100_004, 13), (100_005, 20)] {
            index.insert(key, rng.flip(query, bits));
        }
        let found: Vec<u32> = sorted(index.near(query, 12)).into_iter().map(|(k, _)| k).filter(|&k| k >= 100_000).collect();
        assert_eq!(found, vec![100_000, 100_001, 100_002, 100_003]);
        assert_eq!(sorted(index.near(query, 0)).into_iter().filter(|&(k, _)| k >= 100_000).collect::<Vec<_>>(), vec![(100_000, 0)]);
    }

    #[test]
    fn insert_replaces_and_remove_forgets() {
        let mut index = HashIndex::new();
        assert!(index.is_empty());
        index.insert("a", 0);
        assert!(!index.is_empty());
        index.insert("b", u64::MAX);
        index.insert("a", 0xFF);
        assert_eq!(index.len(), 2);
        assert_eq!(index.get(&"a"), Some(0xFF));
        assert_eq!(index.near(0, 8), vec![("a", 8)]);
        assert!(index.remove(&"a"));
        assert!(!index.remove(&"a"));
        assert!(index.near(0, 15).is_empty());
        index.insert("c", 1);
        assert_eq!(index.near(0, 1), vec![("c", 1)], "a freed slot is reused cleanly");
        assert_eq!(index.len(), 2);
    }

    #[test]
    #[should_panic(expected = "exceeds")]
    fn refuses_a_radius_beyond_its_limit() {
        HashIndex::<u32>::new().near(0, DISTANCE_MAX + 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        /// The index answers exactly what a scan of every row answers, on
        /// random hashes with planted near neighbours and after removals.
        #[test]
        fn agrees_with_a_linear_scan(seed in 1u64.., distance_max in 0u32..=DISTANCE_MAX) {
            let mut rng = XorShift(seed);
            let query = rng.next();
            let mut stored: Vec<(u32, u64)> = Vec::new();
            for key in 0..600u32 {
                let hash = if key % 3 == 0 { let bits = (rng.next() % 20) as u32; rng.flip(query, bits) } else { rng.next() };
                stored.push((key, hash));
            }
            let mut index = HashIndex::new();
            for &(key, hash) in &stored {
                index.insert(key, hash);
            }
            for key in (0..600u32).step_by(7) {
                index.remove(&key);
            }
            stored.retain(|(key, _)| key % 7 != 0);
            prop_assert_eq!(sorted(index.near(query, distance_max)), linear_scan(&stored, query, distance_max));
        }
    }
}
