//! Grading and what a jury signs: `grade` (grade → pin first-seen host keys →
//! fault states → the jury's decisions → store → audit), `override`, `report`.

use std::path::PathBuf;
use std::sync::Arc;
use tracing::Instrument;

use std::collections::BTreeMap;

use plateau_engine::Engine;
use plateau_engine::platform::{FsChange, Session};
use plateau_grade::grade::{
    Injected, LIVE_SETTLE_LIMIT, SETTLE_LIMIT, apply_overrides, distrust, fault_states, grade, settle,
};
use plateau_grade::integrity;
use plateau_report::{Report, ScenarioInfo};
use plateau_results::{Basis, CandidateGrade, CheckResult, GradeKind, Override, Verdict, verdict_token};
use plateau_scenario::model::{Backend, Check};
use plateau_state::{CandidateRecord, OverrideRecord};
use serde_json::json;

use crate::context::SessionCtx;
use crate::error::{Error, Result, refuse};
use crate::progress::Progress;
use plateau_state::sha256;

/// One candidate's grading: their grade, or why they could not be graded.
pub type Graded = (String, std::result::Result<CandidateGrade, plateau_grade::Error>);

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Html,
    Csv,
    Junit,
}

/// What one grading reads for a candidate.
pub(crate) struct Grading {
    pub record: CandidateRecord,
    pub basis: Basis,
    pub frozen: Option<FrozenRead>,
}

/// A frozen state as re-created for grading.
#[derive(Default)]
pub(crate) struct FrozenRead {
    /// Per node, what had changed at the deadline (see `plateau_grade::integrity`).
    pub at_deadline: BTreeMap<String, Vec<FsChange>>,
    /// Per node, what the restore put back of it.
    pub put_back: BTreeMap<String, Vec<String>>,
    /// Nodes whose state at the deadline could not be compared (a VM whose
    /// initrd did not compare its disk with the role's), and why.
    pub unread: BTreeMap<String, String>,
}

impl SessionCtx {
    /// Grade candidates (one, or all of the session) live, in parallel, at
    /// most `concurrency` at once; store each grade with the jury's
    /// decisions so far. A candidate that cannot be reached at all is
    /// reported, not fatal. A frozen candidate keeps their grade of record:
    /// asked for by name, they are refused (see `regrade`); in a whole-session
    /// grading they are left out, with a note.
    pub async fn grade(&self, only: Option<&str>, concurrency: usize, progress: &dyn Progress) -> Result<Vec<Graded>> {
        let mut live = Vec::new();
        for candidate in self.some_candidates(only)? {
            if self.is_frozen(&candidate.id)? {
                if only.is_some() {
                    refuse!(
                        "{} is frozen: their grade of record stands (`plateau report`); to grade the frozen \
                         state again, give --regrade REASON (it is shown beside the first, never in its place)",
                        candidate.id
                    );
                }
                progress.note(format!("{}: frozen, their grade of record stands (not graded again)", candidate.id));
                continue;
            }
            live.push(Grading { record: candidate, basis: basis(GradeKind::Live), frozen: None });
        }
        self.grade_candidates(live, concurrency, progress).await
    }

    /// Grade a frozen candidate again, from the snapshots of their last
    /// freeze (a platform re-created for it), with a reason: stored and
    /// audited as a regrade, shown beside the grade of record.
    pub async fn regrade(&self, candidate: &str, reason: &str, progress: &dyn Progress) -> Result<CandidateGrade> {
        if reason.trim().is_empty() {
            refuse!("--regrade needs a reason: the grid prints it beside the new grade");
        }
        self.candidate(candidate)?;
        if !self.is_frozen(candidate)? {
            refuse!("{candidate} is not frozen: grade them without --regrade");
        }
        let mut graded = self.grade_records(&[candidate.to_string()], Some(reason), progress).await?;
        Ok(graded.remove(0).1?)
    }

