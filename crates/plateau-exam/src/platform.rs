//! Candidates' platforms: `up` (decide, record, provision, hand out access
//! sheets), `down`, `reset`, `status`, access open/close.

use std::collections::HashMap;
use std::path::PathBuf;

use plateau_engine::platform::{CandidateUp, Forward, NodeStatus, Outcome, Removed, Session};
use plateau_scenario::model::Backend;
use plateau_scenario::{Candidate, Scenario};
use plateau_state::{CandidateRecord, GatewayAddress, SessionRecord};
use serde::Serialize;
use serde_json::json;

use crate::context::{SessionCtx, Workspace, scenario_hash};
use crate::error::{Error, Result, refuse};
use crate::progress::Progress;
use crate::sheet;

/// Who sits the exam: `n` numbered candidates, or a roster (CSV `id,name`).
pub enum Roster {
    Numbered(usize),
    Csv { name: String, text: String },
}

impl Roster {
    pub fn candidates(&self) -> Result<Vec<Candidate>> {
        match self {
            Roster::Numbered(0) => refuse!("--candidates must be at least 1"),
            Roster::Numbered(n) => Ok(Candidate::numbered(*n)),
            Roster::Csv { name, text } => plateau_scenario::parse_roster(name, text).map_err(Error::Refused),
        }
    }
}

/// What `up` is asked to do.
pub struct UpRequest {
    /// The scenario's file name (for diagnostics) and text.
    pub file_name: String,
    pub text: String,
    pub session: String,
    pub roster: Roster,
    /// Seed of the per-candidate variants; the session name by default.
    pub seed: Option<String>,
    /// Candidate i's SSH access is published on host port `port_base + i`.
    pub port_base: u16,
    /// Host name or address printed on the access sheets of the candidates
    /// on this host's engine (a remote engine's candidates get its own host).
    pub access_host: String,
    /// Candidates come in through the seat gateway (every session
    /// recorded): each gets a console account, their sheet says where, and
    /// the relays are published on the host's loopback only.
    pub gateway: Option<GatewayAddress>,
}

/// One candidate after `up`.
#[derive(Debug, Serialize)]
pub struct CandidateReady {
    pub id: String,
    pub ssh_port: u16,
    /// Where their SSH entry is reached (`ssh -p PORT HOST`).
    pub access_host: String,
    /// The engine their platform was placed on.
    pub engine: String,
    /// `Ok`: seconds it took and what happened to its nodes ("3 created, 1 kept").
    pub outcome: std::result::Result<(f64, String), String>,
}

#[derive(Debug, Serialize)]
pub struct UpReport {
    pub candidates: Vec<CandidateReady>,
    pub sheets: PathBuf,
}

impl UpReport {
    pub fn failed(&self) -> usize {
        self.candidates.iter().filter(|c| c.outcome.is_err()).count()
    }
}

fn valid_session_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 24
        || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        refuse!(
            "session name `{name}`: use 1 to 24 lowercase letters, digits or `-` (it names containers and networks)"
        );
    }
    Ok(())
}

