//! What a node changed that the grader's trust rests on, read from the
//! engine's own view of the node's filesystem (its layer against its image),
//! and what the grade of record puts back before it grades.
//!
//! Watched: the programs and libraries a check may run (`/usr`, `/bin`,
//! `/sbin`, `/lib*`, except documentation), the loader's preload and search
//! lists, root's shell start-up files and the system's profile, the ways in
//! (SSH keys and daemon configuration), and the node's own start-up hooks.
//! The candidate's expected work (configuration under `/etc`, data, logs)
//! is not listed: the checks judge it.

use plateau_engine::platform::{ChangeKind, FsChange};
use plateau_results::{IntegrityChange, NodeIntegrity};

/// Changes listed per node; the rest are counted.
const LISTED: usize = 40;

/// Directories of programs and libraries.
const PROGRAMS: &[&str] = &["/usr/", "/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/"];
/// Under `PROGRAMS`, but data nobody runs.
const NOT_PROGRAMS: &[&str] = &["/usr/share/", "/usr/local/share/", "/usr/src/", "/usr/include/"];
/// Files and directories that change what a shell or the loader does, or who gets in.
const TRUST: &[&str] = &[
    "/etc/ld.so.preload",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d/",
    "/etc/profile",
    "/etc/profile.d/",
    "/etc/bash.bashrc",
    "/etc/environment",
    "/root/.bashrc",
    "/root/.profile",
    "/root/.bash_profile",
    "/root/.bash_login",
    "/root/.ssh/",
    "/etc/ssh/sshd_config",
    "/etc/ssh/sshd_config.d/",
    "/etc/sudoers",
    "/etc/sudoers.d/",
    "/etc/plateau/start.d/",
];

/// What the engine itself puts in every container (its init).
const ENGINE_OWN: &[&str] = &["/sbin/docker-init", "/usr/sbin/docker-init", "/usr/bin/docker-init"];

/// Where to look for watched changes (see `Engine::changes`).
pub fn roots() -> Vec<&'static str> {
    PROGRAMS.iter().chain(TRUST).copied().collect()
}

/// Whether a path is one the grader's trust rests on.
pub fn watched(path: &str) -> bool {
    let under = |dir: &str| path.starts_with(dir) || dir.strip_suffix('/') == Some(path);
    let program = PROGRAMS.iter().any(|d| path.starts_with(d)) && !NOT_PROGRAMS.iter().any(|d| path.starts_with(d));
    (program || TRUST.iter().any(|t| path == *t || (t.ends_with('/') && under(t)))) && !ENGINE_OWN.contains(&path)
}

/// Directories of the grader's search path, where an added program may stand in for the role's.
const SEARCH_DIRS: &[&str] = &["/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/", "/usr/local/sbin/", "/usr/local/bin/"];

/// Whether the grade of record asks for the role's own copy of this path:
/// a program or library replaced or removed, a program added in the search
/// path (a stand-in, when the role has one of that name), the preload list.
pub fn put_back(change: &FsChange) -> bool {
    let program =
        PROGRAMS.iter().any(|d| change.path.starts_with(d)) && !NOT_PROGRAMS.iter().any(|d| change.path.starts_with(d));
    let in_search_path = SEARCH_DIRS.iter().any(|d| change.path.strip_prefix(d).is_some_and(|f| !f.contains('/')));
    (program && (change.kind != ChangeKind::Added || in_search_path)) || change.path == "/etc/ld.so.preload"
}

/// The watched changes of one node, leaves only (a directory is listed
/// when it is the change itself, not because something under it changed).
pub fn findings(changes: &[FsChange]) -> Vec<FsChange> {
    let mut watched: Vec<FsChange> = changes.iter().filter(|c| watched(&c.path)).cloned().collect();
    watched.sort();
    let parent_of_another = |i: usize| {
        let dir = format!("{}/", watched[i].path);
        watched[i].kind == ChangeKind::Modified && watched.iter().any(|o| o.path.starts_with(&dir))
    };
    let keep: Vec<bool> = (0..watched.len()).map(|i| !parent_of_another(i)).collect();
    watched.into_iter().zip(keep).filter_map(|(c, k)| k.then_some(c)).collect()
}

/// A node's findings as the grid shows them: `seen` says when; the paths in
/// `put_back_done` were graded with the role's own copy.
pub fn report(node: &str, findings: &[FsChange], seen: &str, put_back_done: &[String]) -> Option<NodeIntegrity> {
    if findings.is_empty() {
        return None;
    }
    let changes = findings
        .iter()
        .take(LISTED)
        .map(|c| IntegrityChange {
            path: c.path.clone(),
            change: token(c.kind).to_string(),
            seen: seen.to_string(),
            put_back: put_back_done.contains(&c.path),
        })
        .collect();
    Some(NodeIntegrity { node: node.to_string(), changes, more: findings.len().saturating_sub(LISTED) })
}

