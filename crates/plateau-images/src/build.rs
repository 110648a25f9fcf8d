//! Building images through the engine API (bollard).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use bollard::Docker;
use bollard::query_parameters::{
    BuildImageOptions, CreateImageOptions, ListImagesOptions, RemoveImageOptions, TagImageOptions,
};
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::catalog::{Catalog, ImageSpec, context_files};
use crate::{Error, LABEL_HASH, LABEL_ROLE, Result};

/// Debian release of every image.
const SUITE: &str = "bookworm";

/// Images built at once: a build mostly waits on the package mirror, the
/// disk and one core; two keep a 2-core engine busy.
const BUILDS_AT_ONCE: usize = 2;

/// What a build reports as it goes.
#[derive(Debug, Clone)]
pub enum BuildEvent<'a> {
    /// The image with this content hash exists already.
    UpToDate {
        image: &'a str,
        tag: &'a str,
    },
    Started {
        image: &'a str,
        tag: &'a str,
    },
    Output {
        image: &'a str,
        line: &'a str,
    },
    Finished {
        image: &'a str,
        tag: &'a str,
        seconds: f64,
    },
}

#[derive(Debug, Clone)]
pub struct BuildOutcome {
    pub image: String,
    pub tag: String,
    pub rebuilt: bool,
    pub seconds: f64,
    pub size_bytes: u64,
}

/// Whether an image of the catalog is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageState {
    /// Built at its current content hash.
    Current {
        size_bytes: u64,
    },
    /// Built, but only at older hashes: its context changed since.
    Stale {
        tags: Vec<String>,
    },
    Missing,
}

pub struct Builder {
    pub(crate) docker: Docker,
    pub(crate) catalog: Catalog,
    mirror: String,
}

