//! Near-copy search among perceptual hashes. Being written.
