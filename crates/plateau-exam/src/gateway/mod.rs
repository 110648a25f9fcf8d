//! The seat gateway: the candidate's terminals in the browser. Each one is
//! a login shell of the candidate's account on an entry node, opened
//! through the engine (the candidate never holds a way to the engine),
//! kept by this process while its viewers come and go (a dropped network
//! reconnects to the same shell), recorded as it runs, and ended the moment
//! the candidate's access is cut: it lives exactly as long as their relay.
//!
//! The recording (asciicast v2) and the lines entered are written on the
//! controller, under the session's folder and in its database, where no
//! candidate reaches: root on the node changes what the node does, never
//! what the gateway saw.

mod desktop;
mod lines;
mod record;
mod rfb;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use plateau_report::{BlockWork, EnteredLine, Intervention};
use plateau_state::TypedLine;
use tokio::io::AsyncWriteExt;
use tokio::sync::{broadcast, mpsc, watch};

use crate::SessionCtx;
use crate::error::{Error, Result, refuse};
pub use desktop::Desktop;
pub use lines::{Entered, LineReader};
pub use record::Recording;

/// Why a session ended when the candidate's access was cut: pages say "the end", not "reconnect".
pub const ACCESS_CUT: &str = "the access was cut";

/// How often a terminal asks whether its candidate's access is still open.
const ACCESS_POLL: Duration = Duration::from_millis(500);
/// How much recent output a viewer who arrives (or comes back) is shown.
const BACKLOG: usize = 64 * 1024;

/// What a viewer sends a terminal.
pub enum Keys {
    Typed(Vec<u8>),
    Resize(u16, u16),
    /// The one who held the session left (an SSH connection closed): its shell ends.
    Hangup,
}

/// A shell on a node, shared by whoever watches it.
pub struct LiveTerminal {
    pub candidate: String,
    pub node: String,
    pub recording: std::path::PathBuf,
    keys: mpsc::Sender<Keys>,
    output: broadcast::Sender<Arc<Vec<u8>>>,
    backlog: Mutex<Vec<u8>>,
    ended: watch::Receiver<bool>,
    /// Accounts other than the candidate's that took control (audited).
    hands: Mutex<std::collections::BTreeSet<String>>,
}

impl LiveTerminal {
    /// The recent output to draw first, and what comes after it.
    pub fn attach(&self) -> (Vec<u8>, broadcast::Receiver<Arc<Vec<u8>>>) {
        let backlog = self.backlog.lock().unwrap_or_else(|p| p.into_inner());
        (backlog.clone(), self.output.subscribe())
    }

    /// Keys typed or a new window size (the candidate's own view only).
    pub async fn send(&self, keys: Keys) {
        let _ = self.keys.send(keys).await;
    }

    /// Let `ctx`'s account type here too (a trainer helping in practice): audited.
    pub fn take_control(&self, ctx: &SessionCtx) -> Result<()> {
        ctx.audit("terminal.take-control", serde_json::json!({ "candidate": self.candidate, "node": self.node }))?;
        self.hands.lock().unwrap_or_else(|p| p.into_inner()).insert(ctx.actor().to_string());
        Ok(())
    }

    /// Whether `account` took control of this terminal.
    pub fn has_hand(&self, account: &str) -> bool {
        self.hands.lock().unwrap_or_else(|p| p.into_inner()).contains(account)
    }

    /// Becomes `true` when the shell ended or the access was cut.
    pub fn ended(&self) -> watch::Receiver<bool> {
        self.ended.clone()
    }
}

/// (session, candidate, node).
type Seat = (String, String, String);

/// The live terminals of this process, one per (session, candidate, node).
#[derive(Clone, Default)]
pub struct Gateway {
    live: Arc<Mutex<HashMap<Seat, Arc<LiveTerminal>>>>,
    /// Shells of the candidate's own, one per SSH connection, oldest first:
    /// watched when no browser terminal is open on the seat.
    own: Arc<Mutex<HashMap<Seat, Vec<Arc<LiveTerminal>>>>>,
    /// Held while a seat's shell is being opened: two tabs opened at once
    /// share one shell, never two.
    opening: Arc<Mutex<HashMap<Seat, Arc<tokio::sync::Mutex<()>>>>>,
    /// The desktops whose control an account other than the candidate's
    /// took (audited): (seat, account).
    desktop_hands: Arc<Mutex<std::collections::BTreeSet<(Seat, String)>>>,
}

