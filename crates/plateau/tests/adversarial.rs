//! Candidates who are root, tried as a hostile, inventive or clumsy one
//! would, on one platform of the small scenario (three candidates, two
//! more checks: the workstation's SSH service and the DHCP service). Each
//! case's verdict is decided from what its criterion names, not from what
//! the check happens to run. Most are read on the grade of record (the
//! state at the deadline, re-created from its snapshots); a few on a live
//! grade, where a trainer would see them.
//!
//! | case | who | what the candidate does | verdict |
//! |---|---|---|---|
//! | T1 | c01 | a `curl` in /usr/local/bin that prints the expected page | ws-internet fail |
//! | T2 | c01 | an `ip` in /usr/sbin (before /usr/bin) that prints another address; the DHCP client's script calls it, so no lease is ever set | ws-address fail: the role's `ip` answers (no address by DHCP at the deadline, none given after it); named on the grid |
//! | T3 | c01 | shell functions `curl` and `ip` at the top of root's .bashrc and .profile | ws-internet fail |
//! | T4 | c02 | /usr/bin/curl replaced by a program that always fails | ws-internet pass (the LAN reaches the internet) |
//! | T5 | c02 | a root job left running that blocks SSH 20 s later, after the deadline | router-ssh-blocked fail, also after `exam restore` |
//! | T6 | c01 | /etc/ld.so.preload with a library that makes `curl` print the page | ws-internet fail |
//! | T7 | c03 | sshd stopped (still enabled), a pid file pointing at pid 1 written by hand | svc-sshd fail, live and of record (stopped at the deadline) |
//! | T8 | c02 | a root `authorized_keys` planted on the router | on the grid, no verdict changes |
//! | W1 | c01 | SSH dropped on the router's LAN side only | router-ssh-blocked fail |
//! | W2 | c01 | the printer reserved by client-id instead of MAC | dhcp-reservation fail |
//! | W3 | c01 | the DNS option set to the gateway's address | dhcp-scope fail |
//! | A1 | c02 | Kea with global reservations and global options | dhcp-scope, dhcp-reservation pass |
//! | A2 | c03 | SSH refused and NAT done with `iptables` (REJECT, MASQUERADE) | router-ssh-blocked, ws-internet pass |
//! | A3 | c03 | Kea started by hand, outside the service manager | svc-kea, dhcp-scope pass |
//! | A4 | c03 | rules typed live, never written to a file | kept at the deadline: pass |
//! | C1 | c03 | documentation deleted under /usr/share (clumsy) | nothing on the grid |
//! | D1 | c03 | at the deadline: the lease dropped, dhclient killed, the same address and route typed by hand | ws-address fail (by DHCP asked), ws-internet pass |
//! | D2 | c01 | at the deadline: a daemon no service defines runs (`nc -l`) on the router | named on the grid, not started again |
//! | D3 | c01 | the DHCP server's node stopped before the deadline (its init killed) | named on the grid; graded as it boots (dhcp-scope still fails on W3) |
//! | T9 | c03 | a web server of its own on the workstation serving the expected page, the site's name pinned to it in /etc/hosts | ws-internet fail (live: another server answered) |
//!
//! Besides: every node has its own SSH host key; the state directory is
//! the operator's only; no candidate password shows in the report; the
//! grid's audit head verifies.
//!
//! Needs a Docker engine and gcc; in CI (`CI=true`) a missing engine is a failure.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Exam, Snapshots, address, eventually, plans, sh, statuses};
use serde_json::{Value, json};

/// The two checks added to the small scenario for these cases.
const MORE_CHECKS: &str = r#"
[[checks]]
id = "svc-sshd"
title = "Le service SSH du poste fonctionne"
criteria = ["CP7.1"]
points = 1
kind = "service_running"
node = "ws"
service = "sshd"

[[checks]]
id = "svc-kea"
title = "Le service DHCP fonctionne"
criteria = ["CP7.2"]
points = 1
kind = "service_running"
node = "dhcp"
service = "kea-dhcp4"
"#;

/// A library that, preloaded, makes every `curl` print the expected page.
const FAKE_CURL: &str = r#"
#include <stdio.h>
#include <string.h>
#include <unistd.h>
__attribute__((constructor)) static void fake(int argc, char **argv) {
    if (argc > 0 && strstr(argv[0], "curl")) { fputs("<h1>Plateau</h1>\n200", stdout); fflush(stdout); _exit(0); }
}
"#;

