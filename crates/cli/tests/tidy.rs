//! The house rules, checked by scanning the source (STYLE.md rule 14):
//! no floats near money, no `unwrap()` outside tests, no wall-clock reads
//! outside the clock module, no `todo!`/`unimplemented!`/`dbg!`, and no
//! personal-data field handed to a log macro.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `src/**/*.rs` of every crate, with its non-test part (everything
/// before the first `#[cfg(test)]`).
fn sources() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![workspace().join("crates")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable source tree") {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if name != "tests" && name != "target" && name != "assets" {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") && path.components().any(|c| c.as_os_str() == "src") {
                let text = std::fs::read_to_string(&path).expect("readable source file");
                let production = text.split("#[cfg(test)]").next().unwrap_or("").to_owned();
                out.push((path, production));
            }
        }
    }
    assert!(out.len() > 20, "found the sources");
    out
}

fn violations(rule: impl Fn(&Path, &str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in sources() {
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if rule(&path, code) {
                found.push(format!("{}:{}: {}", path.display(), number + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn no_floats_near_money() {
    let found = violations(|_, code| {
        let float = code.contains("f64") || code.contains("f32");
        let money = ["amount", "fen", "balance", "money", "held", "available"].iter().any(|w| code.to_lowercase().contains(w));
        float && money
    });
    assert!(found.is_empty(), "floats near money:\n{}", found.join("\n"));
}

#[test]
fn no_unwrap_outside_tests() {
    let found = violations(|_, code| code.contains(".unwrap()"));
    assert!(found.is_empty(), "unwrap() outside tests (handle the error or `expect` an invariant with a reason):\n{}", found.join("\n"));
}

#[test]
fn the_wall_clock_is_read_only_by_the_clock_module() {
    let found = violations(|path, code| {
        let reads = ["SystemTime::now", "Timestamp::now", "Utc::now", "Local::now", "Zoned::now"].iter().any(|p| code.contains(p));
        reads && !path.ends_with("service/src/clock.rs")
    });
    assert!(found.is_empty(), "wall-clock reads outside crates/service/src/clock.rs:\n{}", found.join("\n"));
}

#[test]
fn no_unfinished_code() {
    let macros = ["todo", "unimplemented", "dbg"].map(|name| format!("{name}!("));
    let found = violations(|_, code| macros.iter().any(|m| code.contains(m.as_str())));
    assert!(found.is_empty(), "unfinished code:\n{}", found.join("\n"));
}

#[test]
fn personal_data_never_reaches_a_log_macro() {
    let found = violations(|_, code| {
        let logs = ["tracing::", "info!(", "warn!(", "error!(", "debug!(", "trace!("].iter().any(|p| code.contains(p));
        let personal = ["legal_name", "id_number", "expose()", "card_number", "password", ".phone"].iter().any(|p| code.contains(p));
        logs && personal
    });
    assert!(found.is_empty(), "personal data near a log call:\n{}", found.join("\n"));
}

/// ARCHITECTURE.md: handlers only parse and render; the operations are the
/// service's. A handler that reaches for the store is the second copy of an
/// operation waiting to drift. (Only `/healthz` reads the store directly: it
/// probes the store itself.)
#[test]
fn handlers_call_the_service_not_the_store() {
    let handlers = ["server/src/api/money.rs", "server/src/api/accounts.rs", "server/src/api/payees.rs", "server/src/auth.rs"];
    let found = violations(|path, code| handlers.iter().any(|h| path.ends_with(h)) && code.contains(".store."));
    assert!(found.is_empty(), "store calls in handlers (move them into recourse_service):\n{}", found.join("\n"));
}

/// ARCHITECTURE.md: a transfer's status is written by `transition` (and the
/// insert that creates it) in `ops.rs` only.
#[test]
fn transfer_status_is_written_only_by_the_state_machine() {
    let found = violations(|path, code| code.contains("UPDATE transfers SET status") && !path.ends_with("store/src/ops.rs"));
    assert!(found.is_empty(), "transfer status written outside ops.rs::transition:\n{}", found.join("\n"));
    let writes = violations(|_, code| code.contains("UPDATE transfers SET status"));
    assert_eq!(writes.len(), 1, "exactly one statement changes a transfer's status: {writes:?}");
}
