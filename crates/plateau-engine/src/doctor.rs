//! `plateau doctor`: what an engine allows, and what scenarios can therefore do.
//! Every capability is probed through the engine (a throwaway container), so
//! a remote engine is examined as this host's is; what only this host can
//! see (its free disk, CRIU) is said so for another.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, DeviceMapping, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions, WaitContainerOptions};
use futures_util::StreamExt;
use serde::Serialize;

use crate::site::EngineSpec;
use crate::{Error, LABEL_OWNER};

/// One capability of the platform and its consequence for scenarios.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub name: String,
    pub available: bool,
    /// What was seen (a version, an error).
    pub detail: String,
    /// Which scenario features depend on it, and how Plateau copes.
    pub consequence: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Its id in the site file.
    pub engine: String,
    pub engine_version: String,
    pub api_version: String,
    pub storage_driver: String,
    pub cgroup_version: String,
    pub findings: Vec<Finding>,
}

/// Probe one engine of the site. Container probes run `probe_image` (a
/// Plateau image); they are skipped, and say so, when it is not built there.
pub async fn run(engine: &EngineSpec, probe_image: &str) -> Result<Report, Error> {
    let docker = engine.connect()?;
    let docker = docker.negotiate_version().await.map_err(|e| engine.unreachable(e))?;
    let this_host = engine.on_this_host();
    let version = docker.version().await.map_err(|e| engine.unreachable(e))?;
    let info = docker.info().await.map_err(|e| engine.unreachable(e))?;
    let mut findings = Vec::new();

    // A remote engine that only ran candidates has the helper's image (made
    // from the same base) even without the base itself.
    let mut present = None;
    for image in [probe_image, crate::hostnet::HELPER_IMAGE] {
        if docker.inspect_image(image).await.is_ok() {
            present = Some(image);
            break;
        }
    }
    let probe = |host: HostConfig, script: String| {
        let docker = docker.clone();
        async move {
            match present {
                Some(image) => run_probe(&docker, image, host, &script).await,
                None => (false, format!("not probed: build `{probe_image}` first (`plateau images build`)")),
            }
        }
    };
    let caps =
        |c: &[&str]| HostConfig { cap_add: Some(c.iter().map(|s| s.to_string()).collect()), ..Default::default() };

    let (ok, detail) = probe(caps(&["NET_ADMIN"]), "ip link set dev lo mtu 65000".into()).await;
    findings.push(Finding {
        name: "NET_ADMIN".into(),
        available: ok,
        detail,
        consequence: "routers, firewalls (nftables), DHCP servers, VPN and the candidate's own network settings".into(),
    });
    let (ok, detail) = probe(caps(&["NET_RAW"]), "ping -c1 -W1 127.0.0.1 >/dev/null".into()).await;
    findings.push(Finding {
        name: "NET_RAW".into(),
        available: ok,
        detail,
        consequence: "Kea's raw DHCP sockets, ping checks".into(),
    });
    let (ok, detail) = probe(caps(&["SYS_ADMIN"]), "true".into()).await;
    findings.push(Finding {
        name: "SYS_ADMIN".into(),
        available: ok,
        detail,
        consequence: "not required: the DC keeps NT ACLs in xattr_tdb".into(),
    });
    let (ok, detail) = probe(HostConfig { privileged: Some(true), ..Default::default() }, "true".into()).await;
    findings.push(Finding {
        name: "--privileged".into(),
        available: ok,
        detail,
        consequence: "never required by Plateau's images".into(),
    });
    let tun = HostConfig {
        cap_add: Some(vec!["NET_ADMIN".into()]),
        devices: Some(vec![DeviceMapping {
            path_on_host: Some("/dev/net/tun".into()),
            path_in_container: Some("/dev/net/tun".into()),
            cgroup_permissions: Some("rwm".into()),
        }]),
        ..Default::default()
    };
    let (ok, detail) = probe(tun, "test -c /dev/net/tun".into()).await;
    findings.push(Finding {
        name: "/dev/net/tun".into(),
        available: ok,
        detail,
        consequence: "OpenVPN and userspace WireGuard (wireguard-go)".into(),
    });

    // A container sees its host kernel's modules.
    for (module, if_loaded, if_not) in [
        ("wireguard", "WireGuard runs in the kernel", "WireGuard runs as wireguard-go (needs /dev/net/tun)"),
        (
            "mac80211_hwsim",
            "Wi-Fi association can be tested with virtual radios",
            "Wi-Fi is graded from hostapd's configuration only",
        ),
    ] {
        let (loaded, detail) = probe(HostConfig::default(), format!("test -d /sys/module/{module}")).await;
        findings.push(Finding {
            name: format!("{module} kernel module"),
            available: loaded,
            detail: match (loaded, detail.as_str()) {
                (true, _) => "loaded".into(),
                (false, "exit code 1") => "not loaded on the engine's host".into(),
                (false, _) => detail,
            },
            consequence: if loaded { if_loaded } else { if_not }.into(),
        });
    }
    let limited = HostConfig { memory: Some(64 << 20), pids_limit: Some(64), ..Default::default() };
    let (ok, detail) = probe(
        limited,
        "test \"$(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max)\" = 64".into(),
    )
    .await;
    findings.push(Finding {
        name: "memory and process limits".into(),
        available: ok,
        detail,
        consequence: if ok {
            "each node's memory, processes, CPU and log are bounded: one candidate cannot exhaust the host".into()
        } else {
            "limits are not enforced here: a candidate's fork bomb or memory hog reaches the whole host".into()
        },
    });
    let quota = HostConfig { storage_opt: Some(HashMap::from([("size".into(), "64M".into())])), ..Default::default() };
    let (ok, detail) = probe(quota, "true".into()).await;
    findings.push(Finding {
        name: "disk quota per container".into(),
        available: ok,
        detail,
        consequence: if ok {
            "the engine could cap each node's disk (Plateau still enforces budgets itself)".into()
        } else {
            "the supervisor enforces each node's disk budget: a node over it is paused".into()
        },
    });
    findings.push(free_disk(&info, this_host, &probe).await);
    findings.push(vm_finding(&docker, this_host).await);
    let experimental = info.experimental_build.unwrap_or(false);
    let criu = match this_host {
        true => std::process::Command::new("criu").arg("check").output(),
        false => Err(std::io::Error::other("not checked on another host's engine")),
    };
    let criu_ok = criu.as_ref().is_ok_and(|o| o.status.success());
    findings.push(Finding {
        name: "process checkpoints (CRIU)".into(),
        available: experimental && criu_ok,
        detail: match (&criu, experimental) {
            (Err(e), _) if e.kind() == std::io::ErrorKind::NotFound => "criu is not installed".into(),
            (Err(e), _) => e.to_string(),
            (Ok(o), _) if !o.status.success() => {
                format!("`criu check` fails: {}", String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or(""))
            }
            (Ok(_), false) => "the engine runs without experimental features (`docker checkpoint` is off)".into(),
            (Ok(_), true) => "`criu check` passes and the engine has checkpoints".into(),
        },
        consequence: "not used: the grade of record brings back what each node ran at the deadline (services, \
                      WireGuard, DHCP clients, addresses, routes, DNS settings, firewall rules), read while it \
                      was paused; process memory is not kept"
            .into(),
    });
    let (ok, detail) = probe(HostConfig::default(), "timeout 20 apt-get update -q >/dev/null 2>&1".into()).await;
    findings.push(Finding {
        name: "Debian mirror from a container".into(),
        available: ok,
        detail,
        consequence: "role images install their packages at build time".into(),
    });

    Ok(Report {
        engine: engine.id.clone(),
        engine_version: version.version.unwrap_or_default(),
        api_version: version.api_version.unwrap_or_default(),
        storage_driver: info.driver.unwrap_or_default(),
        cgroup_version: info
            .cgroup_version
            .map(|v| format!("{v:?}").trim_start_matches('_').to_string())
            .unwrap_or_default(),
        findings,
    })
}

