//! Time-driven work. The core has no scheduled actions yet: instant transfers
//! complete inside their own transaction. Delayed transfers, acceptance
//! deadlines and claim SLAs (roadmap) will keep their due times in the store
//! and run from here — both on a timer and whenever the test clock advances —
//! so that every deadline reads the service clock.

use crate::problem::ApiResult;
use crate::state::AppState;

/// Run every action due at the service clock's now. Returns how many ran.
pub async fn run_due(_state: &AppState) -> ApiResult<u64> {
    Ok(0)
}
