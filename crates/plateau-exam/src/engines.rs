//! The centre's engines: its site file, the certificates remote engines
//! need, and what each engine holds.

use std::path::{Path, PathBuf};

use plateau_engine::certs::{self, Made};
use plateau_engine::site::{Overview, Site};

use crate::error::{Error, Result};

/// The site file read when none is named: in the folder Plateau runs from.
pub const SITE_FILE: &str = "plateau.toml";

/// The centre's engines: the named site file, else `plateau.toml` here if
/// there is one, else this host's engine alone.
pub fn load_site(named: Option<&Path>) -> Result<Site> {
    let path = match named {
        Some(path) => PathBuf::from(path),
        None if Path::new(SITE_FILE).is_file() => PathBuf::from(SITE_FILE),
        None => return Ok(Site::local()),
    };
    Site::load(&path).map_err(|report| Error::Invalid(*report))
}

/// Every engine of the site read at once: one that is down or refuses the
/// centre's certificates says so without holding the others up.
pub async fn overview(site: &Site) -> Vec<Overview> {
    futures_util::future::join_all(site.engines.iter().map(|engine| engine.overview())).await
}

/// What each engine of the site allows and which scenario features work
/// there, examined side by side; an engine that cannot be reached says why.
pub async fn doctor(site: &Site) -> Vec<(String, Result<plateau_engine::doctor::Report>)> {
    let examined = site.engines.iter().map(|engine| async move {
        (engine.id.clone(), plateau_engine::doctor::run(engine, "plateau/base:latest").await.map_err(Error::from))
    });
    futures_util::future::join_all(examined).await
}

/// Make (or reuse) the centre's CA, its client certificate and a server
/// certificate for `hosts`.
pub fn make_certs(dir: &Path, hosts: &[String]) -> Result<Made> {
    certs::make(dir, hosts).map_err(|e| Error::Refused(e.to_string()))
}
