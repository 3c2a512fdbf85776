-- Transfer velocity (issue 16): on SQLite one server owns the store, so each
-- payer's velocity lives in that server's memory (`limits.rs`); nothing to store.

