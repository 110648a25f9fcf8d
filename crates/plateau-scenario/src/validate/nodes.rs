//! A node's own rules: its interfaces, dependencies, grader access and limits.

use std::collections::{HashMap, HashSet};

use super::{Sink, reference};
use crate::model::*;

pub(super) fn needs_grader(node: &Node, path: &str, sink: &mut Sink<'_>) {
    if node.grader.is_none() {
        sink.at(
            path,
            "no-grader-access",
            format!("node `{}` has no grader access", node.id),
            "cannot run commands here",
            Some(format!("add `grader = {{ via = \"{}\" }}` to node `{}`", default_via(node), node.id)),
        );
    }
}

fn default_via(node: &Node) -> &'static str {
    match (node.backend, node.os) {
        (Backend::Container, _) => "exec",
        (_, Os::Windows) => "winrm",
        _ => "ssh",
    }
}

pub(super) fn node_rules(
    node: &Node,
    path: &str,
    nodes: &HashMap<&str, &Node>,
    networks: &HashSet<&str>,
    sink: &mut Sink<'_>,
) {
    for (i, iface) in node.interfaces.iter().enumerate() {
        let ipath = format!("{path}.interfaces[{i}]");
        reference(&iface.network, &format!("{ipath}.network"), "network", networks, sink);
        let ways = [iface.host.is_some(), iface.address.is_some(), iface.dhcp].iter().filter(|w| **w).count();
        if ways != 1 {
            sink.at(
                &ipath,
                "interface-address",
                format!("interface on `{}` needs exactly one of `host`, `address`, `dhcp = true`", iface.network),
                "here",
                Some("e.g. `{ network = \"lan\", host = 10 }` or `{ network = \"lan\", dhcp = true }`".into()),
            );
        }
        if let Some(mac) = &iface.mac {
            check_mac(mac, &format!("{ipath}.mac"), sink);
        }
    }
    for (i, dep) in node.depends_on.iter().enumerate() {
        let dpath = format!("{path}.depends_on[{i}]");
        if reference(dep, &dpath, "node", nodes, sink) && dep == &node.id {
            sink.at(&dpath, "self-dependency", format!("node `{dep}` depends on itself"), "here", None);
        }
    }
    match (node.backend, &node.address) {
        (Backend::Container | Backend::Vm, Some(_)) => sink.at_key(
            &format!("{path}.address"),
            "address-on-container",
            format!("`{}` is created by Plateau: its addresses come from its interfaces", node.id),
            "not for nodes Plateau creates",
            Some("remove `address`, or set `backend = \"static\"` for an existing machine".into()),
        ),
        (Backend::Static, None) => sink.at(
            path,
            "missing-address",
            format!("`{}` is not created by Plateau and needs an `address`", node.id),
            "here",
            Some("add `address = \"192.0.2.10\"` (how the grader reaches it)".into()),
        ),
        _ => {}
    }
    // Plateau puts its own key in the containers and Linux VMs it creates;
    // other machines need the account the grader logs in with.
    let needs_credentials = node.backend == Backend::Static || node.os == Os::Windows;
    if let Some(grader) = &node.grader {
        let vpath = format!("{path}.grader.via");
        match grader.via {
            Via::Exec if node.backend != Backend::Container => sink.at(
                &vpath,
                "exec-needs-container",
                format!("`exec` cannot reach `{}`: it is not a container", node.id),
                "not a container",
                Some("use `ssh` or `winrm`".into()),
            ),
            Via::Winrm if node.os != Os::Windows => sink.at(
                &vpath,
                "winrm-needs-windows",
                format!("`winrm` reaches Windows machines; `{}` runs Linux", node.id),
                "not Windows",
                Some("use `ssh`, or set `os = \"windows\"`".into()),
            ),
            // Containers get the session's grader key for root at provisioning.
            Via::Ssh | Via::Winrm if grader.user.is_none() && needs_credentials => sink.at(
                &format!("{path}.grader"),
                "missing-user",
                format!("grader access to `{}` over {} needs a `user`", node.id, token(&grader.via)),
                "here",
                Some("add `user = \"...\"` and `password = \"...\"`".into()),
            ),
            Via::Ssh | Via::Winrm if grader.password.is_none() && needs_credentials => sink.at(
                &format!("{path}.grader"),
                "missing-password",
                format!("grader access to `{}` over {} needs a `password`", node.id, token(&grader.via)),
                "here",
                Some(
                    "add `password = \"...\"`: Plateau installs its own key only in the Linux nodes it creates".into(),
                ),
            ),
            _ => {}
        }
        if grader.login == WinrmLogin::Basic && (grader.via != Via::Winrm || grader.port != Some(5986)) {
            sink.at(
                &format!("{path}.grader.login"),
                "basic-needs-https",
                format!(
                    "`basic` login to `{}` is WinRM over HTTPS only: the password travels in every request",
                    node.id
                ),
                "here",
                Some("set `via = \"winrm\"` and `port = 5986` (HTTPS), or leave `login` out (NTLM)".into()),
            );
        }
    }
    if node.os == Os::Windows && node.backend == Backend::Container {
        sink.at(
            path,
            "windows-container",
            format!("`{}` is a Windows machine and cannot be a container here", node.id),
            "here",
            Some("use `backend = \"vm\"` with the centre's image (`plateau images import-vm`), or `\"static\"` with an `address`".into()),
        );
    }
    // A container has a desktop when its role has a desktop image; a VM's is its
    // own screen; an existing machine's screen is out of the engine's reach.
    let has_desktop = match node.backend {
        Backend::Container => node.role.spec().desktop_image.is_some(),
        Backend::Vm => true,
        Backend::Static => false,
    };
    if node.desktop && !has_desktop {
        let roles: Vec<&str> =
            Role::ALL.iter().filter(|r| r.spec().desktop_image.is_some()).map(|r| r.image_name()).collect();
        sink.at(
            &format!("{path}.desktop"),
            "no-desktop",
            format!("`{}` cannot have a desktop: only a VM or a container {} has one", node.id, roles.join(", ")),
            "here",
            Some("remove `desktop = true`, or put it on the workstation the candidate sits at".into()),
        );
    }
    if node.os == Os::Windows && node.backend == Backend::Vm && node.image.is_none() {
        sink.at(
            path,
            "windows-vm-image",
            format!("`{}` is a Windows VM: Plateau ships no Windows image", node.id),
            "here",
            Some("import the centre's own disk image (`plateau images import-vm NAME DISK`), then set `image = \"plateau/vm-NAME\"`".into()),
        );
    }
}

/// Reports a MAC address that is not six hex bytes. Templated text is checked
/// once rendered, when the plan calls this again with the value.
pub(crate) fn check_mac(mac: &str, path: &str, sink: &mut Sink<'_>) {
    let parts: Vec<&str> = mac.split(':').collect();
    let well_formed = parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && u8::from_str_radix(p, 16).is_ok());
    if !well_formed && !mac.contains("{{") {
        sink.at(
            path,
            "bad-mac",
            format!("`{mac}` is not a MAC address"),
            "bad MAC",
            Some("write six hex bytes, e.g. `02:50:00:12:34:56`".into()),
        );
    }
}
