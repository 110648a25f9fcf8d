//! In-network probes sent by the controller itself: what a client on the
//! candidate's network would see, from a place the candidate cannot touch.
//! The controller is on every candidate network (the engine's address on
//! each bridge), so TCP, HTTP, DNS and IPP go straight there; DHCP is
//! broadcast on the bridge like a real client's DISCOVER.

use crate::Error;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType as HickoryType};
use plateau_scenario::model::RecordType;
use tokio::net::{TcpStream, UdpSocket};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Port {
    Open,
    /// Refused: nothing listens, or a firewall rejects.
    Closed,
    /// No answer: a firewall drops.
    Filtered,
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Port::Open => "open",
            Port::Closed => "closed (refused)",
            Port::Filtered => "filtered (no answer)",
        })
    }
}

pub async fn tcp(host: &str, port: u16, timeout: Duration) -> Result<Port, Error> {
    let address = resolve(host, port).await?;
    match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
        Ok(Ok(_)) => Ok(Port::Open),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(Port::Closed),
        Ok(Err(e)) => Err(Error::Probe(format!("TCP connect to {address}: {e}"))),
        Err(_) => Ok(Port::Filtered),
    }
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, Error> {
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Error::Probe(format!("cannot resolve {host}: {e}")))?
        .next()
        .ok_or_else(|| Error::Probe(format!("{host} has no address")))
}

/// One ICMP echo through the system's `ping` (raw sockets need privileges
/// the controller should not hold for this).
/// Its exit code (0: a reply, 1: none, 2: ping could not send) and what it printed.
pub async fn ping(host: &str, timeout: Duration) -> Result<(i64, String), Error> {
    let out = tokio::process::Command::new("ping")
        .args(["-c", "1", "-W", &timeout.as_secs().max(1).to_string(), host])
        .output()
        .await
        .map_err(|e| Error::Probe(format!("cannot run ping on the controller: {e}")))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok((out.status.code().map_or(-1, i64::from), text))
}

/// A client for probes: no proxy (the platform is not behind the host's), and
/// lab certificates accepted (they are self-signed).
fn http_client(timeout: Duration) -> Result<reqwest::Client, Error> {
    crate::tls::http_client()
        .timeout(timeout)
        .no_proxy()
        .danger_accept_invalid_certs(true)
        .build()
        .map_err(|e| Error::Probe(e.to_string()))
}

/// GET a URL; `(0, error)` when nothing answered, the error with its
/// causes (`… Connection refused`, `… timed out`).
pub async fn http_get(url: &str, timeout: Duration) -> Result<(u16, String), Error> {
    let client = http_client(timeout)?;
    match client.get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            Ok((status, response.text().await.unwrap_or_default()))
        }
        Err(e) => {
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            if e.is_timeout() && !text.contains("timed out") {
                text.push_str(": timed out");
            }
            Ok((0, text))
        }
    }
}

/// Ask `server` (an address) for `name`; the answers as text.
/// What a DNS server said: its records, or why there are none.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DnsReply {
    pub records: Vec<String>,
    /// Why nothing came back (timeout, SERVFAIL, ...); `None` for an answer, even an empty one.
    pub failure: Option<String>,
}

/// Ask `server` for `name`. A server that does not answer or fails to
/// resolve is a reply without records (what a client would see), not an error.
pub async fn dns(server: &str, name: &str, record: RecordType, timeout: Duration) -> Result<DnsReply, Error> {
    let ip: IpAddr = server.parse().map_err(|_| Error::Probe(format!("DNS server `{server}` is not an address")))?;
    let config = ResolverConfig::from_name_servers(vec![NameServerConfig::udp(ip)]);
    let mut builder = hickory_resolver::Resolver::builder_with_config(config, TokioRuntimeProvider::default());
    builder.options_mut().timeout = timeout;
    // Retries after the first try (hickory's `attempts`): none, so "no
    // answer" is decided within one timeout, not two.
    builder.options_mut().attempts = 0;
    builder.options_mut().cache_size = 0;
    let resolver = builder.build().map_err(|e| Error::Probe(e.to_string()))?;
    let kind = match record {
        RecordType::A => HickoryType::A,
        RecordType::Aaaa => HickoryType::AAAA,
        RecordType::Cname => HickoryType::CNAME,
        RecordType::Ptr => HickoryType::PTR,
        RecordType::Srv => HickoryType::SRV,
        RecordType::Mx => HickoryType::MX,
    };
    let fqdn = if name.ends_with('.') { name.to_string() } else { format!("{name}.") };
    let records = |records: Vec<String>| DnsReply { records, failure: None };
    match resolver.lookup(fqdn.as_str(), kind).await {
        Ok(lookup) => Ok(records(
            lookup
                .answers()
                .iter()
                .map(|record| match &record.data {
                    RData::A(a) => a.to_string(),
                    RData::AAAA(a) => a.to_string(),
                    other => other.to_string().trim_end_matches('.').to_string(),
                })
                .collect(),
        )),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(records(Vec::new())),
        Err(e) => Ok(DnsReply { records: Vec::new(), failure: Some(e.to_string()) }),
    }
}

