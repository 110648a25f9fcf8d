//! `audit show|verify`: the session's hash-chained audit log.

use anyhow::Result;
use clap::{Args, Subcommand};
use plateau_exam::Breach;

use crate::platform_cmds::StateArgs;
use crate::status;

#[derive(Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    action: AuditAction,
}

#[derive(Subcommand)]
enum AuditAction {
    /// Print the session's log, oldest first.
    Show(AuditTarget),
    /// Recompute the keyed chain; exits 1 when an entry was edited, removed
    /// or moved, a grade or a jury decision was changed behind it, or the
    /// head given is not in it.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    target: AuditTarget,
    /// The head printed on a grid: it must be an entry of the intact chain.
    #[arg(long)]
    head: Option<String>,
}

#[derive(Args)]
struct AuditTarget {
    #[arg(long)]
    session: String,
    #[command(flatten)]
    state: StateArgs,
}

pub fn audit(args: AuditArgs) -> Result<u8> {
    match args.action {
        AuditAction::Show(t) => {
            for e in t.state.workspace()?.audit_log(&t.session)? {
                println!("{:>4} {} {:<10} {:<14} {} {}", e.n, e.at, e.actor, e.action, e.detail, &e.hash[..12]);
            }
            Ok(status::OK)
        }
        AuditAction::Verify(VerifyArgs { target: t, head }) => {
            let verified = t.state.workspace()?.verify_audit(&t.session, head.as_deref())?;
            for b in &verified.breaches {
                match b {
                    Breach::Edited { n } => println!("entry {n}: edited (its content no longer matches its hash)"),
                    Breach::Broken { n } => {
                        println!("entry {n}: does not follow the entry before it (one was removed or moved)")
                    }
                    Breach::GradeUnbound { candidate, graded_at } => {
                        println!(
                            "grade of {candidate} stored {graded_at}: no entry of the log records it (changed or added behind it)"
                        )
                    }
                    Breach::DecisionUnbound { candidate, criterion } => {
                        println!("jury decision on {criterion} for {candidate}: not the one the log recorded")
                    }
                }
            }
            if let Some(head) = &head
                && verified.head_at.is_none()
            {
                println!(
                    "head {head}: not an entry of this session's log (a grid from another log, or a log rewritten since)"
                );
                return Ok(status::INVALID);
            }
            if verified.breaches.is_empty() {
                println!("session {}: {} entries, chain intact, head {}", t.session, verified.entries, verified.head);
                if let Some(n) = verified.head_at {
                    println!("the grid's head is entry {n} of {}", verified.entries);
                }
                Ok(status::OK)
            } else {
                println!(
                    "session {}: the audit log was tampered with ({} problem(s))",
                    t.session,
                    verified.breaches.len()
                );
                Ok(status::INVALID)
            }
        }
    }
}
