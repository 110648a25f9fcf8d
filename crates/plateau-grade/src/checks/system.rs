//! A node's own state: services, packages, files, and the `command` escape hatch.

use plateau_scenario::checks::system::{Command, FileContains, PackageInstalled, ServiceRunning};

use super::*;

pub(super) async fn service_running(
    kind: &ServiceRunning,
    cx: &Cx<'_, impl Reach>,
    seen: &mut Seen,
) -> Result<(), Unable> {
    let ServiceRunning { service } = kind;
    let timeout = cx.timeout;
    let on = cx.node()?;
    let windows = on.shell() == Shell::PowerShell;
    let command = if windows {
        format!("(Get-Service -Name {}).Status", ps(service))
    } else {
        let s = sh(service);
        // A service of the node's own manager is running when a process
        // runs its program (by the kernel's account: /proc/PID/exe, or the
        // script an interpreter runs), not when a pid file says so.
        format!(
            "def=/etc/plateau/services/{s}; \
             if [ -f \"$def\" ]; then \
               prog=$(awk '{{print $1; exit}}' \"$def\"); bin=$(readlink -f \"$prog\"); \
               for p in /proc/[0-9]*; do \
                 exe=$(readlink -f \"$p/exe\" 2>/dev/null); \
                 args=$(tr '\\0' ' ' < \"$p/cmdline\" 2>/dev/null | awk '{{print $1, $2}}'); \
                 if [ \"$exe\" = \"$bin\" ] || [ \"${{args%% *}}\" = \"$prog\" ] || [ \"${{args#* }}\" = \"$prog\" ]; then \
                   echo \"running ($prog, pid ${{p#/proc/}})\"; exit 0; fi; \
               done; echo \"stopped (no process runs $prog)\"; \
             elif command -v systemctl >/dev/null && systemctl is-active --quiet {s} 2>/dev/null; then echo running; \
             elif pgrep -x {s} >/dev/null; then echo running; else echo stopped; fi"
        )
    };
    let out = seen.run(on, &command, timeout).await?;
    let state = service_state(&out.stdout);
    seen.expect(&format!("service {service}"), "running", or_none(state.clone()), state == "running");
    Ok(())
}

pub(super) async fn package_installed(
    kind: &PackageInstalled,
    cx: &Cx<'_, impl Reach>,
    seen: &mut Seen,
) -> Result<(), Unable> {
    let PackageInstalled { package } = kind;
    let timeout = cx.timeout;
    let on = cx.node()?;
    let out =
        seen.run(on, &format!("dpkg-query -W -f='${{Status}} ${{Version}}' {} 2>&1", sh(package)), timeout).await?;
    let ok = dpkg_installed(out.exit_code, &out.stdout);
    seen.expect(&format!("package {package}"), "installed", out.stdout.trim().to_string(), ok);
    Ok(())
}

pub(super) async fn file_contains(kind: &FileContains, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let FileContains { path, pattern, present, ignore_case } = kind;
    let timeout = cx.timeout;
    let on = cx.node()?;
    let windows = on.shell() == Shell::PowerShell;
    let command = if windows {
        format!(
            "Select-String -Path {} -Pattern {}{} | Select-Object -First 3 | ForEach-Object {{ $_.Line }}",
            ps(path),
            ps(pattern),
            if *ignore_case { "" } else { " -CaseSensitive" }
        )
    } else {
        // A file that is not there holds no line: a verdict, not an error.
        format!(
            "test -e {p} || {{ echo 'no such file' >&2; exit 1; }}; grep -E{} -n -m 3 -e {} {p}",
            if *ignore_case { " -i" } else { "" },
            sh(pattern),
            p = sh(path)
        )
    };
    let out = seen.run(on, &command, timeout).await?;
    if !windows && out.exit_code > 1 {
        return Err(Unable::Probe(format!("cannot read {path}: {}", out.stderr.trim())));
    }
    let found = !out.stdout.trim().is_empty();
    let expected =
        if *present { format!("a line matching /{pattern}/") } else { format!("no line matching /{pattern}/") };
    seen.expect(path, expected, or_none(out.stdout.trim().to_string()), found == *present);
    Ok(())
}

pub(super) async fn command(kind: &Command, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let Command { run, exit_code, stdout_contains, stdout_not_contains } = kind;
    let timeout = cx.timeout;
    let on = cx.node()?;
    let out = seen.run(on, run, timeout).await?;
    seen.expect("exit code", exit_code.to_string(), out.exit_code.to_string(), out.exit_code == i64::from(*exit_code));
    if let Some(text) = stdout_contains {
        seen.expect(
            "output contains",
            text.clone(),
            excerpt(out.stdout.trim(), 200),
            out.stdout.contains(text.as_str()),
        );
    }
    if let Some(text) = stdout_not_contains {
        seen.expect(
            "output does not contain",
            text.clone(),
            excerpt(out.stdout.trim(), 200),
            !out.stdout.contains(text.as_str()),
        );
    }
    Ok(())
}

/// `running`, `stopped` (our probe), or Windows' `Running`/`Stopped`.
/// `running` or `stopped`, from the first word of the check's answer.
fn service_state(stdout: &str) -> String {
    stdout.split_whitespace().next().unwrap_or_default().to_lowercase()
}

/// `dpkg-query -W -f='${Status} ${Version}'`: only a fully installed package
/// counts (not `deinstall ok config-files`, not half-configured).
fn dpkg_installed(exit_code: i64, stdout: &str) -> bool {
    exit_code == 0 && stdout.starts_with("install ok installed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_is_installed_only_when_dpkg_says_so() {
        let check = |exit: i64, out: &str, expect: bool| assert_eq!(dpkg_installed(exit, out), expect, "{out}");
        check(0, "install ok installed 1:9.2p1-2+deb12u3", true);
        check(0, "deinstall ok config-files 1:9.2p1-2+deb12u3", false);
        check(0, "install ok half-configured 2.4.1-1", false);
        check(1, "dpkg-query: no packages found matching restic", false);
    }

    #[test]
    fn service_states_compare_in_lower_case() {
        assert_eq!(service_state("running\n"), "running");
        assert_eq!(service_state("Running\r\n"), "running");
        assert_eq!(service_state("stopped\n"), "stopped");
        assert_eq!(service_state("running (/usr/sbin/kea-dhcp4, pid 42)\n"), "running");
        assert_eq!(service_state("stopped (no process runs /usr/sbin/sshd)\n"), "stopped");
    }
}
