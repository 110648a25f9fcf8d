//! The exam's clock: the preparatory phase and each candidate's jury phase.
//! Deadlines live in the session database, so the supervisor (`supervise`)
//! keeps no state of its own and can be stopped and restarted at any time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plateau_scenario::model::PhaseKind;
use plateau_state::Deadline;
use serde_json::json;

use crate::context::SessionCtx;
use crate::error::{Error, Result, refuse};
use crate::freeze::FreezeReport;
use crate::progress::Progress;

/// The preparatory phase (the brief's 3 hours).
pub const PREPARATION: &str = "preparation";
/// One candidate's phase before the jury.
pub const JURY: &str = "jury";

pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
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
    /// Time is up; the supervisor has not cut the access yet.
    Due,
    /// Access cut; the snapshot is not done yet (the supervisor retries it).
    Cut {
        at: String,
    },
    Frozen {
        at: String,
    },
}

#[derive(Debug, Clone)]
pub struct PhaseRow {
    pub deadline: Deadline,
    pub state: PhaseState,
}

/// The exam's start: everyone's deadline, and whose access could not be opened.
#[derive(Debug)]
pub struct Started {
    pub candidates: usize,
    pub ends_at: i64,
    /// `(candidate, why)`: their clock runs; open it again (`access open`) or reset them.
    pub not_open: Vec<(String, String)>,
}

/// How often the supervisor measures what each node wrote.
const DISK_EVERY: Duration = Duration::from_secs(20);

