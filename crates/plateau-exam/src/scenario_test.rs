//! Prove a scenario grades right before exam day. One candidate is
//! provisioned; the untouched platform must fail every check, the reference
//! solution (typed through the candidate's access) must pass them all, live
//! and of record (frozen as at a deadline and re-created from its
//! snapshots), and each fault must break exactly the checks it declares,
//! then pass again once reverted. The result is a matrix checks × states.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use plateau_grade::checks::sh;
use plateau_grade::grade::run_check;
use plateau_grade::steps::run_steps;
use plateau_results::{CandidateGrade, CheckResult, Status};
use plateau_scenario::model::{Check, Step};
use plateau_scenario::{Candidate, Scenario};
use plateau_state::{CandidateRecord, LOCAL_ENGINE, SessionRecord, Store};

use crate::context::{SessionCtx, Workspace, scenario_hash};
use crate::error::{Error, Result, refuse};
use crate::faults::open_ticket;
use crate::progress::Progress;
use crate::solve::Solved;

/// The seed the shipped scenarios' matrices are proven with.
pub const SCENARIO_TEST_SEED: &str = "scenario-test";

/// What `scenario test` is asked to do.
pub struct TestRequest {
    pub file_name: String,
    pub text: String,
    /// Host port of the test candidate's SSH access.
    pub port: u16,
    /// Leave the platform up afterwards.
    pub keep: bool,
    /// Seed of the candidate's variants (`SCENARIO_TEST_SEED` by default).
    pub seed: String,
    /// Session database; a temporary one when `None`.
    pub state: Option<PathBuf>,
    pub actor: String,
}

/// The proof: the Markdown matrix and the cells that were not as expected.
pub struct TestReport {
    pub matrix: String,
    /// One line per unexpected cell: state, check, and why the grader decided
    /// so (its error, or the comparisons that failed) — what a failed CI run
    /// must show to be understood without re-running it.
    pub unexpected: Vec<String>,
    pub states: usize,
    pub checks: usize,
}

/// One column of the matrix: a state of the platform and what it should show.
struct Column {
    label: String,
    /// Checks expected to fail; every other check must pass.
    failing: BTreeSet<String>,
    grade: CandidateGrade,
    /// A fault's ticket (of its user's call) graded in this state: the
    /// fault's id, the result, and whether it should be handled by now.
    ticket: Option<(String, CheckResult, bool)>,
}

pub async fn scenario_test(request: TestRequest, progress: &dyn Progress) -> Result<TestReport> {
    let scenario = Scenario::parse(&request.file_name, &request.text).map_err(Error::Invalid)?;
    let hash = scenario_hash(&request.text);
    let temp = tempfile::tempdir().map_err(Error::io(std::env::temp_dir()))?;
    let db = request.state.clone().unwrap_or_else(|| temp.path().join("state.db"));
    let workspace = Workspace::new(db, request.actor.clone());
    let store = Store::open(&workspace.state)?;
    let record = SessionRecord {
        name: format!("st-{}", &hash[..8]),
        scenario_file: request.file_name.clone(),
        scenario_hash: hash,
        seed: request.seed.clone(),
        scenario_text: request.text.clone(),
    };
    store.ensure_session(&record)?;
    let ctx = SessionCtx::new(&workspace, store, record)?;
    // A platform of this session on the engine is what an interrupted run
    // left (its state was a temporary file): "untouched" starts anew.
    // This host's engine: a scenario is proven where its author runs it.
    let engine = ctx.engine_on(LOCAL_ENGINE).await?;
    let left = engine.down(ctx.name(), None).await?;
    engine.remove_snapshots(ctx.name()).await?;
    if left.containers + left.networks > 0 {
        progress.note(format!(
            "== removed what an interrupted run left: {} container(s), {} network(s)",
            left.containers, left.networks
        ));
    }
    // Drawn around the networks on the engine (other tests, other sessions).
    let taken = engine.subnets_held(ctx.name()).await?;
    let plan = scenario
        .plan_around(&ctx.record.seed, &ctx.db().session_secret(ctx.name())?, &Candidate::numbered(1), &taken)
        .map_err(Error::Invalid)?
        .remove(0);
    let candidate =
        CandidateRecord { id: plan.candidate.id.clone(), ssh_port: request.port, plan, engine: LOCAL_ENGINE.into() };
    ctx.db().put_candidate(ctx.name(), &candidate)?;
    let outcome = ctx.prove(&candidate, progress).await;
    if !request.keep {
        engine.down(ctx.name(), None).await?;
        // The solved state's snapshots: this session is thrown away.
        engine.remove_snapshots(ctx.name()).await?;
        ctx.db().remove_session(ctx.name())?;
    }
    let columns = outcome?;
    let (mut matrix, unexpected) = matrix(&scenario, &columns);
    if request.seed != SCENARIO_TEST_SEED {
        matrix.push_str(&format!("\nVariables drawn with the seed `{}`.\n", request.seed));
    }
    Ok(TestReport { matrix, unexpected, states: columns.len(), checks: candidate.plan.checks.len() })
}

