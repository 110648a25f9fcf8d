//! `audit show|verify`, and the one helper every command uses to append to
//! the session's hash-chained audit log.

use anyhow::Result;
use clap::{Args, Subcommand};
use plateau_state::{Breach, Store};
use serde_json::Value;

use crate::platform_cmds::StateArgs;
use crate::status;

/// Who acts: `PLATEAU_ACTOR`, else the OS user.
fn actor() -> String {
    std::env::var("PLATEAU_ACTOR")
        .or_else(|_| std::env::var("SUDO_USER"))
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "plateau".into())
}

/// Append an action to the session's audit log.
pub(crate) fn record(store: &Store, session: &str, action: &str, detail: Value) -> Result<String> {
    Ok(store.audit(session, &actor(), action, &detail)?)
}

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
            let store = Store::open(&t.state.state)?;
            for e in store.audit_log(&t.session)? {
                println!("{:>4} {} {:<10} {:<14} {} {}", e.n, e.at, e.actor, e.action, e.detail, &e.hash[..12]);
            }
            Ok(status::OK)
        }
        AuditAction::Verify(t) => {
            let store = Store::open(&t.state.state)?;
            let entries = store.audit_log(&t.session)?.len();
            let breaches = store.verify_audit(&t.session)?;
            for b in &breaches {
                match b {
                    Breach::Edited { n } => println!("entry {n}: edited (its content no longer matches its hash)"),
                    Breach::Broken { n } => {
                        println!("entry {n}: does not follow the entry before it (one was removed or moved)")
                    }
                }
            }
            if breaches.is_empty() {
                let head = store.audit_head(&t.session)?.unwrap_or_else(|| plateau_state::GENESIS.into());
                println!("session {}: {entries} entries, chain intact, head {head}", t.session);
                Ok(status::OK)
            } else {
                println!("session {}: the audit log was tampered with ({} problem(s))", t.session, breaches.len());
                Ok(status::INVALID)
            }
        }
    }
}
