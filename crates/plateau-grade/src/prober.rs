//! Where the grader's in-network probes are sent from. The candidate
//! networks of this host's engine are this host's bridges: the probes go
//! from here. Another host's are reachable only on that host: each probe is
//! then sent, as data, to the controller's own program in the engine's
//! helper (`plateau probe`), which sends it there and answers with what it
//! saw. Both ways run the same probe code; only the place differs.

use std::time::Duration;

use plateau_engine::Engine;
use plateau_scenario::model::RecordType;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::probe::{self, DnsReply, Offer, Port, PrinterAttributes};

/// One probe, as sent to the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "probe", rename_all = "snake_case")]
pub enum Probe {
    Tcp { host: String, port: u16 },
    Ping { host: String },
    HttpGet { url: String },
    Dns { server: String, name: String, record: RecordType },
    DhcpDiscover { link: String, mac: [u8; 6] },
    IppPrinter { uri: String },
}

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Port(Port),
    Ping { exit_code: i64, output: String },
    Http { status: u16, body: String },
    Dns(DnsReply),
    Offer(Option<Offer>),
    Printer(Option<PrinterAttributes>),
}

impl Probe {
    /// Send it from this host.
    pub async fn send(&self, timeout: Duration) -> Result<Answer, Error> {
        Ok(match self {
            Probe::Tcp { host, port } => Answer::Port(probe::tcp(host, *port, timeout).await?),
            Probe::Ping { host } => {
                let (exit_code, output) = probe::ping(host, timeout).await?;
                Answer::Ping { exit_code, output }
            }
            Probe::HttpGet { url } => {
                let (status, body) = probe::http_get(url, timeout).await?;
                Answer::Http { status, body }
            }
            Probe::Dns { server, name, record } => Answer::Dns(probe::dns(server, name, *record, timeout).await?),
            Probe::DhcpDiscover { link, mac } => Answer::Offer(probe::dhcp_discover(link, *mac, timeout).await?),
            Probe::IppPrinter { uri } => Answer::Printer(probe::ipp_printer(uri, timeout).await?),
        })
    }
}

/// The agent's side: a probe as JSON in, what it saw (or why it could not
/// be sent) as JSON out.
pub async fn answer(request: &str, timeout: Duration) -> String {
    let answered: Result<Answer, String> = match serde_json::from_str::<Probe>(request) {
        Ok(probe) => probe.send(timeout).await.map_err(|e| e.to_string()),
        Err(e) => Err(format!("not a probe: {e}")),
    };
    serde_json::to_string(&answered).expect("answers serialize")
}

/// What the agent's process needs beyond the probe's own time: starting
/// through the engine's exec, and printing.
const AGENT_MARGIN: Duration = Duration::from_secs(10);

/// Where a platform's probes are sent from.
#[derive(Clone)]
pub enum Prober {
    /// This host.
    Here,
    /// The helper of an engine on another host (named by its id).
    Beside { engine: Box<Engine>, id: String },
}

impl Prober {
    /// Where the evidence says the probe went from.
    pub fn describe(&self) -> String {
        match self {
            Prober::Here => "controller".into(),
            Prober::Beside { id, .. } => format!("controller's agent beside engine `{id}`"),
        }
    }

    async fn send(&self, probe: Probe, timeout: Duration) -> Result<Answer, Error> {
        let Prober::Beside { engine, id } = self else { return probe.send(timeout).await };
        let request = serde_json::to_string(&probe).expect("probes serialize");
        let millis = timeout.as_millis().to_string();
        let out = engine
            .agent(&["probe", "--timeout-ms", &millis, &request], timeout + AGENT_MARGIN)
            .await
            .map_err(|e| Error::Probe(format!("the agent beside engine `{id}`: {e}")))?;
        let answered: Result<Answer, String> = serde_json::from_str(out.stdout.trim()).map_err(|_| {
            Error::Probe(format!(
                "the agent beside engine `{id}` did not answer (exit {}): {}{}",
                if out.success { "0" } else { "non-zero" },
                out.stdout.trim(),
                out.stderr.trim()
            ))
        })?;
        answered.map_err(Error::Probe)
    }

    pub async fn tcp(&self, host: &str, port: u16, timeout: Duration) -> Result<Port, Error> {
        match self.send(Probe::Tcp { host: host.into(), port }, timeout).await? {
            Answer::Port(port) => Ok(port),
            other => Err(unexpected(other)),
        }
    }

    pub async fn ping(&self, host: &str, timeout: Duration) -> Result<(i64, String), Error> {
        match self.send(Probe::Ping { host: host.into() }, timeout).await? {
            Answer::Ping { exit_code, output } => Ok((exit_code, output)),
            other => Err(unexpected(other)),
        }
    }

    pub async fn http_get(&self, url: &str, timeout: Duration) -> Result<(u16, String), Error> {
        match self.send(Probe::HttpGet { url: url.into() }, timeout).await? {
            Answer::Http { status, body } => Ok((status, body)),
            other => Err(unexpected(other)),
        }
    }

    pub async fn dns(
        &self,
        server: &str,
        name: &str,
        record: RecordType,
        timeout: Duration,
    ) -> Result<DnsReply, Error> {
        match self.send(Probe::Dns { server: server.into(), name: name.into(), record }, timeout).await? {
            Answer::Dns(reply) => Ok(reply),
            other => Err(unexpected(other)),
        }
    }

    pub async fn dhcp_discover(&self, link: &str, mac: [u8; 6], timeout: Duration) -> Result<Option<Offer>, Error> {
        match self.send(Probe::DhcpDiscover { link: link.into(), mac }, timeout).await? {
            Answer::Offer(offer) => Ok(offer),
            other => Err(unexpected(other)),
        }
    }

    pub async fn ipp_printer(&self, uri: &str, timeout: Duration) -> Result<Option<PrinterAttributes>, Error> {
        match self.send(Probe::IppPrinter { uri: uri.into() }, timeout).await? {
            Answer::Printer(attributes) => Ok(attributes),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(answer: Answer) -> Error {
    Error::Probe(format!("the agent answered another probe: {answer:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_and_its_answer_cross_as_json_unchanged() {
        let probe = Probe::Dns { server: "10.0.0.1".into(), name: "dc.agence.lan".into(), record: RecordType::A };
        let text = serde_json::to_string(&probe).unwrap();
        assert_eq!(text, r#"{"probe":"dns","server":"10.0.0.1","name":"dc.agence.lan","record":"A"}"#);
        assert_eq!(serde_json::from_str::<Probe>(&text).unwrap(), probe);
        let offer = Offer {
            address: "10.0.0.23".parse().unwrap(),
            server: Some("10.0.0.2".parse().unwrap()),
            routers: vec!["10.0.0.254".parse().unwrap()],
            dns: vec![],
            mask: None,
        };
        let answered: Result<Answer, String> = Ok(Answer::Offer(Some(offer)));
        let text = serde_json::to_string(&answered).unwrap();
        assert_eq!(serde_json::from_str::<Result<Answer, String>>(&text).unwrap(), answered);
    }

    #[tokio::test]
    async fn the_agent_says_why_a_request_is_not_a_probe() {
        let reply = answer(r#"{"probe":"telnet"}"#, Duration::from_secs(1)).await;
        let answered: Result<Answer, String> = serde_json::from_str(&reply).unwrap();
        assert!(answered.unwrap_err().starts_with("not a probe: unknown variant `telnet`"), "{reply}");
    }
}
