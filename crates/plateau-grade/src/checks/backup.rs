//! Backups that really restore: restore into a scratch directory, compare hashes.

use plateau_scenario::checks::backup::BackupRestore;

use super::*;

pub(super) async fn backup_restore(
    kind: &BackupRestore,
    cx: &Cx<'_, impl Reach>,
    seen: &mut Seen,
) -> Result<(), Unable> {
    let BackupRestore { tool, repository, path, password } = kind;
    let timeout = cx.timeout;
    let on = cx.node()?;
    let target = "/tmp/.plateau-restore";
    let restore = match tool {
        BackupTool::Restic => format!(
            "RESTIC_PASSWORD={} restic -r {} restore latest --target {target} --include {} >/dev/null",
            sh(password.as_deref().unwrap_or("")),
            sh(repository),
            sh(path)
        ),
        BackupTool::Borg => format!(
            "cd {target} && BORG_PASSPHRASE={} borg extract {}::$(BORG_PASSPHRASE={} borg list --last 1 --short {}) {}",
            sh(password.as_deref().unwrap_or("")),
            sh(repository),
            sh(password.as_deref().unwrap_or("")),
            sh(repository),
            sh(path.trim_start_matches('/'))
        ),
        BackupTool::Tar => {
            format!("tar -xf {} -C {target} {}", sh(repository), sh(path.trim_start_matches('/')))
        }
    };
    let command = format!(
        "rm -rf {target}; mkdir -p {target}; {restore} 2>&1 || echo RESTORE-FAILED; \
             sha256sum {p} {target}{p} 2>&1; rm -rf {target}",
        p = sh(path)
    );
    let out = seen.run(on, &command, timeout).await?;
    let sums = restored_hashes(&out.stdout);
    seen.expect("restore", "succeeds", if sums.is_some() { "succeeded" } else { "failed" }, sums.is_some());
    if let Some((original, restored)) = sums {
        seen.expect("restored file's SHA-256", original, restored, original == restored);
    }
    Ok(())
}

/// The SHA-256 of the original file and of its restored copy, when the
/// restore ran and both files were there.
fn restored_hashes(stdout: &str) -> Option<(&str, &str)> {
    if stdout.contains("RESTORE-FAILED") {
        return None;
    }
    let sums: Vec<&str> = stdout
        .lines()
        .filter(|l| l.len() > 64 && l.as_bytes()[64] == b' ')
        .map(|l| &l[..64])
        .filter(|h| is_hex(h))
        .collect();
    match sums[..] {
        [original, restored] => Some((original, restored)),
        _ => None,
    }
}

fn is_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_hashes_or_no_restore() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let two = format!("{a}  /srv/donnees/compta.ods\n{b}  /tmp/.plateau-restore/srv/donnees/compta.ods\n");
        assert_eq!(restored_hashes(&two), Some((a.as_str(), b.as_str())));
        let missing = format!(
            "{a}  /srv/donnees/compta.ods\nsha256sum: /tmp/.plateau-restore/srv/donnees/compta.ods: No such file or directory\n"
        );
        assert_eq!(restored_hashes(&missing), None);
        assert_eq!(restored_hashes(&format!("Fatal: wrong password\nRESTORE-FAILED\n{two}")), None);
    }
}
