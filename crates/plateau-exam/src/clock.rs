//! The exam's clock: the preparatory phase and each candidate's jury phase.
//! Deadlines live in the session database, so the supervisor (`supervise`)
//! keeps no state of its own and can be stopped and restarted at any time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plateau_scenario::model::PhaseKind;
use plateau_state::{CandidateRecord, Deadline};
use serde_json::json;

use crate::context::SessionCtx;
use crate::error::{Error, Result, refuse};
use crate::progress::Progress;

/// The preparatory phase (the brief's 3 hours).
pub const PREPARATION: &str = "preparation";
/// One candidate's phase before the jury.
pub const JURY: &str = "jury";

pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A Unix time as RFC 3339 (seconds).
pub fn at(unix: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64)).to_string()
}

pub fn parse_duration(text: &str) -> Result<Duration> {
    humantime::parse_duration(text)
        .map_err(|e| Error::Refused(format!("`{text}` is not a duration ({e}); write e.g. `3h` or `90min`")))
}

/// Where one candidate's phase stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseState {
    /// Seconds left.
    Running {
        left: i64,
    },
    /// Time is up; the supervisor has not frozen it yet.
    Due,
    Frozen {
        at: String,
    },
}

#[derive(Debug, Clone)]
pub struct PhaseRow {
    pub deadline: Deadline,
    pub state: PhaseState,
}

/// One candidate frozen.
#[derive(Debug)]
pub struct Frozen {
    pub candidate: String,
    pub tag: String,
    pub snapshots: Vec<String>,
    /// The frozen state's grade `(score, max)`, or why it could not be graded.
    pub grade: std::result::Result<(f64, u32), plateau_grade::Error>,
}

impl SessionCtx {
    /// The scenario's phase of that kind, unless `given`.
    fn phase_length(&self, kind: PhaseKind, given: Option<&str>) -> Result<Duration> {
        match given {
            Some(d) => parse_duration(d),
            None => {
                let Some(phase) = self.scenario.file().phases.iter().find(|p| p.kind == kind) else {
                    refuse!("the scenario has no {} phase; give --duration", plateau_scenario::model::token(&kind))
                };
                parse_duration(&phase.duration)
            }
        }
    }

    /// Open every candidate's access and start the preparatory phase; when it ends.
    pub async fn start(&self, duration: Option<&str>) -> Result<(usize, i64)> {
        let length = self.phase_length(PhaseKind::Preparatory, duration)?;
        if self.db().deadlines(self.name())?.iter().any(|d| d.phase == PREPARATION) {
            refuse!("the exam of session `{}` has started already (see `plateau exam status`)", self.name());
        }
        let candidates = self.candidates()?;
        let engine = self.engine().await?;
        let session = self.engine_session()?;
        let ends_at = now() + length.as_secs() as i64;
        for c in &candidates {
            engine.set_access(&session, &c.id, true).await?;
            self.db().set_deadline(self.name(), &c.id, PREPARATION, ends_at, false)?;
        }
        self.audit("exam.start", json!({ "phase": PREPARATION, "ends_at": at(ends_at) }))?;
        Ok((candidates.len(), ends_at))
    }

    /// Open one candidate's jury phase after their preparatory phase: their
    /// access again, on its own clock; when it ends.
    pub async fn open_jury(&self, candidate: &str, duration: Option<&str>) -> Result<i64> {
        let length = self.phase_length(PhaseKind::Jury, duration)?;
        let deadlines = self.db().deadlines(self.name())?;
        let prepared =
            deadlines.iter().any(|d| d.candidate == candidate && d.phase == PREPARATION && d.frozen_at.is_some());
        if !prepared {
            refuse!("{candidate}'s preparatory phase is not over (freeze it first: the jury phase follows it)");
        }
        if deadlines.iter().any(|d| d.candidate == candidate && d.phase == JURY) {
            refuse!("{candidate}'s jury phase was opened already");
        }
        self.candidate(candidate)?;
        let ends_at = now() + length.as_secs() as i64;
        self.engine().await?.set_access(&self.engine_session()?, candidate, true).await?;
        self.db().set_deadline(self.name(), candidate, JURY, ends_at, false)?;
        self.audit("exam.open-jury", json!({ "candidate": candidate, "ends_at": at(ends_at) }))?;
        Ok(ends_at)
    }

    /// Every candidate's phases and where they stand.
    pub fn phases(&self) -> Result<Vec<PhaseRow>> {
        let now = now();
        Ok(self
            .db()
            .deadlines(self.name())?
            .into_iter()
            .map(|d| {
                let state = match &d.frozen_at {
                    Some(f) => PhaseState::Frozen { at: f.clone() },
                    None if d.ends_at <= now => PhaseState::Due,
                    None => PhaseState::Running { left: d.ends_at - now },
                };
                PhaseRow { deadline: d, state }
            })
            .collect())
    }

    /// Give one candidate extra time before their freeze.
    pub fn extend(&self, candidate: &str, by: &str) -> Result<()> {
        let extra = parse_duration(by)?.as_secs() as i64;
        if !self.db().extend_deadline(self.name(), candidate, PREPARATION, extra)? {
            refuse!("{candidate} has no running phase to extend (not started, or frozen already)");
        }
        self.audit("exam.extend", json!({ "candidate": candidate, "seconds": extra }))?;
        Ok(())
    }

