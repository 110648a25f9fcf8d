//! The centre's site file (`plateau.toml`): the Docker engines candidates'
//! platforms may be placed on. Without one, the local engine alone.
//!
//! ```toml
//! [[engines]]
//! id = "salle-a"
//! url = "unix:///var/run/docker.sock"
//! memory = "20g"          # what Plateau may place on it
//! labels = ["kvm"]
//!
//! [[engines]]
//! id = "salle-b"
//! url = "tcp://10.0.0.12:2376"
//! tls = "certs/client"    # ca.pem, cert.pem, key.pem: `plateau engines certs`
//! ```
//!
//! Parsed raw, then validated into [`Site`], which the rest trusts: ids
//! unique and well-formed, every TCP engine behind mutual TLS (an engine's
//! API is root on its host), sizes understood.

use std::ops::Range;
use std::path::{Path, PathBuf};

use bollard::Docker;
use plateau_scenario::diag::{Diagnostic, Report};
use plateau_scenario::limits::parse_size;
use serde::Deserialize;
use toml::Spanned;

use crate::Error;

/// How long a call to an engine may take before it counts as unreachable.
const ENGINE_TIMEOUT_SECS: u64 = 120;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    #[serde(default)]
    engines: Vec<RawEngine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEngine {
    id: Spanned<String>,
    url: Spanned<String>,
    tls: Option<Spanned<String>>,
    memory: Option<Spanned<String>>,
    cpus: Option<u32>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    drain: bool,
}

/// Where an engine's API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// This host's engine as Docker's own tools find it (`DOCKER_HOST`, else
    /// the socket): the centre without a site file.
    Default,
    /// A Unix socket on this host.
    Socket(PathBuf),
    /// `host:port` over TCP, with the client's certificates (mutual TLS).
    Tls { host_port: String, certs: PathBuf },
}

/// One engine of the site, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSpec {
    pub id: String,
    pub address: Address,
    /// Memory Plateau may place on it (bytes); `None`: what the engine reports.
    pub memory: Option<u64>,
    /// CPUs Plateau may count on; `None`: what the engine reports.
    pub cpus: Option<u32>,
    /// What the engine's host offers, e.g. `kvm`.
    pub labels: Vec<String>,
    /// No new platform goes there; those already there stay.
    pub drain: bool,
}

/// The engines of a centre, in the order the site file lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub engines: Vec<EngineSpec>,
}

impl Site {
    /// This host's engine alone: a centre with one server needs no site file.
    pub fn local() -> Site {
        Site {
            engines: vec![EngineSpec {
                id: "local".into(),
                address: Address::Default,
                memory: None,
                cpus: None,
                labels: Vec::new(),
                drain: false,
            }],
        }
    }

    /// Read and validate a site file; certificate folders are relative to it.
    pub fn load(path: &Path) -> Result<Site, Box<Report>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Box::new(Report {
                file_name: path.display().to_string(),
                source: String::new(),
                diagnostics: vec![Diagnostic::new("unreadable", format!("cannot read {}: {e}", path.display()))],
            })
        })?;
        Site::parse(&path.display().to_string(), &text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Validate a site file's text; `base` is the folder relative paths start from.
    pub fn parse(file_name: &str, text: &str, base: &Path) -> Result<Site, Box<Report>> {
        let report = |diagnostics| Box::new(Report { file_name: file_name.into(), source: text.into(), diagnostics });
        let raw: RawSite = toml::from_str(text).map_err(|e| {
            let d = Diagnostic::new("bad-site-file", e.message().to_string())
                .at(e.span(), "here")
                .hint("a site file lists `[[engines]]` with `id`, `url`, and `tls` for a TCP engine");
            report(vec![d])
        })?;
        let mut problems = Vec::new();
        let mut engines: Vec<EngineSpec> = Vec::new();
        let mut ids: Vec<&str> = Vec::new();
        for engine in &raw.engines {
            let problem = |code, message: String, span: Range<usize>, label: &str, hint: &str| {
                Diagnostic::new(code, message).at(Some(span), label).hint(hint)
            };
            let id = engine.id.get_ref();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                problems.push(problem(
                    "bad-id",
                    format!("`{id}` is not an engine id"),
                    engine.id.span(),
                    "not an id",
                    "use lowercase letters, digits and `-`, e.g. `salle-b`",
                ));
            } else if ids.contains(&id.as_str()) {
                problems.push(problem(
                    "duplicate-engine",
                    format!("engine `{id}` is listed twice"),
                    engine.id.span(),
                    "second time",
                    "give each engine its own id",
                ));
            }
            ids.push(id);
            let url = engine.url.get_ref();
            let address = if let Some(socket) = url.strip_prefix("unix://") {
                if let Some(tls) = &engine.tls {
                    problems.push(problem(
                        "tls-on-socket",
                        format!("`{url}` is a local socket: `tls` would not be used"),
                        tls.span(),
                        "not used",
                        "remove `tls`, or write the engine's `tcp://HOST:2376` address if it is remote",
                    ));
                }
                Some(Address::Socket(PathBuf::from(socket)))
            } else if let Some(host_port) = url.strip_prefix("tcp://") {
                match &engine.tls {
                    Some(certs) => {
                        Some(Address::Tls { host_port: host_port.to_string(), certs: base.join(certs.get_ref()) })
                    }
                    None => {
                        problems.push(problem(
                            "engine-without-tls",
                            format!("`{url}` is reached over TCP without TLS: whoever reaches that port is root on its host"),
                            engine.url.span(),
                            "no `tls`",
                            "make certificates with `plateau engines certs`, start dockerd with the flags it prints, and add `tls = \"DIR\"` (the client's folder)",
                        ));
                        None
                    }
                }
            } else {
                problems.push(problem(
                    "bad-engine-url",
                    format!("`{url}` is not an engine address"),
                    engine.url.span(),
                    "not `unix://` or `tcp://`",
                    "write `unix:///var/run/docker.sock` or `tcp://HOST:2376`",
                ));
                None
            };
            let memory = engine.memory.as_ref().and_then(|m| {
                let bytes = parse_size(m.get_ref());
                if bytes.is_none() {
                    problems.push(problem(
                        "bad-size",
                        format!("`{}` is not a size", m.get_ref()),
                        m.span(),
                        "not a size",
                        "write a number with k, m or g (KiB, MiB, GiB), e.g. `20g`",
                    ));
                }
                bytes
            });
            if let Some(address) = address {
                engines.push(EngineSpec {
                    id: id.clone(),
                    address,
                    memory,
                    cpus: engine.cpus,
                    labels: engine.labels.clone(),
                    drain: engine.drain,
                });
            }
        }
        if engines.is_empty() && problems.is_empty() {
            problems.push(
                Diagnostic::new("no-engine", "the site file lists no engine")
                    .at(Some(0..0), "")
                    .hint("add `[[engines]]` with `id` and `url`, or remove the file to use this host's engine"),
            );
        }
        if problems.is_empty() { Ok(Site { engines }) } else { Err(report(problems)) }
    }
}

