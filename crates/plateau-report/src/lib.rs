//! Reports of a graded session: the versioned JSON document (the source of
//! every other format), the jury's printable *grille d'évaluation* per
//! candidate (HTML, print to PDF), a CSV of the session and JUnit XML.
//! Candidate- and jury-facing words come from `Texts` (French by default).

mod html;
mod texts;

use plateau_results::{CandidateGrade, Status};
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
    /// Per candidate, their interventions: each fault injected into their
    /// platform and what they typed through the seat gateway while it was
    /// on (absent from reports made before the gateway).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub interventions: std::collections::BTreeMap<String, Vec<Intervention>>,
    /// Per candidate, the preparatory phase's work per block: what they
    /// typed through the seat gateway before their deadline on the nodes
    /// the block's checks read.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub preparation: std::collections::BTreeMap<String, Vec<BlockWork>>,
}

/// A fault on a candidate's platform, from its injection to its revert,
/// and the lines they entered meanwhile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Intervention {
    pub fault: String,
    pub title: String,
    pub injected_at: String,
    /// `None` while the fault is still on.
    pub reverted_at: Option<String>,
    /// The ticket its user's request opened in the help desk's tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<u64>,
    pub lines: Vec<EnteredLine>,
}

/// The preparatory phase on the nodes one block's checks read: the lines
/// entered there up to the candidate's deadline (or up to now).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BlockWork {
    pub block: String,
    pub title: String,
    /// The nodes the block's checks run on or are sent from.
    pub nodes: Vec<String>,
    /// The deadline the lines stop at; `None` while the phase is on.
    pub until: Option<String>,
    pub lines: Vec<EnteredLine>,
}

/// A line entered in a terminal, as it showed (prompt included), and what it printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnteredLine {
    pub node: String,
    pub at: String,
    pub line: String,
    pub output: String,
    /// The recording (asciicast v2, in the session's `recordings/<candidate>/`) it is in.
    pub recording: String,
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
            interventions: Default::default(),
            preparation: Default::default(),
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

pub fn status_word(status: Status) -> &'static str {
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

#[cfg(test)]
mod tests {
    use plateau_results::*;

    use super::*;

    fn report() -> Report {
        let check = |id: &str, status: Status, points: f64, error: Option<&str>| CheckResult {
            id: id.into(),
            title: format!("Vérifie <{id}> & co"),
            kind: "command".into(),
            criteria: vec!["CP7.2".into()],
            status,
            points,
            max_points: 2,
            evidence: Evidence {
                actions: vec![],
                assertions: vec![Assertion {
                    what: "exit code".into(),
                    expected: "0".into(),
                    actual: "1".into(),
                    ok: status == Status::Pass,
                }],
                error: error.map(str::to_string),
                at: "2026-11-22T08:00:00Z".into(),
                duration_ms: 12.5,
                attempts: 1,
            },
        };
        let candidate = |id: &str, checks: Vec<CheckResult>| CandidateGrade {
            id: id.into(),
            name: format!("Candidat {id}"),
            score: checks.iter().map(|c| c.points).sum(),
            max_score: 4,
            started_at: "2026-11-22T08:00:00Z".into(),
            duration_ms: 30,
            checks,
            criteria: vec![],
            competences: vec![],
            blocks: vec![],
            faults: vec![],
            basis: None,
            integrity: vec![],
            unverified: vec![],
            regrades: vec![],
        };
        Report::new(
            "exam",
            ScenarioInfo {
                id: "s".into(),
                title: "S".into(),
                version: "1".into(),
                framework: "tai-2023".into(),
                framework_title: "TAI".into(),
                language: "fr".into(),
            },
            "2026-11-22T09:00:00Z".into(),
            vec![
                candidate("c01", vec![check("a", Status::Pass, 2.0, None), check("b", Status::Pass, 2.0, None)]),
                candidate(
                    "c02",
                    vec![check("a", Status::Fail, 0.5, None), check("b", Status::Error, 0.0, Some("no answer"))],
                ),
            ],
        )
    }