    /// Whether a candidate's last phase is frozen and none runs.
    pub(crate) fn is_frozen(&self, candidate: &str) -> Result<bool> {
        let deadlines: Vec<_> =
            self.db().deadlines(self.name())?.into_iter().filter(|d| d.candidate == candidate).collect();
        Ok(!deadlines.is_empty() && deadlines.iter().all(|d| d.frozen_at.is_some()))
    }

    pub(crate) async fn grade_candidates(
        &self,
        candidates: Vec<Grading>,
        concurrency: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<Graded>> {
        let session = self.engine_session()?;
        progress.stage("candidates graded", candidates.len());
        let slots = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let ids: Vec<String> = candidates.iter().map(|g| g.record.id.clone()).collect();
        for (i, grading) in candidates.into_iter().enumerate() {
            let credentials = self.credentials(&grading.record)?;
            let tickets = self.intervention_tickets(&grading.record)?;
            // An engine that cannot be reached fails its own candidates only.
            let engine =
                self.engine_for(&grading.record).await.map_err(|e| plateau_grade::Error::Access(e.to_string()));
            let (session, scenario, slots) = (session.clone(), self.scenario.clone(), slots.clone());
            tasks.spawn(async move {
                let _slot = slots.acquire().await.expect("semaphore open");
                let plan = &grading.record.plan;
                let reached = match &engine {
                    Ok(engine) => {
                        plateau_grade::targets::platform(engine, &session, plan, &credentials)
                            .instrument(tracing::info_span!("grade: reach the platform"))
                            .await
                    }
                    Err(e) => Err(e.clone()),
                };
                let result = match (reached, engine) {
                    (Ok(reach), Ok(engine)) => {
                        let file = scenario.file();
                        let (framework, blocks, rules) = (scenario.framework(), &file.scenario.blocks, &file.grading);
                        // Live, the nodes' changes are read while the checks run; a
                        // frozen state's after them (a change made while it
                        // was graded counts).
                        let checks = grade(plan, framework, blocks, rules, &reach)
                            .instrument(tracing::info_span!("grade: every check"));
                        let changes = read_changes(&engine, &session, plan, &reach)
                            .instrument(tracing::info_span!("grade: integrity read"));
                        let (mut grade, now) = if grading.frozen.is_some() {
                            let mut grade = checks.await;
                            settle(plan, framework, blocks, rules, &reach, &mut grade, SETTLE_LIMIT)
                                .instrument(tracing::info_span!("grade: settle (errors again)"))
                                .await;
                            (grade, changes.await)
                        } else {
                            let (mut grade, now) = tokio::join!(checks, changes);
                            settle(plan, framework, blocks, rules, &reach, &mut grade, LIVE_SETTLE_LIMIT)
                                .instrument(tracing::info_span!("grade: settle (errors again)"))
                                .await;
                            (grade, now)
                        };
                        let suspects = integrity(&session, &grading, now, &reach, &mut grade);
                        distrust(&mut grade, &suspects, framework, blocks, rules);
                        grade.basis = Some(grading.basis.clone());
                        let tickets = tickets.iter().map(|(fault, check)| async {
                            (fault.clone(), plateau_grade::grade::run_check(check, &reach).await)
                        });
                        let tickets = futures_util::future::join_all(tickets).await;
                        Ok((grade, reach.first_seen_keys(), tickets))
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
                (i, grading.record, result)
            });
        }
        type Outcome = std::result::Result<
            (CandidateGrade, Vec<(String, String)>, Vec<(String, CheckResult)>),
            plateau_grade::Error,
        >;
        let mut outcomes: Vec<Option<(CandidateRecord, Outcome)>> = (0..ids.len()).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            let (i, record, result) = joined.expect("grading task panicked");
            progress.done(match &result {
                Ok((g, _, _)) => format!("{} graded {} / {}", g.id, plateau_report::number(g.score), g.max_score),
                Err(e) => format!("{} cannot be graded: {e}", ids[i]),
            });
            outcomes[i] = Some((record, result));
        }
        progress.event(crate::Event::StageEnd);
        let mut out = Vec::new();
        for (candidate, outcome) in outcomes.into_iter().flatten() {
            let graded = match outcome {
                Ok((grade, first_seen, tickets)) => Ok(self.record_grade(&candidate, grade, &first_seen, tickets)?),
                Err(e) => Err(e),
            };
            out.push((candidate.id.clone(), graded));
        }
        Ok(out)
    }

    /// The tickets the user calls of a candidate's present faults opened,
    /// as checks of the tool: `(fault, check)`.
    fn intervention_tickets(&self, candidate: &CandidateRecord) -> Result<Vec<(String, Check)>> {
        let present = self.db().active_faults(self.name(), &candidate.id)?;
        Ok(present
            .into_iter()
            .filter_map(|f| {
                let fault = candidate.plan.faults.iter().find(|p| p.id == f.fault)?;
                Some((f.fault, fault.ticket_check(f.ticket?)?))
            })
            .collect())
    }

    /// Pin host keys seen first, attach the faults present (with their
    /// tickets as graded in the tool) and the jury's decisions, store the
    /// grade and audit it with its SHA-256.
    pub(crate) fn record_grade(
        &self,
        candidate: &CandidateRecord,
        mut grade: CandidateGrade,
        first_seen: &[(String, String)],
        mut tickets: Vec<(String, CheckResult)>,
    ) -> Result<CandidateGrade> {
        let name = &self.record.name;
        for (node, key) in first_seen {
            self.db().put_host_keys(name, &candidate.id, node, std::slice::from_ref(key))?;
        }
        let active: Vec<Injected> = self
            .db()
            .active_faults(name, &candidate.id)?
            .into_iter()
            .map(|f| Injected {
                id: f.fault,
                title: f.title,
                breaks: f.breaks,
                injected_at: f.injected_at,
                observed: f.observed,
            })
            .collect();
        grade.faults = fault_states(&active, &grade.checks);
        for state in &mut grade.faults {
            state.ticket = tickets.iter().position(|(f, _)| *f == state.id).map(|i| tickets.swap_remove(i).1);
        }
        for (state, was) in grade.faults.iter().zip(&active) {
            if state.observed && !was.observed {
                self.db().fault_observed(name, &candidate.id, &state.id)?;
            }
        }
        grade.redact(&self.secrets(candidate));
        apply_overrides(&mut grade, &self.overrides_of(&candidate.id)?);
        let json = serde_json::to_string(&grade).expect("a grade serializes");
        self.db().put_grade(name, &candidate.id, &json)?;
        let basis = grade.basis.as_ref();
        self.audit(
            "grade",
            json!({ "candidate": candidate.id, "score": grade.score, "sha256": sha256(&json),
                    "kind": basis.map(|b| b.kind), "reason": basis.and_then(|b| b.reason.clone()) }),
        )?;
        Ok(grade)
    }

    /// Grade one candidate now, live; an unreachable platform is an error.
    pub(crate) async fn grade_one(&self, candidate: &CandidateRecord) -> Result<CandidateGrade> {
        let live = Grading { record: candidate.clone(), basis: basis(GradeKind::Live), frozen: None };
        let mut graded = self.grade_candidates(vec![live], 1, &crate::progress::Silent).await?;
        Ok(graded.remove(0).1?)
    }

    /// What must never show in evidence: the passwords the plan drew for
    /// this candidate, their access password, the grader's passwords, and
    /// the nodes' password settings.
    fn secrets(&self, candidate: &CandidateRecord) -> Vec<String> {
        let plan = &candidate.plan;
        let drawn = self.scenario.file().variables.iter().filter_map(|(name, spec)| match spec {
            plateau_scenario::model::Variable::Variant(v) if v.password.is_some() => plan.variables.get(name).cloned(),
            _ => None,
        });
        let access = plan.access.iter().map(|a| a.password.clone());
        let graders = plan.nodes.iter().filter_map(|n| n.grader.as_ref().and_then(|g| g.password.clone()));
        let settings = plan.nodes.iter().flat_map(|n| {
            n.env
                .iter()
                .filter(|(k, _)| ["PASSWORD", "PASSPHRASE", "SECRET"].iter().any(|w| k.contains(w)))
                .map(|(_, v)| v.clone())
        });
        drawn.chain(access).chain(graders).chain(settings).collect()
    }

    fn overrides_of(&self, candidate: &str) -> Result<Vec<(String, Override)>> {
        let mut out = Vec::new();
        for o in self.db().overrides(&self.record.name, candidate)? {
            let verdict: Verdict = serde_json::from_value(serde_json::Value::String(o.verdict.clone()))
                .map_err(|_| Error::Refused(format!("stored verdict `{}` is not a verdict", o.verdict)))?;
            out.push((o.criterion, Override { verdict, comment: o.comment, by: o.by, at: o.at }));
        }
        Ok(out)
    }

    /// Record a jury's decision on a criterion, beside the automatic verdict.
    pub fn override_verdict(
        &self,
        candidate: &str,
        criterion: &str,
        verdict: Verdict,
        comment: &str,
        by: &str,
    ) -> Result<()> {
        self.candidate(candidate)?;
        if comment.trim().is_empty() {
            refuse!("--comment must say why: the grid prints it beside the decision");
        }
        let framework = self.scenario.framework();
        if framework.criterion(criterion).is_none() {
            refuse!("`{}` has no criterion `{criterion}` (see `plateau frameworks {}`)", framework.id, framework.id);
        }
        self.db().put_override(
            &self.record.name,
            candidate,
            &OverrideRecord {
                criterion: criterion.to_string(),
                verdict: verdict_token(verdict).to_string(),
                comment: comment.to_string(),
                by: by.to_string(),
                at: String::new(),
            },
        )?;
        // The decision itself is in the chain: `audit verify` finds it changed behind the log.
        self.audit(
            "override",
            json!({ "candidate": candidate, "criterion": criterion, "verdict": verdict_token(verdict),
                    "comment": comment, "by": by }),
        )?;
        Ok(())
    }

    /// The grade a jury signs for a candidate: their last grade of record
    /// (a frozen state), with the regrades of that state beside it; a
    /// candidate never frozen has their latest grade.
    pub fn grade_of_record(&self, candidate: &str) -> Result<Option<CandidateGrade>> {
        let mut all = Vec::new();
        for json in self.db().grades(&self.record.name, candidate)? {
            let grade: CandidateGrade = serde_json::from_str(&json)
                .map_err(|e| Error::Refused(format!("a stored grade of {candidate} cannot be read: {e}")))?;
            all.push(grade);
        }
        let kind = |g: &CandidateGrade| g.basis.as_ref().map_or(GradeKind::Live, |b| b.kind);
        let Some(at) = all.iter().rposition(|g| kind(g) == GradeKind::Record) else {
            return Ok(all.pop());
        };
        let regrades = all[at + 1..]
            .iter()
            .filter(|g| kind(g) == GradeKind::Regrade)
            .map(|g| {
                let basis = g.basis.clone().expect("a regrade has a basis");
                plateau_results::Regrade {
                    at: g.started_at.clone(),
                    score: g.score,
                    max_score: g.max_score,
                    reason: basis.reason.unwrap_or_default(),
                    by: basis.by.unwrap_or_default(),
                }
            })
            .collect();
        let mut record = all.swap_remove(at);
        record.regrades = regrades;
        Ok(Some(record))
    }

    /// What the jury signs for a candidate: the grade of record with every
    /// decision the jury has taken so far.
    pub fn signed_grade(&self, candidate: &str) -> Result<Option<CandidateGrade>> {
        let Some(mut grade) = self.grade_of_record(candidate)? else { return Ok(None) };
        apply_overrides(&mut grade, &self.overrides_of(candidate)?);
        Ok(Some(grade))
    }

    /// The latest grades (one candidate, or every graded one), with the
    /// jury's decisions taken since, as a report naming the audit log's head
    /// after recording itself.
    pub fn report(&self, only: Option<&str>) -> Result<Report> {
        let session = &self.record.name;
        let ids = match only {
            Some(c) => vec![c.to_string()],
            None => self.db().graded_candidates(session)?,
        };
        let mut grades = Vec::new();
        for id in &ids {
            let Some(grade) = self.signed_grade(id)? else {
                refuse!("candidate `{id}` has no grade yet; run `plateau grade --session {session}` first")
            };
            grades.push(grade);
        }
        if grades.is_empty() {
            refuse!("session `{session}` has no grades yet; run `plateau grade --session {session}` first");
        }
        let meta = &self.scenario.file().scenario;
        let info = ScenarioInfo {
            id: meta.id.clone(),
            title: meta.title.clone(),
            version: meta.version.clone(),
            framework: self.scenario.framework().id.clone(),
            framework_title: self.scenario.framework().title.clone(),
            language: meta.language.clone(),
        };
        let mut report = Report::new(session, info, plateau_results::now_rfc3339(), grades);
        for id in &ids {
            let timeline = self.timeline(id)?;
            if !timeline.is_empty() {
                report.interventions.insert(id.clone(), timeline);
            }
            let preparation = self.preparation(id)?;
            if preparation.iter().any(|b| !b.lines.is_empty()) {
                report.preparation.insert(id.clone(), preparation);
            }
        }
        let ids: Vec<&str> = report.candidates.iter().map(|c| c.id.as_str()).collect();
        report.audit_head = Some(self.audit("report", json!({ "candidates": ids }))?);
        Ok(report)
    }

    /// Write a report's files (all formats when `formats` is empty) into
    /// `out`, by default `<state dir>/<session>/report`; the paths written.
    pub fn write_report(&self, report: &Report, out: Option<PathBuf>, formats: &[Format]) -> Result<Vec<PathBuf>> {
        let out = out.unwrap_or_else(|| self.workspace.session_dir(&self.record.name).join("report"));
        plateau_state::private::create_dir(&out).map_err(Error::io(&out))?;
        let wants = |f: Format| formats.is_empty() || formats.contains(&f);
        let mut files: Vec<(String, String)> = Vec::new();
        if wants(Format::Json) {
            files.push(("report.json".into(), report.to_json()));
        }
        if wants(Format::Html) {
            for c in &report.candidates {
                files.push((format!("grille-{}.html", c.id), plateau_report::grid(report, c)));
            }
        }
        if wants(Format::Csv) {
            files.push(("session.csv".into(), plateau_report::csv(report)));
        }
        if wants(Format::Junit) {
            files.push(("junit.xml".into(), plateau_report::junit(report)));
        }
        let mut written = Vec::new();
        for (name, content) in files {
            let path = out.join(name);
            plateau_state::private::write(&path, content.as_bytes()).map_err(Error::io(&path))?;
            written.push(path);
        }
        Ok(written)
    }
}

fn basis(kind: GradeKind) -> Basis {
    Basis {
        kind,
        phase: None,
        cut_at: None,
        snapshots: Vec::new(),
        reason: None,
        by: None,
        not_kept: Vec::new(),
        failure: None,
    }
}

/// How long a machine's `dpkg --verify` may take: 18 s in a guest under
/// software emulation on an idle host, over 60 s with the test lanes side
/// by side (a VM test failed CI on it twice).
const PACKAGES_VERIFIED_WITHIN: std::time::Duration = std::time::Duration::from_secs(180);

/// What changed on each container node, read from the engine, all nodes at once.
type NodeChanges = Vec<(String, std::result::Result<Vec<FsChange>, plateau_engine::Error>)>;

/// Containers from the engine's view of their layer; other Linux machines
/// from their package manager's record (`dpkg --verify`).
async fn read_changes(
    engine: &Engine,
    session: &Session,
    plan: &plateau_scenario::CandidatePlan,
    reach: &plateau_grade::grade::Platform,
) -> NodeChanges {
    let roots = integrity::roots();
    let reads = plan.nodes.iter().map(|node| {
        let roots = &roots;
        async move {
            let changes = match (node.backend, reach.executors.get(&node.id)) {
                (Backend::Container, _) => Some(engine.changes(session, &plan.candidate.id, &node.id, roots).await),
                (_, Some(on)) if node.os == plateau_scenario::model::Os::Linux => {
                    let verified = integrity::verify_packages(on, PACKAGES_VERIFIED_WITHIN).await;
                    Some(verified.map_err(|e| plateau_engine::Error::Node {
                        container: node.id.clone(),
                        message: e.to_string(),
                    }))
                }
                _ => None,
            };
            changes.map(|c| (node.id.clone(), c))
        }
    });
    futures_util::future::join_all(reads).await.into_iter().flatten().collect()
}

/// Fill in a grade's integrity section from the engine's view of each node
/// (`now`): for a frozen state, what had changed at the deadline (and what
/// was put back) and what changed since it was re-created; live, what
/// changed since the image. The nodes whose programs were changed and not
/// put back: `(how the grader reached them, why)`, for `distrust`.
fn integrity(
    session: &Session,
    grading: &Grading,
    now: NodeChanges,
    reach: &plateau_grade::grade::Platform,
    grade: &mut CandidateGrade,
) -> Vec<(String, String)> {
    let plan = &grading.record.plan;
    let mut suspects = Vec::new();
    let seen_now = if grading.frozen.is_some() { "while graded" } else { "live" };
    // Machines with no reading at all (Windows: no package record the grader
    // trusts) are named, never counted clean.
    for node in plan.nodes.iter().filter(|n| !now.iter().any(|(id, _)| id == &n.id)) {
        let why = match node.os {
            plateau_scenario::model::Os::Windows => "Windows machine: the grader has no integrity reading of it",
            _ => "no integrity reading of this machine",
        };
        grade.unverified.push(plateau_results::Unverified { node: node.id.clone(), why: why.to_string() });
    }
    for (node, why) in grading.frozen.iter().flat_map(|f| &f.unread) {
        grade.unverified.push(plateau_results::Unverified { node: node.clone(), why: why.clone() });
    }
    for (node, changes) in now {
        if let Some(frozen) = &grading.frozen
            && let Some(found) = frozen.at_deadline.get(&node)
        {
            let done = frozen.put_back.get(&node).cloned().unwrap_or_default();
            grade.integrity.extend(integrity::report(&node, found, "at the deadline", &done));
        }
        // What the restore itself put back is not a change of the candidate's.
        let restored = grading.frozen.as_ref().and_then(|f| f.put_back.get(&node));
        let found: Vec<FsChange> = match changes {
            Ok(changes) => integrity::findings(&changes)
                .into_iter()
                .filter(|c| restored.is_none_or(|r| !r.contains(&c.path)))
                .collect(),
            Err(e) => {
                let why = format!("the node's files could not be compared with its image: {e}");
                grade.unverified.push(plateau_results::Unverified { node: node.clone(), why: why.clone() });
                suspects.push((reached_as(session, plan, reach, &node), why));
                continue;
            }
        };
        // A machine Plateau did not create was read with its own package
        // manager, which whoever is root there controls: what it shows is
        // listed, but its silence proves nothing.
        if plan.node(&node).is_some_and(|n| !n.backend.created()) {
            let why = "a machine Plateau did not create: read with its own package manager, which its root user \
                       controls (a change found is listed, none found is not a proof); nothing is put back \
                       before the grade of record";
            grade.unverified.push(plateau_results::Unverified { node: node.clone(), why: why.to_string() });
        }
        grade.integrity.extend(integrity::report(&node, &found, seen_now, &[]));
        let bent: Vec<&str> =
            found.iter().filter(|c| integrity::bends_the_grader(c)).map(|c| c.path.as_str()).collect();
        if !bent.is_empty() {
            suspects.push((
                reached_as(session, plan, reach, &node),
                format!("the grader's programs were changed on {node} ({}): see Intégrité", bent.join(", ")),
            ));
        }
    }
    suspects
}

/// How the grader's evidence names a node (`Action::from`).
fn reached_as(
    session: &Session,
    plan: &plateau_scenario::CandidatePlan,
    reach: &plateau_grade::grade::Platform,
    node: &str,
) -> String {
    use plateau_grade::executor::Execute;
    match reach.executors.get(node) {
        Some(on) => on.describe(),
        None => format!("docker exec {}", session.container_name(&plan.candidate.id, node)),
    }
}
