//! The images under `images/`, with their content hashes.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Error, REPOSITORY, Result};

/// One image: its name, its context directory and its content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub name: String,
    pub dir: PathBuf,
    /// 12 hex digits of the SHA-256 of the context (and of the parent's hash).
    pub hash: String,
    /// `None` for `base`; `Some("base")` for role images.
    pub parent: Option<String>,
}

impl ImageSpec {
    /// `plateau/<name>:<hash>`: the immutable tag.
    pub fn tag(&self) -> String {
        format!("{REPOSITORY}/{}:{}", self.name, self.hash)
    }

    /// `plateau/<name>`: the name scenarios use (tagged `latest`).
    pub fn repository(&self) -> String {
        format!("{REPOSITORY}/{}", self.name)
    }
}

/// Every image of `images/`: `base` first, then the roles in name order.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub images: Vec<ImageSpec>,
    /// The `images/` directory.
    root: PathBuf,
}

/// The image that runs QEMU for every VM node.
pub const VM_RUNNER: &str = "qemu";

impl Catalog {
    pub fn load(images_dir: &Path) -> Result<Catalog> {
        let read_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| Error::Context { path, source }
        };
        let base_dir = images_dir.join("base");
        let base = ImageSpec {
            name: "base".into(),
            hash: context_hash(&base_dir, None).map_err(read_err(&base_dir))?,
            dir: base_dir,
            parent: None,
        };
        // (name, dir, parent): a role is built on `base` unless its
        // Dockerfile names another role (`# parent: workstation`).
        let mut pending = Vec::new();
        for entry in std::fs::read_dir(images_dir).map_err(read_err(images_dir))? {
            let dir = entry.map_err(read_err(images_dir))?.path();
            let dockerfile = dir.join("Dockerfile");
            if dockerfile.is_file() {
                let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&dockerfile).map_err(read_err(&dockerfile))?;
                let parent = text.lines().find_map(|l| l.strip_prefix("# parent:")).map(|p| p.trim().to_string());
                pending.push((name, dir, parent.unwrap_or_else(|| "base".into())));
            }
        }
        pending.sort_by(|a, b| a.0.cmp(&b.0));
        // Parents first: a role's hash covers its parent's.
        let mut images = vec![base];
        while !pending.is_empty() {
            let ready = pending.iter().position(|(_, _, parent)| images.iter().any(|i| &i.name == parent));
            let Some(ready) = ready else {
                let (name, _, parent) = &pending[0];
                return Err(Error::UnknownImage(format!("{parent} (the parent of {name})")));
            };
            let (name, dir, parent) = pending.remove(ready);
            let parent_hash = images.iter().find(|i| i.name == parent).map(|i| i.hash.clone()).unwrap_or_default();
            let hash = context_hash(&dir, Some(&parent_hash)).map_err(read_err(&dir))?;
            images.push(ImageSpec { name, dir, hash, parent: Some(parent) });
        }
        let (base, mut roles) = (images.remove(0), images);
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        // Still parents first, roles in name order otherwise.
        let mut ordered: Vec<ImageSpec> = vec![base];
        while !roles.is_empty() {
            let next =
                roles.iter().position(|r| ordered.iter().any(|i| Some(&i.name) == r.parent.as_ref())).unwrap_or(0);
            ordered.push(roles.remove(next));
        }
        Ok(Catalog { images: ordered, root: images_dir.to_path_buf() })
    }

    /// The VM image of a role (`vm-ROLE`): the role's image booted by the
    /// `qemu` image, from the `vm/` context. Its hash covers all three.
    pub fn vm(&self, role: &str) -> Result<ImageSpec> {
        let role_spec = self.get(role)?;
        let runner = self.get(VM_RUNNER)?;
        let dir = self.root.join("vm");
        let parents = format!("{}{}", role_spec.hash, runner.hash);
        let hash = context_hash(&dir, Some(&parents))
            .map_err(|source| Error::Context { path: dir.display().to_string(), source })?;
        Ok(ImageSpec { name: format!("vm-{role}"), dir, hash, parent: Some(role.to_string()) })
    }

    pub fn get(&self, name: &str) -> Result<&ImageSpec> {
        self.images.iter().find(|i| i.name == name).ok_or_else(|| Error::UnknownImage(name.to_string()))
    }

    /// The named images and their parents, parents first; all images when `names` is empty.
    pub fn with_parents(&self, names: &[String]) -> Result<Vec<&ImageSpec>> {
        if names.is_empty() {
            return Ok(self.images.iter().collect());
        }
        let mut wanted = Vec::new();
        for name in names {
            let mut spec = self.get(name)?;
            wanted.push(spec);
            while let Some(parent) = &spec.parent {
                spec = self.get(parent)?;
                wanted.push(spec);
            }
        }
        let mut ordered: Vec<&ImageSpec> = self.images.iter().filter(|i| wanted.contains(i)).collect();
        ordered.dedup();
        Ok(ordered)
    }
}