impl Workspace {
    /// Provision (or reconcile) every candidate's platform of a session.
    /// Decisions (plans, ports, passwords, the scenario's text) are recorded
    /// before anything is created: a crash mid-way re-runs into the same ones.
    pub async fn up(&self, request: UpRequest, progress: &dyn Progress) -> Result<UpReport> {
        valid_session_name(&request.session)?;
        let scenario = Scenario::parse(&request.file_name, &request.text).map_err(Error::Invalid)?;
        let candidates = request.roster.candidates()?;
        let record = SessionRecord {
            name: request.session.clone(),
            scenario_file: request.file_name.clone(),
            scenario_hash: scenario_hash(&request.text),
            seed: request.seed.clone().unwrap_or_else(|| request.session.clone()),
            scenario_text: request.text.clone(),
        };
        let engines = self.engines().await;
        let store = self.store()?;
        // The platform's secrets (passwords, keys) live in the database that
        // made it: a session this database does not know, whose containers
        // exist, was made by another one; going on would change the
        // candidates' passwords under them.
        let mut elsewhere = false;
        if store.session(&request.session).is_err() {
            for engine in engines.connected.values() {
                elsewhere |= !engine.status(&request.session, None).await?.is_empty();
            }
        }
        if elsewhere {
            refuse!(
                "session `{}` exists on the engine but was made by another state database: use that one, or                  `plateau down --session {}` first",
                request.session,
                request.session
            );
        }
        store.ensure_session(&record)?;
        let record = store.session(&request.session)?;
        if let Some(gateway) = &request.gateway {
            store.put_gateway(&request.session, gateway)?;
        }
        let ctx = SessionCtx::new(self, store, record)?;
        // Subnets are drawn around the networks already on every engine
        // (each is unique across the site); one taken meanwhile (another
        // session brought up at the same moment) is drawn again: only the
        // candidate who drew it moves.
        let mut attempts = 0;
        let (records, results) = loop {
            attempts += 1;
            let mut taken = Vec::new();
            for engine in engines.connected.values() {
                taken.extend(engine.subnets_held(&request.session).await?);
            }
            let plans = scenario
                .plan_around(&ctx.record.seed, &ctx.db().session_secret(ctx.name())?, &candidates, &taken)
                .map_err(Error::Invalid)?;
            let placed = ctx.candidates()?.into_iter().map(|c| (c.id, c.engine)).collect();
            let mut engine_of = self.place(&request.session, &candidates, &plans, &placed, &engines).await?;
            // The gateway reaches relays published on this host's loopback only.
            let far = engine_of.iter().find(|(_, e)| engines.connected.get(*e).is_some_and(|e| !e.on_this_host()));
            if let (Some(_), Some((candidate, engine))) = (&request.gateway, far) {
                refuse!(
                    "{candidate} is placed on engine `{engine}`, another host's: the seat gateway reaches only \
                     this host's engine so far; pin the session's candidates to it (roster column `engine`), \
                     or give them SSH access without `--console`/`--ssh-gateway`"
                );
            }
            let records: Vec<CandidateRecord> = plans
                .into_iter()
                .map(|plan| CandidateRecord {
                    id: plan.candidate.id.clone(),
                    ssh_port: request.port_base + plan.candidate.index as u16 + 1,
                    engine: engine_of.remove(&plan.candidate.id).expect("every candidate placed"),
                    plan,
                })
                .collect();
            for r in &records {
                ctx.db().put_candidate(&request.session, r)?;
            }
            self.send_images(&records, &engines, progress).await?;
            let results = ctx.up_all(&records, progress).await?;
            let raced = results.iter().any(|r| matches!(r, Err(plateau_engine::Error::SubnetTaken { .. })));
            if !raced || attempts == 3 {
                break (records, results);
            }
        };
        ctx.reopen_running_access(&records, &results).await?;
        let dir = self.session_dir(&request.session);
        let mut report = UpReport { candidates: Vec::new(), sheets: dir.join("access") };
        for (r, result) in records.iter().zip(results) {
            // Their SSH entry is published on their engine's host: this
            // host's as the centre names it, or a remote engine's own.
            let access_host = match engines.connected.get(&r.engine) {
                Some(engine) if !engine.on_this_host() => engine.published_on().to_string(),
                _ => request.access_host.clone(),
            };
            let outcome = match result {
                Ok(up) => {
                    ctx.pin_host_keys(&up)?;
                    let counts = summarize(&up);
                    ctx.audit("up", json!({ "candidate": up.candidate, "nodes": counts }))?;
                    let ways = match &request.gateway {
                        Some(gateway) => Some((gateway, ctx.console_account(r)?)),
                        None => None,
                    };
                    sheet::write(&dir, &scenario, &request.session, &access_host, ways, r)?;
                    Ok((up.seconds, counts))
                }
                Err(e) => Err(e.to_string()),
            };
            report.candidates.push(CandidateReady {
                id: r.id.clone(),
                ssh_port: r.ssh_port,
                access_host,
                engine: r.engine.clone(),
                outcome,
            });
        }
        Ok(report)
    }

