//! A second, real Docker engine behind mutual TLS, set up the way the README
//! tells a centre to: `plateau engines certs`, dockerd started with the flags
//! it prints, the entry it prints in the site file. `plateau engines list`
//! then reaches both engines; another centre's client is refused.
//!
//! The second dockerd runs in a network namespace of its own, reached over a
//! veth pair (link-local addresses), has no bridge and touches no firewall;
//! it holds no container and is stopped, its namespace and folders removed,
//! when the test ends, pass or fail.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn plateau(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plateau")).args(args).current_dir(dir).env("NO_COLOR", "1").output().unwrap()
}

/// The second engine's host: a network namespace joined to this host by a
/// veth pair. In its own namespace, because a dockerd without a bridge
/// deletes the `docker0` it finds, and this host's engine needs its own.
const HOST_SIDE: &str = "169.254.237.1";
const ENGINE_SIDE: &str = "169.254.237.2";

/// The namespace, and the dockerd of its own (own data, exec root,
/// containerd) in it; stopped and removed on drop, pass or fail.
struct SecondEngine {
    netns: String,
    dockerd: Option<Child>,
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        if let Some(dockerd) = &mut self.dockerd {
            // SIGTERM: dockerd stops its own containerd before it exits.
            let _ = Command::new("kill").arg(dockerd.id().to_string()).status();
            let _ = dockerd.wait();
        }
        // Deleting the namespace deletes the veth pair with it.
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_remote_engine_set_up_from_engines_certs_is_listed_and_a_stranger_is_refused() {
    if !plateau_tests::engine_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let made = plateau(dir.path(), &["engines", "certs", "--host", ENGINE_SIDE]);
    let said = String::from_utf8_lossy(&made.stdout).to_string();
    assert!(made.status.success(), "{said}{}", String::from_utf8_lossy(&made.stderr));

    let docker0 = || Command::new("ip").args(["link", "show", "docker0"]).output().unwrap().status.success();
    let had_docker0 = docker0();
    let pid = std::process::id();
    let mut engine = SecondEngine { netns: format!("plateau-e2e-{pid}"), dockerd: None };
    let (host_veth, engine_veth) = (format!("pe2e{pid}h"), format!("pe2e{pid}n"));
    ip(&["netns", "add", &engine.netns]);
    ip(&["link", "add", &host_veth, "type", "veth", "peer", "name", &engine_veth, "netns", &engine.netns]);
    ip(&["addr", "add", &format!("{HOST_SIDE}/30"), "dev", &host_veth]);
    ip(&["link", "set", &host_veth, "up"]);
    for args in [
        vec!["addr", "add", &format!("{ENGINE_SIDE}/30"), "dev", &engine_veth],
        vec!["link", "set", &engine_veth, "up"],
        vec!["link", "set", "lo", "up"],
    ] {
        ip(&[&["-n", &engine.netns][..], &args[..]].concat());
    }

    // dockerd with the flags `engines certs` printed, the server folder copied.
    let flags = said.lines().find(|l| l.trim_start().starts_with("--tlsverify")).expect(&said).trim().to_string();
    let flags = flags.replace("/etc/docker/plateau", &dir.path().join("certs").join(ENGINE_SIDE).display().to_string());
    let root = dir.path().join("engine");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("daemon.json"), "{}").unwrap(); // not this host's /etc/docker/daemon.json
    let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
    // nsenter, not `ip netns exec`: that one mounts a /sys of its own,
    // without the cgroups dockerd needs.
    let mut dockerd = Command::new("nsenter");
    dockerd
        .args([&format!("--net=/var/run/netns/{}", engine.netns), "dockerd"])
        .args(["--config-file", &root.join("daemon.json").display().to_string()])
        .args(["--data-root", &root.join("data").display().to_string()])
        .args(["--exec-root", &root.join("exec").display().to_string()])
        .args(["--pidfile", &root.join("dockerd.pid").display().to_string()])
        .args(["--bridge=none", "--iptables=false", "--ip6tables=false", "--storage-driver", "vfs"])
        .args(["-H", &format!("unix://{}", root.join("docker.sock").display())])
        .args(flags.split_whitespace())
        .stdout(Stdio::null())
        .stderr(log);
    engine.dockerd = Some(dockerd.spawn().expect("dockerd is installed beside the engine"));

    let entry: String =
        said.lines().skip_while(|l| !l.contains("[[engines]]")).map(|l| l.trim().to_string() + "\n").collect();
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
    assert_eq!(remote["id"], "169-254-237-2", "{site}");
    assert_eq!(remote["unreachable"], Value::Null, "{listed:#}\n{log}");
    assert_eq!(remote["address"], format!("tcp://{ENGINE_SIDE}:2376 (TLS)"));
    assert!(remote["version"].as_str().is_some_and(|v| !v.is_empty()), "{listed:#}");
    assert_eq!((remote["containers"].as_u64(), remote["images"].as_array().map(Vec::len)), (Some(0), Some(0)));
    assert_eq!(listed[0]["unreachable"], Value::Null, "{listed:#}");

    // Another centre's client certificate, even beside this centre's CA, is
    // refused by the engine: only the centre's own client drives it.
    let stranger = tempfile::tempdir().unwrap();
    assert!(plateau(stranger.path(), &["engines", "certs", "--host", ENGINE_SIDE]).status.success());
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
    // The second engine left this host's engine its default bridge.
    drop(engine);
    assert_eq!(docker0(), had_docker0, "this host's docker0 was removed by the second engine");
}