impl Gateway {
    /// The candidate's terminal on `node`: the one already open, else a new
    /// login shell, if their access is open.
    pub async fn open(
        &self,
        ctx: &Arc<SessionCtx>,
        candidate: &str,
        node: &str,
        size: (u16, u16),
    ) -> Result<Arc<LiveTerminal>> {
        let key = (ctx.name().to_string(), candidate.to_string(), node.to_string());
        let seat = self.opening.lock().unwrap_or_else(|p| p.into_inner()).entry(key.clone()).or_default().clone();
        let _opening = seat.lock().await;
        if let Some(live) = self.get(&key) {
            return Ok(live);
        }
        self.start(ctx, candidate, node, size, Shared::Yes, "browser").await
    }

    /// A login shell of the candidate's own on `node`, shared with no one
    /// (an SSH session: each connection its own shell, as with sshd),
    /// recorded like the others; it ends with `Keys::Hangup` or the access.
    pub async fn open_own(
        &self,
        ctx: &Arc<SessionCtx>,
        candidate: &str,
        node: &str,
        size: (u16, u16),
        via: &str,
    ) -> Result<Arc<LiveTerminal>> {
        self.start(ctx, candidate, node, size, Shared::No, via).await
    }

    /// Open a shell and its recording, registered for viewers who join.
    async fn start(
        &self,
        ctx: &Arc<SessionCtx>,
        candidate: &str,
        node: &str,
        size: (u16, u16),
        shared: Shared,
        via: &str,
    ) -> Result<Arc<LiveTerminal>> {
        let plan = ctx.candidate(candidate)?.plan;
        let Some(entry) = plan.access.iter().find(|a| a.node == node) else {
            refuse!("{candidate} has no access to `{node}` (the access sheet lists their ways in)");
        };
        let engine = ctx.engine_of(candidate).await?;
        let session = ctx.engine_session()?;
        if !engine.access_open(&session, candidate).await? {
            refuse!("{candidate}'s access is closed (the exam has not started, or their time is up)");
        }
        let (terminal, tunnel) = self::terminal(ctx, &plan, entry, size).await?;
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let file = format!("{node}-{}.cast", started.as_millis());
        let path = ctx.recordings_dir(candidate).join(&file);
        let recording = Recording::create(&path, size, &format!("{candidate} {node}")).map_err(Error::io(&path))?;
        let what = serde_json::json!({ "candidate": candidate, "node": node, "recording": file, "via": via });
        ctx.audit("terminal.open", what)?;

        let (keys, keys_rx) = mpsc::channel(256);
        let (output, _) = broadcast::channel(1024);
        let (ended_tx, ended) = watch::channel(false);
        let live = Arc::new(LiveTerminal {
            candidate: candidate.to_string(),
            node: node.to_string(),
            recording: path,
            keys,
            output,
            backlog: Mutex::new(Vec::new()),
            ended,
            hands: Mutex::default(),
        });
        let key = (ctx.name().to_string(), candidate.to_string(), node.to_string());
        match shared {
            Shared::Yes => {
                self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone(), live.clone());
            }
            Shared::No => {
                self.own.lock().unwrap_or_else(|p| p.into_inner()).entry(key.clone()).or_default().push(live.clone());
            }
        }
        let run = Run {
            _tunnel: tunnel,
            ctx: ctx.clone(),
            live: live.clone(),
            recording,
            file,
            reader: LineReader::default(),
            open_row: None,
            flushed: std::time::Instant::now(),
        };
        let gateway = self.clone();
        let live_ended = live.clone();
        tokio::spawn(async move {
            run.pump(terminal, keys_rx).await;
            let _ = ended_tx.send(true);
            gateway.forget(&key, &live_ended, shared);
        });
        Ok(live)
    }

    /// A shell that ended leaves the registry.
    fn forget(&self, key: &Seat, ended: &Arc<LiveTerminal>, shared: Shared) {
        match shared {
            Shared::Yes => {
                let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
                if live.get(key).is_some_and(|t| Arc::ptr_eq(t, ended)) {
                    live.remove(key);
                }
            }
            Shared::No => {
                let mut own = self.own.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(shells) = own.get_mut(key) {
                    shells.retain(|t| !Arc::ptr_eq(t, ended));
                    if shells.is_empty() {
                        own.remove(key);
                    }
                }
            }
        }
    }

    fn get(&self, key: &Seat) -> Option<Arc<LiveTerminal>> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(key).filter(|t| !*t.ended.borrow()).cloned()
    }

    /// Let `ctx`'s account use the candidate's desktop on `node` too
    /// (a trainer helping in practice): audited.
    pub fn take_desktop(&self, ctx: &SessionCtx, candidate: &str, node: &str) -> Result<()> {
        ctx.audit("desktop.take-control", serde_json::json!({ "candidate": candidate, "node": node }))?;
        let seat = (ctx.name().to_string(), candidate.to_string(), node.to_string());
        self.desktop_hands.lock().unwrap_or_else(|p| p.into_inner()).insert((seat, ctx.actor().to_string()));
        Ok(())
    }

    /// Whether `account` took control of the candidate's desktop on `node`.
    pub fn has_desktop_hand(&self, session: &str, candidate: &str, node: &str, account: &str) -> bool {
        let seat = (session.to_string(), candidate.to_string(), node.to_string());
        self.desktop_hands.lock().unwrap_or_else(|p| p.into_inner()).contains(&(seat, account.to_string()))
    }

    /// The candidate's terminal on `node` if one is open, for a viewer: the
    /// browser's, else their latest SSH session there.
    pub fn find(&self, session: &str, candidate: &str, node: &str) -> Option<Arc<LiveTerminal>> {
        let key = (session.to_string(), candidate.to_string(), node.to_string());
        self.get(&key).or_else(|| {
            let own = self.own.lock().unwrap_or_else(|p| p.into_inner());
            own.get(&key)?.iter().rev().find(|t| !*t.ended.borrow()).cloned()
        })
    }
}

