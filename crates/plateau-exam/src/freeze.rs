//! The grade of record's own path: the cut (access closed, every node held),
//! the capture (each node's changes and what it ran at the deadline, then
//! its snapshot), and the re-creation of a frozen state with the role's
//! programs put back, graded by `grading`. The clock only says when.

use std::collections::BTreeMap;

use plateau_engine::Engine;
use plateau_engine::platform::{FsChange, Session};
use plateau_scenario::CandidatePlan;
use plateau_scenario::model::Backend;
use plateau_state::{CandidateRecord, Deadline};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::Instrument;

use plateau_results::{Basis, GradeKind};

use crate::clock::{PREPARATION, now, now_millis};
use crate::context::SessionCtx;
use crate::error::{Result, refuse};
use crate::grading::{FrozenRead, Graded, Grading};
use crate::progress::Progress;

/// Candidates snapshotted at once (their nodes in parallel).
const SNAPSHOTS_AT_ONCE: usize = 4;

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

impl SessionCtx {
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

    /// The freeze of every due candidate, which always completes for those
    /// it can: first every access is cut, all at once (relays stopped,
    /// leftover sessions killed); then every cut candidate is snapshotted in
    /// parallel; then the frozen states are graded. A step that fails for one
    /// candidate is audited and reported, never stops the others, and is
    /// tried again by the supervisor (the database says where each one is).
    pub(crate) async fn freeze(&self, due: &[Deadline], progress: &dyn Progress) -> Result<FreezeReport> {
        let session = self.engine_session()?;
        let mut report = FreezeReport::default();
        // Each candidate's engine; one that cannot be reached fails its own
        // candidates' steps (tried again), never the others'.
        let mut plans = Vec::new();
        for d in due {
            let record = self.candidate(&d.candidate)?;
            let engine = self.engine_for(&record).await.map_err(|e| e.to_string());
            plans.push((d.clone(), record, engine));
        }

        // The cut: every due access closed and every node halted (paused),
        // all at once, timed when done: nothing the candidate started runs on.
        let to_cut = plans.iter().filter(|(d, _, _)| d.cut_at.is_none());
        let session = &session;
        let cuts = to_cut.map(|(d, c, engine)| async move {
            let result = match engine {
                Ok(engine) => {
                    let (closed, halted) =
                        async { tokio::join!(engine.set_access(session, &c.id, false), engine.halt(session, &c.plan)) }
                            .instrument(tracing::info_span!("freeze: cut"))
                            .await;
                    closed.and(halted).map_err(|e| e.to_string())
                }
                Err(why) => Err(why.clone()),
            };
            (d, result, now_millis())
        });
        let mut cut: Vec<&Deadline> = plans.iter().filter(|(d, _, _)| d.cut_at.is_some()).map(|(d, _, _)| d).collect();
        for (d, result, at_ms) in futures_util::future::join_all(cuts).await {
            match result {
                Ok(notes) => {
                    let late_ms = at_ms - d.ends_at * 1000;
                    if self.db().mark_cut(self.name(), &d.candidate, &d.phase)? {
                        let entry = CutEntry {
                            candidate: d.candidate.clone(),
                            phase: d.phase.clone(),
                            late_ms,
                            notes: notes.clone(),
                        };
                        self.audit("exam.cut", json!(entry))?;
                    }
                    for note in &notes {
                        progress.warn(format!("{}: {note}", d.candidate));
                    }
                    cut.push(d);
                }
                Err(e) => report.failed.push(self.freeze_failed(d, "cut", e, progress)?),
            }
        }

        // Cut earlier, its engine unreachable now: the snapshot waits for it.
        let mut reachable = Vec::new();
        for d in cut {
            match &plans.iter().find(|(p, _, _)| p.candidate == d.candidate).expect("planned").2 {
                Ok(_) => reachable.push(d),
                Err(why) => report.failed.push(self.freeze_failed(d, "snapshot", why.clone(), progress)?),
            }
        }
        let cut = reachable;

        let tag = |phase: &str| format!("{}-{}", if phase == PREPARATION { "freeze" } else { phase }, now());
        // Futures made up front by a named `async fn`: a closure returning an
        // async block trips the compiler's `Send` inference in a stream.
        let snapshots: Vec<_> = cut
            .iter()
            .filter_map(|d| {
                let (_, record, engine) = plans.iter().find(|(p, _, _)| p.candidate == d.candidate).expect("planned");
                Some(snapshot_one(engine.as_ref().ok()?, session, d, &record.plan, tag(&d.phase)))
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
                    let entry = FreezeEntry {
                        candidate: d.candidate.clone(),
                        phase: d.phase.clone(),
                        snapshots: snapshot.images.clone(),
                        notes: snapshot.notes.clone(),
                        integrity: findings.clone(),
                    };
                    self.audit("exam.freeze", json!(entry))?;
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
    pub(crate) async fn grade_frozen(&self, report: &mut FreezeReport, progress: &dyn Progress) -> Result<()> {
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
        let engine = self.engine_for(record).await?;
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
        // How the cut stopped each node (a node killed when the freezer
        // could not pause it), for the freeze that follows it.
        let mut cut_notes: Vec<String> = Vec::new();
        for entry in &log {
            match entry.action.as_str() {
                "exam.cut" => match serde_json::from_str::<CutEntry>(&entry.detail) {
                    Ok(cut) if cut.candidate == candidate => cut_notes = cut.notes,
                    _ => {}
                },
                "exam.freeze" => {
                    let Ok(freeze) = serde_json::from_str::<FreezeEntry>(&entry.detail) else { continue };
                    if freeze.candidate != candidate {
                        continue;
                    }
                    let tag = freeze.snapshots.first().and_then(|i| i.rsplit_once(':')).map(|(_, t)| t.to_string());
                    let Some(tag) = tag else { continue };
                    for (node, changes) in freeze.integrity {
                        let all = findings.entry(node).or_default();
                        all.extend(changes);
                        all.sort();
                        all.dedup();
                    }
                    let mut notes = std::mem::take(&mut cut_notes);
                    notes.extend(freeze.notes);
                    state = Some(FrozenState {
                        phase: freeze.phase,
                        tag,
                        cut_at: None,
                        snapshots: freeze.snapshots,
                        findings: BTreeMap::new(),
                        notes,
                    });
                }
                _ => {}
            }
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

    /// Grade frozen states: each candidate's last freeze re-created from its
    /// snapshots (nothing they started runs; what they replaced of the
    /// grader's programs comes back as the role shipped it), then graded.
    /// `regrade`: the reason, for a later grading of a state graded already.
    pub(crate) async fn grade_records(
        &self,
        candidates: &[String],
        regrade: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<Vec<Graded>> {
        let mut gradings = Vec::new();
        let mut failed = Vec::new();
        progress.stage("frozen states re-created", candidates.len());
        let mut restores = Vec::new();
        for id in candidates {
            restores.push(restore_one(self, self.candidate(id)?, self.frozen_state(id)?));
        }
        // Each restore re-creates a whole platform: a few at a time.
        use futures_util::StreamExt;
        let restored: Vec<_> = futures_util::stream::iter(restores).buffer_unordered(RESTORES_AT_ONCE).collect().await;
        let mut bases = BTreeMap::new();
        for (record, frozen, result) in restored {
            let id = record.id.clone();
            let basis = Basis {
                kind: if regrade.is_some() { GradeKind::Regrade } else { GradeKind::Record },
                phase: Some(frozen.phase.clone()),
                cut_at: frozen.cut_at.clone(),
                snapshots: frozen.snapshots.clone(),
                reason: regrade.map(str::to_string),
                by: regrade.map(|_| self.workspace.actor.clone()),
                not_kept: frozen.notes.clone(),
                failure: None,
            };
            bases.insert(id.clone(), (record.clone(), basis.clone()));
            match result {
                Ok(up) => {
                    progress.done(format!("{id}: re-created from {}", frozen.tag));
                    let mut read = FrozenRead { at_deadline: frozen.findings, ..Default::default() };
                    for node in up.nodes {
                        // A VM's disk is compared with its role's as it boots.
                        let vm = record.plan.nodes.iter().any(|n| n.id == node.node && n.backend == Backend::Vm);
                        match node.found {
                            Some(found) => {
                                read.at_deadline.insert(node.node.clone(), plateau_grade::integrity::findings(&found));
                            }
                            None if vm => {
                                let why = match &node.unchecked {
                                    Some(reason) => {
                                        format!("its disk at the deadline was not compared with the role's ({reason})")
                                    }
                                    None => "its disk at the deadline was not compared with the role's".to_string(),
                                };
                                read.unread.insert(node.node.clone(), why);
                            }
                            None => {}
                        }
                        read.put_back.insert(node.node, node.put_back);
                    }
                    gradings.push(Grading { record, basis, frozen: Some(read) });
                }
                Err(e) => {
                    progress.done(format!("{id}: not re-created: {e}"));
                    failed.push((id, format!("the frozen state was not re-created: {e}")));
                }
            }
        }
        progress.event(crate::Event::StageEnd);
        let mut out = Vec::new();
        for (id, graded) in self.grade_candidates(gradings, 4, progress).await? {
            match graded {
                Err(e) => failed.push((id, e.to_string())),
                ok => out.push((id, ok)),
            }
        }
        // A frozen state that could not be graded is recorded as such (every
        // check `error`, and why): the grid never falls back to a live grade.
        for (id, why) in failed {
            let (record, mut basis) = bases.remove(&id).expect("a basis per restored candidate");
            basis.failure = Some(why.clone());
            let file = self.scenario.file();
            let mut grade = plateau_grade::grade::unable(
                &record.plan,
                self.scenario.framework(),
                &file.scenario.blocks,
                &file.grading,
                &why,
            );
            grade.basis = Some(basis);
            self.record_grade(&record, grade, &[], Vec::new())?;
            out.push((id, Err(plateau_grade::Error::Access(why))));
        }
        Ok(out)
    }
}

/// What the audit log keeps of a cut (`exam.cut`): how late it came and how
/// each node was stopped (a node the freezer could not pause is killed).
#[derive(Debug, Serialize, Deserialize)]
struct CutEntry {
    candidate: String,
    phase: String,
    late_ms: i64,
    #[serde(default)]
    notes: Vec<String>,
}

/// What the audit log keeps of a freeze (`exam.freeze`), written once when
/// the candidate's nodes are committed and read back by the grade of record
/// and its regrades: the snapshots, what could not be kept, and per node
/// what had changed of what the grader's trust rests on.
#[derive(Debug, Serialize, Deserialize)]
struct FreezeEntry {
    candidate: String,
    phase: String,
    snapshots: Vec<String>,
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    integrity: BTreeMap<String, Vec<FsChange>>,
}

/// A frozen state: what the grade of record and its regrades read.
#[derive(Debug, Clone)]
pub(crate) struct FrozenState {
    pub phase: String,
    pub tag: String,
    pub cut_at: Option<String>,
    pub snapshots: Vec<String>,
    pub findings: BTreeMap<String, Vec<FsChange>>,
    /// What the cut could not keep (a node killed, a program no service defines).
    pub notes: Vec<String>,
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
        let snapshot = engine.snapshot(session, plan, &tag).instrument(tracing::info_span!("freeze: snapshot")).await?;
        Ok((snapshot, findings))
    };
    (deadline, result.instrument(tracing::info_span!("freeze: candidate")).await, tag)
}

/// Platforms re-created at once for grades of record.
const RESTORES_AT_ONCE: usize = 4;

/// Re-create one frozen state (a named `async fn`: a closure's async block
/// trips the compiler's `Send` inference in a stream).
async fn restore_one(
    ctx: &SessionCtx,
    record: CandidateRecord,
    frozen: crate::freeze::FrozenState,
) -> (CandidateRecord, crate::freeze::FrozenState, Result<plateau_engine::platform::CandidateUp>) {
    let result = ctx.restore_frozen(&record, &frozen).instrument(tracing::info_span!("record: re-create")).await;
    (record, frozen, result)
}
