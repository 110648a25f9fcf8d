//! A centre's certificates for remote engines (`plateau engines certs`).
//!
//! An engine's API is root on its host, so a remote one listens only behind
//! mutual TLS: dockerd proves it is the engine named in the site file, and
//! Plateau proves it holds the centre's client key. One CA per centre signs
//! both; it is made once and reused, so each new server's certificate comes
//! from the same CA and the one client folder reaches them all.
//!
//! ```text
//! DIR/ca.pem, DIR/ca-key.pem       the centre's CA (the key stays here)
//! DIR/client/{ca,cert,key}.pem     Plateau's side: `tls = "DIR/client"`
//! DIR/<host>/{ca,server-cert,server-key}.pem   copied to that server
//! ```

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The port dockerd's TLS listener uses by convention.
pub const TLS_PORT: u16 = 2376;

const CA_NAME: &str = "Plateau centre CA";
const CA_DAYS: i64 = 3650;
/// Certificates outlive several exam sessions but not the centre's CA.
const CERT_DAYS: i64 = 825;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{path}: {message}")]
    Unusable { path: PathBuf, message: String },
    #[error("`{0}` is not a host name or address; give the name or IP Plateau will dial, e.g. `--host 10.0.0.12`")]
    BadHost(String),
    #[error("name at least one `--host`: the name or address the site file's `tcp://` URL will use")]
    NoHost,
    #[error("making a certificate: {0}")]
    Make(#[from] rcgen::Error),
}

/// What `engines certs` made or reused, for the operator to act on.
#[derive(Debug)]
pub struct Made {
    pub ca_created: bool,
    pub client_created: bool,
    /// The folder to copy to the engine's server.
    pub server_dir: PathBuf,
    pub client_dir: PathBuf,
}

impl Made {
    /// The site file's entry for the engine on `host`, its id derived from
    /// the host's first label.
    pub fn site_entry(&self, host: &str) -> String {
        let first_label =
            if host.parse::<std::net::IpAddr>().is_ok() { host } else { host.split('.').next().unwrap_or(host) };
        let id: String =
            first_label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        let authority = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
        format!(
            "[[engines]]\nid = \"{id}\"\nurl = \"tcp://{authority}:{TLS_PORT}\"\ntls = \"{}\"\n",
            self.client_dir.display()
        )
    }

    /// dockerd's flags once `server_dir` is copied to `remote_dir` on the server.
    pub fn dockerd_flags(&self, remote_dir: &str) -> String {
        format!(
            "--tlsverify --tlscacert {remote_dir}/ca.pem --tlscert {remote_dir}/server-cert.pem \
             --tlskey {remote_dir}/server-key.pem -H tcp://0.0.0.0:{TLS_PORT}"
        )
    }
}

/// Make (or reuse) the centre's CA and client certificate in `dir`, and a
/// server certificate valid for `hosts` (names or IP addresses) in
/// `dir/<first host>`. Re-running for the same host replaces its server
/// certificate only.
pub fn make(dir: &Path, hosts: &[String]) -> Result<Made, CertError> {
    let first = hosts.first().ok_or(CertError::NoHost)?;
    for host in hosts {
        let name_like = !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
            && !host.starts_with(['-', '.']);
        if !name_like {
            return Err(CertError::BadHost(host.clone()));
        }
    }
    create_dir(dir)?;
    let (ca_key, ca_created) = ca(dir)?;
    let issuer = Issuer::new(ca_params(&ca_key), ca_key);
    let ca_pem = read(&dir.join("ca.pem"))?;

    let client_dir = dir.join("client");
    let client_created = !client_dir.join("cert.pem").is_file();
    if client_created || ca_created {
        let key = KeyPair::generate()?;
        let cert = leaf("plateau", &[], ExtendedKeyUsagePurpose::ClientAuth)?.signed_by(&key, &issuer)?;
        create_dir(&client_dir)?;
        write(&client_dir.join("ca.pem"), &ca_pem, 0o644)?;
        write(&client_dir.join("cert.pem"), &cert.pem(), 0o644)?;
        write(&client_dir.join("key.pem"), &key.serialize_pem(), 0o600)?;
    }

    let server_dir = dir.join(first.replace(':', "_"));
    let key = KeyPair::generate()?;
    let cert = leaf(first, hosts, ExtendedKeyUsagePurpose::ServerAuth)?.signed_by(&key, &issuer)?;
    create_dir(&server_dir)?;
    write(&server_dir.join("ca.pem"), &ca_pem, 0o644)?;
    write(&server_dir.join("server-cert.pem"), &cert.pem(), 0o644)?;
    write(&server_dir.join("server-key.pem"), &key.serialize_pem(), 0o600)?;
    Ok(Made { ca_created, client_created: client_created || ca_created, server_dir, client_dir })
}

