//! The printable grid as PDF: the same HTML the jury reads, printed by a
//! headless Chromium on this machine (offline: the page loads nothing).

use std::time::Duration;

use crate::context::SessionCtx;
use crate::error::{Error, Result, refuse};

/// Programs tried, in order, when `PLATEAU_CHROMIUM` does not name one.
const BROWSERS: &[&str] = &["chromium", "chromium-browser", "google-chrome"];
/// How long one print may take.
const PRINT_LIMIT: Duration = Duration::from_secs(60);

/// The headless browser that prints, if this machine has one.
pub fn browser() -> Option<std::path::PathBuf> {
    if let Some(named) = std::env::var_os("PLATEAU_CHROMIUM") {
        return Some(named.into());
    }
    let path = std::env::var_os("PATH")?;
    BROWSERS.iter().flat_map(|b| std::env::split_paths(&path).map(move |dir| dir.join(b))).find(|p| p.is_file())
}

/// Print an HTML document to PDF.
pub async fn print(html: &str) -> Result<Vec<u8>> {
    let Some(browser) = browser() else {
        refuse!("no headless browser to print the PDF: install Debian's `chromium` (or set PLATEAU_CHROMIUM)")
    };
    let dir = tempfile::tempdir().map_err(Error::io("a temporary directory"))?;
    let page = dir.path().join("grille.html");
    let pdf = dir.path().join("grille.pdf");
    std::fs::write(&page, html).map_err(Error::io(&page))?;
    let mut print = tokio::process::Command::new(&browser);
    print
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", "--no-first-run"])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(PRINT_LIMIT, print.output()).await {
        Ok(out) => out.map_err(Error::io(&browser))?,
        Err(_) => refuse!("{} did not print the PDF within {} s", browser.display(), PRINT_LIMIT.as_secs()),
    };
    match std::fs::read(&pdf) {
        Ok(bytes) if bytes.starts_with(b"%PDF") => Ok(bytes),
        _ => refuse!(
            "{} printed no PDF ({}): {}",
            browser.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default()
        ),
    }
}

impl SessionCtx {
    /// A candidate's printable grid, as PDF (the report's grid, printed).
    pub async fn grid_pdf(&self, candidate: &str) -> Result<Vec<u8>> {
        let report = self.report(Some(candidate))?;
        let Some(grade) = report.candidates.first() else { refuse!("no grade for {candidate}") };
        print(&plateau_report::grid(&report, grade)).await
    }
}
