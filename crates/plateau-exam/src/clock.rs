//! The exam's clock: the preparatory phase and each candidate's jury phase.
//! Deadlines live in the session database, so the supervisor (`supervise`)
//! keeps no state of its own and can be stopped and restarted at any time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::collections::BTreeMap;

use plateau_engine::Engine;
use plateau_engine::platform::{FsChange, Session};
use plateau_scenario::CandidatePlan;
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

fn now_millis() -> i64 {
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

/// One candidate frozen.
#[derive(Debug)]
pub struct Frozen {
    pub candidate: String,
    pub tag: String,
    pub snapshots: Vec<String>,
    /// What could not be done beyond the cut and the commits (a node not
    /// paused, runtime state not captured).
    pub notes: Vec<String>,
    /// Per node, what changed that the grader's trust rests on (see
    /// `plateau_grade::integrity`), at the deadline.
    pub findings: BTreeMap<String, Vec<FsChange>>,
    /// The frozen state's grade `(score, max)`, or why it could not be
    /// graded; `None` until graded.
    pub grade: Option<std::result::Result<(f64, u32), plateau_grade::Error>>,
}

/// A freeze step that failed for one candidate; the supervisor retries it.
#[derive(Debug)]
pub struct FreezeFailure {
    pub candidate: String,
    /// `cut` or `snapshot`.
    pub step: &'static str,
    pub error: String,
}

/// What one freeze did: candidates frozen, and those to retry.
#[derive(Debug, Default)]
pub struct FreezeReport {
    pub frozen: Vec<Frozen>,
    pub failed: Vec<FreezeFailure>,
}

/// Candidates snapshotted at once (their nodes in parallel).
const SNAPSHOTS_AT_ONCE: usize = 4;

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
        let engine = self.engine().await?;
        let session = &self.engine_session()?;
        let opens =
            candidates.iter().map(|c| async move { (c.id.clone(), engine.set_access(session, &c.id, true).await) });
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

    /// Freeze now the preparatory phase of one candidate or of every one not frozen yet.
    pub async fn freeze_now(&self, only: Option<&str>, progress: &dyn Progress) -> Result<FreezeReport> {
        let pending: Vec<Deadline> = self
            .db()
            .deadlines(self.name())?
            .into_iter()
            .filter(|d| d.phase == PREPARATION && d.frozen_at.is_none())
            .filter(|d| only.is_none_or(|o| o == d.candidate))
            .collect();
        if pending.is_empty() {
            refuse!("nothing to freeze in session `{}` (not started, or frozen already)", self.name());
        }
        let mut report = self.freeze(&pending, progress).await?;
        self.grade_frozen(&mut report, progress).await?;
        Ok(report)
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

    /// The freeze of every due candidate, which always completes for those
    /// it can: first every access is cut, all at once (relays stopped,
    /// leftover sessions killed); then every cut candidate is snapshotted in
    /// parallel; then the frozen states are graded. A step that fails for one
    /// candidate is audited and reported, never stops the others, and is
    /// tried again by the supervisor (the database says where each one is).
    async fn freeze(&self, due: &[Deadline], progress: &dyn Progress) -> Result<FreezeReport> {
        let engine = self.engine().await?;
        let session = self.engine_session()?;
        let mut report = FreezeReport::default();
        let mut plans = Vec::new();
        for d in due {
            plans.push((d.clone(), self.candidate(&d.candidate)?));
        }

        // The cut: every due access closed and every node halted (paused),
        // all at once, timed when done: nothing the candidate started runs on.
        let to_cut = plans.iter().filter(|(d, _)| d.cut_at.is_none());
        let session = &session;
        let cuts = to_cut.map(|(d, c)| async move {
            let (closed, halted) =
                tokio::join!(engine.set_access(session, &c.id, false), engine.halt(session, &c.plan));
            (d, closed.and(halted), now_millis())
        });
        let mut cut: Vec<&Deadline> = plans.iter().filter(|(d, _)| d.cut_at.is_some()).map(|(d, _)| d).collect();
        for (d, result, at_ms) in futures_util::future::join_all(cuts).await {
            match result {
                Ok(notes) => {
                    let late_ms = at_ms - d.ends_at * 1000;
                    if self.db().mark_cut(self.name(), &d.candidate, &d.phase)? {
                        self.audit(
                            "exam.cut",
                            json!({ "candidate": d.candidate, "phase": d.phase, "late_ms": late_ms, "notes": notes }),
                        )?;
                    }
                    for note in &notes {
                        progress.warn(format!("{}: {note}", d.candidate));
                    }
                    cut.push(d);
                }
                Err(e) => report.failed.push(self.freeze_failed(d, "cut", e.to_string(), progress)?),
            }
        }

        let tag = |phase: &str| format!("{}-{}", if phase == PREPARATION { "freeze" } else { phase }, now());
        // Futures made up front by a named `async fn`: a closure returning an
        // async block trips the compiler's `Send` inference in a stream.
        let snapshots: Vec<_> = cut
            .iter()
            .map(|d| {
                let plan = &plans.iter().find(|(p, _)| p.candidate == d.candidate).expect("planned").1.plan;
                snapshot_one(engine, session, d, plan, tag(&d.phase))
            })
            .collect();
        let mut frozen = Vec::new();
        use futures_util::StreamExt;
        // Commits copy writable layers: a few at a time keep the engine
        // responsive (and each commit within its time limit).
        let snapshots: Vec<_> =
            futures_util::stream::iter(snapshots).buffer_unordered(SNAPSHOTS_AT_ONCE).collect().await;
        for (d, result, tag) in snapshots {
            match result {
                Ok((snapshot, findings)) => {
                    if !self.db().mark_frozen(self.name(), &d.candidate, &d.phase)? {
                        continue;
                    }
                    self.audit(
                        "exam.freeze",
                        json!({ "candidate": d.candidate, "phase": d.phase, "snapshots": snapshot.images,
                                "notes": snapshot.notes, "integrity": findings }),
                    )?;
                    progress.done(format!(
                        "{}: access cut, {} node(s) snapshotted ({tag})",
                        d.candidate,
                        snapshot.images.len()
                    ));
                    frozen.push((d, tag, snapshot, findings));
                }
                Err(e) => report.failed.push(self.freeze_failed(d, "snapshot", e.to_string(), progress)?),
            }
        }

        for (d, tag, snapshot, findings) in frozen {
            report.frozen.push(Frozen {
                candidate: d.candidate.clone(),
                tag,
                snapshots: snapshot.images,
                notes: snapshot.notes,
                findings,
                grade: None,
            });
        }
        Ok(report)
    }

    /// The grades of record of a freeze (its `grade`s filled in): each
    /// frozen state re-created from its snapshots and graded.
    async fn grade_frozen(&self, report: &mut FreezeReport, progress: &dyn Progress) -> Result<()> {
        let candidates: Vec<String> = report.frozen.iter().map(|f| f.candidate.clone()).collect();
        let graded = self.grade_records(&candidates, None, progress).await?;
        for ((id, result), frozen) in graded.into_iter().zip(report.frozen.iter_mut()) {
            match &result {
                Ok(g) => progress.note(format!(
                    "{id}: frozen state graded {} / {}",
                    plateau_report::number(g.score),
                    g.max_score
                )),
                Err(e) => progress.warn(format!("{id}: the frozen state cannot be graded: {e}")),
            }
            frozen.grade = Some(result.map(|g| (g.score, g.max_score)));
        }
        Ok(())
    }

    fn freeze_failed(
        &self,
        d: &Deadline,
        step: &'static str,
        error: String,
        progress: &dyn Progress,
    ) -> Result<FreezeFailure> {
        self.audit(
            "exam.freeze-failed",
            json!({ "candidate": d.candidate, "phase": d.phase, "step": step, "error": error }),
        )?;
        progress.warn(format!("{}: {step} failed, to be tried again: {error}", d.candidate));
        Ok(FreezeFailure { candidate: d.candidate.clone(), step, error })
    }

    /// Re-create a frozen candidate's platform from their snapshots (the
    /// last freeze unless `tag`), with the role's own copy of every program
    /// the candidate replaced (see `plateau_grade::integrity`); access stays
    /// closed. The tag and the nodes re-created.
    pub async fn restore(&self, candidate: &str, tag: Option<&str>) -> Result<(String, usize)> {
        let record = self.candidate(candidate)?;
        let mut frozen = self.frozen_state(candidate)?;
        if let Some(tag) = tag {
            frozen.tag = tag.to_string();
        }
        let up = self.restore_frozen(&record, &frozen).await?;
        self.audit("exam.restore", json!({ "candidate": candidate, "snapshot": frozen.tag }))?;
        Ok((frozen.tag, up.nodes.len()))
    }

    pub(crate) async fn restore_frozen(
        &self,
        record: &CandidateRecord,
        frozen: &FrozenState,
    ) -> Result<plateau_engine::platform::CandidateUp> {
        let put_back: BTreeMap<String, Vec<String>> = frozen
            .findings
            .iter()
            .map(|(node, changes)| {
                let paths = changes.iter().filter(|c| plateau_grade::integrity::put_back(c)).map(|c| c.path.clone());
                (node.clone(), paths.collect())
            })
            .collect();
        let engine = self.engine().await?;
        Ok(engine.restore(&self.engine_session()?, &record.plan, &frozen.tag, record.ssh_port, &put_back).await?)
    }

    /// A candidate's last frozen state, from the audit log (which binds it):
    /// its phase, cut, snapshots, and every finding of their freezes so far
    /// (a state frozen twice is compared with its role image, not only with
    /// the first snapshot).
    pub(crate) fn frozen_state(&self, candidate: &str) -> Result<FrozenState> {
        let log = self.db().audit_log(self.name())?;
        let mut state: Option<FrozenState> = None;
        let mut findings: BTreeMap<String, Vec<FsChange>> = BTreeMap::new();
        for entry in log.iter().filter(|e| e.action == "exam.freeze") {
            let Ok(detail) = serde_json::from_str::<serde_json::Value>(&entry.detail) else { continue };
            if detail["candidate"] != candidate {
                continue;
            }
            let snapshots: Vec<String> = serde_json::from_value(detail["snapshots"].clone()).unwrap_or_default();
            let Some(tag) = snapshots.first().and_then(|i| i.rsplit_once(':')).map(|(_, t)| t.to_string()) else {
                continue;
            };
            let these: BTreeMap<String, Vec<FsChange>> =
                serde_json::from_value(detail["integrity"].clone()).unwrap_or_default();
            for (node, changes) in these {
                let all = findings.entry(node).or_default();
                all.extend(changes);
                all.sort();
                all.dedup();
            }
            let phase = detail["phase"].as_str().unwrap_or(PREPARATION).to_string();
            state = Some(FrozenState { phase, tag, cut_at: None, snapshots, findings: BTreeMap::new() });
        }
        let Some(mut state) = state else {
            refuse!("{candidate} was never frozen in session `{}`: no snapshot to restore", self.name())
        };
        state.findings = findings;
        state.cut_at = self
            .db()
            .deadlines(self.name())?
            .into_iter()
            .find(|d| d.candidate == candidate && d.phase == state.phase)
            .and_then(|d| d.cut_at);
        Ok(state)
    }
}

/// A frozen state: what the grade of record and its regrades read.
#[derive(Debug, Clone)]
pub(crate) struct FrozenState {
    pub phase: String,
    pub tag: String,
    pub cut_at: Option<String>,
    pub snapshots: Vec<String>,
    pub findings: BTreeMap<String, Vec<FsChange>>,
}

/// What the engine sees changed in each node (read while it is halted),
/// then the snapshot.
async fn snapshot_one<'a>(
    engine: &Engine,
    session: &Session,
    deadline: &'a Deadline,
    plan: &CandidatePlan,
    tag: String,
) -> (
    &'a Deadline,
    std::result::Result<(plateau_engine::platform::Snapshot, BTreeMap<String, Vec<FsChange>>), plateau_engine::Error>,
    String,
) {
    let result = async {
        engine.halt(session, plan).await?;
        let mut findings = BTreeMap::new();
        for node in plan.nodes.iter().filter(|n| n.backend == plateau_scenario::model::Backend::Container) {
            let changes =
                engine.changes(session, &plan.candidate.id, &node.id, &plateau_grade::integrity::roots()).await?;
            let watched = plateau_grade::integrity::findings(&changes);
            if !watched.is_empty() {
                findings.insert(node.id.clone(), watched);
            }
        }
        Ok((engine.snapshot(session, plan, &tag).await?, findings))
    };
    (deadline, result.await, tag)
}
