//! `plateau watch`: grade every candidate again and again and show progress
//! as a live table (trainers, practice sessions). With `--practice`, each
//! candidate also finds their own results in their home directory; in exam
//! mode (the default) candidates never see a result.

use std::time::Duration;

use anyhow::Result;
use clap::Args;
use plateau_exam::{FaultEffect, Status};

use crate::platform_cmds::StateArgs;
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
    let ctx = args.state.session(&args.session)?;
    let mut round = 0;
    loop {
        round += 1;
        let result = ctx.watch_round(args.practice).await?;
        let mut table = crate::render::table(&["candidate", "score", "passed", "progress", "faults", "limits"]);
        for (id, graded) in &result.graded {
            // The candidate's latest limit event: `limit.disk` until resumed.
            let limits = result
                .limits
                .iter()
                .rev()
                .find(|e| &e.candidate == id)
                .filter(|e| e.action == "limit.disk")
                .map_or(String::new(), |e| format!("paused over its disk budget: {}", e.detail));
            match graded {
                Ok(g) => {
                    let passed = g.checks.iter().filter(|c| c.status == Status::Pass).count();
                    let faults = g
                        .faults
                        .iter()
                        .map(|f| {
                            let state = match f.effect() {
                                FaultEffect::Repaired => "repaired",
                                FaultEffect::Present => "present",
                                FaultEffect::NotObserved => "effect not observed",
                            };
                            format!("{} {state}", f.id)
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    table.add_row([
                        id.clone(),
                        format!("{} / {}", plateau_report::number(g.score), g.max_score),
                        format!("{passed} / {}", g.checks.len()),
                        bar(passed, g.checks.len()),
                        faults,
                        limits,
                    ]);
                }
                Err(e) => {
                    table.add_row([
                        id.clone(),
                        "—".into(),
                        "—".into(),
                        format!("cannot grade: {e}"),
                        String::new(),
                        limits,
                    ]);
                }
            }
        }
        // Clear the screen, then the table: a live view in any terminal.
        print!("\x1b[2J\x1b[H");
        println!("session {} — round {round} at {}", args.session, result.at);
        println!("{table}");
        if args.rounds.is_some_and(|r| round >= r) {
            return Ok(status::OK);
        }
        tokio::time::sleep(Duration::from_secs(args.every)).await;
    }
}

fn bar(done: usize, total: usize) -> String {
    let width = 20;
    let filled = (done * width).checked_div(total).unwrap_or(0);
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}