    #[test]
    fn csv_has_a_row_per_candidate_and_check() {
        insta::assert_snapshot!(csv(&report()), @r"
        session,candidate,name,score,max_score,check,status,points,max_points,criteria,error
        exam,c01,Candidat c01,4,4,a,pass,2,2,CP7.2,
        exam,c01,Candidat c01,4,4,b,pass,2,2,CP7.2,
        exam,c02,Candidat c02,0.50,4,a,fail,0.50,2,CP7.2,
        exam,c02,Candidat c02,0.50,4,b,error,0,2,CP7.2,no answer
        ");
    }

    #[test]
    fn junit_counts_failures_and_errors_and_escapes_text() {
        insta::assert_snapshot!(junit(&report()), @r#"
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuites name="exam" tests="4" failures="1" errors="1">
          <testsuite name="c01" tests="2" failures="0" errors="0" time="0.030" timestamp="2026-11-22T08:00:00Z">
            <testcase classname="s.c01" name="a" time="0.013"/>
            <testcase classname="s.c01" name="b" time="0.013"/>
          </testsuite>
          <testsuite name="c02" tests="2" failures="1" errors="1" time="0.030" timestamp="2026-11-22T08:00:00Z">
            <testcase classname="s.c02" name="a" time="0.013">
              <failure message="Vérifie &lt;a&gt; &amp; co">exit code: expected 0, got 1</failure>
            </testcase>
            <testcase classname="s.c02" name="b" time="0.013">
              <error message="no answer"/>
            </testcase>
          </testsuite>
        </testsuites>
        "#);
    }

    #[test]
    fn the_grid_escapes_and_uses_the_scenario_language() {
        let mut r = report();
        let fr = grid(&r, &r.candidates[1]);
        assert!(
            fr.contains("<html lang=\"fr\">")
                && fr.contains("non vérifiable")
                && fr.contains("Vérifie &lt;b&gt; &amp; co")
        );
        r.scenario.language = "en".into();
        let en = grid(&r, &r.candidates[1]);
        assert!(
            en.contains("<html lang=\"en\">") && en.contains("could not be checked") && en.contains("Jury signatures")
        );
    }

    #[test]
    fn a_criterion_not_examined_or_left_to_the_jury_says_so_on_the_grid() {
        let mut r = report();
        let criterion = |id: &str, verdict: Verdict| CriterionResult {
            framework: "tai-2023".into(),
            block: "CCP3".into(),
            competence: "CP8".into(),
            criterion: id.into(),
            text: format!("critère {id}"),
            checks: vec![],
            verdict,
            material: None,
            jury: None,
        };
        let mut with_material = criterion("CP8.6", Verdict::JuryOnly);
        with_material.material = Some("la chronologie des commandes <tapées>".into());
        r.candidates[0].criteria =
            vec![criterion("CP8.3", Verdict::NotExamined), criterion("CP8.5", Verdict::JuryOnly), with_material];
        let fr = grid(&r, &r.candidates[0]);
        assert!(fr.contains("<span class=\"not-examined\">non évalué dans cette épreuve</span>"), "{fr}");
        assert!(fr.contains("<span class=\"jury-only\">apprécié par le jury</span>"), "{fr}");
        // The jury's own observation, and one on what the platform kept.
        assert!(
            fr.contains(
                "<td><b>CP8.5</b> critère CP8.5</td><td><span class=\"jury-only\">observé par le jury</span></td>"
            ),
            "{fr}"
        );
        assert!(
            fr.contains(
                "observé par le jury</span><br><small>pièces : la chronologie des commandes &lt;tapées&gt;</small>"
            ),
            "{fr}"
        );
    }

    #[test]
    fn a_faults_ticket_shows_beside_it_on_the_grid() {
        let mut r = report();
        let mut ticket = r.candidates[1].checks[0].clone();
        ticket.evidence.assertions[0].what = "status".into();
        ticket.evidence.assertions[0].actual = "new".into();
        let fault = |id: &str, ticket: Option<CheckResult>| FaultState {
            id: id.into(),
            title: format!("panne {id}"),
            injected_at: "2026-11-22T08:30:00Z".into(),
            checks: vec!["a".into()],
            observed: true,
            repaired: false,
            ticket,
        };
        r.candidates[1].faults = vec![fault("f1", Some(ticket)), fault("f2", None)];
        let fr = grid(&r, &r.candidates[1]);
        assert!(fr.contains("<th>Ticket</th>"), "{fr}");
        assert!(fr.contains("<td class=\"fail\">non traité<br><small>status: new</small></td>"), "{fr}");
        assert!(fr.contains("<td class=\"fail\">non résolue</td><td></td></tr>"), "a fault without a ticket: {fr}");
        r.candidates[1].faults.truncate(0);
        r.candidates[1].faults.push(fault("f2", None));
        assert!(!grid(&r, &r.candidates[1]).contains("<th>Ticket</th>"), "no column without a ticket");
    }
}
