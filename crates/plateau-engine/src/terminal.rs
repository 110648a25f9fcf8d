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
    /// A terminal whose window the task carrying it resizes (an SSH
    /// channel into a machine's guest): sizes are sent to it.
    Requests(tokio::sync::mpsc::Sender<(u16, u16)>),
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
            Resizer::Requests(sizes) => {
                // The carrier gone, the terminal has ended: nothing to resize.
                let _ = sizes.send((cols.max(1), rows.max(1))).await;
                Ok(())
            }
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
    let cmd = ["su", "-l", user];
    let terminal = attach(docker, container, &cmd, Some(["TERM=xterm-256color", "LANG=C.UTF-8"])).await?;
    terminal.size.resize(cols, rows).await?;
    Ok(terminal)
}

/// `user`'s desktop on `container` (the role's `plateau-desktop`, which
/// starts it on first use): the VNC protocol both ways, no TTY, nothing
/// but the program's standard output in `output`.
pub(crate) async fn desktop(docker: &Docker, container: &str, user: &str) -> Result<Terminal, Error> {
    attach(docker, container, &["/usr/local/sbin/plateau-desktop", user], None).await
}

/// `cmd` run by the engine in `container`, attached both ways; on a TTY
/// when `tty_env` is given (with that environment).
async fn attach(docker: &Docker, container: &str, cmd: &[&str], tty_env: Option<[&str; 2]>) -> Result<Terminal, Error> {
    let fail = |message: String| Error::Node { container: container.to_string(), message };
    let tty = tty_env.is_some();
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.iter().map(|c| c.to_string()).collect()),
                env: tty_env.map(|env| env.iter().map(|e| e.to_string()).collect()),
                tty: Some(tty),
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| fail(format!("{}: {e}", cmd[0])))?;
    let start = StartExecOptions { detach: false, tty, output_capacity: None };
    let StartExecResults::Attached { output, input } =
        docker.start_exec(&created.id, Some(start)).await.map_err(|e| fail(format!("{}: {e}", cmd[0])))?
    else {
        return Err(fail(format!("{}: the engine did not attach", cmd[0])));
    };
    let size = match tty {
        true => Resizer::Exec { docker: docker.clone(), exec: created.id },
        false => Resizer::Fixed,
    };
    let owner = container.to_string();
    let output = output
        .map(move |chunk| match chunk {
            Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => Ok(message.to_vec()),
            // On a TTY the two are one; without, only the program's output is the stream.
            Ok(LogOutput::StdErr { message }) if tty => Ok(message.to_vec()),
            Ok(LogOutput::StdErr { message }) => {
                tracing::warn!(container = %owner, "{}", String::from_utf8_lossy(&message).trim());
                Ok(Vec::new())
            }
            Ok(LogOutput::StdIn { .. }) => Ok(Vec::new()),
            Err(e) => Err(Error::Node { container: owner.clone(), message: format!("stream: {e}") }),
        })
        .boxed();
    Ok(Terminal { output, input, size })
}
