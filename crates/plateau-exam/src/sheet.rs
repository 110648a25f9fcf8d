//! The candidate's access sheet (fiche d'accès): login, time, brief. Markdown
//! and printable HTML, in the scenario's language (French by default).

use std::path::Path;

use plateau_scenario::Scenario;
use plateau_scenario::model::PhaseKind;
use plateau_state::{CandidateRecord, GatewayAddress, private};

use crate::Error;

/// The fixed texts of a sheet, per language.
struct Texts {
    title: &'static str,
    session: &'static str,
    candidate: &'static str,
    connection: &'static str,
    command: &'static str,
    login: &'static str,
    password: &'static str,
    duration: &'static str,
    keep: &'static str,
    recorded: &'static str,
    brief: &'static str,
    console: &'static str,
    ssh: &'static str,
    other_nodes: &'static str,
    machines: &'static str,
}

const FR: Texts = Texts {
    title: "Fiche d'accès",
    session: "Session",
    candidate: "Candidat",
    connection: "Connexion à votre poste de travail",
    command: "Commande",
    login: "Identifiant",
    password: "Mot de passe",
    duration: "Durée de la phase de préparation",
    keep: "Ces informations sont personnelles : ne les communiquez à personne.",
    recorded: "Les sessions ouvertes depuis votre page de la console (terminal, bureau) ou par la passerelle SSH de \
               Plateau sont enregistrées pour le jury : ce qui s'affiche et les commandes saisies.",
    brief: "Cahier des charges",
    console: "Console (terminal et bureau dans le navigateur)",
    ssh: "SSH",
    other_nodes: "autres machines",
    machines: "Votre compte sur les machines (sudo, verrouillage d'écran)",
};

const EN: Texts = Texts {
    title: "Access sheet",
    session: "Session",
    candidate: "Candidate",
    connection: "Connecting to your workstation",
    command: "Command",
    login: "Login",
    password: "Password",
    duration: "Preparatory phase",
    keep: "This information is personal: do not share it.",
    recorded: "Sessions opened from your console page (terminal, desktop) or through Plateau's SSH gateway are \
               recorded for the jury: what shows and the commands entered.",
    brief: "Brief",
    console: "Console (terminal and desktop in the browser)",
    ssh: "SSH",
    other_nodes: "other machines",
    machines: "Your account on the machines (sudo, screen lock)",
};

fn texts(language: &str) -> &'static Texts {
    if language.starts_with("en") { &EN } else { &FR }
}

/// The sheet as Markdown. `gateway`: the seat gateway's addresses and the
/// candidate's console password, when they come in that way.
pub fn markdown(
    scenario: &Scenario,
    session: &str,
    host: &str,
    gateway: Option<(&GatewayAddress, String)>,
    record: &CandidateRecord,
) -> String {
    let file = scenario.file();
    let t = texts(&file.scenario.language);
    let plan = &record.plan;
    let mut md = format!("# {} — {}\n\n", t.title, file.scenario.title);
    md += &format!(
        "**{}** : {} ({})  \n**{}** : {}\n\n",
        t.candidate, plan.candidate.name, plan.candidate.id, t.session, session
    );
    match (plan.access.first(), gateway) {
        (Some(access), Some((gateway, password))) => {
            let id = &plan.candidate.id;
            md += &format!("## {}\n\n| | |\n| --- | --- |\n", t.connection);
            if let Some(url) = &gateway.console {
                md += &format!("| {} | <{url}> |\n", t.console);
            }
            if let Some(ssh) = &gateway.ssh {
                let (ssh_host, port) = ssh.rsplit_once(':').unwrap_or((ssh.as_str(), "22"));
                md += &format!("| {} | `ssh -p {port} {id}@{ssh_host}` |\n", t.ssh);
                for other in plan.access.iter().skip(1) {
                    md += &format!(
                        "| {} : {} | `ssh -p {port} {id}+{}@{ssh_host}` |\n",
                        t.ssh, t.other_nodes, other.node
                    );
                }
            }
            md += &format!("| {} | `{id}` |\n| {} | `{password}` |\n\n", t.login, t.password);
            md += &format!("{} : `{}` / `{}`\n\n", t.machines, access.user, access.password);
        }
        (Some(access), None) => {
            md += &format!("## {}\n\n", t.connection);
            md += &format!(
                "| | |\n| --- | --- |\n| {} | `ssh -p {} {}@{}` |\n",
                t.command, record.ssh_port, access.user, host
            );
            md += &format!("| {} | `{}` |\n| {} | `{}` |\n\n", t.login, access.user, t.password, access.password);
        }
        (None, _) => {}
    }
    if let Some(phase) = file.phases.iter().find(|p| p.kind == PhaseKind::Preparatory) {
        md += &format!("**{}** : {}\n\n", t.duration, phase.duration);
    }
    md += &format!("> {}\n\n{}\n\n", t.keep, t.recorded);
    if let Some(brief) = &plan.brief {
        md += &format!("---\n\n<!-- {} -->\n\n{}\n", t.brief, brief.trim());
    }
    md
}

/// The sheet as a printable HTML page.
pub fn html(markdown: &str, title: &str) -> String {
    let mut body = String::new();
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES);
    pulldown_cmark::html::push_html(&mut body, parser);
    format!(
        "<!doctype html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>\n\
         body {{ font-family: sans-serif; max-width: 48em; margin: 2em auto; line-height: 1.4; }}\n\
         table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #888; padding: .3em .6em; }}\n\
         code {{ font-size: 1.1em; }} @media print {{ hr {{ page-break-after: always; border: 0; }} }}\n\
         </style></head><body>\n{body}</body></html>\n"
    )
}

/// Write `<dir>/access/<candidate>.md` and `.html`.
pub fn write(
    dir: &Path,
    scenario: &Scenario,
    session: &str,
    host: &str,
    gateway: Option<(&GatewayAddress, String)>,
    record: &CandidateRecord,
) -> Result<(), Error> {
    // One sheet per candidate, each holding only their own password: the
    // operator's eyes only until handed out.
    let base = dir.join("access").join(&record.id);
    let md = markdown(scenario, session, host, gateway, record);
    let (md_path, html_path) = (base.with_extension("md"), base.with_extension("html"));
    private::write(&md_path, md.as_bytes()).map_err(Error::io(&md_path))?;
    let title = format!("{} — {}", texts(&scenario.file().scenario.language).title, record.plan.candidate.name);
    private::write(&html_path, html(&md, &title).as_bytes()).map_err(Error::io(&html_path))?;
    Ok(())
}
