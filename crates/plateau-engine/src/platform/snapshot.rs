//! Freezing a platform into labelled images, and re-creating it from them.

use std::time::Duration;

/// How long capturing a node's runtime state (or any sidecar) may take.
const CAPTURE_LIMIT: Duration = Duration::from_secs(30);
/// How long one commit may take.
const COMMIT_LIMIT: Duration = Duration::from_secs(900);

use std::collections::{BTreeMap, HashMap};

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptions, InspectContainerOptions, LogsOptions, RemoveContainerOptions,
    StartContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use plateau_scenario::{CandidatePlan, PlannedNode};

use crate::{Error, Hold};

/// Where programs are looked up in a node, in order (see `exec::CLEAN_PATH`).
const SEARCH_PATH: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// The runtime plan of a node whose state at the deadline could not be read:
/// `plateau-init` then starts what the node's own configuration says.
const NOT_CAPTURED: &str = "# Plateau: not captured\n";

/// On snapshot images: the node's addresses and routes at the deadline go
/// with it (`plateau-init` brings them back; the engine sets none).
pub(super) const LABEL_RUNTIME: &str = "org.plateau.network-kept";

/// Lists the ruleset in force; exits with `NO_NFT` where the image has no `nft`.
const NFT_LIST: &str = "[ -x /usr/sbin/nft ] || exit 64; exec /usr/sbin/nft list ruleset";
const NO_NFT: i64 = 64;

use super::*;

impl DockerEngine {
    /// Stop a candidate's platform dead at a deadline: every node paused at
    /// once (the kernel's freezer: nothing the candidate started, root or
    /// not, runs another instruction). A node already paused (over its disk
    /// budget) stays so; a stopped node has nothing to stop. The notes say
    /// what could not be paused.
    pub async fn halt(&self, session: &Session, plan: &CandidatePlan) -> Result<Vec<String>, Error> {
        let candidate = plan.candidate.id.as_str();
        let nodes = plan.nodes.iter().filter(|n| n.backend.created());
        let pauses = nodes.map(|node| async move {
            let name = session.container_name(candidate, &node.id);
            match self.docker.inspect_container(&name, None::<InspectContainerOptions>).await {
                Ok(c) => {
                    let state = c.state.unwrap_or_default();
                    if !state.running.unwrap_or(false) || state.paused.unwrap_or(false) {
                        return vec![];
                    }
                    let mut notes = Vec::new();
                    // A VM's disk is what its snapshot keeps: a Linux
                    // guest's last writes are put on it first (Windows has
                    // no SysRq; its lazy writer empties its cache by itself).
                    if node.backend == plateau_scenario::model::Backend::Vm
                        && node.os == plateau_scenario::model::Os::Linux
                        && let Err(e) = self.sync_guest(&name).await
                    {
                        notes.push(format!("{}: its last writes may be missing from its disk ({e})", node.id));
                    }
                    match self.hold_container(&name).await {
                        Ok(Hold::Paused) => {}
                        Ok(Hold::Killed) => notes.push(format!(
                            "{}: the freezer could not pause it: killed (its disk is kept; runtime state is lost)",
                            node.id
                        )),
                        Err(e) => notes.push(format!("{}: not stopped ({e})", node.id)),
                    }
                    notes
                }
                Err(e) => vec![format!("{}: not found ({e})", node.id)],
            }
        });
        Ok(futures_util::future::join_all(pauses).await.into_iter().flatten().collect())
    }

