//! Active Directory: accounts and the password policy read on the DC, domain membership.

use plateau_scenario::checks::directory::{AdPasswordPolicy, AdUser, DomainJoined};

use super::*;

pub(super) async fn ad_user(kind: &AdUser, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let AdUser { user, exists, enabled, member_of } = kind;
    let timeout = cx.timeout;
    let on = cx.node()?;
    let out = seen.run(on, &format!("samba-tool user show {} 2>&1", sh(user)), timeout).await?;
    let account = Account::read(out.exit_code, &out.stdout).map_err(Unable::Probe)?;
    seen.expect(
        &format!("account {user}"),
        present_absent(*exists),
        present_absent(account.found),
        account.found == *exists,
    );
    if account.found {
        if let Some(want) = enabled {
            let shown = |b: bool| if b { "enabled" } else { "disabled" };
            seen.expect(&format!("account {user}"), shown(*want), shown(account.enabled), account.enabled == *want);
        }
        for group in member_of {
            let ok = account.member_of(group);
            seen.expect(&format!("{user} member of"), group.clone(), or_none(account.groups.join("; ")), ok);
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
    let policy = Policy::read(out.exit_code, &out.stdout).map_err(Unable::Probe)?;
    if let Some(want) = min_length {
        seen.expect(
            "minimum password length",
            format!("≥ {want}"),
            policy.min_length.to_string(),
            policy.min_length >= *want,
        );
    }
    if let Some(want) = complexity {
        let shown = |b: bool| if b { "on" } else { "off" };
        seen.expect("password complexity", shown(*want), shown(policy.complexity), policy.complexity == *want);
    }
    Ok(())
}

/// The domain's password policy as `samba-tool domain passwordsettings show` prints it.
#[derive(Debug, PartialEq, Eq)]
struct Policy {
    min_length: u32,
    complexity: bool,
}

impl Policy {
    /// Only the tool's own table, printed by a run that succeeded: a tool
    /// that failed (a database busy or broken, the tool missing) proves no
    /// policy, weak or strong.
    fn read(exit_code: i64, out: &str) -> Result<Policy, String> {
        let unproven = |why: &str| format!("samba-tool did not show the password policy ({why}): {}", out.trim());
        if exit_code != 0 {
            return Err(unproven(&format!("exit {exit_code}")));
        }
        let min_length = colon_field(out, "Minimum password length").and_then(|v| v.parse::<u32>().ok());
        let complexity = match colon_field(out, "Password complexity").as_deref() {
            Some("on") => Some(true),
            Some("off") => Some(false),
            _ => None,
        };
        match (min_length, complexity) {
            (Some(min_length), Some(complexity)) => Ok(Policy { min_length, complexity }),
            _ => Err(unproven("no minimum length or complexity")),
        }
    }
}

pub(super) async fn domain_joined(kind: &DomainJoined, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let DomainJoined { computer } = kind;
    let reach = cx.reach;
    let timeout = cx.timeout;
    let on = cx.node()?;
    let windows = on.shell() == Shell::PowerShell;
    // The trust, seen from the machine itself: its secret works with the
    // domain, whichever client joined it (winbind's secure channel, or the
    // machine's own key in its keytab, as adcli, sssd and realmd leave it).
    let name = format!("{}$", computer.trim_end_matches('$'));
    let trust = if windows {
        let out = seen.run(on, "if (Test-ComputerSecureChannel) { 'ok' } else { 'broken' }", timeout).await?;
        (out.stdout.trim() == "ok").then(|| "secure channel".to_string())
    } else {
        trust_way(&seen.run(on, &trust_command(&name), timeout).await?.stdout)
    };
    seen.expect(
        "trust with the domain",
        "works",
        trust.as_ref().map_or("broken".to_string(), |way| format!("works ({way})")),
        trust.is_some(),
    );
    // ...and its account, seen from the domain controller.
    let dc = reach
        .directory()
        .and_then(|id| reach.node(id))
        .ok_or_else(|| Unable::Setup("no domain controller with grader access in the platform".into()))?;
    let out = seen.run(dc, &format!("samba-tool computer show {} 2>&1", sh(&name)), timeout).await?;
    let found = out.exit_code == 0;
    seen.expect(&format!("computer account {name}"), "present", present_absent(found), found);
    Ok(())
}

/// Asks the machine to prove its trust: winbind's secure channel, else a
/// ticket for the machine's own principal (`NAME$@REALM`) from its keytab,
/// kept in memory. Prints `trust: <way>` or `broken`.
fn trust_command(account: &str) -> String {
    format!(
        "if wbinfo -t >/dev/null 2>&1; then echo 'trust: winbind secure channel'; exit 0; fi; \
         kt=/etc/krb5.keytab; \
         p=$(klist -k \"$kt\" 2>/dev/null | awk -v a={account} 'NR>3 && index(tolower($2), tolower(a) \"@\") == 1 {{print $2; exit}}'); \
         if [ -n \"$p\" ] && KRB5CCNAME=MEMORY: kinit -k -t \"$kt\" \"$p\" >/dev/null 2>&1; then echo \"trust: keytab $p\"; exit 0; fi; \
         echo broken; exit 1",
        account = sh(account)
    )
}

/// The way the machine proved its trust, if it did.
fn trust_way(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|l| l.strip_prefix("trust: ")).map(|w| w.trim().to_string())
}

/// An account as `samba-tool user show` prints it (LDIF).
#[derive(Debug, PartialEq)]
struct Account {
    found: bool,
    /// `userAccountControl` without ACCOUNTDISABLE (0x2).
    enabled: bool,
    /// The distinguished names of its groups.
    groups: Vec<String>,
}

impl Account {
    /// The account, or its absence as samba-tool states it; any other
    /// failure of the tool proves neither.
    fn read(exit_code: i64, stdout: &str) -> Result<Account, String> {
        let found = exit_code == 0 && stdout.contains("sAMAccountName");
        if !found && !stdout.contains("Unable to find user") {
            return Err(format!("samba-tool user show failed (exit {exit_code}): {}", excerpt(stdout.trim(), 200)));
        }
        let uac = field(stdout, "userAccountControl").and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
        let groups = stdout.lines().filter_map(|l| l.strip_prefix("memberOf: ")).map(str::to_string).collect();
        Ok(Account { found, enabled: uac & 0x2 == 0, groups })
    }

    /// Member of the group named `group` (its DN's first RDN), in any case.
    fn member_of(&self, group: &str) -> bool {
        let prefix = format!("cn={},", group.to_lowercase());
        self.groups.iter().any(|dn| dn.to_lowercase().starts_with(&prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOWN: &str = "dn: CN=Julie Martin,CN=Users,DC=agence,DC=lan\nobjectClass: user\ncn: Julie Martin\n\
        memberOf: CN=Comptabilite,CN=Users,DC=agence,DC=lan\nmemberOf: CN=Domain Admins,CN=Users,DC=agence,DC=lan\n\
        userAccountControl: 514\nsAMAccountName: jmartin\n";

    #[test]
    fn an_account_is_read_from_samba_tool_user_show() {
        let check = |exit: i64, out: &str, found: bool, enabled: bool, groups: usize| {
            let a = Account::read(exit, out).expect(out);
            assert_eq!((a.found, a.enabled, a.groups.len()), (found, enabled, groups), "{out}");
        };
        check(0, SHOWN, true, false, 2);
        check(0, &SHOWN.replace("userAccountControl: 514", "userAccountControl: 512"), true, true, 2);
        check(255, "ERROR: Unable to find user \"nobody\"", false, true, 0);
    }

    #[test]
    fn an_absence_is_only_samba_tools_own_word() {
        let unproven = |exit: i64, out: &str| assert!(Account::read(exit, out).is_err(), "{out}");
        // A wrapper that prints the right words but fails is not an account.
        unproven(1, SHOWN);
        // The tool itself failing proves no absence.
        unproven(127, "sh: 1: samba-tool: not found");
        unproven(255, "ERROR(ldb): uncaught exception - Unable to open tdb '/var/lib/samba/private/sam.ldb'");
        unproven(0, "");
    }

    #[test]
    fn the_trust_is_proven_by_winbind_or_the_machines_keytab() {
        assert_eq!(trust_way("trust: winbind secure channel\n").as_deref(), Some("winbind secure channel"));
        assert_eq!(trust_way("trust: keytab pc-c01$@AGENCE.LAN\n").as_deref(), Some("keytab pc-c01$@AGENCE.LAN"));
        assert_eq!(trust_way("broken\n"), None);
        // A wrapper that prints "succeeded" proves nothing.
        assert_eq!(trust_way("checking the trust secret for domain AGENCE via RPC calls succeeded\n"), None);
        assert!(trust_command("pc-c01$").contains("kinit -k"));
    }

    #[test]
    fn membership_is_the_first_rdn_in_any_case() {
        let a = Account::read(0, SHOWN).unwrap();
        assert!(a.member_of("comptabilite"));
        assert!(a.member_of("Domain Admins"));
        assert!(!a.member_of("Compta"), "a prefix of a group's name is another group");
        assert!(!a.member_of("Users"), "the container is not a group the user is in");
    }

    const POLICY: &str = "Password information for domain 'DC=agence,DC=lan'\n\nPassword complexity: on\n\
                          Store plaintext passwords: off\nPassword history length: 24\nMinimum password length: 12\n";

    #[test]
    fn the_password_policy_is_samba_tools_table_and_only_that() {
        let check = |exit: i64, out: &str, expect: Result<(u32, bool), &str>| {
            let got = Policy::read(exit, out).map(|p| (p.min_length, p.complexity));
            match (got, expect) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{out}"),
                (Err(why), Err(start)) => assert!(why.starts_with(start), "{why}"),
                (got, want) => panic!("{out}: {got:?}, expected {want:?}"),
            }
        };
        check(0, POLICY, Ok((12, true)));
        check(0, &POLICY.replace("complexity: on", "complexity: off").replace(": 12", ": 7"), Ok((7, false)));
        let unproven = "samba-tool did not show the password policy";
        // The table printed by a run that failed (a wrapper) proves nothing.
        check(1, POLICY, Err(unproven));
        // Nor does a tool that could not read the database.
        check(255, "ERROR(ldb): uncaught exception - LDAP client internal error: NT_STATUS_IO_TIMEOUT", Err(unproven));
        check(0, "", Err(unproven));
    }
}
