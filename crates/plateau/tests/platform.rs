//! Candidate platforms on the real engine, through the `plateau` command:
//! up, status, access, real DHCP, isolation, reset, down, and a controller
//! killed in the middle of `up`.
//!
//! Needs a Docker engine; in CI (`CI=true`) a missing engine is a failure.

use std::io::Read;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

mod common;

use common::{Exam, address, eventually, plans, sh};

#[test]
fn three_candidates_up_isolated_with_their_own_dhcp_then_reset_and_down() {
    let Some(exam) = Exam::new("iso") else { return };
    let out = exam.up("3", "32000");
    assert_eq!(out.matches("4 created").count(), 3, "{out}");

    // status: 5 containers per candidate (4 nodes + the access relay), all running.
    let status = exam.status();
    assert_eq!(status.len(), 15);
    assert!(status.iter().all(|n| n["state"] == "running"), "{status:?}");

    // Re-running `up` converges: nothing created.
    let again = exam.up("3", "32000");
    assert_eq!(again.matches("4 kept").count(), 3, "{again}");

    // The candidate's way in: their published port reaches their workstation's sshd.
    let mut banner = [0u8; 7];
    let mut stream = TcpStream::connect_timeout(&"127.0.0.1:32001".parse().unwrap(), Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.read_exact(&mut banner).unwrap();
    assert_eq!(&banner, b"SSH-2.0");
    let sheet = std::fs::read_to_string(exam.state.path().join(&exam.session).join("access/c01.md")).unwrap();
    assert!(sheet.contains("ssh -p 32001 technicien@127.0.0.1"), "{sheet}");
    assert!(sheet.contains("sont enregistrées pour le jury"), "the sheet says sessions are recorded: {sheet}");

    // Real DHCP: each candidate configures their own Kea; their workstation
    // gets a lease from that server, inside their own pool.
    let plans = plans(&exam);
    // The session's name (the default seed) is on every sheet and the
    // scenario may be public: planning it again does not give c02's
    // password; c02's sheet has the one recorded.
    let preview = exam.ok(&["plan", "scenarios/tai-small.toml", "-n", "3", "--seed", &exam.session, "--json"]);
    let preview: serde_json::Value = serde_json::from_str(&preview).unwrap();
    let password = |plan: &serde_json::Value| plan["access"][0]["password"].as_str().unwrap().to_string();
    assert_ne!(password(&preview["candidates"][1]), password(&plans[1]), "a password drawn from the public seed");
    let sheet = std::fs::read_to_string(exam.state.path().join(&exam.session).join("access/c02.md")).unwrap();
    assert!(sheet.contains(&format!("`{}`", password(&plans[1]))), "{sheet}");
    for plan in &plans {
        let c = plan["candidate"]["id"].as_str().unwrap();
        let lan = plan["networks"].as_array().unwrap().iter().find(|n| n["id"] == "lan").unwrap();
        let (subnet, pool, router) =
            (lan["subnet"].as_str().unwrap(), &lan["dhcp_pool"], lan["gateway"].as_str().unwrap());
        let config = format!(
            r#"{{ "Dhcp4": {{ "interfaces-config": {{ "interfaces": ["eth0"], "dhcp-socket-type": "raw" }},
              "lease-database": {{ "type": "memfile", "persist": false }},
              "subnet4": [ {{ "id": 1, "subnet": "{subnet}", "pools": [ {{ "pool": "{} - {}" }} ],
                "option-data": [ {{ "name": "routers", "data": "{router}" }} ] }} ] }} }}"#,
            pool[0].as_str().unwrap(),
            pool[1].as_str().unwrap()
        );
        let out = sh(
            &exam.container(c, "dhcp"),
            &format!("echo '{config}' > /etc/kea/kea-dhcp4.conf && plateau-service restart kea-dhcp4"),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for plan in &plans {
        let c = plan["candidate"]["id"].as_str().unwrap();
        let lan = plan["networks"].as_array().unwrap().iter().find(|n| n["id"] == "lan").unwrap();
        let prefix = lan["subnet"].as_str().unwrap().rsplit_once('.').unwrap().0.to_string();
        let text = eventually(
            &exam.container(c, "ws"),
            "ip -4 -o addr show dev eth0 | awk '{print $4}' | grep .",
            60,
            "a DHCP lease",
        );
        let addr: std::net::Ipv4Addr = text.trim().split('/').next().unwrap().parse().unwrap();
        let host = addr.octets()[3];
        assert!(
            text.starts_with(&format!("{prefix}.")) && (100..=199).contains(&host),
            "{c}: {text} is not from its own pool"
        );
        // The lease is in this candidate's own server, and only there.
        eventually(
            &exam.container(c, "ws"),
            &format!("ping -c1 -W1 {}", lan["gateway"].as_str().unwrap()),
            20,
            "own router",
        );
    }

    // Isolation: from each workstation, no address of another candidate answers.
    let mut reachable = Vec::new();
    for a in &plans {
        for b in &plans {
            if a["candidate"]["id"] == b["candidate"]["id"] {
                continue;
            }
            let ws = exam.container(a["candidate"]["id"].as_str().unwrap(), "ws");
            let targets = [
                address(b, "router", "lan"),
                address(b, "dhcp", "lan"),
                address(b, "router", "wan"),
                address(b, "internet", "wan"),
            ];
            let script = targets
                .iter()
                .map(|t| format!("ping -c1 -W1 {t} >/dev/null || nc -z -w1 {t} 22"))
                .collect::<Vec<_>>()
                .join(" || ");
            if sh(&ws, &script).status.success() {
                reachable.push(format!("{} -> {}", a["candidate"]["id"], b["candidate"]["id"]));
            }
        }
    }
    assert_eq!(reachable, Vec::<String>::new(), "candidates reach each other");

    // Nor does the host: the engine's address on a candidate's bridges opens
    // no connection to the host's services (control: the same probe reaches
    // the candidate's own router).
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for plan in &plans {
        let c = plan["candidate"]["id"].as_str().unwrap();
        let ws = exam.container(c, "ws");
        let own_router = address(plan, "router", "lan");
        assert!(sh(&ws, &format!("nc -z -w2 {own_router} 22")).status.success(), "{c}: the probe itself fails");
        for network in ["lan", "access-link"] {
            let name = format!("plateau-{}-{c}-{network}", exam.session);
            let gateway = Command::new("docker")
                .args(["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", &name])
                .output()
                .unwrap();
            let gateway = String::from_utf8_lossy(&gateway.stdout).trim().to_string();
            assert!(!gateway.is_empty(), "{name} has no gateway");
            let out = sh(&ws, &format!("nc -z -w2 {gateway} {port}"));
            assert!(!out.status.success(), "{c} reaches the host at {gateway}:{port} over {network}");
        }
    }
    drop(listener);

    // Reset: one candidate gets a fresh platform; the others are untouched.
    let before = Command::new("docker")
        .args(["inspect", "-f", "{{.Id}}", &exam.container("c02", "ws")])
        .output()
        .unwrap()
        .stdout;
    let other = Command::new("docker")
        .args(["inspect", "-f", "{{.Id}}", &exam.container("c01", "ws")])
        .output()
        .unwrap()
        .stdout;
    let reset = exam.ok(&["reset", "--session", &exam.session, "--candidate", "c02"]);
    assert!(reset.contains("c02: fresh platform"), "{reset}");
    let after = Command::new("docker")
        .args(["inspect", "-f", "{{.Id}}", &exam.container("c02", "ws")])
        .output()
        .unwrap()
        .stdout;
    assert_ne!(before, after, "reset kept the old workstation");
    let other_after = Command::new("docker")
        .args(["inspect", "-f", "{{.Id}}", &exam.container("c01", "ws")])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(other, other_after, "reset touched another candidate");

    // Access can be cut and given back.
    exam.ok(&["access", "close", "--session", &exam.session, "--candidate", "c01"]);
    assert!(
        TcpStream::connect_timeout(&"127.0.0.1:32001".parse().unwrap(), Duration::from_secs(2)).is_err(),
        "closed access still answers"
    );
    exam.ok(&["access", "open", "--session", &exam.session, "--candidate", "c01"]);

    // Down removes every labelled object, and only those.
    let down = exam.ok(&["down", "--session", &exam.session]);
    assert!(down.contains("removed 15 container(s)"), "{down}");
    assert_eq!(exam.leftovers(), 0);
}

#[test]
fn a_controller_killed_during_up_converges_on_rerun() {
    let Some(exam) = Exam::new("kill") else { return };
    let mut child = exam
        .command(&["up", "scenarios/tai-small.toml", "--session", &exam.session, "-n", "2", "--port-base", "33000"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    exam.up("2", "33000");
    let status = exam.status();
    assert_eq!(status.len(), 10, "one container per node and candidate: {status:?}");
    assert!(status.iter().all(|n| n["state"] == "running"), "{status:?}");
    let mut names: Vec<&str> = status.iter().map(|n| n["container"].as_str().unwrap()).collect();
    names.dedup();
    assert_eq!(names.len(), 10, "duplicates");
    let networks = Command::new("docker")
        .args(["network", "ls", "-q", "--filter", &format!("label=org.plateau.session={}", exam.session)])
        .output()
        .unwrap();
    // Per candidate: lan, wan, access link; plus the session's access network.
    assert_eq!(String::from_utf8_lossy(&networks.stdout).lines().count(), 2 * 3 + 1);
    exam.ok(&["down", "--session", &exam.session]);
    assert_eq!(exam.leftovers(), 0);
}