impl SessionCtx {
    async fn prove(&self, candidate: &CandidateRecord, progress: &dyn Progress) -> Result<Vec<Column>> {
        progress.note(format!("== provisioning one candidate of {}", self.scenario.id()));
        let up = self
            .engine_for(candidate)
            .await?
            .up_candidate(&self.engine_session()?, &candidate.plan, candidate.ssh_port)
            .await?;
        self.pin_host_keys(&up)?;
        let all: BTreeSet<String> = candidate.plan.checks.iter().map(|c| c.id.clone()).collect();
        let mut columns = Vec::new();
        progress.note("== grading the untouched platform".into());
        columns.push(Column {
            label: "untouched".into(),
            failing: all,
            grade: self.grade_one(candidate).await?,
            ticket: None,
        });
        progress.note("== applying the reference solution through the candidate's access".into());
        if let Solved::StepFailed { step, node, exit_code, said } = self.apply_solution(candidate, progress).await? {
            refuse!(
                "the reference solution failed on the platform: step {step} on {node} ended with exit code {exit_code}\n{said}"
            );
        }
        columns.push(Column {
            label: "solved".into(),
            failing: BTreeSet::new(),
            grade: self.grade_one(candidate).await?,
            ticket: None,
        });
        // The grade a jury signs: the solved platform frozen as at a
        // deadline, re-created from its snapshots with what it ran, graded.
        // The faults below then run on that re-created platform.
        progress.note("== freezing the solved platform and grading it of record".into());
        self.start(Some("1h")).await?;
        let frozen = self.freeze_now(Some(&candidate.id), progress).await?;
        if let Some(failed) = frozen.failed.first() {
            refuse!("the solved platform could not be frozen: {} failed: {}", failed.step, failed.error);
        }
        let record = self.grade_of_record(&candidate.id)?.expect("a frozen candidate has a grade of record");
        columns.push(Column {
            label: "solved, of record".into(),
            failing: BTreeSet::new(),
            grade: record,
            ticket: None,
        });
        let reach = self.reach(candidate).await?;
        for fault in &candidate.plan.faults {
            progress.note(format!("== fault {}: inject", fault.id));
            run_steps(&reach, &fault.inject, Duration::from_secs(60)).await?;
            // Its user's call, as `fault inject` makes it: a ticket not handled yet.
            let ticket = match &fault.request {
                Some(request) => {
                    let number = open_ticket(&reach, request).await.map_err(|why| {
                        Error::Refused(format!("fault {}: its user's call opened no ticket: {why}", fault.id))
                    })?;
                    fault.ticket_check(number).map(|check| (number, check))
                }
                None => None,
            };
            let failing = fault.breaks.iter().cloned().collect();
            let grade = self.grade_one(candidate).await?;
            let open = match &ticket {
                Some((_, check)) => Some((fault.id.clone(), run_check(check, &reach).await, false)),
                None => None,
            };
            columns.push(Column { label: fault.id.clone(), failing, grade, ticket: open });
            progress.note(format!("== fault {}: revert", fault.id));
            run_steps(&reach, &fault.revert, Duration::from_secs(60)).await?;
            let handled = match &ticket {
                Some((number, check)) => {
                    progress.note(format!("== fault {}: its ticket #{number} handled as a technician", fault.id));
                    run_steps(&reach, &[handle_ticket(&candidate.plan, check, *number)?], Duration::from_secs(60))
                        .await?;
                    Some((fault.id.clone(), run_check(check, &reach).await, true))
                }
                None => None,
            };
            columns.push(Column {
                label: format!("{} reverted", fault.id),
                failing: BTreeSet::new(),
                grade: self.grade_reverted(candidate).await?,
                ticket: handled,
            });
        }
        Ok(columns)
    }
}

