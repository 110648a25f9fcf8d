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
    /// The entry whose hash is the head asked about (`--head`), if any.
    pub head_at: Option<i64>,
}

impl Workspace {
    /// The session's log, oldest first (it outlives `down`).
    pub fn audit_log(&self, session: &str) -> Result<Vec<AuditEntry>> {
        Ok(self.store()?.audit_log(session)?)
    }

    /// Recompute the keyed chain and what it binds (grades, decisions);
    /// with `head` (as printed on a grid), find the entry it names.
    pub fn verify_audit(&self, session: &str, head: Option<&str>) -> Result<Verified> {
        let store = self.store()?;
        let log = store.audit_log(session)?;
        let breaches = store.verify_audit(session)?;
        let head_at = head.and_then(|h| log.iter().find(|e| e.hash == h.trim()).map(|e| e.n));
        let head = log.last().map_or_else(|| plateau_state::GENESIS.into(), |e| e.hash.clone());
        Ok(Verified { entries: log.len(), breaches, head, head_at })
    }
}