/// What a DHCP server offered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Offer {
    pub address: Ipv4Addr,
    pub server: Option<Ipv4Addr>,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub mask: Option<Ipv4Addr>,
}

impl fmt::Display for Offer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |v: &[Ipv4Addr]| v.iter().map(Ipv4Addr::to_string).collect::<Vec<_>>().join(",");
        write!(f, "OFFER {} router {} dns {}", self.address, join(&self.routers), join(&self.dns))?;
        if let Some(server) = self.server {
            write!(f, " from {server}")?;
        }
        if let Some(mask) = self.mask {
            write!(f, " mask {mask}")?;
        }
        Ok(())
    }
}

pub fn parse_mac(text: &str) -> Result<[u8; 6], Error> {
    let bytes: Vec<u8> = text.split([':', '-']).filter_map(|p| u8::from_str_radix(p, 16).ok()).collect();
    bytes.try_into().map_err(|_| Error::Probe(format!("`{text}` is not a MAC address")))
}

pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// A stable, locally administered MAC per check, so repeated runs ask for
/// the same thing and never collide with a real interface.
pub fn probe_mac(check_id: &str) -> [u8; 6] {
    let hash = check_id.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
    let b = hash.to_be_bytes();
    [0x02, 0x70, b[0], b[1], b[2], b[3]]
}

/// How often a DHCP probe sends its DISCOVER again while it waits.
const DISCOVER_AGAIN: Duration = Duration::from_secs(1);

/// Broadcast a DISCOVER for `mac` on the host interface `link` and wait for
/// the matching OFFER. The broadcast flag asks the server to answer by
/// broadcast, since the probe has no address on offer. No REQUEST follows:
/// the server keeps no lease. The DISCOVER is sent again every
/// `DISCOVER_AGAIN` until the timeout, as a client retransmits: a first
/// packet lost (a server still starting, a bridge port still learning) is
/// not "no offer", and "no offer" is decided within one timeout.
pub async fn dhcp_discover(link: &str, mac: [u8; 6], timeout: Duration) -> Result<Option<Offer>, Error> {
    let socket = dhcp_socket(link).map_err(|e| Error::Probe(format!("DHCP probe socket on {link}: {e}")))?;
    let xid: u32 = rand::random();
    let mut discover = Message::default();
    discover.set_xid(xid).set_flags(Flags::default().set_broadcast()).set_chaddr(&mac);
    discover.opts_mut().insert(DhcpOption::MessageType(MessageType::Discover));
    discover.opts_mut().insert(DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Router,
        OptionCode::DomainNameServer,
    ]));
    let mut packet = Vec::new();
    discover.encode(&mut Encoder::new(&mut packet)).map_err(|e| Error::Probe(e.to_string()))?;
    let broadcast = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::BROADCAST, 67));
    let wait = async {
        let mut buf = vec![0u8; 1500];
        let mut again = tokio::time::interval(DISCOVER_AGAIN);
        loop {
            tokio::select! {
                _ = again.tick() => {
                    socket
                        .send_to(&packet, broadcast)
                        .await
                        .map_err(|e| Error::Probe(format!("sending DISCOVER on {link}: {e}")))?;
                }
                received = socket.recv_from(&mut buf) => {
                    let (n, _) = received.map_err(|e| Error::Probe(e.to_string()))?;
                    let Ok(reply) = Message::decode(&mut Decoder::new(&buf[..n])) else { continue };
                    if reply.xid() != xid || reply.opts().msg_type() != Some(MessageType::Offer) {
                        continue;
                    }
                    return Ok(Some(offer_of(&reply)));
                }
            }
        }
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(result) => result,
        Err(_) => Ok(None),
    }
}

