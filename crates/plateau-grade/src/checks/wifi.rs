//! Wi-Fi: the access point's hostapd configuration.

use plateau_scenario::checks::wifi::WifiAp;

use super::*;

pub(super) async fn wifi_ap(kind: &WifiAp, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let WifiAp { ssid, security, min_key_length, allowed_macs, hidden } = kind;
    let timeout = cx.timeout;
    let on = cx.node()?;
    let out = seen.run(on, "cat /etc/hostapd/hostapd.conf", timeout).await?;
    if out.exit_code != 0 {
        return Err(Unable::Probe("cannot read /etc/hostapd/hostapd.conf".into()));
    }
    let conf = |key: &str| field_eq(&out.stdout, key);
    seen.expect("SSID", ssid.clone(), conf("ssid").unwrap_or_default(), conf("ssid").as_deref() == Some(ssid));
    if let Some(want) = security {
        let (wpa, mgmt) = (conf("wpa").unwrap_or_default(), conf("wpa_key_mgmt").unwrap_or_default());
        let ok = security_matches(*want, &wpa, &mgmt);
        let want = plateau_scenario::model::token(want);
        seen.expect("security", want, format!("wpa={wpa} wpa_key_mgmt={mgmt}"), ok);
    }
    if let Some(want) = min_key_length {
        let len = conf("wpa_passphrase").map_or(0, |k| k.chars().count() as u32);
        seen.expect("key length", format!("≥ {want}"), len.to_string(), len >= *want);
    }
    if !allowed_macs.is_empty() {
        let acl = conf("macaddr_acl").unwrap_or_default();
        seen.expect("MAC filtering", "macaddr_acl=1", format!("macaddr_acl={acl}"), acl == "1");
        let file = conf("accept_mac_file").unwrap_or_default();
        let listed = if file.is_empty() {
            String::new()
        } else {
            seen.run(on, &format!("cat {}", sh(&file)), timeout).await?.stdout.to_lowercase()
        };
        for mac in allowed_macs {
            let ok = listed.lines().any(|l| l.trim() == mac.to_lowercase());
            seen.expect("allowed MAC", mac.clone(), if ok { "listed" } else { "missing" }, ok);
        }
    }
    if let Some(want) = hidden {
        let got = conf("ignore_broadcast_ssid").is_some_and(|v| v != "0");
        seen.expect("hidden SSID", yes_no(*want), yes_no(got), got == *want);
    }
    Ok(())
}

/// hostapd's `wpa` and `wpa_key_mgmt` give the security asked for.
fn security_matches(want: WifiSecurity, wpa: &str, mgmt: &str) -> bool {
    let methods: Vec<&str> = mgmt.split_whitespace().collect();
    match want {
        WifiSecurity::Wpa2 => wpa == "2" && methods.contains(&"WPA-PSK"),
        WifiSecurity::Wpa3 => wpa == "2" && !methods.is_empty() && methods.iter().all(|m| *m == "SAE"),
        WifiSecurity::Wpa2Wpa3 => wpa == "2" && methods.contains(&"SAE") && methods.contains(&"WPA-PSK"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_is_read_from_wpa_and_key_management() {
        use WifiSecurity::*;
        let check = |want: WifiSecurity, wpa: &str, mgmt: &str, expect: bool| {
            assert_eq!(security_matches(want, wpa, mgmt), expect, "{want:?} wpa={wpa} wpa_key_mgmt={mgmt}")
        };
        check(Wpa2, "2", "WPA-PSK", true);
        check(Wpa2, "1", "WPA-PSK", false);
        check(Wpa2, "2", "WPA-EAP", false);
        check(Wpa3, "2", "SAE", true);
        check(Wpa3, "2", "SAE WPA-PSK", false);
        check(Wpa3, "2", "", false);
        check(Wpa2Wpa3, "2", "WPA-PSK SAE", true);
        check(Wpa2Wpa3, "2", "WPA-PSK", false);
    }

    #[test]
    fn the_daemon_reads_the_last_value_of_a_key() {
        let conf = "ssid=Ancien\n# ssid=Commentaire\nwpa=2\nssid=Agence-Invites\n";
        assert_eq!(field_eq(conf, "ssid").as_deref(), Some("Agence-Invites"));
    }
}