/// How long a VM image's kernel takes, under `accel` (`kvm` or `tcg`), to
/// boot to its first panic (no disk: the shortest boot there is); `None`
/// when it did not within `limit` (a `/dev/kvm` that opens but does not run
/// guests, as on some nested hosts).
pub async fn time_guest(docker: &Docker, image: &str, accel: &str, limit: Duration) -> Option<Duration> {
    let devices = (accel == "kvm").then(|| {
        vec![DeviceMapping {
            path_on_host: Some("/dev/kvm".into()),
            path_in_container: Some("/dev/kvm".into()),
            cgroup_permissions: Some("rwm".into()),
        }]
    });
    let script = format!(
        "timeout {} qemu-system-x86_64 -accel {accel} -m 128 -display none -vga none -nodefaults -no-reboot \
         -kernel /vm/vmlinuz -append 'console=ttyS0 panic=-1' -serial file:/tmp/console; grep -q 'Kernel panic' /tmp/console",
        limit.as_secs()
    );
    let started = std::time::Instant::now();
    let (ok, _) = run_probe(docker, image, HostConfig { devices, ..Default::default() }, &script).await;
    ok.then(|| started.elapsed())
}

/// The disk under the engine's data root: read here on this host; on
/// another, asked of a container that mounts it (10 GiB or not).
async fn free_disk<F, Fut>(info: &bollard::models::SystemInfo, this_host: bool, probe: &F) -> Finding
where
    F: Fn(HostConfig, String) -> Fut,
    Fut: std::future::Future<Output = (bool, String)>,
{
    const ENOUGH: u64 = 10 << 30;
    let root = info.docker_root_dir.clone().unwrap_or_default();
    let (available, detail) = match this_host {
        true => match crate::platform::free_space(std::path::Path::new(&root)) {
            Some(bytes) => (bytes > ENOUGH, format!("{:.1} GiB free under {root}", bytes as f64 / (1u64 << 30) as f64)),
            None => (false, format!("{root} is not visible from here")),
        },
        false => {
            let host = HostConfig { binds: Some(vec![format!("{root}:/engine-root:ro")]), ..Default::default() };
            let script = format!("test \"$(df -Pk /engine-root | awk 'NR == 2 {{ print $4 }}')\" -gt {}", ENOUGH >> 10);
            match probe(host, script).await {
                (true, _) => (true, format!("more than 10 GiB free under {root}")),
                (false, why) if why == "exit code 1" => (false, format!("less than 10 GiB free under {root}")),
                (false, why) => (false, why),
            }
        }
    };
    Finding {
        name: "free disk".into(),
        available,
        detail,
        consequence: "`exam start` needs twice the candidates' disk budgets (their writes and their snapshots)".into(),
    }
}

