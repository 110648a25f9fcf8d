//! QEMU's monitor protocol (QMP): the commands Plateau sends a guest's
//! QEMU (through the node's container: `socat` to its socket) and how its
//! answers are read.

use serde::{Deserialize, Serialize};

/// A command of QEMU's monitor protocol (QMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "execute")]
pub enum QmpCommand {
    #[serde(rename = "qmp_capabilities")]
    Capabilities,
    /// Stop the guest's CPUs; QEMU flushes its disks first.
    #[serde(rename = "stop")]
    Stop,
    #[serde(rename = "cont")]
    Cont,
    #[serde(rename = "query-status")]
    QueryStatus,
    /// Keys pressed together on the guest's keyboard (released after).
    #[serde(rename = "send-key")]
    SendKeys { arguments: Chord },
}

/// Keys of `send-key`, by QEMU's key codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Chord {
    keys: [Key; 3],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
struct Key {
    #[serde(rename = "type")]
    kind: &'static str,
    data: &'static str,
}

impl QmpCommand {
    /// Alt+SysRq+S: the guest's kernel writes every dirty page to its disks
    /// (its "emergency sync"), whatever runs in the guest.
    pub const SYSRQ_SYNC: QmpCommand = QmpCommand::SendKeys {
        arguments: Chord {
            keys: [
                Key { kind: "qcode", data: "alt" },
                Key { kind: "qcode", data: "sysrq" },
                Key { kind: "qcode", data: "s" },
            ],
        },
    };
}

/// One message from QMP.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum QmpReply {
    Greeting {
        #[serde(rename = "QMP")]
        qmp: serde_json::Value,
    },
    Return {
        #[serde(rename = "return")]
        value: serde_json::Value,
    },
    Error {
        error: QmpError,
    },
    Event {
        event: String,
    },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct QmpError {
    pub class: String,
    pub desc: String,
}

/// The replies to `commands` in a QMP exchange (greeting and events left out),
/// an error for the first one QEMU refused.
pub fn qmp_replies(transcript: &str, commands: &[QmpCommand]) -> Result<Vec<serde_json::Value>, String> {
    let mut values = Vec::new();
    for line in transcript.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match serde_json::from_str::<QmpReply>(line) {
            Ok(QmpReply::Return { value }) => values.push(value),
            Ok(QmpReply::Error { error }) => {
                let command = commands.get(values.len()).map_or("?".into(), |c| format!("{c:?}"));
                return Err(format!("QMP refused {command}: {} ({})", error.desc, error.class));
            }
            Ok(QmpReply::Greeting { .. } | QmpReply::Event { .. }) => {}
            Err(e) => return Err(format!("QMP said something unexpected ({e}): {line}")),
        }
    }
    if values.len() < commands.len() {
        return Err(format!("QMP answered {} of {} commands", values.len(), commands.len()));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qmp_commands_are_what_qemu_reads() {
        let sent: Vec<String> = [QmpCommand::Capabilities, QmpCommand::Stop, QmpCommand::QueryStatus]
            .iter()
            .map(|c| serde_json::to_string(c).unwrap())
            .collect();
        assert_eq!(
            sent,
            [r#"{"execute":"qmp_capabilities"}"#, r#"{"execute":"stop"}"#, r#"{"execute":"query-status"}"#]
        );
    }

    #[test]
    fn a_guest_is_asked_to_sync_with_alt_sysrq_s() {
        assert_eq!(
            serde_json::to_string(&QmpCommand::SYSRQ_SYNC).unwrap(),
            r#"{"execute":"send-key","arguments":{"keys":[{"type":"qcode","data":"alt"},{"type":"qcode","data":"sysrq"},{"type":"qcode","data":"s"}]}}"#
        );
    }

    #[test]
    fn a_qmp_exchange_gives_each_commands_reply_and_names_a_refusal() {
        // As QEMU 7.2 prints it (greeting, replies, an event between them).
        let transcript = r#"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7"}, "capabilities": ["oob"]}}
{"return": {}}
{"timestamp": {"seconds": 1764160000, "microseconds": 1}, "event": "STOP"}
{"return": {}}
{"return": {"status": "paused", "singlestep": false, "running": false}}
"#;
        let all = [QmpCommand::Capabilities, QmpCommand::Stop, QmpCommand::QueryStatus];
        let replies = qmp_replies(transcript, &all).unwrap();
        assert_eq!(replies[2]["status"], "paused");
        let refused = "{\"QMP\": {}}\n{\"return\": {}}\n{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}\n";
        assert_eq!(
            qmp_replies(refused, &[QmpCommand::Capabilities, QmpCommand::Cont]).unwrap_err(),
            "QMP refused Cont: no (GenericError)"
        );
        assert!(qmp_replies("{\"QMP\": {}}\n", &[QmpCommand::Capabilities]).is_err(), "no reply is an error");
    }
}