    /// Remove every container, network and host rule of a session (by their
    /// labels: the database may be gone already) and forget its platforms.
    /// Grades, overrides and the audit log stay.
    /// On every engine of the site: one that cannot be reached while it
    /// holds platforms of the session keeps the session on record (a re-run
    /// finishes it); one that holds none is passed over.
    pub async fn down(&self, session: &str) -> Result<Removed> {
        let store = self.store().ok();
        let holding: std::collections::BTreeSet<String> = store
            .as_ref()
            .and_then(|s| s.candidates(session).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.engine)
            .collect();
        let archived = match &store {
            Some(store) => store.audit_log(session)?.iter().any(|e| e.action == "archive"),
            None => false,
        };
        let mut removed = Removed::default();
        let mut not_reached = Vec::new();
        for (id, engine) in self.connect_all().await {
            let done = async {
                let engine = engine?;
                let mut here = engine.down(session, None).await?;
                // An archived session's snapshots are kept in its archive:
                // they go with its platforms (an appeal loads them back).
                if archived {
                    here.snapshots = engine.remove_snapshots(session).await?;
                }
                Ok::<_, Error>(here)
            };
            match done.await {
                Ok(here) => {
                    removed.containers += here.containers;
                    removed.networks += here.networks;
                    removed.rules += here.rules;
                    removed.snapshots += here.snapshots;
                    removed.networks_left.extend(here.networks_left);
                }
                Err(e) if holding.contains(&id) => not_reached.push(format!("engine `{id}`: {e}")),
                Err(_) => {}
            }
        }
        if !not_reached.is_empty() {
            refuse!(
                "session `{session}` is still on record: {} (what the other engines held is removed); \
                 `plateau down` again once it can be reached",
                not_reached.join("; ")
            );
        }
        if let Some(store) = store {
            store.remove_session(session)?;
            store.audit(
                session,
                &self.actor,
                "down",
                &json!({ "containers": removed.containers, "networks": removed.networks, "snapshots": removed.snapshots }),
            )?;
        }
        Ok(removed)
    }

    /// Every node of one session (or of all), as each engine reports them;
    /// the nodes of candidates on an engine that cannot be reached are
    /// there too, `unreachable`, with why.
    pub async fn status(&self, session: Option<&str>) -> Result<Vec<NodeRow>> {
        let store = self.store()?;
        let sessions = match session {
            Some(s) => vec![s.to_string()],
            None => store.sessions()?,
        };
        let engines = self.engines().await;
        let mut rows = Vec::new();
        for session in &sessions {
            let candidates = store.candidates(session).unwrap_or_default();
            let ports: HashMap<String, u16> = candidates.iter().map(|c| (c.id.clone(), c.ssh_port)).collect();
            for (id, why) in &engines.unreachable {
                for c in candidates.iter().filter(|c| &c.engine == id) {
                    for node in &c.plan.nodes {
                        rows.push(NodeRow {
                            session: session.clone(),
                            engine: id.clone(),
                            ssh_port: Some(c.ssh_port),
                            node: NodeStatus {
                                candidate: c.id.clone(),
                                node: node.id.clone(),
                                container: container_name(session, &c.id, &node.id),
                                state: UNREACHABLE.into(),
                                health: why.clone(),
                            },
                        });
                    }
                }
            }
            for (id, engine) in &engines.connected {
                for node in engine.status(session, None).await? {
                    rows.push(NodeRow {
                        session: session.clone(),
                        engine: id.clone(),
                        ssh_port: ports.get(&node.candidate).copied(),
                        node,
                    });
                }
            }
        }
        Ok(rows)
    }
}

/// The state `status` gives the nodes of an engine it cannot reach.
pub const UNREACHABLE: &str = "unreachable";

/// One node in `status`.
#[derive(Debug, Serialize)]
pub struct NodeRow {
    pub session: String,
    /// The engine it runs on (the site file's id).
    pub engine: String,
    pub ssh_port: Option<u16>,
    #[serde(flatten)]
    pub node: NodeStatus,
}

