//! When a node is ready: its `plateau-init` marks it (`/run/plateau-ready`)
//! once its services started and its own readiness check passed.

use std::time::{Duration, Instant};

use bollard::query_parameters::InspectContainerOptions;

use crate::Error;
use crate::exec::exec;

use super::DockerEngine;

/// Where a node's `plateau-init` marks it ready.
const READY_MARK: &str = "/run/plateau-ready";

/// A node's ready mark as this host reads it in the node's own layer: a
/// look at a file, where asking the engine to run `test -f` in the node
/// five times a second, for every node a room waits on, kept the engine's
/// CPUs busy with the asking.
struct ReadyMark {
    path: std::path::PathBuf,
    /// When the engine says the node started: a mark older than that is
    /// its last run's, not yet removed.
    started: std::time::SystemTime,
}

/// The engine records a start after the node's init runs: a node with
/// nothing to start marks itself ready a moment before its recorded start.
const START_SLACK: Duration = Duration::from_secs(2);

impl ReadyMark {
    fn set(&self) -> bool {
        // A node re-created from a snapshot has the mark in its image: the
        // init's removal leaves a whiteout (a device) in the layer, not a file.
        std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.is_file() && m.modified().is_ok_and(|at| at + START_SLACK >= self.started))
    }
}

impl DockerEngine {
    /// Wait until the node's `plateau-init` has started its services and its
    /// own readiness check passed (`/run/plateau-ready`). Docker's health
    /// checks run too rarely to wait on: they are for `status`.
    /// Returns early, without error, once `still_needed` says no.
    pub(super) async fn wait_ready(
        &self,
        name: &str,
        limit: Duration,
        still_needed: impl Fn() -> bool,
    ) -> Result<(), Error> {
        let start = Instant::now();
        let mark = self.ready_mark(name).await;
        loop {
            if !still_needed() {
                return Ok(());
            }
            match &mark {
                Some(mark) if mark.set() => return Ok(()),
                Some(_) => {}
                // A busy engine may take longer than one poll's limit to run
                // it: that is "not yet", until the node's own limit.
                None => match exec(&self.docker, name, &["test", "-f", READY_MARK], Duration::from_secs(10)).await {
                    Ok(out) if out.exit_code == 0 => return Ok(()),
                    Ok(_) | Err(Error::Timeout { .. }) => {}
                    Err(e) => return Err(e),
                },
            }
            if start.elapsed() > limit {
                return Err(Error::Node {
                    container: name.to_string(),
                    message: format!("not ready after {} s", limit.as_secs()),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The node's ready mark in its layer, where this host reads the layer
    /// (an engine of this host with an overlay driver); else `None`: asked
    /// through the engine.
    async fn ready_mark(&self, name: &str) -> Option<ReadyMark> {
        if !self.on_this_host() {
            return None;
        }
        let inspected = self.docker.inspect_container(name, None::<InspectContainerOptions>).await.ok()?;
        let upper = inspected.graph_driver?.data.get("UpperDir").map(std::path::PathBuf::from)?;
        let started = inspected.state?.started_at?;
        let started = time::OffsetDateTime::parse(&started, &time::format_description::well_known::Rfc3339).ok()?;
        upper
            .is_dir()
            .then(|| ReadyMark { path: upper.join(READY_MARK.trim_start_matches('/')), started: started.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node is ready once its init marked it this run: a mark left by
    /// its last run (before the recorded start) is not.
    #[test]
    fn a_ready_mark_counts_from_the_nodes_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plateau-ready");
        let now = std::time::SystemTime::now();
        let mark = ReadyMark { path: path.clone(), started: now };
        assert!(!mark.set(), "no mark yet");
        let file = std::fs::File::create(&path).unwrap();
        file.set_modified(now - Duration::from_secs(60)).unwrap();
        assert!(!mark.set(), "the last run's mark");
        file.set_modified(now - Duration::from_millis(500)).unwrap();
        assert!(mark.set(), "marked just before the engine recorded the start");
        file.set_modified(now + Duration::from_secs(3)).unwrap();
        assert!(mark.set(), "marked after the start");
        // The init's removal of a mark its snapshot image carries: a
        // whiteout where the file was, made after the start.
        std::fs::remove_file(&path).unwrap();
        std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert!(!mark.set(), "a whiteout is no mark");
    }
}
