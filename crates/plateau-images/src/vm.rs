//! VM images: a role's image booted by QEMU (`vm-ROLE`), or a centre's own
//! disk (`import_vm`), put on the `qemu` runner image.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use futures_util::StreamExt;
use sha2::Digest as _;

use crate::build::{BuildEvent, BuildOutcome, Builder, Context, context_tar, run_streaming, tempfile_dir, which};
use crate::catalog::{ImageSpec, VM_RUNNER};
use crate::{Error, LABEL_HASH, LABEL_ROLE, REPOSITORY, Result};

impl Builder {
    /// Build a role's VM image (`plateau/vm-ROLE`), and the images it is made
    /// of, unless its content hash is built already.
    pub async fn build_vm(&self, role: &str, on_event: &mut dyn FnMut(BuildEvent<'_>)) -> Result<BuildOutcome> {
        self.build(&[role.to_string(), VM_RUNNER.to_string()], on_event).await?;
        let spec = self.catalog.vm(role)?;
        let started = Instant::now();
        let rebuild = self.needs_build(&spec, on_event).await?;
        if rebuild {
            let work = tempfile_dir()?;
            let made = self.build_vm_in(&spec, role, &work, on_event).await;
            let _ = std::fs::remove_dir_all(&work);
            made?;
        }
        self.built(&spec, started, rebuild, on_event).await
    }

    /// The role's image plus a kernel (`vm/guest.Dockerfile`), exported to a
    /// directory, made an ext4 disk without mounting anything (`mkfs.ext4
    /// -d`), compressed to qcow2, and put with the kernel on the runner image.
    async fn build_vm_in(
        &self,
        spec: &ImageSpec,
        role: &str,
        work: &Path,
        on_event: &mut dyn FnMut(BuildEvent<'_>),
    ) -> Result<()> {
        let mkfs = which("mkfs.ext4").ok_or(Error::MissingTool { tool: "mkfs.ext4", package: "e2fsprogs" })?;
        let qemu_img = which("qemu-img").ok_or(Error::MissingTool { tool: "qemu-img", package: "qemu-utils" })?;
        let failed = |message: String| Error::Build { image: spec.name.clone(), message };
        let guest = format!("{REPOSITORY}/vm-guest-{role}:{}", spec.hash);
        let role_tag = self.catalog.get(role)?.tag();
        let context = context_tar(&spec.dir)?;
        self.docker_build(
            &spec.name,
            &guest,
            "guest.Dockerfile",
            ("ROLE", &role_tag),
            Context::Archive(context.into()),
            &[],
            on_event,
        )
        .await?;

        on_event(BuildEvent::Output { image: &spec.name, line: "exporting the guest's filesystem" });
        let rootfs = work.join("rootfs");
        std::fs::create_dir_all(&rootfs).map_err(|e| failed(e.to_string()))?;
        let exported = self.export_image(&guest, &rootfs).await;
        let _ = self.docker.remove_image(&guest, None::<bollard::query_parameters::RemoveImageOptions>, None).await;
        exported.map_err(failed)?;
        // The engine's traces in an exported container, and the kernel, which boots from outside the disk.
        let out = work.join("vm");
        std::fs::create_dir_all(&out).map_err(|e| failed(e.to_string()))?;
        let _ = std::fs::remove_file(rootfs.join(".dockerenv"));
        for (prefix, name) in [("vmlinuz-", "vmlinuz"), ("initrd.img-", "initrd.img")] {
            let found = std::fs::read_dir(rootfs.join("boot"))
                .map_err(|e| failed(format!("the guest has no /boot: {e}")))?
                .flatten()
                .find(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .ok_or_else(|| failed(format!("the guest has no /boot/{prefix}*")))?;
            std::fs::rename(found.path(), out.join(name)).map_err(|e| failed(e.to_string()))?;
        }

        let raw = work.join("disk.raw");
        let size = disk_size(dir_bytes(&rootfs));
        on_event(BuildEvent::Output { image: &spec.name, line: &format!("making a {} MiB ext4 disk", size >> 20) });
        let mut cmd = tokio::process::Command::new(mkfs);
        cmd.args(["-q", "-F", "-L", "plateau", "-E", "root_owner=0:0", "-d"])
            .arg(&rootfs)
            .arg(&raw)
            .arg(format!("{}k", size >> 10));
        run_streaming(cmd, &spec.name, on_event).await.map_err(failed)?;
        let _ = std::fs::remove_dir_all(&rootfs);
        let mut cmd = tokio::process::Command::new(qemu_img);
        cmd.args(["convert", "-c", "-f", "raw", "-O", "qcow2"]).arg(&raw).arg(out.join("disk.qcow2"));
        run_streaming(cmd, &spec.name, on_event).await.map_err(failed)?;
        let _ = std::fs::remove_file(&raw);

        self.put_on_runner(spec, &out, on_event).await
    }

    /// The runner image with the files of `dir` (a disk, maybe a kernel) in `/vm`.
    async fn put_on_runner(
        &self,
        spec: &ImageSpec,
        dir: &Path,
        on_event: &mut dyn FnMut(BuildEvent<'_>),
    ) -> Result<()> {
        std::fs::write(dir.join("Dockerfile"), "ARG RUNNER\nFROM ${RUNNER}\nCOPY . /vm/\n")
            .map_err(|e| Error::Build { image: spec.name.clone(), message: e.to_string() })?;
        let runner = self.catalog.get(VM_RUNNER)?.tag();
        let labels = [(LABEL_ROLE, spec.name.as_str()), (LABEL_HASH, spec.hash.as_str())];
        let context = Context::Dir(dir.to_path_buf());
        self.docker_build(&spec.name, &spec.tag(), "Dockerfile", ("RUNNER", &runner), context, &labels, on_event).await
    }

    /// A centre's own disk image (a sysprepped Windows with WinRM enabled:
    /// Plateau ships and downloads none) as the VM image `plateau/vm-NAME`,
    /// booted from its disk; any format `qemu-img` reads. Tagged by the
    /// hash of the disk and of the runner: importing it again changes nothing.
    pub async fn import_vm(
        &self,
        name: &str,
        disk: &Path,
        on_event: &mut dyn FnMut(BuildEvent<'_>),
    ) -> Result<BuildOutcome> {
        self.build(&[VM_RUNNER.to_string()], on_event).await?;
        let qemu_img = which("qemu-img").ok_or(Error::MissingTool { tool: "qemu-img", package: "qemu-utils" })?;
        let runner = self.catalog.get(VM_RUNNER)?;
        let unreadable = |source| Error::Context { path: disk.display().to_string(), source };
        let digest = file_hash(disk).map_err(unreadable)?;
        let hash: String = {
            let mut h = sha2::Sha256::new();
            h.update(format!("{digest}{}", runner.hash));
            h.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
        };
        let spec = ImageSpec { name: format!("vm-{name}"), dir: disk.to_path_buf(), hash, parent: None };
        let started = Instant::now();
        let rebuild = self.needs_build(&spec, on_event).await?;
        if rebuild {
            let work = tempfile_dir()?;
            let made = async {
                let mut cmd = tokio::process::Command::new(qemu_img);
                cmd.args(["convert", "-O", "qcow2"]).arg(disk).arg(work.join("disk.qcow2"));
                let failed = |message| Error::Build { image: spec.name.clone(), message };
                run_streaming(cmd, &spec.name, on_event).await.map_err(failed)?;
                self.put_on_runner(&spec, &work, on_event).await
            }
            .await;
            let _ = std::fs::remove_dir_all(&work);
            made?;
        }
        self.built(&spec, started, rebuild, on_event).await
    }

    /// A container of `image`, never started, its filesystem unpacked into `dir`.
    async fn export_image(&self, image: &str, dir: &Path) -> std::result::Result<(), String> {
        let body = bollard::models::ContainerCreateBody { image: Some(image.to_string()), ..Default::default() };
        let created = self
            .docker
            .create_container(None::<bollard::query_parameters::CreateContainerOptions>, body)
            .await
            .map_err(|e| e.to_string())?;
        let unpacked = async {
            let mut tar = tokio::process::Command::new("tar")
                .args(["--numeric-owner", "-xf", "-", "-C"])
                .arg(dir)
                .stdin(Stdio::piped())
                .spawn()
                .map_err(|e| format!("tar: {e}"))?;
            let mut stdin = tar.stdin.take().expect("piped stdin");
            let mut stream = self.docker.export_container(&created.id);
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                tokio::io::AsyncWriteExt::write_all(&mut stdin, &chunk).await.map_err(|e| format!("tar: {e}"))?;
            }
            drop(stdin);
            let status = tar.wait().await.map_err(|e| format!("tar: {e}"))?;
            if status.success() { Ok(()) } else { Err(format!("tar exited with {status}")) }
        }
        .await;
        let options = bollard::query_parameters::RemoveContainerOptions { force: true, ..Default::default() };
        let _ = self.docker.remove_container(&created.id, Some(options)).await;
        unpacked
    }
}

/// The SHA-256 of a file, read in blocks (a disk image is gigabytes).
fn file_hash(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Bytes of the regular files under `dir` (hard links counted once is not
/// needed: this sizes a disk with room to spare).
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// A guest disk: what its files take, a tenth more for the filesystem's own
/// tables, and a gigabyte free for the candidate's work; whole 64 MiB.
fn disk_size(files: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    let wanted = files + files / 10 + 1024 * MIB;
    wanted.div_ceil(64 * MIB) * 64 * MIB
}
