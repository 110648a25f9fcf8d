//! The audit log: every action on a session (provision, access, solution,
//! fault, grade, override, report, teardown) appended to a keyed chain. Each
//! entry's hash is an HMAC-SHA-256, under a key kept outside the database
//! (`audit.key` beside it, or `PLATEAU_AUDIT_KEY`), of its content and the
//! previous entry's hash: whoever can write the database but not read the
//! key can neither edit, remove or reorder entries nor write a new chain
//! that verifies. The head printed on a grid pins the end; the grades and
//! the jury's decisions are bound to it (see `verify_audit`).

use std::path::PathBuf;

use hmac::{Hmac, Mac};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::{Error, Store};

/// The hash before a session's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// What `verify` found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Breach {
    /// The entry's content no longer matches its hash.
    Edited { n: i64 },
    /// The entry does not follow the one before it (a removal or a reordering).
    Broken { n: i64 },
    /// A stored grade that no `grade` entry of the chain vouches for.
    GradeUnbound { candidate: String, graded_at: String },
    /// A jury decision that differs from the last one the chain recorded.
    DecisionUnbound { candidate: String, criterion: String },
}

/// The SHA-256 of a text, in hex (what `grade` entries record of a grade).
pub fn sha256(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// Bytes in lowercase hex (digests as the audit log and archives write them).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[allow(clippy::too_many_arguments)]
fn digest(key: &[u8], session: &str, n: i64, at: &str, actor: &str, action: &str, detail: &str, prev: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in [session, &n.to_string(), at, actor, action, detail, prev] {
        mac.update(part.as_bytes());
        mac.update(&[0u8]);
    }
    hex(&mac.finalize().into_bytes())
}

/// Recompute a session's chain (from the database or an archive): every
/// entry must hash to its hash under `key` and follow the one before it.
pub fn verify_chain(key: &[u8], session: &str, log: &[AuditEntry]) -> Vec<Breach> {
    let mut breaches = Vec::new();
    let mut prev = GENESIS.to_string();
    let mut expected_n = 1;
    for e in log {
        if digest(key, session, e.n, &e.at, &e.actor, &e.action, &e.detail, &e.prev) != e.hash {
            breaches.push(Breach::Edited { n: e.n });
        } else if e.prev != prev || e.n != expected_n {
            breaches.push(Breach::Broken { n: e.n });
        }
        prev = e.hash.clone();
        expected_n = e.n + 1;
    }
    breaches
}

/// A text's HMAC-SHA-256 under the audit key, in hex: what binds a file
/// written outside the database (an archive's manifest) to the centre.
pub fn seal(key: &[u8], text: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"plateau seal\0");
    mac.update(text.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// An audit key as kept in its file (see `Store::audit_key_path`).
pub fn read_audit_key(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().as_bytes().to_vec())
        .map_err(|e| Error::AuditKey(format!("{}: {e}", path.display())))
}

impl Store {
    /// Where the audit key lives: `PLATEAU_AUDIT_KEY`, or `audit.key` beside the database.
    pub fn audit_key_path(&self) -> PathBuf {
        match std::env::var_os("PLATEAU_AUDIT_KEY") {
            Some(p) => PathBuf::from(p),
            None => self.dir().join("audit.key"),
        }
    }

    /// The audit key; made (random, 0600) only while no log exists yet: a
    /// key lost later is an error, never silently replaced.
    pub fn audit_key(&self) -> Result<Vec<u8>, Error> {
        let path = self.audit_key_path();
        let shown = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text.trim().as_bytes().to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let entries: i64 =
                    self.conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0)).map_err(self.fail())?;
                if entries > 0 {
                    return Err(Error::AuditKey(format!(
                        "{shown} is missing: the audit log of this database was keyed with it and cannot be \
                         extended or verified without it (put the key back, or point PLATEAU_AUDIT_KEY at it)"
                    )));
                }
                let key: [u8; 32] = rand::random();
                crate::private::write(&path, hex(&key).as_bytes())
                    .map_err(|e| Error::AuditKey(format!("{shown}: {e}")))?;
                Ok(hex(&key).into_bytes())
            }
            Err(e) => Err(Error::AuditKey(format!("{shown}: {e}"))),
        }
    }
}

