//! What each role is, in one table that the engine (image, kernel
//! settings), validation (which tools a check finds where it runs) and the
//! grader (where accounts and the directory live) all read, and that the
//! role reference (`plateau roles`, `docs/roles.md`) prints. A new role is
//! a `Role` variant and its row here; the exhaustive match makes the
//! compiler ask for it. `tests/images.rs` checks every row against its image.

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
    /// What it is, in a line.
    pub summary: &'static str,
    /// Debian packages its image adds to the base image's.
    pub packages: &'static [&'static str],
    /// Programs checks, faults and solutions can count on, beside `BASE_TOOLS`.
    pub tools: &'static [&'static str],
    /// Services `plateau-service` manages, and whether each starts with the node.
    pub services: &'static [(&'static str, bool)],
    /// The configuration files the candidate works on.
    pub files: &'static [&'static str],
    /// Its image with a desktop (`desktop = true` on a node, memory at least
    /// [`DESKTOP_MEMORY`]), if it has one.
    pub desktop_image: Option<&'static str>,
}

/// Programs every role has (the base image: iproute2, iputils-ping,
/// netcat-openbsd, curl, procps, openssh-server, sudo, nano, less).
pub const BASE_TOOLS: &[&str] = &[
    "ip",
    "ping",
    "nc",
    "curl",
    "ps",
    "pkill",
    "sshd",
    "sudo",
    "nano",
    "less",
    "sh",
    "grep",
    "sed",
    "awk",
    "sha256sum",
    "dpkg-query",
    "plateau-service",
];

/// Debian packages of the base image (`images/base/packages`).
pub const BASE_PACKAGES: &[&str] = &[
    "ca-certificates",
    "iproute2",
    "iputils-ping",
    "procps",
    "netcat-openbsd",
    "curl",
    "less",
    "nano",
    "openssh-server",
    "sudo",
];

impl RoleSpec {
    /// Whether a program is on this role's machines.
    pub fn has_tool(&self, tool: &str) -> bool {
        BASE_TOOLS.contains(&tool) || self.tools.contains(&tool)
    }
}

const FORWARDS: &[(&str, &str)] = &[("net.ipv4.ip_forward", "1")];

const MIB: u64 = 1 << 20;
/// What a desktop (X server, Xfce, Firefox) needs at least.
pub const DESKTOP_MEMORY: u64 = 1536 * MIB;

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
        summary: "",
        packages: &[],
        tools: &[],
        services: &[("sshd", true)],
        files: &[],
        desktop_image: None,
    }
}

