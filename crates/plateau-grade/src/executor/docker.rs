//! `docker exec` into a container: for trainer and admin actions, and for
//! on-node facts of containers. Network-facing criteria are probed instead.

use std::time::Duration;

use plateau_engine::Engine;

use super::{ExecError, Execute, Output, Shell};

pub struct DockerExecutor {
    engine: Engine,
    container: String,
}

impl DockerExecutor {
    pub fn new(engine: Engine, container: impl Into<String>) -> DockerExecutor {
        DockerExecutor { engine, container: container.into() }
    }
}

impl Execute for DockerExecutor {
    fn describe(&self) -> String {
        format!("docker exec {}", self.container)
    }

    fn shell(&self) -> Shell {
        Shell::Posix
    }

    async fn run(&self, command: &str, timeout: Duration) -> Result<Output, ExecError> {
        // The engine runs it with a fixed PATH and no preload (see
        // `plateau_engine::exec`); `/bin/sh -c` reads no start-up file.
        match self.engine.exec(&self.container, &["/bin/sh", "-c", command], timeout).await {
            Ok(out) => Ok(Output { exit_code: out.exit_code, stdout: out.stdout, stderr: out.stderr }),
            Err(plateau_engine::Error::Timeout { .. }) => Err(ExecError::Timeout(timeout)),
            Err(e) => Err(ExecError::Unreachable { target: self.container.clone(), message: e.to_string() }),
        }
    }
}