impl Store {
    /// A session's secret: what its passwords and keys are drawn with
    /// besides its (public) seed. Derived from the audit key, kept outside
    /// the database: the same for every run of the session, known to no
    /// candidate.
    pub fn session_secret(&self, session: &str) -> Result<String, Error> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.audit_key()?).expect("HMAC takes any key length");
        mac.update(b"plateau session secret\0");
        mac.update(session.as_bytes());
        Ok(hex(&mac.finalize().into_bytes()))
    }

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
        let hash = digest(&self.audit_key()?, session, n, &at, actor, action, &detail, &prev);
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
    /// and then every stored grade must be one a `grade` entry recorded
    /// (its SHA-256), and every jury decision the last one an `override`
    /// entry recorded for its criterion (verdict, comment, member).
    pub fn verify_audit(&self, session: &str) -> Result<Vec<Breach>, Error> {
        let log = self.audit_log(session)?;
        let mut breaches = verify_chain(&self.audit_key()?, session, &log);
        let details: Vec<(&str, serde_json::Value)> =
            log.iter().filter_map(|e| serde_json::from_str(&e.detail).ok().map(|d| (e.action.as_str(), d))).collect();
        let graded: std::collections::BTreeSet<&str> =
            details.iter().filter(|(a, _)| *a == "grade").filter_map(|(_, d)| d["sha256"].as_str()).collect();
        let mut stmt = self
            .conn
            .prepare("SELECT candidate, graded_at, result FROM grades WHERE session = ?1 ORDER BY seq")
            .map_err(self.fail())?;
        let grades = stmt
            .query_map([session], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map_err(self.fail())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.fail())?;
        for (candidate, graded_at, result) in grades {
            if !graded.contains(sha256(&result).as_str()) {
                breaches.push(Breach::GradeUnbound { candidate, graded_at });
            }
        }
        for candidate in self.overridden_candidates(session)? {
            for o in self.overrides(session, &candidate)? {
                let recorded = details.iter().rev().find(|(a, d)| {
                    *a == "override" && d["candidate"] == candidate.as_str() && d["criterion"] == o.criterion.as_str()
                });
                let bound = recorded.is_some_and(|(_, d)| {
                    d["verdict"] == o.verdict.as_str() && d["comment"] == o.comment.as_str() && d["by"] == o.by.as_str()
                });
                if !bound {
                    breaches.push(Breach::DecisionUnbound { candidate: candidate.clone(), criterion: o.criterion });
                }
            }
        }
        Ok(breaches)
    }

    fn overridden_candidates(&self, session: &str) -> Result<Vec<String>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT candidate FROM overrides WHERE session = ?1 ORDER BY candidate")
            .map_err(self.fail())?;
        let rows = stmt.query_map([session], |r| r.get(0)).map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
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

    #[test]
    fn a_chain_rewritten_without_the_key_does_not_verify() {
        let (dir, store) = log();
        // Whoever can write the database recomputes every hash, unkeyed or with another key.
        let entries = store.audit_log("exam").unwrap();
        let mut prev = GENESIS.to_string();
        for e in entries {
            let detail = e.detail.replace("c01", "c09");
            let hash = digest(b"guessed", "exam", e.n, &e.at, &e.actor, &e.action, &detail, &prev);
            store
                .conn
                .execute(
                    "UPDATE audit SET detail = ?1, prev = ?2, hash = ?3 WHERE n = ?4",
                    params![detail, prev, hash, e.n],
                )
                .unwrap();
            prev = hash;
        }
        assert_eq!(store.verify_audit("exam").unwrap().len(), 4);
        // The key is private, and a lost key is said, never replaced.
        use std::os::unix::fs::PermissionsExt;
        let key = dir.path().join("audit.key");
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::remove_file(&key).unwrap();
        let lost = store.verify_audit("exam").unwrap_err().to_string();
        assert!(lost.contains("audit.key is missing"), "{lost}");
    }

    #[test]
    fn grades_and_jury_decisions_are_bound_to_the_chain() {
        let (_dir, store) = log();
        let grade = r#"{"score":3}"#;
        store.put_grade("exam", "c01", grade).unwrap();
        store
            .audit("exam", "jury", "grade", &serde_json::json!({ "candidate": "c01", "sha256": sha256(grade) }))
            .unwrap();
        let decision = crate::OverrideRecord {
            criterion: "CP7.1".into(),
            verdict: "met".into(),
            comment: "vu en entretien".into(),
            by: "M. Martin".into(),
            at: String::new(),
        };
        store.put_override("exam", "c01", &decision).unwrap();
        store
            .audit(
                "exam",
                "jury",
                "override",
                &serde_json::json!({ "candidate": "c01", "criterion": "CP7.1", "verdict": "met",
                                     "comment": "vu en entretien", "by": "M. Martin" }),
            )
            .unwrap();
        assert_eq!(store.verify_audit("exam").unwrap(), []);
        // A grade rewritten in place, a decision changed behind the log.
        store.conn.execute("UPDATE grades SET result = '{\"score\":4}'", []).unwrap();
        store.conn.execute("UPDATE overrides SET verdict = 'not-met'", []).unwrap();
        let breaches = store.verify_audit("exam").unwrap();
        assert!(matches!(&breaches[0], Breach::GradeUnbound { candidate, .. } if candidate == "c01"), "{breaches:?}");
        assert!(
            matches!(&breaches[1], Breach::DecisionUnbound { criterion, .. } if criterion == "CP7.1"),
            "{breaches:?}"
        );
    }
}