/// How long after a failed freeze step the supervisor tries it again.
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// Holds a session's supervisor lock while it lives (released by the OS when
/// the process ends, even killed).
pub struct SupervisorLock {
    _file: std::fs::File,
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
    /// Open every candidate's access at once, then start everyone's clock.
    /// A candidate whose access cannot be opened (their entry node is down)
    /// gets their clock all the same and is reported: the room starts on time.
    pub async fn start(&self, duration: Option<&str>) -> Result<Started> {
        let length = self.phase_length(PhaseKind::Preparatory, duration)?;
        if self.db().deadlines(self.name())?.iter().any(|d| d.phase == PREPARATION) {
            refuse!("the exam of session `{}` has started already (see `plateau exam status`)", self.name());
        }
        self.check_free_disk().await?;
        let candidates = self.candidates()?;
        let session = &self.engine_session()?;
        // A candidate whose engine cannot be reached is one whose access did not open.
        let opens = candidates.iter().map(|c| async move {
            let opened = match self.engine_for(c).await {
                Ok(engine) => engine.set_access(session, &c.id, true).await.map_err(Error::from),
                Err(e) => Err(e),
            };
            (c.id.clone(), opened)
        });
        let not_open: Vec<(String, String)> = futures_util::future::join_all(opens)
            .await
            .into_iter()
            .filter_map(|(id, result)| result.err().map(|e| (id, e.to_string())))
            .collect();
        let ends_at = now() + length.as_secs() as i64;
        for c in &candidates {
            self.db().set_deadline(self.name(), &c.id, PREPARATION, ends_at, false)?;
        }
        let failed: Vec<&str> = not_open.iter().map(|(id, _)| id.as_str()).collect();
        self.audit("exam.start", json!({ "phase": PREPARATION, "ends_at": at(ends_at), "not_open": failed }))?;
        Ok(Started { candidates: candidates.len(), ends_at, not_open })
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
        self.engine_of(candidate).await?.set_access(&self.engine_session()?, candidate, true).await?;
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
                let state = match (&d.frozen_at, &d.cut_at) {
                    (Some(f), _) => PhaseState::Frozen { at: f.clone() },
                    (None, Some(c)) => PhaseState::Cut { at: c.clone() },
                    (None, None) if d.ends_at <= now => PhaseState::Due,
                    (None, None) => PhaseState::Running { left: d.ends_at - now },
                };
                PhaseRow { deadline: d, state }
            })
            .collect())
    }

    /// Give one candidate extra time before their freeze (why, on the record).
    pub fn extend(&self, candidate: &str, by: &str, reason: &str) -> Result<()> {
        let extra = parse_duration(by)?.as_secs() as i64;
        if !self.db().extend_deadline(self.name(), candidate, PREPARATION, extra)? {
            refuse!("{candidate} has no running phase to extend (not started, or frozen already)");
        }
        self.audit("exam.extend", json!({ "candidate": candidate, "seconds": extra, "reason": reason }))?;
        Ok(())
    }

    /// Take the session's supervisor lock (`<session>/supervisor.lock`, with
    /// the holder's pid): one supervisor per session.
    pub fn supervisor_lock(&self) -> Result<SupervisorLock> {
        use std::io::{Read, Seek, Write};
        let dir = self.workspace.session_dir(self.name());
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let path = dir.join("supervisor.lock");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(Error::io(&path))?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).and_then(|_| file.rewind()).map_err(Error::io(&path))?;
                write!(file, "{}", std::process::id()).and_then(|_| file.flush()).map_err(Error::io(&path))?;
                Ok(SupervisorLock { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                refuse!(
                    "session `{}` is supervised already by process {} (lock {}); one supervisor per session: \
                     stop that one first, or let it run",
                    self.name(),
                    holder.trim(),
                    path.display()
                )
            }
            Err(std::fs::TryLockError::Error(e)) => Err(Error::Io { path, source: e }),
        }
    }

    /// Supervise the session: inject scheduled faults, freeze each candidate
    /// at their deadline, and pause nodes over their disk budget; returns
    /// when nothing is left to do. The disk watch runs beside the clock, so a
    /// slow measurement never delays a freeze.
    pub async fn supervise(&self, progress: &dyn Progress) -> Result<()> {
        if self.db().deadlines(self.name())?.is_empty() && self.db().pending_faults(self.name())?.is_empty() {
            refuse!("nothing to supervise in session `{}`: no exam started, no fault scheduled", self.name());
        }
        let _lock = self.supervisor_lock()?;
        let done = std::sync::atomic::AtomicBool::new(false);
        // Frozen candidates wait here to be graded: grading (seconds per
        // candidate) never holds up the next deadline's cut.
        let to_grade: std::sync::Mutex<Vec<FreezeReport>> = Default::default();
        let clock = async {
            let result = self.keep_time(&to_grade, progress).await;
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            result
        };
        let grader = async {
            loop {
                let batch = std::mem::take(&mut *to_grade.lock().unwrap_or_else(|p| p.into_inner()));
                for mut report in batch {
                    if let Err(e) = self.grade_frozen(&mut report, progress).await {
                        progress.warn(format!("frozen states not graded: {e}"));
                    }
                }
                if done.load(std::sync::atomic::Ordering::Relaxed)
                    && to_grade.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        };
        let disk = async {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Err(e) = self.enforce_disk(progress).await {
                    progress.warn(format!("disk budgets not checked: {e}"));
                }
                let since = std::time::Instant::now();
                while since.elapsed() < DISK_EVERY && !done.load(std::sync::atomic::Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        };
        let (result, (), ()) = tokio::join!(clock, disk, grader);
        result
    }

    async fn keep_time(&self, to_grade: &std::sync::Mutex<Vec<FreezeReport>>, progress: &dyn Progress) -> Result<()> {
        // Candidates whose freeze failed, and when: tried again after RETRY_AFTER.
        let mut failed_at: std::collections::HashMap<String, std::time::Instant> = Default::default();
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
            let due: Vec<Deadline> = open
                .iter()
                .filter(|d| d.ends_at <= now())
                .filter(|d| failed_at.get(&d.candidate).is_none_or(|t| t.elapsed() >= RETRY_AFTER))
                .map(|d| (*d).clone())
                .collect();
            if !due.is_empty() {
                let report = self.freeze(&due, progress).await?;
                for f in &report.failed {
                    failed_at.insert(f.candidate.clone(), std::time::Instant::now());
                }
                for f in &report.frozen {
                    failed_at.remove(&f.candidate);
                }
                to_grade.lock().unwrap_or_else(|p| p.into_inner()).push(report);
            }
            // Wake at the next deadline to the millisecond, re-reading at least
            // every second: a candidate may get extra time meanwhile.
            let next = open.iter().map(|d| d.ends_at).chain(pending.iter().map(|f| f.at)).min().unwrap_or(now());
            let wait = (next * 1000 - now_millis()).clamp(20, 1000);
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }
}
