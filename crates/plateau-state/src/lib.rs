//! The session database: what `up` decided (seed, plans, ports, passwords), so
//! that every later command sees the same platforms. The engine stays the
//! source of truth for what *exists*; this file holds what was *meant*.

use std::path::Path;

mod accounts;
mod audit;
mod deadlines;
mod faults;
pub mod private;
mod typed;

pub use accounts::{AccountRecord, WebSession};
pub use audit::{AuditEntry, Breach, GENESIS, hex, read_audit_key, seal, sha256, verify_chain};
pub use deadlines::Deadline;
pub use faults::{ActiveFault, ScheduledFault};
pub use typed::{FaultWindow, TypedLine};

use plateau_scenario::CandidatePlan;
use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("session database {path}: {message}")]
    Database { path: String, message: String },
    #[error("no session `{0}` in the database (see `plateau status`)")]
    UnknownSession(String),
    #[error("session `{session}` has no candidate `{candidate}`")]
    UnknownCandidate { session: String, candidate: String },
    #[error("session `{0}` exists with another scenario or seed; use another session name, or `plateau down` it first")]
    Mismatch(String),
    #[error("audit key {0}")]
    AuditKey(String),
}

/// Where a session's candidates reach the seat gateway (recorded, graded
/// ways in): the console's address and the SSH gateway's `HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatewayAddress {
    pub console: Option<String>,
    pub ssh: Option<String>,
}

/// A session as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub name: String,
    pub scenario_file: String,
    pub scenario_hash: String,
    pub seed: String,
    /// The scenario as it was at `up`: later commands read this, never the
    /// file again (it may have changed since).
    pub scenario_text: String,
}

/// A candidate as recorded: their plan, their SSH port on the host, and the
/// engine their platform was placed on.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateRecord {
    pub id: String,
    pub ssh_port: u16,
    pub plan: CandidatePlan,
    /// The site file's id of the engine (`local` without a site file).
    pub engine: String,
}

/// The engine of a centre without a site file, and of databases made before placement.
pub const LOCAL_ENGINE: &str = "local";

