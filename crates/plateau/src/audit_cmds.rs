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
    /// Recompute the hash chain; exits 1 when an entry was edited, removed or moved.
    Verify(AuditTarget),
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
            for e in t.state.workspace().audit_log(&t.session)? {
                println!("{:>4} {} {:<10} {:<14} {} {}", e.n, e.at, e.actor, e.action, e.detail, &e.hash[..12]);
            }
            Ok(status::OK)
        }
        AuditAction::Verify(t) => {
            let verified = t.state.workspace().verify_audit(&t.session)?;
            for b in &verified.breaches {
                match b {
                    Breach::Edited { n } => println!("entry {n}: edited (its content no longer matches its hash)"),
                    Breach::Broken { n } => {
                        println!("entry {n}: does not follow the entry before it (one was removed or moved)")
                    }
                }
            }
            if verified.breaches.is_empty() {
                println!("session {}: {} entries, chain intact, head {}", t.session, verified.entries, verified.head);
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