    /// What a node changed under `roots` (absolute paths, directories
    /// ending with `/`) since its image was made, as the engine keeps it:
    /// the container's own layer, which nothing in the node can hide or
    /// forge. Read straight from the layer where this host can (overlay
    /// drivers: milliseconds), else through the engine's diff (seconds).
    pub async fn changes(
        &self,
        session: &Session,
        candidate: &str,
        node: &str,
        roots: &[&str],
    ) -> Result<Vec<FsChange>, Error> {
        let name = session.container_name(candidate, node);
        let fail = |message: String| Error::Node { container: name.clone(), message };
        let inspect = self
            .docker
            .inspect_container(&name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| fail(format!("filesystem changes: {e}")))?;
        let data = inspect.graph_driver.map(|g| g.data).unwrap_or_default();
        if let Some(upper) = data.get("UpperDir").filter(|u| std::path::Path::new(u).is_dir()) {
            let upper = std::path::PathBuf::from(upper);
            let lowers: Vec<std::path::PathBuf> =
                data.get("LowerDir").map(|l| l.split(':').map(Into::into).collect()).unwrap_or_default();
            let roots: Vec<String> = roots.iter().map(|r| r.to_string()).collect();
            return tokio::task::spawn_blocking(move || super::layer::changes(&upper, &lowers, &roots))
                .await
                .map_err(|e| fail(format!("filesystem changes: {e}")));
        }
        let changes = self
            .docker
            .container_changes(&name)
            .await
            .map_err(|e| fail(format!("filesystem changes: {e}")))?
            .unwrap_or_default();
        Ok(changes
            .into_iter()
            .filter(|c| super::layer::under(&c.path, roots))
            .map(|c| FsChange {
                path: c.path,
                kind: match c.kind {
                    bollard::models::ChangeType::_1 => ChangeKind::Added,
                    bollard::models::ChangeType::_2 => ChangeKind::Deleted,
                    _ => ChangeKind::Modified,
                },
            })
            .collect())
    }

    /// Commit every node of a candidate to an image for appeals and for the
    /// grade of record: `plateau-snapshot/<session>-<candidate>-<node>:<tag>`,
    /// labelled like the container; nodes in parallel. The nodes are halted
    /// (paused) first when they are not yet. A node the candidate stopped is
    /// committed as it is; runtime state that cannot be captured is noted,
    /// never a reason to skip the snapshot.
    pub async fn snapshot(&self, session: &Session, plan: &CandidatePlan, tag: &str) -> Result<Snapshot, Error> {
        let mut out = Snapshot { notes: self.halt(session, plan).await?, ..Default::default() };
        // A machine Plateau did not create cannot be stopped or kept: the
        // grid says its grade is of the machine as it stands when graded.
        out.notes.extend(plan.nodes.iter().filter(|n| !n.backend.created()).map(|n| {
            format!("{}: a machine Plateau did not create is not frozen: graded as it stands when graded", n.id)
        }));
        let nodes = plan.nodes.iter().filter(|n| n.backend.created());
        let commits = nodes.map(|node| self.commit_node(session, &plan.candidate.id, node, tag));
        for result in futures_util::future::join_all(commits).await {
            let (image, notes) = result?;
            out.images.push(image);
            out.notes.extend(notes);
        }
        Ok(out)
    }

