//! Active Directory: accounts and the password policy read on the DC, domain membership.

use plateau_scenario::checks::directory::{AdPasswordPolicy, AdUser, DomainJoined};

use super::*;

pub(super) async fn ad_user(kind: &AdUser, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let AdUser { user, exists, enabled, member_of } = kind;
    let timeout = cx.timeout;
    let on = cx.node()?;
    let out = seen.run(on, &format!("samba-tool user show {} 2>&1", sh(user)), timeout).await?;
    let found = out.exit_code == 0 && out.stdout.contains("sAMAccountName");
    seen.expect(&format!("account {user}"), present_absent(*exists), present_absent(found), found == *exists);
    if found {
        if let Some(want) = enabled {
            let uac = field(&out.stdout, "userAccountControl").and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
            let is_enabled = uac & 0x2 == 0;
            let shown = |b: bool| if b { "enabled" } else { "disabled" };
            seen.expect(&format!("account {user}"), shown(*want), shown(is_enabled), is_enabled == *want);
        }
        for group in member_of {
            let groups: Vec<&str> = out.stdout.lines().filter_map(|l| l.strip_prefix("memberOf: ")).collect();
            let ok = groups.iter().any(|dn| dn.to_lowercase().starts_with(&format!("cn={},", group.to_lowercase())));
            seen.expect(&format!("{user} member of"), group.clone(), or_none(groups.join("; ")), ok);
        }
    }
    Ok(())
}

pub(super) async fn ad_password_policy(
    kind: &AdPasswordPolicy,
    cx: &Cx<'_, impl Reach>,
    seen: &mut Seen,
) -> Result<(), Unable> {
    let AdPasswordPolicy { min_length, complexity } = kind;
    let timeout = cx.timeout;
    let on = cx.node()?;
    let out = seen.run(on, "samba-tool domain passwordsettings show", timeout).await?;
    if let Some(want) = min_length {
        let got = colon_field(&out.stdout, "Minimum password length").and_then(|v| v.parse::<u32>().ok());
        seen.expect(
            "minimum password length",
            format!("≥ {want}"),
            got.map_or("?".into(), |g| g.to_string()),
            got.is_some_and(|g| g >= *want),
        );
    }
    if let Some(want) = complexity {
        let got = colon_field(&out.stdout, "Password complexity").unwrap_or_default();
        seen.expect(
            "password complexity",
            if *want { "on" } else { "off" },
            or_none(got.clone()),
            (got == "on") == *want,
        );
    }
    Ok(())
}

pub(super) async fn domain_joined(kind: &DomainJoined, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let DomainJoined { computer } = kind;
    let reach = cx.reach;
    let timeout = cx.timeout;
    let on = cx.node()?;
    let windows = on.shell() == Shell::PowerShell;
    // The trust, seen from the machine itself...
    let trust = if windows {
        seen.run(on, "if (Test-ComputerSecureChannel) { 'ok' } else { 'broken' }", timeout).await?.stdout.trim() == "ok"
    } else {
        seen.run(on, "wbinfo -t 2>&1", timeout).await?.exit_code == 0
    };
    seen.expect("trust with the domain", "works", if trust { "works" } else { "broken" }, trust);
    // ...and its account, seen from the domain controller.
    let dc = reach
        .node_of_role(plateau_scenario::model::Role::DomainController)
        .and_then(|id| reach.node(id))
        .ok_or_else(|| Unable::Setup("no domain controller with grader access in the platform".into()))?;
    let name = format!("{}$", computer.trim_end_matches('$'));
    let out = seen.run(dc, &format!("samba-tool computer show {} 2>&1", sh(&name)), timeout).await?;
    let found = out.exit_code == 0;
    seen.expect(&format!("computer account {name}"), "present", present_absent(found), found);
    Ok(())
}
