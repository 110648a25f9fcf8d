//! Shared helpers for Plateau's end-to-end tests.

use std::path::PathBuf;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// The shared reference texts, beside the checkout.
pub fn reference(name: &str) -> String {
    let path = root().join("../shared/reference").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reference text {} is missing: {e}", path.display()))
}