/// The name of a candidate's node's container.
fn container_name(session: &str, candidate: &str, node: &str) -> String {
    Session { name: session.into(), scenario_hash: String::new(), grader_key: None, relays_on_loopback: false }
        .container_name(candidate, node)
}

/// Where `plateau shell` opens an operator's shell on a node.
pub enum ShellWay {
    /// `docker exec` into the node's container.
    Container(String),
    /// SSH as root into a VM's guest (the QEMU container is not the
    /// machine): through the engine's tunnel, with the session's grader
    /// key, and only to the host keys pinned at its creation.
    Guest(GuestShell),
}

/// What an SSH client needs to reach a guest; the tunnel and the files
/// last as long as this value.
pub struct GuestShell {
    pub port: u16,
    pub identity: PathBuf,
    pub known_hosts: PathBuf,
    /// The name the pinned keys are filed under (`HostKeyAlias`).
    pub alias: String,
    _forward: Forward,
    _files: tempfile::TempDir,
}

impl SessionCtx {
    /// How to open a shell on one candidate's node.
    pub async fn shell(&self, candidate: &str, node: &str) -> Result<ShellWay> {
        let record = self.candidate(candidate)?;
        let Some(planned) = record.plan.nodes.iter().find(|n| n.id == node) else {
            let known: Vec<&str> = record.plan.nodes.iter().map(|n| n.id.as_str()).collect();
            refuse!("no node `{node}` in {candidate}'s platform (nodes: {})", known.join(", "));
        };
        let container = container_name(&self.record.name, candidate, node);
        if planned.backend != Backend::Vm {
            return Ok(ShellWay::Container(container));
        }
        let pinned = self.db().host_keys(&self.record.name, candidate, node)?;
        if pinned.is_empty() {
            refuse!(
                "`{node}` is a VM without SSH host keys on record (a centre's own image, e.g. Windows): \
                 reach it with its own tools; `docker exec -it {container} sh` opens its QEMU container"
            );
        }
        let engine = self.engine_for(&record).await?;
        let forward = engine.forward(&self.engine_session()?, candidate, node, 22).await?;
        let files = tempfile::tempdir().map_err(Error::io(std::env::temp_dir()))?;
        let alias = format!("{}-{candidate}-{node}", self.record.name);
        let identity = files.path().join("grader");
        let key = self.db().grader_key(&self.record.name, plateau_grade::executor::generate_key)?;
        plateau_state::private::write(&identity, key.as_bytes()).map_err(Error::io(&identity))?;
        let known_hosts = files.path().join("known_hosts");
        let lines: String = pinned.iter().map(|k| format!("{alias} {k}\n")).collect();
        plateau_state::private::write(&known_hosts, lines.as_bytes()).map_err(Error::io(&known_hosts))?;
        Ok(ShellWay::Guest(GuestShell {
            port: forward.address.port(),
            identity,
            known_hosts,
            alias,
            _forward: forward,
            _files: files,
        }))
    }
}

