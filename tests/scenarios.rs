//! Scenario corpus: every shipped scenario validates; every invalid one fails
//! with the diagnostics recorded in `snapshots/` (review with `cargo insta review`).

use plateau_scenario::Scenario;
use plateau_tests::root;

/// Validate `text` and render what a user would see.
fn check(name: &str, text: &str) -> String {
    match Scenario::parse(name, text) {
        Ok(_) => "valid".to_string(),
        Err(report) => {
            for d in &report.diagnostics {
                assert!(
                    d.span.is_some() || text.trim().lines().all(|l| l.starts_with('#')),
                    "{name}: `{}` has no place",
                    d.message
                );
            }
            report.render(false)
        }
    }
}

#[test]
fn shipped_scenarios_are_valid() {
    let mut count = 0;
    for entry in std::fs::read_dir(root().join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(check(&path.display().to_string(), &text), "valid", "{}", path.display());
            count += 1;
        }
    }
    assert!(count >= 1, "no scenario in scenarios/");
}

#[test]
fn invalid_scenarios_report_expected_diagnostics() {
    insta::glob!("scenarios/invalid/*.toml", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let name = format!("invalid/{}", path.file_name().unwrap().to_string_lossy());
        let rendered = check(&name, &text);
        assert_ne!(rendered, "valid", "{name} should be rejected");
        insta::assert_snapshot!(rendered);
    });
}
