//! What grading produces: per check a status with evidence and points, rolled
//! up to criteria, competences and blocks. These types are the report's data
//! (their JSON Schema is the report schema).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The platform shows what the check expects.
    Pass,
    /// The platform was looked at and does not show it.
    Fail,
    /// The grader could not look (target unreachable, timeout, tool missing):
    /// a jury must decide; never counted as a fail.
    Error,
}

/// One expectation of a check, as compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Assertion {
    /// What is compared, e.g. `router option`.
    pub what: String,
    pub expected: String,
    pub actual: String,
    pub ok: bool,
}

/// One action the grader took for a check: a command or a probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Action {
    /// Where it ran from: `controller`, or how a node was reached.
    pub from: String,
    /// The command run or the probe sent.
    pub sent: String,
    /// Exit code of a command (absent for probes).
    pub exit_code: Option<i64>,
    /// The beginning of what came back (at most 2 KiB).
    pub output: String,
    /// How long it took, in milliseconds (microsecond precision).
    pub duration_ms: f64,
}

/// Why the grader decided as it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    pub actions: Vec<Action>,
    pub assertions: Vec<Assertion>,
    /// For `error`: what kept the grader from looking.
    pub error: Option<String>,
    /// When the last attempt started (RFC 3339, UTC).
    pub at: String,
    /// The last attempt, in milliseconds (microsecond precision); what it
    /// took beyond its actions is the grader's own overhead.
    pub duration_ms: f64,
    pub attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub criteria: Vec<String>,
    pub status: Status,
    /// Points earned (a share of `max_points` when the check gives partial credit).
    pub points: f64,
    pub max_points: u32,
    pub evidence: Evidence,
}

/// Verdict on a critère de performance, a competence or a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every check evidencing it passed (or the share reached the threshold).
    Met,
    /// Some of its checks passed.
    Partial,
    NotMet,
    /// A check could not run: the jury decides.
    Undetermined,
    /// No platform state shows it: observed by the jury (interview, attitude).
    JuryOnly,
    /// This exam does not examine it (the scenario says so): not to judge.
    NotExamined,
}

/// A jury's decision, stored beside the automatic verdict, never replacing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Override {
    pub verdict: Verdict,
    pub comment: String,
    pub by: String,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CriterionResult {
    pub framework: String,
    pub block: String,
    pub competence: String,
    pub criterion: String,
    /// The criterion's text, quoted from the framework.
    pub text: String,
    /// Checks evidencing it.
    pub checks: Vec<String>,
    pub verdict: Verdict,
    /// What the platform keeps for the jury to judge it on (the scenario's
    /// `grading.material`); none on a criterion no check evidences: the
    /// jury's own observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    pub jury: Option<Override>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UnitResult {
    /// Competence (`CP7`) or block (`CCP2`) id.
    pub id: String,
    pub title: String,
    pub points: f64,
    pub max_points: u32,
    /// The share of points needed for `met`.
    pub threshold: f64,
    pub verdict: Verdict,
}

/// A candidate's grade at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CandidateGrade {
    pub id: String,
    pub name: String,
    pub score: f64,
    pub max_score: u32,
    pub started_at: String,
    pub duration_ms: u64,
    pub checks: Vec<CheckResult>,
    pub criteria: Vec<CriterionResult>,
    pub competences: Vec<UnitResult>,
    pub blocks: Vec<UnitResult>,
    /// Faults injected into this platform and not reverted by a trainer.
    #[serde(default)]
    pub faults: Vec<FaultState>,
    /// What state was graded and why (absent in grades made before it was kept).
    #[serde(default)]
    pub basis: Option<Basis>,
    /// What changed on each node outside the candidate's expected work: the
    /// programs and libraries the grader runs, the loader's preload list,
    /// root's shell start-up files, the ways in (SSH keys and configuration).
    #[serde(default)]
    pub integrity: Vec<NodeIntegrity>,
    /// Nodes whose integrity could not be read (a Windows machine, a failed
    /// read): nothing is known of them, which is not "no change".
    #[serde(default)]
    pub unverified: Vec<Unverified>,
    /// Later grades of the same frozen state (filled in by reports: they are
    /// shown beside the grade of record, never in its place).
    #[serde(default)]
    pub regrades: Vec<Regrade>,
}

/// What stands for a secret in evidence.
pub const REDACTED: &str = "•••••";

impl CandidateGrade {
    /// Replace every occurrence of the given secrets (passwords the plan
    /// drew, the candidate's and the grader's) in what the grade shows:
    /// commands sent, outputs, expected and observed values.
    pub fn redact(&mut self, secrets: &[String]) {
        let mut secrets: Vec<&str> = secrets.iter().map(String::as_str).filter(|s| s.len() >= 4).collect();
        // Longest first: a secret containing another is hidden whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let hide = |text: &mut String| {
            for secret in &secrets {
                if text.contains(secret) {
                    *text = text.replace(secret, REDACTED);
                }
            }
        };
        let tickets = self.faults.iter_mut().filter_map(|f| f.ticket.as_mut());
        for check in self.checks.iter_mut().chain(tickets) {
            for action in &mut check.evidence.actions {
                hide(&mut action.sent);
                hide(&mut action.output);
            }
            for assertion in &mut check.evidence.assertions {
                hide(&mut assertion.expected);
                hide(&mut assertion.actual);
            }
            if let Some(error) = &mut check.evidence.error {
                hide(error);
            }
        }
    }
}

