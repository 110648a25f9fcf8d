//! Grading and what a jury signs: `grade` (grade → pin first-seen host keys →
//! fault states → the jury's decisions → store → audit), `override`, `report`.

use std::path::PathBuf;
use std::sync::Arc;

use plateau_grade::grade::{apply_overrides, fault_states, grade};
use plateau_report::{Report, ScenarioInfo};
use plateau_results::{CandidateGrade, Override, Verdict, verdict_token};
use plateau_state::{CandidateRecord, OverrideRecord};
use serde_json::json;

use crate::context::{SessionCtx, sha256};
use crate::error::{Error, Result, refuse};
use crate::progress::Progress;

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

impl SessionCtx {
    /// Grade candidates (one, or all of the session) in parallel, at most
    /// `concurrency` at once; store each grade with the jury's decisions so
    /// far. A candidate that cannot be reached at all is reported, not fatal.
    pub async fn grade(&self, only: Option<&str>, concurrency: usize, progress: &dyn Progress) -> Result<Vec<Graded>> {
        let candidates = self.some_candidates(only)?;
        self.grade_candidates(&candidates, concurrency, progress).await
    }

    pub(crate) async fn grade_candidates(
        &self,
        candidates: &[CandidateRecord],
        concurrency: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<Graded>> {
        let engine = self.engine().await?.clone();
        let session = self.engine_session()?;
        progress.stage("candidates graded", candidates.len());
        let slots = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, candidate) in candidates.iter().enumerate() {
            let credentials = self.credentials(candidate)?;
            let (engine, session, plan, scenario, slots) =
                (engine.clone(), session.clone(), candidate.plan.clone(), self.scenario.clone(), slots.clone());
            tasks.spawn(async move {
                let _slot = slots.acquire().await.expect("semaphore open");
                let result = match plateau_grade::targets::platform(&engine, &session, &plan, &credentials).await {
                    Ok(reach) => {
                        let file = scenario.file();
                        let grade =
                            grade(&plan, scenario.framework(), &file.scenario.blocks, &file.grading, &reach).await;
                        Ok((grade, reach.first_seen_keys()))
                    }
                    Err(e) => Err(e),
                };
                (i, result)
            });
        }
        type Outcome = std::result::Result<(CandidateGrade, Vec<(String, String)>), plateau_grade::Error>;
        let mut outcomes: Vec<Option<Outcome>> = (0..candidates.len()).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            let (i, result) = joined.expect("grading task panicked");
            progress.done(match &result {
                Ok((g, _)) => format!("{} graded {} / {}", g.id, plateau_report::number(g.score), g.max_score),
                Err(e) => format!("{} cannot be graded: {e}", candidates[i].id),
            });
            outcomes[i] = Some(result);
        }
        progress.event(crate::Event::StageEnd);
        let mut out = Vec::new();
        for (candidate, outcome) in candidates.iter().zip(outcomes.into_iter().flatten()) {
            let graded = match outcome {
                Ok((grade, first_seen)) => Ok(self.record_grade(candidate, grade, &first_seen)?),
                Err(e) => Err(e),
            };
            out.push((candidate.id.clone(), graded));
        }
        Ok(out)
    }

    /// Pin host keys seen first, attach the faults present and the jury's
    /// decisions, store the grade and audit it with its SHA-256.
    fn record_grade(
        &self,
        candidate: &CandidateRecord,
        mut grade: CandidateGrade,
        first_seen: &[(String, String)],
    ) -> Result<CandidateGrade> {
        let name = &self.record.name;
        for (node, key) in first_seen {
            self.db().put_host_keys(name, &candidate.id, node, std::slice::from_ref(key))?;
        }
        let active: Vec<_> = self
            .db()
            .active_faults(name, &candidate.id)?
            .into_iter()
            .map(|f| (f.fault, f.title, f.breaks, f.injected_at))
            .collect();
        grade.faults = fault_states(&active, &grade.checks);
        apply_overrides(&mut grade, &self.overrides_of(&candidate.id)?);
        let json = serde_json::to_string(&grade).expect("a grade serializes");
        self.db().put_grade(name, &candidate.id, &json)?;
        self.audit("grade", json!({ "candidate": candidate.id, "score": grade.score, "sha256": sha256(&json) }))?;
        Ok(grade)
    }

    /// Grade one candidate now; an unreachable platform is an error.
    pub(crate) async fn grade_one(&self, candidate: &CandidateRecord) -> Result<CandidateGrade> {
        let mut graded = self.grade_candidates(std::slice::from_ref(candidate), 1, &crate::progress::Silent).await?;
        Ok(graded.remove(0).1?)
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
        self.audit(
            "override",
            json!({ "candidate": candidate, "criterion": criterion, "verdict": verdict_token(verdict) }),
        )?;
        Ok(())
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
            let Some(json) = self.db().latest_grade(session, id)? else {
                refuse!("candidate `{id}` has no grade yet; run `plateau grade --session {session}` first")
            };
            let mut grade: CandidateGrade = serde_json::from_str(&json)
                .map_err(|e| Error::Refused(format!("the stored grade of {id} cannot be read: {e}")))?;
            apply_overrides(&mut grade, &self.overrides_of(id)?);
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
        let ids: Vec<&str> = report.candidates.iter().map(|c| c.id.as_str()).collect();
        report.audit_head = Some(self.audit("report", json!({ "candidates": ids }))?);
        Ok(report)
    }

    /// Write a report's files (all formats when `formats` is empty) into
    /// `out`, by default `<state dir>/<session>/report`; the paths written.
    pub fn write_report(&self, report: &Report, out: Option<PathBuf>, formats: &[Format]) -> Result<Vec<PathBuf>> {
        let out = out.unwrap_or_else(|| self.workspace.session_dir(&self.record.name).join("report"));
        std::fs::create_dir_all(&out).map_err(Error::io(&out))?;
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
            std::fs::write(&path, content).map_err(Error::io(&path))?;
            written.push(path);
        }
        Ok(written)
    }
}
