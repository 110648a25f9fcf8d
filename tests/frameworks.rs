//! The frameworks hold every competence and criterion of the reference texts.

use plateau_scenario::framework;
use plateau_tests::reference;

/// Whitespace- and apostrophe-insensitive form, for comparing with the texts.
fn normal(text: &str) -> String {
    text.replace(['’', '\u{a0}'], "'").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn assert_quoted(id: &str, source: &str) {
    let f = framework::get(id).unwrap();
    let source = normal(source);
    for c in f.criteria() {
        assert!(
            source.contains(&normal(&c.criterion.text)),
            "{id} {}: not in the reference text: {}",
            c.criterion.id,
            c.criterion.text
        );
    }
    for (_, c) in f.competences() {
        assert!(source.contains(&normal(&c.title)), "{id} {}: title not in the reference text: {}", c.id, c.title);
    }
}

#[test]
fn tai_2023_has_nine_competences_quoted_from_the_reac() {
    let f = framework::get("tai-2023").unwrap();
    assert_eq!(f.blocks.len(), 3);
    assert_eq!(f.competences().count(), 9);
    let reac = reference("tai-reac-2023.txt");
    // The REAC has one "Critères de performance" section per competence (plus 2 transversal ones).
    assert_eq!(reac.matches("Critères de performance").count(), 9 + 2);
    assert_eq!(f.criteria().count(), 7 + 5 + 4 + 6 + 5 + 5 + 5 + 6 + 5);
    assert_quoted("tai-2023", &reac);
    assert_eq!(
        f.criterion("CP8.3").unwrap().criterion.text,
        "La connexion VPN de l'utilisateur est configurée et opérationnelle."
    );
}

#[test]
fn tai_2018_has_eleven_competences_quoted_from_the_rc() {
    let f = framework::get("tai-2018").unwrap();
    assert_eq!(f.competences().count(), 11);
    assert_quoted("tai-2018", &reference("tai-rp-rc-2018.txt"));
}

#[test]
fn catic_holds_every_capacity_of_the_annex() {
    let f = framework::get("catic").unwrap();
    assert_eq!(f.blocks.len(), 2);
    assert_eq!(f.competences().count(), 12);
    let annex = normal(&reference("catic-annex.txt"));
    for (_, c) in f.competences() {
        assert!(annex.contains(&normal(&c.title)), "catic {}: {}", c.id, c.title);
    }
}

#[test]
fn criterion_ids_are_unique_per_framework() {
    for f in framework::all() {
        let mut ids: Vec<&str> = f.criteria().map(|c| c.criterion.id.as_str()).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "{}", f.id);
    }
}

/// `docs/roles.md` is `plateau roles` as of this commit.
#[test]
fn the_role_reference_in_docs_is_current() {
    let written = std::fs::read_to_string(plateau_tests::root().join("docs/roles.md")).unwrap();
    assert!(
        written == plateau_scenario::roles::reference(None),
        "docs/roles.md is out of date: run `plateau roles > docs/roles.md`"
    );
}
