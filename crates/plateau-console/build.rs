//! The vendored noVNC modules (`static/novnc`, see `scripts/vendor-novnc`)
//! as a table the console serves from its own binary.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("static/novnc");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("static/novnc") {
            let path = entry.expect("static/novnc").path();
            if path.is_dir() {
                println!("cargo:rerun-if-changed={}", path.display());
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "js") {
                files.push(path);
            }
        }
    }
    files.sort();
    let rows: String = files
        .iter()
        .map(|p| {
            let name = p.strip_prefix(&root).unwrap().display().to_string();
            format!("    ({name:?}, include_str!({:?})),\n", p.display().to_string())
        })
        .collect();
    let table = format!(
        "/// noVNC's modules by path under `/static/novnc/`.\npub(crate) const NOVNC: &[(&str, &str)] = &[\n{rows}];\n"
    );
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("novnc.rs");
    std::fs::write(out, table).unwrap();
}
