//! Look-alike nicknames (impersonation detection). Being written.
