//! WinRM (WS-Management over HTTP/HTTPS) for Windows machines, through the
//! `winrm-rs` client: Create shell, Command, Receive until done, Signal,
//! Delete. Commands are PowerShell scripts.

use std::time::Duration;

use winrm_rs::{AuthMethod, WinrmClient, WinrmConfig, WinrmCredentials, WinrmError, encode_powershell_command};

use super::{ExecError, Execute, Output, Shell};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WinRmAuth {
    /// Only over HTTPS outside a lab: the password travels in every request.
    Basic,
    Ntlm,
}

pub struct WinRmExecutor {
    host: String,
    port: u16,
    https: bool,
    user: String,
    client: WinrmClient,
    /// One command at a time: the client keeps one NTLM session per host,
    /// which requests on two connections at once would put out of step.
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl WinRmExecutor {
    /// `user` may be `DOMAIN\name`. Self-signed certificates are accepted: lab
    /// machines rarely have others, and the grader pins nothing here yet.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        https: bool,
        auth: WinRmAuth,
        user: &str,
        password: &str,
    ) -> Result<WinRmExecutor, ExecError> {
        let host = host.into();
        let (domain, name) = user.split_once('\\').unwrap_or(("", user));
        let config = WinrmConfig {
            port,
            use_tls: https,
            accept_invalid_certs: https,
            connect_timeout_secs: 10,
            auth_method: match auth {
                WinRmAuth::Basic => AuthMethod::Basic,
                WinRmAuth::Ntlm => AuthMethod::Ntlm,
            },
            ..WinrmConfig::default()
        };
        crate::tls::install();
        let client = WinrmClient::new(config, WinrmCredentials::new(name, password, domain))
            .map_err(|e| ExecError::Protocol { target: host.clone(), message: e.to_string() })?;
        Ok(WinRmExecutor { host, port, https, user: user.to_string(), client, one_at_a_time: Default::default() })
    }

    fn target(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

impl Execute for WinRmExecutor {
    fn describe(&self) -> String {
        format!("winrm {} {}", if self.https { "https" } else { "http" }, self.target())
    }

    fn shell(&self) -> Shell {
        Shell::PowerShell
    }

    async fn run(&self, script: &str, timeout: Duration) -> Result<Output, ExecError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let Ok(_turn) = tokio::time::timeout_at(deadline, self.one_at_a_time.lock()).await else {
            return Err(ExecError::Timeout(timeout));
        };
        let shell = within(deadline, timeout, self.client.create_shell(&self.host))
            .await
            .map_err(|e| self.error(e, timeout))?;
        let encoded = encode_powershell_command(script);
        // No profile (an administrator's profile.ps1 could redefine what the
        // grader calls) and nothing that waits for an answer.
        let arguments = ["-NoProfile", "-NonInteractive", "-EncodedCommand", &encoded];
        let mut command_id = None;
        let ran = within(deadline, timeout, async {
            let id = self.client.execute_command(&self.host, &shell, "powershell.exe", &arguments).await?;
            command_id = Some(id.clone());
            let (mut stdout, mut stderr, mut exit_code) = (Vec::new(), Vec::new(), None);
            loop {
                let out = self.client.receive_output(&self.host, &shell, &id).await?;
                stdout.extend_from_slice(&out.stdout);
                stderr.extend_from_slice(&out.stderr);
                exit_code = out.exit_code.or(exit_code);
                if out.done {
                    break;
                }
            }
            Ok(Output {
                exit_code: i64::from(exit_code.unwrap_or(-1)),
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
            })
        })
        .await;
        // Always end the command and delete the shell, also (above all) after
        // a timeout: Windows keeps a limited number of shells per user.
        let cleanup = async {
            if let Some(id) = &command_id {
                let _ = self.client.signal_terminate(&self.host, &shell, id).await;
            }
            let _ = self.client.delete_shell(&self.host, &shell).await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), cleanup).await;
        ran.map_err(|e| self.error(e, timeout))
    }
}

impl WinRmExecutor {
    fn error(&self, e: WinrmError, limit: Duration) -> ExecError {
        match e {
            WinrmError::Timeout(_) => ExecError::Timeout(limit),
            WinrmError::AuthFailed(_) => ExecError::Auth { target: self.target() },
            WinrmError::Http(e) => ExecError::Unreachable { target: self.target(), message: e.to_string() },
            e => ExecError::Protocol { target: self.target(), message: e.to_string() },
        }
    }
}

/// Run `work` until `deadline`; a late one is a WinRM timeout of `limit`.
async fn within<T>(
    deadline: tokio::time::Instant,
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, WinrmError>>,
) -> Result<T, WinrmError> {
    tokio::time::timeout_at(deadline, work).await.unwrap_or(Err(WinrmError::Timeout(limit.as_secs())))
}
