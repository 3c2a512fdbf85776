//! Typed identifiers. All are UUID v7 (time-ordered, so new rows land on the
//! same index pages — the single biggest write-path gain measured in STACK.md).
//! An id is never a secret: tokens are separate random values.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id. The caller supplies the time-ordering source
            /// implicitly through UUID v7's embedded wall-clock milliseconds; ids are
            /// identifiers, not timestamps, so this does not read the service clock.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

typed_id!(
    /// A person known to Recourse: customer or staff.
    UserId
);
typed_id!(
    /// A ledger account: a customer wallet or a system account.
    AccountId
);
typed_id!(
    /// A business operation that moved money (transfer, top-up, withdrawal…).
    /// Every journal row points at exactly one operation.
    OperationId
);
typed_id!(
    /// A bank card bound to a customer.
    CardId
);
typed_id!(
    /// A hold: money reserved on an account for a pending operation.
    HoldId
);