fn offer_of(reply: &Message) -> Offer {
    let opts = reply.opts();
    let addresses = |code| match opts.get(code) {
        Some(DhcpOption::Router(list)) | Some(DhcpOption::DomainNameServer(list)) => list.clone(),
        _ => Vec::new(),
    };
    Offer {
        address: reply.yiaddr(),
        server: match opts.get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
            _ => None,
        },
        routers: addresses(OptionCode::Router),
        dns: addresses(OptionCode::DomainNameServer),
        mask: match opts.get(OptionCode::SubnetMask) {
            Some(DhcpOption::SubnetMask(mask)) => Some(*mask),
            _ => None,
        },
    }
}

/// UDP 68 on one interface; several probes (and candidates) share the port,
/// each bound to its own bridge, and every socket sees the broadcasts.
fn dhcp_socket(link: &str) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_broadcast(true)?;
    socket.bind_device(Some(link.as_bytes()))?;
    socket.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68)).into())?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// The offer printed by nmap's `broadcast-dhcp-discover` script (a probe
/// sent from a node).
pub fn parse_nmap_offer(text: &str) -> Option<Offer> {
    let value = |label: &str| {
        text.lines()
            .find_map(|l| l.trim_start_matches(['|', '_', ' ']).strip_prefix(label).map(|v| v.trim().to_string()))
    };
    let ips = |label: &str| -> Vec<Ipv4Addr> {
        value(label).map(|v| v.split([',', ' ']).filter_map(|p| p.trim().parse().ok()).collect()).unwrap_or_default()
    };
    Some(Offer {
        address: value("IP Offered:")?.parse().ok()?,
        server: value("Server Identifier:").and_then(|v| v.parse().ok()),
        routers: ips("Router:"),
        dns: ips("Domain Name Server:"),
        mask: value("Subnet Mask:").and_then(|v| v.parse().ok()),
    })
}

/// What a printer said to IPP Get-Printer-Attributes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrinterAttributes {
    pub state: String,
    pub accepting_jobs: Option<bool>,
}

/// IPP/1.1 Get-Printer-Attributes (RFC 8011) over HTTP; `None` when the
/// printer does not answer or refuses.
pub async fn ipp_printer(uri: &str, timeout: Duration) -> Result<Option<PrinterAttributes>, Error> {
    let url = uri.replacen("ipp://", "http://", 1).replacen("ipps://", "https://", 1);
    let url = match url.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or("").contains(':')) {
        Some(false) => url.replacen("/ipp", ":631/ipp", 1),
        _ => url,
    };
    let body = ipp_request(0x000B, uri);
    let client = http_client(timeout)?;
    let response = match client.post(&url).header("Content-Type", "application/ipp").body(body).send().await {
        Ok(r) => r,
        Err(_) => return Ok(None),
    };
    let bytes = response.bytes().await.map_err(|e| Error::Probe(e.to_string()))?;
    Ok(parse_ipp_response(&bytes))
}

