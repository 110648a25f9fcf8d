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
    // A directory marked modified because something in it changed is not a
    // change of its own, even when that something is not watched (the
    // engine's init, bind-mounted at `/usr/sbin/docker-init` on storage
    // drivers without an init layer, marks `/usr/sbin` modified).
    let parent_of_another = |c: &FsChange| {
        let dir = format!("{}/", c.path);
        c.kind == ChangeKind::Modified && changes.iter().any(|o| o.path.starts_with(&dir))
    };
    let mut found: Vec<FsChange> =
        changes.iter().filter(|c| watched(&c.path) && !parent_of_another(c)).cloned().collect();
    found.sort();
    found
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
            change: c.kind.token().to_string(),
            seen: seen.to_string(),
            put_back: put_back_done.contains(&c.path),
        })
        .collect();
    Some(NodeIntegrity { node: node.to_string(), changes, more: findings.len().saturating_sub(LISTED) })
}

/// A machine Plateau did not create, or a VM (the engine sees only its disk
/// image), has no image to compare with: its package manager's own record
/// is the reference. `dpkg --verify` of every package but the kernel's (its
/// modules are most of the bytes, and none is a program the grader runs: a
/// minute under software emulation, 18 s without); the files whose content
/// differs from their package (`5` in the checksum column) or that are
/// missing. Then what no package records (`WATCHED`): a stand-in in
/// `/usr/local` for a system program, a preload list, root's start-up files
/// against Debian's own copies.
pub async fn verify_packages(
    on: &crate::executor::Executor,
    timeout: std::time::Duration,
) -> Result<Vec<FsChange>, crate::executor::ExecError> {
    use crate::executor::Execute;
    let script = format!(
        "LC_ALL=C /usr/bin/dpkg --verify $(/usr/bin/dpkg-query -W -f '${{Package}}\\n' | /bin/grep -v '^linux-image'); \
         echo \"dpkg-verify-exit $?\"; {WATCHED}"
    );
    let out = on.run(&script, timeout).await?;
    // A read that did not run to its end, or a dpkg that failed (not 0:
    // all verified, nor 1: some files differ), verifies nothing.
    match verify_exit(&out.stdout) {
        Some(0 | 1) => Ok(dpkg_verify(&out.stdout)),
        exit => Err(crate::executor::ExecError::Protocol {
            target: on.describe(),
            message: format!(
                "dpkg --verify did not verify (exit {}): {}",
                exit.map_or("none".to_string(), |e| e.to_string()),
                out.stderr.trim()
            ),
        }),
    }
}

/// Prints `watched added|modified PATH` for what `dpkg --verify` cannot see.
const WATCHED: &str = r#"
for dir in /usr/local/sbin /usr/local/bin; do
  for file in "$dir"/*; do
    [ -e "$file" ] || continue
    for system in /usr/sbin /usr/bin /sbin /bin; do
      if [ -e "$system/${file##*/}" ]; then echo "watched added $file"; break; fi
    done
  done
done
[ -s /etc/ld.so.preload ] && echo "watched added /etc/ld.so.preload"
for dot in bashrc profile; do
  [ -e /root/.$dot ] && ! cmp -s /root/.$dot /usr/share/base-files/dot.$dot && echo "watched modified /root/.$dot"