/// The reference technician's handling of a fault's ticket, on the help
/// desk node through the tool's API as the candidate's first technician
/// account: taken, a comment on what was done, resolved.
fn handle_ticket(plan: &plateau_scenario::CandidatePlan, check: &Check, number: u64) -> Result<Step> {
    let node = check.node.clone().unwrap_or_default();
    let account = plan
        .nodes
        .iter()
        .find(|n| n.id == node)
        .and_then(|n| n.env.get("PLATEAU_HELPDESK_TECHNICIANS"))
        .and_then(|accounts| accounts.split_whitespace().next().map(str::to_string));
    let Some(account) = account else {
        refuse!(
            "the help desk node `{node}` has no technician account (`PLATEAU_HELPDESK_TECHNICIANS`) to handle a ticket"
        )
    };
    let api = format!("http://127.0.0.1/REST/2.0/ticket/{number}");
    let curl = format!("curl -sSf -u {} -o /dev/null", sh(&account));
    let json = "-H 'Content-Type: application/json'";
    let run = [
        format!("{curl} -X PUT {json} -d '{{\"Status\":\"open\"}}' {api}"),
        format!(
            "{curl} -H 'Content-Type: text/plain; charset=UTF-8' --data-binary 'Panne trouvée et réparée.' {api}/comment"
        ),
        format!("{curl} -X PUT {json} -d '{{\"Status\":\"resolved\"}}' {api}"),
    ]
    .join(" && ");
    Ok(Step { node, run })
}

/// How long a reverted platform is given to serve again (a service just
/// started binds its port a moment later, longer on a busy machine).
const REVERT_SETTLE: Duration = Duration::from_secs(30);

