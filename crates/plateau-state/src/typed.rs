//! What candidates typed through the seat gateway: one row per line they
//! entered on a node (as their terminal showed it, so a password typed at
//! a prompt that does not echo it is never here), with what it printed.
//! The jury's timeline reads it between a fault's injection and its end.

use rusqlite::params;

use crate::{Error, Store};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS typed (
  session TEXT NOT NULL,
  candidate TEXT NOT NULL,
  node TEXT NOT NULL,
  at TEXT NOT NULL,
  line TEXT NOT NULL,
  output TEXT NOT NULL,
  recording TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS typed_by_candidate ON typed (session, candidate, at);
";

/// A line a candidate entered on a node, and what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedLine {
    pub node: String,
    /// When Enter was pressed (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// The line as the terminal showed it (prompt included).
    pub line: String,
    pub output: String,
    /// The recording (asciicast file name) the line is in.
    pub recording: String,
}

/// A fault's time on a platform: from its injection to its revert (open when
/// it was not reverted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultWindow {
    pub fault: String,
    pub title: String,
    pub injected_at: String,
    pub reverted_at: Option<String>,
    /// The ticket its user's request opened, when it came as one.
    pub ticket: Option<u64>,
}

impl Store {
    /// Record an entered line; its row, for its output to follow.
    pub fn record_typed(&self, session: &str, candidate: &str, typed: &TypedLine) -> Result<i64, Error> {
        self.conn
            .execute(
                "INSERT INTO typed (session, candidate, node, at, line, output, recording) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![session, candidate, typed.node, typed.at, typed.line, typed.output, typed.recording],
            )
            .map_err(self.fail())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// What a recorded line has printed so far.
    pub fn typed_output(&self, row: i64, output: &str) -> Result<(), Error> {
        self.conn
            .execute("UPDATE typed SET output = ?2 WHERE rowid = ?1", params![row, output])
            .map_err(self.fail())?;
        Ok(())
    }

    /// The lines a candidate entered from `from` (inclusive) to `to`
    /// (inclusive; to now when `None`), in order.
    pub fn typed_between(
        &self,
        session: &str,
        candidate: &str,
        from: &str,
        to: Option<&str>,
    ) -> Result<Vec<TypedLine>, Error> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT node, at, line, output, recording FROM typed \
                 WHERE session = ?1 AND candidate = ?2 AND at >= ?3 AND (?4 IS NULL OR at <= ?4) ORDER BY at, rowid",
            )
            .map_err(self.fail())?;
        let rows = stmt
            .query_map(params![session, candidate, from, to], |r| {
                Ok(TypedLine {
                    node: r.get(0)?,
                    at: r.get(1)?,
                    line: r.get(2)?,
                    output: r.get(3)?,
                    recording: r.get(4)?,
                })
            })
            .map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    /// Every fault injected into a candidate's platform, reverted or not, in order.
    pub fn fault_windows(&self, session: &str, candidate: &str) -> Result<Vec<FaultWindow>, Error> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT fault, title, injected_at, reverted_at, ticket FROM faults \
                 WHERE session = ?1 AND candidate = ?2 ORDER BY rowid",
            )
            .map_err(self.fail())?;
        let rows = stmt
            .query_map(params![session, candidate], |r| {
                Ok(FaultWindow {
                    fault: r.get(0)?,
                    title: r.get(1)?,
                    injected_at: r.get(2)?,
                    reverted_at: r.get(3)?,
                    ticket: r.get(4)?,
                })
            })
            .map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }
}