done
for file in /root/.bash_profile /root/.bash_login; do [ -e "$file" ] && echo "watched added $file"; done
shell=$(getent passwd plateau-grader | cut -d: -f7)
[ -z "$shell" ] || [ "$shell" = /bin/sh ] || echo "watched modified /etc/passwd:plateau-grader"
for file in /var/lib/plateau/grader/.*; do
  case ${file##*/} in .|..|.ssh) ;; *) [ -e "$file" ] && echo "watched added $file" ;; esac
done
[ "$(readlink /bin/sh)" = dash ] || echo "watched modified /bin/sh"
sshd -T -C user=plateau-grader,host=localhost,addr=127.0.0.1 2>/dev/null | grep -i '^forcecommand ' | grep -qvi ' none$' \
  && echo "watched modified /etc/ssh/sshd_config:ForceCommand"
true
"#;

/// What `WATCHED` names of the grader's own way in (its account's shell
/// and home, the shell it runs, a command forced on it): what runs before
/// its commands.
const WAY_IN: &[&str] =
    &["/etc/passwd:plateau-grader", "/var/lib/plateau/grader/", "/bin/sh", "/etc/ssh/sshd_config:ForceCommand"];

/// Whether a change bends what the grader runs, so that nothing it read on
/// that node is believed: a program or the loader's preload (what the grade
/// of record puts back), or its own way in.
pub fn bends_the_grader(change: &FsChange) -> bool {
    put_back(change) || WAY_IN.iter().any(|w| change.path == *w || (w.ends_with('/') && change.path.starts_with(w)))
}
/// The exit status `verify_packages` prints after dpkg's own lines.
fn verify_exit(stdout: &str) -> Option<i32> {
    stdout.lines().rev().find_map(|l| l.strip_prefix("dpkg-verify-exit ")).and_then(|e| e.trim().parse().ok())
}

/// `dpkg --verify` lines: `??5?????? c /etc/x` (content changed), `missing   /usr/bin/x`.
fn dpkg_verify(stdout: &str) -> Vec<FsChange> {
    stdout
        .lines()
        .filter_map(|line| {
            if let Some(watched) = line.strip_prefix("watched ") {
                let (kind, path) = watched.split_once(' ')?;
                let kind = ChangeKind::from_token(kind).unwrap_or(ChangeKind::Modified);
                return Some(FsChange { path: path.to_string(), kind });
            }
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
                   ?????????   /usr/share/doc/x\nwatched added /usr/local/bin/curl\nwatched modified /root/.bashrc\n";
        let found = dpkg_verify(out);
        assert_eq!(
            found,
            [
                change("/etc/ssh/sshd_config", ChangeKind::Modified),
                change("/usr/bin/wbinfo", ChangeKind::Modified),
                change("/usr/bin/lpstat", ChangeKind::Deleted),
                change("/usr/local/bin/curl", ChangeKind::Added),
                change("/root/.bashrc", ChangeKind::Modified),
            ]
        );
    }

    #[test]
    fn a_verification_that_did_not_run_to_its_end_is_no_verification() {
        assert_eq!(verify_exit("??5??????   /usr/bin/wbinfo\ndpkg-verify-exit 1\n"), Some(1));
        assert_eq!(verify_exit("dpkg-verify-exit 0\n"), Some(0));
        assert_eq!(verify_exit("dpkg-verify-exit 127\n"), Some(127), "dpkg missing");
        assert_eq!(verify_exit(""), None, "killed, or a shell that printed nothing");
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
            // `docker diff` of an untouched container on the vfs driver.
            change("/usr/sbin", ChangeKind::Modified),
            change("/usr/sbin/docker-init", ChangeKind::Added),
            // A directory whose own metadata changed stays.
            change("/usr/libexec", ChangeKind::Modified),
        ]);
        let paths: Vec<&str> = found.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["/etc/ld.so.preload", "/usr/bin/wbinfo", "/usr/lib/evil", "/usr/libexec"]);
    }

    #[test]
    fn a_changed_way_in_for_the_grader_is_not_believed_either() {
        assert!(bends_the_grader(&change("/etc/passwd:plateau-grader", ChangeKind::Modified)));
        assert!(bends_the_grader(&change("/var/lib/plateau/grader/.bashrc", ChangeKind::Added)));
        assert!(bends_the_grader(&change("/usr/local/bin/curl", ChangeKind::Added)));
        assert!(!bends_the_grader(&change("/root/.bashrc", ChangeKind::Modified)), "root's shell is not the grader's");
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
