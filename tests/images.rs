//! Role images against the real engine: build them all (a second build does
//! nothing), then start each on a private network and prove its service works.
//!
//! Needs a Docker engine and debootstrap. In CI (`CI=true`) a missing engine
//! is a failure; elsewhere the tests say why they did not run.

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use plateau_images::{Builder, Catalog};
use plateau_tests::root;

/// Every object these tests create carries this label, and is removed on drop.
const LABEL: &str = "org.plateau.test";

fn engine_available() -> bool {
    let up = Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success());
    if !up && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but no Docker engine answers `docker info`: the image tests must run in CI");
    }
    if !up {
        eprintln!("skipped: no Docker engine (set CI=true to make this a failure)");
    }
    up
}

/// Build every image once per test run; returns the build's outcomes summary.
fn images_built() -> &'static (usize, usize) {
    static BUILT: OnceLock<(usize, usize)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let builder = Builder::connect(Catalog::load(&root().join("images")).unwrap()).await.unwrap();
            let first = builder.build(&[], &mut |_| {}).await.unwrap_or_else(|e| panic!("{e}"));
            let second = builder.build(&[], &mut |_| {}).await.unwrap();
            (first.len(), second.iter().filter(|o| o.rebuilt).count())
        })
    })
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().expect("docker runs")
}

fn ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A private network with containers on it, all removed when dropped. Tests run
/// in parallel: each lab needs a subnet of its own.
struct Lab {
    name: String,
    containers: Vec<String>,
}

impl Lab {
    /// A lab on the real engine with every image built; `None` (test skipped,
    /// outside CI only) when there is no engine.
    fn start(test: &str, subnet: &str) -> Option<Lab> {
        if !engine_available() {
            return None;
        }
        images_built();
        Some(Lab::new(test, subnet))
    }

    fn new(test: &str, subnet: &str) -> Lab {
        let name = format!("plateau-test-{}-{test}", std::process::id());
        ok(&["network", "create", "--label", LABEL, "--subnet", subnet, &name]);
        Lab { name, containers: Vec::new() }
    }

    /// Start `image` as `host` (also its DNS name on the lab network).
    fn run(&mut self, host: &str, image: &str, extra: &[&str]) -> String {
        let container = format!("{}-{host}", self.name);
        let mut args = vec!["run", "-d", "--init", "--name", &container, "--hostname", host, "--label", LABEL];
        args.extend(["--network", &self.name, "--network-alias", host]);
        args.extend(extra);
        args.push(image);
        ok(&args);
        self.containers.push(container.clone());
        container
    }

    fn exec(&self, container: &str, script: &str) -> std::process::Output {
        docker(&["exec", container, "sh", "-c", script])
    }

    /// Retry `script` until it succeeds; fail the test with its last output
    /// when `seconds` pass first.
    fn eventually(&self, container: &str, script: &str, seconds: u64, what: &str) {
        let start = Instant::now();
        loop {
            let out = self.exec(container, script);
            if out.status.success() {
                return;
            }
            if start.elapsed() > Duration::from_secs(seconds) {
                let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                panic!("{what}: not within {seconds} s: {text}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c]);
        }
        let _ = docker(&["network", "rm", &self.name]);
    }
}

#[test]
fn every_image_builds_and_a_second_build_rebuilds_nothing() {
    if !engine_available() {
        return;
    }
    let (count, rebuilt) = *images_built();
    assert_eq!(count, Catalog::load(&root().join("images")).unwrap().images.len());
    assert_eq!(rebuilt, 0, "an unchanged image was rebuilt");
}

#[test]
fn internet_stand_in_resolves_and_serves_http() {
    let Some(mut lab) = Lab::start("internet", "198.51.100.0/24") else { return };
    lab.run("internet", "plateau/internet", &["--ip", "198.51.100.10"]);
    let probe = lab.run("probe", "plateau/probe", &[]);
    lab.eventually(&probe, "dig +short @198.51.100.10 www.exemple.test | grep -x 203.0.113.10", 20, "DNS");
    lab.eventually(&probe, "curl -fsS http://internet/ | grep Plateau", 20, "HTTP");
}

#[test]
fn kea_hands_out_a_lease_to_a_workstation() {
    let Some(mut lab) = Lab::start("dhcp", "192.0.2.0/24") else { return };
    let caps = ["--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW"];
    let dhcp = lab.run("dhcp", "plateau/dhcp", &[&caps[..], &["--ip", "192.0.2.2"]].concat());
    // What a candidate writes: a scope on the LAN, with the router option.
    let config = r#"{ "Dhcp4": { "interfaces-config": { "interfaces": ["eth0"], "dhcp-socket-type": "raw" },
      "lease-database": { "type": "memfile", "persist": false },
      "subnet4": [ { "id": 1, "subnet": "192.0.2.0/24", "pools": [ { "pool": "192.0.2.200 - 192.0.2.220" } ],
        "option-data": [ { "name": "routers", "data": "192.0.2.254" } ] } ] } }"#;
    let out =
        lab.exec(&dhcp, &format!("echo '{config}' > /etc/kea/kea-dhcp4.conf && plateau-service restart kea-dhcp4"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ws = lab.run("ws", "plateau/workstation", &caps);
    lab.eventually(&ws, "dhclient -v -1 -sf /bin/true eth0 2>&1 | grep -E 'DHCPACK of 192\\.0\\.2\\.2(0[0-9]|1[0-9]|20) from 192\\.0\\.2\\.2'", 30, "no lease from Kea");
}

#[test]
fn printer_accepts_an_ipp_job_and_keeps_it() {
    let Some(mut lab) = Lab::start("printer", "198.18.1.0/24") else { return };
    // ippeveprinter accepts a Host: header that is an address, `localhost` or its
    // mDNS name, not a bare DNS alias: clients print to its address.
    let printer = lab.run("printer", "plateau/printer", &["--ip", "198.18.1.30"]);
    let probe = lab.run("probe", "plateau/probe", &[]);
    let uri = "ipp://198.18.1.30:631/ipp/print";
    lab.eventually(&probe, &format!("ipptool -t {uri} get-printer-attributes.test"), 20, "printer attributes");
    lab.eventually(
        &probe,
        &format!("echo 'Page de test Plateau' > /tmp/page.txt && ipptool -t -f /tmp/page.txt {uri} print-job.test"),
        20,
        "print job",
    );
    lab.eventually(&printer, "grep -rq 'Page de test Plateau' /var/spool/plateau-printer", 10, "job kept in the spool");
}

#[test]
fn domain_controller_answers_kerberos_and_smb_quickly() {
    let Some(mut lab) = Lab::start("dc", "198.18.0.0/24") else { return };
    let started = Instant::now();
    let dc = lab.run("dc", "plateau/dc", &[]);
    lab.eventually(
        &dc,
        "echo Plateau-Admin1 | kinit administrator@AGENCE.LAN >/dev/null && klist | grep -q krbtgt/AGENCE.LAN",
        60,
        "kinit",
    );
    eprintln!("dc: docker run to a working kinit in {:.1} s", started.elapsed().as_secs_f64());
    let probe = lab.run("probe", "plateau/probe", &[]);
    lab.eventually(
        &probe,
        "smbclient -L //dc -U 'AGENCE\\administrator%Plateau-Admin1' | grep -q sysvol",
        30,
        "SMB with domain credentials",
    );
}