impl EngineSpec {
    /// Whether the engine runs on this host: a socket is this host's.
    pub fn on_this_host(&self) -> bool {
        matches!(self.address, Address::Default | Address::Socket(_))
    }

    /// A client of this engine's API. Nothing is sent yet.
    pub fn connect(&self) -> Result<Docker, Error> {
        let unreachable = |e: bollard::errors::Error| self.unreachable(causes(&e));
        match &self.address {
            Address::Default => Docker::connect_with_local_defaults().map_err(unreachable),
            Address::Socket(path) => Docker::connect_with_socket(
                &path.display().to_string(),
                ENGINE_TIMEOUT_SECS,
                bollard::API_DEFAULT_VERSION,
            )
            .map_err(unreachable),
            Address::Tls { host_port, certs } => {
                for file in ["ca.pem", "cert.pem", "key.pem"] {
                    if !certs.join(file).is_file() {
                        return Err(self.unreachable(format!(
                            "{} has no {file}; make the centre's client folder with `plateau engines certs`",
                            certs.display()
                        )));
                    }
                }
                Docker::connect_with_ssl(
                    &format!("https://{host_port}"),
                    &certs.join("key.pem"),
                    &certs.join("cert.pem"),
                    &certs.join("ca.pem"),
                    ENGINE_TIMEOUT_SECS,
                    bollard::API_DEFAULT_VERSION,
                )
                .map_err(unreachable)
            }
        }
    }
}

/// What an engine says of itself, for the operator choosing where to place.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Overview {
    pub id: String,
    pub address: String,
    /// Why the engine could not be read; the rest is then empty.
    pub unreachable: Option<String>,
    pub version: String,
    pub cpus: u32,
    /// Bytes: the site file's figure, else the engine's.
    pub memory: u64,
    /// Plateau's role images present on it.
    pub images: Vec<String>,
    /// Containers Plateau made on it, and how many of them run.
    pub containers: usize,
    pub running: usize,
    pub labels: Vec<String>,
    pub drain: bool,
}

impl Address {
    /// As the site file writes it.
    pub fn url(&self) -> String {
        match self {
            Address::Default => "this host's engine".into(),
            Address::Socket(path) => format!("unix://{}", path.display()),
            Address::Tls { host_port, .. } => format!("tcp://{host_port} (TLS)"),
        }
    }
}

impl EngineSpec {
    /// Read the engine: who it is, what it holds of Plateau's. An engine
    /// that cannot be reached or refuses the certificates says why.
    pub async fn overview(&self) -> Overview {
        let mut overview = Overview {
            id: self.id.clone(),
            address: self.address.url(),
            unreachable: None,
            version: String::new(),
            cpus: self.cpus.unwrap_or(0),
            memory: self.memory.unwrap_or(0),
            images: Vec::new(),
            containers: 0,
            running: 0,
            labels: self.labels.clone(),
            drain: self.drain,
        };
        if let Err(why) = self.read_into(&mut overview).await {
            overview.unreachable = Some(match why {
                Error::Engine(message) | Error::SiteEngine { message, .. } => message,
                other => other.to_string(),
            });
        }
        overview
    }

