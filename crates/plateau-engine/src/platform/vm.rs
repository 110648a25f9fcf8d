//! VM nodes: a container of the role's VM image (`plateau/vm-ROLE`) runs
//! QEMU, its interfaces bridged to the guest's (see `images/qemu/vm-run`).
//! Everything the engine does to containers holds for it (labels, limits,
//! networks, pause, commit, removal); this module adds what differs: the
//! guest's settings, its QMP monitor, its host keys, and a tunnel to its
//! sshd through the engine.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::DeviceMapping;
use futures_util::StreamExt;
use plateau_scenario::{CandidatePlan, PlannedNode};

use crate::Error;
use crate::exec::exec;

use super::*;

/// On a VM node's container.
pub const LABEL_VM: &str = "org.plateau.vm";
/// Label on a VM node: the grader key its guest was given (`plateau.key`).
pub const LABEL_GRADER_KEY: &str = "org.plateau.grader-key";
/// What QEMU itself takes beside the guest's memory (the translation cache
/// under TCG is 64 MiB, see `vm-run`).
pub(super) const VM_OVERHEAD: u64 = 384 << 20;
/// A guest booting under software emulation takes a minute or two.
pub(super) const VM_READY_LIMIT: Duration = Duration::from_secs(600);
const QMP_SOCKET: &str = "/run/vm/qmp.sock";
const CHANNEL: &str = "/run/vm/channel";

/// One guest NIC on a candidate network.
pub(super) struct GuestNic {
    /// The container's own address on that network (flushed at start).
    pub container_address: Ipv4Addr,
    pub mac: String,
    /// `dhcp`, or `ADDRESS/PREFIX[,GATEWAY]`.
    pub how: String,
}

/// The guest's NIC for a planned interface: its MAC (the plan's, else one
/// derived from its names, stable across re-creations), how it gets its address.
pub(super) fn guest_nic(
    session: &Session,
    plan: &CandidatePlan,
    node: &PlannedNode,
    index: usize,
    container_address: Ipv4Addr,
) -> GuestNic {
    let iface = &node.interfaces[index];
    let mac = iface.mac.clone().unwrap_or_else(|| {
        let seed = format!("{}/{}/{}/{index}", session.name, plan.candidate.id, node.id);
        let hash =
            seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let [a, b, c, ..] = hash.to_le_bytes();
        format!("52:54:00:{a:02x}:{b:02x}:{c:02x}")
    });
    let how = match iface.address {
        None => "dhcp".to_string(),
        Some(address) => {
            let net = plan.network(&iface.network);
            let prefix = net.map_or(24, |n| n.subnet.prefix_len());
            match net.and_then(|n| n.gateway).filter(|g| *g != address) {
                Some(gateway) => format!("{address}/{prefix},{gateway}"),
                None => format!("{address}/{prefix}"),
            }
        }
    };
    GuestNic { container_address, mac, how }
}

/// The container's environment for `vm-run`, and through it the guest's
/// kernel command line (read by the guest's `plateau-vm-init`).
/// `put_back`: a grade of record, whose initrd compares the disk with the
/// role's own (attached read-only) and puts back the grader's programs.
pub(super) fn vm_env(
    session: &Session,
    plan: &CandidatePlan,
    node: &PlannedNode,
    nics: &[GuestNic],
    put_back: bool,
) -> Vec<String> {
    let limits = node.limits();
    let mut cmdline = vec![format!("plateau.hostname={}", node.hostname)];
    cmdline.extend(nics.iter().map(|n| format!("plateau.nic={},{}", n.mac, n.how)));
    if let Some(dns) = node.interfaces.iter().find_map(|i| plan.network(&i.network)?.dns) {
        cmdline.push(format!("plateau.dns={dns}"));
    }
    if let Some((kind, key)) = session.grader_key.as_deref().and_then(|k| k.split_once(' ')) {
        let key = key.split_whitespace().next().unwrap_or_default();
        cmdline.push(format!("plateau.key={kind},{key}"));
    }
    if let Some(entry) = plan.access.iter().find(|a| a.node == node.id) {
        cmdline.push(format!("plateau.user={},{}", entry.user, base64(entry.password.as_bytes())));
    }
    if put_back {
        cmdline.push("plateau.putback=1".to_string());
    }
    if node.desktop {
        cmdline.push("plateau.screen=1".to_string());
    }
    let nics: Vec<String> = nics.iter().map(|n| format!("{}={}", n.container_address, n.mac)).collect();
    let mut env = vec![
        format!("PLATEAU_VM_NICS={}", nics.join(" ")),
        format!("PLATEAU_VM_CMDLINE={}", cmdline.join(" ")),
        format!("PLATEAU_VM_MEMORY={}", limits.memory >> 20),
        format!("PLATEAU_VM_CPUS={}", limits.cpu_millis.div_ceil(1000).max(1)),
    ];
    if put_back {
        env.push("PLATEAU_VM_PUT_BACK=1".to_string());
    }
    if node.desktop {
        env.push("PLATEAU_VM_SCREEN=1".to_string());
    }
    env
}

