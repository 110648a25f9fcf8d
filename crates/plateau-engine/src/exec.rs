//! Running a command in a container through the engine (`docker exec`).

use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;

use crate::Error;

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// The search path of every command Plateau runs in a node: the system's
/// own directories first, so a program the candidate drops in
/// `/usr/local/bin` never stands in for the one the grader means.
pub const CLEAN_PATH: &str = "PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin";

/// Run `cmd` in `container` as root; an error when it runs longer than `limit`.
/// The environment is the container's configuration (Plateau's, not the
/// candidate's: nothing in the node can change it) with a fixed `PATH` and
/// no preload, and no login shell or start-up file is involved.
pub async fn exec(docker: &Docker, container: &str, cmd: &[&str], limit: Duration) -> Result<ExecOutput, Error> {
    let fail = |message: String| Error::Node { container: container.to_string(), message };
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                env: Some(vec![
                    CLEAN_PATH.to_string(),
                    "LD_PRELOAD=".to_string(),
                    "ENV=".to_string(),
                    "BASH_ENV=".to_string(),
                ]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| fail(format!("exec: {e}")))?;
    let run = async {
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let StartExecResults::Attached { mut output, .. } =
            docker.start_exec(&created.id, None).await.map_err(|e| fail(format!("exec: {e}")))?
        {
            while let Some(chunk) = output.next().await {
                match chunk.map_err(|e| fail(format!("exec: {e}")))? {
                    LogOutput::StdOut { message } => stdout.push_str(&String::from_utf8_lossy(&message)),
                    LogOutput::StdErr { message } => stderr.push_str(&String::from_utf8_lossy(&message)),
                    _ => {}
                }
            }
        }
        let inspect = docker.inspect_exec(&created.id).await.map_err(|e| fail(format!("exec: {e}")))?;
        Ok(ExecOutput { exit_code: inspect.exit_code.unwrap_or(-1), stdout, stderr })
    };
    tokio::time::timeout(limit, run).await.map_err(|_| Error::Timeout {
        container: container.to_string(),
        command: cmd.join(" "),
        limit,
    })?
}

/// Write one file (`mode`) into a container, created, running or paused,
/// through the engine's archive API.
pub async fn upload(docker: &Docker, container: &str, path: &str, content: &[u8], mode: u32) -> Result<(), Error> {
    let fail = |message: String| Error::Node { container: container.to_string(), message };
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(mode);
    header.set_mtime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    tar.append_data(&mut header, path.trim_start_matches('/'), content).map_err(|e| fail(format!("archive: {e}")))?;
    let bytes = tar.into_inner().map_err(|e| fail(format!("archive: {e}")))?;
    put_archive(docker, container, "/", bytes).await
}

/// Unpack a tar archive at `at` in a container.
pub async fn put_archive(docker: &Docker, container: &str, at: &str, tar: Vec<u8>) -> Result<(), Error> {
    let options = bollard::query_parameters::UploadToContainerOptions { path: at.to_string(), ..Default::default() };
    docker
        .upload_to_container(container, Some(options), bollard::body_full(tar.into()))
        .await
        .map_err(|e| Error::Node { container: container.to_string(), message: format!("writing into it: {e}") })
}
