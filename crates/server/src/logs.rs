//! Log configuration. Personal data never reaches a log field: handlers log
//! ids and codes only, and the SQL drivers — whose debug output includes
//! statement parameters — are held at `info` whatever filter is configured.

use tracing_subscriber::EnvFilter;

/// Targets that would print statement parameters below `info`.
const PARAMETER_LOGGING_TARGETS: &[&str] = &["tokio_postgres=info", "postgres=info", "rusqlite=info"];

/// The filter from `RECOURSE_LOG` (tracing-subscriber syntax), default `info`,
/// with the driver targets capped.
pub fn filter() -> EnvFilter {
    let configured = std::env::var("RECOURSE_LOG").unwrap_or_else(|_| "info".to_owned());
    filter_from(&configured)
}

pub fn filter_from(configured: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_new(configured).unwrap_or_else(|_| EnvFilter::new("info"));
    for directive in PARAMETER_LOGGING_TARGETS {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}