pub(crate) fn spec(role: Role) -> &'static RoleSpec {
    const DC: RoleSpec = RoleSpec {
        accounts: Accounts::Directory,
        directory: true,
        memory: 1024 * MIB,
        disk: 512 * MIB,
        summary: "Samba Active Directory domain controller: LDAP, Kerberos and the domain's DNS. Its node's \
                  environment sets the domain: `PLATEAU_REALM` (default `AGENCE.LAN`; another realm \
                  re-provisions at start, seconds), `PLATEAU_DOMAIN` (the NetBIOS workgroup, default the realm's \
                  first label: `AGENCE`), `PLATEAU_ADMIN_PASSWORD` (Administrator's, default `Plateau-Admin1`), \
                  `PLATEAU_SEED_USERS` (`login` or `login!` for a disabled account, space-separated, created once \
                  with `PLATEAU_SEED_PASSWORD`)",
        packages: &["samba", "samba-ad-dc", "samba-ad-provision", "winbind", "krb5-user", "ldb-tools", "smbclient"],
        tools: &["samba-tool", "wbinfo", "smbclient", "kinit", "klist", "ldbsearch"],
        services: &[("sshd", true), ("samba", true)],
        files: &["/etc/samba/smb.conf", "/var/lib/samba/private/sam.ldb (through samba-tool)"],
        ..row(Role::DomainController, "dc")
    };
    const DHCP: RoleSpec = RoleSpec {
        summary: "DHCP server (ISC Kea), configured by the candidate",
        packages: &["kea-dhcp4-server"],
        tools: &["kea-dhcp4"],
        services: &[("sshd", true), ("kea-dhcp4", true)],
        files: &["/etc/kea/kea-dhcp4.conf"],
        ..row(Role::DhcpServer, "dhcp")
    };
    const ROUTER: RoleSpec = RoleSpec {
        sysctls: FORWARDS,
        summary: "router and firewall between the platform's networks (nftables; forwards packets)",
        packages: &["nftables", "iptables", "tcpdump"],
        tools: &["nft", "iptables", "tcpdump"],
        services: &[("sshd", true), ("nftables", true)],
        files: &["/etc/nftables.conf"],
        ..row(Role::Router, "router")
    };
    const VPN: RoleSpec = RoleSpec {
        sysctls: FORWARDS,
        summary: "VPN server (WireGuard in user space with wireguard-go, or OpenVPN); forwards packets",
        packages: &["wireguard-tools", "wireguard-go", "openvpn", "nftables"],
        tools: &["wg", "wg-quick", "wireguard-go", "openvpn", "nft"],
        files: &["/etc/wireguard/wg0.conf"],
        ..row(Role::VpnServer, "vpn")
    };
    const AP: RoleSpec = RoleSpec {
        summary: "Wi-Fi access point (hostapd); its configuration is graded, no radio runs in a container",
        packages: &["hostapd", "wpasupplicant", "iw"],
        tools: &["hostapd", "wpa_supplicant", "iw"],
        files: &["/etc/hostapd/hostapd.conf"],
        ..row(Role::AccessPoint, "ap")
    };
    const WORKSTATION: RoleSpec = RoleSpec {
        memory: 512 * MIB,
        disk: 512 * MIB,
        summary: "the user's workstation (Debian): joins the domain (winbind, or adcli/sssd), prints (CUPS), \
                  backs up (restic), tunnels (WireGuard, OpenVPN); its addresses come from DHCP; \
                  the user's files in /srv/donnees",
        packages: &[
            "winbind",
            "libnss-winbind",
            "libpam-winbind",
            "adcli",
            "sssd-ad",
            "krb5-user",
            "samba-common-bin",
            "smbclient",
            "cups",
            "cups-client",
            "cups-ipp-utils",
            "restic",
            "unattended-upgrades",
            "wireguard-tools",
            "wireguard-go",
            "openvpn",
            "isc-dhcp-client",
            "nftables",
            "dnsutils",
            "sshpass",
        ],
        tools: &[
            "net",
            "wbinfo",
            "adcli",
            "sssd",
            "kinit",
            "klist",
            "smbclient",
            "lpadmin",
            "lpstat",
            "ipptool",
            "restic",
            "wg",
            "wg-quick",
            "openvpn",
            "dhclient",
            "nft",
            "dig",
            "sshpass",
            "apt-config",
        ],
        services: &[("sshd", true), ("cups", true), ("winbind", false)],
        files: &["/etc/samba/smb.conf", "/etc/krb5.conf", "/etc/resolv.conf", "/etc/apt/apt.conf.d/", "/srv/donnees/"],
        desktop_image: Some("workstation-desktop"),
        ..row(Role::Workstation, "workstation")
    };
    const FILESERVER: RoleSpec = RoleSpec {
        memory: 512 * MIB,
        disk: 512 * MIB,
        summary: "file server (Samba), standalone or a member of the domain; shares under /srv/partages",
        packages: &["samba", "winbind", "libnss-winbind", "krb5-user", "smbclient", "acl"],
        tools: &["smbd", "net", "wbinfo", "kinit", "klist", "smbclient", "setfacl", "getfacl"],
        services: &[("sshd", true), ("smbd", true), ("winbind", false)],
        files: &["/etc/samba/smb.conf", "/srv/partages/"],
        ..row(Role::FileServer, "fileserver")
    };
    const PRINTER: RoleSpec = RoleSpec {
        summary: "network printer: an IPP Everywhere printer (ippeveprinter) announced over mDNS",
        packages: &["cups-ipp-utils", "avahi-daemon", "dbus"],
        tools: &["ippeveprinter", "ipptool"],
        services: &[("sshd", true), ("dbus", true), ("avahi", true), ("ippeveprinter", true)],
        ..row(Role::Printer, "printer")
    };
    const HELPDESK: RoleSpec = RoleSpec {
        memory: 384 * MIB,
        summary: "the help desk's tool: Request Tracker 5 (tickets and assets, SQLite), its web interface on \
                  port 80 (in French for a French browser) and its REST 2 API (`/REST/2.0`). At first start: \
                  the administrator `root` gets the password of `PLATEAU_ADMIN_PASSWORD`, the candidate's \
                  accounts of `PLATEAU_HELPDESK_TECHNICIANS` (`NAME:PASSWORD ...`) a technician's rights, \
                  the queues of `PLATEAU_HELPDESK_QUEUES` (`Name,Name`) are made, and the requests of \
                  `PLATEAU_HELPDESK_TICKETS` (lines `QUEUE | FROM | SUBJECT | TEXT`) arrive, and the \
                  asset register is an empty catalog (`PLATEAU_HELPDESK_CATALOG`, \
                  \"Parc informatique\") with the fields of `PLATEAU_HELPDESK_ASSET_FIELDS` \
                  (`Numéro de série,Adresse MAC,Utilisateur,Emplacement`); \
                  `plateau-request QUEUE FROM SUBJECT TEXT` makes one arrive later (what a fault's \
                  `request` runs). The \
                  grader reads the tool as its own account `plateau-grader`",
        packages: &["request-tracker5", "rt5-db-sqlite", "rt5-clients"],
        tools: &["rt", "rt-passwd-5", "plateau-request"],
        services: &[("sshd", true), ("rt", true)],
        files: &["/etc/request-tracker5/RT_SiteConfig.d/"],
        ..row(Role::Helpdesk, "helpdesk")
    };
    const WEBSERVER: RoleSpec = RoleSpec {
        summary: "web server: nginx serving /var/www/html (Debian's welcome page until the candidate \
                  publishes a site); every request's path is also logged to /var/log/plateau/http.log \
                  (`/etc/nginx/conf.d/plateau-log.conf`), where an `http_get` check's `served_by` finds it",
        packages: &["nginx"],
        tools: &["nginx"],
        services: &[("sshd", true), ("nginx", true)],
        files: &["/etc/nginx/sites-available/", "/etc/nginx/sites-enabled/", "/var/www/"],
        ..row(Role::WebServer, "webserver")
    };
    const INTERNET: RoleSpec = RoleSpec {
        summary: "\"the internet\" as seen from the platform: a DNS server (dnsmasq) and a web site (busybox httpd)",
        packages: &["dnsmasq-base", "busybox"],
        tools: &["dnsmasq", "busybox"],
        services: &[("sshd", true), ("dns", true), ("http", true)],
        files: &["/etc/plateau/dnsmasq.conf", "/srv/www/"],
        ..row(Role::Internet, "internet")
    };
    const PROBE: RoleSpec = RoleSpec {
        summary: "the grader's own vantage point inside a network (never the candidate's): sends DNS, LDAP, \
                  SMB, IPP and DHCP probes",
        packages: &["dnsutils", "ldap-utils", "smbclient", "cups-ipp-utils", "isc-dhcp-client", "nmap"],
        tools: &["dig", "ldapsearch", "smbclient", "ipptool", "dhclient", "nmap"],
        // Nobody logs in to the grader's probe: its sshd is there, stopped.
        services: &[("sshd", false)],
        ..row(Role::Probe, "probe")
    };
    match role {
        Role::DomainController => &DC,
        Role::DhcpServer => &DHCP,
        Role::Router => &ROUTER,
        Role::VpnServer => &VPN,
        Role::AccessPoint => &AP,
        Role::Workstation => &WORKSTATION,
        Role::FileServer => &FILESERVER,
        Role::Printer => &PRINTER,
        Role::Helpdesk => &HELPDESK,
        Role::WebServer => &WEBSERVER,
        Role::Internet => &INTERNET,
        Role::Probe => &PROBE,
    }
}

