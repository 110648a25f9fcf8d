//! `archive create|verify|restore`: the appeals archive of a session.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::platform_cmds::StateArgs;
use crate::render::Render;
use crate::status;

#[derive(Args)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    action: ArchiveAction,
}

#[derive(Subcommand)]
enum ArchiveAction {
    /// Write a frozen session's archive (snapshots, report and grids, audit
    /// chain, plans) into one file, verify it, then remove the session's
    /// snapshots from the engine (those a platform still uses: with `down`).
    Create {
        #[arg(long)]
        session: String,
        /// The archive file; `<state dir>/<session>/<session>.archive.tar` by default.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Check an archive offline: its seal, every file's hash, the audit
    /// chain and the report bound to it, the snapshots in it. Exits 1 when
    /// anything does not verify.
    Verify {
        file: PathBuf,
        /// The centre's audit key (by default the one beside the database,
        /// or PLATEAU_AUDIT_KEY).
        #[arg(long)]
        key: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Bring one candidate's frozen platform back from an archive (an
    /// appeal) and grade it again, beside the grade of record.
    Restore {
        file: PathBuf,
        #[arg(long)]
        candidate: String,
        /// The engine of the site file to bring it back on, when the
        /// session is no longer on record (default: the site's first).
        #[arg(long)]
        engine: Option<String>,
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        state: StateArgs,
    },
}

pub async fn archive(args: ArchiveArgs) -> Result<u8> {
    match args.action {
        ArchiveAction::Create { session, out, state } => {
            let ctx = state.session(&session)?;
            let archived = ctx.archive(out, &Render::lines_to_stderr()).await?;
            println!(
                "session {session}: archived in {} ({:.1} MB, {} snapshot image(s), manifest {})",
                archived.file.display(),
                archived.bytes as f64 / 1e6,
                archived.snapshots,
                &archived.manifest_sha256[..16],
            );
            if archived.deferred > 0 {
                println!("snapshots: {} still used by a platform, removed with `plateau down`", archived.deferred);
            } else {
                println!("snapshots: {} removed from the engine", archived.removed);
            }
            Ok(status::OK)
        }
        ArchiveAction::Verify { file, key, json, state } => {
            let verification = state.workspace()?.verify_archive(&file, key.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&verification)?);
            } else {
                for f in &verification.findings {
                    println!("{} {:<10} {}", if f.ok { "ok  " } else { "FAIL" }, f.what, f.detail);
                }
            }
            Ok(if verification.intact() { status::OK } else { status::INVALID })
        }
        ArchiveAction::Restore { file, candidate, engine, key, state } => {
            let restored = state
                .workspace()?
                .restore_archive(&file, &candidate, engine.as_deref(), key.as_deref(), &Render::bar_only())
                .await?;
            let before = restored
                .before
                .map_or("none".to_string(), |(score, max)| format!("{} / {max}", plateau_report::number(score)));
            println!(
                "{}: grade of record {before}; restored from the archive and graded again: {} / {}",
                restored.candidate,
                plateau_report::number(restored.after.score),
                restored.after.max_score
            );
            Ok(status::OK)
        }
    }
}
