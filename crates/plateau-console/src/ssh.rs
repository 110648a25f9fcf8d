//! SSH through the seat gateway: a candidate signs in with their console
//! account (`ssh -p PORT c01@centre`, or `c01+dhcp@centre` for another
//! entry node) and gets a login shell of their account on the node, opened
//! through the engine and recorded like the browser terminal: the lines
//! entered reach the jury's timeline. Each connection is a shell of its own
//! (as with sshd); it ends with the candidate's access, at the same cut.
//! Interactive sessions only: no command, forwarding or file transfer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use plateau_exam::gateway::{Keys, LiveTerminal};
use plateau_exam::{Account, Role, SessionCtx, Workspace};
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{HashAlg, PrivateKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, Server as _, Session};
use russh::{Channel, ChannelId};

use crate::Console;

/// Shells one connection may hold at once: enough for a technician's
/// habits, not a way to flood the engine with execs.
const SHELLS_PER_CONNECTION: usize = 4;

/// The gateway's SSH host key, made on first use and kept beside the
/// database (0600), so its fingerprint on the access sheet stays true.
pub fn host_key(state: &Path) -> std::io::Result<PrivateKey> {
    let path = state.with_file_name("ssh_host_ed25519_key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return PrivateKey::from_openssh(text).map_err(std::io::Error::other);
    }
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&rand::random::<[u8; 32]>()));
    let text = key.to_openssh(LineEnding::LF).map_err(std::io::Error::other)?;
    let mut options = std::fs::OpenOptions::new();
    std::os::unix::fs::OpenOptionsExt::mode(options.write(true).create_new(true), 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, text.as_bytes())?;
    Ok(key)
}

