//! Each validation rule family, one case per rule: an edit of a valid
//! scenario (tai-small) and the diagnostic code a trainer gets for it. The
//! snapshot corpus (`scenarios.rs`) shows the full rendering; this table
//! makes sure every rule still fires, at the right place.

use plateau_scenario::Scenario;
use plateau_tests::root;

fn base() -> String {
    std::fs::read_to_string(root().join("scenarios/tai-small.toml")).unwrap()
}

/// Apply `edit` (replace `from` by `to`, or append when `from` is empty) and
/// expect a diagnostic `code` whose place in the file contains `at`.
fn check(from: &str, to: &str, code: &str, at: &str) {
    check_in("tai-small.toml", from, to, code, at)
}

/// `check`, on another shipped scenario.
fn check_in(file: &str, from: &str, to: &str, code: &str, at: &str) {
    let mut text = std::fs::read_to_string(root().join("scenarios").join(file)).unwrap();
    if from.is_empty() {
        text.push_str(to);
    } else {
        assert!(text.contains(from), "{file} no longer contains {from:?}");
        text = text.replacen(from, to, 1);
    }
    let report = match Scenario::parse(file, &text) {
        Ok(_) => panic!("{code}: the edit {from:?} → {to:?} was accepted"),
        Err(report) => report,
    };
    let codes: Vec<&str> = report.diagnostics.iter().map(|d| d.code).collect();
    let Some(d) = report.diagnostics.iter().find(|d| d.code == code) else {
        panic!("{code}: not reported; got {codes:?}\n{}", report.render(false))
    };
    let span = d.span.clone().unwrap_or_else(|| panic!("{code}: no place in the file"));
    assert!(text[span.clone()].contains(at), "{code}: points at {:?}, not at {at:?}", &text[span]);
}

#[test]
fn identifiers_references_and_the_framework() {
    check("id = \"dhcp-stopped\"", "id = \"dhcp stopped\"", "bad-id", "dhcp stopped");
    check("framework = \"tai-2023\"", "framework = \"tai-2099\"", "unknown-framework", "tai-2099");
    check("criteria = [\"CP8.2\"]", "criteria = []", "no-criterion", "[]");
    check("depends_on = [\"dhcp\", \"router\"]", "depends_on = [\"ws\"]", "self-dependency", "ws");
    check("", "\n[grading]\nthresholds = { CP99 = 0.5 }\n", "unknown-unit", "CP99");
    check("", "\n[grading]\nthreshold = 1.5\n", "bad-threshold", "1.5");
    check("", "\n[grading]\nnot_examined = [\"CP8.9\"]\n", "unknown-criterion", "CP8.9");
    // tai-small's router-ssh-blocked evidences CP8.2.
    check("", "\n[grading]\nnot_examined = [\"CP8.2\"]\n", "examined-criterion", "CP8.2");
    // What the platform keeps for the jury: a criterion of the exam, said.
    check("", "\n[grading.material]\n\"CP3.9\" = \"les tickets\"\n", "unknown-criterion", "les tickets");
    check(
        "",
        "\n[grading]\nnot_examined = [\"CP8.6\"]\nmaterial = { \"CP8.6\" = \"x\" }\n",
        "material-not-examined",
        "x",
    );
    check("", "\n[grading.material]\n\"CP8.6\" = \" \"\n", "empty-material", "\" \"");
}

#[test]
fn what_the_candidate_hands_in_is_read_where_the_brief_says() {
    let report = "path = \"/home/technicien/compte-rendu.md\"";
    check_in("tai-2023-full.toml", report, "path = \"compte-rendu.md\"", "relative-path", "compte-rendu.md");
}

