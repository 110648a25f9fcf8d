//! The appeals archive: one file per session that holds what an appeal
//! needs after the platforms and their snapshots are gone (the frozen
//! nodes as images, the report and grids, the audit chain, the plans), that
//! anyone with the centre's audit key verifies offline, and from which one
//! candidate's frozen platform is brought back and graded again.
//!
//! The bundle is a plain tar: `manifest.json` (every other file's SHA-256,
//! the audit head, the snapshots per candidate), `manifest.seal` (its
//! HMAC under the audit key), `snapshots/ENGINE.tar` (`docker save` of the
//! session's snapshot images on each engine it ran on), `audit.jsonl`,
//! `session.json`, `report/…`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use plateau_scenario::CandidatePlan;
use plateau_state::hex;
use plateau_state::{CandidateRecord, SessionRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::context::{SessionCtx, Workspace};
use crate::error::{Error, Result, refuse};
use crate::progress::Progress;

mod verify;
use verify::verify_file;

const FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";
const SEAL: &str = "manifest.seal";
const AUDIT: &str = "audit.jsonl";
const SESSION: &str = "session.json";

/// The bundle's file holding the snapshot images saved from one engine.
fn snapshot_part(engine: &str) -> String {
    format!("snapshots/{engine}.tar")
}

/// What an archive says it holds; sealed with the audit key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub session: String,
    pub scenario_hash: String,
    pub created_at: String,
    /// The audit chain's last hash when archived (`audit.jsonl` ends there).
    pub audit_head: String,
    pub candidates: Vec<ArchivedCandidate>,
    /// Each snapshot file of the bundle, and the images saved in it.
    pub snapshots: BTreeMap<String, Vec<String>>,
    /// Every other file of the bundle and its SHA-256.
    pub files: BTreeMap<String, String>,
}

/// One candidate's frozen state in an archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchivedCandidate {
    pub id: String,
    /// The last freeze's tag, and its snapshot images.
    pub tag: String,
    pub snapshots: Vec<String>,
    /// The bundle's file that holds them (one per engine).
    pub part: String,
}

/// The session's own records, as `up` stored them (`down` removes them).
#[derive(Serialize, Deserialize)]
struct ArchivedSession {
    name: String,
    scenario_file: String,
    scenario_hash: String,
    seed: String,
    scenario_text: String,
    candidates: Vec<(String, u16, CandidatePlan)>,
}

/// What `archive` did.
#[derive(Debug)]
pub struct Archived {
    pub file: PathBuf,
    pub bytes: u64,
    pub manifest_sha256: String,
    pub snapshots: usize,
    /// Snapshot images removed from the engine now; the rest (a platform
    /// still re-created from them) go with `down`.
    pub removed: usize,
    pub deferred: usize,
}

/// One thing `verify` checked, and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

/// What verifying an archive found.
#[derive(Debug, Serialize)]
pub struct Verification {
    pub manifest: Option<Manifest>,
    pub findings: Vec<Finding>,
}

impl Verification {
    pub fn intact(&self) -> bool {
        self.manifest.is_some() && self.findings.iter().all(|f| f.ok)
    }
}

/// What restoring one candidate from an archive gave.
#[derive(Debug)]
pub struct Restored {
    pub candidate: String,
    /// The grade of record before, and the grade of the restored platform.
    pub before: Option<(f64, u32)>,
    pub after: crate::CandidateGrade,
}

