//! Progress while candidates work: one grading round of everyone, and in
//! practice mode each candidate's own results written to their home.

use std::time::Duration;

use plateau_results::{CandidateGrade, Status};
use plateau_state::CandidateRecord;

use crate::context::SessionCtx;
use crate::error::Result;
use crate::grading::Graded;
use crate::progress::Silent;

/// What a trainer sees of one round.
pub struct Round {
    pub at: String,
    pub graded: Vec<Graded>,
    /// Limit events so far (a node paused over its disk budget, resumed).
    pub limits: Vec<crate::limits::LimitEvent>,
}

impl SessionCtx {
    /// Grade every candidate once; in practice mode, also write each
    /// candidate's own results to `~/plateau-resultats.txt` on their entry
    /// machine (in exam mode candidates never see a result).
    pub async fn watch_round(&self, practice: bool) -> Result<Round> {
        let candidates = self.candidates()?;
        // Frozen candidates keep their grade of record (left out).
        let graded = self.grade(None, 16, &Silent).await?;
        if practice {
            for (id, result) in &graded {
                if let (Ok(grade), Some(c)) = (result, candidates.iter().find(|c| &c.id == id)) {
                    self.share(c, grade).await;
                }
            }
        }
        Ok(Round { at: plateau_results::now_rfc3339(), graded, limits: self.limit_events()? })
    }

    /// Practice mode: the candidate's own results, in their home directory.
    async fn share(&self, candidate: &CandidateRecord, grade: &CandidateGrade) {
        let Some(entry) = candidate.plan.access.first() else { return };
        let path = plateau_grade::checks::sh(&format!("/home/{}/plateau-resultats.txt", entry.user));
        let command = format!(
            "printf '%s' {} > {path} && chown {}: {path}",
            plateau_grade::checks::sh(&practice_text(grade)),
            plateau_grade::checks::sh(&entry.user)
        );
        let Ok(engine) = self.engine_for(candidate).await else { return };
        let session = self.engine_session();
        if let Ok(session) = session {
            let _ = engine
                .exec_on(&session, &candidate.id, &entry.node, &["sh", "-c", &command], Duration::from_secs(10))
                .await;
        }
    }
}

/// A candidate's own results, in French: what is done, what is left.
fn practice_text(grade: &CandidateGrade) -> String {
    let mut text = format!("Résultats de vos vérifications ({})\n\n", grade.started_at);
    for c in &grade.checks {
        let mark = match c.status {
            Status::Pass => "OK   ",
            Status::Fail => "A FAIRE",
            Status::Error => "?    ",
        };
        text.push_str(&format!("[{mark}] {}\n", c.title));
    }
    text.push_str(&format!("\nScore : {} / {}\n", plateau_report::number(grade.score), grade.max_score));
    text
}
