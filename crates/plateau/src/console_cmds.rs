//! `serve` and `accounts`: the web console and who may use it.

use std::io::Read;
use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use plateau_exam::Role;

use crate::platform_cmds::StateArgs;
use crate::status;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on: this machine only unless told otherwise.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve HTTPS with this certificate chain (PEM), e.g. the centre's own.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Also carry the candidates' SSH sessions, recorded, on this address:
    /// `ssh -p PORT c01@centre` (or `c01+NODE@…`) with their console password.
    #[arg(long)]
    ssh: Option<SocketAddr>,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Args)]
pub struct AccountsArgs {
    #[command(subcommand)]
    action: AccountsAction,
}

#[derive(Subcommand)]
enum AccountsAction {
    /// Create or replace an account; its password is read from standard input.
    Add(AddArgs),
    /// Remove an account (its browsers are signed out).
    Remove {
        name: String,
        #[command(flatten)]
        state: StateArgs,
    },
    /// List the accounts and their roles.
    List {
        #[command(flatten)]
        state: StateArgs,
    },
}

#[derive(Args)]
struct AddArgs {
    name: String,
    #[arg(long, value_enum)]
    role: RoleArg,
    /// The exam session a jury or a candidate belongs to.
    #[arg(long)]
    session: Option<String>,
    /// A jury's candidates, or the candidate an account is (comma-separated).
    #[arg(long, value_delimiter = ',')]
    candidates: Vec<String>,
    #[command(flatten)]
    state: StateArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Operator,
    Trainer,
    Jury,
    Candidate,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Operator => Role::Operator,
            RoleArg::Trainer => Role::Trainer,
            RoleArg::Jury => Role::Jury,
            RoleArg::Candidate => Role::Candidate,
        }
    }
}

pub async fn serve(args: ServeArgs) -> Result<u8> {
    if args.state.workspace()?.accounts()?.is_empty() {
        bail!(
            "no console account yet: create one first, e.g. `plateau accounts add admin --role operator` (the password is read from standard input)"
        );
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(plateau_console::Tls::from_pem_files(cert, key)?),
        _ => None,
    };
    if tls.is_none() && !args.listen.ip().is_loopback() {
        eprintln!(
            "warning: serving {} without TLS: passwords and cookies cross the network in clear (--tls-cert, --tls-key)",
            args.listen
        );
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("Plateau console on {scheme}://{} (state {})", args.listen, args.state.state.display());
    let console = plateau_console::Console::new(&args.state.state);
    if let Some(listen) = args.ssh {
        let key = plateau_console::ssh::host_key(&args.state.state)?;
        println!("candidates' SSH, recorded, on {listen} (host key {})", plateau_console::ssh::fingerprint(&key));
        let ssh = plateau_console::ssh::serve(console.clone(), listen);
        let web = plateau_console::serve(console, args.listen, tls);
        tokio::try_join!(async { ssh.await.with_context(|| format!("serving SSH on {listen}")) }, async {
            web.await.with_context(|| format!("serving on {}", args.listen))
        },)?;
        return Ok(status::OK);
    }
    plateau_console::serve(console, args.listen, tls).await.with_context(|| format!("serving on {}", args.listen))?;
    Ok(status::OK)
}

pub fn accounts(args: AccountsArgs) -> Result<u8> {
    match args.action {
        AccountsAction::Add(a) => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password).context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            a.state.workspace()?.add_account(&a.name, a.role.into(), password, a.session.as_deref(), &a.candidates)?;
            println!("account {} ready", a.name);
        }
        AccountsAction::Remove { name, state } => {
            if !state.workspace()?.remove_account(&name)? {
                bail!("no account `{name}`");
            }
            println!("account {name} removed");
        }
        AccountsAction::List { state } => {
            for (name, role) in state.workspace()?.accounts()? {
                println!("{name:<20} {role}");
            }
        }
    }
    Ok(status::OK)
}