pub fn token(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "added",
        ChangeKind::Modified => "modified",
        ChangeKind::Deleted => "deleted",
    }
}

/// A machine Plateau did not create, or a VM (the engine sees only its disk
/// image), has no image to compare with: its package manager's own record
/// is the reference. `dpkg --verify` by absolute path, in a clean
/// environment, of every package but the kernel's (its modules are most of
/// the bytes, and none is a program the grader runs: a minute under
/// software emulation, 18 s without); the files whose content differs from
/// their package (`5` in the checksum column) or that are missing.
pub async fn verify_packages(
    on: &crate::executor::Executor,
    timeout: std::time::Duration,
) -> Result<Vec<FsChange>, crate::executor::ExecError> {
    use crate::executor::Execute;
    let out = on
        .run(
            "LC_ALL=C /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c \
             '/usr/bin/dpkg --verify $(/usr/bin/dpkg-query -W -f \"\\${Package}\\n\" | /bin/grep -v \"^linux-image\")' 2>/dev/null; true",
            timeout,
        )
        .await?;
    Ok(dpkg_verify(&out.stdout))
}

/// `dpkg --verify` lines: `??5?????? c /etc/x` (content changed), `missing   /usr/bin/x`.
fn dpkg_verify(stdout: &str) -> Vec<FsChange> {
    stdout
        .lines()
        .filter_map(|line| {
            let path = line.split_whitespace().last()?.to_string();
            if !path.starts_with('/') {
                return None;
            }
            if line.starts_with("missing") {
                return Some(FsChange { path, kind: ChangeKind::Deleted });
            }
            (line.as_bytes().get(2) == Some(&b'5')).then_some(FsChange { path, kind: ChangeKind::Modified })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str, kind: ChangeKind) -> FsChange {
        FsChange { path: path.into(), kind }
    }

    #[test]
    fn dpkg_verify_lists_changed_and_missing_files() {
        let out = "??5?????? c /etc/ssh/sshd_config\n??5??????   /usr/bin/wbinfo\nmissing     /usr/bin/lpstat\n\
                   ?????????   /usr/share/doc/x\n";
        let found = dpkg_verify(out);
        assert_eq!(
            found,
            [
                change("/etc/ssh/sshd_config", ChangeKind::Modified),
                change("/usr/bin/wbinfo", ChangeKind::Modified),
                change("/usr/bin/lpstat", ChangeKind::Deleted),
            ]
        );
    }

    #[test]
    fn what_is_watched() {
        let check = |path: &str, expect: bool| assert_eq!(watched(path), expect, "{path}");
        check("/usr/bin/samba-tool", true);
        check("/usr/local/bin/wbinfo", true);
        check("/usr/lib/python3/dist-packages/samba/netcmd/user.py", true);
        check("/etc/ld.so.preload", true);
        check("/root/.bashrc", true);
        check("/root/.ssh/authorized_keys", true);
        check("/etc/ssh/sshd_config.d/evil.conf", true);
        check("/etc/plateau/start.d/99-mine", true);
        // The candidate's expected work is judged by the checks, not listed.
        check("/etc/kea/kea-dhcp4.conf", false);
        check("/etc/ssh/ssh_host_ed25519_key", false);
        check("/var/lib/samba/private/sam.ldb", false);
        check("/usr/share/doc/sssd/README", false);
        check("/home/technicien/.bashrc", false);
        check("/usr/sbin/docker-init", false);
    }

    #[test]
    fn directories_are_listed_only_when_they_are_the_change() {
        let found = findings(&[
            change("/usr", ChangeKind::Modified),
            change("/usr/bin", ChangeKind::Modified),
            change("/usr/bin/wbinfo", ChangeKind::Modified),
            change("/etc", ChangeKind::Modified),
            change("/etc/ld.so.preload", ChangeKind::Added),
            change("/usr/lib/evil", ChangeKind::Added),
            change("/var/log/plateau/kea.log", ChangeKind::Added),
        ]);
        let paths: Vec<&str> = found.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["/etc/ld.so.preload", "/usr/bin/wbinfo", "/usr/lib/evil"]);
    }

    #[test]
    fn the_grade_of_record_puts_back_replaced_programs_and_the_preload_list() {
        assert!(put_back(&change("/usr/bin/wbinfo", ChangeKind::Modified)));
        assert!(put_back(&change("/usr/bin/samba-tool", ChangeKind::Deleted)));
        assert!(put_back(&change("/etc/ld.so.preload", ChangeKind::Added)));
        // A program added in the search path may stand in for the role's.
        assert!(put_back(&change("/usr/sbin/wbinfo", ChangeKind::Added)));
        // A library the candidate added (a package they installed) stays.
        assert!(!put_back(&change("/usr/lib/x86_64-linux-gnu/libnss_sss.so.2", ChangeKind::Added)));
        assert!(!put_back(&change("/root/.bashrc", ChangeKind::Modified)));
    }
}
