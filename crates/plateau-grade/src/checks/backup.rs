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
    let sums: Vec<&str> =
        out.stdout.lines().filter(|l| l.len() > 64 && l.as_bytes()[64] == b' ').map(|l| &l[..64]).collect();
    let restored = !out.stdout.contains("RESTORE-FAILED") && sums.len() == 2;
    seen.expect("restore", "succeeds", if restored { "succeeded" } else { "failed" }, restored);
    if restored {
        seen.expect("restored file's SHA-256", sums[0], sums[1], sums[0] == sums[1]);
    }
    Ok(())
}