/// Whether viewers and the candidate's other tabs share a shell (the
/// browser's), or it is one connection's own (SSH).
#[derive(Clone, Copy)]
enum Shared {
    Yes,
    No,
}

/// A login shell of the candidate's account on their entry node: through
/// the engine (a TTY of its own) on a container; on a VM, SSH into the
/// guest with the candidate's account through the engine's tunnel to its
/// management NIC (the host keys pinned at `up` only), the tunnel returned
/// to live as long as the shell.
async fn terminal(
    ctx: &SessionCtx,
    plan: &plateau_scenario::CandidatePlan,
    entry: &plateau_scenario::PlannedAccess,
    (cols, rows): (u16, u16),
) -> Result<(plateau_engine::terminal::Terminal, Option<plateau_engine::platform::Forward>)> {
    let candidate = plan.candidate.id.as_str();
    let engine = ctx.engine_of(candidate).await?;
    let session = ctx.engine_session()?;
    let on_vm = plan.node(&entry.node).is_some_and(|n| n.backend == plateau_scenario::model::Backend::Vm);
    if !on_vm {
        let container = session.container_name(candidate, &entry.node);
        return Ok((engine.open_terminal(&container, &entry.user, (cols, rows)).await?, None));
    }
    let tunnel = engine.forward(&session, candidate, &entry.node, 22).await?;
    let pinned = ctx.db().host_keys(ctx.name(), candidate, &entry.node)?;
    let login = plateau_grade::executor::SshExecutor::new(
        tunnel.address.ip().to_string(),
        tunnel.address.port(),
        entry.user.clone(),
        plateau_grade::executor::SshAuth::Password(entry.password.clone()),
        &pinned,
    );
    let terminal = login
        .terminal(cols, rows)
        .await
        .map_err(|e| Error::Grader(plateau_grade::Error::Access(format!("{}: {e}", entry.node))))?;
    Ok((terminal, Some(tunnel)))
}

/// One terminal's work: bytes both ways, the recording, the lines entered.
struct Run {
    /// The engine's tunnel to a VM's guest, open while the shell runs.
    _tunnel: Option<plateau_engine::platform::Forward>,
    ctx: Arc<SessionCtx>,
    live: Arc<LiveTerminal>,
    recording: Recording,
    file: String,
    reader: LineReader,
    /// The database row of the line being answered, and when its output was last written.
    open_row: Option<i64>,
    flushed: std::time::Instant,
}

