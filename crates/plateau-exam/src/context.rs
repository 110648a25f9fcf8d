//! The two handles every operation starts from: a `Workspace` (where a
//! centre keeps its sessions, and who acts) and a `SessionCtx` (one recorded
//! session: its database, record, scenario as stored at `up`, and engine).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use plateau_engine::Engine;
use plateau_engine::platform::Session;
use plateau_grade::targets::Credentials;
use plateau_scenario::Scenario;
use plateau_state::{CandidateRecord, SessionRecord, Store};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::error::{Error, Result};

/// Where a centre's sessions live, and who acts on them.
#[derive(Clone)]
pub struct Workspace {
    /// The session database (SQLite); generated files go beside it.
    pub state: PathBuf,
    /// Recorded in the audit log with every action.
    pub actor: String,
    /// Containers created or started at once by one engine handle.
    pub concurrency: usize,
    /// The runtime to use instead of connecting to the local Docker engine
    /// (the in-memory one in unit tests).
    pub engine: Option<Engine>,
}

impl Workspace {
    pub fn new(state: impl Into<PathBuf>, actor: impl Into<String>) -> Workspace {
        Workspace { state: state.into(), actor: actor.into(), concurrency: 8, engine: None }
    }

    pub fn with_engine(mut self, engine: Engine) -> Workspace {
        self.engine = Some(engine);
        self
    }

    /// The given runtime, or the local Docker engine.
    pub(crate) async fn connect(&self) -> Result<Engine> {
        match &self.engine {
            Some(engine) => Ok(engine.clone()),
            None => Ok(Engine::connect(self.concurrency).await?),
        }
    }

    pub fn with_concurrency(mut self, concurrency: usize) -> Workspace {
        self.concurrency = concurrency.max(1);
        self
    }

    pub(crate) fn store(&self) -> Result<Store> {
        Ok(Store::open(&self.state)?)
    }

    /// Where a session's generated files go (access sheets, reports).
    pub fn session_dir(&self, session: &str) -> PathBuf {
        self.state.parent().unwrap_or(Path::new(".")).join(session)
    }

    /// Open a recorded session.
    pub fn session(&self, name: &str) -> Result<SessionCtx> {
        let store = self.store()?;
        let record = store.session(name)?;
        SessionCtx::new(self, store, record)
    }

    /// The names of the sessions in the database.
    pub fn sessions(&self) -> Result<Vec<String>> {
        Ok(self.store()?.sessions()?)
    }
}

/// One recorded session and what acting on it needs.
pub struct SessionCtx {
    store: Mutex<Store>,
    pub record: SessionRecord,
    pub scenario: Arc<Scenario>,
    pub(crate) workspace: Workspace,
    engine: OnceCell<Engine>,
}

impl SessionCtx {
    pub(crate) fn new(workspace: &Workspace, store: Store, record: SessionRecord) -> Result<SessionCtx> {
        let scenario = Arc::new(stored_scenario(&record)?);
        Ok(SessionCtx {
            store: Mutex::new(store),
            record,
            scenario,
            workspace: workspace.clone(),
            engine: OnceCell::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.record.name
    }

    /// Who acts (the account the audit log names).
    pub fn actor(&self) -> &str {
        &self.workspace.actor
    }

    /// The session's folder beside the database (sheets, reports, recordings).
    pub fn session_dir(&self) -> PathBuf {
        self.workspace.session_dir(&self.record.name)
    }

    /// The database. Never hold the guard across an `.await`: operations
    /// stay `Send` for the web console.
    pub(crate) fn db(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The engine, connected on first use (reports and the clock never need it).
    pub(crate) async fn engine(&self) -> Result<&Engine> {
        self.engine.get_or_try_init(|| self.workspace.connect()).await
    }

    /// Append an action to the session's audit log; the new head.
    pub(crate) fn audit(&self, action: &str, detail: serde_json::Value) -> Result<String> {
        Ok(self.db().audit(&self.record.name, &self.workspace.actor, action, &detail)?)
    }

    /// The engine's view of the session.
    pub(crate) fn engine_session(&self) -> Result<Session> {
        let grader_key = self.db().grader_key(&self.record.name, plateau_grade::executor::generate_key)?;
        Ok(Session {
            name: self.record.name.clone(),
            scenario_hash: self.record.scenario_hash.clone(),
            grader_key: Some(plateau_grade::executor::public_key_line(&grader_key).map_err(Error::Grader)?),
            relays_on_loopback: self.db().gateway(&self.record.name)?.is_some(),
        })
    }

    pub fn candidates(&self) -> Result<Vec<CandidateRecord>> {
        Ok(self.db().candidates(&self.record.name)?)
    }

    pub fn candidate(&self, id: &str) -> Result<CandidateRecord> {
        Ok(self.db().candidate(&self.record.name, id)?)
    }

    /// One candidate, or all of the session.
    pub fn some_candidates(&self, only: Option<&str>) -> Result<Vec<CandidateRecord>> {
        match only {
            Some(id) => Ok(vec![self.candidate(id)?]),
            None => self.candidates(),
        }
    }

    /// What a candidate's grader holds: the session key and the pinned host keys.
    pub(crate) fn credentials(&self, candidate: &CandidateRecord) -> Result<Credentials> {
        let db = self.db();
        let grader_key = db.grader_key(&self.record.name, plateau_grade::executor::generate_key)?;
        let mut host_keys = std::collections::HashMap::new();
        for node in &candidate.plan.nodes {
            host_keys.insert(node.id.clone(), db.host_keys(&self.record.name, &candidate.id, &node.id)?);
        }
        Ok(Credentials { grader_key: Some(grader_key), host_keys })
    }

    /// The grader's way into a candidate's platform.
    pub(crate) async fn reach(&self, candidate: &CandidateRecord) -> Result<plateau_grade::grade::Platform> {
        let credentials = self.credentials(candidate)?;
        let session = self.engine_session()?;
        plateau_grade::targets::platform(self.engine().await?, &session, &candidate.plan, &credentials)
            .await
            .map_err(Error::Grader)
    }
}

/// The scenario as stored at `up`. Databases from before the text was kept
/// fall back to the file, which must still be the same.
fn stored_scenario(record: &SessionRecord) -> Result<Scenario> {
    let text = if record.scenario_text.is_empty() {
        let text = std::fs::read_to_string(&record.scenario_file).map_err(Error::io(&record.scenario_file))?;
        if scenario_hash(&text) != record.scenario_hash {
            return Err(Error::Refused(format!(
                "{} changed since `plateau up` and this session's database predates stored scenarios; \
                 put the file back as it was, or `plateau down` and `up` the session again",
                record.scenario_file
            )));
        }
        text
    } else {
        record.scenario_text.clone()
    };
    Scenario::parse(&record.scenario_file, &text).map_err(Error::Invalid)
}

/// A short content hash of a scenario's text: labels its containers.
pub fn scenario_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect()
}
