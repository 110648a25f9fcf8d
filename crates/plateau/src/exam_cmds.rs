//! `exam start|status|extend|freeze|open-jury|restore|run`: the exam's clock.

use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use plateau_exam::{PhaseState, at};

use crate::platform_cmds::{SomeCandidates, StateArgs};
use crate::render::Render;
use crate::status;

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
    /// Supervise the session: freeze each candidate at their deadline, pause
    /// a node over its disk budget, inject scheduled faults. One per session;
    /// safe to stop and start again; returns when every candidate is frozen.
    Run(Session),
    /// Let a node paused over its disk budget run again (the trainer's decision).
    Resume(ResumeArgs),
}

#[derive(Args)]
struct ResumeArgs {
    #[arg(long)]
    session: String,
    #[arg(long)]
    candidate: String,
    /// The paused node, e.g. `ws`.
    #[arg(long)]
    node: String,
    /// Why it may go on (kept in the audit log).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    state: StateArgs,
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
    /// Why (a third-time measure, an incident): on the record.
    #[arg(long, default_value = "")]
    reason: String,
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

pub async fn exam(args: ExamArgs) -> Result<u8> {
    match args.action {
        ExamAction::Start(a) => {
            let started = a.state.session(&a.session)?.start(a.duration.as_deref()).await?;
            println!(
                "session {}: {} candidate(s), preparatory phase ends at {}",
                a.session,
                started.candidates,
                at(started.ends_at)
            );
            for (id, why) in &started.not_open {
                eprintln!(
                    "{id}: access could not be opened ({why}); their clock runs: `plateau access open` or `plateau reset` them"
                );
            }
        }
        ExamAction::Status(a) => {
            let ctx = a.state.session(&a.session)?;
            let phases = ctx.phases()?;
            if phases.is_empty() {
                println!("session {}: the exam has not started (`plateau exam start`)", a.session);
            }
            for p in phases {
                let left = match p.state {
                    PhaseState::Frozen { at } => format!("frozen at {at}"),
                    PhaseState::Due => "time is up: freeze pending (`plateau exam run`)".to_string(),
                    PhaseState::Cut { at } => {
                        format!("access cut at {at}; snapshot pending (`plateau exam run` tries again)")
                    }
                    PhaseState::Running { left } => {
                        format!("{} left", humantime::format_duration(Duration::from_secs(left as u64)))
                    }
                };
                let d = p.deadline;
                println!("{:<10} {:<12} ends {}  {left}", d.candidate, d.phase, at(d.ends_at));
            }
            for e in ctx.limit_events()? {
                println!("{:<10} {:<12} {}  {}", e.candidate, e.action, e.at, e.detail);
            }
        }
        ExamAction::Extend(a) => {
            a.state.session(&a.session)?.extend(&a.candidate, &a.by, &a.reason)?;
            println!("{}: {} more", a.candidate, a.by);
        }
        ExamAction::Freeze(a) => {
            let report = a.state.session(&a.session)?.freeze_now(a.candidate.as_deref(), &Render::lines()).await?;
            if !report.failed.is_empty() {
                eprintln!(
                    "{} freeze(s) incomplete: run `plateau exam freeze` again, or let `plateau exam run` retry",
                    report.failed.len()
                );
                return Ok(status::INVALID);
            }
        }
        ExamAction::OpenJury(a) => {
            let ends_at = a.state.session(&a.session)?.open_jury(&a.candidate, a.duration.as_deref()).await?;
            println!("{}: jury phase open until {}", a.candidate, at(ends_at));
        }
        ExamAction::Restore(a) => {
            let (tag, nodes) = a.state.session(&a.session)?.restore(&a.candidate, a.tag.as_deref()).await?;
            println!("{}: platform restored from snapshot {tag} ({nodes} node(s)); access closed", a.candidate);
        }
        ExamAction::Run(a) => a.state.session(&a.session)?.supervise(&Render::lines()).await?,
        ExamAction::Resume(a) => {
            a.state.session(&a.session)?.resume_node(&a.candidate, &a.node, &a.reason).await?;
            println!("{} {}: running again", a.candidate, a.node);
        }
    }
    Ok(status::OK)
}
