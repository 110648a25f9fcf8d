//! Freezing a platform into labelled images, and re-creating it from them.

use std::time::Duration;

/// How long capturing a node's runtime state may take before the commit goes on without it.
const CAPTURE_LIMIT: Duration = Duration::from_secs(30);
/// How long one commit may take.
const COMMIT_LIMIT: Duration = Duration::from_secs(900);

use plateau_scenario::CandidatePlan;
use plateau_scenario::model::Backend;

use crate::Error;
use crate::exec::exec;

use super::*;

impl DockerEngine {
    /// Commit every node of a candidate to an image for appeals:
    /// `plateau-snapshot/<session>-<candidate>-<node>:<tag>`, labelled like
    /// the container; nodes in parallel. A node the candidate stopped is
    /// committed as it is; runtime state that cannot be captured (a hung or
    /// replaced `nft`) is noted, never a reason to skip the snapshot.
    pub async fn snapshot(&self, session: &Session, plan: &CandidatePlan, tag: &str) -> Result<Snapshot, Error> {
        let nodes = plan.nodes.iter().filter(|n| n.backend == Backend::Container);
        let commits = nodes.map(|node| self.commit_node(session, &plan.candidate.id, &node.id, tag));
        let mut out = Snapshot::default();
        for result in futures_util::future::join_all(commits).await {
            let (image, note) = result?;
            out.images.push(image);
            out.notes.extend(note);
        }
        Ok(out)
    }

    async fn commit_node(
        &self,
        session: &Session,
        candidate: &str,
        node: &str,
        tag: &str,
    ) -> Result<(String, Option<String>), Error> {
        let container = session.container_name(candidate, node);
        let repo = format!("plateau-snapshot/{}-{candidate}-{node}", session.name);
        let mut labels = session.labels(Some(candidate), Some(node));
        labels.insert(LABEL_SNAPSHOT.to_string(), tag.to_string());
        // Runtime state that a commit would lose and that grading reads:
        // the firewall rules in force (plateau-init restores them).
        // An exec given up on may still be starting in the engine: pausing
        // the container then wedges both (runc waits in the frozen cgroup).
        // Such a node is committed without pausing.
        let (note, pause) = match exec(&self.docker, &container, &["sh", "-c", CAPTURE_RUNTIME], CAPTURE_LIMIT).await {
            Ok(out) if out.exit_code == 0 => (None, true),
            Ok(out) => (Some(format!("{node}: firewall rules not captured (exit {})", out.exit_code)), true),
            Err(e @ Error::Timeout { .. }) => {
                (Some(format!("{node}: firewall rules not captured ({e}); committed without pausing")), false)
            }
            Err(e) => (Some(format!("{node}: firewall rules not captured ({e})")), true),
        };
        let options = bollard::query_parameters::CommitContainerOptions {
            container: Some(container.clone()),
            repo: Some(repo.clone()),
            tag: Some(tag.to_string()),
            comment: Some(format!("Plateau snapshot of {container}")),
            pause,
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
        Ok((format!("{repo}:{tag}"), note))
    }

    /// Re-create a candidate's platform from their snapshots (an appeal, or a
    /// corrected scenario), with the candidate's access closed.
    pub async fn restore(
        &self,
        session: &Session,
        plan: &CandidatePlan,
        tag: &str,
        host_port: u16,
    ) -> Result<CandidateUp, Error> {
        let candidate = plan.candidate.id.as_str();
        self.down(&session.name, Some(candidate)).await?;
        let mut restored = plan.clone();
        for node in restored.nodes.iter_mut().filter(|n| n.backend == Backend::Container) {
            node.image = format!("plateau-snapshot/{}-{candidate}-{}:{tag}", session.name, node.id);
        }
        let up = self.up_candidate(session, &restored, host_port).await?;
        self.set_access(session, candidate, false).await?;
        Ok(up)
    }
}
