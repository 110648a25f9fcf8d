//! The two handles every operation starts from: a `Workspace` (where a
//! centre keeps its sessions, its engines, and who acts) and a `SessionCtx`
//! (one recorded session: its database, record, scenario as stored at `up`,
//! and the engines its candidates are on).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use plateau_engine::Engine;
use plateau_engine::platform::Session;
use plateau_engine::site::Site;
use plateau_grade::targets::Credentials;
use plateau_scenario::Scenario;
use plateau_state::{CandidateRecord, SessionRecord, Store};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Where a centre's sessions live, and who acts on them.
#[derive(Clone)]
pub struct Workspace {
    /// The session database (SQLite); generated files go beside it.
    pub state: PathBuf,
    /// Recorded in the audit log with every action.
    pub actor: String,
    /// Containers booting at once (creation to ready mark) per engine handle.
    pub concurrency: usize,
    /// The centre's engines (its site file; this host's alone without one).
    pub site: Site,
    /// Runtimes to use instead of connecting, by engine id (in-memory ones
    /// in unit tests).
    pub runtimes: BTreeMap<String, Engine>,
}

impl Workspace {
    pub fn new(state: impl Into<PathBuf>, actor: impl Into<String>) -> Workspace {
        Workspace {
            state: state.into(),
            actor: actor.into(),
            concurrency: 8,
            site: Site::local(),
            runtimes: BTreeMap::new(),
        }
    }

    /// One runtime for this host's engine (the only one without a site file).
    pub fn with_engine(mut self, engine: Engine) -> Workspace {
        self.runtimes.insert(plateau_state::LOCAL_ENGINE.into(), engine);
        self
    }

    /// The centre's engines, and runtimes standing in for some of them.
    pub fn with_site(mut self, site: Site, runtimes: BTreeMap<String, Engine>) -> Workspace {
        self.site = site;
        self.runtimes.extend(runtimes);
        self
    }

    /// The engine of the site with this id.
    pub(crate) async fn connect_to(&self, id: &str) -> Result<Engine> {
        if let Some(engine) = self.runtimes.get(id) {
            return Ok(engine.clone());
        }
        let Some(spec) = self.site.engines.iter().find(|e| e.id == id) else {
            let listed: Vec<&str> = self.site.engines.iter().map(|e| e.id.as_str()).collect();
            return Err(Error::Refused(format!(
                "engine `{id}` holds platforms of this database but the site file does not list it (it lists: {}); \
                 put it back in the site file (`--site`, or `plateau.toml` here)",
                listed.join(", ")
            )));
        };
        Ok(Engine::connect_to(spec, self.concurrency).await?)
    }

    /// Every engine of the site, each connected or with why not.
    pub(crate) async fn connect_all(&self) -> Vec<(String, Result<Engine>)> {
        let ids: Vec<String> = self.site.engines.iter().map(|e| e.id.clone()).collect();
        let connected = futures_util::future::join_all(ids.iter().map(|id| self.connect_to(id))).await;
        ids.into_iter().zip(connected).collect()
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
    /// Engines connected so far, by id: each on first use (reports and the
    /// clock never need one).
    engines: tokio::sync::Mutex<BTreeMap<String, Engine>>,
}

impl SessionCtx {
    pub(crate) fn new(workspace: &Workspace, store: Store, record: SessionRecord) -> Result<SessionCtx> {
        let scenario = Arc::new(stored_scenario(&record)?);
        Ok(SessionCtx {
            store: Mutex::new(store),
            record,
            scenario,
            workspace: workspace.clone(),
            engines: tokio::sync::Mutex::new(BTreeMap::new()),
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

    /// The engine with this id, connected on first use.
    pub(crate) async fn engine_on(&self, id: &str) -> Result<Engine> {
        let mut engines = self.engines.lock().await;
        if let Some(engine) = engines.get(id) {
            return Ok(engine.clone());
        }
        let engine = self.workspace.connect_to(id).await?;
        engines.insert(id.to_string(), engine.clone());
        Ok(engine)
    }

    /// The engine a candidate's platform is on.
    pub(crate) async fn engine_for(&self, candidate: &CandidateRecord) -> Result<Engine> {
        self.engine_on(&candidate.engine).await
    }

    /// The engine of a candidate named by id.
    pub(crate) async fn engine_of(&self, candidate: &str) -> Result<Engine> {
        self.engine_for(&self.candidate(candidate)?).await
    }

    /// The ids of the engines the session's candidates are on, in the site's order.
    pub(crate) fn engine_ids(&self) -> Result<Vec<String>> {
        let used: std::collections::BTreeSet<String> = self.candidates()?.into_iter().map(|c| c.engine).collect();
        let mut ids: Vec<String> =
            self.workspace.site.engines.iter().map(|e| e.id.clone()).filter(|id| used.contains(id)).collect();
        // Engines the site file no longer lists come last: asking them says so.
        let unlisted: Vec<String> = used.into_iter().filter(|id| !ids.contains(id)).collect();
        ids.extend(unlisted);
        Ok(ids)
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
        let engine = self.engine_for(candidate).await?;
        plateau_grade::targets::platform(&engine, &session, &candidate.plan, &credentials).await.map_err(Error::Grader)
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