fn root_sh(container: &str, script: &str) {
    let out = sh(container, script);
    assert!(out.status.success(), "{container}: {script}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Write a file into a node as root.
fn put(container: &str, path: &str, content: &str) {
    let mut child = Command::new("docker")
        .args(["exec", "-i", container, "sh", "-c", &format!("cat > {path}")])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(content.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "writing {path} in {container}");
}

fn output(container: &str, script: &str) -> String {
    String::from_utf8_lossy(&sh(container, script).stdout).into_owned()
}

fn read(container: &str, path: &str) -> String {
    output(container, &format!("cat {path}"))
}

/// `host` of a /24 written `a.b.c.0/24`.
fn host(subnet: &str, n: u64) -> String {
    let (net, _) = subnet.split_once('/').unwrap();
    format!("{}.{n}", net.rsplit_once('.').unwrap().0)
}

/// The interface of a node that holds `ip`.
fn interface(container: &str, ip: &str) -> String {
    let out = output(container, "/usr/bin/ip -o -4 addr show");
    out.lines().find(|l| l.contains(&format!(" {ip}/"))).unwrap().split_whitespace().nth(1).unwrap().to_string()
}

fn status<'a>(grade: &'a Value, check: &str) -> &'a str {
    let found = grade["checks"].as_array().unwrap().iter().find(|c| c["id"] == check);
    found.unwrap_or_else(|| panic!("no check {check}"))["status"].as_str().unwrap()
}

fn expect(grade: &Value, case: &str, verdicts: &[(&str, &str)]) {
    for (check, verdict) in verdicts {
        let got = status(grade, check);
        let evidence = grade["checks"].as_array().unwrap().iter().find(|c| c["id"] == *check).unwrap();
        assert_eq!(got, *verdict, "{case}: {} {check}: {evidence:#}", grade["id"]);
    }
}

fn integrity_paths(grade: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for node in grade["integrity"].as_array().unwrap() {
        for c in node["changes"].as_array().unwrap() {
            out.push((
                format!("{}:{}", node["node"].as_str().unwrap(), c["path"].as_str().unwrap()),
                c["seen"].as_str().unwrap().to_string(),
                c["put_back"].as_bool().unwrap(),
            ));
        }
    }
    out
}

