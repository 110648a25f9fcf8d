//! `plateau engines list|certs`: the centre's Docker engines.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::status;

#[derive(Args)]
pub struct EnginesArgs {
    #[command(subcommand)]
    command: EnginesCommand,
}

#[derive(Subcommand)]
enum EnginesCommand {
    /// Show every engine of the site file: reachable or why not, its size,
    /// Plateau's images and containers on it.
    ///
    /// Exits 1 when an engine cannot be reached.
    List {
        /// The site file (default: `plateau.toml` here; without one, this
        /// host's engine alone).
        #[arg(long, env = "PLATEAU_SITE")]
        site: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Make the certificates a remote engine needs: the centre's CA and
    /// client certificate (made once, then reused) and a server certificate
    /// for the engine's host.
    Certs {
        /// Where the centre keeps them (`ca.pem`, `client/`, one folder per host).
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// The engine's host name or address, as the site file's `tcp://`
        /// URL will name it (repeat for more names of the same host).
        #[arg(long = "host", value_name = "HOST", required = true)]
        hosts: Vec<String>,
    },
}

pub async fn engines(args: EnginesArgs) -> Result<u8> {
    match args.command {
        EnginesCommand::List { site, json } => list(site, json).await,
        EnginesCommand::Certs { dir, hosts } => certs(&dir, &hosts),
    }
}

pub async fn doctor(site: Option<PathBuf>, json: bool) -> Result<u8> {
    let site = plateau_exam::load_site(site.as_deref())?;
    let examined = plateau_exam::doctor(&site).await;
    let unreachable = examined.iter().filter(|(_, report)| report.is_err()).count();
    if json {
        let reports: Vec<serde_json::Value> = examined
            .iter()
            .map(|(engine, report)| match report {
                Ok(report) => serde_json::to_value(report).unwrap_or_default(),
                Err(e) => serde_json::json!({ "engine": engine, "unreachable": e.to_string() }),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    for (engine, report) in examined.iter().filter(|_| !json) {
        let report = match report {
            Ok(report) => report,
            Err(e) => {
                println!("Engine {engine}: unreachable: {e}\n");
                continue;
            }
        };
        println!(
            "Engine {engine}: Docker {} (API {}), storage driver {}, cgroup {}",
            report.engine_version, report.api_version, report.storage_driver, report.cgroup_version
        );
        let mut table = crate::render::table(&["capability", "here", "seen", "what it means"]);
        for f in &report.findings {
            table.add_row([
                f.name.clone(),
                if f.available { "yes" } else { "no" }.to_string(),
                f.detail.clone(),
                f.consequence.clone(),
            ]);
        }
        println!("{table}\n");
    }
    Ok(if unreachable > 0 { status::INVALID } else { status::OK })
}

async fn list(site: Option<PathBuf>, json: bool) -> Result<u8> {
    let site = plateau_exam::load_site(site.as_deref())?;
    let overviews = plateau_exam::overview(&site).await;
    let unreachable = overviews.iter().filter(|o| o.unreachable.is_some()).count();
    if json {
        println!("{}", serde_json::to_string_pretty(&overviews)?);
    } else {
        let mut table = crate::render::table(&[
            "engine",
            "address",
            "state",
            "cpus",
            "memory",
            "images",
            "containers (running)",
            "labels",
        ]);
        for o in &overviews {
            let state = match (&o.unreachable, o.drain) {
                (Some(why), _) => format!("unreachable: {why}"),
                (None, true) => format!("draining (Docker {})", o.version),
                (None, false) => format!("ready (Docker {})", o.version),
            };
            table.add_row([
                o.id.clone(),
                o.address.clone(),
                state,
                o.cpus.to_string(),
                format!("{:.1} GiB", o.memory as f64 / (1u64 << 30) as f64),
                o.images.len().to_string(),
                format!("{} ({})", o.containers, o.running),
                o.labels.join(", "),
            ]);
        }
        println!("{table}");
        if unreachable > 0 {
            println!("{unreachable} engine(s) unreachable: candidates cannot be placed on them");
        }
    }
    Ok(if unreachable > 0 { status::INVALID } else { status::OK })
}

fn certs(dir: &std::path::Path, hosts: &[String]) -> Result<u8> {
    let made = plateau_exam::make_certs(dir, hosts)?;
    let said = |created: bool| if created { "made" } else { "kept" };
    println!("centre CA ({}): {}", said(made.ca_created), dir.join("ca.pem").display());
    println!("client certificate ({}): {}", said(made.client_created), made.client_dir.display());
    println!("server certificate (made): {}", made.server_dir.display());
    let remote = "/etc/docker/plateau";
    let host = &hosts[0];
    println!();
    println!("On {host}: copy {} to {remote}/ and start dockerd with", made.server_dir.display());
    println!("  {}", made.dockerd_flags(remote));
    println!("(keep ca-key.pem on this machine only: it signs every engine's and client's certificate)");
    println!();
    println!("Then name it in {}:", plateau_exam::SITE_FILE);
    for line in made.site_entry(host).lines() {
        println!("  {line}");
    }
    Ok(status::OK)
}
