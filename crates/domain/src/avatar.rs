//! Avatars: decoding with limits and perceptual hashes. Being written.