pub struct Store {
    pub(crate) conn: Connection,
    path: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
  name TEXT PRIMARY KEY,
  scenario_file TEXT NOT NULL,
  scenario_hash TEXT NOT NULL,
  seed TEXT NOT NULL,
  scenario_text TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS candidates (
  session TEXT NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
  id TEXT NOT NULL,
  position INTEGER NOT NULL,
  ssh_port INTEGER NOT NULL,
  plan TEXT NOT NULL,
  PRIMARY KEY (session, id)
);
CREATE TABLE IF NOT EXISTS grader_keys (
  session TEXT PRIMARY KEY REFERENCES sessions(name) ON DELETE CASCADE,
  private_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS gateways (
  session TEXT PRIMARY KEY REFERENCES sessions(name) ON DELETE CASCADE,
  console TEXT,
  ssh TEXT
);
CREATE TABLE IF NOT EXISTS host_keys (
  session TEXT NOT NULL REFERENCES sessions(name) ON DELETE CASCADE,
  candidate TEXT NOT NULL,
  node TEXT NOT NULL,
  keys TEXT NOT NULL,
  PRIMARY KEY (session, candidate, node)
);
-- Grades and the jury's overrides outlive the platforms: no cascade.
CREATE TABLE IF NOT EXISTS grades (
  session TEXT NOT NULL,
  candidate TEXT NOT NULL,
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  graded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  result TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deadlines (
  session TEXT NOT NULL,
  candidate TEXT NOT NULL,
  phase TEXT NOT NULL,
  ends_at INTEGER NOT NULL,
  cut_at TEXT,
  frozen_at TEXT,
  PRIMARY KEY (session, candidate, phase)
);
CREATE TABLE IF NOT EXISTS scheduled_faults (
  session TEXT NOT NULL,
  candidate TEXT NOT NULL,
  fault TEXT NOT NULL,
  node TEXT,
  params TEXT NOT NULL,
  at INTEGER NOT NULL,
  done INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS faults (
  session TEXT NOT NULL,
  candidate TEXT NOT NULL,
  fault TEXT NOT NULL,
  title TEXT NOT NULL,
  breaks TEXT NOT NULL,
  revert TEXT NOT NULL,
  injected_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  reverted_at TEXT,
  observed INTEGER NOT NULL DEFAULT 1,
  ticket INTEGER
);
CREATE TABLE IF NOT EXISTS audit (
  session TEXT NOT NULL,
  n INTEGER NOT NULL,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS overrides (
  session TEXT NOT NULL,
  candidate TEXT NOT NULL,
  criterion TEXT NOT NULL,
  verdict TEXT NOT NULL,
  comment TEXT NOT NULL,
  by_whom TEXT NOT NULL,
  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (session, candidate, criterion)
);
";

/// A jury's decision on one criterion, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideRecord {
    pub criterion: String,
    pub verdict: String,
    pub comment: String,
    pub by: String,
    pub at: String,
}

impl Store {
    /// Open (or create) the database. Writes are durable before they return
    /// (WAL, synchronous=FULL): a crash right after `up` decided loses nothing.
    pub fn open(path: &Path) -> Result<Store, Error> {
        let shown = path.display().to_string();
        let fail = |e: rusqlite::Error| Error::Database { path: shown.clone(), message: e.to_string() };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private::create_dir(dir).map_err(|e| Error::Database { path: shown.clone(), message: e.to_string() })?;
        }
        let conn = Connection::open(path).map_err(fail)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;",
        )
        .map_err(fail)?;
        // Plans and sheets hold the candidates' passwords: the owner's only.
        for suffix in ["", "-wal", "-shm"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            private::restrict(&file).map_err(|e| Error::Database { path: shown.clone(), message: e.to_string() })?;
        }
        conn.execute_batch(SCHEMA).map_err(fail)?;
        conn.execute_batch(accounts::SCHEMA).map_err(fail)?;
        conn.execute_batch(typed::SCHEMA).map_err(fail)?;
        // Databases made before a column was kept gain it: the scenario
        // text, whether a fault's effect was seen (old faults: as seen), the
        // ticket a fault's request opened.
        for (table, column, definition) in [
            ("sessions", "scenario_text", "TEXT NOT NULL DEFAULT ''"),
            ("faults", "observed", "INTEGER NOT NULL DEFAULT 1"),
            ("faults", "ticket", "INTEGER"),
            ("candidates", "engine", "TEXT NOT NULL DEFAULT 'local'"),
        ] {
            let query = format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = '{column}'");
            if !conn.prepare(&query).and_then(|mut s| s.exists([])).map_err(fail)? {
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {definition}")).map_err(fail)?;
            }
        }
        Ok(Store { conn, path: shown })
    }

    /// The directory that holds the database.
    pub(crate) fn dir(&self) -> std::path::PathBuf {
        std::path::Path::new(&self.path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| std::path::PathBuf::from("."), |d| d.to_path_buf())
    }

    pub(crate) fn fail(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        move |e| Error::Database { path: self.path.clone(), message: e.to_string() }
    }

    /// Record a session; re-recording the same one is a no-op, a different
    /// scenario or seed under the same name is refused.
    pub fn ensure_session(&self, session: &SessionRecord) -> Result<(), Error> {
        if let Ok(existing) = self.session(&session.name) {
            return if existing.scenario_hash == session.scenario_hash && existing.seed == session.seed {
                Ok(())
            } else {
                Err(Error::Mismatch(session.name.clone()))
            };
        }
        self.conn
            .execute(
                "INSERT INTO sessions (name, scenario_file, scenario_hash, seed, scenario_text) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![session.name, session.scenario_file, session.scenario_hash, session.seed, session.scenario_text],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    pub fn session(&self, name: &str) -> Result<SessionRecord, Error> {
        self.conn
            .query_row(
                "SELECT name, scenario_file, scenario_hash, seed, scenario_text FROM sessions WHERE name = ?1",
                [name],
                |r| {
                    Ok(SessionRecord {
                        name: r.get(0)?,
                        scenario_file: r.get(1)?,
                        scenario_hash: r.get(2)?,
                        seed: r.get(3)?,
                        scenario_text: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(self.fail())?
            .ok_or_else(|| Error::UnknownSession(name.to_string()))
    }

    pub fn sessions(&self) -> Result<Vec<String>, Error> {
        let mut stmt = self.conn.prepare("SELECT name FROM sessions ORDER BY name").map_err(self.fail())?;
        let names = stmt.query_map([], |r| r.get(0)).map_err(self.fail())?;
        names.collect::<Result<_, _>>().map_err(self.fail())
    }

    /// Record a candidate's plan and port (replacing an earlier record).
    pub fn put_candidate(&self, session: &str, record: &CandidateRecord) -> Result<(), Error> {
        let plan = serde_json::to_string(&record.plan).expect("plans serialize");
        self.conn
            .execute(
                "INSERT OR REPLACE INTO candidates (session, id, position, ssh_port, plan, engine) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![session, record.id, record.plan.candidate.index as i64, record.ssh_port, plan, record.engine],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    pub fn candidates(&self, session: &str) -> Result<Vec<CandidateRecord>, Error> {
        self.session(session)?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, ssh_port, plan, engine FROM candidates WHERE session = ?1 ORDER BY position")
            .map_err(self.fail())?;
        let rows = stmt
            .query_map([session], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, u16>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
            })
            .map_err(self.fail())?;
        let mut out = Vec::new();
        for row in rows {
            let (id, ssh_port, plan, engine) = row.map_err(self.fail())?;
            let plan = serde_json::from_str(&plan)
                .map_err(|e| Error::Database { path: self.path.clone(), message: format!("plan of {id}: {e}") })?;
            out.push(CandidateRecord { id, ssh_port, plan, engine });
        }
        Ok(out)
    }

    pub fn candidate(&self, session: &str, id: &str) -> Result<CandidateRecord, Error> {
        self.candidates(session)?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| Error::UnknownCandidate { session: session.to_string(), candidate: id.to_string() })
    }

    /// The session's grader key (OpenSSH private key), made on first use.
    pub fn grader_key(&self, session: &str, make: impl FnOnce() -> String) -> Result<String, Error> {
        let existing: Option<String> = self
            .conn
            .query_row("SELECT private_key FROM grader_keys WHERE session = ?1", [session], |r| r.get(0))
            .optional()
            .map_err(self.fail())?;
        if let Some(key) = existing {
            return Ok(key);
        }
        let key = make();
        self.conn
            .execute("INSERT INTO grader_keys (session, private_key) VALUES (?1, ?2)", params![session, key])
            .map_err(self.fail())?;
        Ok(key)
    }

    /// Record that the session's candidates come in through the seat
    /// gateway, at these addresses (as candidates type them).
    pub fn put_gateway(&self, session: &str, gateway: &GatewayAddress) -> Result<(), Error> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO gateways (session, console, ssh) VALUES (?1, ?2, ?3)",
                params![session, gateway.console, gateway.ssh],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    /// Where the session's candidates come in, if through the seat gateway.
    pub fn gateway(&self, session: &str) -> Result<Option<GatewayAddress>, Error> {
        self.conn
            .query_row("SELECT console, ssh FROM gateways WHERE session = ?1", [session], |r| {
                Ok(GatewayAddress { console: r.get(0)?, ssh: r.get(1)? })
            })
            .optional()
            .map_err(self.fail())
    }

    /// Pin a node's SSH host keys (replacing earlier ones: a re-created node has new keys).
    pub fn put_host_keys(&self, session: &str, candidate: &str, node: &str, keys: &[String]) -> Result<(), Error> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO host_keys (session, candidate, node, keys) VALUES (?1, ?2, ?3, ?4)",
                params![session, candidate, node, keys.join("\n")],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    pub fn host_keys(&self, session: &str, candidate: &str, node: &str) -> Result<Vec<String>, Error> {
        let keys: Option<String> = self
            .conn
            .query_row(
                "SELECT keys FROM host_keys WHERE session = ?1 AND candidate = ?2 AND node = ?3",
                params![session, candidate, node],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.fail())?;
        Ok(keys.map(|k| k.lines().map(str::to_string).collect()).unwrap_or_default())
    }

    /// Append a grade (JSON); earlier grades are kept.
    pub fn put_grade(&self, session: &str, candidate: &str, result: &str) -> Result<(), Error> {
        self.conn
            .execute(
                "INSERT INTO grades (session, candidate, result) VALUES (?1, ?2, ?3)",
                params![session, candidate, result],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    /// The latest grade of a candidate (JSON).
    pub fn latest_grade(&self, session: &str, candidate: &str) -> Result<Option<String>, Error> {
        self.conn
            .query_row(
                "SELECT result FROM grades WHERE session = ?1 AND candidate = ?2 ORDER BY seq DESC LIMIT 1",
                params![session, candidate],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.fail())
    }

    /// Every grade of a candidate (JSON), oldest first.
    pub fn grades(&self, session: &str, candidate: &str) -> Result<Vec<String>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT result FROM grades WHERE session = ?1 AND candidate = ?2 ORDER BY seq")
            .map_err(self.fail())?;
        let rows = stmt.query_map(params![session, candidate], |r| r.get(0)).map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    /// Record (or replace) the jury's decision on a criterion.
    pub fn put_override(&self, session: &str, candidate: &str, o: &OverrideRecord) -> Result<(), Error> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO overrides (session, candidate, criterion, verdict, comment, by_whom) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![session, candidate, o.criterion, o.verdict, o.comment, o.by],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    pub fn overrides(&self, session: &str, candidate: &str) -> Result<Vec<OverrideRecord>, Error> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT criterion, verdict, comment, by_whom, at FROM overrides \
                 WHERE session = ?1 AND candidate = ?2 ORDER BY criterion",
            )
            .map_err(self.fail())?;
        let rows = stmt
            .query_map(params![session, candidate], |r| {
                Ok(OverrideRecord {
                    criterion: r.get(0)?,
                    verdict: r.get(1)?,
                    comment: r.get(2)?,
                    by: r.get(3)?,
                    at: r.get(4)?,
                })
            })
            .map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    /// The candidates that have a grade, in the order they were first graded.
    pub fn graded_candidates(&self, session: &str) -> Result<Vec<String>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT candidate FROM grades WHERE session = ?1 GROUP BY candidate ORDER BY MIN(seq)")
            .map_err(self.fail())?;
        let rows = stmt.query_map([session], |r| r.get(0)).map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    /// Forget a session's platforms (after `down`); its grades stay.
    pub fn remove_session(&self, name: &str) -> Result<(), Error> {
        self.conn.execute("DELETE FROM sessions WHERE name = ?1", [name]).map_err(self.fail())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plateau_scenario::{Candidate, Scenario};

    fn plan() -> CandidatePlan {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/tai-small.toml")).unwrap();
        let scenario = Scenario::parse("tai-small.toml", &text).unwrap();
        scenario.plan("s", &Candidate::numbered(1)).unwrap().remove(0)
    }

    #[test]
    fn a_session_survives_reopening_and_refuses_another_seed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let session = SessionRecord {
            name: "exam".into(),
            scenario_file: "x.toml".into(),
            scenario_hash: "h".into(),
            seed: "s".into(),
            scenario_text: "[scenario]".into(),
        };
        {
            let store = Store::open(&path).unwrap();
            store.ensure_session(&session).unwrap();
            store
                .put_candidate(
                    "exam",
                    &CandidateRecord { id: "c01".into(), ssh_port: 22001, plan: plan(), engine: "salle-b".into() },
                )
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        store.ensure_session(&session).unwrap();
        assert_eq!(store.candidate("exam", "c01").unwrap().plan, plan());
        assert_eq!(store.candidate("exam", "c01").unwrap().engine, "salle-b");
        let other = SessionRecord { seed: "t".into(), ..session };
        assert!(matches!(store.ensure_session(&other), Err(Error::Mismatch(_))));
        store.put_grade("exam", "c01", "{\"score\":1}").unwrap();
        store.put_grade("exam", "c01", "{\"score\":2}").unwrap();
        assert_eq!(store.latest_grade("exam", "c01").unwrap().as_deref(), Some("{\"score\":2}"));
        let jury = OverrideRecord {
            criterion: "CP7.2".into(),
            verdict: "met".into(),
            comment: "vu en entretien".into(),
            by: "jury".into(),
            at: String::new(),
        };
        store.put_override("exam", "c01", &jury).unwrap();
        assert_eq!(store.overrides("exam", "c01").unwrap()[0].comment, "vu en entretien");
        let key = store.grader_key("exam", || "k1".into()).unwrap();
        assert_eq!(store.grader_key("exam", || "k2".into()).unwrap(), key);
        store.remove_session("exam").unwrap();
        // The platforms are gone; the grades stay for the jury.
        assert!(store.latest_grade("exam", "c01").unwrap().is_some());
        assert!(matches!(store.candidates("exam"), Err(Error::UnknownSession(_))));
    }
}
