//! Role images against the real engine: build them all (a second build does
//! nothing), then start each on a private network and prove its service works.
//!
//! Needs a Docker engine and debootstrap. In CI (`CI=true`) a missing engine
//! is a failure; elsewhere the tests say why they did not run.

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use plateau_images::{Builder, Catalog};
use plateau_tests::{engine_available, root};

/// Every object these tests create carries this label, and is removed on drop.
const LABEL: &str = "org.plateau.test";

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
    /// Extra networks (beyond `name`), removed on drop.
    networks: Vec<String>,
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
        Lab { name, containers: Vec::new(), networks: Vec::new() }
    }

    /// A second, internal network (the host forwards nothing to or from it): only what the lab's
    /// own containers route reaches it.
    fn add_network(&mut self, suffix: &str, subnet: &str) -> String {
        let name = format!("{}-{suffix}", self.name);
        ok(&["network", "create", "--internal", "--label", LABEL, "--subnet", subnet, &name]);
        self.networks.push(name.clone());
        name
    }

    fn connect(&self, container: &str, network: &str, ip: &str) {
        ok(&["network", "connect", "--ip", ip, network, container]);
    }

    /// Start `image` as `host` (also its DNS name on the lab network).
    fn run(&mut self, host: &str, image: &str, extra: &[&str]) -> String {
        let network = self.name.clone();
        self.run_on(&network, host, image, extra)
    }

    /// Start `image` as `host` on one given network of the lab.
    fn run_on(&mut self, network: &str, host: &str, image: &str, extra: &[&str]) -> String {
        let container = format!("{}-{host}", self.name);
        let mut args = vec!["run", "-d", "--init", "--name", &container, "--hostname", host, "--label", LABEL];
        args.extend(["--network", network, "--network-alias", host]);
        args.extend(extra);
        args.push(image);
        ok(&args);
        self.containers.push(container.clone());
        // As Plateau does before touching a node: a change made while the
        // entry point still clears /run would lose its pid file.
        self.eventually(&container, "test -e /run/plateau-ready", 120, "the container marks itself ready");
        container
    }

    fn exec(&self, container: &str, script: &str) -> std::process::Output {
        docker(&["exec", container, "sh", "-c", script])
    }

    /// Run `script`; fail the test with its output unless it succeeds.
    fn must(&self, container: &str, script: &str) {
        let out = self.exec(container, script);
        assert!(
            out.status.success(),
            "{script}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
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
        for n in self.networks.iter().chain([&self.name]) {
            let _ = docker(&["network", "rm", n]);
        }
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
fn prune_removes_older_builds_and_keeps_the_current_one() {
    if !engine_available() {
        return;
    }
    images_built();
    let catalog = Catalog::load(&root().join("images")).unwrap();
    let current = catalog.get("internet").unwrap().tag();
    // An older build of the role: same labels, another content hash.
    let older = "plateau/internet:0000000000ab";
    ok(&["tag", &current, older]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let removed = rt.block_on(async { Builder::connect(catalog).await.unwrap().prune_stale().await.unwrap() });
    assert!(removed.iter().any(|t| t == older), "{removed:?}");
    assert!(!docker(&["image", "inspect", older]).status.success(), "{older} is still there");
    assert!(docker(&["image", "inspect", &current]).status.success(), "the current build was removed");
}

#[test]
fn internet_stand_in_resolves_and_serves_http() {
    let Some(mut lab) = Lab::start("internet", "198.51.100.0/24") else { return };
    lab.run("internet", "plateau/internet", &["--ip", "198.51.100.10"]);
    let probe = lab.run("probe", "plateau/probe", &[]);
    lab.eventually(&probe, "dig +short @198.51.100.10 www.exemple.test | grep -x 198.51.100.10", 20, "DNS");
    lab.eventually(&probe, "curl -fsS http://internet/ | grep Plateau", 20, "HTTP");
}

/// The web server serves Debian's welcome page, then a page put in its
/// document root, and logs each request's path where `served_by` reads it,
/// the site's own logging left to nginx's.
#[test]
fn web_server_serves_a_published_page_and_logs_each_path() {
    let Some(mut lab) = Lab::start("web", "198.18.14.0/24") else { return };
    let web = lab.run("web", "plateau/webserver", &["--ip", "198.18.14.20"]);
    let probe = lab.run("probe", "plateau/probe", &[]);
    lab.eventually(&probe, "curl -fsS http://web/ | grep 'Welcome to nginx'", 20, "nginx's welcome page");
    lab.must(&web, "echo '<h1>Intranet</h1>' > /var/www/html/index.html");
    lab.must(&probe, "curl -fsS http://web/ | grep -x '<h1>Intranet</h1>'");
    lab.must(&probe, "curl -sS -o /dev/null http://web/.plateau-probe-0123456789abcdef");
    lab.must(&web, "grep -x 'url:/.plateau-probe-0123456789abcdef 404' /var/log/plateau/http.log");
    lab.must(&web, "grep -c plateau-probe /var/log/nginx/access.log");
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
fn firefox_on_the_desktop_workstation_shows_the_printers_page() {
    let Some(mut lab) = Lab::start("desktop", "198.18.12.0/24") else { return };
    let printer = lab.run("printer", "plateau/printer", &["--ip", "198.18.12.30"]);
    let desktop = lab.run("ws", "plateau/workstation-desktop", &[]);
    lab.eventually(&printer, "plateau-service status ippeveprinter", 20, "printer started");
    lab.must(
        &desktop,
        "mkdir -p /tmp/ff && HOME=/tmp/ff timeout 90 firefox-esr --headless --screenshot /tmp/ff.png \
         http://198.18.12.30:631/ && test -s /tmp/ff.png",
    );
    // The page's icon is asked for only by a browser that read the page.
    lab.eventually(&printer, "grep -q 'GET /icon.png' /var/log/plateau/ippeveprinter.log", 10, "the page rendered");
}

#[test]
fn helpdesk_takes_a_ticket_over_its_api_and_speaks_french() {
    let Some(mut lab) = Lab::start("helpdesk", "198.18.13.0/24") else { return };
    let env = "PLATEAU_ADMIN_PASSWORD=Grader-2026";
    let helpdesk = lab.run("helpdesk", "plateau/helpdesk", &["--ip", "198.18.13.40", "-e", env]);
    let probe = lab.run("probe", "plateau/probe", &[]);
    lab.eventually(&helpdesk, "/etc/plateau/ready-check", 60, "Request Tracker answers");
    let api = "http://198.18.13.40/REST/2.0";
    // The package's default password opens nothing; the scenario's does.
    lab.must(
        &probe,
        &format!("test $(curl -s -o /dev/null -w '%{{http_code}}' -u root:password {api}/queues/all) = 401"),
    );
    let ticket = r#"{"Queue":"General","Subject":"Imprimante en panne","Requestor":"m.dupont@agence.lan"}"#;
    lab.must(
        &probe,
        &format!("curl -sf -u root:Grader-2026 -H 'Content-Type: application/json' -d '{ticket}' {api}/ticket"),
    );
    lab.must(&probe, &format!("curl -sf -u root:Grader-2026 {api}/ticket/1 | grep -q 'Imprimante en panne'"));
    lab.must(&probe, "curl -sf -H 'Accept-Language: fr' http://198.18.13.40/ | grep -q 'Mot de passe'");
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

#[test]
fn router_forwards_and_masquerades_the_lan_to_the_internet() {
    // The LAN is the lab's network; the WAN is internal: the internet stand-in
    // lives only there and has no route back to the LAN.
    let Some(mut lab) = Lab::start("router", "198.18.3.0/24") else { return };
    let wan = lab.add_network("wan", "198.18.4.0/24");
    let router = lab.run(
        "router",
        "plateau/router",
        &["--ip", "198.18.3.254", "--cap-add", "NET_ADMIN", "--sysctl", "net.ipv4.ip_forward=1"],
    );
    lab.connect(&router, &wan, "198.18.4.2");
    let internet = lab.run_on(&wan, "internet", "plateau/internet", &["--ip", "198.18.4.10", "--cap-add", "NET_ADMIN"]);
    // Docker gives a container of an internal network a default route to
    // the host's bridge, and the host sees the LAN's bridged traffic
    // (bridge-nf-call-iptables): a reply it routes back would pass in the
    // instant another test's network creation re-inserts Docker's isolation
    // jump. Like the internet, the stand-in knows no way back to a private LAN.
    lab.must(&internet, "ip route del default");
    let ws = lab.run("ws", "plateau/workstation", &["--cap-add", "NET_ADMIN"]);
    lab.must(&ws, "ip route replace default via 198.18.3.254");
    lab.eventually(&internet, "plateau-service status http", 20, "internet's web server");

    // Without NAT the page never comes back.
    let before = lab.exec(&ws, "curl -fsS --max-time 3 http://198.18.4.10/");
    if before.status.success() {
        // Say what the routes and the host's filter were.
        let routes = |c: &str| String::from_utf8_lossy(&lab.exec(c, "ip route; ip -4 -o addr").stdout).into_owned();
        let filter = Command::new("sh").args(["-c", "iptables -S FORWARD; iptables -S DOCKER-USER; iptables -S DOCKER-ISOLATION-STAGE-1; iptables -S DOCKER-ISOLATION-STAGE-2"]).output();
        let filter = filter.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        panic!(
            "the LAN reached the internet before NAT was configured\nws:\n{}\ninternet:\n{}\nrouter:\n{}\nhost:\n{filter}",
            routes(&ws),
            routes(&internet),
            routes(&router)
        );
    }

    // What the candidate configures on the router.
    lab.must(&router, "nft add table ip nat && nft 'add chain ip nat postrouting { type nat hook postrouting priority 100; }' && nft add rule ip nat postrouting oifname eth1 masquerade");
    lab.eventually(
        &ws,
        "curl -fsS --max-time 3 http://198.18.4.10/ | grep -q Plateau",
        15,
        "HTTP through the router's NAT",
    );
}

#[test]
fn wireguard_tunnel_between_vpn_server_and_workstation() {
    let Some(mut lab) = Lab::start("vpn", "198.18.5.0/24") else { return };
    let tun = ["--cap-add", "NET_ADMIN", "--device", "/dev/net/tun"];
    let server = lab.run("vpn", "plateau/vpn", &tun);
    let client = lab.run("ws", "plateau/workstation", &tun);
    let key = |c: &str| {
        let out = lab.exec(c, "umask 077 && wg genkey > /etc/wireguard/key && wg pubkey < /etc/wireguard/key");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let (server_key, client_key) = (key(&server), key(&client));
    lab.must(&server, &format!(
        "printf '[Interface]\\nPrivateKey = %s\\nAddress = 10.99.0.1/24\\nListenPort = 51820\\n[Peer]\\nPublicKey = {client_key}\\nAllowedIPs = 10.99.0.2/32\\n' \"$(cat /etc/wireguard/key)\" > /etc/wireguard/wg0.conf && wg-quick up wg0"
    ));
    lab.must(&client, &format!(
        "printf '[Interface]\\nPrivateKey = %s\\nAddress = 10.99.0.2/24\\n[Peer]\\nPublicKey = {server_key}\\nEndpoint = vpn:51820\\nAllowedIPs = 10.99.0.0/24\\n' \"$(cat /etc/wireguard/key)\" > /etc/wireguard/wg0.conf && wg-quick up wg0"
    ));
    lab.eventually(&client, "ping -c1 -W1 10.99.0.1", 15, "ping through the tunnel");
    lab.eventually(
        &server,
        "wg show wg0 latest-handshakes | awk '{ exit !($2 > 0) }'",
        5,
        "handshake seen by the server",
    );
}

#[test]
fn workstation_joins_the_domain_and_its_trust_works() {
    let Some(mut lab) = Lab::start("join", "198.18.6.0/24") else { return };
    let dc = lab.run("dc", "plateau/dc", &["--ip", "198.18.6.2"]);
    let ws = lab.run("pc01", "plateau/workstation", &[]);
    lab.eventually(&dc, "echo Plateau-Admin1 | kinit administrator >/dev/null", 60, "the DC's KDC");
    // What a candidate does on a Linux workstation: DNS to the DC, Kerberos, a member smb.conf, join.
    lab.must(
        &ws,
        r#"printf 'nameserver 198.18.6.2\nsearch agence.lan\n' > /etc/resolv.conf
printf '[libdefaults]\n  default_realm = AGENCE.LAN\n  dns_lookup_kdc = true\n' > /etc/krb5.conf
printf '[global]\n  workgroup = AGENCE\n  realm = AGENCE.LAN\n  security = ads\n  idmap config * : backend = tdb\n  idmap config * : range = 3000-7999\n  idmap config AGENCE : backend = rid\n  idmap config AGENCE : range = 10000-999999\n' > /etc/samba/smb.conf"#,
    );
    lab.eventually(
        &ws,
        "net ads join -U administrator%Plateau-Admin1 2>&1 | grep -q \"Joined 'PC01' to dns domain 'agence.lan'\"",
        30,
        "net ads join",
    );
    // Evidence from outside the workstation: the machine account exists in AD.
    lab.eventually(&dc, "samba-tool computer list | grep -qx 'PC01\\$'", 10, "machine account in AD");
    lab.must(&ws, "winbindd -D");
    lab.eventually(&ws, "wbinfo -t | grep -q succeeded", 20, "trust secret checked by winbind");
}

#[test]
fn file_server_shares_allow_and_deny_per_user() {
    let Some(mut lab) = Lab::start("share", "198.18.7.0/24") else { return };
    let nas = lab.run("nas", "plateau/fileserver", &[]);
    lab.eventually(&nas, "plateau-service status smbd", 20, "smbd");
    // What a candidate does: two users, a share only one of them may use.
    lab.must(
        &nas,
        r#"for u in compta1 rh1; do useradd -M -s /usr/sbin/nologin $u && printf 'Plateau-%s9\nPlateau-%s9\n' $u $u | smbpasswd -a -s $u; done
mkdir -p /srv/partages/compta && chown compta1 /srv/partages/compta && chmod 770 /srv/partages/compta
printf '[compta]\n  path = /srv/partages/compta\n  valid users = compta1\n  read only = no\n' >> /etc/samba/smb.conf
smbcontrol all reload-config"#,
    );
    let probe = lab.run("probe", "plateau/probe", &[]);
    lab.eventually(
        &probe,
        "echo facture > /tmp/f.txt && smbclient //nas/compta -U compta1%Plateau-compta19 -c 'put /tmp/f.txt facture.txt'",
        20,
        "the allowed user writes to the share",
    );
    lab.must(&nas, "test -f /srv/partages/compta/facture.txt");
    lab.must(&probe, "smbclient //nas/compta -U rh1%Plateau-rh19 -c ls 2>&1 | grep -q NT_STATUS_ACCESS_DENIED");
}

#[test]
fn access_point_accepts_a_secured_configuration_and_rejects_a_weak_key() {
    let Some(mut lab) = Lab::start("ap", "198.18.8.0/24") else { return };
    let ap = lab.run("ap", "plateau/ap", &[]);
    // No radio here (no mac80211_hwsim): hostapd's `none` driver runs the
    // configuration without one, so its own parser judges the settings.
    let secured = "interface=wlan0\\ndriver=none\\nssid=AGENCE\\nwpa=2\\nwpa_key_mgmt=WPA-PSK\\nrsn_pairwise=CCMP\\nwpa_passphrase=MotDePasse2026\\nmacaddr_acl=1\\naccept_mac_file=/etc/hostapd/accept\\n";
    lab.must(&ap, &format!("printf '{secured}' > /tmp/ok.conf && echo 02:50:00:00:00:01 > /etc/hostapd/accept"));
    lab.must(&ap, "timeout 3 hostapd /tmp/ok.conf | grep -q AP-ENABLED");
    lab.must(&ap, "sed 's/^wpa_passphrase=.*/wpa_passphrase=court/' /tmp/ok.conf > /tmp/weak.conf");
    let weak = lab.exec(&ap, "timeout 3 hostapd /tmp/weak.conf 2>&1");
    let text = String::from_utf8_lossy(&weak.stdout);
    assert!(!text.contains("AP-ENABLED"), "a 5-character WPA key was accepted: {text}");
}

#[test]
fn domain_controller_takes_its_realm_and_password_at_start() {
    let Some(mut lab) = Lab::start("realm", "198.18.9.0/24") else { return };
    let dc =
        lab.run("dc", "plateau/dc", &["-e", "PLATEAU_REALM=ECOLE.LAN", "-e", "PLATEAU_ADMIN_PASSWORD=Jury-2026-x"]);
    lab.eventually(
        &dc,
        "echo Jury-2026-x | kinit administrator@ECOLE.LAN >/dev/null && klist | grep -q krbtgt/ECOLE.LAN",
        90,
        "kinit in the realm given at start",
    );
}

/// The role reference (`plateau roles`, `docs/roles.md`) says what each
/// image has: every program, package and service it lists is there, and the
/// services it says start with the node are in the image's autostart list.
#[test]
fn every_image_has_what_the_role_reference_says() {
    use plateau_scenario::model::Role;
    use plateau_scenario::roles::{BASE_PACKAGES, BASE_TOOLS};
    if !engine_available() {
        return;
    }
    images_built();
    for role in Role::ALL {
        let spec = role.spec();
        let mut script = String::from("export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
        for tool in BASE_TOOLS.iter().chain(spec.tools) {
            script.push_str(&format!("command -v {tool} >/dev/null || echo 'no program {tool}'\n"));
        }
        for package in BASE_PACKAGES.iter().chain(spec.packages) {
            script.push_str(&format!(
                "dpkg-query -W -f='${{Status}}' {package} 2>/dev/null | grep -q ' installed' || echo 'no package {package}'\n"
            ));
        }
        for (service, boot) in spec.services {
            script.push_str(&format!("[ -s /etc/plateau/services/{service} ] || echo 'no service {service}'\n"));
            let listed = format!("grep -qx {service} /etc/plateau/autostart");
            if *boot {
                script.push_str(&format!("{listed} || echo 'service {service} does not start with the node'\n"));
            } else {
                script.push_str(&format!("{listed} && echo 'service {service} starts with the node'\n"));
            }
        }
        script.push_str("true\n");
        let image = format!("plateau/{}", spec.image);
        let out =
            ok(&["run", "--rm", "--label", &format!("{LABEL}=roles"), "--entrypoint", "sh", &image, "-c", &script]);
        assert!(out.trim().is_empty(), "{image} differs from the role reference ({role:?}):\n{out}");
    }
}

/// A drawn `wireguard_keypair`'s public half is what WireGuard's own tool
/// computes from its private half.
#[test]
fn a_drawn_wireguard_key_pair_is_what_wg_computes() {
    if !engine_available() {
        return;
    }
    images_built();
    let candidate = plateau_scenario::Candidate { id: "c07".into(), name: "C7".into(), index: 6, engine: None };
    let (private, public) =
        plateau_scenario::vars::wireguard_keypair("exam-2026", "vpn_key", &candidate, Default::default());
    let script = format!("echo {private} | wg pubkey");
    let out =
        ok(&["run", "--rm", "--label", &format!("{LABEL}=wg"), "--entrypoint", "sh", "plateau/vpn", "-c", &script]);
    assert_eq!(out.trim(), public);
}