/// Files of a context, sorted, as (relative path, executable, bytes).
pub(crate) fn context_files(dir: &Path) -> std::io::Result<Vec<(String, bool, Vec<u8>)>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let rel = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                use std::os::unix::fs::PermissionsExt;
                let exec = meta.permissions().mode() & 0o111 != 0;
                files.push((rel, exec, std::fs::read(&path)?));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

fn context_hash(dir: &Path, parent: Option<&str>) -> std::io::Result<String> {
    let mut h = Sha256::new();
    h.update(parent.unwrap_or("").as_bytes());
    for (path, exec, bytes) in context_files(dir)? {
        h.update([0]);
        h.update(path.as_bytes());
        h.update([0, exec as u8, 0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let digest = h.finalize();
    Ok(digest.iter().take(6).map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_change_in_base_changes_every_role_hash_and_nothing_else_does() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "base/packages", "curl\n");
        write(root, "dhcp/Dockerfile", "FROM x\n");
        write(root, "router/Dockerfile", "FROM y\n");
        let before = Catalog::load(root).unwrap();
        assert_eq!(before.images.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["base", "dhcp", "router"]);
        assert_eq!(Catalog::load(root).unwrap().images, before.images, "hashes are stable");

        write(root, "router/extra.conf", "x");
        let after = Catalog::load(root).unwrap();
        assert_eq!(after.get("dhcp").unwrap().hash, before.get("dhcp").unwrap().hash);
        assert_ne!(after.get("router").unwrap().hash, before.get("router").unwrap().hash);

        write(root, "base/packages", "curl\nless\n");
        let rebased = Catalog::load(root).unwrap();
        assert_ne!(rebased.get("dhcp").unwrap().hash, after.get("dhcp").unwrap().hash);
    }

    #[test]
    fn asking_for_a_role_brings_its_parent_first() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "base/packages", "");
        write(tmp.path(), "dhcp/Dockerfile", "");
        let catalog = Catalog::load(tmp.path()).unwrap();
        let names: Vec<&str> =
            catalog.with_parents(&["dhcp".into()]).unwrap().iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["base", "dhcp"]);
        assert!(matches!(catalog.with_parents(&["nope".into()]), Err(Error::UnknownImage(_))));
    }

    #[test]
    fn a_role_built_on_another_comes_after_it_and_changes_with_it() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "base/packages", "");
        write(root, "a-desktop/Dockerfile", "# parent: workstation\nARG BASE\n");
        write(root, "dhcp/Dockerfile", "");
        write(root, "workstation/Dockerfile", "");
        let catalog = Catalog::load(root).unwrap();
        let names: Vec<&str> = catalog.images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["base", "dhcp", "workstation", "a-desktop"]);
        let wanted: Vec<&str> =
            catalog.with_parents(&["a-desktop".into()]).unwrap().iter().map(|i| i.name.as_str()).collect();
        assert_eq!(wanted, ["base", "workstation", "a-desktop"]);
        let before = catalog.get("a-desktop").unwrap().hash.clone();
        write(root, "workstation/x", "1");
        assert_ne!(Catalog::load(root).unwrap().get("a-desktop").unwrap().hash, before);
        write(root, "a-desktop/Dockerfile", "# parent: nothing\n");
        let err = Catalog::load(root).unwrap_err().to_string();
        assert!(err.contains("nothing (the parent of a-desktop)"), "{err}");
    }

    #[test]
    fn a_vm_image_changes_with_its_role_its_runner_and_its_own_context() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "base/packages", "");
        write(root, "dhcp/Dockerfile", "");
        write(root, "qemu/Dockerfile", "");
        write(root, "vm/guest.Dockerfile", "");
        let hash = || Catalog::load(root).unwrap().vm("dhcp").unwrap().hash;
        let first = hash();
        assert_eq!(Catalog::load(root).unwrap().vm("dhcp").unwrap().name, "vm-dhcp");
        assert!(!Catalog::load(root).unwrap().images.iter().any(|i| i.name == "vm"), "vm/ is not a role image");
        let mut seen = vec![first];
        for (file, text) in [("dhcp/x", "1"), ("qemu/x", "1"), ("vm/vm-init", "1")] {
            write(root, file, text);
            let next = hash();
            assert!(!seen.contains(&next), "{file} changed nothing");
            seen.push(next);
        }
    }
}
