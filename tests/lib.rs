//! Shared helpers for Plateau's end-to-end tests.

use std::path::PathBuf;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// The regulatory texts the frameworks quote, kept with the tests
/// (`tests/reference/`) so that any clone can check the quotes.
pub fn reference(name: &str) -> String {
    let path = root().join("tests/reference").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reference text {} is missing: {e}", path.display()))
}

/// Whether a Docker engine answers. In CI (`CI=true`) a missing engine fails
/// the test instead: tests that need the engine must run there.
pub fn engine_available() -> bool {
    let up = std::process::Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success());
    if !up && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but no Docker engine answers `docker info`: these tests must run in CI");
    }
    if !up {
        eprintln!("skipped: no Docker engine (set CI=true to make this a failure)");
    }
    up
}

/// Whether the console's browser test can run: a headless Chromium, its
/// WebDriver and pdftotext. In CI (`CI=true`) a missing one fails the test.
pub fn browser_available() -> bool {
    let found = |tool: &str| std::process::Command::new(tool).arg("-v").output().is_ok();
    let missing: Vec<&str> = ["chromium", "chromedriver", "pdftotext"].into_iter().filter(|t| !found(t)).collect();
    if !missing.is_empty() && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but {} missing: `bash scripts/test` installs them", missing.join(", "));
    }
    if !missing.is_empty() {
        eprintln!("skipped: {} missing (apt-get install chromium chromium-driver poppler-utils)", missing.join(", "));
    }
    missing.is_empty()
}
