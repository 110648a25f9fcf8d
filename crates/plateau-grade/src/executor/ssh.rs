//! SSH (russh): one connection per node, reused by every check; one channel
//! per command, always closed, also on timeout (sshd allows only 10 sessions
//! per connection and a dropped channel stays open). Host keys are pinned:
//! a node that presents another key is not graded.

use crate::Error;
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{Algorithm, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};
use tokio::sync::Mutex;

use plateau_engine::terminal::{Resizer, Terminal};

use super::{ExecError, Execute, Output, Shell};

/// How the grader logs in.
#[derive(Clone)]
pub enum SshAuth {
    Password(String),
    Key(Arc<PrivateKey>),
}

pub struct SshExecutor {
    address: String,
    port: u16,
    user: String,
    auth: SshAuth,
    /// Keys the node may present (all of its host keys, read when it was
    /// provisioned); empty means "accept the first and report it".
    pinned: Vec<PublicKey>,
    /// The host key presented at the last connection (to pin it on first use).
    seen: Arc<std::sync::Mutex<Option<String>>>,
    connection: Mutex<Option<Arc<Handle<Verifier>>>>,
}

struct Verifier {
    pinned: Vec<PublicKey>,
    seen: Arc<std::sync::Mutex<Option<String>>>,
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(&mut self, presented: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = presented else {
            return Ok(false);
        };
        if let Ok(line) = key.to_openssh() {
            *self.seen.lock().expect("not poisoned") = Some(line);
        }
        Ok(self.pinned.is_empty() || self.pinned.iter().any(|p| p.key_data() == key.key_data()))
    }
}

/// A fresh grader key (ed25519), in OpenSSH format.
pub fn generate_key() -> String {
    let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).expect("ed25519 key generation");
    key.to_openssh(russh::keys::ssh_key::LineEnding::LF).expect("encodable key").to_string()
}

/// The `authorized_keys` line of a private key in OpenSSH format.
pub fn public_key_line(private_openssh: &str) -> Result<String, Error> {
    let key = PrivateKey::from_openssh(private_openssh).map_err(|e| Error::Key(e.to_string()))?;
    key.public_key().to_openssh().map(|line| format!("{line} plateau-grader")).map_err(|e| Error::Key(e.to_string()))
}

impl SshExecutor {
    /// `pinned`: the node's host public keys, one OpenSSH line each.
    pub fn new(
        address: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        auth: SshAuth,
        pinned: &[String],
    ) -> SshExecutor {
        SshExecutor {
            address: address.into(),
            port,
            user: user.into(),
            auth,
            pinned: pinned.iter().filter_map(|line| PublicKey::from_openssh(line.trim()).ok()).collect(),
            seen: Arc::default(),
            connection: Mutex::new(None),
        }
    }

    pub fn key_auth(private_openssh: &str) -> Result<SshAuth, Error> {
        PrivateKey::from_openssh(private_openssh)
            .map(|k| SshAuth::Key(Arc::new(k)))
            .map_err(|e| Error::Key(e.to_string()))
    }

    fn target(&self) -> String {
        format!("{}@{}:{}", self.user, self.address, self.port)
    }

    async fn connect(&self) -> Result<Arc<Handle<Verifier>>, ExecError> {
        let config = Arc::new(client::Config { nodelay: true, ..Default::default() });
        let verifier = Verifier { pinned: self.pinned.clone(), seen: self.seen.clone() };
        let mut handle =
            client::connect(config, (self.address.as_str(), self.port), verifier).await.map_err(|e| match e {
                russh::Error::UnknownKey => ExecError::HostKey { target: self.target() },
                e => ExecError::Unreachable { target: self.target(), message: e.to_string() },
            })?;
        let auth = match &self.auth {
            SshAuth::Password(password) => handle.authenticate_password(&self.user, password).await,
            SshAuth::Key(key) => {
                let hash = handle.best_supported_rsa_hash().await.ok().flatten().flatten();
                handle.authenticate_publickey(&self.user, PrivateKeyWithHashAlg::new(key.clone(), hash)).await
            }
        }
        .map_err(|e| ExecError::Protocol { target: self.target(), message: e.to_string() })?;
        if !auth.success() {
            return Err(ExecError::Auth { target: self.target() });
        }
        Ok(Arc::new(handle))
    }

    /// The open connection, or a new one when there is none or it broke.
    async fn connection(&self) -> Result<Arc<Handle<Verifier>>, ExecError> {
        let mut slot = self.connection.lock().await;
        if let Some(handle) = slot.as_ref()
            && !handle.is_closed()
        {
            return Ok(handle.clone());
        }
        let handle = self.connect().await?;
        *slot = Some(handle.clone());
        Ok(handle)
    }

