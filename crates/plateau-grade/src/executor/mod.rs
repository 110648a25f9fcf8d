//! Executors: how the grader runs a command on a node. One trait, one enum to
//! dispatch (the scenario picks the executor per node).

mod docker;
mod ssh;
mod winrm;

use std::future::Future;
use std::time::Duration;

pub use docker::DockerExecutor;
pub use ssh::{SshAuth, SshExecutor, generate_key, public_key_line};
pub use winrm::{WinRmAuth, WinRmExecutor};

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// Why a command could not be run to its end. A check that meets one of these
/// is an `error` (the grader could not look), never a `fail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("cannot reach {target}: {message}")]
    Unreachable { target: String, message: String },
    #[error("{target} refused the grader's credentials")]
    Auth { target: String },
    #[error("{target} presented a host key that differs from the one pinned at provisioning")]
    HostKey { target: String },
    #[error("{target}: {message}")]
    Protocol { target: String, message: String },
}

/// The language commands are written in on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// POSIX `sh` (Linux).
    Posix,
    /// PowerShell (Windows).
    PowerShell,
}

/// Runs commands on one node.
pub trait Execute {
    /// How the grader reaches the node, for evidence (`ssh root@10.0.0.5:22`).
    fn describe(&self) -> String;
    fn shell(&self) -> Shell;
    /// Run `command`; give up after `timeout`, leaving the connection usable.
    fn run(&self, command: &str, timeout: Duration) -> impl Future<Output = Result<Output, ExecError>> + Send;
}

/// The executors a scenario can choose.
pub enum Executor {
    Ssh(SshExecutor),
    Docker(DockerExecutor),
    WinRm(Box<WinRmExecutor>),
}

impl Execute for Executor {
    fn describe(&self) -> String {
        match self {
            Executor::Ssh(e) => e.describe(),
            Executor::Docker(e) => e.describe(),
            Executor::WinRm(e) => e.describe(),
        }
    }

    fn shell(&self) -> Shell {
        match self {
            Executor::Ssh(e) => e.shell(),
            Executor::Docker(e) => e.shell(),
            Executor::WinRm(e) => e.shell(),
        }
    }

    async fn run(&self, command: &str, timeout: Duration) -> Result<Output, ExecError> {
        match self {
            Executor::Ssh(e) => e.run(command, timeout).await,
            Executor::Docker(e) => e.run(command, timeout).await,
            Executor::WinRm(e) => e.run(command, timeout).await,
        }
    }
}