/// Which accelerator VM nodes get here, and how long a kernel takes to boot.
async fn vm_finding(docker: &Docker, this_host: bool) -> Finding {
    let image = "plateau/qemu:latest";
    let name = "VM nodes (QEMU)".to_string();
    let consequence = "VM nodes boot (`backend = \"vm\"`); their image: `plateau images build --vm ROLE`".to_string();
    let vm_image = match first_vm_image(docker).await {
        Some(image) => image,
        None => {
            let detail = if docker.inspect_image(image).await.is_ok() {
                "not timed: no VM image built yet (`plateau images build --vm workstation`)".to_string()
            } else {
                "not probed: build the images first".to_string()
            };
            return Finding { name, available: false, detail, consequence };
        }
    };
    // Another host's /dev/kvm is seen by trying it.
    let kvm_device = !this_host || std::path::Path::new("/dev/kvm").exists();
    let kvm = match kvm_device {
        true => time_guest(docker, &vm_image, "kvm", KVM_PROBE_LIMIT).await,
        false => None,
    };
    let tcg = time_guest(docker, &vm_image, "tcg", Duration::from_secs(120)).await;
    let detail = match (kvm, tcg) {
        (Some(k), _) => format!("KVM: a kernel boots in {:.1} s; VMs use KVM", k.as_secs_f64()),
        (None, Some(t)) => format!(
            "{}; TCG (software emulation): a kernel boots in {:.1} s; VMs use TCG (slower to boot and to run)",
            if kvm_device { "/dev/kvm runs no guest" } else { "no /dev/kvm" },
            t.as_secs_f64(),
        ),
        (None, None) => "no guest booted, with KVM or TCG".to_string(),
    };
    Finding { name, available: kvm.is_some() || tcg.is_some(), detail, consequence }
}

/// How long the KVM probe may take: a host where KVM works boots in a second or two.
pub const KVM_PROBE_LIMIT: Duration = Duration::from_secs(15);

/// A role's VM image built on this engine, if any.
async fn first_vm_image(docker: &Docker) -> Option<String> {
    let images = docker.list_images(None::<bollard::query_parameters::ListImagesOptions>).await.ok()?;
    images.into_iter().flat_map(|i| i.repo_tags).find(|t| t.starts_with("plateau/vm-") && t.ends_with(":latest"))
}

/// Run `script` in a throwaway container; (succeeded, what happened).
async fn run_probe(docker: &Docker, image: &str, mut host: HostConfig, script: &str) -> (bool, String) {
    host.auto_remove = Some(false);
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["sh".into(), "-c".into(), script.into()]),
        labels: Some(HashMap::from([(LABEL_OWNER.to_string(), "doctor".to_string())])),
        host_config: Some(host),
        ..Default::default()
    };
    let created = match docker.create_container(None::<CreateContainerOptions>, body).await {
        Ok(c) => c,
        Err(e) => return (false, short(&e.to_string())),
    };
    let outcome =
        match docker.start_container(&created.id, None::<bollard::query_parameters::StartContainerOptions>).await {
            Err(e) => (false, short(&e.to_string())),
            Ok(()) => match docker.wait_container(&created.id, None::<WaitContainerOptions>).next().await {
                Some(Ok(w)) if w.status_code == 0 => (true, "ok".to_string()),
                Some(Ok(w)) => (false, format!("exit code {}", w.status_code)),
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                    (false, format!("exit code {code}"))
                }
                Some(Err(e)) => (false, short(&e.to_string())),
                None => (false, "no exit status".into()),
            },
        };
    let _ =
        docker.remove_container(&created.id, Some(RemoveContainerOptions { force: true, ..Default::default() })).await;
    outcome
}

/// The end of an engine error, where the reason is.
fn short(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars[chars.len().saturating_sub(90)..].iter().collect()
}
