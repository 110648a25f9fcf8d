//! `exam start|status|extend|freeze|run`: the preparatory phase's clock.
//! Deadlines live in the session database, so the supervisor (`exam run`)
//! can be stopped and restarted at any time and still freezes on time.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use plateau_engine::platform::Engine;
use plateau_scenario::model::PhaseKind;
use plateau_state::{CandidateRecord, Store};
use serde_json::json;

use crate::grade_cmds::{grade_all, load_scenario};
use crate::platform_cmds::{SomeCandidates, StateArgs, engine_session};
use crate::{audit_cmds, status};

const PHASE: &str = "preparation";
const JURY: &str = "jury";

#[derive(Args)]
pub struct ExamArgs {
    #[command(subcommand)]
    action: ExamAction,
}

#[derive(Subcommand)]
enum ExamAction {
    /// Open every candidate's access and start the preparatory phase's clock.
    Start(StartArgs),
    /// Time left per candidate.
    Status(Session),
    /// Give one candidate extra time (before their freeze).
    Extend(ExtendArgs),
    /// Freeze now: cut access, snapshot every node, grade the frozen state.
    Freeze(SomeCandidates),
    /// Open one candidate's jury phase: their access again, on its own clock
    /// (the scenario's jury phase by default); `exam run` closes it on time.
    OpenJury(JuryArgs),
    /// Re-create a frozen candidate's platform from their snapshots (access
    /// stays closed); then `plateau grade` regrades it.
    Restore(RestoreArgs),
    /// Supervise the session: freeze each candidate at their deadline. Safe to
    /// stop and start again; returns when every candidate is frozen.
    Run(Session),
}

#[derive(Args)]
struct Session {
    #[arg(long)]
    session: String,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args)]
struct StartArgs {
    #[arg(long)]
    session: String,
    /// Length of the phase (`3h`, `90min`, `30s`); the scenario's preparatory phase by default.
    #[arg(long)]
    duration: Option<String>,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args)]
struct ExtendArgs {
    #[arg(long)]
    session: String,
    #[arg(long)]
    candidate: String,
    /// Extra time, e.g. `30min`.
    #[arg(long)]
    by: String,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args)]
struct JuryArgs {
    #[arg(long)]
    session: String,
    #[arg(long)]
    candidate: String,
    /// Length of the jury phase; the scenario's jury phase by default.
    #[arg(long)]
    duration: Option<String>,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args)]
struct RestoreArgs {
    #[arg(long)]
    session: String,
    #[arg(long)]
    candidate: String,
    /// The snapshot's tag (`freeze-<time>`); the candidate's last freeze by default.
    #[arg(long)]
    tag: Option<String>,
    #[command(flatten)]
    state: StateArgs,
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn at(unix: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64)).to_string()
}

fn duration(text: &str) -> Result<Duration> {
    humantime::parse_duration(text)
        .map_err(|e| anyhow::anyhow!("`{text}` is not a duration ({e}); write e.g. `3h` or `90min`"))
}

pub async fn exam(args: ExamArgs) -> Result<u8> {
    match args.action {
        ExamAction::Start(a) => start(a).await,
        ExamAction::Status(a) => show(a),
        ExamAction::Extend(a) => extend(a),
        ExamAction::Freeze(a) => freeze_now(a).await,
        ExamAction::Run(a) => run(a).await,
        ExamAction::Restore(a) => restore(a).await,
        ExamAction::OpenJury(a) => open_jury(a).await,
    }
}

async fn start(args: StartArgs) -> Result<u8> {
    let store = Store::open(&args.state.state)?;
    let record = store.session(&args.session)?;
    let scenario = load_scenario(&record)?;
    let length = phase_length(&scenario, PhaseKind::Preparatory, args.duration.as_deref())?;
    let candidates = store.candidates(&args.session)?;
    let engine = Engine::connect(1).await?;
    let session = engine_session(&store, record)?;
    if store.deadlines(&args.session)?.iter().any(|d| d.phase == PHASE) {
        bail!("the exam of session `{}` has started already (see `plateau exam status`)", args.session);
    }
    let ends_at = now() + length.as_secs() as i64;
    for c in &candidates {
        engine.set_access(&session, &c.id, true).await?;
        store.set_deadline(&args.session, &c.id, PHASE, ends_at, false)?;
    }
    audit_cmds::record(&store, &args.session, "exam.start", json!({ "phase": PHASE, "ends_at": at(ends_at) }))?;
    println!("session {}: {} candidate(s), preparatory phase ends at {}", args.session, candidates.len(), at(ends_at));
    Ok(status::OK)
}