#[test]
fn help_desk_checks_name_what_the_tool_holds() {
    let ccp1 = "tai-2023-ccp1.toml";
    let printer_ticket = "subject = \"Imprimante disparue\"\nqueue = \"Support\"";
    check_in(ccp1, printer_ticket, "subject = \"Imprimante disparue\"\nqueue = \"Réseau\"", "unknown-queue", "Réseau");
    check_in(ccp1, "catalog = \"Parc informatique\"", "catalog = \"Inventaire\"", "unknown-catalog", "Inventaire");
    // A fault's user's call goes to the help desk's tool, in one of its queues.
    let call = "request = { node = \"helpdesk\", queue = \"Support\"";
    check_in(ccp1, call, "request = { node = \"ws\", queue = \"Support\"", "request-not-to-helpdesk", "ws");
    check_in(ccp1, call, "request = { node = \"helpdesk\", queue = \"Accueil\"", "unknown-queue", "Accueil");
    check_in(ccp1, "\"Emplacement\" = \"Accueil\"", "\"Bureau\" = \"Accueil\"", "unknown-asset-field", "Accueil");
    check_in(
        ccp1,
        "catalog = \"Parc informatique\"\n",
        "catalog = \"Parc informatique\"\nfilled = [\"Garantie\"]\n",
        "unknown-asset-field",
        "Garantie",
    );
}

#[test]
fn nodes_and_their_access() {
    check(
        "interfaces = [{ network = \"lan\", dhcp = true }]",
        "interfaces = [{ network = \"lan\", dhcp = true, host = 7 }]",
        "interface-address",
        "host = 7",
    );
    check(
        "id = \"internet\"\nrole = \"internet\"",
        "id = \"internet\"\nrole = \"internet\"\naddress = \"192.0.2.7\"",
        "address-on-container",
        "address",
    );
    check(
        "id = \"internet\"\nrole = \"internet\"",
        "id = \"internet\"\nrole = \"internet\"\nbackend = \"static\"",
        "missing-address",
        "[[nodes]]",
    );
    check(
        "id = \"internet\"\nrole = \"internet\"\ninterfaces = [{ network = \"wan\", host = 10 }]\ngrader = { via = \"ssh\" }",
        "id = \"internet\"\nrole = \"internet\"\nbackend = \"static\"\naddress = \"192.0.2.7\"\ninterfaces = [{ network = \"wan\", host = 10 }]\ngrader = { via = \"ssh\", password = \"x\" }",
        "missing-user",
        "ssh",
    );
    check(
        "id = \"internet\"\nrole = \"internet\"\ninterfaces = [{ network = \"wan\", host = 10 }]\ngrader = { via = \"ssh\" }",
        "id = \"internet\"\nrole = \"internet\"\nbackend = \"static\"\naddress = \"192.0.2.7\"\ninterfaces = [{ network = \"wan\", host = 10 }]\ngrader = { via = \"ssh\", user = \"root\" }",
        "missing-password",
        "ssh",
    );
    check(
        "id = \"internet\"\nrole = \"internet\"\ninterfaces = [{ network = \"wan\", host = 10 }]\ngrader = { via = \"ssh\" }",
        "id = \"internet\"\nrole = \"internet\"\ninterfaces = [{ network = \"wan\", host = 10 }]\ngrader = { via = \"winrm\" }",
        "winrm-needs-windows",
        "winrm",
    );
    check(
        "access = [\n  { node = \"ws\", via = \"ssh\", user = \"technicien\", password = \"{{password}}\" },\n  { node = \"dhcp\", via = \"ssh\", user = \"technicien\", password = \"{{password}}\" },\n  { node = \"router\", via = \"ssh\", user = \"technicien\", password = \"{{password}}\" },\n]",
        "access = []",
        "no-access",
        "[]",
    );
    check(
        "{ node = \"ws\", via = \"ssh\", user = \"technicien\"",
        "{ node = \"ws\", via = \"rdp\", user = \"technicien\"",
        "rdp-access",
        "rdp",
    );
    check(
        "id = \"router\"\nrole = \"router\"",
        "id = \"router\"\nrole = \"router\"\ndesktop = true",
        "no-desktop",
        "true",
    );
    // An existing machine's screen is out of Plateau's reach (a VM's is QEMU's).
    check(
        "id = \"internet\"\nrole = \"internet\"\ninterfaces = [{ network = \"wan\", host = 10 }]\ngrader = { via = \"ssh\" }",
        "id = \"internet\"\nrole = \"internet\"\nbackend = \"static\"\naddress = \"192.0.2.7\"\ndesktop = true\ninterfaces = [{ network = \"wan\", host = 10 }]\ngrader = { via = \"ssh\", user = \"root\", password = \"x\" }",
        "no-desktop",
        "true",
    );
}

