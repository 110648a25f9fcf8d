//! Faults: scheduled for later, and present on a platform (injected,
//! observed, reverted).

use rusqlite::params;

use crate::{Error, Store};

/// A fault present on a platform.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveFault {
    pub fault: String,
    pub title: String,
    /// The checks it breaks (declared by the scenario, or measured at injection).
    pub breaks: Vec<String>,
    /// How to repair it (what `fault revert` runs).
    pub revert: Vec<plateau_scenario::model::Step>,
    /// Set by the database.
    pub injected_at: String,
    /// One of its checks was seen not passing since it was injected.
    pub observed: bool,
    /// The ticket its user's request opened in the help desk's tool.
    pub ticket: Option<u64>,
}

/// A fault to inject later (`fault inject --at`), run by `exam run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledFault {
    pub id: i64,
    pub candidate: String,
    pub fault: String,
    pub node: Option<String>,
    /// `KEY=VALUE` parameters of a built-in fault.
    pub params: Vec<(String, String)>,
    /// Unix seconds.
    pub at: i64,
}

impl Store {
    pub fn schedule_fault(&self, session: &str, f: &ScheduledFault) -> Result<(), Error> {
        let params = serde_json::to_string(&f.params).expect("strings serialize");
        self.conn
            .execute(
                "INSERT INTO scheduled_faults (session, candidate, fault, node, params, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![session, f.candidate, f.fault, f.node, params, f.at],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    /// Scheduled faults not injected yet, soonest first.
    pub fn pending_faults(&self, session: &str) -> Result<Vec<ScheduledFault>, Error> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT rowid, candidate, fault, node, params, at FROM scheduled_faults \
                 WHERE session = ?1 AND done = 0 ORDER BY at, rowid",
            )
            .map_err(self.fail())?;
        let rows = stmt
            .query_map([session], |r| {
                let params: String = r.get(4)?;
                Ok(ScheduledFault {
                    id: r.get(0)?,
                    candidate: r.get(1)?,
                    fault: r.get(2)?,
                    node: r.get(3)?,
                    params: serde_json::from_str(&params).unwrap_or_default(),
                    at: r.get(5)?,
                })
            })
            .map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    pub fn scheduled_fault_done(&self, id: i64) -> Result<(), Error> {
        self.conn.execute("UPDATE scheduled_faults SET done = 1 WHERE rowid = ?1", [id]).map_err(self.fail())?;
        Ok(())
    }

    /// Record that a fault was injected into a candidate's platform, with
    /// the checks it breaks.
    pub fn fault_injected(&self, session: &str, candidate: &str, fault: &ActiveFault) -> Result<(), Error> {
        let breaks = serde_json::to_string(&fault.breaks).expect("strings serialize");
        let revert = serde_json::to_string(&fault.revert).expect("steps serialize");
        self.conn
            .execute(
                "INSERT INTO faults (session, candidate, fault, title, breaks, revert, observed, ticket) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![session, candidate, fault.fault, fault.title, breaks, revert, fault.observed, fault.ticket],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    /// Record that a present fault's effect was seen (one of its checks not passing).
    pub fn fault_observed(&self, session: &str, candidate: &str, fault: &str) -> Result<(), Error> {
        self.conn
            .execute(
                "UPDATE faults SET observed = 1 \
                 WHERE session = ?1 AND candidate = ?2 AND fault = ?3 AND reverted_at IS NULL",
                params![session, candidate, fault],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    /// Record that a trainer reverted a fault (a candidate's repair is seen by grading).
    pub fn fault_reverted(&self, session: &str, candidate: &str, fault: &str) -> Result<(), Error> {
        self.conn
            .execute(
                "UPDATE faults SET reverted_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
                 WHERE session = ?1 AND candidate = ?2 AND fault = ?3 AND reverted_at IS NULL",
                params![session, candidate, fault],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    /// Faults injected and not reverted, oldest first.
    pub fn active_faults(&self, session: &str, candidate: &str) -> Result<Vec<ActiveFault>, Error> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT fault, title, breaks, injected_at, revert, observed, ticket FROM faults \
                 WHERE session = ?1 AND candidate = ?2 AND reverted_at IS NULL ORDER BY rowid",
            )
            .map_err(self.fail())?;
        let rows = stmt
            .query_map(params![session, candidate], |r| {
                let (breaks, revert): (String, String) = (r.get(2)?, r.get(4)?);
                Ok(ActiveFault {
                    fault: r.get(0)?,
                    title: r.get(1)?,
                    breaks: serde_json::from_str(&breaks).unwrap_or_default(),
                    revert: serde_json::from_str(&revert).unwrap_or_default(),
                    injected_at: r.get(3)?,
                    observed: r.get(5)?,
                    ticket: r.get(6)?,
                })
            })
            .map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }
}