    async fn commit_node(
        &self,
        session: &Session,
        candidate: &str,
        node: &PlannedNode,
        tag: &str,
    ) -> Result<(String, Vec<String>), Error> {
        let container = session.container_name(candidate, &node.id);
        let repo = format!("plateau-snapshot/{}-{candidate}-{}", session.name, node.id);
        let mut labels = session.labels(Some(candidate), Some(&node.id));
        labels.insert(LABEL_SNAPSHOT.to_string(), tag.to_string());
        let inspected = self.docker.inspect_container(&container, None::<InspectContainerOptions>).await.ok();
        let state = inspected.as_ref().and_then(|c| c.state.clone()).unwrap_or_default();
        let running = state.running.unwrap_or(false) && !state.paused.unwrap_or(false);
        // Runtime state that a commit would lose and that grading reads: the
        // firewall rules in force, read by the role image's own `nft` in the
        // node's network namespace (the node itself is paused) and written
        // where plateau-init restores them from. A node that is not running
        // has none to read (the note below says its memory is lost).
        let mut notes = Vec::new();
        if state.running.unwrap_or(false) {
            notes.extend(match self.capture_rules(session, candidate, node).await {
                Ok(None) => None,
                Ok(Some(rules)) => {
                    let upload =
                        self.upload(&container, "/var/lib/plateau/snapshot", "nftables.rules", rules.as_bytes());
                    upload.await.err().map(|e| format!("{}: firewall rules not kept ({e})", node.id))
                }
                Err(e) => Some(format!("{}: firewall rules not captured ({e})", node.id)),
            });
        }
        // Only a node with NET_ADMIN can change its addresses and routes.
        let net_admin = inspected.and_then(|c| c.host_config).is_some_and(|h| {
            h.privileged.unwrap_or(false) || h.cap_add.unwrap_or_default().iter().any(|c| c.ends_with("NET_ADMIN"))
        });
        // What ran at the deadline, for the re-created node to run again.
        // Always written (a file the candidate left there is never used):
        // the plan read off the paused node, or a mark that there is none.
        if node.backend == plateau_scenario::model::Backend::Container {
            // `network_kept`: its addresses and routes go with it.
            let (plan, network_kept) = if state.running.unwrap_or(false) {
                match self.capture_deadline(session, candidate, node).await {
                    Ok(deadline) => {
                        notes.extend(deadline.notes(&node.id));
                        (deadline.runtime_file(net_admin), net_admin)
                    }
                    Err(e) => {
                        notes.push(format!(
                            "{}: what it ran at the deadline was not read ({e}): graded as it boots",
                            node.id
                        ));
                        (NOT_CAPTURED.to_string(), false)
                    }
                }
            } else {
                notes.push(format!(
                    "{}: not running at the deadline (stopped, or killed at the cut): its in-memory state is lost, \
                     graded as it boots",
                    node.id
                ));
                (NOT_CAPTURED.to_string(), false)
            };
            match self.upload(&container, "/var/lib/plateau/snapshot", "runtime", plan.as_bytes()).await {
                Ok(()) if network_kept => {
                    labels.insert(LABEL_RUNTIME.to_string(), "captured".to_string());
                }
                Ok(()) => {}
                Err(e) => notes.push(format!("{}: what it ran at the deadline was not kept ({e})", node.id)),
            }
        }
        let options = bollard::query_parameters::CommitContainerOptions {
            container: Some(container.clone()),
            repo: Some(repo.clone()),
            tag: Some(tag.to_string()),
            comment: Some(format!("Plateau snapshot of {container}")),
            pause: running,
            ..Default::default()
        };
        let config = bollard::models::ContainerConfig { labels: Some(labels), ..Default::default() };
        // A commit copies the node's writable layer: under load (a room
        // frozen at once) it takes longer than the client's usual limit.
        self.docker
            .clone()
            .with_timeout(COMMIT_LIMIT)
            .commit_container(options, config)
            .await
            .map_err(|e| Error::Node { container: container.clone(), message: format!("snapshot: {e}") })?;
        Ok((format!("{repo}:{tag}"), notes))
    }

    /// What a paused node runs, read by a sidecar of its role image in its
    /// network and process namespaces (see `deadline`).
    async fn capture_deadline(
        &self,
        session: &Session,
        candidate: &str,
        node: &PlannedNode,
    ) -> Result<super::deadline::Deadline, Error> {
        let container = session.container_name(candidate, &node.id);
        let image = role_image(node);
        let out = self
            .sidecar(session, candidate, &node.id, &image, &format!("container:{container}"), &[super::deadline::READ])
            .await?;
        if out.exit_code != 0 {
            return Err(Error::Node {
                container,
                message: format!("reading its state ended with {}: {}", out.exit_code, out.stderr),
            });
        }
        Ok(super::deadline::Deadline::read(&out.stdout))
    }