#[test]
fn root_candidates_cannot_forge_or_bend_a_verdict() {
    let Some(exam) = Exam::new("adversary") else { return };
    let _snapshots = Snapshots(exam.session.clone());
    let scenario = exam.scenario("scenarios/tai-small.toml", |text| {
        text.replacen("total_points = 20", "total_points = 22", 1) + MORE_CHECKS
    });
    exam.ok(&["up", &scenario, "--session", &exam.session, "-n", "3", "--port-base", "34100"]);
    let plans = plans(&exam);
    let c = |id: &str, node: &str| exam.container(id, node);

    // Every node its own host key: two nodes of one candidate, one node of two.
    let key = |id: &str, node: &str| read(&c(id, node), "/etc/ssh/ssh_host_ed25519_key.pub");
    let (ws1, dhcp1, ws2) = (key("c01", "ws"), key("c01", "dhcp"), key("c02", "ws"));
    assert!(ws1.starts_with("ssh-ed25519 ") && ws1 != dhcp1 && ws1 != ws2, "{ws1} / {dhcp1} / {ws2}");

    // The operator's state is theirs only.
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let state_dir = exam.state.path();
    for entry in std::fs::read_dir(state_dir).unwrap().flatten() {
        if entry.file_name().to_string_lossy().ends_with(".db") {
            assert_eq!(mode(&entry.path()), 0o600, "{}", entry.path().display());
        }
    }
    let sheet = walkdir(state_dir).into_iter().find(|p| p.ends_with("access/c01.md")).expect("c01's access sheet");
    assert_eq!(mode(&sheet), 0o600, "{}", sheet.display());
    assert_eq!(mode(sheet.parent().unwrap()), 0o700);

    exam.ok(&["solve", "--session", &exam.session, "--candidate", "c02"]);
    exam.ok(&["solve", "--session", &exam.session, "--candidate", "c03"]);
    exam.ok(&["exam", "start", "--session", &exam.session, "--duration", "1h"]);

    // c01: nothing done; programs faked to pass.
    let ws = c("c01", "ws");
    let fake_page = "#!/bin/sh\nprintf '<h1>Plateau</h1>\\n200'\n";
    put(&ws, "/usr/local/bin/curl", fake_page); // T1
    let lan = &plans[0]["networks"].as_array().unwrap().iter().find(|n| n["id"] == "lan").unwrap().clone();
    let (subnet, gateway) = (lan["subnet"].as_str().unwrap(), lan["gateway"].as_str().unwrap());
    let fake_ip = format!("#!/bin/sh\necho '{}'\necho 'default via {gateway} dev eth0'\n", host(subnet, 50));
    // (The image's /usr/sbin/ip is a link to /bin/ip: a program of its own stands in.)
    root_sh(&ws, "rm -f /usr/sbin/ip");
    put(&ws, "/usr/sbin/ip", &fake_ip); // T2
    root_sh(&ws, "chmod +x /usr/local/bin/curl /usr/sbin/ip");
    let functions = format!(
        "curl() {{ printf '<h1>Plateau</h1>\\n200'; }}\nip() {{ echo '{} '; echo 'default via {gateway}'; }}\n",
        host(subnet, 50)
    );
    put(&ws, "/tmp/functions", &functions);
    root_sh(
        &ws,
        "cat /tmp/functions /root/.bashrc > /tmp/b && mv /tmp/b /root/.bashrc && cat /tmp/functions >> /root/.profile",
    ); // T3
    let lib = exam.state.path().join("fake-curl.so");
    let src = exam.state.path().join("fake-curl.c");
    std::fs::write(&src, FAKE_CURL).unwrap();
    let cc = Command::new("gcc").args(["-shared", "-fPIC", "-o"]).arg(&lib).arg(&src).status();
    assert!(cc.is_ok_and(|s| s.success()), "gcc builds the preload library");
    let copied = Command::new("docker").arg("cp").arg(&lib).arg(format!("{ws}:/usr/lib/libfake-curl.so")).status();
    assert!(copied.unwrap().success());
    root_sh(&ws, "echo /usr/lib/libfake-curl.so > /etc/ld.so.preload"); // T6
    assert!(output(&ws, "/usr/bin/curl -s http://nowhere.invalid/").contains("Plateau"), "the preload works");
    let router = c("c01", "router");
    let router_lan = interface(&router, &address(&plans[0], "router", "lan"));
    root_sh(
        &router,
        &format!(
            "nft add table inet lanonly && nft add chain inet lanonly input '{{ type filter hook input priority 0; }}' \
             && nft add rule inet lanonly input iifname {router_lan} tcp dport 22 drop"
        ),
    ); // W1
    let printer_mac = plans[0]["variables"]["printer_mac"].as_str().unwrap();
    let printer = host(subnet, plans[0]["variables"]["printer_host"].as_str().unwrap().parse().unwrap());
    let pool = lan["dhcp_pool"].as_array().unwrap();
    let kea = json!({ "Dhcp4": {
        "interfaces-config": { "interfaces": ["*"], "dhcp-socket-type": "raw" },
        "lease-database": { "type": "memfile", "persist": true, "name": "/var/lib/kea/kea-leases4.csv" },
        "subnet4": [{
            "id": 1,
            "subnet": subnet,
            "pools": [{ "pool": format!("{} - {}", pool[0].as_str().unwrap(), pool[1].as_str().unwrap()) }],
            "option-data": [
                { "name": "routers", "data": gateway },
                { "name": "domain-name-servers", "data": gateway }, // W3
            ],
            "reservations": [{ "client-id": format!("01:{printer_mac}"), "ip-address": printer }], // W2
        }],
    }});
    let dhcp = c("c01", "dhcp");
    put(&dhcp, "/etc/kea/kea-dhcp4.conf", &kea.to_string());
    root_sh(&dhcp, "/usr/local/sbin/plateau-service restart kea-dhcp4");

    // c02: solved, then bent.
    let ws = c("c02", "ws");
    put(&ws, "/usr/bin/curl", "#!/bin/sh\nexit 7\n"); // T4
    let dhcp = c("c02", "dhcp");
    let mut kea: Value = serde_json::from_str(&read(&dhcp, "/etc/kea/kea-dhcp4.conf")).unwrap();
    let subnet4 = kea["Dhcp4"]["subnet4"][0].as_object_mut().unwrap();
    let (reservations, options) = (subnet4.remove("reservations").unwrap(), subnet4.remove("option-data").unwrap());
    let global = kea["Dhcp4"].as_object_mut().unwrap();
    global.insert("reservations".into(), reservations);
    global.insert("option-data".into(), options);
    global.insert("reservations-global".into(), json!(true));
    global.insert("reservations-in-subnet".into(), json!(false));
    put(&dhcp, "/etc/kea/kea-dhcp4.conf", &kea.to_string()); // A1
    root_sh(&dhcp, "/usr/local/sbin/plateau-service restart kea-dhcp4");
    let router = c("c02", "router");
    root_sh(&router, "nft delete table inet exam");
    root_sh(
        &router,
        "mkdir -p /root/.ssh && echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBackdoorBackdoorBackdoorBackdoorBackdoor0 x' >> /root/.ssh/authorized_keys",
    ); // T8

    // c03: solved, with other tools.
    let router = c("c03", "router");
    let (router_wan, lan3) = (
        interface(&router, &address(&plans[2], "router", "wan")),
        plans[2]["networks"].as_array().unwrap().iter().find(|n| n["id"] == "lan").unwrap()["subnet"].clone(),
    );
    let lan3 = lan3.as_str().unwrap();
    root_sh(
        &router,
        &format!(
            "nft delete table inet exam && nft delete table ip nat \
             && iptables -A INPUT -i {router_wan} -p tcp --dport 22 -j REJECT --reject-with tcp-reset \
             && iptables -t nat -A POSTROUTING -s {lan3} ! -d {lan3} -j MASQUERADE"
        ),
    ); // A2, A4 (typed live, never saved)
    let dhcp = c("c03", "dhcp");
    root_sh(&dhcp, "/usr/local/sbin/plateau-service stop kea-dhcp4");
    Command::new("docker")
        .args(["exec", "-d", &dhcp, "/usr/sbin/kea-dhcp4", "-c", "/etc/kea/kea-dhcp4.conf"])
        .status()
        .unwrap(); // A3
    root_sh(&c("c03", "ws"), "rm -rf /usr/share/doc/*"); // C1
    let forged = "/usr/local/sbin/plateau-service stop sshd; mkdir -p /run/plateau; echo 1 > /run/plateau/sshd.pid";
    root_sh(&c("c03", "ws"), forged); // T7
    eventually(&dhcp, "pgrep -x kea-dhcp4", 20, "c03's kea started by hand");
    // D1: the workstation's lease given up for the same address typed by hand.
    let ws3 = c("c03", "ws");
    let lease = eventually(
        &ws3,
        "/usr/bin/ip -o -4 addr show scope global dynamic | awk '{print $4; exit}' | grep .",
        60,
        "c03's lease",
    );
    let lease = lease.trim().to_string();
    let dev = interface(&ws3, lease.split('/').next().unwrap());
    let gateway3 =
        plans[2]["networks"].as_array().unwrap().iter().find(|n| n["id"] == "lan").unwrap()["gateway"].clone();
    root_sh(
        &ws3,
        &format!(
            "pkill dhclient; /usr/bin/ip -4 addr flush dev {dev} && /usr/bin/ip addr add {lease} dev {dev} \
             && /usr/bin/ip route add default via {}",
            gateway3.as_str().unwrap()
        ),
    );
    // T9: a web server of the candidate's on the workstation (a service of
    // its own) serving the expected page, the site's name pinned to it.
    root_sh(
        &ws3,
        "mkdir -p /srv/fake && echo '<h1>Plateau</h1>' > /srv/fake/index.html \
         && echo '/usr/bin/python3 -m http.server 80 --bind 127.0.0.1 --directory /srv/fake' > /etc/plateau/services/fakeweb \
         && /usr/local/sbin/plateau-service start fakeweb && echo '127.0.0.1 www.exemple.test' >> /etc/hosts",
    );
    eventually(&ws3, "/usr/bin/curl -sf http://www.exemple.test/ | grep Plateau", 20, "c03's own web server");
    // D2: a daemon of the candidate's that no service defines.
    Command::new("docker").args(["exec", "-d", &c("c01", "router"), "nc", "-lk", "9999"]).status().unwrap();

    // Live, as a trainer watching sees it.
    let live: Value = serde_json::from_str(&exam.ok(&["grade", "--session", &exam.session, "--json"])).unwrap();
    let live = |id: &str| live.as_array().unwrap().iter().find(|g| g["id"] == id).unwrap().clone();
    // T1-T3, T6: the programs the grader runs on ws were changed: no pass.
    expect(&live("c01"), "T1-T3, T6 (live)", &[("ws-address", "error"), ("ws-internet", "error")]);
    expect(
        &live("c03"),
        "A2, A3, T7, T9 (live)",
        &[("svc-kea", "pass"), ("router-ssh-blocked", "pass"), ("ws-internet", "fail"), ("svc-sshd", "fail")],
    );
    let internet = live("c03")["checks"].as_array().unwrap().iter().find(|c| c["id"] == "ws-internet").unwrap().clone();
    assert!(internet.to_string().contains("another server"), "T9: {internet:#}");
    // T9 undone: the real site answers through c03's NAT.
    root_sh(
        &ws3,
        "/usr/local/sbin/plateau-service stop fakeweb && rm /etc/plateau/services/fakeweb \
         && grep -v www.exemple.test /etc/hosts > /tmp/hosts && cat /tmp/hosts > /etc/hosts",
    );

    // T5: a job that would block SSH after the deadline.
    let late = "sleep 20; nft add table inet late; nft add chain inet late input '{ type filter hook input priority 0; }'; \
                nft add rule inet late input tcp dport 22 drop";
    let router = c("c02", "router");
    Command::new("docker").args(["exec", "-d", &router, "sh", "-c", late]).status().unwrap();
    eventually(&router, "pgrep -f 'sleep 20'", 10, "c02's late job runs");
    let job_started = Instant::now();
    let job_at = std::time::SystemTime::now();

    // D3: c01's DHCP server's node stops (its init killed) before the deadline.
    let _ = sh(&c("c01", "dhcp"), "pkill -9 -f 'sleep infinity'");
    let stopped = || {
        let out = Command::new("docker").args(["inspect", "-f", "{{.State.Running}}", &c("c01", "dhcp")]).output();
        String::from_utf8_lossy(&out.unwrap().stdout).trim() == "false"
    };
    let since = Instant::now();
    while !stopped() {
        assert!(since.elapsed() < Duration::from_secs(20), "c01's dhcp node did not stop");
        std::thread::sleep(Duration::from_millis(200));
    }

    exam.ok(&["exam", "freeze", "--session", &exam.session]);
    // The cut came before the job's time (else its change was made in time).
    let log = exam.ok(&["audit", "show", "--session", &exam.session]);
    let cut = log.lines().find(|l| l.contains(" exam.cut ")).expect("a cut");
    let cut_at = humantime::parse_rfc3339(cut.split_whitespace().nth(1).unwrap()).unwrap();
    assert!(cut_at < job_at + Duration::from_secs(20), "the cut came after the job's change: {cut}");
    let record = |id: &str| exam.signed(id);

    let c01 = record("c01");
    assert_eq!(c01["basis"]["kind"], "record");
    expect(
        &c01,
        "T1, T3, T6, W1-W3",
        &[
            ("ws-internet", "fail"),
            ("router-ssh-blocked", "fail"),
            ("dhcp-reservation", "fail"),
            ("dhcp-scope", "fail"),
        ],
    );
    // T2: c01's DHCP server leases (with the wrong DNS), but the stand-in
    // `ip` is what the workstation's DHCP client calls to set its lease:
    // at the deadline it had no address by DHCP, as the role's own `ip`
    // shows, not the stand-in, and the re-created node does not lease after it.
    expect(&c01, "T2", &[("ws-address", "fail")]);
    let shown = c01["checks"].as_array().unwrap().iter().find(|c| c["id"] == "ws-address").unwrap();
    let shown = shown["evidence"]["actions"][0]["output"].as_str().unwrap();
    assert!(!shown.contains(&host(subnet, 50)), "the stand-in `ip` answered: {shown}");
    let found = integrity_paths(&c01);
    for (path, put_back) in [
        ("ws:/usr/local/bin/curl", true),
        ("ws:/usr/sbin/ip", true),
        ("ws:/etc/ld.so.preload", true),
        ("ws:/usr/lib/libfake-curl.so", false),
        ("ws:/root/.bashrc", false),
        ("ws:/root/.profile", false),
    ] {
        assert!(
            found.iter().any(|(p, seen, b)| p == path && seen == "at the deadline" && *b == put_back),
            "{path} (put back: {put_back}) on c01's grid: {found:?}"
        );
    }

    let c02 = record("c02");
    expect(
        &c02,
        "T4, T5, A1",
        &[
            ("ws-internet", "pass"),
            ("router-ssh-blocked", "fail"),
            ("dhcp-scope", "pass"),
            ("dhcp-reservation", "pass"),
            ("ws-address", "pass"),
        ],
    );
    let found = integrity_paths(&c02);
    assert!(found.iter().any(|(p, _, b)| p == "ws:/usr/bin/curl" && *b), "T4 on the grid: {found:?}");
    assert!(found.iter().any(|(p, _, _)| p == "router:/root/.ssh/authorized_keys"), "T8 on the grid: {found:?}");

    let c03 = record("c03");
    // The platform as it stood at the deadline: sshd stopped (enabled or
    // not), the address set by hand, Kea running though started by hand.
    let expected: Vec<(String, String)> = statuses(&c03)
        .into_iter()
        .map(|(id, _)| {
            let verdict = if id == "svc-sshd" || id == "ws-address" { "fail" } else { "pass" };
            (id, verdict.to_string())
        })
        .collect();
    assert_eq!(statuses(&c03), expected, "A2-A4, C1, T7, D1: {c03:#}");
    let shown = c03["checks"].as_array().unwrap().iter().find(|c| c["id"] == "ws-address").unwrap();
    assert!(
        shown.to_string().contains(lease.split('/').next().unwrap()),
        "D1: the address typed by hand is graded: {shown}"
    );
    assert_eq!(c03["integrity"], json!([]), "C1 is not listed");
    let not_kept = c01["basis"]["not_kept"].to_string();
    assert!(
        not_kept.contains("router: a program ran at the deadline that no service defines") && not_kept.contains("nc"),
        "D2: {not_kept}"
    );
    assert!(not_kept.contains("dhcp: not running at the deadline"), "D3: {not_kept}");
    assert!(not_kept.contains("ws: the DHCP client of") && not_kept.contains("held no lease"), "T2: {not_kept}");

    // T5, after the job's time: the record stands, and a platform
    // re-created from the snapshots grades the same.
    std::thread::sleep(Duration::from_secs(25).saturating_sub(job_started.elapsed()));
    exam.ok(&["exam", "restore", "--session", &exam.session, "--candidate", "c02"]);
    let again = exam.regrade("c02", "recours");
    assert_eq!(statuses(&again), statuses(&c02));
    assert_eq!(record("c02")["regrades"][0]["reason"], "recours");

    // No password in what the jury reads; the grid's head verifies.
    let out = exam.state.path().join("report-all");
    let out = out.display().to_string();
    exam.ok(&["report", "--session", &exam.session, "--out", &out]);
    let report = std::fs::read_to_string(format!("{out}/report.json")).unwrap();
    let grid = std::fs::read_to_string(format!("{out}/grille-c01.html")).unwrap();
    for plan in &plans {
        let password = plan["access"][0]["password"].as_str().unwrap();
        assert!(!report.contains(password) && !grid.contains(password), "a password shows in the report");
    }
    assert!(grid.contains("Intégrité") && grid.contains("/etc/ld.so.preload"));
    assert!(grid.contains("Non conservé à l'échéance") && grid.contains("dhcp: not running at the deadline"), "D3");
    let head: Value = serde_json::from_str(&report).unwrap();
    let head = head["audit_head"].as_str().unwrap();
    let verified = exam.ok(&["audit", "verify", "--session", &exam.session, "--head", head]);
    assert!(verified.contains("chain intact") && verified.contains("the grid's head is entry"), "{verified}");
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}