#[test]
fn checks_run_where_they_can() {
    // An on-node check sent `from` a node.
    check(
        "kind = \"ip_config\"\nnode = \"ws\"",
        "kind = \"ip_config\"\nnode = \"ws\"\nfrom = \"internet\"",
        "from-on-node-check",
        "from",
    );
    // An SMB probe needs a node with smbclient to send it.
    check(
        "",
        "\n[[checks]]\nid = \"share\"\ntitle = \"t\"\ncriteria = [\"CP7.3\"]\npoints = 0\nkind = \"smb_access\"\nshare = \"//10.0.0.1/x\"\nuser = \"u\"\npassword = \"p\"\n",
        "probe-needs-origin",
        "[[checks]]",
    );
    // A firewall check with nothing that proves the sender has a network.
    check("control = { host = \"{{node.router.wan}}\", protocol = \"icmp\" }\n", "", "reach-needs-control", "[{ host");
    // A TCP target without a port.
    check("port = 22, expect = \"denied\"", "expect = \"denied\"", "reach-target", "{ host");
    // An offer looked for where the scenario plans no DHCP service.
    check("dhcp_pool = [100, 199]\n", "", "offer-without-pool", "lan");
    // A pattern that is no regular expression.
    check(
        "",
        "\n[[checks]]\nid = \"conf\"\ntitle = \"t\"\ncriteria = [\"CP7.3\"]\npoints = 0\nkind = \"file_contains\"\nnode = \"ws\"\npath = \"/etc/x\"\npattern = \"option (routers\"\n",
        "bad-regex",
        "option (routers",
    );
    // A tunnel checked on the DHCP server, which has no `wg`.
    check(
        "",
        "\n[[checks]]\nid = \"tunnel\"\ntitle = \"t\"\ncriteria = [\"CP7.3\"]\npoints = 0\nkind = \"vpn_tunnel\"\nnode = \"dhcp\"\nhost = \"10.8.0.1\"\n",
        "check-tool-missing",
        "dhcp",
    );
    // An SMB probe sent from the router, which has no `smbclient`.
    check(
        "",
        "\n[[checks]]\nid = \"share\"\ntitle = \"t\"\ncriteria = [\"CP7.3\"]\npoints = 0\nkind = \"smb_access\"\nfrom = \"router\"\nshare = \"//10.0.0.1/x\"\nuser = \"u\"\npassword = \"p\"\n",
        "check-tool-missing",
        "router",
    );
}

#[test]
fn faults_and_the_solution() {
    check("breaks = [\"dhcp-scope\", \"dhcp-reservation\"]", "breaks = []", "fault-breaks-nothing", "[]");
    check(
        "revert = [{ node = \"dhcp\", run = \"plateau-service start kea-dhcp4\" }]",
        "revert = []",
        "empty-steps",
        "[]",
    );
    check("[[solution]]\nnode = \"ws\"", "[[solution]]\nnode = \"internet\"", "solution-outside-access", "internet");
}

#[test]
fn variables() {
    check("password = { password = 12 }", "password = { password = 3 }", "bad-password-length", "3");
}

#[test]
fn limits() {
    check("", "\n[limits]\nmemory = \"lots\"\n", "bad-size", "lots");
    check("", "\n[limits]\nmemory = \"8m\"\n", "limit-out-of-range", "8m");
    check("", "\n[limits]\npids = 10\n", "limit-out-of-range", "10");
    check("", "\n[limits]\ncpus = 0.0\n", "limit-out-of-range", "0.0");
    check(
        "id = \"internet\"\nrole = \"internet\"",
        "id = \"internet\"\nrole = \"internet\"\nlimits = { disk = \"2t\" }",
        "bad-size",
        "2t",
    );
}

/// A template that cannot be filled says why, and points at itself.
fn message_of(from: &str, to: &str) -> String {
    let text = base().replacen(from, to, 1);
    let report = match Scenario::parse("tai-small.toml", &text) {
        Ok(s) => s.plan("seed", &plateau_scenario::Candidate::numbered(1)).map(|_| ()).unwrap_err(),
        Err(report) => report,
    };
    let d = &report.diagnostics[0];
    let span = d.span.clone().unwrap();
    format!("{} @ {}", d.message, &text[span])
}

