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
        let token = plateau_scenario::model::token(want);
        seen.expect("security", token, format!("wpa={wpa} wpa_key_mgmt={mgmt}"), ok);
        // The protocol is not enough: the cipher and the frames' protection
        // are what an attacker meets.
        let ciphers = pairwise_ciphers(conf("rsn_pairwise"), conf("wpa_pairwise"));
        seen.expect("pairwise cipher", "CCMP or GCMP only", ciphers.join(" "), strong(&ciphers));
        let pmf: u8 = conf("ieee80211w").and_then(|v| v.parse().ok()).unwrap_or(0);
        let needed = pmf_needed(*want);
        if needed > 0 {
            seen.expect(
                "management frame protection",
                format!("ieee80211w ≥ {needed}"),
                format!("ieee80211w={pmf}"),
                pmf >= needed,
            );
        }
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

/// The pairwise ciphers of RSN (WPA2/WPA3) as hostapd decides them:
/// `rsn_pairwise`, else `wpa_pairwise`, else its default, TKIP.
fn pairwise_ciphers(rsn: Option<String>, wpa: Option<String>) -> Vec<String> {
    let list = rsn.or(wpa).unwrap_or_else(|| "TKIP".into());
    list.split_whitespace().map(str::to_uppercase).collect()
}

/// Only AES-based ciphers (TKIP is broken).
fn strong(ciphers: &[String]) -> bool {
    !ciphers.is_empty() && ciphers.iter().all(|c| matches!(c.as_str(), "CCMP" | "GCMP" | "CCMP-256" | "GCMP-256"))
}

/// Protected management frames: required by WPA3 (SAE only), at least
/// capable in the WPA2/WPA3 transition mode.
fn pmf_needed(want: WifiSecurity) -> u8 {
    match want {
        WifiSecurity::Wpa2 => 0,
        WifiSecurity::Wpa3 => 2,
        WifiSecurity::Wpa2Wpa3 => 1,
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
    fn a_weak_cipher_fails_whatever_the_protocol() {
        let check = |rsn: Option<&str>, wpa: Option<&str>, expect: bool| {
            let ciphers = pairwise_ciphers(rsn.map(Into::into), wpa.map(Into::into));
            assert_eq!(strong(&ciphers), expect, "rsn={rsn:?} wpa={wpa:?} → {ciphers:?}");
        };
        check(Some("CCMP"), None, true);
        check(Some("CCMP GCMP-256"), None, true);
        check(Some("CCMP TKIP"), None, false);
        // rsn_pairwise unset: hostapd takes wpa_pairwise, whose default is TKIP.
        check(None, None, false);
        check(None, Some("CCMP"), true);
        check(None, Some("TKIP"), false);
        assert_eq!((pmf_needed(WifiSecurity::Wpa3), pmf_needed(WifiSecurity::Wpa2)), (2, 0));
    }

    #[test]
    fn the_daemon_reads_the_last_value_of_a_key() {
        let conf = "ssid=Ancien\n# ssid=Commentaire\nwpa=2\nssid=Agence-Invites\n";
        assert_eq!(field_eq(conf, "ssid").as_deref(), Some("Agence-Invites"));
    }
}