/// The CA's key, made with its certificate when `dir` has none.
fn ca(dir: &Path) -> Result<(KeyPair, bool), CertError> {
    let key_path = dir.join("ca-key.pem");
    if key_path.is_file() {
        let pem = read(&key_path)?;
        let key = KeyPair::from_pem(&pem)
            .map_err(|e| CertError::Unusable { path: key_path.clone(), message: format!("not a private key: {e}") })?;
        if !dir.join("ca.pem").is_file() {
            return Err(CertError::Unusable {
                path: dir.join("ca.pem"),
                message: "missing beside ca-key.pem; put it back, or remove both to make a new CA (every engine's and \
                          client's certificate must then be made again)"
                    .into(),
            });
        }
        return Ok((key, false));
    }
    let key = KeyPair::generate()?;
    let cert = ca_params(&key).self_signed(&key)?;
    write(&dir.join("ca.pem"), &cert.pem(), 0o644)?;
    write(&key_path, &key.serialize_pem(), 0o600)?;
    Ok((key, true))
}

/// The CA's parameters: the same on every run for the same key, so an issuer
/// rebuilt from the stored key signs as the stored certificate names it. The
/// name carries the key's identifier: two centres' CAs never share a name.
fn ca_params(key: &KeyPair) -> CertificateParams {
    let mut params = CertificateParams::default();
    let id: String = params.key_identifier(key).iter().take(4).map(|b| format!("{b:02x}")).collect();
    params.distinguished_name = distinguished_name(&format!("{CA_NAME} {id}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(CA_DAYS);
    params
}

fn leaf(
    common_name: &str,
    alt_names: &[String],
    usage: ExtendedKeyUsagePurpose,
) -> Result<CertificateParams, CertError> {
    let mut params = CertificateParams::new(alt_names.to_vec())?;
    params.distinguished_name = distinguished_name(common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![usage];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(CERT_DAYS);
    Ok(params)
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

fn create_dir(dir: &Path) -> Result<(), CertError> {
    fs::create_dir_all(dir).map_err(|e| CertError::Io(dir.to_path_buf(), e))
}

fn read(path: &Path) -> Result<String, CertError> {
    fs::read_to_string(path).map_err(|e| CertError::Io(path.to_path_buf(), e))
}

/// Written whole or not at all: a key never sits readable by others, even for
/// a moment.
fn write(path: &Path, text: &str, mode: u32) -> Result<(), CertError> {
    let partial = path.with_extension("pem.partial");
    let io = |e| CertError::Io(path.to_path_buf(), e);
    let _ = fs::remove_file(&partial);
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&partial).map_err(io)?;
    file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(io)?;
    fs::rename(&partial, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(path).unwrap().map(Result::unwrap).collect()
    }

    fn key(path: &Path) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_file(path).unwrap()
    }

    fn roots(ca: &Path) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(certs(ca));
        roots
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// A TLS server the way dockerd's `--tlsverify` is one (the server's
    /// folder), and a client with `client` as its folder dialling `name`:
    /// what the client read from the server, or why the handshake failed.
    async fn handshake(server: &Path, client: &Path, name: &str) -> Result<String, String> {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots(&server.join("ca.pem"))),
            provider(),
        )
        .build()
        .unwrap();
        let server_config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs(&server.join("server-cert.pem")), key(&server.join("server-key.pem")))
            .unwrap();
        let client_config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots(&client.join("ca.pem")))
            .with_client_auth_cert(certs(&client.join("cert.pem")), key(&client.join("key.pem")))
            .unwrap();
        let (near, far) = tokio::io::duplex(4096);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let served = tokio::spawn(async move {
            let mut stream = acceptor.accept(far).await.map_err(|e| e.to_string())?;
            stream.write_all(b"engine").await.map_err(|e| e.to_string())?;
            stream.shutdown().await.map_err(|e| e.to_string())
        });
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
        let name = ServerName::try_from(name.to_string()).unwrap();
        let dialled: Result<String, String> = async {
            let mut stream = connector.connect(name, near).await.map_err(|e| e.to_string())?;
            let mut read = String::new();
            stream.read_to_string(&mut read).await.map_err(|e| e.to_string())?;
            Ok(read)
        }
        .await;
        let served = served.await.unwrap();
        match (dialled, served) {
            (Ok(read), Ok(())) if !read.is_empty() => Ok(read),
            (Ok(_), Ok(())) => Err("the server sent nothing".into()),
            (dialled, served) => Err(format!("client: {:?}; server: {:?}", dialled.err(), served.err())),
        }
    }

    #[tokio::test]
    async fn the_client_folder_reaches_every_engine_of_the_centre_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let first = make(dir.path(), &["salle-b".into(), "10.0.0.12".into()]).unwrap();
        assert!(first.ca_created && first.client_created);
        assert_eq!(fs::metadata(dir.path().join("ca-key.pem")).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(first.client_dir.join("key.pem")).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(handshake(&first.server_dir, &first.client_dir, "salle-b").await.as_deref(), Ok("engine"));
        assert_eq!(handshake(&first.server_dir, &first.client_dir, "10.0.0.12").await.as_deref(), Ok("engine"));
        // A name the server's certificate does not carry is refused by the client.
        let wrong = handshake(&first.server_dir, &first.client_dir, "salle-c").await.unwrap_err();
        assert!(
            wrong.starts_with("client: Some(\"invalid peer certificate: certificate not valid for name"),
            "{wrong}"
        );

        // A second server: same CA, same client folder.
        let client_before = fs::read(first.client_dir.join("cert.pem")).unwrap();
        let second = make(dir.path(), &["salle-c".into()]).unwrap();
        assert!(!second.ca_created && !second.client_created);
        assert_eq!(fs::read(second.client_dir.join("cert.pem")).unwrap(), client_before);
        assert_eq!(handshake(&second.server_dir, &second.client_dir, "salle-c").await.as_deref(), Ok("engine"));

        // Another centre's client (its own CA) is refused by this centre's engine.
        let stranger = tempfile::tempdir().unwrap();
        let theirs = make(stranger.path(), &["salle-b".into()]).unwrap();
        let mixed = tempfile::tempdir().unwrap();
        fs::copy(first.client_dir.join("ca.pem"), mixed.path().join("ca.pem")).unwrap();
        fs::copy(theirs.client_dir.join("cert.pem"), mixed.path().join("cert.pem")).unwrap();
        fs::copy(theirs.client_dir.join("key.pem"), mixed.path().join("key.pem")).unwrap();
        let refused = handshake(&first.server_dir, mixed.path(), "salle-b").await.unwrap_err();
        assert!(refused.contains("server: Some(\"invalid peer certificate: UnknownIssuer\")"), "{refused}");
    }

    #[test]
    fn the_site_entry_printed_for_a_host_is_a_valid_site_file() {
        let dir = tempfile::tempdir().unwrap();
        for (host, id, url) in [
            ("salle-b.centre.lan", "salle-b", "tcp://salle-b.centre.lan:2376 (TLS)"),
            ("10.0.0.12", "10-0-0-12", "tcp://10.0.0.12:2376 (TLS)"),
            ("fd00::12", "fd00--12", "tcp://[fd00::12]:2376 (TLS)"),
        ] {
            let made = make(dir.path(), &[host.into()]).unwrap();
            let entry = made.site_entry(host);
            let site = crate::site::Site::parse("plateau.toml", &entry, Path::new("/"))
                .unwrap_or_else(|report| panic!("{entry}\n{}", report.render(false)));
            assert_eq!((site.engines[0].id.as_str(), site.engines[0].address.url()), (id, url.to_string()), "{entry}");
        }
    }

    #[test]
    fn hosts_are_required_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(make(dir.path(), &[]), Err(CertError::NoHost)));
        assert!(matches!(make(dir.path(), &["a b".into()]), Err(CertError::BadHost(_))));
        assert!(matches!(make(dir.path(), &["--tlsverify".into()]), Err(CertError::BadHost(_))));
    }
}