/// What a restored guest's initrd told on its channel (`images/vm/put-back`).
#[derive(Debug, Default, PartialEq)]
pub(super) struct Checked {
    pub put_back: Vec<String>,
    pub found: Vec<FsChange>,
}

/// Its `found KIND PATH` and `put-back PATH` lines; an error when it did not
/// end its comparison (`checked`) or could not make it.
pub(super) fn checked(channel: &str) -> Result<Checked, String> {
    let mut out = Checked::default();
    for line in channel.lines().map(str::trim) {
        if let Some(path) = line.strip_prefix("put-back ") {
            out.put_back.push(path.to_string());
        } else if let Some(found) = line.strip_prefix("found ") {
            let (kind, path) = found.split_once(' ').unwrap_or((found, ""));
            let kind = ChangeKind::from_token(kind).unwrap_or(ChangeKind::Modified);
            out.found.push(FsChange { path: path.to_string(), kind });
        } else if let Some(why) = line.strip_prefix("unchecked: ") {
            return Err(why.to_string());
        } else if line == "checked" {
            return Ok(out);
        }
    }
    Err("the guest's initrd did not compare its disk with the role's".to_string())
}

/// What a VM node's container needs of the host: taps, and KVM when the
/// guests run with it.
pub(super) fn vm_devices(accel: &str) -> Vec<DeviceMapping> {
    let device = |path: &str| DeviceMapping {
        path_on_host: Some(path.into()),
        path_in_container: Some(path.into()),
        cgroup_permissions: Some("rwm".into()),
    };
    let mut devices = vec![device("/dev/net/tun")];
    if accel == "kvm" {
        devices.push(device("/dev/kvm"));
    }
    devices
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What the guest's kernel prints on its console once an emergency sync is done.
const SYNC_DONE: &str = "Emergency Sync complete";
/// How long a guest's emergency sync may take (its dirty pages, under TCG).
const GUEST_SYNC_LIMIT: Duration = Duration::from_secs(30);

impl DockerEngine {
    /// How the engine's host runs guests: `PLATEAU_VM_ACCEL` when set, else
    /// KVM when a kernel boots with it there (timed once, through the
    /// engine: some hosts have a `/dev/kvm` that runs no guest, and another
    /// host's is not this one's), else TCG.
    pub(super) async fn vm_accel(&self, image: &str) -> String {
        let found = self.vm_accel.get_or_init(|| async {
            if let Ok(accel) = std::env::var("PLATEAU_VM_ACCEL") {
                return accel;
            }
            if self.on_this_host() && !std::path::Path::new("/dev/kvm").exists() {
                return "tcg".to_string();
            }
            match crate::doctor::time_guest(&self.docker, image, "kvm", crate::doctor::KVM_PROBE_LIMIT).await {
                Some(_) => "kvm".to_string(),
                None => {
                    tracing::info!("/dev/kvm runs no guest here: VMs run under TCG");
                    "tcg".to_string()
                }
            }
        });
        found.await.clone()
    }

    /// Send commands to a VM node's QEMU monitor (through the engine: the
    /// socket is in the node's container, out of the guest's reach).
    pub(super) async fn qmp(&self, container: &str, commands: &[QmpCommand]) -> Result<Vec<serde_json::Value>, Error> {
        let mut text = serde_json::to_string(&QmpCommand::Capabilities).expect("serializable");
        for command in commands {
            text.push_str(&serde_json::to_string(command).expect("serializable"));
        }
        let script = format!("printf '%s' \"$1\" | socat -t 2 - UNIX-CONNECT:{QMP_SOCKET}");
        let out = exec(&self.docker, container, &["sh", "-c", &script, "qmp", &text], Duration::from_secs(30)).await?;
        let fail = |message: String| Error::Node { container: container.to_string(), message };
        if out.exit_code != 0 {
            return Err(fail(format!("QMP: {}", out.stderr.trim())));
        }
        let all: Vec<QmpCommand> = std::iter::once(QmpCommand::Capabilities).chain(commands.iter().copied()).collect();
        qmp_replies(&out.stdout, &all).map(|mut v| v.split_off(1)).map_err(fail)
    }

    /// Have a guest write its page cache to its disk before it is stopped
    /// and its disk committed: a Linux guest keeps the writes of its last
    /// half-minute in memory (ext4 writes back after 30 s), which a commit
    /// of its disk alone would lose. Asked of its kernel by the keyboard
    /// (SysRq), which no program in the guest stands between; done when its
    /// console (the container's output, out of the guest's reach) says so.
    pub(super) async fn sync_guest(&self, container: &str) -> Result<(), Error> {
        let since =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i32 - 1);
        self.qmp(container, &[QmpCommand::SYSRQ_SYNC]).await?;
        let started = std::time::Instant::now();
        while started.elapsed() < GUEST_SYNC_LIMIT {
            let options = bollard::query_parameters::LogsOptions { stdout: true, since, ..Default::default() };
            let mut logs = self.docker.logs(container, Some(options));
            while let Some(Ok(chunk)) = logs.next().await {
                if String::from_utf8_lossy(&chunk.into_bytes()).contains(SYNC_DONE) {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(Error::Node {
            container: container.to_string(),
            message: format!(
                "its kernel did not report writing its disk within {} s (SysRq disabled in the guest?)",
                GUEST_SYNC_LIMIT.as_secs()
            ),
        })
    }

    /// What a restored guest's initrd found changed and put back (read
    /// from its channel once it is ready).
    pub(super) async fn guest_put_back(&self, container: &str) -> Result<Checked, Error> {
        let out = exec(&self.docker, container, &["cat", CHANNEL], Duration::from_secs(10)).await?;
        checked(&out.stdout).map_err(|message| Error::Node { container: container.to_string(), message })
    }

    /// Whether a container is a VM node's.
    pub(super) async fn is_vm(&self, container: &str) -> bool {
        self.docker
            .inspect_container(container, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .ok()
            .and_then(|c| c.config?.labels)
            .is_some_and(|l| l.contains_key(LABEL_VM))
    }

    /// The guest's SSH host keys, as its init wrote them on its channel at
    /// boot (none from a centre's own image, which has no such channel).
    pub(super) async fn guest_host_keys(&self, container: &str) -> Result<Vec<String>, Error> {
        let out = exec(&self.docker, container, &["cat", CHANNEL], Duration::from_secs(10)).await?;
        Ok(out.stdout.lines().filter_map(|l| l.trim().strip_prefix("hostkey ")).map(|k| k.trim().to_string()).collect())
    }

    /// A connection to `port` of a VM's guest, through the engine (the
    /// guest's management NIC, forwarded by QEMU in the node's container):
    /// it needs no address of the candidate's networks, which the candidate
    /// controls.
    async fn guest_stream(&self, container: &str, port: u16) -> Result<NodeStream, Error> {
        let fail = |message: String| Error::Node { container: container.to_string(), message };
        let created = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(vec!["socat".into(), "STDIO".into(), format!("TCP:127.0.0.1:{port}")]),
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| fail(format!("tunnel: {e}")))?;
        match self.docker.start_exec(&created.id, None).await.map_err(|e| fail(format!("tunnel: {e}")))? {
            StartExecResults::Attached { output, input } => {
                let reader = tokio_util::io::StreamReader::new(output.filter_map(|chunk| async move {
                    match chunk {
                        Ok(LogOutput::StdOut { message }) => Some(Ok(message)),
                        Ok(_) => None,
                        Err(e) => Some(Err(std::io::Error::other(e))),
                    }
                }));
                Ok(NodeStream { reader: Box::pin(reader), writer: input })
            }
            StartExecResults::Detached => Err(fail("tunnel: the engine did not attach".into())),
        }
    }

    /// A loopback port of this host that leads to `port` of a VM node's
    /// guest, one engine tunnel per connection, for as long as the
    /// `Forward` lives.
    pub async fn forward(&self, session: &Session, candidate: &str, node: &str, port: u16) -> Result<Forward, Error> {
        let container = session.container_name(candidate, node);
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| Error::Host(format!("a loopback port for the tunnel: {e}")))?;
        let address = listener.local_addr().map_err(|e| Error::Host(e.to_string()))?;
        let engine = self.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (engine, container) = (engine.clone(), container.clone());
                tokio::spawn(async move {
                    match engine.guest_stream(&container, port).await {
                        Ok(mut stream) => {
                            let _ = tokio::io::copy_bidirectional(&mut socket, &mut stream).await;
                        }
                        Err(e) => tracing::warn!(%container, "tunnel: {e}"),
                    }
                });
            }
        });
        Ok(Forward { address, task })
    }
}

