//! The service desk's tool on a real platform: Request Tracker seeded for
//! the candidate (their account, the queues, a user's request waiting), and
//! the `ticket` and `asset` checks read through its API as the grader's own
//! account.
//!
//! | case | what is done | verdict |
//! |---|---|---|
//! | H1 | root on the helpdesk node writes the ticket resolved, taken and qualified straight into the database | ticket fail: no technician set the status in the tool, no action documented |
//! | H2 | the candidate works the request through the tool's API from the workstation (`curl`, not the web forms): takes and qualifies it, comments, answers, resolves | ticket pass |
//! | H3 | root on the helpdesk node writes the workstation into the asset register's table | asset fail: the asset's history shows no technician made it |
//! | H4 | the candidate records the workstation through the API: its name, its MAC (another notation than the platform's), user, location, a serial number, assigned | asset pass |
//! | H5 | the jury injects a fault that comes as a user's call | a ticket from that user is in the tool, its number in the fault's record |
//! | H6 | that ticket: left new; written resolved by root in the database; then the service repaired and the ticket resolved with a comment through the tool | the fault's ticket not handled, not handled, then handled (fault repaired) — in the grade and on the grid |
//!
//! The grader's password never shows in the report. Needs a Docker engine;
//! in CI (`CI=true`) a missing engine is a failure.

mod common;

use common::{Exam, eventually, plans, sh};
use serde_json::Value;

const SCENARIO: &str = r#"
[scenario]
id = "helpdesk-seat"
title = "Centre de services : une demande à traiter"
version = "1.0.0"
framework = "tai-2023"
blocks = ["CCP1"]
language = "fr"
total_points = 4

[[phases]]
id = "interventions"
kind = "jury"
duration = "30min"

[variables]
lan = { subnet_in = "10.71.0.0/16", prefix = 24 }
password = { password = 12 }
admin_password = { password = 14 }
ws_mac = { mac_prefix = "02:c4:07" }

[[networks]]
id = "lan"
subnet = "{{lan}}"

[[nodes]]
id = "helpdesk"
role = "helpdesk"
interfaces = [{ network = "lan", host = 20 }]
grader = { via = "exec" }
[nodes.env]
PLATEAU_ADMIN_PASSWORD = "{{admin_password}}"
PLATEAU_HELPDESK_TECHNICIANS = "technicien:{{password}}"
PLATEAU_HELPDESK_QUEUES = "Support,Achats"
PLATEAU_HELPDESK_TICKETS = """
Support | m.dupont@agence.lan | Je ne peux plus me connecter | Bonjour, mon mot de passe est refusé depuis ce matin.
"""

[[nodes]]
id = "ws"
role = "workstation"
hostname = "pc-accueil"
interfaces = [{ network = "lan", host = 30, mac = "{{ws_mac}}" }]
grader = { via = "exec" }

[candidate]
access = [{ node = "ws", via = "ssh", user = "technicien", password = "{{password}}" }]

[[checks]]
id = "ticket-account"
title = "La demande est prise en compte, qualifiée, documentée et résolue dans l'outil"
criteria = ["CP1.1", "CP1.2", "CP1.3", "CP1.5"]
points = 2
kind = "ticket"
node = "helpdesk"
subject = "plus me connecter"
requestor = "m.dupont@agence.lan"
queue = "Support"
owned = true
min_priority = 50
actions = 2
timeout = "10s"

[[checks]]
id = "asset-ws"
title = "Le poste de l'accueil est inscrit au parc avec son adresse MAC, son utilisateur et son emplacement"
criteria = ["CP1.6", "CP1.7"]
points = 1
kind = "asset"
node = "helpdesk"
name = "pc-accueil"
catalog = "Parc informatique"
status = "in-use"
fields = { "Adresse MAC" = "{{ws_mac}}", "Utilisateur" = "m.dupont", "Emplacement" = "Accueil" }
filled = ["Numéro de série"]
timeout = "10s"