    /// Freeze now the preparatory phase of one candidate or of every one not frozen yet.
    pub async fn freeze_now(&self, only: Option<&str>, progress: &dyn Progress) -> Result<Vec<Frozen>> {
        let pending: Vec<String> = self
            .db()
            .deadlines(self.name())?
            .into_iter()
            .filter(|d| d.phase == PREPARATION && d.frozen_at.is_none())
            .map(|d| d.candidate)
            .filter(|c| only.is_none_or(|o| o == c))
            .collect();
        if pending.is_empty() {
            refuse!("nothing to freeze in session `{}` (not started, or frozen already)", self.name());
        }
        self.freeze(&pending, PREPARATION, progress).await
    }

    /// Supervise the session: inject scheduled faults and freeze each
    /// candidate at their deadline; returns when nothing is left to do.
    pub async fn supervise(&self, progress: &dyn Progress) -> Result<()> {
        if self.db().deadlines(self.name())?.is_empty() && self.db().pending_faults(self.name())?.is_empty() {
            refuse!("nothing to supervise in session `{}`: no exam started, no fault scheduled", self.name());
        }
        loop {
            self.inject_due(progress).await?;
            let pending = self.db().pending_faults(self.name())?;
            let deadlines = self.db().deadlines(self.name())?;
            let open: Vec<_> = deadlines.iter().filter(|d| d.frozen_at.is_none()).collect();
            if open.is_empty() && pending.is_empty() {
                progress.note(if deadlines.is_empty() {
                    format!("session {}: every scheduled fault is injected", self.name())
                } else {
                    format!("session {}: every candidate is frozen", self.name())
                });
                return Ok(());
            }
            for phase in [PREPARATION, JURY] {
                let due: Vec<String> = open
                    .iter()
                    .filter(|d| d.phase == phase && d.ends_at <= now())
                    .map(|d| d.candidate.clone())
                    .collect();
                if !due.is_empty() {
                    self.freeze(&due, phase, progress).await?;
                }
            }
            // Re-read often: a candidate may get extra time meanwhile.
            let next = open.iter().map(|d| d.ends_at).chain(pending.iter().map(|f| f.at)).min().unwrap_or(now());
            tokio::time::sleep(Duration::from_millis(((next - now()).clamp(0, 1) * 1000).max(200) as u64)).await;
        }
    }

    /// Cut access, snapshot every node, record the freeze, grade the frozen state.
    async fn freeze(&self, candidates: &[String], phase: &str, progress: &dyn Progress) -> Result<Vec<Frozen>> {
        let engine = self.engine().await?;
        let session = self.engine_session()?;
        let tag = format!("{}-{}", if phase == PREPARATION { "freeze" } else { phase }, now());
        let mut frozen: Vec<CandidateRecord> = Vec::new();
        let mut snapshots = Vec::new();
        for id in candidates {
            let candidate = self.candidate(id)?;
            engine.cut_access(&session, &candidate.plan).await?;
            let images = engine.snapshot(&session, &candidate.plan, &tag).await?;
            self.db().mark_frozen(self.name(), id, phase)?;
            self.audit("exam.freeze", json!({ "candidate": id, "phase": phase, "snapshots": images }))?;
            progress.done(format!("{id}: access cut, {} node(s) snapshotted ({tag})", images.len()));
            frozen.push(candidate);
            snapshots.push(images);
        }
        let graded = self.grade_candidates(&frozen, 16, progress).await?;
        let mut out = Vec::new();
        for ((id, result), images) in graded.into_iter().zip(snapshots) {
            match &result {
                Ok(g) => progress.note(format!(
                    "{id}: frozen state graded {} / {}",
                    plateau_report::number(g.score),
                    g.max_score
                )),
                Err(e) => progress.warn(format!("{id}: the frozen state cannot be graded: {e}")),
            }
            let grade = result.map(|g| (g.score, g.max_score));
            out.push(Frozen { candidate: id, tag: tag.clone(), snapshots: images, grade });
        }
        Ok(out)
    }

    /// Re-create a frozen candidate's platform from their snapshots (the
    /// last freeze unless `tag`); access stays closed. The tag and node count.
    pub async fn restore(&self, candidate: &str, tag: Option<&str>) -> Result<(String, usize)> {
        let record = self.candidate(candidate)?;
        let tag = match tag {
            Some(t) => t.to_string(),
            None => self.last_freeze_tag(candidate)?,
        };
        let up = self.engine().await?.restore(&self.engine_session()?, &record.plan, &tag, record.ssh_port).await?;
        self.audit("exam.restore", json!({ "candidate": candidate, "snapshot": tag }))?;
        Ok((tag, up.nodes.len()))
    }

    /// The tag of a candidate's last freeze, from the audit log.
    fn last_freeze_tag(&self, candidate: &str) -> Result<String> {
        self.db()
            .audit_log(self.name())?
            .iter()
            .rev()
            .filter(|e| e.action == "exam.freeze")
            .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.detail).ok())
            .find(|d| d["candidate"] == candidate)
            .and_then(|d| {
                d["snapshots"][0].as_str().and_then(|image| image.rsplit_once(':')).map(|(_, tag)| tag.to_string())
            })
            .ok_or_else(|| {
                Error::Refused(format!(
                    "{candidate} was never frozen in session `{}`: no snapshot to restore",
                    self.name()
                ))
            })
    }
}
