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
    let granted = out.exit_code == 0 && !out.stdout.contains("NT_STATUS_");
    // Only the server's own refusal proves the rights: a share or a
    // server that is not there refuses everyone.
    let refused = out.stdout.contains("NT_STATUS_ACCESS_DENIED");
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