/// A loopback address that leads into a node; closed when dropped.
#[derive(Debug)]
pub struct Forward {
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The two halves of an engine tunnel as one byte stream.
struct NodeStream {
    reader: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    writer: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

impl tokio::io::AsyncRead for NodeStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.reader.as_mut().poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for NodeStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.writer.as_mut().poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.writer.as_mut().poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.writer.as_mut().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_guest_tells_what_its_initrd_found_and_put_back() {
        let channel = "found added /usr/local/bin/curl\r\nput-back /usr/local/bin/curl\r\n\
                       found modified /root/.bashrc\r\nchecked\r\nhostkey ssh-ed25519 AAAA\r\nready\r\n";
        let found = checked(channel).unwrap();
        assert_eq!(found.put_back, ["/usr/local/bin/curl"]);
        assert_eq!(
            found.found,
            [
                FsChange { path: "/usr/local/bin/curl".into(), kind: ChangeKind::Added },
                FsChange { path: "/root/.bashrc".into(), kind: ChangeKind::Modified }
            ]
        );
        assert!(checked("hostkey ssh-ed25519 AAAA\nready\n").is_err(), "no comparison is no clean disk");
        assert_eq!(
            checked("unchecked: the role's disk is not attached\n").unwrap_err(),
            "the role's disk is not attached"
        );
    }

