//! `plan` is deterministic and gives neighbours different variants.

use plateau_scenario::{Candidate, Scenario};
use plateau_tests::root;

fn small() -> Scenario {
    let text = std::fs::read_to_string(root().join("scenarios/tai-small.toml")).unwrap();
    Scenario::parse("tai-small.toml", &text).unwrap()
}

#[test]
fn same_seed_gives_the_same_plans() {
    let s = small();
    let candidates = Candidate::numbered(4);
    assert_eq!(s.plan("exam-2026-11", &candidates).unwrap(), s.plan("exam-2026-11", &candidates).unwrap());
}

#[test]
fn another_seed_gives_other_values() {
    let s = small();
    let candidates = Candidate::numbered(4);
    let a = s.plan("a", &candidates).unwrap();
    let b = s.plan("b", &candidates).unwrap();
    assert_ne!(a[0].variables["lan"], b[0].variables["lan"]);
}

#[test]
fn neighbours_get_different_variants() {
    let s = small();
    let plans = s.plan("seed", &Candidate::numbered(8)).unwrap();
    for variable in ["lan", "user", "printer_mac", "printer_host"] {
        let mut values: Vec<&String> = plans.iter().map(|p| &p.variables[variable]).collect();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), 8, "`{variable}` repeats between candidates");
    }
    // Plain values stay the same for everyone.
    assert!(plans.iter().all(|p| p.variables["company"] == "Dupont & Fils"));
}

#[test]
fn templates_resolve_into_addresses_of_the_candidates_subnet() {
    let s = small();
    let plans = s.plan("seed", &Candidate::numbered(2)).unwrap();
    for p in &plans {
        let lan = p.network("lan").unwrap();
        let router = p.node("router").unwrap();
        assert_eq!(router.interfaces[0].address, lan.gateway, "router sits on the LAN gateway");
        let reservation = p.checks.iter().find(|c| c.id == "dhcp-reservation").unwrap();
        let json = serde_json::to_value(reservation).unwrap();
        let address: std::net::Ipv4Addr = json["address"].as_str().unwrap().parse().unwrap();
        assert!(lan.subnet.contains(&address));
        assert_eq!(json["mac"], p.variables["printer_mac"]);
        assert!(p.brief.as_ref().unwrap().contains(&lan.subnet.to_string()));
        assert_eq!(p.node("ws").unwrap().hostname, format!("pc-{}", p.candidate.id));
        assert_eq!(p.access[0].password.len(), 12);
    }
    assert_ne!(plans[0].access[0].password, plans[1].access[0].password);
}

