//! Reports of a graded session: the versioned JSON document (the source of
//! every other format), the jury's printable *grille d'évaluation* per
//! candidate (HTML, print to PDF), a CSV of the session and JUnit XML.
//! Candidate- and jury-facing words come from `Texts` (French by default).

mod html;
mod texts;

use plateau_grade::result::{CandidateGrade, Status};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use html::grid;
pub use texts::Texts;

/// Version of the JSON document; bumped on any incompatible change.
pub const REPORT_VERSION: u32 = 1;

/// A graded session, as `plateau report` writes it (`report.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Always `plateau.report`.
    pub kind: String,
    /// See `REPORT_VERSION`.
    pub version: u32,
    pub session: String,
    pub scenario: ScenarioInfo,
    pub generated_at: String,
    /// Head hash of the session's audit log, when it has one.
    pub audit_head: Option<String>,
    pub candidates: Vec<CandidateGrade>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScenarioInfo {
    pub id: String,
    pub title: String,
    pub version: String,
    pub framework: String,
    pub framework_title: String,
    pub language: String,
}

impl Report {
    pub fn new(session: &str, scenario: ScenarioInfo, generated_at: String, candidates: Vec<CandidateGrade>) -> Report {
        Report {
            kind: "plateau.report".into(),
            version: REPORT_VERSION,
            session: session.into(),
            scenario,
            generated_at,
            audit_head: None,
            candidates,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialize")
    }
}

/// The JSON Schema of `report.json`.
pub fn schema() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(Report)).expect("schemas serialize")
}

/// One row per candidate and check.
pub fn csv(report: &Report) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "session",
        "candidate",
        "name",
        "score",
        "max_score",
        "check",
        "status",
        "points",
        "max_points",
        "criteria",
        "error",
    ])
    .expect("in-memory writes");
    for c in &report.candidates {
        for check in &c.checks {
            out.write_record([
                report.session.as_str(),
                &c.id,
                &c.name,
                &number(c.score),
                &c.max_score.to_string(),
                &check.id,
                status_word(check.status),
                &number(check.points),
                &check.max_points.to_string(),
                &check.criteria.join(" "),
                check.evidence.error.as_deref().unwrap_or(""),
            ])
            .expect("in-memory writes");
        }
    }
    String::from_utf8(out.into_inner().expect("in-memory writes")).expect("CSV of UTF-8 fields")
}

/// JUnit XML: one suite per candidate, one case per check (for trainers who
/// run scenarios in CI).
pub fn junit(report: &Report) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let count = |s: Status| report.candidates.iter().flat_map(|c| &c.checks).filter(|k| k.status == s).count();
    let total: usize = report.candidates.iter().map(|c| c.checks.len()).sum();
    xml.push_str(&format!(
        "<testsuites name=\"{}\" tests=\"{total}\" failures=\"{}\" errors=\"{}\">\n",
        esc(&report.session),
        count(Status::Fail),
        count(Status::Error)
    ));
    for c in &report.candidates {
        let of = |s: Status| c.checks.iter().filter(|k| k.status == s).count();
        xml.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\" timestamp=\"{}\">\n",
            esc(&c.id),
            c.checks.len(),
            of(Status::Fail),
            of(Status::Error),
            c.duration_ms as f64 / 1000.0,
            esc(&c.started_at)
        ));
        for check in &c.checks {
            xml.push_str(&format!(
                "    <testcase classname=\"{}.{}\" name=\"{}\" time=\"{:.3}\"",
                esc(&report.scenario.id),
                esc(&c.id),
                esc(&check.id),
                check.evidence.duration_ms / 1000.0
            ));
            let failed: Vec<String> = check
                .evidence
                .assertions
                .iter()
                .filter(|a| !a.ok)
                .map(|a| format!("{}: expected {}, got {}", a.what, a.expected, a.actual))
                .collect();
            match check.status {
                Status::Pass => xml.push_str("/>\n"),
                Status::Fail => xml.push_str(&format!(
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    esc(&check.title),
                    esc(&failed.join("\n"))
                )),
                Status::Error => xml.push_str(&format!(
                    ">\n      <error message=\"{}\"/>\n    </testcase>\n",
                    esc(check.evidence.error.as_deref().unwrap_or("error"))
                )),
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

pub(crate) fn status_word(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Error => "error",
    }
}

/// Points without a useless `.0`.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}

/// Escape for HTML and XML text and attributes.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