impl SessionCtx {
    /// The grade once a revert has taken effect: graded again while some
    /// check does not pass, up to `REVERT_SETTLE`; a revert that does not
    /// repair still shows, with the last grade.
    async fn grade_reverted(&self, candidate: &CandidateRecord) -> Result<CandidateGrade> {
        let started = std::time::Instant::now();
        loop {
            let grade = self.grade_one(candidate).await?;
            let settled = grade.checks.iter().all(|c| c.status == plateau_results::Status::Pass);
            if settled || started.elapsed() >= REVERT_SETTLE {
                return Ok(grade);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// The Markdown matrix and the unexpected cells, explained.
fn matrix(scenario: &Scenario, columns: &[Column]) -> (String, Vec<String>) {
    let mut out = String::new();
    let _ = writeln!(out, "Scenario test of `{}` ({}):\n", scenario.id(), scenario.file().scenario.version);
    let _ = write!(out, "| check |");
    for c in columns {
        let _ = write!(out, " {} |", c.label);
    }
    let _ = write!(out, "\n| --- |");
    for _ in columns {
        let _ = write!(out, " --- |");
    }
    out.push('\n');
    let mut unexpected = Vec::new();
    for check in &scenario.file().checks {
        let _ = write!(out, "| {} |", check.id);
        for c in columns {
            let result = c.grade.checks.iter().find(|r| r.id == check.id);
            let expected = if c.failing.contains(&check.id) { Status::Fail } else { Status::Pass };
            let cell = match result {
                Some(r) if r.status == expected => plateau_report::status_word(r.status).to_string(),
                Some(r) => {
                    unexpected.push(format!("{} / {}: {}", c.label, check.id, why(r)));
                    format!("{}!", plateau_report::status_word(r.status))
                }
                None => {
                    unexpected.push(format!("{} / {}: not graded", c.label, check.id));
                    "missing!".to_string()
                }
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    // A fault's ticket: not handled while the fault is on, handled once
    // repaired; graded only in those two states.
    for fault in scenario.file().faults.iter().filter(|f| f.request.is_some()) {
        let _ = write!(out, "| {}: ticket |", fault.id);
        for c in columns {
            let cell = match &c.ticket {
                Some((id, result, handled)) if *id == fault.id => {
                    let expected = if *handled { Status::Pass } else { Status::Fail };
                    if result.status == expected {
                        plateau_report::status_word(result.status).to_string()
                    } else {
                        unexpected.push(format!("{} / {}: ticket {}", c.label, fault.id, why(result)));
                        format!("{}!", plateau_report::status_word(result.status))
                    }
                }
                _ => "·".to_string(),
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    let tickets = if scenario.file().faults.iter().any(|f| f.request.is_some()) {
        "; a fault's ticket: not handled while it is on, handled once repaired). `·`: not graded in this state."
    } else {
        ")."
    };
    let _ = writeln!(
        out,
        "\n`!`: not what this state should show (untouched: every check fails; solved and reverted: every check passes; a fault: exactly its `breaks` fail{tickets}"
    );
    (out, unexpected)
}

/// Why the grader decided as it did, in one line.
fn why(result: &CheckResult) -> String {
    let status = plateau_report::status_word(result.status);
    let evidence = &result.evidence;
    if let Some(error) = &evidence.error {
        return format!("{status} after {} attempt(s): {error}", evidence.attempts);
    }
    let compared: Vec<String> = evidence
        .assertions
        .iter()
        .filter(|a| a.ok == (result.status == Status::Pass))
        .map(|a| format!("{} = {:?} (expected {:?})", a.what, a.actual, a.expected))
        .collect();
    if compared.is_empty() { status.to_string() } else { format!("{status}: {}", compared.join("; ")) }
}

#[cfg(test)]
mod tests {
    use plateau_results::{Assertion, Evidence};

    use super::*;

    fn result(status: Status, error: Option<&str>, assertions: &[(&str, &str, &str, bool)]) -> CheckResult {
        let assertions = assertions
            .iter()
            .map(|(what, expected, actual, ok)| Assertion {
                what: what.to_string(),
                expected: expected.to_string(),
                actual: actual.to_string(),
                ok: *ok,
            })
            .collect();
        CheckResult {
            id: "ws-address".into(),
            title: String::new(),
            kind: "ip_config".into(),
            criteria: Vec::new(),
            status,
            points: 0.0,
            max_points: 1,
            evidence: Evidence {
                actions: Vec::new(),
                assertions,
                error: error.map(str::to_string),
                at: String::new(),
                duration_ms: 0.0,
                attempts: 2,
            },
        }
    }

    #[test]
    fn an_unexpected_cell_says_what_the_grader_saw() {
        let cases = [
            (
                result(Status::Error, Some("ssh: connection refused"), &[]),
                "error after 2 attempt(s): ssh: connection refused",
            ),
            // A fail where a pass was due: the comparisons that failed.
            (
                result(
                    Status::Fail,
                    None,
                    &[("address", "10.0.0.20", "10.0.0.150", false), ("dns", "10.0.0.10", "10.0.0.10", true)],
                ),
                r#"fail: address = "10.0.0.150" (expected "10.0.0.20")"#,
            ),
            // A pass where a fail was due: the comparisons that passed.
            (
                result(Status::Pass, None, &[("address", "an address", "10.0.0.20", true)]),
                r#"pass: address = "10.0.0.20" (expected "an address")"#,
            ),
        ];
        for (result, expected) in cases {
            assert_eq!(why(&result), expected);
        }
    }
}
