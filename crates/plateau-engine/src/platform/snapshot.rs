//! Freezing a platform into labelled images, and re-creating it from them.

use std::time::Duration;

use plateau_scenario::CandidatePlan;
use plateau_scenario::model::Backend;

use crate::Error;
use crate::exec::exec;

use super::*;

impl DockerEngine {
    /// Commit every node of a candidate to an image for appeals:
    /// `plateau-snapshot/<session>-<candidate>-<node>:<tag>`, labelled like
    /// the container. Returns the image names.
    pub async fn snapshot(&self, session: &Session, plan: &CandidatePlan, tag: &str) -> Result<Vec<String>, Error> {
        let candidate = plan.candidate.id.as_str();
        let mut images = Vec::new();
        for node in plan.nodes.iter().filter(|n| n.backend == Backend::Container) {
            let container = session.container_name(candidate, &node.id);
            let repo = format!("plateau-snapshot/{}-{candidate}-{}", session.name, node.id);
            let mut labels = session.labels(Some(candidate), Some(&node.id));
            labels.insert(LABEL_SNAPSHOT.to_string(), tag.to_string());
            let options = bollard::query_parameters::CommitContainerOptions {
                container: Some(container.clone()),
                repo: Some(repo.clone()),
                tag: Some(tag.to_string()),
                comment: Some(format!("Plateau snapshot of {container}")),
                pause: true,
                ..Default::default()
            };
            // Runtime state that a commit would lose and that grading reads:
            // the firewall rules in force (plateau-init restores them).
            exec(&self.docker, &container, &["sh", "-c", CAPTURE_RUNTIME], Duration::from_secs(30)).await?;
            let config = bollard::models::ContainerConfig { labels: Some(labels), ..Default::default() };
            self.docker
                .commit_container(options, config)
                .await
                .map_err(|e| Error::Node { container: container.clone(), message: format!("snapshot: {e}") })?;
            images.push(format!("{repo}:{tag}"));
        }
        Ok(images)
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
