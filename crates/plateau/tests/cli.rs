//! The `plateau` command as a user runs it: output and exit codes.

use std::process::{Command, Output};

/// The workspace root: commands run from there, as a user in a checkout would.
fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn plateau(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plateau")).args(args).current_dir(root()).env("NO_COLOR", "1").output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn validate_exits_0_when_valid_1_when_not_2_on_usage_errors() {
    let ok = plateau(&["validate", "scenarios/tai-small.toml"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).starts_with("ok: scenarios/tai-small.toml"));

    let bad = plateau(&["validate", "scenarios/tai-small.toml", "tests/scenarios/invalid/unknown-keys.toml"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = stderr(&bad);
    assert!(err.contains("tests/scenarios/invalid/unknown-keys.toml:6:1"), "{err}");
    assert!(err.contains("did you mean `language`?"), "{err}");

    assert_eq!(plateau(&["validate"]).status.code(), Some(2));
    let missing = plateau(&["validate", "no/such.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read scenario no/such.toml"));
}

#[test]
fn validate_json_gives_line_and_column() {
    let out = plateau(&["validate", "--json", "tests/scenarios/invalid/unknown-keys.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let first = &json[0]["diagnostics"][0];
    assert_eq!(first["code"], "unknown-key");
    assert_eq!(first["line"], 6);
    assert_eq!(first["column"], 1);
    assert_eq!(first["hint"], "did you mean `language`?");
}

#[test]
fn plan_prints_each_candidate_and_is_deterministic() {
    let a = plateau(&["plan", "scenarios/tai-small.toml", "--candidates", "3", "--seed", "7"]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    let text = stdout(&a);
    for id in ["c01", "c02", "c03"] {
        assert!(text.contains(&format!("## {id}")), "{text}");
    }
    let b = plateau(&["plan", "scenarios/tai-small.toml", "--candidates", "3", "--seed", "7"]);
    assert_eq!(stdout(&b), text);

    let json = plateau(&["plan", "scenarios/tai-small.toml", "-n", "2", "--seed", "7", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v["candidates"].as_array().unwrap().len(), 2);
    assert_eq!(v["candidates"][0]["nodes"][0]["id"], "router");
}

#[test]
fn plan_needs_candidates_or_a_roster() {
    let out = plateau(&["plan", "scenarios/tai-small.toml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn schema_is_json_schema_with_every_check_kind() {
    let out = plateau(&["schema"]);
    let schema: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let kinds: Vec<&str> = schema["$defs"]["Check"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["properties"]["kind"]["const"].as_str().unwrap())
        .collect();
    for kind in ["dhcp_offer", "ad_user", "smb_access", "wifi_ap", "vpn_tunnel", "backup_restore", "command"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
}

#[test]
fn frameworks_lists_the_three_titles() {
    let out = plateau(&["frameworks"]);
    let text = stdout(&out);
    assert!(text.contains("tai-2023") && text.contains("tai-2018") && text.contains("catic"), "{text}");
    let one = stdout(&plateau(&["frameworks", "tai-2023"]));
    assert!(one.contains("CP8.4   Le réseau sans fil est configuré et sécurisé."), "{one}");
}

#[test]
fn the_documented_report_schema_is_the_one_reports_follow() {
    let out = plateau(&["report", "--schema"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let documented = std::fs::read_to_string(root().join("docs/report.schema.json")).unwrap();
    assert_eq!(
        stdout(&out),
        documented,
        "docs/report.schema.json is stale: run `plateau report --schema > docs/report.schema.json` and bump REPORT_VERSION if the change is incompatible"
    );
}

#[test]
fn grading_an_unknown_session_names_it_and_says_what_to_run() {
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_plateau"))
        .args(["grade", "--session", "nope"])
        .env("PLATEAU_STATE", state.path().join("state.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no session `nope`"), "{}", stderr(&out));
    let report = Command::new(env!("CARGO_BIN_EXE_plateau"))
        .args(["report", "--session", "nope"])
        .env("PLATEAU_STATE", state.path().join("state.db"))
        .output()
        .unwrap();
    assert!(stderr(&report).contains("no session `nope`"), "{}", stderr(&report));
}

/// The coverage tables in docs/ are generated: each must be what
/// `plateau scenario coverage` prints for its scenario today.
#[test]
fn coverage_tables_in_docs_match_the_scenarios() {
    let mut seen = 0;
    for entry in std::fs::read_dir(root().join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let relative = format!("scenarios/{stem}.toml");
        let out = plateau(&["scenario", "coverage", &relative]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let doc = root().join(format!("docs/scenarios/{stem}.coverage.md"));
        let written = std::fs::read_to_string(&doc).unwrap_or_default();
        assert!(
            written == stdout(&out),
            "{} is out of date: run `plateau scenario coverage {relative} -o docs/scenarios/{stem}.coverage.md`",
            doc.display()
        );
        seen += 1;
    }
    assert!(seen >= 5, "expected the shipped scenarios, found {seen}");
}

#[test]
fn the_full_tai_scenario_checks_every_task_a_platform_can_show() {
    let out = plateau(&["scenario", "coverage", "scenarios/tai-2023-full.toml"]);
    let table = stdout(&out);
    let row = |id: &str| {
        table.lines().find(|l| l.starts_with(&format!("| {id} |"))).unwrap_or_else(|| panic!("no row {id}")).to_string()
    };
    // The tasks the issue names: workstation on the LAN and its shares, backups that
    // restore, DHCP, firewall, VPN, Wi-Fi, domain join, accounts, share rights.
    for id in [
        "CP4.4", "CP4.5", "CP6.3", "CP6.4", "CP6.5", "CP7.2", "CP7.4", "CP8.2", "CP8.3", "CP8.4", "CP9.1", "CP9.2",
        "CP9.3",
    ] {
        assert!(!row(id).contains("| jury"), "{}", row(id));
    }
    // The service desk's work is read in its tool: requests and the asset register.
    for (id, check) in [("CP1.3", "ticket-new-user"), ("CP1.7", "asset-ws"), ("CP2.5", "compte-rendu")] {
        assert!(row(id).contains(check), "{}", row(id));
    }
    // What no check proves stays with the jury, who is told what material to judge it on;
    // the faults are judged there.
    assert!(row("CP1.4").contains("| jury, on: les réponses à l'utilisateur dans les tickets"), "{}", row("CP1.4"));
    assert!(table.contains("| jury's own observation |"), "{table}");
    assert!(row("CP3.3").contains("judged on every fault of the jury phase"), "{}", row("CP3.3"));
    assert!(table.contains("| `trust-broken` |"), "{table}");
}

#[test]
fn the_console_needs_an_account_first_and_accounts_take_their_password_from_standard_input() {
    use std::io::Write;
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("state.db");
    let run = |args: &[&str], input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_plateau"))
            .args(args)
            .env("PLATEAU_STATE", &db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let refused = run(&["serve", "--listen", "127.0.0.1:0"], "");
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("plateau accounts add"), "{}", stderr(&refused));
    let short = run(&["accounts", "add", "admin", "--role", "operator"], "court\n");
    assert!(stderr(&short).contains("at least 10 characters"), "{}", stderr(&short));
    let jury = run(&["accounts", "add", "m.martin", "--role", "jury"], "un-mot-de-passe-long\n");
    assert!(stderr(&jury).contains("--session"), "a jury names its session: {}", stderr(&jury));
    let ok = run(&["accounts", "add", "admin", "--role", "operator"], "un-mot-de-passe-long\n");
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let list = run(&["accounts", "list"], "");
    assert!(stdout(&list).contains("admin") && stdout(&list).contains("operator"), "{}", stdout(&list));
}

#[tokio::test]
async fn the_console_serves_https_with_the_centres_certificate() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // A server's certificate, not an authority's (rustls refuses a CA as a server).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let db = dir.path().join("state.db");
    let plateau = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_plateau"));
        cmd.args(args).env("PLATEAU_STATE", &db);
        cmd
    };
    let mut add = plateau(&["accounts", "add", "admin", "--role", "operator"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(b"un-mot-de-passe-long").unwrap();
    assert!(add.wait().unwrap().success());

    // A key that is not one: the file is named.
    let wrong = plateau(&["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains("cert.pem: not a PEM private key"), "{}", stderr(&wrong));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    struct Serving(std::process::Child);
    impl Drop for Serving {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _serving = Serving(
        plateau(&["serve", "--listen", &listen, "--tls-cert"])
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let root = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let client = plateau_grade::tls::http_client()
        .add_root_certificate(root)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("https://localhost:{port}");
    let mut page = Err(String::new());
    for _ in 0..100 {
        page = client.get(format!("{url}/connexion")).send().await.map_err(|e| format!("{e:?}"));
        if page.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let page = page.expect("the console answers over HTTPS");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Mot de passe"));
    let signed = client
        .post(format!("{url}/connexion"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=admin&password=un-mot-de-passe-long")
        .send()
        .await
        .unwrap();
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "the cookie never travels in clear: {cookie}");
    let plain =
        plateau_grade::tls::http_client().build().unwrap().get(format!("http://{listen}/connexion")).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success(), "no plain HTTP on the TLS port");
}

#[test]
fn plan_prints_each_candidates_brief_and_roles_prints_the_reference() {
    let out = plateau(&["plan", "scenarios/tai-small.toml", "-n", "2", "--seed", "s", "--brief"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("### Brief of c01") && text.contains("### Brief of c02"), "{text}");
    assert!(text.contains("bloquez l'accès SSH depuis internet"), "the brief itself: {text}");
    let roles = plateau(&["roles", "workstation"]);
    assert!(
        stdout(&roles).contains("## `workstation`") && stdout(&roles).contains("`smbclient`"),
        "{}",
        stdout(&roles)
    );
    let unknown = plateau(&["roles", "mainframe"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("unknown role `mainframe`"), "{}", stderr(&unknown));
}