/// `--duration`, or the scenario's phase of that kind.
fn phase_length(scenario: &plateau_scenario::Scenario, kind: PhaseKind, given: Option<&str>) -> Result<Duration> {
    match given {
        Some(d) => duration(d),
        None => {
            let Some(phase) = scenario.file().phases.iter().find(|p| p.kind == kind) else {
                bail!("the scenario has no {} phase; give --duration", plateau_scenario::model::token(&kind))
            };
            duration(&phase.duration)
        }
    }
}

async fn open_jury(args: JuryArgs) -> Result<u8> {
    let store = Store::open(&args.state.state)?;
    let record = store.session(&args.session)?;
    let scenario = load_scenario(&record)?;
    let length = phase_length(&scenario, PhaseKind::Jury, args.duration.as_deref())?;
    let deadlines = store.deadlines(&args.session)?;
    let prepared = deadlines.iter().any(|d| d.candidate == args.candidate && d.phase == PHASE && d.frozen_at.is_some());
    if !prepared {
        bail!("{}'s preparatory phase is not over (freeze it first: the jury phase follows it)", args.candidate);
    }
    if deadlines.iter().any(|d| d.candidate == args.candidate && d.phase == JURY) {
        bail!("{}'s jury phase was opened already", args.candidate);
    }
    store.candidate(&args.session, &args.candidate)?;
    let engine = Engine::connect(1).await?;
    let session = engine_session(&store, record)?;
    let ends_at = now() + length.as_secs() as i64;
    engine.set_access(&session, &args.candidate, true).await?;
    store.set_deadline(&args.session, &args.candidate, JURY, ends_at, false)?;
    audit_cmds::record(
        &store,
        &args.session,
        "exam.open-jury",
        json!({ "candidate": args.candidate, "ends_at": at(ends_at) }),
    )?;
    println!("{}: jury phase open until {}", args.candidate, at(ends_at));
    Ok(status::OK)
}

fn show(args: Session) -> Result<u8> {
    let store = Store::open(&args.state.state)?;
    let deadlines = store.deadlines(&args.session)?;
    if deadlines.is_empty() {
        println!("session {}: the exam has not started (`plateau exam start`)", args.session);
    }
    for d in deadlines {
        let left = match &d.frozen_at {
            Some(f) => format!("frozen at {f}"),
            None if d.ends_at <= now() => "time is up: freeze pending (`plateau exam run`)".to_string(),
            None => format!("{} left", humantime::format_duration(Duration::from_secs((d.ends_at - now()) as u64))),
        };
        println!("{:<10} {:<12} ends {}  {left}", d.candidate, d.phase, at(d.ends_at));
    }
    Ok(status::OK)
}

fn extend(args: ExtendArgs) -> Result<u8> {
    let store = Store::open(&args.state.state)?;
    let extra = duration(&args.by)?.as_secs() as i64;
    if !store.extend_deadline(&args.session, &args.candidate, PHASE, extra)? {
        bail!("{} has no running phase to extend (not started, or frozen already)", args.candidate);
    }
    audit_cmds::record(&store, &args.session, "exam.extend", json!({ "candidate": args.candidate, "seconds": extra }))?;
    println!("{}: {} more", args.candidate, args.by);
    Ok(status::OK)
}

async fn freeze_now(args: SomeCandidates) -> Result<u8> {
    let store = Store::open(&args.state.state)?;
    let pending: Vec<String> = store
        .deadlines(&args.session)?
        .into_iter()
        .filter(|d| d.phase == PHASE && d.frozen_at.is_none())
        .map(|d| d.candidate)
        .filter(|c| args.candidate.as_ref().is_none_or(|only| only == c))
        .collect();
    if pending.is_empty() {
        bail!("nothing to freeze in session `{}` (not started, or frozen already)", args.session);
    }
    freeze(&store, &args.session, &pending, PHASE).await
}

