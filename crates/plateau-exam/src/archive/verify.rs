//! Verifying an archive offline: every file hashed once, the seal, the
//! audit chain and the report bound to it, each snapshot file's images.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use plateau_state::{AuditEntry, hex};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{AUDIT, Finding, Hashing, MANIFEST, Manifest, SEAL, Verification, entry_name};
use crate::error::{Error, Result};

/// Every file of the bundle read once: hashed, and the small ones kept.
pub(super) fn verify_file(file: &Path, key: &[u8]) -> Result<Verification> {
    let mut archive = tar::Archive::new(std::fs::File::open(file).map_err(Error::io(file))?);
    let mut hashes: BTreeMap<String, String> = BTreeMap::new();
    let mut kept: BTreeMap<String, String> = BTreeMap::new();
    let mut saved_images: BTreeMap<String, Result<Vec<String>, String>> = BTreeMap::new();
    for entry in archive.entries().map_err(Error::io(file))? {
        let mut entry = entry.map_err(Error::io(file))?;
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let name = entry_name(&entry).map_err(Error::io(file))?;
        let mut reader = Hashing { inner: &mut entry, hasher: Sha256::new() };
        if name.starts_with("snapshots/") {
            saved_images.insert(name.clone(), image_names(&mut reader));
            std::io::copy(&mut reader, &mut std::io::sink()).map_err(Error::io(file))?;
        } else if [MANIFEST, SEAL, AUDIT].contains(&name.as_str()) || name == "report/report.json" {
            let mut text = String::new();
            reader.read_to_string(&mut text).map_err(Error::io(file))?;
            kept.insert(name.clone(), text);
        } else {
            std::io::copy(&mut reader, &mut std::io::sink()).map_err(Error::io(file))?;
        }
        hashes.insert(name, hex(&reader.hasher.finalize()));
    }
    Ok(check(&hashes, &kept, saved_images, key))
}

/// The images a `docker save` file names (its own `manifest.json`).
fn image_names(reader: &mut impl Read) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Saved {
        #[serde(rename = "RepoTags", default)]
        repo_tags: Vec<String>,
    }
    let mut inner = tar::Archive::new(reader);
    for entry in inner.entries().map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.path().map_err(|e| e.to_string())?.to_string_lossy() == "manifest.json" {
            let saved: Vec<Saved> = serde_json::from_reader(entry).map_err(|e| e.to_string())?;
            return Ok(saved.into_iter().flat_map(|s| s.repo_tags).collect());
        }
    }
    Err("no manifest.json in it".into())
}

fn check(
    hashes: &BTreeMap<String, String>,
    kept: &BTreeMap<String, String>,
    saved_images: BTreeMap<String, Result<Vec<String>, String>>,
    key: &[u8],
) -> Verification {
    let mut findings = Vec::new();
    let mut found = |what: &str, ok: bool, detail: String| findings.push(Finding { what: what.into(), ok, detail });
    let (Some(text), Some(seal)) = (kept.get(MANIFEST), kept.get(SEAL)) else {
        found("manifest", false, "no manifest.json and manifest.seal: not a Plateau archive".into());
        return Verification { manifest: None, findings };
    };
    let manifest: Manifest = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            found("manifest", false, format!("manifest.json: {e}"));
            return Verification { manifest: None, findings };
        }
    };
    let sealed = plateau_state::seal(key, text) == seal.trim();
    found(
        "seal",
        sealed,
        if sealed {
            "the manifest is sealed with this centre's audit key".into()
        } else {
            "the manifest's seal does not match: edited, or another centre's key".into()
        },
    );
    let mut files_ok = true;
    for (name, expected) in &manifest.files {
        match hashes.get(name) {
            Some(h) if h == expected => {}
            Some(_) => {
                files_ok = false;
                found("files", false, format!("{name}: its content differs from the manifest's hash"));
            }
            None => {
                files_ok = false;
                found("files", false, format!("{name}: missing"));
            }
        }
    }
    for name in hashes.keys().filter(|n| ![MANIFEST, SEAL].contains(&n.as_str()) && !manifest.files.contains_key(*n)) {
        files_ok = false;
        found("files", false, format!("{name}: not in the manifest"));
    }
    if files_ok {
        found("files", true, format!("{} files, each with the manifest's SHA-256", manifest.files.len()));
    }
    let log: Result<Vec<AuditEntry>, String> = kept
        .get(AUDIT)
        .map(|t| t.lines().map(|l| serde_json::from_str(l).map_err(|e| e.to_string())).collect())
        .unwrap_or_else(|| Err("audit.jsonl missing".into()));
    match log {
        Ok(log) => {
            let breaches = plateau_state::verify_chain(key, &manifest.session, &log);
            let head = log.last().map_or(plateau_state::GENESIS, |e| e.hash.as_str());
            let ok = breaches.is_empty() && head == manifest.audit_head;
            found(
                "audit",
                ok,
                if ok {
                    format!("{} entries, the chain verifies up to {head}", log.len())
                } else if !breaches.is_empty() {
                    format!("the chain does not verify: {breaches:?}")
                } else {
                    format!("the chain ends at {head}, the manifest names {}", manifest.audit_head)
                },
            );
            let report_head = kept
                .get("report/report.json")
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
                .and_then(|r| r["audit_head"].as_str().map(str::to_string));
            let bound = report_head.as_ref().is_some_and(|h| log.iter().any(|e| &e.hash == h));
            found(
                "report",
                bound,
                match report_head {
                    Some(h) if bound => format!("the report is bound to the chain (head {h})"),
                    Some(h) => format!("the report names {h}, which is not in the chain"),
                    None => "report/report.json is missing or names no audit head".into(),
                },
            );
        }
        Err(e) => found("audit", false, e),
    }
    let (saved, wrong) = snapshots_found(&manifest, &saved_images);
    match wrong.is_empty() {
        true => found("snapshots", true, format!("{saved} images, every candidate's frozen nodes among them")),
        false => found("snapshots", false, wrong.join("; ")),
    }
    Verification { manifest: Some(manifest), findings }
}

