//! `grade`, `report`, `override`: verify the platforms, write what a jury signs.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use plateau_exam::{FaultEffect, Format, Status, Verdict};

use crate::platform_cmds::StateArgs;
use crate::render::Render;
use crate::status;

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
    /// Grade a frozen candidate again, from the snapshots of their last
    /// freeze, for this reason (needs --candidate). The grid shows it
    /// beside the grade of record, never in its place.
    #[arg(long, value_name = "REASON", requires = "candidate")]
    regrade: Option<String>,
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
    format: Vec<FormatArg>,
    /// Print the JSON Schema of report.json and exit.
    #[arg(long)]
    schema: bool,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    Json,
    Html,
    Csv,
    Junit,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Json => Format::Json,
            FormatArg::Html => Format::Html,
            FormatArg::Csv => Format::Csv,
            FormatArg::Junit => Format::Junit,
        }
    }
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

pub async fn grade_cmd(args: GradeArgs) -> Result<u8> {
    let ctx = args.state.session(&args.session)?;
    let graded = match (&args.regrade, &args.candidate) {
        (Some(reason), Some(candidate)) => {
            let grade = ctx.regrade(candidate, reason, &Render::bar_only()).await?;
            vec![(candidate.clone(), Ok(grade))]
        }
        _ => ctx.grade(args.candidate.as_deref(), args.concurrency, &Render::bar_only()).await?,
    };
    let mut failed = 0;
    let mut done = Vec::new();
    for (id, result) in graded {
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
                let state = match f.effect() {
                    FaultEffect::Repaired => "repaired",
                    FaultEffect::Present => "still present",
                    FaultEffect::NotObserved => "effect not observed",
                };
                let ticket = match f.ticket.as_ref().map(|t| t.status) {
                    Some(Status::Pass) => "; its ticket handled in the tool",
                    Some(Status::Fail) => "; its ticket not handled yet",
                    Some(Status::Error) => "; its ticket could not be read",
                    None => "",
                };
                println!("{:<10} fault {} ({}): {state}{ticket}", "", f.id, f.title);
            }
        }
    }
    Ok(if failed > 0 { status::INVALID } else { status::OK })
}

pub fn report_cmd(args: ReportArgs) -> Result<u8> {
    if args.schema {
        println!("{}", plateau_report::schema());
        return Ok(status::OK);
    }
    let session = args.session.clone().expect("clap requires --session without --schema");
    let ctx = args.state.session(&session)?;
    let report = ctx.report(args.candidate.as_deref())?;
    let formats: Vec<Format> = args.format.iter().map(|&f| f.into()).collect();
    for path in ctx.write_report(&report, args.out.clone(), &formats)? {
        println!("{}", path.display());
    }
    Ok(status::OK)
}

pub fn override_cmd(args: OverrideArgs) -> Result<u8> {
    let verdict = Verdict::from(args.verdict);
    let ctx = args.state.session(&args.session)?;
    ctx.override_verdict(&args.candidate, &args.criterion, verdict, &args.comment, &args.by)?;
    println!(
        "{} {}: jury decision recorded ({}); the automatic verdict is kept beside it",
        args.candidate,
        args.criterion,
        plateau_exam::verdict_token(verdict)
    );
    Ok(status::OK)
}