    #[test]
    fn the_guest_gets_its_planned_mac_its_account_and_the_graders_key_on_its_command_line() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/tai-2023-vm.toml");
        let scenario =
            plateau_scenario::Scenario::parse("tai-2023-vm.toml", &std::fs::read_to_string(path).unwrap()).unwrap();
        let plan = scenario.plan("seed", &plateau_scenario::Candidate::numbered(1)).unwrap().remove(0);
        let ws = plan.node("ws").unwrap();
        let session = Session {
            name: "s".into(),
            scenario_hash: String::new(),
            grader_key: Some("ssh-ed25519 AAAAkey plateau-grader".into()),
            relays_on_loopback: false,
        };
        let nic = guest_nic(&session, &plan, ws, 0, "10.0.0.9".parse().unwrap());
        assert_eq!((nic.mac.as_str(), nic.how.as_str()), (ws.interfaces[0].mac.as_deref().unwrap(), "dhcp"));
        let env = vm_env(&session, &plan, ws, &[nic], false);
        let cmdline = env.iter().find_map(|e| e.strip_prefix("PLATEAU_VM_CMDLINE=")).unwrap();
        let password = base64(plan.access[0].password.as_bytes());
        for expected in [
            "plateau.hostname=pc-c01".to_string(),
            format!("plateau.nic={},dhcp", ws.interfaces[0].mac.as_deref().unwrap()),
            "plateau.key=ssh-ed25519,AAAAkey".to_string(),
            format!("plateau.user=technicien,{password}"),
            // Its desktop: a screen for QEMU's VNC, and a login on it.
            "plateau.screen=1".to_string(),
        ] {
            assert!(cmdline.split(' ').any(|w| w == expected), "{expected} not in {cmdline}");
        }
        assert!(env.contains(&"PLATEAU_VM_MEMORY=768".to_string()), "{env:?}");
        assert!(env.contains(&format!("PLATEAU_VM_NICS=10.0.0.9={}", ws.interfaces[0].mac.as_deref().unwrap())));
        assert!(env.contains(&"PLATEAU_VM_SCREEN=1".to_string()), "{env:?}");
        let headless = PlannedNode { desktop: false, ..ws.clone() };
        let env = vm_env(&session, &plan, &headless, &[], false);
        assert!(!env.iter().any(|e| e.contains("SCREEN") || e.contains("plateau.screen")), "{env:?}");
    }

    #[test]
    fn a_static_interface_gives_the_guest_its_address_and_gateway() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/tai-2023-vm.toml");
        let text = std::fs::read_to_string(path).unwrap().replace(
            r#"interfaces = [{ network = "lan", dhcp = true, mac = "{{ws_mac}}" }]"#,
            r#"interfaces = [{ network = "lan", host = 30 }]"#,
        );
        let scenario = plateau_scenario::Scenario::parse("vm.toml", &text).unwrap();
        let plan = scenario.plan("seed", &plateau_scenario::Candidate::numbered(1)).unwrap().remove(0);
        let ws = plan.node("ws").unwrap();
        let session =
            Session { name: "s".into(), scenario_hash: String::new(), grader_key: None, relays_on_loopback: false };
        let address = ws.interfaces[0].address.unwrap();
        let nic = guest_nic(&session, &plan, ws, 0, address);
        let gateway = plan.network("lan").unwrap().gateway.unwrap();
        assert_eq!(nic.how, format!("{address}/24,{gateway}"));
        assert!(nic.mac.starts_with("52:54:00:"), "a stable MAC of its own: {}", nic.mac);
        assert_eq!(guest_nic(&session, &plan, ws, 0, address).mac, nic.mac, "the same on every re-creation");
    }

    #[test]
    fn passwords_reach_the_guest_in_base64() {
        assert_eq!(base64(b"demo-2026!"), "ZGVtby0yMDI2IQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }
}
