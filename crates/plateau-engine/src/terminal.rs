//! A terminal on a node: a login shell on a TTY the engine allocates
//! (`docker exec -it`), its bytes carried by whoever holds the `Terminal`
//! (the seat gateway, which records them).

use std::pin::Pin;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use futures_util::stream::{BoxStream, StreamExt};
use tokio::io::AsyncWrite;

use crate::Error;

/// The two ends of a terminal: what its shell prints, what is typed to it.
pub struct Terminal {
    pub output: BoxStream<'static, Result<Vec<u8>, Error>>,
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
    pub size: Resizer,
}

/// Changes a terminal's window size (the shell gets its SIGWINCH).
pub enum Resizer {
    Exec {
        docker: Docker,
        exec: String,
    },
    /// A terminal without a window to resize (the in-memory runtime's).
    Fixed,
}

impl Resizer {
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), Error> {
        match self {
            Resizer::Exec { docker, exec } => docker
                .resize_exec(exec, ResizeExecOptions { width: cols.max(1), height: rows.max(1) })
                .await
                .map_err(|e| Error::Node { container: exec.clone(), message: format!("resize: {e}") }),
            Resizer::Fixed => Ok(()),
        }
    }
}

/// A login shell of `user` on a TTY in `container`, `cols`×`rows`.
pub(crate) async fn open(
    docker: &Docker,
    container: &str,
    user: &str,
    cols: u16,
    rows: u16,
) -> Result<Terminal, Error> {
    let fail = |message: String| Error::Node { container: container.to_string(), message };
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(vec!["su".to_string(), "-l".to_string(), user.to_string()]),
                env: Some(vec!["TERM=xterm-256color".to_string(), "LANG=C.UTF-8".to_string()]),
                tty: Some(true),
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| fail(format!("terminal: {e}")))?;
    let start = StartExecOptions { detach: false, tty: true, output_capacity: None };
    let StartExecResults::Attached { output, input } =
        docker.start_exec(&created.id, Some(start)).await.map_err(|e| fail(format!("terminal: {e}")))?
    else {
        return Err(fail("terminal: the engine did not attach".into()));
    };
    let size = Resizer::Exec { docker: docker.clone(), exec: created.id };
    size.resize(cols, rows).await?;
    let owner = container.to_string();
    let output = output
        .map(move |chunk| match chunk {
            Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message } | LogOutput::Console { message }) => {
                Ok(message.to_vec())
            }
            Ok(LogOutput::StdIn { .. }) => Ok(Vec::new()),
            Err(e) => Err(Error::Node { container: owner.clone(), message: format!("terminal: {e}") }),
        })
        .boxed();
    Ok(Terminal { output, input, size })
}