impl Run {
    async fn pump(mut self, terminal: plateau_engine::terminal::Terminal, mut keys: mpsc::Receiver<Keys>) {
        let plateau_engine::terminal::Terminal { mut output, mut input, size } = terminal;
        let mut poll = tokio::time::interval(ACCESS_POLL);
        let why = loop {
            tokio::select! {
                chunk = output.next() => match chunk {
                    Some(Ok(bytes)) => self.printed(bytes),
                    Some(Err(e)) => break e.to_string(),
                    None => break "the shell ended".to_string(),
                },
                typed = keys.recv() => match typed {
                    Some(Keys::Typed(bytes)) => {
                        self.reader.typed(&bytes, &now());
                        if input.write_all(&bytes).await.is_err() {
                            break "the shell stopped reading".to_string();
                        }
                    }
                    Some(Keys::Resize(cols, rows)) => {
                        let _ = size.resize(cols, rows).await;
                        let _ = self.recording.resize(cols, rows);
                    }
                    Some(Keys::Hangup) => break "hung up".to_string(),
                    None => break "closed".to_string(),
                },
                _ = poll.tick() => {
                    if !self.access_open().await {
                        break ACCESS_CUT.to_string();
                    }
                }
            }
            self.store(false);
        };
        self.store(true);
        let _ = self.ctx.audit(
            "terminal.close",
            serde_json::json!({ "candidate": self.live.candidate, "node": self.live.node, "why": why }),
        );
    }

    async fn access_open(&self) -> bool {
        still_open(&self.ctx, &self.live.candidate).await
    }

    fn printed(&mut self, bytes: Vec<u8>) {
        if let Ok(text) = self.recording.output(&bytes) {
            self.reader.printed(&text);
        }
        let mut backlog = self.live.backlog.lock().unwrap_or_else(|p| p.into_inner());
        backlog.extend_from_slice(&bytes);
        let over = backlog.len().saturating_sub(BACKLOG);
        backlog.drain(..over);
        drop(backlog);
        let _ = self.live.output.send(Arc::new(bytes));
    }

    /// The lines entered, into the database as soon as they are (the jury
    /// sees a line being answered), their output as it comes.
    fn store(&mut self, last: bool) {
        let done = if last { self.reader.finish() } else { self.reader.take() };
        for entered in done {
            match self.open_row.take() {
                // The line that was open at the last store is the first to end.
                Some(row) => self.write(|db| db.typed_output(row, &entered.output)),
                None => {
                    self.insert(&entered);
                }
            }
        }
        match (self.reader.open().cloned(), self.open_row) {
            (Some(open), None) => self.open_row = self.insert(&open),
            // At most twice a second: a long output is not a write per chunk.
            (Some(open), Some(row)) if last || self.flushed.elapsed() >= ACCESS_POLL => {
                self.flushed = std::time::Instant::now();
                self.write(|db| db.typed_output(row, &open.output));
            }
            (Some(_), Some(_)) => {}
            (None, _) => {}
        }
    }

    fn insert(&self, entered: &Entered) -> Option<i64> {
        let typed = TypedLine {
            node: self.live.node.clone(),
            at: entered.at.clone(),
            line: entered.line.clone(),
            output: entered.output.clone(),
            recording: self.file.clone(),
        };
        let row = self.ctx.db().record_typed(self.ctx.name(), &self.live.candidate, &typed);
        row.inspect_err(|e| tracing::warn!("typed line not stored: {e}")).ok()
    }

    fn write(&self, update: impl FnOnce(&plateau_state::Store) -> std::result::Result<(), plateau_state::Error>) {
        if let Err(e) = update(&self.ctx.db()) {
            tracing::warn!("typed line not stored: {e}");
        }
    }
}

/// Whether the candidate's access is open; an engine that does not answer
/// keeps nothing open.
async fn still_open(ctx: &SessionCtx, candidate: &str) -> bool {
    ctx.access_open(candidate).await.unwrap_or(false)
}

/// A stored line, as the report shows it.
fn entered(line: TypedLine) -> EnteredLine {
    EnteredLine { node: line.node, at: line.at, line: line.line, output: line.output, recording: line.recording }
}