/// How many images the snapshot files hold, and what is wrong with them:
/// a file the manifest names missing or unreadable, an image it lists (for
/// the file, or for a candidate) not in it. (A file it does not name is
/// the files check's finding.)
fn snapshots_found(manifest: &Manifest, saved: &BTreeMap<String, Result<Vec<String>, String>>) -> (usize, Vec<String>) {
    let mut wrong = Vec::new();
    let mut count = 0;
    let listed = manifest.snapshots.iter();
    let per_candidate = manifest.candidates.iter().map(|c| (&c.part, &c.snapshots));
    for (part, images) in listed.chain(per_candidate) {
        match saved.get(part) {
            Some(Ok(held)) => {
                let missing: Vec<&String> = images.iter().filter(|i| !held.contains(i)).collect();
                if !missing.is_empty() {
                    wrong.push(format!("not in {part}: {missing:?}"));
                }
            }
            Some(Err(e)) => wrong.push(format!("{part}: {e}")),
            None => wrong.push(format!("{part} missing")),
        }
    }
    for held in saved.values() {
        count += held.as_ref().map_or(0, Vec::len);
    }
    wrong.dedup();
    (count, wrong)
}

#[cfg(test)]
mod tests {
    use super::super::{ArchivedCandidate, FORMAT, snapshot_part};
    use super::*;
    use serde_json::json;

    /// A one-candidate archive as `verify_file` reads it (hashes, the small
    /// files kept, the images its snapshot file names), after `edit`; what
    /// `check` finds, one word per finding.
    fn check_with(edit: impl FnOnce(&mut BTreeMap<String, String>, &mut Vec<String>, &mut Vec<u8>)) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let store = plateau_state::Store::open(&dir.path().join("s.db")).unwrap();
        let head = store.audit("s", "jury", "report", &json!({})).unwrap();
        let mut key = store.audit_key().unwrap();
        let audit = serde_json::to_string(&store.audit_log("s").unwrap()[0]).unwrap() + "\n";
        let report = json!({ "audit_head": head }).to_string();
        let image = "plateau-snapshot/s-c01-ws:freeze-1".to_string();
        let mut hashes: BTreeMap<String, String> = BTreeMap::from([
            (AUDIT.to_string(), plateau_state::sha256(&audit)),
            ("report/report.json".to_string(), plateau_state::sha256(&report)),
            (snapshot_part("here"), "aa".to_string()),
        ]);
        let manifest = Manifest {
            format: FORMAT,
            session: "s".into(),
            scenario_hash: "h".into(),
            created_at: "t".into(),
            audit_head: head,
            candidates: vec![ArchivedCandidate {
                id: "c01".into(),
                tag: "freeze-1".into(),
                snapshots: vec![image.clone()],
                part: snapshot_part("here"),
            }],
            snapshots: BTreeMap::from([(snapshot_part("here"), vec![image.clone()])]),
            files: hashes.clone(),
        };
        let text = serde_json::to_string(&manifest).unwrap();
        let kept = BTreeMap::from([
            (SEAL.to_string(), plateau_state::seal(&key, &text)),
            (MANIFEST.to_string(), text),
            (AUDIT.to_string(), audit),
            ("report/report.json".to_string(), report),
        ]);
        let mut images = vec![image];
        edit(&mut hashes, &mut images, &mut key);
        let verification = check(&hashes, &kept, BTreeMap::from([(snapshot_part("here"), Ok(images))]), &key);
        verification.findings.iter().map(|f| format!("{} {}", if f.ok { "ok" } else { "FAIL" }, f.what)).collect()
    }

    #[test]
    fn an_archive_verifies_only_as_it_was_written_and_with_the_centres_key() {
        let files_wrong = ["ok seal", "FAIL files", "ok audit", "ok report", "ok snapshots"];
        assert_eq!(check_with(|_, _, _| {}), ["ok seal", "ok files", "ok audit", "ok report", "ok snapshots"]);
        let edited = check_with(|hashes, _, _| *hashes.get_mut("report/report.json").unwrap() = "bb".into());
        assert_eq!(edited, files_wrong);
        let added = check_with(|hashes, _, _| {
            hashes.insert("report/grille-c01.html".into(), "cc".into());
        });
        assert_eq!(added, files_wrong);
        let removed = check_with(|hashes, _, _| {
            hashes.remove(&snapshot_part("here"));
        });
        assert_eq!(removed, files_wrong);
        let no_image = check_with(|_, images, _| images.clear());
        assert_eq!(no_image, ["ok seal", "ok files", "ok audit", "ok report", "FAIL snapshots"]);
        let other_centre = check_with(|_, _, key| *key = b"another-key".to_vec());
        assert_eq!(other_centre, ["FAIL seal", "ok files", "FAIL audit", "ok report", "ok snapshots"]);
    }
}
