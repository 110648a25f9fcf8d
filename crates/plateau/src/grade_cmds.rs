//! `grade`, `report`, `override`: verify the platforms, write what a jury signs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use plateau_engine::platform::Engine;
use plateau_grade::grade::{apply_overrides, fault_states, grade};
use plateau_grade::result::{CandidateGrade, Override, Status, Verdict};
use plateau_grade::targets::{Credentials, platform};
use plateau_report::{Report, ScenarioInfo};
use plateau_scenario::Scenario;
use plateau_state::{CandidateRecord, OverrideRecord, SessionRecord, Store};

use crate::platform_cmds::{StateArgs, engine_session};
use crate::{audit_cmds, status};

#[derive(Args)]
pub struct GradeArgs {
    #[arg(long)]
    session: String,
    /// Only this candidate (all of the session otherwise).
    #[arg(long)]
    candidate: Option<String>,
    /// Candidates graded at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Print the grades as JSON (the report's `candidates`).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args)]
pub struct ReportArgs {
    #[arg(long, required_unless_present = "schema")]
    session: Option<String>,
    /// Only this candidate.
    #[arg(long)]
    candidate: Option<String>,
    /// Directory to write to; `<state dir>/<session>/report` by default.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Formats to write (all by default).
    #[arg(long, value_enum, value_delimiter = ',')]
    format: Vec<Format>,
    /// Print the JSON Schema of report.json and exit.
    #[arg(long)]
    schema: bool,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Json,
    Html,
    Csv,
    Junit,
}

#[derive(Args)]
pub struct OverrideArgs {
    #[arg(long)]
    session: String,
    #[arg(long)]
    candidate: String,
    /// Criterion id, e.g. `CP7.2`.
    #[arg(long)]
    criterion: String,
    #[arg(long, value_enum)]
    verdict: VerdictArg,
    /// Why the jury decides so (required: the grid shows it).
    #[arg(long)]
    comment: String,
    /// Who decides (name of the jury member).
    #[arg(long)]
    by: String,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum VerdictArg {
    Met,
    Partial,
    NotMet,
}

impl From<VerdictArg> for Verdict {
    fn from(v: VerdictArg) -> Verdict {
        match v {
            VerdictArg::Met => Verdict::Met,
            VerdictArg::Partial => Verdict::Partial,
            VerdictArg::NotMet => Verdict::NotMet,
        }
    }
}

pub(crate) fn load_scenario(record: &SessionRecord) -> Result<Scenario> {
    let path = Path::new(&record.scenario_file);
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the session's scenario {}", path.display()))?;
    if crate::platform_cmds::scenario_hash(&text) != record.scenario_hash {
        eprintln!(
            "warning: {} changed since `plateau up`; checks come from the recorded plans, thresholds and criteria texts from the file",
            path.display()
        );
    }
    Scenario::parse(&record.scenario_file, &text)
        .map_err(|report| anyhow::anyhow!("{}", report.render(false)))
        .with_context(|| format!("the session's scenario {} is no longer valid", path.display()))
}

fn selected(store: &Store, session: &str, candidate: Option<&str>) -> Result<Vec<CandidateRecord>> {
    Ok(match candidate {
        Some(c) => vec![store.candidate(session, c)?],
        None => store.candidates(session)?,
    })
}

/// What a candidate's grader holds: the session key and the pinned host keys.
pub(crate) fn credentials(store: &Store, session: &str, candidate: &CandidateRecord) -> Result<Credentials> {
    let grader_key = store.grader_key(session, plateau_grade::executor::generate_key)?;
    let mut host_keys = HashMap::new();
    for node in &candidate.plan.nodes {
        host_keys.insert(node.id.clone(), store.host_keys(session, &candidate.id, &node.id)?);
    }
    Ok(Credentials { grader_key: Some(grader_key), host_keys })
}

/// Grade candidates in parallel (at most `concurrency` at once), store each
/// grade (with the jury's decisions so far) and pin host keys seen first.
/// A candidate that cannot be reached at all is reported, not fatal.
pub(crate) async fn grade_all(
    store: &Store,
    record: SessionRecord,
    scenario: Arc<Scenario>,
    candidates: &[CandidateRecord],
    concurrency: usize,
) -> Result<Vec<(String, Result<CandidateGrade, String>)>> {
    let name = record.name.clone();
    let engine = Engine::connect(1).await?;
    let session = engine_session(store, record)?;
    let bar = indicatif::ProgressBar::new(candidates.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} candidates graded {elapsed}").expect("template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, candidate) in candidates.iter().enumerate() {
        let credentials = credentials(store, &name, candidate)?;
        let (engine, session, plan, scenario, slots, bar) =
            (engine.clone(), session.clone(), candidate.plan.clone(), scenario.clone(), slots.clone(), bar.clone());
        tasks.spawn(async move {
            let _slot = slots.acquire().await.expect("semaphore open");
            let result = match platform(&engine, &session, &plan, &credentials).await {
                Ok(reach) => {
                    let file = scenario.file();
                    let grade = grade(&plan, scenario.framework(), &file.scenario.blocks, &file.grading, &reach).await;
                    Ok((grade, reach.first_seen_keys()))
                }
                Err(e) => Err(e),
            };
            bar.inc(1);
            (i, result)
        });
    }
    type Graded = Result<(CandidateGrade, Vec<(String, String)>), String>;
    let mut graded: Vec<Option<Graded>> = (0..candidates.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, result) = joined.expect("grading task panicked");
        graded[i] = Some(result);
    }
    bar.finish_and_clear();
    let mut out = Vec::new();
    for (candidate, result) in candidates.iter().zip(graded.into_iter().flatten()) {
        let result = match result {
            Ok((mut grade, first_seen)) => {
                for (node, key) in first_seen {
                    store.put_host_keys(&name, &candidate.id, &node, &[key])?;
                }
                let active: Vec<_> = store
                    .active_faults(&name, &candidate.id)?
                    .into_iter()
                    .map(|f| (f.fault, f.title, f.breaks, f.injected_at))
                    .collect();
                grade.faults = fault_states(&active, &grade.checks);
                apply_overrides(&mut grade, &overrides_of(store, &name, &candidate.id)?);
                let json = serde_json::to_string(&grade)?;
                store.put_grade(&name, &candidate.id, &json)?;
                audit_cmds::record(
                    store,
                    &name,
                    "grade",
                    serde_json::json!({ "candidate": candidate.id, "score": grade.score, "sha256": sha256(&json) }),
                )?;
                Ok(grade)
            }
            Err(e) => Err(e),
        };
        out.push((candidate.id.clone(), result));
    }
    Ok(out)
}

