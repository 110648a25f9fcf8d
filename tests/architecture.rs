//! The layering ARCHITECTURE.md promises, checked: the dependency graph it
//! shows is today's (generated from the crates' manifests), nothing but the
//! CLI sits above the application layer, and the CLI reaches the store, the
//! engine and the grader only through it.

use std::collections::BTreeMap;

use plateau_tests::root;

/// Each workspace crate and the workspace crates it depends on (normal dependencies).
fn graph() -> BTreeMap<String, Vec<String>> {
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let value: toml::Table = toml::from_str(&text).unwrap();
        let name = value["package"]["name"].as_str().unwrap().to_string();
        let deps = value
            .get("dependencies")
            .and_then(|d| d.as_table())
            .map(|d| d.keys().filter(|k| k.starts_with("plateau-")).cloned().collect())
            .unwrap_or_default();
        graph.insert(name, deps);
    }
    graph
}

/// The graph as a Mermaid block, as ARCHITECTURE.md carries it.
fn mermaid(graph: &BTreeMap<String, Vec<String>>) -> String {
    let mut out = String::from("```mermaid\ngraph TD\n");
    for (name, deps) in graph {
        for dep in deps {
            out.push_str(&format!("  {name} --> {dep}\n"));
        }
    }
    out.push_str("```\n");
    out
}

#[test]
fn the_documented_dependency_graph_is_todays() {
    let expected = mermaid(&graph());
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    assert!(
        doc.contains(&expected),
        "ARCHITECTURE.md's dependency graph is stale; replace its mermaid block with:\n\n{expected}"
    );
}

#[test]
fn only_the_cli_and_the_console_sit_above_the_application_layer() {
    let graph = graph();
    let above: Vec<&String> =
        graph.iter().filter(|(_, deps)| deps.iter().any(|d| d == "plateau-exam")).map(|(name, _)| name).collect();
    assert_eq!(above, ["plateau", "plateau-console"], "crates depending on plateau-exam");
    // The CLI renders and parses; the rest is behind plateau-exam.
    assert_eq!(graph["plateau"], ["plateau-console", "plateau-exam", "plateau-report", "plateau-scenario"]);
    // The console renders pages over the same operations.
    assert_eq!(graph["plateau-console"], ["plateau-exam", "plateau-report"]);
    for lower in ["plateau-state", "plateau-engine", "plateau-grade", "plateau-images"] {
        for (name, deps) in &graph {
            if deps.iter().any(|d| d == lower) {
                assert!(name != "plateau" && name != "plateau-console", "{name} depends on {lower}");
            }
        }
    }
}

#[test]
fn the_report_crate_links_no_grading_stack() {
    let graph = graph();
    assert_eq!(graph["plateau-report"], ["plateau-results"]);
    assert!(graph["plateau-results"].is_empty(), "plateau-results is a leaf");
}

#[test]
fn bollard_is_imported_by_the_engine_and_the_image_builder_only() {
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if text.contains("bollard") {
            assert!(["plateau-engine", "plateau-images"].contains(&name.as_str()), "{name} uses bollard");
        }
    }
}
