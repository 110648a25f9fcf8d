//! The exam's clock as stored: each candidate's deadline per phase, when
//! their access was cut and when their freeze completed.

use rusqlite::params;

use crate::{Error, Store};

/// When a candidate's phase ends (Unix seconds), and whether it was frozen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    pub candidate: String,
    pub phase: String,
    pub ends_at: i64,
    /// When the candidate's access was cut (the freeze's first step).
    pub cut_at: Option<String>,
    /// When every node was snapshotted (the freeze is complete).
    pub frozen_at: Option<String>,
}

impl Store {
    /// Set a candidate's deadline for a phase (kept if already set, unless `replace`).
    pub fn set_deadline(
        &self,
        session: &str,
        candidate: &str,
        phase: &str,
        ends_at: i64,
        replace: bool,
    ) -> Result<(), Error> {
        let verb = if replace { "INSERT OR REPLACE" } else { "INSERT OR IGNORE" };
        self.conn
            .execute(
                &format!("{verb} INTO deadlines (session, candidate, phase, ends_at) VALUES (?1, ?2, ?3, ?4)"),
                params![session, candidate, phase, ends_at],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    /// Give a candidate more time (a legal right for some candidates).
    pub fn extend_deadline(&self, session: &str, candidate: &str, phase: &str, seconds: i64) -> Result<bool, Error> {
        let n = self
            .conn
            .execute(
                "UPDATE deadlines SET ends_at = ends_at + ?4 WHERE session = ?1 AND candidate = ?2 AND phase = ?3 AND frozen_at IS NULL",
                params![session, candidate, phase, seconds],
            )
            .map_err(self.fail())?;
        Ok(n > 0)
    }

    /// Record that the candidate's access was cut; `false` when it was already.
    pub fn mark_cut(&self, session: &str, candidate: &str, phase: &str) -> Result<bool, Error> {
        self.mark_once(session, candidate, phase, "cut_at")
    }

    /// Record that the freeze is complete; `false` when it was already (two
    /// freezes racing record one).
    pub fn mark_frozen(&self, session: &str, candidate: &str, phase: &str) -> Result<bool, Error> {
        self.mark_once(session, candidate, phase, "frozen_at")
    }

    /// Set a timestamp column of a deadline if it is not set yet.
    fn mark_once(&self, session: &str, candidate: &str, phase: &str, column: &'static str) -> Result<bool, Error> {
        let sql = format!(
            "UPDATE deadlines SET {column} = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
             WHERE session = ?1 AND candidate = ?2 AND phase = ?3 AND {column} IS NULL"
        );
        let n = self.conn.execute(&sql, params![session, candidate, phase]).map_err(self.fail())?;
        Ok(n > 0)
    }

    pub fn deadlines(&self, session: &str) -> Result<Vec<Deadline>, Error> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT candidate, phase, ends_at, cut_at, frozen_at FROM deadlines WHERE session = ?1 ORDER BY candidate, phase",
            )
            .map_err(self.fail())?;
        let rows = stmt
            .query_map([session], |r| {
                Ok(Deadline {
                    candidate: r.get(0)?,
                    phase: r.get(1)?,
                    ends_at: r.get(2)?,
                    cut_at: r.get(3)?,
                    frozen_at: r.get(4)?,
                })
            })
            .map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }
}