/// The role reference in Markdown: every role, or one (`plateau roles
/// [ROLE]`; `docs/roles.md` is the whole of it, checked to be current).
pub fn reference(only: Option<Role>) -> String {
    use crate::checks::{CheckKind, Runs};
    use crate::limits::show_size;
    use crate::model::token;
    let mut md = String::new();
    if only.is_none() {
        md.push_str(
            "# Role reference\n\n\
             What each role's machines have, for whoever writes a scenario. Generated by \
             `plateau roles` from the role table (`crates/plateau-scenario/src/roles.rs`), the one \
             the engine and validation read; `tests/images.rs` checks it against the built images. \
             Do not edit: `plateau roles > docs/roles.md`.\n\n\
             Every image is Debian 12 (bookworm), built from a `debootstrap` root file system, with \
             the base packages ",
        );
        md.push_str(&ticks(BASE_PACKAGES));
        md.push_str(" and so the programs ");
        md.push_str(&ticks(BASE_TOOLS));
        md.push_str(
            ".\n\n\
             **Services.** Containers run no systemd: `plateau-init` is the first process, and \
             `plateau-service start|stop|restart|status NAME` manages the services named in \
             `/etc/plateau/services/` (one command line each, the service in the foreground); those \
             listed in `/etc/plateau/autostart` start with the node. A \
             fault's or a solution's step stops a service with `plateau-service stop NAME`, a \
             `service_running` check asks whether its program runs.\n\n\
             **Accounts.** The candidate's and the grader's accounts come from the scenario's \
             `access` and `grader` tables; a domain controller also has the domain's \
             `Administrator` and the staff accounts the scenario seeds.\n\n\
             **Checks.** A check that runs on a node needs its programs on that node's role; a probe \
             sent `from` a node needs them there (a probe without `from` leaves from the \
             controller). `plateau validate` refuses a check placed where its programs are not.\n",
        );
    }
    for role in Role::ALL.iter().filter(|r| only.is_none_or(|o| o == **r)) {
        let spec = role.spec();
        let runs_here = |runs: Runs| -> Vec<&'static str> {
            CheckKind::ALL
                .iter()
                .filter(|k| k.runs == runs && k.os.contains(&spec.os))
                .filter(|k| k.roles.is_empty() || k.roles.contains(role))
                .filter(|k| k.tools.iter().all(|t| spec.has_tool(t)))
                .map(|k| k.name)
                .collect()
        };
        md.push_str(&format!("\n## `{}`\n\n{}.\n\n| | |\n| --- | --- |\n", token(role), spec.summary));
        md.push_str(&format!("| image | `plateau/{}` (`images/{}/`) |\n", spec.image, spec.image));
        if let Some(desktop) = spec.desktop_image {
            md.push_str(&format!(
                "| with `desktop = true` | `plateau/{desktop}` (`images/{desktop}/`): Xfce, Firefox ESR, a terminal and the \
                 file manager, French keyboard and locale, opened from the candidate's console page; memory {} |\n",
                show_size(DESKTOP_MEMORY)
            ));
        }
        md.push_str(&format!("| packages added | {} |\n", ticks(spec.packages)));
        md.push_str(&format!("| programs added | {} |\n", ticks(spec.tools)));
        let services: Vec<String> = spec
            .services
            .iter()
            .map(|(s, boot)| format!("`{s}`{}", if *boot { " (starts with the node)" } else { "" }))
            .collect();
        md.push_str(&format!("| services | {} |\n", services.join(", ")));
        if !spec.files.is_empty() {
            md.push_str(&format!("| configuration | {} |\n", ticks(spec.files)));
        }
        let accounts = match spec.accounts {
            Accounts::Directory => "the domain's (`samba-tool user …`); faults such as `lock-user` act there",
            Accounts::Local => "the machine's own (`/etc/passwd`)",
        };
        md.push_str(&format!("| accounts | {accounts} |\n"));
        md.push_str(&format!(
            "| limits (default) | memory {}, disk {} |\n",
            show_size(spec.memory),
            show_size(spec.disk)
        ));
        if !spec.sysctls.is_empty() {
            let settings: Vec<String> = spec.sysctls.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
            md.push_str(&format!("| kernel settings | {} |\n", settings.join(", ")));
        }
        md.push_str(&format!("| checks that run on it | {} |\n", ticks(&runs_here(Runs::OnNode))));
        md.push_str(&format!("| probes it can send (`from`) | {} |\n", ticks(&runs_here(Runs::Probe))));
    }
    md
}

fn ticks(items: &[&str]) -> String {
    if items.is_empty() {
        return "—".into();
    }
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
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
