//! Arbitrary input never panics the parser or the validator.

use plateau_scenario::Scenario;
use plateau_tests::root;
use proptest::prelude::*;

fn small() -> String {
    std::fs::read_to_string(root().join("scenarios/tai-small.toml")).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = Scenario::parse("fuzz.toml", &text);
    }

    /// Cut, duplicate or replace a slice of a valid scenario: errors, never panics,
    /// and every diagnostic points inside the text.
    #[test]
    fn mutated_scenarios_never_panic(start in 0usize..6000, len in 0usize..80, insert in "[ -~\\n]{0,20}", repeat in 0usize..3) {
        let text = small();
        let start = (0..=start.min(text.len())).rev().find(|i| text.is_char_boundary(*i)).unwrap();
        let end = (start..=(start + len).min(text.len())).find(|i| text.is_char_boundary(*i)).unwrap();
        let mutated = format!("{}{}{}", &text[..start], insert.repeat(repeat), &text[end..]);
        if let Err(report) = Scenario::parse("mutated.toml", &mutated) {
            for d in &report.diagnostics {
                if let Some(span) = &d.span {
                    prop_assert!(span.start <= mutated.len() && span.end <= mutated.len());
                }
            }
            let _ = report.render(false);
        }
    }
}
