//! File shares: who may read or write, asked of the server by smbclient.

use plateau_scenario::checks::smb::SmbAccess;

use super::*;

pub(super) async fn smb_access(kind: &SmbAccess, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let SmbAccess { share, user, password, expect, write } = kind;
    let timeout = cx.timeout;
    let from = cx.from;
    let on = from.ok_or_else(|| Unable::Setup("an SMB probe needs `from` (a node with smbclient)".into()))?;
    let commands = if *write { "put /etc/hostname .plateau-probe; rm .plateau-probe" } else { "ls" };
    let command = format!("smbclient {} -U {} -c {} 2>&1", sh(share), sh(&format!("{user}%{password}")), sh(commands));
    let out = seen.run(on, &command, timeout).await?;
    let (granted, refused) = smb_outcome(out.exit_code, &out.stdout);
    let what = if *write { format!("{user} writes to {share}") } else { format!("{user} reads {share}") };
    let got = match (granted, refused) {
        (true, _) => "allowed".to_string(),
        (false, true) => "denied (NT_STATUS_ACCESS_DENIED)".to_string(),
        (false, false) => format!("failed: {}", excerpt(out.stdout.trim(), 120)),
    };
    match expect {
        Access::Allowed => seen.expect(&what, "allowed", got, granted),
        Access::Denied => seen.expect(&what, "denied (NT_STATUS_ACCESS_DENIED)", got, refused && !granted),
    }
    Ok(())
}

/// `(granted, refused)` from smbclient's exit code and output. Only the
/// server's own refusal proves the rights: a share or a server that is not
/// there refuses everyone, and is neither.
fn smb_outcome(exit_code: i64, stdout: &str) -> (bool, bool) {
    let granted = exit_code == 0 && !stdout.contains("NT_STATUS_");
    (granted, stdout.contains("NT_STATUS_ACCESS_DENIED"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_servers_refusal_is_a_denial() {
        let check = |exit: i64, out: &str, expect: (bool, bool)| assert_eq!(smb_outcome(exit, out), expect, "{out}");
        check(0, "  .   D   0  Thu Nov 26 01:00:00 2026\n\n\t\t8154588 blocks of size 1024.", (true, false));
        check(1, "tree connect failed: NT_STATUS_ACCESS_DENIED", (false, true));
        check(
            1,
            "putting file /etc/hostname as \\.plateau-probe NT_STATUS_ACCESS_DENIED opening remote file",
            (false, true),
        );
        check(1, "tree connect failed: NT_STATUS_BAD_NETWORK_NAME", (false, false));
        check(1, "do_connect: Connection to 10.20.1.20 failed (Error NT_STATUS_HOST_UNREACHABLE)", (false, false));
        check(1, "session setup failed: NT_STATUS_LOGON_FAILURE", (false, false));
    }
}