#[test]
fn roster_names_candidates_and_rejects_bad_rows() {
    let roster =
        plateau_scenario::parse_roster("r.csv", "id,name,email\nalice,Alice Martin,a@x\nbob,Bob Durand,b@x\n").unwrap();
    assert_eq!(roster.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
    let plans = small().plan("s", &roster).unwrap();
    assert_eq!(plans[1].candidate.name, "Bob Durand");

    let err = plateau_scenario::parse_roster("r.csv", "id,name\nalice,A\nalice,B\n").unwrap_err();
    assert_eq!(err, "r.csv:3: candidate id `alice` appears twice");
    let err = plateau_scenario::parse_roster("r.csv", "nom,prenom\nx,y\n").unwrap_err();
    assert!(err.starts_with("r.csv:1: the header must name the columns `id` and `name`"), "{err}");
    let err = plateau_scenario::parse_roster("r.csv", "id,name\nbad id,X\n").unwrap_err();
    assert!(err.starts_with("r.csv:2:"), "{err}");
}

#[test]
fn subnets_that_collide_between_candidates_are_errors_naming_them() {
    // Two candidates' LANs drawn from a block with room for one /24.
    let text = std::fs::read_to_string(root().join("scenarios/tai-small.toml")).unwrap();
    let narrow = text.replace(
        "lan = { subnet_in = \"10.20.0.0/16\", prefix = 24 }",
        "lan = { subnet_in = \"10.20.0.0/24\", prefix = 24 }",
    );
    let scenario = Scenario::parse("tai-small.toml", &narrow).unwrap();
    let report = scenario.plan("seed", &Candidate::numbered(2)).unwrap_err();
    let d = report.diagnostics.iter().find(|d| d.code == "subnets-collide").expect("a collision is reported");
    assert!(
        d.message.contains("candidate `c02`'s `lan` (10.20.0.0/24) overlaps candidate `c01`'s `lan`"),
        "{}",
        d.message
    );
    assert!(scenario.plan("seed", &Candidate::numbered(1)).is_ok(), "one candidate fits");
    // 300 candidates cannot each have one of the 256 /24s of the shipped LAN block.
    let many = small().plan("seed", &Candidate::numbered(300));
    let collisions = many.err().map_or(0, |r| r.diagnostics.len());
    assert!(collisions > 0, "300 LANs cannot come out of 256 subnets without a repeat");
}

#[test]
fn a_wireguard_key_pair_is_drawn_per_candidate_and_its_halves_are_templates() {
    let text = std::fs::read_to_string(root().join("scenarios/tai-small.toml")).unwrap();
    let text = text.replacen("[variables]\n", "[variables]\nvpn = { wireguard_keypair = true }\n", 1).replacen(
        "4. Sur le routeur,",
        "Clé du tunnel : {{vpn.private}} (publique : {{vpn.public}}).\n4. Sur le routeur,",
        1,
    );
    let scenario = Scenario::parse("tai-small.toml", &text).unwrap();
    let plans = scenario.plan("seed", &Candidate::numbered(2)).unwrap();
    let (first, second) = (&plans[0].variables, &plans[1].variables);
    assert_eq!(first["vpn"], first["vpn.public"], "the bare name is the public key");
    assert_ne!(first["vpn.private"], second["vpn.private"]);
    let brief = plans[0].brief.as_deref().unwrap();
    assert!(brief.contains(&format!("Clé du tunnel : {}", first["vpn.private"])), "{brief}");
    // A half that does not exist is said.
    let wrong = text.replacen("{{vpn.public}}", "{{vpn.secret}}", 1);
    let report = Scenario::parse("tai-small.toml", &wrong).unwrap_err();
    assert!(report.render(false).contains("`{{vpn.secret}}`"), "{}", report.render(false));
}

#[test]
fn a_value_derives_from_another_by_sharing_a_drawn_part() {
    // A tunnel subnet that follows the LAN: both built from one drawn octet.
    let text = std::fs::read_to_string(root().join("scenarios/tai-small.toml")).unwrap();
    let text = text.replacen(
        "lan = { subnet_in = \"10.20.0.0/16\", prefix = 24 }",
        "site = { range = [1, 250] }\nlan = \"10.20.{{site}}.0/24\"\ntunnel = \"10.99.{{site}}.0/24\"",
        1,
    );
    let plans = Scenario::parse("tai-small.toml", &text).unwrap().plan("seed", &Candidate::numbered(4)).unwrap();
    for p in &plans {
        let site = &p.variables["site"];
        assert_eq!(p.variables["lan"], format!("10.20.{site}.0/24"));
        assert_eq!(p.variables["tunnel"], format!("10.99.{site}.0/24"));
        assert_eq!(p.network("lan").unwrap().subnet.to_string(), p.variables["lan"]);
    }
}

/// The scenario test proves each shipped scenario with one seed (each
/// proof re-creates a platform: minutes). What a draw can break without a
/// platform — a subnet collision in a room, a template that does not
/// resolve — is proven here for many seeds and a room of 16.
#[test]
fn every_shipped_scenario_plans_a_room_of_16_for_many_seeds() {
    for entry in std::fs::read_dir(root().join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let scenario = Scenario::parse(&name, &text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        for seed in 0..25 {
            let seed = format!("exam-{seed}");
            let plans =
                scenario.plan(&seed, &Candidate::numbered(16)).unwrap_or_else(|e| panic!("{name} {seed}: {e:?}"));
            let json = serde_json::to_string(&plans).unwrap();
            assert!(!json.contains("{{"), "{name} {seed}: a template left unresolved");
        }
    }
}
