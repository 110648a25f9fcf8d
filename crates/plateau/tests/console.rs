//! The web console in a real headless browser (Chromium over WebDriver), on
//! a real session of `tai-small` with two candidates: each role signs in
//! and does its part of exam day, and sees what it must (and only that).
//! With `PLATEAU_SCREENSHOTS=DIR` the pages are kept as PNG files there
//! (`scripts/console-screenshots` fills `docs/console/`).

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Exam;
use fantoccini::{Client, ClientBuilder, Locator};

/// A child process killed on drop (the console, the WebDriver).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16, what: &str) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "{what} does not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn add_account(exam: &Exam, name: &str, password: &str, extra: &[&str]) {
    let mut args = vec!["accounts", "add", name];
    args.extend_from_slice(extra);
    let mut child = exam.command(&args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "account {name}");
}

/// The browser, on the console at `base`.
struct Browser {
    client: Client,
    base: String,
}

impl Browser {
    async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// The element's text; found again when the page was replaced meanwhile
    /// (a form's answer loading).
    async fn text(&self, css: &str) -> String {
        let mut tries = 0;
        loop {
            let read = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await,
                Err(e) => Err(e),
            };
            match read {
                Ok(text) => return text,
                Err(e) if tries == 50 => panic!("{css}: {e}"),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    async fn click(&self, css: &str) {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// Wait until `css` shows `wanted` (a live page updates by itself).
    async fn until_shows(&self, css: &str, wanted: &str, seconds: u64) -> String {
        let start = Instant::now();
        loop {
            let text = self.text(css).await;
            if text.contains(wanted) {
                return text;
            }
            assert!(start.elapsed() < Duration::from_secs(seconds), "{css} never showed {wanted:?}: {text}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn sign_in(&self, name: &str, password: &str) {
        self.client.delete_all_cookies().await.unwrap();
        self.open("/connexion").await;
        self.fill("input[name=name]", name).await;
        self.fill("input[name=password]", password).await;
        self.click("button[type=submit]").await;
        self.until_shows("header", name, 10).await;
    }

    async fn screenshot(&self, name: &str) {
        if let Some(dir) = std::env::var_os("PLATEAU_SCREENSHOTS") {
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
        }
    }

    /// The session cookie, to fetch a file as this browser would.
    async fn cookie(&self) -> String {
        let cookie = self.client.get_named_cookie("plateau").await.unwrap();
        format!("plateau={}", cookie.value())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exam_day_in_the_browser_for_every_role() {
    let Some(exam) = Exam::new("web") else { return };
    if !plateau_tests::browser_available() {
        return;
    }
    exam.up("2", "42300");
    let session = exam.session.clone();
    add_account(&exam, "operateur", "operateur-2026", &["--role", "operator"]);
    add_account(&exam, "formateur", "formateur-2026", &["--role", "trainer", "--session", &session]);
    add_account(&exam, "jury1", "jury-un-2026", &["--role", "jury", "--session", &session, "--candidates", "c01"]);
    add_account(&exam, "c02", "candidat-2026", &["--role", "candidate", "--session", &session, "--candidates", "c02"]);

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _console = Running(exam.command(&["serve", "--listen", &listen]).stdout(Stdio::null()).spawn().unwrap());
    let driver_port = free_port();
    let _driver = Running(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, "the console");
    wait_for_port(driver_port, "chromedriver");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1500,950"] }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("chromedriver starts a headless Chromium");
    let browser = Browser { client, base: format!("http://{listen}") };
    let room = format!("/s/{session}");

    // Nobody signed in: the sign-in page.
    browser.open(&room).await;
    assert!(browser.client.current_url().await.unwrap().path().ends_with("/connexion"));
    browser.screenshot("connexion").await;

    // The operator starts the exam and watches the clock run, live.
    browser.sign_in("operateur", "operateur-2026").await;
    browser.open(&room).await;
    browser.click("form[action$='/action'] input[value=start] ~ button").await;
    let first = browser.until_shows("#c01-temps", "restantes", 10).await;
    browser.client.execute("window.notReloaded = true; return 1", vec![]).await.unwrap();
    let start = Instant::now();
    let later = loop {
        let now = browser.text("#c01-temps").await;
        if now != first {
            break now;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "the clock stands still: {now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let same_page = browser.client.execute("return window.notReloaded === true", vec![]).await.unwrap();
    assert_eq!(same_page, serde_json::Value::Bool(true), "the clock moved from {first} to {later} without a reload");
    assert!(browser.text("#c01-acces").await.contains("ouvert"), "access open");
    assert!(browser.text("#c02-machines").await.contains("4 / 4 en marche"), "{}", browser.text("#c02-machines").await);
    browser.screenshot("salle").await;

    // The trainer injects a fault into c01's platform and sees it there.
    browser.sign_in("formateur", "formateur-2026").await;
    browser.open(&format!("{room}/pannes")).await;
    browser.click("#p-c01 td:last-child select[name=fault] option[value=dhcp-stopped]").await;
    browser.click("#p-c01 td:last-child button").await;
    browser.until_shows("#c01-presentes", "Service DHCP arrêté", 30).await;
    browser.click("form input[value=grade] ~ button").await;
    browser.until_shows("#c01-presentes", "pas encore réparée", 60).await;
    browser.screenshot("pannes").await;
    browser.open(&room).await;
    browser.until_shows("#c01-pannes", "Service DHCP arrêté", 10).await;

    // The jury records a decision on its candidate's grid, and only there.
    browser.sign_in("jury1", "jury-un-2026").await;
    browser.open(&format!("{room}/c/c02")).await;
    assert!(browser.text("main").await.contains("Accès refusé"), "another jury's candidate");
    browser.open(&format!("{room}/c/c01")).await;
    let form = "form[action$='/decision']";
    browser.click(&format!("{form} option[value=partial]")).await;
    browser.fill(&format!("{form} textarea"), "Relance le service sans aide.").await;
    browser.click(&format!("{form} button")).await;
    browser.until_shows("main", "Relance le service sans aide. — jury1", 10).await;
    browser.screenshot("grille").await;

    // The printable grid, as PDF, says what the jury decided.
    let pdf = reqwest::Client::new()
        .get(format!("{}{room}/c/c01/grille.pdf", browser.base))
        .header("cookie", browser.cookie().await)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200, "{:?}", pdf.text().await);
    let pdf = pdf.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    let file = exam.state.path().join("grille.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let text = Command::new("pdftotext").arg(&file).arg("-").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Relance le service sans aide."), "the decision is in the PDF: {text}");
    assert!(text.contains("c01"), "the candidate is named: {text}");

    // The candidate sees their own checks, nothing of anyone else.
    browser.sign_in("c02", "candidat-2026").await;
    let own = browser.text("main").await;
    assert!(own.contains("Mes résultats") && own.contains("à faire"), "{own}");
    browser.screenshot("pratique").await;
    browser.open(&room).await;
    assert!(browser.text("main").await.contains("Accès refusé"), "the room is not a candidate's");

    browser.client.close().await.unwrap();
    let log = exam.ok(&["audit", "show", "--session", &session]);
    for (action, who) in [("exam.start", "operateur"), ("fault.inject", "formateur"), ("override", "jury1")] {
        assert!(log.lines().any(|l| l.contains(&format!(" {action} ")) && l.contains(who)), "{action} by {who}: {log}");
    }
}