    async fn exec(&self, command: &str, timeout: Duration) -> Result<Output, ExecError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let late = |_| ExecError::Timeout(timeout);
        let protocol = |e: russh::Error| ExecError::Protocol { target: self.target(), message: e.to_string() };
        let handle = tokio::time::timeout_at(deadline, self.connection()).await.map_err(late)??;
        let mut channel =
            tokio::time::timeout_at(deadline, handle.channel_open_session()).await.map_err(late)?.map_err(protocol)?;
        let command = clean(command);
        let collected = tokio::time::timeout_at(deadline, async {
            channel.exec(true, command.as_str()).await?;
            let (mut stdout, mut stderr, mut exit_code) = (Vec::new(), Vec::new(), None);
            while let Some(message) = channel.wait().await {
                match message {
                    ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
                    ChannelMsg::ExtendedData { data, .. } => stderr.extend_from_slice(&data),
                    ChannelMsg::ExitStatus { exit_status } => exit_code = Some(i64::from(exit_status)),
                    ChannelMsg::ExitSignal { .. } => exit_code = exit_code.or(Some(-1)),
                    _ => {}
                }
            }
            Ok::<_, russh::Error>(Output {
                exit_code: exit_code.unwrap_or(-1),
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
            })
        })
        .await;
        // Closing is what frees the session slot on the server, also (above
        // all) when the command is still running.
        let _ = tokio::time::timeout(Duration::from_secs(1), channel.close()).await;
        collected.map_err(late)?.map_err(protocol)
    }

    /// A login shell on a PTY of `cols`×`rows` (a candidate's terminal on a
    /// machine reached over SSH: a VM's guest). A connection of its own,
    /// closed when the shell ends or the terminal is dropped.
    pub async fn terminal(&self, cols: u16, rows: u16) -> Result<Terminal, ExecError> {
        let protocol = |e: russh::Error| ExecError::Protocol { target: self.target(), message: e.to_string() };
        let handle = self.connect().await?;
        let channel = handle.channel_open_session().await.map_err(protocol)?;
        let modes = [(russh::Pty::IUTF8, 1)];
        channel.request_pty(true, "xterm-256color", cols.into(), rows.into(), 0, 0, &modes).await.map_err(protocol)?;
        channel.request_shell(true).await.map_err(protocol)?;
        let (mut read, write) = channel.split();
        let input = Box::pin(write.make_writer());
        let (output_tx, output_rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, plateau_engine::Error>>(256);
        let (sizes, mut resize) = tokio::sync::mpsc::channel::<(u16, u16)>(8);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    message = read.wait() => match message {
                        Some(ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. }) => {
                            if output_tx.send(Ok(data.to_vec())).await.is_err() {
                                break;
                            }
                        }
                        Some(ChannelMsg::Eof | ChannelMsg::Close) | None => break,
                        Some(_) => {}
                    },
                    size = resize.recv() => match size {
                        Some((cols, rows)) => {
                            let _ = write.window_change(cols.into(), rows.into(), 0, 0).await;
                        }
                        None => break,
                    },
                }
            }
            let _ = handle.disconnect(Disconnect::ByApplication, "", "fr").await;
        });
        let output = futures_util::stream::unfold(output_rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
        Ok(Terminal { output: Box::pin(output), input, size: Resizer::Requests(sizes) })
    }

    /// The host key the node presented, when nothing was pinned for it yet:
    /// the caller pins it (trust on first use, for machines Plateau did not
    /// provision).
    pub fn first_seen_key(&self) -> Option<String> {
        if !self.pinned.is_empty() {
            return None;
        }
        self.seen.lock().expect("not poisoned").clone()
    }

    /// Disconnect politely (the connection is otherwise kept for reuse).
    pub async fn close(&self) {
        if let Some(handle) = self.connection.lock().await.take() {
            let _ = handle.disconnect(Disconnect::ByApplication, "", "en").await;
        }
    }
}

/// A command as the grader sends it: a fresh `/bin/sh` with an empty
/// environment but a search path with the system's programs first (a
/// stand-in in `/usr/local/bin` is not found before them, as in a
/// container). The login shell has read its start-up files by then, but
/// what they defined (functions, aliases, variables such as `LD_PRELOAD`)
/// does not reach a program named by its absolute path: a name with a `/`
/// is never looked up as a function or an alias.
fn clean(command: &str) -> String {
    let quoted = command.replace('\'', r"'\''");
    format!("/usr/bin/env -i {} HOME=\"$HOME\" LANG=C.UTF-8 /bin/sh -c '{quoted}'", plateau_engine::CLEAN_PATH)
}

impl Execute for SshExecutor {
    fn describe(&self) -> String {
        format!("ssh {}", self.target())
    }

    fn shell(&self) -> Shell {
        Shell::Posix
    }

    async fn run(&self, command: &str, timeout: Duration) -> Result<Output, ExecError> {
        self.exec(command, timeout).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_grader_runs_the_systems_programs_first_in_a_fresh_shell() {
        assert_eq!(
            super::clean("curl -s 'x y'"),
            r#"/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin HOME="$HOME" LANG=C.UTF-8 /bin/sh -c 'curl -s '\''x y'\'''"#
        );
    }

    /// What a login shell makes of it, after start-up files that redefine
    /// the programs the grader calls.
    #[test]
    fn what_the_login_shell_defined_does_not_reach_the_command() {
        let startup = "probe() { echo forged; }; export -f probe; alias probe='echo forged'; \
                       export LD_PRELOAD=/nowhere.so BASH_ENV=/nowhere";
        let command = r#"type probe >/dev/null 2>&1 || echo none; echo "[$LD_PRELOAD$BASH_ENV]"; echo 'it'"'"'s'"#;
        let out = std::process::Command::new("/bin/bash")
            .args(["-c", &format!("{startup}; {}", super::clean(command))])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "none\n[]\nit's\n");
    }
}