pub async fn grade_cmd(args: GradeArgs) -> Result<u8> {
    let store = Store::open(&args.state.state)?;
    let record = store.session(&args.session)?;
    let scenario = Arc::new(load_scenario(&record)?);
    let candidates = selected(&store, &args.session, args.candidate.as_deref())?;
    let mut failed = 0;
    let mut done = Vec::new();
    for (id, result) in grade_all(&store, record, scenario, &candidates, args.concurrency).await? {
        match result {
            Ok(grade) => done.push(grade),
            Err(e) => {
                failed += 1;
                eprintln!("{id:<10} cannot be graded: {e}");
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        for g in &done {
            let count = |s: Status| g.checks.iter().filter(|c| c.status == s).count();
            println!(
                "{:<10} {:>6} / {:<4} {:>3} pass {:>3} fail {:>3} error  {:>6} ms",
                g.id,
                plateau_report::number(g.score),
                g.max_score,
                count(Status::Pass),
                count(Status::Fail),
                count(Status::Error),
                g.duration_ms
            );
            for f in &g.faults {
                let state = if f.repaired { "repaired" } else { "still present" };
                println!("{:<10} fault {} ({}): {state}", "", f.id, f.title);
            }
        }
    }
    Ok(if failed > 0 { status::INVALID } else { status::OK })
}

fn overrides_of(store: &Store, session: &str, candidate: &str) -> Result<Vec<(String, Override)>> {
    let mut out = Vec::new();
    for o in store.overrides(session, candidate)? {
        let verdict: Verdict = serde_json::from_value(serde_json::Value::String(o.verdict.clone()))
            .with_context(|| format!("stored verdict `{}`", o.verdict))?;
        out.push((o.criterion, Override { verdict, comment: o.comment, by: o.by, at: o.at }));
    }
    Ok(out)
}

pub fn report_cmd(args: ReportArgs) -> Result<u8> {
    if args.schema {
        println!("{}", plateau_report::schema());
        return Ok(status::OK);
    }
    let session = args.session.clone().expect("clap requires --session without --schema");
    let store = Store::open(&args.state.state)?;
    let record = store.session(&session)?;
    let scenario = load_scenario(&record)?;
    let ids = match &args.candidate {
        Some(c) => vec![c.clone()],
        None => store.graded_candidates(&session)?,
    };
    let mut grades = Vec::new();
    for id in &ids {
        let Some(json) = store.latest_grade(&session, id)? else {
            bail!("candidate `{id}` has no grade yet; run `plateau grade --session {}` first", session)
        };
        let mut grade: CandidateGrade = serde_json::from_str(&json).context("stored grade")?;
        // Decisions taken after grading show too.
        apply_overrides(&mut grade, &overrides_of(&store, &session, id)?);
        grades.push(grade);
    }
    if grades.is_empty() {
        bail!("session `{}` has no grades yet; run `plateau grade --session {}` first", session, session);
    }
    let meta = &scenario.file().scenario;
    let info = ScenarioInfo {
        id: meta.id.clone(),
        title: meta.title.clone(),
        version: meta.version.clone(),
        framework: scenario.framework().id.clone(),
        framework_title: scenario.framework().title.clone(),
        language: meta.language.clone(),
    };
    let mut report = Report::new(&session, info, plateau_grade::result::now_rfc3339(), grades);
    // The report names the log's head *after* recording itself.
    let ids: Vec<&str> = report.candidates.iter().map(|c| c.id.as_str()).collect();
    report.audit_head = Some(audit_cmds::record(&store, &session, "report", serde_json::json!({ "candidates": ids }))?);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.state.state.parent().unwrap_or(Path::new(".")).join(&session).join("report"));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let wants = |f: Format| args.format.is_empty() || args.format.contains(&f);
    let mut written = Vec::new();
    let mut write = |name: String, content: String| -> Result<()> {
        let path = out.join(name);
        std::fs::write(&path, content).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
        Ok(())
    };
    if wants(Format::Json) {
        write("report.json".into(), report.to_json())?;
    }
    if wants(Format::Html) {
        for c in &report.candidates {
            write(format!("grille-{}.html", c.id), plateau_report::grid(&report, c))?;
        }
    }
    if wants(Format::Csv) {
        write("session.csv".into(), plateau_report::csv(&report))?;
    }
    if wants(Format::Junit) {
        write("junit.xml".into(), plateau_report::junit(&report))?;
    }
    for path in written {
        println!("{}", path.display());
    }
    Ok(status::OK)
}

pub fn override_cmd(args: OverrideArgs) -> Result<u8> {
    let store = Store::open(&args.state.state)?;
    store.candidate(&args.session, &args.candidate)?;
    if args.comment.trim().is_empty() {
        bail!("--comment must say why: the grid prints it beside the decision");
    }
    let record = store.session(&args.session)?;
    let scenario = load_scenario(&record)?;
    if scenario.framework().criterion(&args.criterion).is_none() {
        bail!(
            "`{}` has no criterion `{}` (see `plateau frameworks {}`)",
            scenario.framework().id,
            args.criterion,
            scenario.framework().id
        );
    }
    let verdict = Verdict::from(args.verdict);
    store.put_override(
        &args.session,
        &args.candidate,
        &OverrideRecord {
            criterion: args.criterion.clone(),
            verdict: plateau_grade::result::verdict_token(verdict).to_string(),
            comment: args.comment.clone(),
            by: args.by.clone(),
            at: String::new(),
        },
    )?;
    audit_cmds::record(
        &store,
        &args.session,
        "override",
        serde_json::json!({ "candidate": args.candidate, "criterion": args.criterion, "verdict": plateau_grade::result::verdict_token(verdict) }),
    )?;
    println!(
        "{} {}: jury decision recorded ({}); the automatic verdict is kept beside it",
        args.candidate,
        args.criterion,
        plateau_grade::result::verdict_token(verdict)
    );
    Ok(status::OK)
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
