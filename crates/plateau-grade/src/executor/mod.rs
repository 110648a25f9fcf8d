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

/// What the grader allows a node, on top of a command's own time, to start
/// it. Under a room's load an engine takes seconds to start a command (16
/// `docker exec` at once during an image build: the last one started 1.3 s
/// late), and a tool's own wait (`nc -w`, `ping -W`: see `checks::secs`)
/// must decide a verdict, never the grader's patience running out first.
pub const START_ALLOWANCE: Duration = Duration::from_secs(10);

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

    /// Run `command`, given `timeout` of its own time and `START_ALLOWANCE`
    /// for the node to start it.
    async fn run(&self, command: &str, timeout: Duration) -> Result<Output, ExecError> {
        let timeout = timeout + START_ALLOWANCE;
        match self {
            Executor::Ssh(e) => e.run(command, timeout).await,
            Executor::Docker(e) => e.run(command, timeout).await,
            Executor::WinRm(e) => e.run(command, timeout).await,
        }
    }
}
