//! Who someone is to Recourse. Customers hold wallets; staff roles act in the
//! service console and never hold money.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Agent,
    Compliance,
    Authority,
    Admin,
}

impl Role {
    pub const STAFF: [Role; 4] = [Role::Agent, Role::Compliance, Role::Authority, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Agent => "agent",
            Role::Compliance => "compliance",
            Role::Authority => "authority",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Customer, Role::Agent, Role::Compliance, Role::Authority, Role::Admin].into_iter().find(|r| r.as_str() == s)
    }

    pub fn is_staff(self) -> bool {
        self != Role::Customer
    }
}