fn ipp_request(operation: u16, uri: &str) -> Vec<u8> {
    let mut out = vec![0x01, 0x01];
    out.extend_from_slice(&operation.to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.push(0x01); // operation-attributes-tag
    for (tag, name, value) in [
        (0x47u8, "attributes-charset", "utf-8"),
        (0x48, "attributes-natural-language", "en"),
        (0x45, "printer-uri", uri),
    ] {
        out.push(tag);
        out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.push(0x03); // end-of-attributes-tag
    out
}

fn parse_ipp_response(bytes: &[u8]) -> Option<PrinterAttributes> {
    if bytes.len() < 9 || u16::from_be_bytes([bytes[2], bytes[3]]) > 0x00ff {
        return None;
    }
    let (mut i, mut state, mut accepting) = (8, None, None);
    let mut last_name = String::new();
    while i < bytes.len() {
        let tag = bytes[i];
        i += 1;
        if tag == 0x03 {
            break;
        }
        if tag < 0x10 {
            continue; // a delimiter: the next attribute group
        }
        let len = |at: usize| bytes.get(at..at + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])));
        let name_len = len(i)?;
        let name = String::from_utf8_lossy(bytes.get(i + 2..i + 2 + name_len)?).into_owned();
        i += 2 + name_len;
        let value_len = len(i)?;
        let value = bytes.get(i + 2..i + 2 + value_len)?;
        i += 2 + value_len;
        if !name.is_empty() {
            last_name = name;
        }
        match (last_name.as_str(), tag) {
            ("printer-state", 0x23) if value.len() == 4 => {
                state = Some(match u32::from_be_bytes([value[0], value[1], value[2], value[3]]) {
                    3 => "idle".to_string(),
                    4 => "processing".to_string(),
                    5 => "stopped".to_string(),
                    n => format!("state {n}"),
                });
            }
            ("printer-is-accepting-jobs", 0x22) if value.len() == 1 => accepting = Some(value[0] != 0),
            _ => {}
        }
    }
    Some(PrinterAttributes { state: state.unwrap_or_else(|| "unknown".into()), accepting_jobs: accepting })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DNS server that never answers is asked once: "no answer" is
    /// decided within one timeout (hickory's `attempts` counts retries).
    #[tokio::test]
    async fn an_unanswered_dns_query_is_sent_once() {
        // A loopback address of its own: port 53 is the probe's.
        let server = tokio::net::UdpSocket::bind("127.0.0.153:53").await.expect("root binds port 53");
        let reply = dns("127.0.0.153", "www.exemple.test", RecordType::A, Duration::from_millis(300)).await.unwrap();
        assert!(reply.records.is_empty() && reply.failure.is_some(), "{reply:?}");
        let mut queries = 0;
        let mut buf = [0u8; 512];
        while server.try_recv(&mut buf).is_ok() {
            queries += 1;
        }
        assert_eq!(queries, 1);
    }

    #[test]
    fn nmap_offer_is_read() {
        let text = "| broadcast-dhcp-discover:\n|   Response 1 of 1:\n|     Interface: eth0\n|     IP Offered: 10.20.3.150\n|     Server Identifier: 10.20.3.2\n|     Subnet Mask: 255.255.255.0\n|     Router: 10.20.3.254\n|_    Domain Name Server: 10.20.3.254, 10.20.3.1\n";
        let offer = parse_nmap_offer(text).unwrap();
        assert_eq!(offer.address, Ipv4Addr::new(10, 20, 3, 150));
        assert_eq!(offer.routers, [Ipv4Addr::new(10, 20, 3, 254)]);
        assert_eq!(offer.dns.len(), 2);
        assert_eq!(parse_nmap_offer("| broadcast-dhcp-discover:\n"), None);
    }

    #[test]
    fn probe_macs_are_stable_and_local() {
        assert_eq!(probe_mac("dhcp-scope"), probe_mac("dhcp-scope"));
        assert_ne!(probe_mac("dhcp-scope"), probe_mac("other"));
        assert_eq!(probe_mac("x")[0] & 0x02, 0x02);
        assert_eq!(parse_mac("02:50:00:AA:bb:01").unwrap(), [2, 0x50, 0, 0xaa, 0xbb, 1]);
        assert!(parse_mac("02:50").is_err());
    }

    #[test]
    fn ipp_response_gives_state() {
        // version 1.1, status successful-ok, request 1, printer group with
        // printer-state = idle and printer-is-accepting-jobs = true.
        let mut r = vec![1, 1, 0, 0, 0, 0, 0, 1, 0x04];
        r.extend([0x23, 0, 13]);
        r.extend(b"printer-state");
        r.extend([0, 4, 0, 0, 0, 3]);
        r.extend([0x22, 0, 25]);
        r.extend(b"printer-is-accepting-jobs");
        r.extend([0, 1, 1, 0x03]);
        let attrs = parse_ipp_response(&r).unwrap();
        assert_eq!(attrs.state, "idle");
        assert_eq!(attrs.accepting_jobs, Some(true));
        let refused = [1, 1, 0x04, 0x00, 0, 0, 0, 1, 0x03];
        assert_eq!(parse_ipp_response(&refused), None);
        assert_eq!(&ipp_request(0x000B, "ipp://p/ipp/print")[..4], &[1, 1, 0, 0x0B]);
    }
}