#[test]
fn templates_say_what_is_missing() {
    let said = message_of("host = \"{{node.router.wan}}\"", "host = \"{{node.ws.wan}}\"");
    assert!(said.contains("node `ws` has no interface on `wan`") && said.ends_with("@ {{node.ws.wan}}"), "{said}");
    let said = message_of("host = \"{{node.router.wan}}\"", "host = \"{{net.lan.host.300}}\"");
    assert!(said.contains("host `300` is outside `lan`") && said.contains("hosts 1 to 254"), "{said}");
    let said = message_of("host = \"{{node.router.wan}}\"", "host = \"{{net.guests.gateway}}\"");
    assert!(said.contains("there is no network `guests`"), "{said}");
}

#[test]
fn a_criterion_outside_the_graded_blocks_is_a_warning_and_the_file_is_used() {
    // tai-small grades the blocks CCP2 and CCP3 (its header); CP1.1 is in CCP1.
    let text = base().replacen("criteria = [\"CP8.2\"]", "criteria = [\"CP8.2\", \"CP1.1\"]", 1);
    let scenario = Scenario::parse("tai-small.toml", &text).expect("a warning does not refuse the file");
    let warnings = scenario.warnings().render(false);
    assert!(warnings.contains("warning[criterion-outside-blocks]"), "{warnings}");
    assert!(warnings.contains("`CP1.1` belongs to block `CCP1`"), "{warnings}");
    assert!(Scenario::parse("tai-small.toml", &base()).unwrap().warnings().is_empty());
}

/// Apply an edit that leaves the file valid and expect the warning `code`
/// whose place contains `at`, with `said` in its rendering.
fn check_warning(from: &str, to: &str, code: &str, at: &str, said: &str) {
    let text = base();
    assert!(text.contains(from), "tai-small.toml no longer contains {from:?}");
    let text = text.replacen(from, to, 1);
    let scenario = Scenario::parse("tai-small.toml", &text).expect("a warning does not refuse the file");
    let Some(d) = scenario.warnings().diagnostics.iter().find(|d| d.code == code) else {
        panic!("{code}: not reported\n{}", scenario.warnings().render(false))
    };
    let span = d.span.clone().unwrap_or_else(|| panic!("{code}: no place in the file"));
    assert!(text[span].contains(at), "{code}: not at {at:?}");
    let rendered = scenario.warnings().render(false);
    assert!(rendered.contains(said), "{code}: {rendered}");
}

#[test]
fn scripts_and_services_are_the_roles_own() {
    // A domain controller's program in a step on the router.
    check_warning(
        "inject = [{ node = \"dhcp\", run = \"plateau-service stop kea-dhcp4\" }]",
        "inject = [{ node = \"router\", run = \"samba-tool user disable bob\" }]",
        "program-not-on-role",
        "samba-tool",
        "runs `samba-tool` on `router`, whose role (router) has no `samba-tool`",
    );
    // A remote command quoted for ssh is the other machine's: not judged here.
    let quoted = base().replacen(
        "inject = [{ node = \"dhcp\", run = \"plateau-service stop kea-dhcp4\" }]",
        "inject = [{ node = \"router\", run = \"ssh dc 'samba-tool user disable bob'\" }]",
        1,
    );
    assert!(Scenario::parse("tai-small.toml", &quoted).unwrap().warnings().is_empty());
    // A service the role does not have.
    check_warning(
        "id = \"ws-address\"",
        "id = \"ws-nginx\"\ntitle = \"x\"\ncriteria = [\"CP4.4\"]\npoints = 0\nkind = \"service_running\"\nnode = \"dhcp\"\nservice = \"nginx\"\n\n[[checks]]\nid = \"ws-address\"",
        "unknown-service",
        "nginx",
        "`dhcp` (a dhcp-server) has no service `nginx`",
    );
    // No reference solution: nothing proves the checks can pass.
    let unsolved = base();
    let unsolved = &unsolved[..unsolved.find("[[solution]]").unwrap()];
    let scenario = Scenario::parse("tai-small.toml", unsolved).unwrap();
    assert!(
        scenario.warnings().render(false).contains("warning[no-solution]"),
        "{}",
        scenario.warnings().render(false)
    );
}
