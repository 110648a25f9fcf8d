//! What each role is, in one table that the engine (image, kernel
//! settings), validation and the grader (where accounts and the directory
//! live) all read. A new role is a `Role` variant and its row here; the
//! exhaustive match makes the compiler ask for it.

use crate::model::{Os, Role};

/// Where a role keeps the accounts a fault or a check acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accounts {
    /// The domain's accounts (Samba AD: `samba-tool user`).
    Directory,
    /// The machine's own `/etc/passwd` accounts.
    Local,
}

#[derive(Debug, PartialEq, Eq)]
pub struct RoleSpec {
    pub role: Role,
    /// The role image under `images/` (`plateau/<image>`).
    pub image: &'static str,
    pub os: Os,
    /// Kernel settings of its container (routers forward packets).
    pub sysctls: &'static [(&'static str, &'static str)],
    pub accounts: Accounts,
    /// It answers for the domain: directory checks of other nodes ask it.
    pub directory: bool,
    /// Memory its container gets unless the scenario says otherwise (bytes).
    pub memory: u64,
    /// What it may write to its own disk unless the scenario says otherwise (bytes).
    pub disk: u64,
}

const FORWARDS: &[(&str, &str)] = &[("net.ipv4.ip_forward", "1")];

const MIB: u64 = 1 << 20;

const fn row(role: Role, image: &'static str) -> RoleSpec {
    RoleSpec {
        role,
        image,
        os: Os::Linux,
        sysctls: &[],
        accounts: Accounts::Local,
        directory: false,
        memory: 256 * MIB,
        disk: 256 * MIB,
    }
}

pub(crate) fn spec(role: Role) -> &'static RoleSpec {
    const DC: RoleSpec = RoleSpec {
        accounts: Accounts::Directory,
        directory: true,
        memory: 1024 * MIB,
        disk: 512 * MIB,
        ..row(Role::DomainController, "dc")
    };
    const DHCP: RoleSpec = row(Role::DhcpServer, "dhcp");
    const ROUTER: RoleSpec = RoleSpec { sysctls: FORWARDS, ..row(Role::Router, "router") };
    const VPN: RoleSpec = RoleSpec { sysctls: FORWARDS, ..row(Role::VpnServer, "vpn") };
    const AP: RoleSpec = row(Role::AccessPoint, "ap");
    const WORKSTATION: RoleSpec =
        RoleSpec { memory: 512 * MIB, disk: 512 * MIB, ..row(Role::Workstation, "workstation") };
    const FILESERVER: RoleSpec = RoleSpec { memory: 512 * MIB, disk: 512 * MIB, ..row(Role::FileServer, "fileserver") };
    const PRINTER: RoleSpec = row(Role::Printer, "printer");
    const INTERNET: RoleSpec = row(Role::Internet, "internet");
    const PROBE: RoleSpec = row(Role::Probe, "probe");
    match role {
        Role::DomainController => &DC,
        Role::DhcpServer => &DHCP,
        Role::Router => &ROUTER,
        Role::VpnServer => &VPN,
        Role::AccessPoint => &AP,
        Role::Workstation => &WORKSTATION,
        Role::FileServer => &FILESERVER,
        Role::Printer => &PRINTER,
        Role::Internet => &INTERNET,
        Role::Probe => &PROBE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_its_own_row_and_image() {
        let images: Vec<&str> = Role::ALL.iter().map(|r| r.spec().image).collect();
        for role in Role::ALL {
            assert_eq!(role.spec().role, role, "the row of {role:?} names another role");
        }
        let mut unique = images.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), images.len(), "two roles share an image: {images:?}");
        // Every image is a context under images/.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../images");
        for image in images {
            assert!(dir.join(image).join("Dockerfile").exists(), "images/{image}/Dockerfile is missing");
        }
    }
}