/// The host key's fingerprint as `ssh` prints it (`SHA256:…`).
pub fn fingerprint(key: &PrivateKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Serve SSH on `listen` until the process ends.
pub async fn serve(console: Console, listen: std::net::SocketAddr) -> std::io::Result<()> {
    let key = host_key(&console.state)?;
    let config = russh::server::Config {
        keys: vec![key],
        auth_rejection_time: std::time::Duration::from_secs(1),
        auth_rejection_time_initial: Some(std::time::Duration::ZERO),
        inactivity_timeout: None,
        nodelay: true,
        ..Default::default()
    };
    let socket = tokio::net::TcpListener::bind(listen).await?;
    Front { console }.run_on_socket(Arc::new(config), &socket).await
}

#[derive(Clone)]
struct Front {
    console: Console,
}

impl russh::server::Server for Front {
    type Handler = Connection;
    fn new_client(&mut self, _: Option<std::net::SocketAddr>) -> Connection {
        Connection { console: self.console.clone(), seat: None, sizes: HashMap::new(), shells: HashMap::new() }
    }
}

/// Who signed in, on which node.
struct Seat {
    ctx: Arc<SessionCtx>,
    candidate: String,
    node: String,
}

struct Connection {
    console: Console,
    seat: Option<Seat>,
    sizes: HashMap<ChannelId, (u16, u16)>,
    shells: HashMap<ChannelId, Arc<LiveTerminal>>,
}

/// The candidate's seat for `user` (`ACCOUNT` or `ACCOUNT+NODE`), if the
/// password is theirs.
fn sign_in(console: &Console, user: &str, password: &str) -> Option<Seat> {
    let (name, node) = match user.rsplit_once('+') {
        Some((name, node)) => (name, Some(node)),
        None => (user, None),
    };
    let account: Account = Workspace::new(&console.state, "console").check_password(name, password).ok()??;
    let (Role::Candidate, Some(session), Some(candidate)) =
        (account.role, account.session.clone(), account.candidates.first().cloned())
    else {
        return None;
    };
    let ctx = console.as_account(&account).session(&session).ok()?;
    let plan = ctx.candidate(&candidate).ok()?.plan;
    let node = match node {
        Some(node) => plan.access.iter().find(|a| a.node == node)?.node.clone(),
        None => plan.access.first()?.node.clone(),
    };
    Some(Seat { ctx: Arc::new(ctx), candidate, node })
}

/// Says `text` on the channel and closes it.
async fn say_and_close(handle: &russh::server::Handle, channel: ChannelId, text: &str) {
    let _ = handle.data(channel, format!("{text}\r\n").into_bytes()).await;
    let _ = handle.exit_status_request(channel, 1).await;
    let _ = handle.eof(channel).await;
    let _ = handle.close(channel).await;
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let console = self.console.clone();
        let (user, password) = (user.to_string(), password.to_string());
        // Argon2 and the database: off the connection's task.
        let seat = tokio::task::spawn_blocking(move || sign_in(&console, &user, &password)).await.ok().flatten();
        Ok(match seat {
            Some(seat) => {
                self.seat = Some(seat);
                Auth::Accept
            }
            None => Auth::reject(),
        })
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        cols: u32,
        rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.sizes.insert(channel, (cols.clamp(1, 1000) as u16, rows.clamp(1, 1000) as u16));
        session.channel_success(channel)
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        let Some(seat) = &self.seat else { return session.channel_failure(channel) };
        if self.shells.len() >= SHELLS_PER_CONNECTION {
            return session.channel_failure(channel);
        }
        session.channel_success(channel)?;
        let size = self.sizes.get(&channel).copied().unwrap_or((80, 24));
        let handle = session.handle();
        let opened = self.console.gateway.open_own(&seat.ctx, &seat.candidate, &seat.node, size, "ssh").await;
        let shell = match opened {
            Ok(shell) => shell,
            Err(e) => {
                // Asked, not read from the error's wording.
                let text = match seat.ctx.access_open(&seat.candidate).await {
                    Ok(false) => {
                        "Votre accès est fermé (l'épreuve n'a pas commencé, ou le temps est écoulé).".to_string()
                    }
                    _ => format!("La session n'a pas pu s'ouvrir : {e}"),
                };
                tokio::spawn(async move { say_and_close(&handle, channel, &text).await });
                return Ok(());
            }
        };
        self.shells.insert(channel, shell.clone());
        let banner =
            "Plateau : votre session est enregistrée pour le jury (ce qui s'affiche et les commandes saisies).\r\n";
        let _ = session.data(channel, banner.as_bytes().to_vec());
        tokio::spawn(async move {
            let (_, mut output) = shell.attach();
            let mut ended = shell.ended();
            loop {
                if *ended.borrow() {
                    break;
                }
                tokio::select! {
                    bytes = output.recv() => match bytes {
                        Ok(bytes) => if handle.data(channel, bytes.to_vec()).await.is_err() { break },
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    },
                    changed = ended.changed() => if changed.is_err() || *ended.borrow() { break },
                }
            }
            say_and_close(&handle, channel, "\r\nSession terminée : l'accès est fermé ou le shell s'est arrêté.").await;
        });
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let handle = session.handle();
        tokio::spawn(async move {
            say_and_close(&handle, channel, "Sessions interactives seulement : ssh sans commande.").await;
        });
        session.channel_failure(channel)
    }

    async fn data(&mut self, channel: ChannelId, data: &[u8], _session: &mut Session) -> Result<(), Self::Error> {
        if let Some(shell) = self.shells.get(&channel) {
            shell.send(Keys::Typed(data.to_vec())).await;
        }
        Ok(())
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        cols: u32,
        rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(shell) = self.shells.get(&channel) {
            shell.send(Keys::Resize(cols.clamp(1, 1000) as u16, rows.clamp(1, 1000) as u16)).await;
        }
        Ok(())
    }

    async fn channel_close(&mut self, channel: ChannelId, _session: &mut Session) -> Result<(), Self::Error> {
        if let Some(shell) = self.shells.remove(&channel) {
            shell.send(Keys::Hangup).await;
        }
        Ok(())
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The connection dropped without closing its channels: their shells end.
        for (_, shell) in self.shells.drain() {
            tokio::spawn(async move { shell.send(Keys::Hangup).await });
        }
    }
}
