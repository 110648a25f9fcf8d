//! The audit log: every action on a session (provision, access, solution,
//! fault, grade, override, report, teardown) appended to a hash chain. Each
//! entry's hash covers its content and the previous entry's hash, so editing,
//! removing or reordering entries breaks the chain; the head hash printed in
//! reports pins the end.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::{Error, Store};

/// The hash before a session's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the session's log, from 1.
    pub n: i64,
    pub at: String,
    /// Who acted: an OS user, `plateau` for automatic actions.
    pub actor: String,
    /// What happened, e.g. `grade`, `fault.inject`.
    pub action: String,
    /// Details as JSON text.
    pub detail: String,
    pub prev: String,
    pub hash: String,
}

/// What `verify` found wrong, by entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Breach {
    /// The entry's content no longer matches its hash.
    Edited { n: i64 },
    /// The entry does not follow the one before it (a removal or a reordering).
    Broken { n: i64 },
}

fn digest(session: &str, n: i64, at: &str, actor: &str, action: &str, detail: &str, prev: &str) -> String {
    let mut h = Sha256::new();
    for part in [session, &n.to_string(), at, actor, action, detail, prev] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Append an entry; returns its hash (the new head). The transaction
    /// takes the write lock first (`BEGIN IMMEDIATE`): two processes appending
    /// at once wait for each other (busy timeout) instead of one failing with
    /// a stale snapshot, and the chain never forks.
    pub fn audit(&self, session: &str, actor: &str, action: &str, detail: &serde_json::Value) -> Result<String, Error> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
            .map_err(self.fail())?;
        let last: Option<(i64, String)> = tx
            .query_row("SELECT n, hash FROM audit WHERE session = ?1 ORDER BY n DESC LIMIT 1", [session], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(self.fail())?;
        let (n, prev) = last.map_or((1, GENESIS.to_string()), |(n, h)| (n + 1, h));
        let at: String =
            tx.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", [], |r| r.get(0)).map_err(self.fail())?;
        let detail = detail.to_string();
        let hash = digest(session, n, &at, actor, action, &detail, &prev);
        tx.execute(
            "INSERT INTO audit (session, n, at, actor, action, detail, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![session, n, at, actor, action, detail, prev, hash],
        )
        .map_err(self.fail())?;
        tx.commit().map_err(self.fail())?;
        Ok(hash)
    }

    /// The session's log, in order.
    pub fn audit_log(&self, session: &str) -> Result<Vec<AuditEntry>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT n, at, actor, action, detail, prev, hash FROM audit WHERE session = ?1 ORDER BY rowid")
            .map_err(self.fail())?;
        let rows = stmt
            .query_map([session], |r| {
                Ok(AuditEntry {
                    n: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    detail: r.get(4)?,
                    prev: r.get(5)?,
                    hash: r.get(6)?,
                })
            })
            .map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    /// The hash of the session's last entry.
    pub fn audit_head(&self, session: &str) -> Result<Option<String>, Error> {
        Ok(self.audit_log(session)?.last().map(|e| e.hash.clone()))
    }

    /// Recompute the chain: every entry must hash to its hash and follow the
    /// one stored before it.
    pub fn verify_audit(&self, session: &str) -> Result<Vec<Breach>, Error> {
        let mut breaches = Vec::new();
        let mut prev = GENESIS.to_string();
        let mut expected_n = 1;
        for e in self.audit_log(session)? {
            if digest(session, e.n, &e.at, &e.actor, &e.action, &e.detail, &e.prev) != e.hash {
                breaches.push(Breach::Edited { n: e.n });
            } else if e.prev != prev || e.n != expected_n {
                breaches.push(Breach::Broken { n: e.n });
            }
            prev = e.hash.clone();
            expected_n = e.n + 1;
        }
        Ok(breaches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        for (action, c) in [("up", "c01"), ("grade", "c01"), ("override", "c01"), ("report", "")] {
            store.audit("exam", "jury", action, &serde_json::json!({ "candidate": c })).unwrap();
        }
        (dir, store)
    }

    #[test]
    fn an_intact_log_verifies_and_its_head_is_the_last_hash() {
        let (_dir, store) = log();
        assert_eq!(store.verify_audit("exam").unwrap(), []);
        let entries = store.audit_log("exam").unwrap();
        assert_eq!(store.audit_head("exam").unwrap(), Some(entries[3].hash.clone()));
        assert_eq!(entries[1].prev, entries[0].hash);
    }

    #[test]
    fn edits_removals_and_reorderings_are_found() {
        let (_dir, store) = log();
        store.conn.execute("UPDATE audit SET detail = '{\"candidate\":\"c02\"}' WHERE n = 2", []).unwrap();
        assert_eq!(store.verify_audit("exam").unwrap(), [Breach::Edited { n: 2 }]);

        let (_dir, store) = log();
        store.conn.execute("DELETE FROM audit WHERE n = 2", []).unwrap();
        assert_eq!(store.verify_audit("exam").unwrap(), [Breach::Broken { n: 3 }]);

        let (_dir, store) = log();
        store.conn.execute("UPDATE audit SET n = 5 WHERE n = 2", []).unwrap();
        store.conn.execute("UPDATE audit SET n = 2 WHERE n = 3", []).unwrap();
        store.conn.execute("UPDATE audit SET n = 3 WHERE n = 5", []).unwrap();
        assert!(!store.verify_audit("exam").unwrap().is_empty());
    }
}
