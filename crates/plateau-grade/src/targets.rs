//! Reaching a candidate's platform: an executor per node from the scenario's
//! grader access, and the controller's links into the candidate networks.

use crate::Error;
use std::collections::HashMap;

use plateau_engine::Engine;
use plateau_engine::platform::Session;
use plateau_scenario::model::{Backend, Via, WinrmLogin};
use plateau_scenario::{CandidatePlan, PlannedNode};

use crate::executor::{DockerExecutor, Executor, SshAuth, SshExecutor, WinRmAuth, WinRmExecutor};
use crate::grade::Platform;
use crate::prober::Prober;

/// What the grader holds to log in.
pub struct Credentials {
    /// The session's grader key (OpenSSH private key), for container nodes
    /// graded over SSH.
    pub grader_key: Option<String>,
    /// Pinned host keys per node.
    pub host_keys: HashMap<String, Vec<String>>,
}

/// An executor for every node that has grader access.
pub async fn platform(
    engine: &Engine,
    session: &Session,
    plan: &CandidatePlan,
    credentials: &Credentials,
) -> Result<Platform, Error> {
    let candidate = plan.candidate.id.as_str();
    let mut executors = HashMap::new();
    let mut forwards = Vec::new();
    for node in &plan.nodes {
        let Some(grader) = &node.grader else { continue };
        // A node Plateau created is read through the engine, whatever the
        // scenario's `via`: not through a daemon the candidate controls.
        let via = if node.backend == Backend::Container { Via::Exec } else { grader.via };
        // A VM Plateau created is reached through the engine's tunnel to
        // its management NIC: no address of the candidate's networks.
        let (address, port) = if node.backend == Backend::Vm {
            let port = grader.port.unwrap_or(if via == Via::Winrm { 5985 } else { 22 });
            let forward = engine
                .forward(session, candidate, &node.id, port)
                .await
                .map_err(|e| Error::Access(format!("node `{}`: {e}", node.id)))?;
            let reached = (forward.address.ip().to_string(), Some(forward.address.port()));
            forwards.push(forward);
            reached
        } else {
            (String::new(), grader.port)
        };
        let address = || if address.is_empty() { self::address(node) } else { Ok(address.clone()) };
        let executor = match via {
            Via::Exec => {
                Executor::Docker(DockerExecutor::new(engine.clone(), session.container_name(candidate, &node.id)))
            }
            Via::Ssh => {
                let auth = match (&grader.password, &credentials.grader_key) {
                    (Some(password), _) => SshAuth::Password(password.clone()),
                    (None, Some(key)) => SshExecutor::key_auth(key)?,
                    (None, None) => {
                        return Err(Error::Access(format!("node `{}`: no grader password or key", node.id)));
                    }
                };
                let pinned = credentials.host_keys.get(&node.id).cloned().unwrap_or_default();
                Executor::Ssh(SshExecutor::new(
                    address()?,
                    port.unwrap_or(22),
                    grader.user.clone().unwrap_or_else(|| default_ssh_user(node).into()),
                    auth,
                    &pinned,
                ))
            }
            Via::Winrm => {
                let tls = grader.port == Some(5986);
                let port = port.unwrap_or(5985);
                let user = grader.user.clone().unwrap_or_else(|| "Administrator".into());
                let password = grader.password.clone().unwrap_or_default();
                let auth = match grader.login {
                    WinrmLogin::Ntlm => WinRmAuth::Ntlm,
                    WinrmLogin::Basic => WinRmAuth::Basic,
                };
                Executor::WinRm(Box::new(
                    WinRmExecutor::new(address()?, port, tls, auth, &user, &password)
                        .map_err(|e| Error::Access(e.to_string()))?,
                ))
            }
        };
        executors.insert(node.id.clone(), executor);
    }
    let mut links = HashMap::new();
    if plan.nodes.iter().any(|n| n.backend.created()) {
        for net in &plan.networks {
            let link = engine.link(session, candidate, &net.id).await.map_err(|e| Error::Access(e.to_string()))?;
            links.insert(net.id.clone(), link);
        }
    }
    // Another host's candidate networks are reached only from that host.
    let prober = if engine.on_this_host() {
        Prober::Here
    } else {
        Prober::Beside { engine: Box::new(engine.clone()), id: engine.id().into() }
    };
    let roles = plan.nodes.iter().map(|n| (n.id.clone(), n.role)).collect();
    Ok(Platform { roles, executors, links, forwards, prober })
}

/// Who the grader logs in as over SSH: on a VM of a role's image, the
/// account its init makes at every boot (root's rights, `/bin/sh`: none of
/// root's shell start-up files runs before the grader's commands); root on
/// a container or a centre's machine.
fn default_ssh_user(node: &PlannedNode) -> &'static str {
    if node.backend == Backend::Vm { "plateau-grader" } else { "root" }
}

/// Where the controller reaches a machine Plateau did not create.
fn address(node: &PlannedNode) -> Result<String, Error> {
    if let Some(address) = &node.address {
        return Ok(address.clone());
    }
    node.interfaces
        .iter()
        .find_map(|i| i.address)
        .map(|a| a.to_string())
        .ok_or_else(|| Error::Access(format!("node `{}` has no static address the grader could reach", node.id)))
}