impl Builder {
    /// Connect to the local engine, agreeing on an API version it speaks.
    pub async fn connect(catalog: Catalog) -> Result<Builder> {
        let docker = Docker::connect_with_local_defaults().map_err(|e| Error::Engine(e.to_string()))?;
        let docker = docker.negotiate_version().await.map_err(|e| Error::Engine(e.to_string()))?;
        docker.ping().await.map_err(|e| Error::Engine(e.to_string()))?;
        let mirror =
            std::env::var("PLATEAU_DEBIAN_MIRROR").unwrap_or_else(|_| "http://deb.debian.org/debian".to_string());
        Ok(Builder { docker, catalog, mirror })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub async fn state(&self, spec: &ImageSpec) -> Result<ImageState> {
        if let Ok(image) = self.docker.inspect_image(&spec.tag()).await {
            return Ok(ImageState::Current { size_bytes: image.size.unwrap_or(0).max(0) as u64 });
        }
        let tags = self.older_builds(spec).await?;
        Ok(if tags.is_empty() { ImageState::Missing } else { ImageState::Stale { tags } })
    }

    /// Tags of this image built from other contexts than today's.
    async fn older_builds(&self, spec: &ImageSpec) -> Result<Vec<String>> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL_ROLE}={}", spec.name)])]);
        let images = self
            .docker
            .list_images(Some(ListImagesOptions { filters: Some(filters), ..Default::default() }))
            .await
            .map_err(|e| Error::Engine(e.to_string()))?;
        let current = spec.tag();
        Ok(images.into_iter().flat_map(|i| i.repo_tags).filter(|t| !t.ends_with(":latest") && *t != current).collect())
    }

    /// The catalogue's images, and the VM image of each role that was built
    /// as one (`images build --vm`), current or stale: what `images list`
    /// shows and `images prune` may clean. A centre's imported disks are
    /// not derived from a context and are not among them.
    pub async fn known(&self) -> Result<Vec<ImageSpec>> {
        let mut specs = self.catalog.images.clone();
        for vm in self.vm_specs() {
            if !matches!(self.state(&vm).await?, ImageState::Missing) {
                specs.push(vm);
            }
        }
        Ok(specs)
    }

    /// The VM image each role would have, built or not.
    fn vm_specs(&self) -> Vec<ImageSpec> {
        self.catalog.images.iter().filter_map(|role| self.catalog.vm(&role.name).ok()).collect()
    }

    /// Build the named images (all when empty) and their parents, skipping
    /// every image whose content hash is already built.
    /// Images whose parent is built go `BUILDS_AT_ONCE` at a time.
    pub async fn build(&self, names: &[String], on_event: &mut dyn FnMut(BuildEvent<'_>)) -> Result<Vec<BuildOutcome>> {
        use futures_util::stream::FuturesUnordered;
        let mut pending = self.catalog.with_parents(names)?;
        let mut unfinished: Vec<String> = pending.iter().map(|s| s.name.clone()).collect();
        let events = std::sync::Mutex::new(on_event);
        let mut running = FuturesUnordered::new();
        let mut outcomes = Vec::new();
        loop {
            while running.len() < BUILDS_AT_ONCE {
                let ready = pending.iter().position(|s| s.parent.as_ref().is_none_or(|p| !unfinished.contains(p)));
                let Some(ready) = ready else { break };
                running.push(self.build_one(pending.remove(ready), &events));
            }
            let Some(outcome) = running.next().await else { break };
            let outcome = outcome?;
            unfinished.retain(|name| name != &outcome.image);
            outcomes.push(outcome);
        }
        // In the catalogue's order, whichever finished first.
        outcomes.sort_by_key(|o| self.catalog.images.iter().position(|i| i.name == o.image));
        Ok(outcomes)
    }

    async fn build_one(
        &self,
        spec: &ImageSpec,
        events: &std::sync::Mutex<&mut dyn FnMut(BuildEvent<'_>)>,
    ) -> Result<BuildOutcome> {
        let mut on_event = |event: BuildEvent<'_>| (events.lock().unwrap_or_else(|p| p.into_inner()))(event);
        let started = Instant::now();
        let rebuild = self.needs_build(spec, &mut on_event).await?;
        if rebuild {
            match &spec.parent {
                None => self.build_base(spec, &mut on_event).await?,
                Some(parent) => self.build_role(spec, &self.catalog.get(parent)?.tag(), &mut on_event).await?,
            }
        }
        self.built(spec, started, rebuild, &mut on_event).await
    }

    /// Whether `spec` must be built (its content hash is not): says which.
    pub(crate) async fn needs_build(&self, spec: &ImageSpec, on_event: &mut dyn FnMut(BuildEvent<'_>)) -> Result<bool> {
        let tag = spec.tag();
        let current = matches!(self.state(spec).await?, ImageState::Current { .. });
        on_event(if current {
            BuildEvent::UpToDate { image: &spec.name, tag: &tag }
        } else {
            BuildEvent::Started { image: &spec.name, tag: &tag }
        });
        Ok(!current)
    }

    /// After `spec` was built (or found): tagged `latest`, its outcome.
    pub(crate) async fn built(
        &self,
        spec: &ImageSpec,
        started: Instant,
        rebuilt: bool,
        on_event: &mut dyn FnMut(BuildEvent<'_>),
    ) -> Result<BuildOutcome> {
        let tag = spec.tag();
        self.tag_latest(spec).await?;
        let seconds = started.elapsed().as_secs_f64();
        if rebuilt {
            on_event(BuildEvent::Finished { image: &spec.name, tag: &tag, seconds });
        }
        let size_bytes = match self.state(spec).await? {
            ImageState::Current { size_bytes } => size_bytes,
            _ => 0,
        };
        Ok(BuildOutcome { image: spec.name.clone(), tag, rebuilt, seconds, size_bytes })
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn docker_build(
        &self,
        image: &str,
        tag: &str,
        dockerfile: &str,
        arg: (&str, &str),
        context: Context,
        labels: &[(&str, &str)],
        on_event: &mut dyn FnMut(BuildEvent<'_>),
    ) -> Result<()> {
        let failed = |message: String| Error::Build { image: image.to_string(), message };
        let mut tar = None;
        let body = match context {
            Context::Archive(bytes) => bollard::body_full(bytes),
            // A disk image is large: streamed from `tar`, never held in memory.
            Context::Dir(dir) => {
                let mut child = tokio::process::Command::new("tar")
                    .arg("-C")
                    .arg(&dir)
                    .args(["-cf", "-", "."])
                    .stdout(Stdio::piped())
                    .spawn()
                    .map_err(|e| failed(format!("tar: {e}")))?;
                let stdout = child.stdout.take().expect("piped stdout");
                tar = Some(child);
                bollard::body_stream(
                    tokio_util::io::ReaderStream::with_capacity(stdout, 1 << 20)
                        .filter_map(|chunk| async move { chunk.ok() }),
                )
            }
        };
        let options = BuildImageOptions {
            dockerfile: dockerfile.into(),
            t: Some(tag.to_string()),
            buildargs: Some(HashMap::from([(arg.0.to_string(), arg.1.to_string())])),
            labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            rm: true,
            forcerm: true,
            ..Default::default()
        };
        let mut stream = self.docker.build_image(options, None, Some(body));
        let mut tail: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| failed(with_tail(e.to_string(), &tail)))?;
            if let Some(error) = info.error {
                return Err(failed(with_tail(error, &tail)));
            }
            for line in info.stream.iter().flat_map(|s| s.lines()).filter(|l| !l.trim().is_empty()) {
                on_event(BuildEvent::Output { image, line });
                tail.push(line.to_string());
                if tail.len() > 15 {
                    tail.remove(0);
                }
            }
        }
        if let Some(mut tar) = tar {
            let status = tar.wait().await.map_err(|e| failed(format!("tar: {e}")))?;
            if !status.success() {
                return Err(failed(format!("tar exited with {status}")));
            }
        }
        Ok(())
    }

    pub(crate) async fn tag_latest(&self, spec: &ImageSpec) -> Result<()> {
        let options = TagImageOptions { repo: Some(spec.repository()), tag: Some("latest".into()) };
        self.docker
            .tag_image(&spec.tag(), Some(options))
            .await
            .map_err(|e| Error::Build { image: spec.name.clone(), message: format!("tagging latest: {e}") })
    }

    /// Remove every older build of the catalogue's images and of their VM images.
    pub async fn prune_stale(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        // Older builds only: no need to know first which VM images exist.
        for spec in self.catalog.images.iter().cloned().chain(self.vm_specs()) {
            for tag in self.older_builds(&spec).await? {
                let options = RemoveImageOptions { force: false, noprune: false };
                if self.docker.remove_image(&tag, Some(options), None).await.is_ok() {
                    removed.push(tag);
                }
            }
        }
        Ok(removed)
    }

    /// debootstrap a minimal Debian on the host, add the overlay, import it.
    async fn build_base(&self, spec: &ImageSpec, on_event: &mut dyn FnMut(BuildEvent<'_>)) -> Result<()> {
        let debootstrap =
            which("debootstrap").ok_or(Error::MissingTool { tool: "debootstrap", package: "debootstrap" })?;
        let packages = std::fs::read_to_string(spec.dir.join("packages"))
            .map_err(|source| Error::Context { path: spec.dir.join("packages").display().to_string(), source })?;
        let include: Vec<&str> =
            packages.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
        let work = tempfile_dir()?;
        let rootfs = work.join("rootfs");
        let mut cmd = tokio::process::Command::new(debootstrap);
        cmd.args(["--variant=minbase", &format!("--include={}", include.join(",")), SUITE])
            .arg(&rootfs)
            .arg(&self.mirror);
        run_streaming(cmd, &spec.name, on_event).await.map_err(Error::Rootfs)?;

        let overlay = spec.dir.join("overlay");
        if overlay.is_dir() {
            let mut cp = tokio::process::Command::new("cp");
            cp.arg("-a").arg(format!("{}/.", overlay.display())).arg(&rootfs);
            run_streaming(cp, &spec.name, on_event).await.map_err(Error::Rootfs)?;
        }
        // No SSH host key in any image: the package made them, so every node
        // of every candidate would share one. `start.d/10-ssh` makes a node's
        // own keys at its first start.
        if let Ok(entries) = std::fs::read_dir(rootfs.join("etc/ssh")) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with("ssh_host_") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        // Leaner image: no downloaded .debs; apt lists are kept so roles can install.
        let _ = std::fs::remove_dir_all(rootfs.join("var/cache/apt/archives"));
        let _ = std::fs::create_dir_all(rootfs.join("var/cache/apt/archives/partial"));

        on_event(BuildEvent::Output { image: &spec.name, line: "importing the rootfs into the engine" });
        let mut tar = tokio::process::Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .args(["--numeric-owner", "-cf", "-", "."])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Rootfs(format!("tar: {e}")))?;
        let stdout = tar.stdout.take().expect("piped stdout");
        // A read error ends the stream early; tar's exit status below reports it.
        let body =
            tokio_util::io::ReaderStream::with_capacity(stdout, 1 << 20).filter_map(|chunk| async move { chunk.ok() });
        let options = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(spec.repository()),
            tag: Some(spec.hash.clone()),
            changes: vec![
                format!("LABEL {LABEL_ROLE}=base"),
                format!("LABEL {LABEL_HASH}={}", spec.hash),
                "ENV LANG=C.UTF-8".into(),
                r#"CMD ["/usr/local/sbin/plateau-init"]"#.into(),
            ],
            ..Default::default()
        };
        let mut stream = self.docker.create_image(Some(options), Some(bollard::body_stream(body)), None);
        while let Some(item) = stream.next().await {
            item.map_err(|e| Error::Build { image: spec.name.clone(), message: e.to_string() })?;
        }
        let status = tar.wait().await.map_err(|e| Error::Rootfs(format!("tar: {e}")))?;
        if !status.success() {
            return Err(Error::Rootfs(format!("tar exited with {status}")));
        }
        let _ = std::fs::remove_dir_all(&work);
        Ok(())
    }

    async fn build_role(&self, spec: &ImageSpec, base: &str, on_event: &mut dyn FnMut(BuildEvent<'_>)) -> Result<()> {
        let context = context_tar(&spec.dir)?;
        let labels = [(LABEL_ROLE, spec.name.as_str()), (LABEL_HASH, spec.hash.as_str())];
        self.docker_build(
            &spec.name,
            &spec.tag(),
            "Dockerfile",
            ("BASE", base),
            Context::Archive(context.into()),
            &labels,
            on_event,
        )
        .await
    }
}

fn with_tail(message: String, tail: &[String]) -> String {
    if tail.is_empty() { message } else { format!("{message}\n--- last build output ---\n{}", tail.join("\n")) }
}

/// The build context as a tar archive (contexts are small: config files and a Dockerfile).
pub(crate) fn context_tar(dir: &Path) -> Result<Vec<u8>> {
    let err = |source| Error::Context { path: dir.display().to_string(), source };
    let mut archive = tar::Builder::new(Vec::new());
    for (path, exec, bytes) in context_files(dir).map_err(err)? {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(if exec { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_cksum();
        archive.append_data(&mut header, &path, bytes.as_slice()).map_err(err)?;
    }
    archive.into_inner().map_err(err)
}

/// What a build sends the engine as its context.
pub(crate) enum Context {
    /// A small context, archived in memory.
    Archive(bytes::Bytes),
    /// A directory, streamed by `tar`.
    Dir(std::path::PathBuf),
}

/// Run a host command, forwarding its output lines; the error carries the last lines.
pub(crate) async fn run_streaming(
    mut cmd: tokio::process::Command,
    image: &str,
    on_event: &mut dyn FnMut(BuildEvent<'_>),
) -> std::result::Result<(), String> {
    let program = format!("{:?}", cmd.as_std().get_program());
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut tail = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        on_event(BuildEvent::Output { image, line: &line });
        tail.push(line);
        if tail.len() > 10 {
            tail.remove(0);
        }
    }
    let status = child.wait().await.map_err(|e| e.to_string())?;
    if status.success() { Ok(()) } else { Err(format!("{program} exited with {status}:\n{}", tail.join("\n"))) }
}

pub(crate) fn which(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(Into::into))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

pub(crate) fn tempfile_dir() -> Result<std::path::PathBuf> {
    let base = std::env::var_os("PLATEAU_BUILD_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = base.join(format!("plateau-rootfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Context { path: dir.display().to_string(), source })?;
    Ok(dir)
}
