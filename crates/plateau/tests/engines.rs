//! A second, real Docker engine behind mutual TLS, set up the way the README
//! tells a centre to: `plateau engines certs`, dockerd started with the flags
//! it prints, the entry it prints in the site file. `plateau engines list`
//! then reaches both engines; another centre's client is refused.
//!
//! The second dockerd listens on loopback only, has no bridge and touches no
//! firewall; it holds no container and is stopped (its folders removed) when
//! the test ends, pass or fail.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn plateau(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plateau")).args(args).current_dir(dir).env("NO_COLOR", "1").output().unwrap()
}

/// A dockerd of its own (own data, exec root, containerd), stopped on drop.
struct SecondEngine(Child);

impl Drop for SecondEngine {
    fn drop(&mut self) {
        // SIGTERM: dockerd stops its own containerd before it exits.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_remote_engine_set_up_from_engines_certs_is_listed_and_a_stranger_is_refused() {
    if !plateau_tests::engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let made = plateau(dir.path(), &["engines", "certs", "--host", "127.0.0.1"]);
    let said = String::from_utf8_lossy(&made.stdout).to_string();
    assert!(made.status.success(), "{said}{}", String::from_utf8_lossy(&made.stderr));

    // dockerd with the flags `engines certs` printed, on a free port.
    let port = free_port();
    let flags = said.lines().find(|l| l.trim_start().starts_with("--tlsverify")).expect(&said).trim().to_string();
    let flags = flags.replace("/etc/docker/plateau", &dir.path().join("certs/127.0.0.1").display().to_string());
    let flags = flags.replace("tcp://0.0.0.0:2376", &format!("tcp://127.0.0.1:{port}"));
    let root = dir.path().join("engine");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("daemon.json"), "{}").unwrap(); // not this host's /etc/docker/daemon.json
    let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
    let mut dockerd = Command::new("dockerd");
    dockerd
        .args(["--config-file", &root.join("daemon.json").display().to_string()])
        .args(["--data-root", &root.join("data").display().to_string()])
        .args(["--exec-root", &root.join("exec").display().to_string()])
        .args(["--pidfile", &root.join("dockerd.pid").display().to_string()])
        .args(["--bridge=none", "--iptables=false", "--ip6tables=false", "--storage-driver", "vfs"])
        .args(["-H", &format!("unix://{}", root.join("docker.sock").display())])
        .args(flags.split_whitespace())
        .stdout(Stdio::null())
        .stderr(log);
    let _engine = SecondEngine(dockerd.spawn().expect("dockerd is installed beside the engine"));

    let entry: String = said
        .lines()
        .skip_while(|l| !l.contains("[[engines]]"))
        .map(|l| l.trim().replace(":2376", &format!(":{port}")) + "\n")
        .collect();
    let site = format!("[[engines]]\nid = \"here\"\nurl = \"unix:///var/run/docker.sock\"\n\n{entry}");
    std::fs::write(dir.path().join("plateau.toml"), &site).unwrap();

    // The engine takes a few seconds to start: listed until both are ready.
    let started = Instant::now();
    let listed = loop {
        let out = plateau(dir.path(), &["engines", "list", "--json"]);
        let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
        if out.status.success() || started.elapsed() > Duration::from_secs(120) {
            break listed;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let log = std::fs::read_to_string(root.join("dockerd.log")).unwrap_or_default();
    let remote = &listed[1];
    assert_eq!(remote["id"], "127-0-0-1", "{site}");
    assert_eq!(remote["unreachable"], Value::Null, "{listed:#}\n{log}");
    assert_eq!(remote["address"], format!("tcp://127.0.0.1:{port} (TLS)"));
    assert!(remote["version"].as_str().is_some_and(|v| !v.is_empty()), "{listed:#}");
    assert_eq!((remote["containers"].as_u64(), remote["images"].as_array().map(Vec::len)), (Some(0), Some(0)));
    assert_eq!(listed[0]["unreachable"], Value::Null, "{listed:#}");

    // Another centre's client certificate, even beside this centre's CA, is
    // refused by the engine: only the centre's own client drives it.
    let stranger = tempfile::tempdir().unwrap();
    assert!(plateau(stranger.path(), &["engines", "certs", "--host", "127.0.0.1"]).status.success());
    let mixed = dir.path().join("mixed");
    std::fs::create_dir(&mixed).unwrap();
    std::fs::copy(dir.path().join("certs/client/ca.pem"), mixed.join("ca.pem")).unwrap();
    for file in ["cert.pem", "key.pem"] {
        std::fs::copy(stranger.path().join("certs/client").join(file), mixed.join(file)).unwrap();
    }
    std::fs::write(dir.path().join("stranger.toml"), entry.replace("certs/client", "mixed")).unwrap();
    let out = plateau(dir.path(), &["engines", "list", "--site", "stranger.toml"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(table.contains("1 engine(s) unreachable"), "{table}");
    // ... while the engine itself is still up for the centre's own client.
    let again = plateau(dir.path(), &["engines", "list"]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stdout));
}
