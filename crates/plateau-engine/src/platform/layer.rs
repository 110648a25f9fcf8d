//! A container's changes read from its overlay layer: the upper directory
//! holds what the container wrote (a character device 0:0 or a `.wh.` file
//! marks a deletion), the lower directories the image it was made from.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::{ChangeKind, FsChange};

/// Whether `path` is one of `roots` or lies under one (roots ending in `/` are directories).
pub(crate) fn under(path: &str, roots: &[impl AsRef<str>]) -> bool {
    roots.iter().any(|r| {
        let r = r.as_ref();
        path == r.trim_end_matches('/') || (r.ends_with('/') && path.starts_with(r))
    })
}

/// The changes under `roots`, read from `upper` against `lowers`.
pub(super) fn changes(upper: &Path, lowers: &[PathBuf], roots: &[String]) -> Vec<FsChange> {
    let mut out = Vec::new();
    for root in roots {
        let rel = root.trim_start_matches('/').trim_end_matches('/');
        if std::fs::symlink_metadata(upper.join(rel)).is_ok() {
            visit(upper, lowers, rel, false, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

fn visit(upper: &Path, lowers: &[PathBuf], rel: &str, parent_added: bool, out: &mut Vec<FsChange>) {
    let path = upper.join(rel);
    let Ok(meta) = std::fs::symlink_metadata(&path) else { return };
    let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let absolute = |p: &str| format!("/{p}");
    if let Some(hidden) = name.strip_prefix(".wh.") {
        // `.wh..wh..opq` and `.wh..opq` mark a directory made opaque, not a deletion.
        if !hidden.starts_with(".wh.") && hidden != ".opq" {
            let deleted = if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") };
            out.push(FsChange { path: absolute(&deleted), kind: ChangeKind::Deleted });
        }
        return;
    }
    if meta.file_type().is_char_device() && meta.rdev() == 0 {
        out.push(FsChange { path: absolute(rel), kind: ChangeKind::Deleted });
        return;
    }
    let in_image = !parent_added && lowers.iter().any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok());
    if meta.is_dir() {
        // A directory of the image is listed through what changed in it.
        if !in_image {
            out.push(FsChange { path: absolute(rel), kind: ChangeKind::Added });
        }
        if let Ok(entries) = std::fs::read_dir(&path) {
            for entry in entries.flatten() {
                let child = format!("{rel}/{}", entry.file_name().to_string_lossy());
                visit(upper, lowers, &child, !in_image, out);
            }
        }
    } else {
        let kind = if in_image { ChangeKind::Modified } else { ChangeKind::Added };
        out.push(FsChange { path: absolute(rel), kind });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_reads_as_added_modified_and_deleted() {
        let root = tempfile::tempdir().unwrap();
        let (upper, lower) = (root.path().join("upper"), root.path().join("lower"));
        for dir in ["usr/bin", "etc"] {
            std::fs::create_dir_all(lower.join(dir)).unwrap();
            std::fs::create_dir_all(upper.join(dir)).unwrap();
        }
        for file in ["usr/bin/curl", "usr/bin/wbinfo", "usr/bin/ip"] {
            std::fs::write(lower.join(file), "image").unwrap();
        }
        std::fs::write(upper.join("usr/bin/curl"), "replaced").unwrap();
        std::fs::write(upper.join("usr/bin/.wh.wbinfo"), "").unwrap();
        std::fs::write(upper.join("usr/bin/.wh..wh..opq"), "").unwrap();
        std::fs::create_dir_all(upper.join("usr/lib/evil")).unwrap();
        std::fs::write(upper.join("usr/lib/evil/hook.so"), "x").unwrap();
        std::fs::write(upper.join("etc/ld.so.preload"), "/usr/lib/evil/hook.so").unwrap();
        std::fs::write(upper.join("etc/kea.conf"), "{}").unwrap();
        let roots = ["/usr/".to_string(), "/etc/ld.so.preload".to_string()];
        let found: Vec<(String, ChangeKind)> =
            changes(&upper, &[lower], &roots).into_iter().map(|c| (c.path, c.kind)).collect();
        let expect = |p: &str, k| (p.to_string(), k);
        assert_eq!(
            found,
            [
                expect("/etc/ld.so.preload", ChangeKind::Added),
                expect("/usr/bin/curl", ChangeKind::Modified),
                expect("/usr/bin/wbinfo", ChangeKind::Deleted),
                expect("/usr/lib", ChangeKind::Added),
                expect("/usr/lib/evil", ChangeKind::Added),
                expect("/usr/lib/evil/hook.so", ChangeKind::Added),
            ]
        );
    }
}