async fn run(args: Session) -> Result<u8> {
    let store = Store::open(&args.state.state)?;
    if store.deadlines(&args.session)?.is_empty() && store.pending_faults(&args.session)?.is_empty() {
        bail!("nothing to supervise in session `{}`: no exam started, no fault scheduled", args.session);
    }
    loop {
        crate::fault_cmds::inject_due(&store, &args.session).await?;
        let pending = store.pending_faults(&args.session)?;
        let deadlines = store.deadlines(&args.session)?;
        let open: Vec<_> = deadlines.iter().filter(|d| d.frozen_at.is_none()).collect();
        if open.is_empty() && pending.is_empty() {
            if deadlines.is_empty() {
                println!("session {}: every scheduled fault is injected", args.session);
            } else {
                println!("session {}: every candidate is frozen", args.session);
            }
            return Ok(status::OK);
        }
        for phase in [PHASE, JURY] {
            let due: Vec<String> =
                open.iter().filter(|d| d.phase == phase && d.ends_at <= now()).map(|d| d.candidate.clone()).collect();
            if !due.is_empty() {
                freeze(&store, &args.session, &due, phase).await?;
            }
        }
        // Re-read often: a candidate may get extra time meanwhile.
        let next = open.iter().map(|d| d.ends_at).chain(pending.iter().map(|f| f.at)).min().unwrap_or(now());
        tokio::time::sleep(Duration::from_millis(((next - now()).clamp(0, 1) * 1000).max(200) as u64)).await;
    }
}

async fn restore(args: RestoreArgs) -> Result<u8> {
    let store = Store::open(&args.state.state)?;
    let record = store.session(&args.session)?;
    let candidate = store.candidate(&args.session, &args.candidate)?;
    let tag = match args.tag {
        Some(t) => t,
        None => last_freeze_tag(&store, &args.session, &args.candidate)?,
    };
    let engine = Engine::connect(8).await?;
    let session = engine_session(&store, record)?;
    let up = engine.restore(&session, &candidate.plan, &tag, candidate.ssh_port).await?;
    audit_cmds::record(&store, &args.session, "exam.restore", json!({ "candidate": args.candidate, "snapshot": tag }))?;
    println!("{}: platform restored from snapshot {tag} ({} node(s)); access closed", up.candidate, up.nodes.len());
    Ok(status::OK)
}

/// The tag of a candidate's last freeze, from the audit log.
fn last_freeze_tag(store: &Store, session: &str, candidate: &str) -> Result<String> {
    store
        .audit_log(session)?
        .iter()
        .rev()
        .filter(|e| e.action == "exam.freeze")
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.detail).ok())
        .find(|d| d["candidate"] == candidate)
        .and_then(|d| {
            d["snapshots"][0].as_str().and_then(|image| image.rsplit_once(':')).map(|(_, tag)| tag.to_string())
        })
        .ok_or_else(|| anyhow::anyhow!("{candidate} was never frozen in session `{session}`: no snapshot to restore"))
}

/// Cut access, snapshot every node, record the freeze, grade the frozen state.
async fn freeze(store: &Store, session_name: &str, candidates: &[String], phase: &str) -> Result<u8> {
    let record = store.session(session_name)?;
    let scenario = Arc::new(load_scenario(&record)?);
    let engine = Engine::connect(4).await?;
    let session = engine_session(store, record.clone())?;
    let tag = format!("{}-{}", if phase == PHASE { "freeze" } else { phase }, now());
    let mut frozen: Vec<CandidateRecord> = Vec::new();
    for id in candidates {
        let candidate = store.candidate(session_name, id)?;
        engine.cut_access(&session, &candidate.plan).await?;
        let images = engine.snapshot(&session, &candidate.plan, &tag).await?;
        store.mark_frozen(session_name, id, phase)?;
        audit_cmds::record(
            store,
            session_name,
            "exam.freeze",
            json!({ "candidate": id, "phase": phase, "snapshots": images }),
        )?;
        println!("{id}: access cut, {} node(s) snapshotted ({tag})", images.len());
        frozen.push(candidate);
    }
    for (id, result) in grade_all(store, record, scenario, &frozen, 16).await? {
        match result {
            Ok(g) => println!("{id}: frozen state graded {} / {}", plateau_report::number(g.score), g.max_score),
            Err(e) => eprintln!("{id}: the frozen state cannot be graded: {e}"),
        }
    }
    Ok(status::OK)
}