impl SessionCtx {
    /// Write the session's archive (every candidate frozen first), verify
    /// it as written, then remove the session's snapshots from its engines:
    /// now on an engine none of whose containers uses them, else with `down`.
    pub async fn archive(&self, out: Option<PathBuf>, progress: &dyn Progress) -> Result<Archived> {
        let candidates = self.candidates()?;
        let mut archived = Vec::new();
        for c in &candidates {
            if !self.is_frozen(&c.id)? {
                refuse!("{} is not frozen: archive a session once its exam is over (`plateau exam freeze`)", c.id);
            }
            let frozen = self.frozen_state(&c.id)?;
            archived.push(ArchivedCandidate {
                id: c.id.clone(),
                tag: frozen.tag,
                snapshots: frozen.snapshots,
                part: snapshot_part(&c.engine),
            });
        }
        let file = out.unwrap_or_else(|| self.session_dir().join(format!("{}.archive.tar", self.name())));
        let parent = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        plateau_state::private::create_dir(&parent).map_err(Error::io(&parent))?;
        let staging = tempfile::tempdir_in(&parent).map_err(Error::io(&parent))?;
        let dir = staging.path();

        progress.note("writing the report and grids".into());
        let report = self.report(None)?;
        self.write_report(&report, Some(dir.join("report")), &[])?;
        // One file per engine: the images an engine saves share their base
        // layers, which a file per candidate would hold again each time.
        let mut engines = Vec::new();
        let mut snapshots = BTreeMap::new();
        plateau_state::private::create_dir(&dir.join("snapshots")).map_err(Error::io(dir))?;
        for id in self.engine_ids()? {
            progress.note(format!("saving the snapshots through engine `{id}`"));
            let engine = self.engine_on(&id).await?;
            let part = snapshot_part(&id);
            let saved = engine.save_snapshots(self.name(), &dir.join(&part)).await?;
            for c in archived.iter().filter(|c| c.part == part) {
                if let Some(missing) = c.snapshots.iter().find(|s| !saved.contains(s)) {
                    refuse!("{}'s snapshot {missing} is not on engine `{id}`: it cannot be archived", c.id);
                }
            }
            snapshots.insert(part, saved);
            engines.push(engine);
        }
        let log = self.db().audit_log(self.name())?;
        let audit: String = log.iter().map(|e| serde_json::to_string(e).expect("an entry serializes") + "\n").collect();
        write(&dir.join(AUDIT), audit.as_bytes())?;
        let session = ArchivedSession {
            name: self.record.name.clone(),
            scenario_file: self.record.scenario_file.clone(),
            scenario_hash: self.record.scenario_hash.clone(),
            seed: self.record.seed.clone(),
            scenario_text: self.record.scenario_text.clone(),
            candidates: candidates.iter().map(|c| (c.id.clone(), c.ssh_port, c.plan.clone())).collect(),
        };
        write(&dir.join(SESSION), serde_json::to_string_pretty(&session).expect("serializes").as_bytes())?;

        let mut files = BTreeMap::new();
        for path in files_under(dir)? {
            let name = path.strip_prefix(dir).expect("under the staging folder").to_string_lossy().into_owned();
            files.insert(name, sha256_file(&path)?);
        }
        let manifest = Manifest {
            format: FORMAT,
            session: self.name().to_string(),
            scenario_hash: self.record.scenario_hash.clone(),
            created_at: plateau_results::now_rfc3339(),
            audit_head: log.last().map_or_else(|| plateau_state::GENESIS.into(), |e| e.hash.clone()),
            candidates: archived,
            snapshots: snapshots.clone(),
            files,
        };
        let manifest_text = serde_json::to_string_pretty(&manifest).expect("serializes");
        let key = self.db().audit_key()?;
        write(&dir.join(MANIFEST), manifest_text.as_bytes())?;
        write(&dir.join(SEAL), plateau_state::seal(&key, &manifest_text).as_bytes())?;

        // Written beside its place, then renamed: an interrupted archive
        // leaves no half file under the archive's name.
        let partial = parent.join(format!(".{}.partial", file.file_name().unwrap_or_default().to_string_lossy()));
        bundle(dir, &partial)?;
        let verified = verify_file(&partial, &key)?;
        if let Some(wrong) = verified.findings.iter().find(|f| !f.ok) {
            let _ = std::fs::remove_file(&partial);
            refuse!("the archive did not verify as written ({}: {}); nothing was removed", wrong.what, wrong.detail);
        }
        std::fs::rename(&partial, &file).map_err(Error::io(&file))?;
        let bytes = std::fs::metadata(&file).map_err(Error::io(&file))?.len();
        let manifest_sha256 = plateau_state::sha256(&manifest_text);

        // Snapshots a re-created platform still runs on stay until `down`.
        let (mut removed, mut deferred) = (0, 0);
        for (engine, saved) in engines.iter().zip(snapshots.values()) {
            if engine.status(self.name(), None).await?.is_empty() {
                removed += engine.remove_snapshots(self.name()).await?;
            } else {
                deferred += saved.len();
            }
        }
        let count = snapshots.values().map(Vec::len).sum();
        self.audit(
            "archive",
            json!({
                "file": file.display().to_string(), "bytes": bytes, "manifest_sha256": manifest_sha256,
                "audit_head": manifest.audit_head, "snapshots": count, "removed": removed,
            }),
        )?;
        Ok(Archived { file, bytes, manifest_sha256, snapshots: count, removed, deferred })
    }
}

impl Workspace {
    /// Verify an archive offline: its seal under the centre's audit key
    /// (`key`, else the one beside the database), every file's hash, the
    /// audit chain up to the head it names, the report bound to that chain,
    /// and the snapshot images it lists present in `snapshots.tar`.
    pub fn verify_archive(&self, file: &Path, key: Option<&Path>) -> Result<Verification> {
        let key = match key {
            Some(path) => plateau_state::read_audit_key(path)?,
            None => plateau_state::read_audit_key(&self.store()?.audit_key_path())?,
        };
        verify_file(file, &key)
    }