    pub(crate) fn unreachable(&self, why: impl std::fmt::Display) -> Error {
        match self.address {
            Address::Default => Error::Engine(why.to_string()),
            _ => Error::SiteEngine { id: self.id.clone(), address: self.address.url(), message: why.to_string() },
        }
    }

    async fn read_into(&self, overview: &mut Overview) -> Result<(), Error> {
        use bollard::query_parameters::{ListContainersOptionsBuilder, ListImagesOptions};
        let failed = |e: bollard::errors::Error| self.unreachable(causes(&e));
        let docker = self.connect()?.negotiate_version().await.map_err(failed)?;
        let info = docker.info().await.map_err(failed)?;
        overview.version = info.server_version.unwrap_or_default();
        if self.cpus.is_none() {
            overview.cpus = info.ncpu.unwrap_or(0).max(0) as u32;
        }
        if self.memory.is_none() {
            overview.memory = info.mem_total.unwrap_or(0).max(0) as u64;
        }
        let images = docker.list_images(None::<ListImagesOptions>).await.map_err(failed)?;
        overview.images = images
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .filter(|t| t.starts_with("plateau/") && t.ends_with(":latest"))
            .map(|t| t.trim_end_matches(":latest").to_string())
            .collect();
        overview.images.sort();
        let owned = std::collections::HashMap::from([("label".to_string(), vec![crate::LABEL_OWNER.to_string()])]);
        let containers = docker
            .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&owned).build()))
            .await
            .map_err(failed)?;
        overview.containers = containers.len();
        overview.running =
            containers.iter().filter(|c| c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING)).count();
        Ok(())
    }
}

/// An error and its causes: a refused connection or certificate is only
/// named by the innermost one.
fn causes(error: &dyn std::error::Error) -> String {
    let mut said = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_said = cause.to_string();
        if !said.contains(&cause_said) {
            said = format!("{said}: {cause_said}");
        }
        source = cause.source();
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The site file's text → the engines, or each problem as `code@line: message`.
    fn check(text: &str) -> String {
        match Site::parse("plateau.toml", text, Path::new("/etc/plateau")) {
            Ok(site) => format!("{:#?}", site.engines),
            Err(report) => report
                .located()
                .iter()
                .map(|d| format!("{}@{}: {}", d.diagnostic.code, d.line.unwrap_or(0), d.diagnostic.message))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn engines_are_sockets_or_tls_and_every_mistake_is_placed() {
        insta::assert_snapshot!(check(
            r#"
[[engines]]
id = "salle-a"
url = "unix:///var/run/docker.sock"
memory = "20g"
labels = ["kvm"]

[[engines]]
id = "salle-b"
url = "tcp://10.0.0.12:2376"
tls = "certs/client"
cpus = 8
drain = true
"#,
        ), @r#"
                [
                    EngineSpec {
                        id: "salle-a",
                        address: Socket(
                            "/var/run/docker.sock",
                        ),
                        memory: Some(
                            21474836480,
                        ),
                        cpus: None,
                        labels: [
                            "kvm",
                        ],
                        drain: false,
                    },
                    EngineSpec {
                        id: "salle-b",
                        address: Tls {
                            host_port: "10.0.0.12:2376",
                            certs: "/etc/plateau/certs/client",
                        },
                        memory: None,
                        cpus: Some(
                            8,
                        ),
                        labels: [],
                        drain: true,
                    },
                ]
        "#);
        insta::assert_snapshot!(check(
            r#"
[[engines]]
id = "a"
url = "tcp://10.0.0.12:2375"

[[engines]]
id = "a"
url = "ssh://root@host"
memory = "lots"

[[engines]]
id = "Salle B"
url = "unix:///run/docker.sock"

[[engines]]
id = "salle-c"
url = "unix:///run/docker.sock"
tls = "certs/client"
"#,
        ), @r"
                engine-without-tls@4: `tcp://10.0.0.12:2375` is reached over TCP without TLS: whoever reaches that port is root on its host
                duplicate-engine@7: engine `a` is listed twice
                bad-engine-url@8: `ssh://root@host` is not an engine address
                bad-size@9: `lots` is not a size
                bad-id@12: `Salle B` is not an engine id
                tls-on-socket@18: `unix:///run/docker.sock` is a local socket: `tls` would not be used
        ");
        insta::assert_snapshot!(
            check("[[engines]]\nid = \"a\"\nurl = \"unix:///x\"\nport = 3\n"),
            @"bad-site-file@4: unknown field `port`, expected one of `id`, `url`, `tls`, `memory`, `cpus`, `labels`, `drain`"
        );
        insta::assert_snapshot!(check(""), @"no-engine@1: the site file lists no engine");
    }
}