impl SessionCtx {
    /// Every candidate in parallel; one failing does not stop the others.
    async fn up_all(
        &self,
        records: &[CandidateRecord],
        progress: &dyn Progress,
    ) -> Result<Vec<Result<CandidateUp, plateau_engine::Error>>> {
        let session = self.engine_session()?;
        progress.stage("candidates ready", records.len());
        // Every engine at once: each bounds its own creations.
        let mut tasks = tokio::task::JoinSet::new();
        for (i, r) in records.iter().enumerate() {
            let engine = self.engine_for(r).await?;
            let (session, plan, port) = (session.clone(), r.plan.clone(), r.ssh_port);
            tasks.spawn(async move { (i, engine.up_candidate(&session, &plan, port).await) });
        }
        let mut results: Vec<Option<Result<CandidateUp, _>>> = (0..records.len()).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            let (i, result) = joined.expect("candidate task panicked");
            progress.done(match &result {
                Ok(up) => format!("{} ready in {:.1} s", up.candidate, up.seconds),
                Err(e) => format!("{} failed: {e}", records[i].id),
            });
            results[i] = Some(result);
        }
        progress.event(crate::Event::StageEnd);
        Ok(results.into_iter().map(|r| r.expect("every task reported")).collect())
    }

    /// Remember the SSH host keys of the nodes, so the grader can tell them
    /// from impostors. A node created just now has not been in the
    /// candidate's hands: its keys are its own and replace any older pin. A
    /// node that was kept may have been (a root candidate can rewrite the
    /// keys a re-run of `up` would read): the keys pinned at its creation
    /// stay, and only a node without any (its `up` was killed before) is
    /// pinned now.
    pub(crate) fn pin_host_keys(&self, up: &CandidateUp) -> Result<()> {
        let session = &self.record.name;
        for node in up.nodes.iter().filter(|n| !n.host_keys.is_empty()) {
            let fresh = node.outcome == Outcome::Created;
            if fresh || self.db().host_keys(session, &up.candidate, &node.node)?.is_empty() {
                self.db().put_host_keys(session, &up.candidate, &node.node, &node.host_keys)?;
            }
        }
        Ok(())
    }

    /// After `up`, the access of a candidate whose phase runs is open again
    /// (an engine that restarted stopped their relay), unless a trainer
    /// closed it; said on the record.
    async fn reopen_running_access(
        &self,
        records: &[CandidateRecord],
        results: &[std::result::Result<CandidateUp, plateau_engine::Error>],
    ) -> Result<()> {
        let deadlines = self.db().deadlines(self.name())?;
        let log = self.db().audit_log(self.name())?;
        let session = self.engine_session()?;
        for (r, result) in records.iter().zip(results) {
            let running =
                deadlines.iter().any(|d| d.candidate == r.id && d.cut_at.is_none() && d.ends_at > crate::clock::now());
            let closed_by_hand = log
                .iter()
                .rfind(|e| e.action.starts_with("access.") && e.detail.contains(&format!("\"{}\"", r.id)))
                .is_some_and(|e| e.action == "access.close");
            if result.is_err() || !running || closed_by_hand {
                continue;
            }
            let engine = self.engine_for(r).await?;
            if !engine.access_open(&session, &r.id).await? {
                engine.set_access(&session, &r.id, true).await?;
                self.audit("access.open", json!({ "candidate": r.id, "why": "up: their phase runs" }))?;
            }
        }
        Ok(())
    }

    /// Give one candidate a fresh platform; seconds taken and the nodes' outcomes.
    pub async fn reset(&self, candidate: &str) -> Result<(f64, String)> {
        let record = self.candidate(candidate)?;
        let engine = self.engine_for(&record).await?;
        let started = std::time::Instant::now();
        engine.down(&self.record.name, Some(candidate)).await?;
        let up = engine.up_candidate(&self.engine_session()?, &record.plan, record.ssh_port).await?;
        self.pin_host_keys(&up)?;
        self.audit("reset", json!({ "candidate": up.candidate }))?;
        Ok((started.elapsed().as_secs_f64(), summarize(&up)))
    }

    /// Open or close candidates' access to their platform (it keeps running).
    pub async fn set_access(&self, only: Option<&str>, open: bool) -> Result<Vec<String>> {
        let candidates = self.some_candidates(only)?;
        let session = self.engine_session()?;
        for c in &candidates {
            self.engine_for(c).await?.set_access(&session, &c.id, open).await?;
            self.audit(if open { "access.open" } else { "access.close" }, json!({ "candidate": c.id }))?;
        }
        Ok(candidates.into_iter().map(|c| c.id).collect())
    }
}

/// "3 created, 1 kept".
fn summarize(up: &CandidateUp) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for n in &up.nodes {
        let key = plateau_scenario::model::token(&n.outcome);
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, c)) => *c += 1,
            None => counts.push((key, 1)),
        }
    }
    counts.iter().map(|(k, c)| format!("{c} {k}")).collect::<Vec<_>>().join(", ")
}