    /// Bring one candidate's frozen platform back from an archive (after
    /// `down`, or on another engine) and grade it again as of record, beside
    /// the grade of record it had. The session's records come back from the
    /// archive when `down` removed them, its platforms placed on `engine`
    /// (the site's first without one); the archive must verify first.
    pub async fn restore_archive(
        &self,
        file: &Path,
        candidate: &str,
        engine: Option<&str>,
        key: Option<&Path>,
        progress: &dyn Progress,
    ) -> Result<Restored> {
        let verification = self.verify_archive(file, key)?;
        let Some(manifest) = verification.manifest.as_ref().filter(|_| verification.intact()) else {
            let wrong = verification.findings.iter().find(|f| !f.ok).map(|f| format!("{}: {}", f.what, f.detail));
            refuse!("{} does not verify ({}): not restored", file.display(), wrong.unwrap_or_default());
        };
        let Some(archived) = manifest.candidates.iter().find(|c| c.id == candidate) else {
            refuse!("{candidate} is not in the archive of session `{}`", manifest.session);
        };
        let staging = tempfile::tempdir_in(self.state.parent().unwrap_or(Path::new("."))).map_err(Error::io(file))?;
        extract(file, staging.path(), &[SESSION, &archived.part])?;
        let text = std::fs::read_to_string(staging.path().join(SESSION)).map_err(Error::io(file))?;
        let session: ArchivedSession = serde_json::from_str(&text)
            .map_err(|e| Error::Refused(format!("{}: session.json: {e}", file.display())))?;
        let store = self.store()?;
        match store.session(&session.name) {
            Ok(recorded) if recorded.scenario_hash != session.scenario_hash => refuse!(
                "session `{}` in the database ran another scenario than the archive's: not restored over it",
                session.name
            ),
            Ok(_) => {
                let placed = store.candidates(&session.name)?.into_iter().find(|c| c.id == candidate);
                if let (Some(wanted), Some(placed)) = (engine, &placed)
                    && placed.engine != wanted
                {
                    refuse!(
                        "session `{}` is still up, {candidate} on engine `{}`: restored there, or on `{wanted}` \
                         after `plateau down --session {}`",
                        session.name,
                        placed.engine,
                        session.name
                    );
                }
            }
            Err(_) => {
                store.ensure_session(&SessionRecord {
                    name: session.name.clone(),
                    scenario_file: session.scenario_file.clone(),
                    scenario_hash: session.scenario_hash.clone(),
                    seed: session.seed.clone(),
                    scenario_text: session.scenario_text.clone(),
                })?;
                let engine = match engine {
                    Some(id) if self.site.engines.iter().any(|e| e.id == id) => id.to_string(),
                    Some(id) => refuse!("engine `{id}` is not in the site file"),
                    None => self.site.engines[0].id.clone(),
                };
                for (id, ssh_port, plan) in &session.candidates {
                    store.put_candidate(
                        &session.name,
                        &CandidateRecord {
                            id: id.clone(),
                            ssh_port: *ssh_port,
                            plan: plan.clone(),
                            engine: engine.clone(),
                        },
                    )?;
                }
            }
        }
        let ctx = self.session(&session.name)?;
        let before = ctx.grade_of_record(candidate)?.map(|g| (g.score, g.max_score));
        let engine = ctx.engine_of(candidate).await?;
        progress.note(format!("loading {} snapshot images into engine `{}`", archived.snapshots.len(), engine.id()));
        engine.load_images(&staging.path().join(&archived.part)).await?;
        ctx.audit("archive.restore", json!({ "file": file.display().to_string(), "candidate": candidate }))?;
        let reason = format!("recours : plateforme restaurée depuis l'archive {}", file.display());
        let after = ctx.regrade(candidate, &reason, progress).await?;
        Ok(Restored { candidate: candidate.to_string(), before, after })
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    plateau_state::private::write(path, bytes).map_err(Error::io(path))
}

fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io(dir))? {
        let path = entry.map_err(Error::io(dir))?.path();
        if path.is_dir() { files.extend(files_under(&path)?) } else { files.push(path) }
    }
    files.sort();
    Ok(files)
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut hasher = Hashing { inner: &mut file, hasher: Sha256::new() };
    std::io::copy(&mut hasher, &mut std::io::sink()).map_err(Error::io(path))?;
    Ok(hex(&hasher.hasher.finalize()))
}

/// The staging folder as one tar, the manifest first, synced to disk.
fn bundle(dir: &Path, to: &Path) -> Result<()> {
    let file = std::fs::File::create(to).map_err(Error::io(to))?;
    let mut tar = tar::Builder::new(file);
    let mut names: Vec<PathBuf> = files_under(dir)?;
    names.sort_by_key(|p| (p.file_name() != Some(MANIFEST.as_ref()), p.clone()));
    for path in names {
        let name = path.strip_prefix(dir).expect("under the staging folder");
        tar.append_path_with_name(&path, name).map_err(Error::io(to))?;
    }
    let file = tar.into_inner().map_err(Error::io(to))?;
    file.sync_all().map_err(Error::io(to))
}

fn extract(file: &Path, to: &Path, names: &[&str]) -> Result<()> {
    let mut archive = tar::Archive::new(std::fs::File::open(file).map_err(Error::io(file))?);
    for entry in archive.entries().map_err(Error::io(file))? {
        let mut entry = entry.map_err(Error::io(file))?;
        let name = entry_name(&entry).map_err(Error::io(file))?;
        if names.contains(&name.as_str()) {
            let to = to.join(&name);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
            }
            entry.unpack(to).map_err(Error::io(file))?;
        }
    }
    Ok(())
}

/// An entry's path as the manifest names it (`tar -C dir -cf f .` writes `./x`).
fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> std::io::Result<String> {
    Ok(entry.path()?.to_string_lossy().trim_start_matches("./").to_string())
}

/// A reader that hashes what passes through it.
struct Hashing<'a, R: Read> {
    inner: &'a mut R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