/// Now, as the database writes its times (RFC 3339, UTC, milliseconds).
fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl SessionCtx {
    /// Where the candidate's recordings are, on the controller.
    fn recordings_dir(&self, candidate: &str) -> std::path::PathBuf {
        self.session_dir().join("recordings").join(candidate)
    }

    /// The names of the candidate's recordings (asciicast v2), oldest first.
    pub fn recordings(&self, candidate: &str) -> Result<Vec<String>> {
        let dir = self.recordings_dir(candidate);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&dir)(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".cast"))
            .collect();
        // `NODE-MILLIS.cast`: by time, then node.
        names.sort_by_key(|name| (name.rsplit('-').next().map(str::to_string), name.clone()));
        Ok(names)
    }

    /// One of the candidate's recordings, by the name `recordings` gives.
    pub fn recording(&self, candidate: &str, name: &str) -> Result<Vec<u8>> {
        if !self.recordings(candidate)?.iter().any(|n| n == name) {
            refuse!("{candidate} has no recording `{name}`");
        }
        let path = self.recordings_dir(candidate).join(name);
        std::fs::read(&path).map_err(Error::io(&path))
    }

    /// Per fault injected into the candidate's platform, from its injection
    /// to its revert (or to now), the lines they entered on every node.
    pub fn timeline(&self, candidate: &str) -> Result<Vec<Intervention>> {
        let db = self.db();
        let mut timeline = Vec::new();
        for fault in db.fault_windows(self.name(), candidate)? {
            let lines = db.typed_between(self.name(), candidate, &fault.injected_at, fault.reverted_at.as_deref())?;
            timeline.push(Intervention {
                fault: fault.fault,
                title: fault.title,
                injected_at: fault.injected_at,
                reverted_at: fault.reverted_at,
                ticket: fault.ticket,
                lines: lines.into_iter().map(entered).collect(),
            });
        }
        Ok(timeline)
    }

    /// The preparatory phase per block of the scenario: the lines the
    /// candidate entered up to their deadline (outside any fault's time),
    /// on the nodes the block's checks run on or are sent from. A block
    /// whose checks read no node of theirs is left out.
    pub fn preparation(&self, candidate: &str) -> Result<Vec<BlockWork>> {
        let db = self.db();
        let deadline = db
            .deadlines(self.name())?
            .into_iter()
            .find(|d| d.candidate == candidate && d.phase == crate::clock::PREPARATION);
        let until = deadline.map(|d| {
            d.cut_at.unwrap_or_else(|| {
                let at = std::time::UNIX_EPOCH + Duration::from_secs(d.ends_at.max(0) as u64);
                humantime::format_rfc3339_millis(at).to_string()
            })
        });
        let faults = db.fault_windows(self.name(), candidate)?;
        let during_a_fault = |at: &str| {
            faults.iter().any(|f| f.injected_at.as_str() <= at && f.reverted_at.as_deref().is_none_or(|r| at <= r))
        };
        let lines: Vec<TypedLine> = db
            .typed_between(self.name(), candidate, "", until.as_deref())?
            .into_iter()
            .filter(|l| !during_a_fault(&l.at))
            .collect();
        let framework = self.scenario.framework();
        let mut work = Vec::new();
        for block in &framework.blocks {
            let mut nodes: Vec<String> = Vec::new();
            for check in &self.scenario.file().checks {
                let in_block =
                    check.criteria.iter().any(|c| framework.criterion(c).is_some_and(|c| c.block.id == block.id));
                for node in [&check.node, &check.from].into_iter().flatten() {
                    if in_block && !nodes.contains(node) {
                        nodes.push(node.clone());
                    }
                }
            }
            if nodes.is_empty() {
                continue;
            }
            work.push(BlockWork {
                block: block.id.clone(),
                title: block.title.clone(),
                until: until.clone(),
                lines: lines.iter().filter(|l| nodes.contains(&l.node)).cloned().map(entered).collect(),
                nodes,
            });
        }
        Ok(work)
    }

    /// Whether the candidate's access is open now (their relay runs).
    pub async fn access_open(&self, candidate: &str) -> Result<bool> {
        Ok(self.engine_of(candidate).await?.access_open(&self.engine_session()?, candidate).await?)
    }

    /// Every line the candidate entered through the gateway, in order.
    pub fn typed(&self, candidate: &str) -> Result<Vec<TypedLine>> {
        Ok(self.db().typed_between(self.name(), candidate, "", None)?)
    }
}