    /// The ruleset in force in a node, read from outside it by a short-lived
    /// container of the node's own role image sharing its network namespace;
    /// `None` when the role has no `nft`.
    async fn capture_rules(
        &self,
        session: &Session,
        candidate: &str,
        node: &PlannedNode,
    ) -> Result<Option<String>, Error> {
        let container = session.container_name(candidate, &node.id);
        let image = role_image(node);
        let out =
            self.sidecar(session, candidate, &node.id, &image, &format!("container:{container}"), &[NFT_LIST]).await?;
        Ok(match out.exit_code {
            0 => Some(out.stdout),
            NO_NFT => None,
            code => return Err(Error::Node { container, message: format!("nft ended with {code}: {}", out.stderr) }),
        })
    }

    /// Run a program of a pristine image in a container of its own, joined
    /// to `network_mode`, labelled as the candidate's node; removed after.
    async fn sidecar(
        &self,
        session: &Session,
        candidate: &str,
        node: &str,
        image: &str,
        network_mode: &str,
        script: &[&str],
    ) -> Result<crate::ExecOutput, Error> {
        let name = format!("{}-sidecar", session.container_name(candidate, node));
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
            cmd: Some(script.iter().map(|s| s.to_string()).collect()),
            env: Some(vec![crate::exec::CLEAN_PATH.to_string()]),
            labels: Some(session.labels(Some(candidate), Some(node))),
            host_config: Some(HostConfig {
                // The node's network and processes (a paused node's are read,
                // never run), through its own kernel objects.
                network_mode: Some(network_mode.to_string()),
                pid_mode: Some(network_mode.to_string()),
                cap_add: Some(vec!["NET_ADMIN".into(), "SYS_PTRACE".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let remove = RemoveContainerOptions { force: true, ..Default::default() };
        let _ = self.docker.remove_container(&name, Some(remove.clone())).await;
        let options = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
        let fail = |message: String| Error::Node { container: name.clone(), message };
        let run = async {
            self.docker.create_container(Some(options), body).await.map_err(|e| fail(format!("create: {e}")))?;
            self.docker
                .start_container(&name, None::<StartContainerOptions>)
                .await
                .map_err(|e| fail(format!("start: {e}")))?;
            let mut waited = self.docker.wait_container(&name, None::<WaitContainerOptions>);
            let exit_code = match waited.next().await {
                Some(Ok(w)) => w.status_code,
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
                Some(Err(e)) => return Err(fail(format!("wait: {e}"))),
                None => -1,
            };
            let logs = LogsOptions { stdout: true, stderr: true, ..Default::default() };
            let mut stream = self.docker.logs(&name, Some(logs));
            let (mut stdout, mut stderr) = (String::new(), String::new());
            while let Some(chunk) = stream.next().await {
                match chunk.map_err(|e| fail(format!("logs: {e}")))? {
                    bollard::container::LogOutput::StdOut { message } => {
                        stdout.push_str(&String::from_utf8_lossy(&message))
                    }
                    bollard::container::LogOutput::StdErr { message } => {
                        stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    _ => {}
                }
            }
            Ok(crate::ExecOutput { exit_code, stdout, stderr })
        };
        let out = tokio::time::timeout(CAPTURE_LIMIT, run).await;
        let _ = self.docker.remove_container(&name, Some(remove)).await;
        out.map_err(|_| Error::Timeout { container: name.clone(), command: script.join(" "), limit: CAPTURE_LIMIT })?
    }

    /// Write one file into a container (created, running or paused).
    async fn upload(&self, container: &str, dir: &str, file: &str, content: &[u8]) -> Result<(), Error> {
        crate::exec::upload(&self.docker, container, &format!("{dir}/{file}"), content, 0o600).await
    }

    /// Copy `paths` from `image` (a pristine role image) into a created
    /// container, before it starts: what the candidate replaced or removed
    /// of the programs the grader runs comes back as the role shipped it. A
    /// program the candidate added where the role has one of that name in
    /// another directory of the search path (a stand-in) gets the role's;
    /// a preload list the role has not is emptied. The paths put back.
    pub(super) async fn put_back(
        &self,
        session: &Session,
        container: &str,
        image: &str,
        paths: &[String],
    ) -> Result<Vec<String>, Error> {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let source = format!("{container}-pristine");
        let remove = RemoveContainerOptions { force: true, ..Default::default() };
        let _ = self.docker.remove_container(&source, Some(remove.clone())).await;
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            labels: Some(session.labels(None, None)),
            network_disabled: Some(true),
            ..Default::default()
        };
        let options = CreateContainerOptions { name: Some(source.clone()), ..Default::default() };
        self.docker.create_container(Some(options), body).await.map_err(|e| create_error(&source, image, e))?;
        let mut done = Vec::new();
        let mut result = Ok(());
        for path in paths {
            let file = std::path::Path::new(path);
            let (Some(parent), Some(name)) = (file.parent(), file.file_name()) else { continue };
            let name = name.to_string_lossy();
            let same_name = SEARCH_PATH.iter().map(|dir| format!("{dir}/{name}"));
            let mut copied = false;
            for from in std::iter::once(path.clone()).chain(same_name) {
                let Some(tar) = self.get_archive(&source, &from).await else { continue };
                let tar = if from == *path { Ok(tar) } else { renamed(tar, &name) };
                match tar {
                    Ok(tar) => {
                        match crate::exec::put_archive(&self.docker, container, &parent.display().to_string(), tar)
                            .await
                        {
                            Ok(()) => copied = true,
                            Err(e) => result = Err(e),
                        }
                    }
                    Err(e) => result = Err(Error::Node { container: container.to_string(), message: e }),
                }
                break;
            }
            if !copied && path == "/etc/ld.so.preload" {
                copied = self.upload(container, "/etc", "ld.so.preload", b"").await.is_ok();
            }
            if copied {
                done.push(path.clone());
            }
            if result.is_err() {
                break;
            }
        }
        let _ = self.docker.remove_container(&source, Some(remove)).await;
        result.map(|()| done)
    }

    /// A path of a container as a tar archive, `None` when it has no such path.
    async fn get_archive(&self, container: &str, path: &str) -> Option<Vec<u8>> {
        let options = DownloadFromContainerOptions { path: path.to_string() };
        let mut stream = self.docker.download_from_container(container, Some(options));
        let mut tar = Vec::new();
        while let Some(chunk) = stream.next().await {
            tar.extend_from_slice(&chunk.ok()?);
        }
        Some(tar)
    }

    /// Every snapshot image of a session (by its labels), saved through the
    /// engine's API into one `docker save` file at `to` (streamed: a room's
    /// snapshots do not fit in memory; layers shared by several images are
    /// written once). The images saved, by name.
    pub async fn save_snapshots(&self, session: &str, to: &std::path::Path) -> Result<Vec<String>, Error> {
        use tokio::io::AsyncWriteExt;
        let mut names: Vec<String> =
            self.session_snapshots(session).await?.into_iter().flat_map(|image| image.repo_tags).collect();
        names.sort();
        let fail = |message: String| Error::Engine(format!("saving the snapshots of {session}: {message}"));
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut file = tokio::fs::File::create(to).await.map_err(|e| fail(format!("{}: {e}", to.display())))?;
        if !refs.is_empty() {
            let mut stream = self.docker.export_images(&refs);
            while let Some(chunk) = stream.next().await {
                file.write_all(&chunk.map_err(|e| fail(e.to_string()))?).await.map_err(|e| fail(e.to_string()))?;
            }
        }
        file.sync_all().await.map_err(|e| fail(e.to_string()))?;
        Ok(names)
    }

    /// Load a `docker save` file into the engine (streamed).
    pub async fn load_images(&self, from: &std::path::Path) -> Result<(), Error> {
        let fail = |message: String| Error::Engine(format!("loading {}: {message}", from.display()));
        let file = tokio::fs::File::open(from).await.map_err(|e| fail(e.to_string()))?;
        // A read error ends the stream early; the engine then refuses the
        // truncated archive.
        let body =
            tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).filter_map(|chunk| async move { chunk.ok() });
        let options = bollard::query_parameters::ImportImageOptions { quiet: true, ..Default::default() };
        let mut stream = self.docker.import_image_stream(options, body, None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| fail(e.to_string()))?;
            if let Some(error) = info.error {
                return Err(fail(error));
            }
        }
        Ok(())
    }

    async fn session_snapshots(&self, session: &str) -> Result<Vec<bollard::models::ImageSummary>, Error> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL_SESSION}={session}"), LABEL_SNAPSHOT.to_string()],
        )]);
        let options = bollard::query_parameters::ListImagesOptions { filters: Some(filters), ..Default::default() };
        self.docker.list_images(Some(options)).await.map_err(|e| Error::Engine(e.to_string()))
    }

    /// Remove every snapshot image of a session (by its labels), for a
    /// session that is thrown away (a scenario test); how many.
    pub async fn remove_snapshots(&self, session: &str) -> Result<usize, Error> {
        let images = self.session_snapshots(session).await?;
        let mut removed = 0;
        for image in images {
            let options = bollard::query_parameters::RemoveImageOptions { force: true, ..Default::default() };
            if self.docker.remove_image(&image.id, Some(options), None).await.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Re-create a candidate's platform from their snapshots (an appeal, the
    /// grade of record, or a corrected scenario), with the candidate's
    /// access closed. `put_back` names, per node, the paths to copy from the
    /// node's role image before it starts (see `put_back`).
    pub async fn restore(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        tag: &str,
        host_port: u16,
        put_back: &BTreeMap<String, Vec<String>>,
    ) -> Result<CandidateUp, Error> {
        let candidate = plan.candidate.id.as_str();
        self.down(&session.name, Some(candidate)).await?;
        let mut restored = plan.clone();
        let mut repairs = HashMap::new();
        for node in restored.nodes.iter_mut().filter(|n| n.backend.created()) {
            // A VM always has one: its initrd compares its whole disk.
            let paths = put_back.get(&node.id).cloned().unwrap_or_default();
            if !paths.is_empty() || node.backend == plateau_scenario::model::Backend::Vm {
                repairs.insert(node.id.clone(), (role_image(node), paths));
            }
            node.image = format!("plateau-snapshot/{}-{candidate}-{}:{tag}", session.name, node.id);
        }
        let up = self.up_repairing(session, &restored, host_port, Some(&repairs)).await?;
        self.set_access(session, candidate, false).await?;
        Ok(up)
    }
}

/// The node's pristine role image, as the plan names it: what sidecars read
/// a node with and what programs are put back from. Never the container's
/// own image: a platform re-created from a snapshot runs on an image that
/// holds what the candidate changed.
fn role_image(node: &PlannedNode) -> String {
    if node.image.contains(':') { node.image.clone() } else { format!("{}:latest", node.image) }
}

/// A one-file archive with its entry renamed (a program put back under the
/// name the candidate's stand-in had).
fn renamed(tar: Vec<u8>, name: &str) -> Result<Vec<u8>, String> {
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut out = tar::Builder::new(Vec::new());
    let mut entries = archive.entries().map_err(|e| e.to_string())?;
    let Some(entry) = entries.next() else { return Err("empty archive".into()) };
    let mut entry = entry.map_err(|e| e.to_string())?;
    let mut header = entry.header().clone();
    let mut content = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut content).map_err(|e| e.to_string())?;
    out.append_data(&mut header, name, content.as_slice()).map_err(|e| e.to_string())?;
    out.into_inner().map_err(|e| e.to_string())
}