[[checks]]
id = "ws-remote"
title = "Le poste accepte les connexions à distance"
criteria = ["CP3.4"]
points = 1
kind = "service_running"
node = "ws"
service = "sshd"
timeout = "10s"

[[faults]]
id = "ws-remote-down"
title = "Prise en main à distance impossible"
inject = [{ node = "ws", run = "plateau-service stop sshd" }]
revert = [{ node = "ws", run = "plateau-service start sshd" }]
breaks = ["ws-remote"]
request = { node = "helpdesk", queue = "Support", from = "accueil@agence.lan", subject = "Prise en main impossible", text = "Bonjour, le technicien n'arrive plus à prendre la main sur mon poste. Pouvez-vous voir ?" }
"#;

fn grade(exam: &Exam) -> Value {
    let out = exam.ok(&["grade", "--session", &exam.session, "--json"]);
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

/// The ticket check's result, and its assertions as `what: seen` lines.
fn ticket(grade: &Value) -> (String, String) {
    result(grade, "ticket-account")
}

/// A check's result, and its assertions as `what: seen` lines.
fn result(grade: &Value, id: &str) -> (String, String) {
    let check = grade["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap();
    let seen: Vec<String> = check["evidence"]["assertions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| format!("{}: {}", a["what"].as_str().unwrap(), a["actual"].as_str().unwrap()))
        .collect();
    let error = check["evidence"]["error"].as_str().map(|e| format!("\nerror: {e}")).unwrap_or_default();
    (check["status"].as_str().unwrap().to_string(), seen.join("\n") + &error)
}

/// Root on the helpdesk node writes `sql` straight into the tool's database.
fn behind_the_tools_back(helpdesk: &str, sql: &str) {
    let db = "dbi:SQLite:dbname=/var/lib/dbconfig-common/sqlite3/request-tracker5/rtdb";
    let forged = std::process::Command::new("docker")
        .args(["exec", "-e", &format!("SQL={sql}"), helpdesk, "perl", "-MDBI", "-e"])
        .arg(format!("DBI->connect('{db}')->do($ENV{{SQL}}) or die"))
        .output()
        .unwrap();
    assert!(forged.status.success(), "{}", String::from_utf8_lossy(&forged.stderr));
}

#[test]
fn a_request_counts_only_when_worked_in_the_tool() {
    let Some(exam) = Exam::new("helpdesk") else { return };
    let scenario = exam.state.path().join("helpdesk-seat.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let scenario = scenario.display().to_string();
    exam.ok(&["up", &scenario, "--session", &exam.session, "-n", "1", "--port-base", "34400"]);
    let plan = &plans(&exam)[0];
    let password = plan["access"][0]["password"].as_str().unwrap().to_string();
    let helpdesk = exam.container("c01", "helpdesk");
    let ws = exam.container("c01", "ws");
    let api = format!("http://{}/REST/2.0", common::address(plan, "helpdesk", "lan"));

    // The request is waiting, from its user, for the candidate's account.
    let as_technician = format!("curl -sSf -u 'technicien:{password}'");
    let listed = eventually(
        &ws,
        &format!(
            "{as_technician} -G {api}/tickets --data-urlencode \"query=Subject LIKE 'connecter'\" | grep -o 'ticket/[0-9]*\"'"
        ),
        90,
        "the opening request in the tool",
    );
    let id: String = listed.lines().next().unwrap().chars().filter(char::is_ascii_digit).collect();
    let (status, seen) = ticket(&grade(&exam));
    assert_eq!(status, "fail", "{seen}");
    assert!(seen.contains("status: new") && seen.contains("actions documented: none"), "{seen}");

    // H1: root on the node writes it all into the database.
    let sql = "UPDATE Tickets SET Status = 'resolved', Priority = 50, \
               Owner = (SELECT id FROM Users WHERE Name = 'technicien') WHERE Subject LIKE '%connecter%'";
    behind_the_tools_back(&helpdesk, sql);
    let (status, seen) = ticket(&grade(&exam));
    assert_eq!(status, "fail", "{seen}");
    assert!(seen.contains("taken by: technicien") && seen.contains("priority: 50"), "the database says so: {seen}");
    assert!(seen.contains("no technician set it in the tool") && seen.contains("actions documented: none"), "{seen}");

    // H2: the request worked through the tool, from the workstation, by the candidate's account.
    let json = "-H 'Content-Type: application/json'";
    let text = "-H 'Content-Type: text/plain; charset=UTF-8'";
    let steps = [
        format!("{as_technician} -X PUT {json} -d '{{\"Status\":\"open\"}}' {api}/ticket/{id}"),
        format!(
            "{as_technician} {text} --data-binary 'Compte désactivé lors d un départ : réactivé.' {api}/ticket/{id}/comment"
        ),
        format!(
            "{as_technician} {text} --data-binary 'Bonjour, votre compte est rétabli.' {api}/ticket/{id}/correspond"
        ),
        format!("{as_technician} -X PUT {json} -d '{{\"Status\":\"resolved\"}}' {api}/ticket/{id}"),
    ];
    for step in &steps {
        let out = sh(&ws, step);
        assert!(out.status.success(), "{step}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let graded = grade(&exam);
    let (status, seen) = ticket(&graded);
    assert_eq!(status, "pass", "{seen}");
    assert!(seen.contains("status: resolved (set by technicien at "), "{seen}");
    assert!(seen.contains("comment by technicien") && seen.contains("reply by technicien"), "{seen}");

    // H3: root writes the workstation into the asset register's table.
    let (status, seen) = result(&graded, "asset-ws");
    assert_eq!(status, "fail", "{seen}");
    let sql = "INSERT INTO Assets (Name, Catalog, Status, Creator, Created, LastUpdatedBy, LastUpdated) \
               SELECT 'PC-ACCUEIL', id, 'in-use', 1, datetime('now'), 1, datetime('now') FROM Catalogs \
               WHERE Name = 'Parc informatique'";
    behind_the_tools_back(&helpdesk, sql);
    let (status, seen) = result(&grade(&exam), "asset-ws");
    assert_eq!(status, "fail", "{seen}");
    assert!(seen.contains("recorded through the tool: its history does not show it"), "{seen}");

    // H4: the candidate records it through the tool, its MAC read on the
    // workstation and written the Windows way.
    let mac = String::from_utf8_lossy(&sh(&ws, "cat /sys/class/net/eth0/address").stdout)
        .trim()
        .to_uppercase()
        .replace(':', "-");
    let record = format!(
        r#"{{"Name":"PC-ACCUEIL","Catalog":"Parc informatique","CustomFields":{{"Adresse MAC":"{mac}","Utilisateur":"m.dupont","Emplacement":"Accueil","Numéro de série":"SN-0042"}}}}"#
    );
    let step = format!("{as_technician} {json} -d '{record}' {api}/asset | grep -o '\"id\":\"[0-9]*' | tr -dc 0-9");
    let out = sh(&ws, &step);
    assert!(out.status.success(), "{step}: {}", String::from_utf8_lossy(&out.stderr));
    let asset = String::from_utf8_lossy(&out.stdout).to_string();
    let step = format!("{as_technician} -X PUT {json} -d '{{\"Status\":\"in-use\"}}' {api}/asset/{asset}");
    let out = sh(&ws, &step);
    assert!(out.status.success(), "{step}: {}", String::from_utf8_lossy(&out.stderr));
    let graded = grade(&exam);
    let (status, seen) = result(&graded, "asset-ws");
    assert_eq!(status, "pass", "{seen}");
    assert!(
        seen.contains("recorded through the tool: by technicien at ") && seen.contains(&format!("Adresse MAC: {mac}")),
        "{seen}"
    );

    // H5: the jury's intervention arrives as the user's call, a ticket in the tool.
    let injected = exam.ok(&["fault", "inject", "ws-remote-down", "--session", &exam.session, "--candidate", "c01"]);
    let number: String =
        injected.split("ticket #").nth(1).unwrap_or_default().chars().take_while(char::is_ascii_digit).collect();
    assert!(!number.is_empty(), "no ticket named: {injected}");
    let listed = exam.ok(&["fault", "list", "--session", &exam.session]);
    assert!(
        listed.contains("ws-remote-down present since") && listed.contains(&format!("ticket #{number}")),
        "{listed}"
    );
    let opened = sh(&ws, &format!("{as_technician} {api}/ticket/{number}"));
    let opened: Value = serde_json::from_slice(&opened.stdout).unwrap();
    assert_eq!(opened["Subject"], "Prise en main impossible", "{opened}");
    assert_eq!(opened["Requestor"][0]["id"], "accueil@agence.lan", "{opened}");

    // H6: the intervention's ticket is graded with the fault: not handled
    // while new, nor once root writes it resolved in the database; handled
    // when the candidate repairs and resolves it through the tool.
    let intervention = |graded: &Value| {
        let fault = graded["faults"].as_array().unwrap().iter().find(|f| f["id"] == "ws-remote-down").unwrap();
        let seen: Vec<String> = fault["ticket"]["evidence"]["assertions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| format!("{}: {}", a["what"].as_str().unwrap(), a["actual"].as_str().unwrap()))
            .collect();
        (fault["repaired"].clone(), fault["ticket"]["status"].as_str().unwrap_or("none").to_string(), seen.join("\n"))
    };
    let (repaired, status, seen) = intervention(&grade(&exam));
    assert_eq!((repaired, status.as_str()), (Value::Bool(false), "fail"), "{seen}");
    assert!(seen.contains(&format!("#{number} « Prise en main impossible » (new)")), "{seen}");
    behind_the_tools_back(&helpdesk, &format!("UPDATE Tickets SET Status = 'resolved' WHERE id = {number}"));
    let (_, status, seen) = intervention(&grade(&exam));
    assert_eq!(status, "fail", "{seen}");
    assert!(seen.contains("no technician set it in the tool"), "{seen}");
    let out = sh(&ws, "plateau-service start sshd");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for step in [
        format!("{as_technician} -X PUT {json} -d '{{\"Status\":\"open\"}}' {api}/ticket/{number}"),
        format!(
            "{as_technician} {text} --data-binary 'sshd arrêté : redémarré, accès rétabli.' {api}/ticket/{number}/comment"
        ),
        format!("{as_technician} -X PUT {json} -d '{{\"Status\":\"resolved\"}}' {api}/ticket/{number}"),
    ] {
        let out = sh(&ws, &step);
        assert!(out.status.success(), "{step}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let (repaired, status, seen) = intervention(&grade(&exam));
    assert_eq!((repaired, status.as_str()), (Value::Bool(true), "pass"), "{seen}");
    assert!(
        seen.contains("status: resolved (set by technicien at ") && seen.contains("comment by technicien"),
        "{seen}"
    );
    let report = exam.state.path().join("report-intervention");
    exam.ok(&["report", "--session", &exam.session, "--out", &report.display().to_string()]);
    let html = std::fs::read_to_string(report.join("grille-c01.html")).unwrap();
    assert!(html.contains("<th>Ticket</th>") && html.contains("traité dans l'outil"), "{html}");
    exam.ok(&["fault", "revert", "ws-remote-down", "--session", &exam.session, "--candidate", "c01"]);

    // The grader reads the tool with its own account; its password stays on the node.
    let secret =
        String::from_utf8_lossy(&sh(&helpdesk, "cat /var/lib/plateau/helpdesk/grader").stdout).trim().to_string();
    assert!(secret.len() >= 16, "the grader's password: {secret:?}");
    assert!(!graded.to_string().contains(&secret), "the grader's password is in the report");

    exam.ok(&["down", "--session", &exam.session]);
    assert_eq!(exam.leftovers(), 0, "containers or networks left");
}
