//! The session's hash-chained audit log, read and verified.

use plateau_state::{AuditEntry, Breach};

use crate::context::Workspace;
use crate::error::Result;

/// What verifying the chain found.
pub struct Verified {
    pub entries: usize,
    pub breaches: Vec<Breach>,
    /// The head hash when the chain is intact.
    pub head: String,
}

impl Workspace {
    /// The session's log, oldest first (it outlives `down`).
    pub fn audit_log(&self, session: &str) -> Result<Vec<AuditEntry>> {
        Ok(self.store()?.audit_log(session)?)
    }

    /// Recompute the hash chain.
    pub fn verify_audit(&self, session: &str) -> Result<Verified> {
        let store = self.store()?;
        let entries = store.audit_log(session)?.len();
        let breaches = store.verify_audit(session)?;
        let head = store.audit_head(session)?.unwrap_or_else(|| plateau_state::GENESIS.into());
        Ok(Verified { entries, breaches, head })
    }
}
