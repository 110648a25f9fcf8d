//! `plateau watch`: grade every candidate again and again and show progress
//! as a live table (trainers, practice sessions). With `--practice`, each
//! candidate also finds their own results in their home directory; in exam
//! mode (the default) candidates never see a result.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use plateau_engine::exec::exec;
use plateau_engine::platform::Engine;
use plateau_grade::result::{CandidateGrade, Status};
use plateau_state::{CandidateRecord, Store};

use crate::grade_cmds::{grade_all, load_scenario};
use crate::platform_cmds::{StateArgs, engine_session};
use crate::status;

#[derive(Args)]
pub struct WatchArgs {
    #[arg(long)]
    session: String,
    /// Seconds between two rounds.
    #[arg(long, default_value_t = 30)]
    every: u64,
    /// Stop after this many rounds (until interrupted otherwise).
    #[arg(long)]
    rounds: Option<u64>,
    /// Practice mode: write each candidate's own results to their home
    /// directory (`~/plateau-resultats.txt`) on their entry machine.
    #[arg(long)]
    practice: bool,
    #[command(flatten)]
    state: StateArgs,
}

pub async fn watch(args: WatchArgs) -> Result<u8> {
    let store = Store::open(&args.state.state)?;
    let record = store.session(&args.session)?;
    let scenario = Arc::new(load_scenario(&record)?);
    let candidates = store.candidates(&args.session)?;
    let engine = Engine::connect(1).await?;
    let session = engine_session(&store, record.clone())?;
    let mut round = 0;
    loop {
        round += 1;
        let graded = grade_all(&store, record.clone(), scenario.clone(), &candidates, 16).await?;
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header(["candidate", "score", "passed", "progress", "faults"]);
        for (id, result) in &graded {
            match result {
                Ok(g) => {
                    let passed = g.checks.iter().filter(|c| c.status == Status::Pass).count();
                    let faults = g
                        .faults
                        .iter()
                        .map(|f| format!("{} {}", f.id, if f.repaired { "repaired" } else { "present" }))
                        .collect::<Vec<_>>()
                        .join(", ");
                    table.add_row([
                        id.clone(),
                        format!("{} / {}", plateau_report::number(g.score), g.max_score),
                        format!("{passed} / {}", g.checks.len()),
                        bar(passed, g.checks.len()),
                        faults,
                    ]);
                    if args.practice
                        && let Some(c) = candidates.iter().find(|c| &c.id == id)
                    {
                        share(&engine, &session, c, g).await;
                    }
                }
                Err(e) => {
                    table.add_row([id.clone(), "—".into(), "—".into(), format!("cannot grade: {e}"), String::new()]);
                }
            }
        }
        // Clear the screen, then the table: a live view in any terminal.
        print!("\x1b[2J\x1b[H");
        println!("session {} — round {round} at {}", args.session, plateau_grade::result::now_rfc3339());
        println!("{table}");
        if args.rounds.is_some_and(|r| round >= r) {
            return Ok(status::OK);
        }
        tokio::time::sleep(Duration::from_secs(args.every)).await;
    }
}

fn bar(done: usize, total: usize) -> String {
    let width = 20;
    let filled = if total == 0 { 0 } else { done * width / total };
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

/// Practice mode: the candidate's own results, in their home directory.
async fn share(
    engine: &Engine,
    session: &plateau_engine::platform::Session,
    candidate: &CandidateRecord,
    grade: &CandidateGrade,
) {
    let Some(entry) = candidate.plan.access.first() else { return };
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
    let path = plateau_grade::checks::sh(&format!("/home/{}/plateau-resultats.txt", entry.user));
    let command = format!(
        "printf '%s' {} > {path} && chown {}: {path}",
        plateau_grade::checks::sh(&text),
        plateau_grade::checks::sh(&entry.user)
    );
    let container = session.container_name(&candidate.id, &entry.node);
    let _ = exec(engine.docker(), &container, &["sh", "-c", &command], Duration::from_secs(10)).await;
}