/// Which state a grade read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GradeKind {
    /// The platform as it runs (practice, before a deadline, the jury phase).
    Live,
    /// The grade of record: the state at a deadline, re-created from its
    /// snapshots (no process the candidate started survives it).
    Record,
    /// A frozen state graded again, with a reason.
    Regrade,
}

/// What a grade read: for a frozen state, which deadline and which snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Basis {
    pub kind: GradeKind,
    /// The phase whose end was frozen (`preparation`, `jury`).
    pub phase: Option<String>,
    /// When the candidate's platform was halted (RFC 3339).
    pub cut_at: Option<String>,
    /// The snapshot images graded.
    pub snapshots: Vec<String>,
    /// Why a frozen state was graded again, and who asked.
    pub reason: Option<String>,
    pub by: Option<String>,
    /// What the cut could not keep, per node, for the jury: a node killed
    /// or stopped at the deadline (its memory is lost: graded as it boots),
    /// a program no service defines (not started again).
    #[serde(default)]
    pub not_kept: Vec<String>,
    /// Why this frozen state could not be graded at all (every check is
    /// then `error`); it stands as the grade of record until a regrade.
    #[serde(default)]
    pub failure: Option<String>,
}

/// A later grade of a frozen state, as shown beside the grade of record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Regrade {
    pub at: String,
    pub score: f64,
    pub max_score: u32,
    pub reason: String,
    pub by: String,
}

/// What changed on one node that a jury should know of before signing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeIntegrity {
    pub node: String,
    pub changes: Vec<IntegrityChange>,
    /// Changes not listed (the list stops at a readable length).
    pub more: usize,
}

/// A node whose integrity could not be verified, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Unverified {
    pub node: String,
    pub why: String,
}

/// One path that differs from the node's image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntegrityChange {
    pub path: String,
    /// `added`, `modified` or `deleted`.
    pub change: String,
    /// When it was seen: `at the deadline`, `while graded`, `live`.
    pub seen: String,
    /// The grader ran the role's own copy instead (grade of record).
    pub put_back: bool,
}

/// A fault present on the platform when it was graded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FaultState {
    pub id: String,
    pub title: String,
    pub injected_at: String,
    /// The checks the fault breaks.
    pub checks: Vec<String>,
    /// Whether its effect was seen: one of those checks did not pass in a
    /// grade taken after it was injected (a fault that breaks no check
    /// never is). Grades stored before this field count as seen.
    #[serde(default = "seen_before")]
    pub observed: bool,
    /// Whether the candidate repaired it: its effect was seen, and every one
    /// of those checks passes again.
    pub repaired: bool,
    /// The ticket its user's call opened in the help desk's tool, read there:
    /// passes when a technician resolved it with an action written down.
    /// Worth no points: evidence for the jury's grading of the intervention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<CheckResult>,
}

fn seen_before() -> bool {
    true
}

/// Where a fault stands, as the jury and the trainer read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultEffect {
    /// Its checks do not all pass.
    Present,
    /// Its checks failed after the injection and pass now.
    Repaired,
    /// No check was seen broken by it: nothing says the candidate repaired anything.
    NotObserved,
}

impl FaultState {
    pub fn effect(&self) -> FaultEffect {
        match (self.observed, self.repaired) {
            (false, _) => FaultEffect::NotObserved,
            (true, true) => FaultEffect::Repaired,
            (true, false) => FaultEffect::Present,
        }
    }
}

/// The beginning of `text`, cut at a character boundary.
pub fn excerpt(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// The name of a verdict as written in JSON (`not-met`).
pub fn verdict_token(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Met => "met",
        Verdict::Partial => "partial",
        Verdict::NotMet => "not-met",
        Verdict::Undetermined => "undetermined",
        Verdict::JuryOnly => "jury-only",
        Verdict::NotExamined => "not-examined",
    }
}

/// Milliseconds with microsecond precision.
pub fn millis(elapsed: std::time::Duration) -> f64 {
    elapsed.as_micros() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_evidence() {
        let action = |sent: &str, output: &str| Action {
            from: "docker exec n".into(),
            sent: sent.into(),
            exit_code: Some(0),
            output: output.into(),
            duration_ms: 1.0,
        };
        let mut grade = CandidateGrade {
            id: "c01".into(),
            name: "C".into(),
            score: 0.0,
            max_score: 1,
            started_at: String::new(),
            duration_ms: 0,
            checks: vec![CheckResult {
                id: "share".into(),
                title: "t".into(),
                kind: "smb_access".into(),
                criteria: vec![],
                status: Status::Pass,
                points: 1.0,
                max_points: 1,
                evidence: Evidence {
                    actions: vec![action("smbclient -U 'jdoe%Xk9-secret-pw' //files/compta", "session setup as jdoe")],
                    assertions: vec![Assertion {
                        what: "password".into(),
                        expected: "Xk9-secret-pw".into(),
                        actual: "Xk9-secret-pw2".into(),
                        ok: false,
                    }],
                    error: None,
                    at: String::new(),
                    duration_ms: 1.0,
                    attempts: 1,
                },
            }],
            criteria: vec![],
            competences: vec![],
            blocks: vec![],
            faults: vec![],
            basis: None,
            integrity: vec![],
            unverified: vec![],
            regrades: vec![],
        };
        grade.redact(&["Xk9-secret-pw".into(), "Xk9-secret-pw2".into(), "ab".into()]);
        let json = serde_json::to_string(&grade).unwrap();
        assert!(!json.contains("Xk9"), "{json}");
        assert!(json.contains("jdoe%•••••"), "what is not secret stays readable: {json}");
        assert!(json.contains("session setup as jdoe"), "{json}");
    }
}
