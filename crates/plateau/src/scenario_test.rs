//! `plateau scenario test FILE`: prove a scenario grades right before exam
//! day. One candidate is provisioned; the untouched platform must fail every
//! check, the reference solution (typed through the candidate's access) must
//! pass them all, and each fault must break exactly the checks it declares,
//! then pass again once reverted. Prints the matrix checks × states.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use plateau_engine::platform::Engine;
use plateau_grade::result::{CandidateGrade, Status};
use plateau_grade::steps::run_steps;
use plateau_grade::targets::platform;
use plateau_scenario::{Candidate, Scenario};
use plateau_state::{CandidateRecord, SessionRecord, Store};

use crate::grade_cmds::{credentials, grade_all};
use crate::platform_cmds::{apply_solution, engine_session, pin_host_keys, scenario_hash};
use crate::{scenario_cmds, status};

#[derive(Args)]
pub struct ScenarioArgs {
    #[command(subcommand)]
    action: ScenarioAction,
}

#[derive(Subcommand)]
enum ScenarioAction {
    /// Provision one candidate and check that the scenario grades right:
    /// untouched fails, solved passes, each fault breaks exactly its checks.
    Test(TestArgs),
    /// Print which criteria of the framework the checks evidence and which
    /// are left to the jury (Markdown), computed from the scenario file.
    Coverage(scenario_cmds::CoverageArgs),
}

#[derive(Args)]
struct TestArgs {
    #[arg(value_name = "SCENARIO")]
    file: PathBuf,
    /// Host port of the test candidate's SSH access.
    #[arg(long, default_value_t = 45001)]
    port: u16,
    /// Also write the matrix as Markdown to this file.
    #[arg(long, value_name = "FILE")]
    matrix: Option<PathBuf>,
    /// Leave the platform up afterwards (for a look with `plateau shell`).
    #[arg(long)]
    keep: bool,
    /// Session database; a temporary one by default.
    #[arg(long, env = "PLATEAU_STATE")]
    state: Option<PathBuf>,
}

pub async fn scenario(args: ScenarioArgs) -> Result<u8> {
    match args.action {
        ScenarioAction::Test(args) => test(args).await,
        ScenarioAction::Coverage(args) => scenario_cmds::coverage(args),
    }
}

/// One column of the matrix: a state of the platform and what it should show.
struct Column {
    label: String,
    /// Checks expected to fail; every other check must pass.
    failing: BTreeSet<String>,
    grade: CandidateGrade,
}

async fn test(args: TestArgs) -> Result<u8> {
    let text =
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read scenario {}", args.file.display()))?;
    let file_name = args.file.display().to_string();
    let scenario = match Scenario::parse(&file_name, &text) {
        Ok(s) => Arc::new(s),
        Err(report) => {
            eprint!("{}", report.render(scenario_cmds::color()));
            return Ok(status::INVALID);
        }
    };
    let hash = scenario_hash(&text);
    let temp = tempfile::tempdir()?;
    let db = args.state.clone().unwrap_or_else(|| temp.path().join("state.db"));
    let store = Store::open(&db)?;
    let record = SessionRecord {
        name: format!("st-{}", &hash[..8]),
        scenario_file: file_name.clone(),
        scenario_hash: hash,
        seed: "scenario-test".into(),
    };
    store.ensure_session(&record)?;
    let plan = scenario
        .plan(&record.seed, &Candidate::numbered(1))
        .map_err(|r| anyhow::anyhow!("{}", r.render(false)))?
        .remove(0);
    let candidate = CandidateRecord { id: plan.candidate.id.clone(), ssh_port: args.port, plan };
    store.put_candidate(&record.name, &candidate)?;
    let engine = Engine::connect(8).await?;
    let outcome = run(&store, &engine, &record, &scenario, &candidate).await;
    if !args.keep {
        engine.down(&record.name, None).await?;
        store.remove_session(&record.name)?;
    }
    let columns = outcome?;
    let (table, unexpected) = matrix(&scenario, &columns);
    print!("{table}");
    if let Some(path) = &args.matrix {
        std::fs::write(path, &table).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if unexpected > 0 {
        eprintln!(
            "{file_name}: {unexpected} unexpected cell(s) (marked `!`): the scenario would grade someone wrongly"
        );
        return Ok(status::INVALID);
    }
    println!(
        "{file_name}: grades right in every state ({} states × {} checks)",
        columns.len(),
        candidate.plan.checks.len()
    );
    Ok(status::OK)
}

async fn run(
    store: &Store,
    engine: &Engine,
    record: &SessionRecord,
    scenario: &Arc<Scenario>,
    candidate: &CandidateRecord,
) -> Result<Vec<Column>> {
    let session = engine_session(store, record.clone())?;
    eprintln!("== provisioning one candidate of {}", scenario.id());
    let up = engine.up_candidate(&session, &candidate.plan, candidate.ssh_port).await?;
    pin_host_keys(store, &record.name, &up)?;
    let all: BTreeSet<String> = candidate.plan.checks.iter().map(|c| c.id.clone()).collect();
    let grade = || async {
        let mut graded = grade_all(store, record.clone(), scenario.clone(), std::slice::from_ref(candidate), 1).await?;
        graded.remove(0).1.map_err(anyhow::Error::msg)
    };
    let mut columns = Vec::new();
    eprintln!("== grading the untouched platform");
    columns.push(Column { label: "untouched".into(), failing: all.clone(), grade: grade().await? });
    eprintln!("== applying the reference solution through the candidate's access");
    if !apply_solution(store, &record.name, candidate).await? {
        bail!("the reference solution failed on the platform");
    }
    columns.push(Column { label: "solved".into(), failing: BTreeSet::new(), grade: grade().await? });
    let reach = platform(engine, &session, &candidate.plan, &credentials(store, &record.name, candidate)?)
        .await
        .map_err(anyhow::Error::msg)?;
    for fault in &candidate.plan.faults {
        eprintln!("== fault {}: inject", fault.id);
        run_steps(&reach, &fault.inject, Duration::from_secs(60)).await.map_err(anyhow::Error::msg)?;
        let failing = fault.breaks.iter().cloned().collect();
        columns.push(Column { label: fault.id.clone(), failing, grade: grade().await? });
        eprintln!("== fault {}: revert", fault.id);
        run_steps(&reach, &fault.revert, Duration::from_secs(60)).await.map_err(anyhow::Error::msg)?;
        columns.push(Column {
            label: format!("{} reverted", fault.id),
            failing: BTreeSet::new(),
            grade: grade().await?,
        });
    }
    Ok(columns)
}

/// The Markdown matrix and the number of unexpected cells.
fn matrix(scenario: &Scenario, columns: &[Column]) -> (String, usize) {
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
    let mut unexpected = 0;
    for check in &scenario.file().checks {
        let _ = write!(out, "| {} |", check.id);
        for c in columns {
            let status = c.grade.checks.iter().find(|r| r.id == check.id).map(|r| r.status);
            let expected = if c.failing.contains(&check.id) { Status::Fail } else { Status::Pass };
            let cell = match status {
                Some(s) if s == expected => plateau_report::status_word(s).to_string(),
                Some(s) => {
                    unexpected += 1;
                    format!("{}!", plateau_report::status_word(s))
                }
                None => {
                    unexpected += 1;
                    "missing!".to_string()
                }
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n`!`: not what this state should show (untouched: every check fails; solved and reverted: every check passes; a fault: exactly its `breaks` fail)."
    );
    (out, unexpected)
}
