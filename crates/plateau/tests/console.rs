//! The web console in a real headless browser (Chromium over WebDriver), on
//! a real session of `tai-small` with two candidates: each role signs in
//! and does its part of exam day, and sees what it must (and only that).
//! With `PLATEAU_SCREENSHOTS=DIR` the pages are kept as PNG files there
//! (`scripts/console-screenshots` fills `docs/console/`).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Exam, Running, Ssh, eventually, free_port, wait_for_port};
use fantoccini::{Client, ClientBuilder, Locator};

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
    driver_port: u16,
}
/// The console of `exam`'s state and a WebDriver, both killed on drop, and
/// a headless Chromium on the console.
async fn console_and_browser(exam: &Exam, extra: &[&str]) -> (Running, Running, Browser) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--listen", &listen];
    args.extend_from_slice(extra);
    let console = Running(exam.command(&args).stdout(Stdio::null()).spawn().unwrap());
    let driver_port = free_port();
    let driver = Running(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, "the console");
    wait_for_port(driver_port, "chromedriver");
    let browser = browser(driver_port, &format!("http://{listen}")).await;
    (console, driver, browser)
}

/// Another headless Chromium (its own cookies) from the same WebDriver.
async fn browser(driver_port: u16, base: &str) -> Browser {
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
    Browser { client, base: base.to_string(), driver_port }
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
        self.shows_within(css, wanted, seconds)
            .await
            .unwrap_or_else(|text| panic!("{css} never showed {wanted:?}: {text}"))
    }

    /// `css`'s text once it shows `wanted`, or the last text it showed
    /// when `seconds` ran out.
    async fn shows_within(&self, css: &str, wanted: &str, seconds: u64) -> Result<String, String> {
        let start = Instant::now();
        loop {
            let text = self.text(css).await;
            if text.contains(wanted) {
                return Ok(text);
            }
            if start.elapsed() >= Duration::from_secs(seconds) {
                return Err(text);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until the desktop's state shows `wanted`; when it does not,
    /// say what the gateway and the node saw (a view that never connects
    /// is otherwise a bare "connexion…").
    async fn until_desktop_shows(&self, exam: &Exam, wanted: &str, seconds: u64) {
        let Err(text) = self.shows_within("#etat-bureau", wanted, seconds).await else { return };
        let audit = exam.ok(&["audit", "show", "--session", &exam.session]);
        let audit: Vec<&str> = audit.lines().filter(|l| l.contains(" desktop.")).collect();
        let node = common::sh(
            &exam.container("c01", "ws"),
            "ps -eo pid,ppid,etime,args; tail -n 30 /var/log/plateau/desktop-*.log",
        );
        // What the page loaded (a module still on its way is missing).
        let script = "return [String(window.plateauBureau)].concat(performance.getEntriesByType('resource') \
                      .map(e => e.name.replace(location.origin, '') + ' ' + e.responseStatus + ' ' \
                      + Math.round(e.duration) + ' ms')).join('\\n');";
        let loaded = match self.client.execute(script, vec![]).await {
            Ok(v) => v.as_str().unwrap_or_default().to_string(),
            Err(e) => e.to_string(),
        };
        panic!(
            "#etat-bureau never showed {wanted:?}: {text}\ngateway: {audit:#?}\npage (started, then resources):\n{loaded}\nnode:\n{}{}",
            String::from_utf8_lossy(&node.stdout),
            String::from_utf8_lossy(&node.stderr)
        );
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

    let (_console, _driver, browser) = console_and_browser(&exam, &[]).await;
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
    let pdf = plateau_grade::tls::http_client()
        .build()
        .unwrap()
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

impl Browser {
    /// Keys typed into the page's terminal (`\n` is Enter).
    async fn type_in_terminal(&self, keys: &str) {
        let field = self.client.find(Locator::Css(".xterm-helper-textarea")).await.unwrap();
        field.send_keys(keys).await.unwrap();
    }

    /// The terminal's screen, line by line.
    async fn screen(&self) -> Vec<String> {
        self.text(".xterm-rows").await.lines().map(|l| l.trim_end().to_string()).collect()
    }

    /// Wait until a line of the terminal's screen is exactly `line`.
    async fn until_line(&self, line: &str, seconds: u64) {
        let start = Instant::now();
        while !self.screen().await.iter().any(|l| l == line) {
            assert!(start.elapsed() < Duration::from_secs(seconds), "no line {line:?} on {:?}", self.screen().await);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Browser {
    /// Wait until the page's desktop shows Xfce (see `desktop_colours`).
    async fn until_desktop_drawn(&self, seconds: u64) {
        let start = Instant::now();
        while self.desktop_colours().await < 20 {
            let colours = self.desktop_colours().await;
            assert!(start.elapsed() < Duration::from_secs(seconds), "the desktop never drew: {colours} colours");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// How many colours a sample of the page's desktop shows (a blank or
    /// one-colour screen shows one or two; Xfce's panel and icons, dozens).
    async fn desktop_colours(&self) -> u64 {
        let script = "const c = document.querySelector('#bureau canvas'); if (!c || !c.width) return 0; \
                      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
                      const seen = new Set(); for (let i = 0; i < d.length; i += 4 * 97) \
                      seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); return seen.size;";
        self.client.execute(script, vec![]).await.unwrap().as_u64().unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_candidates_browser_terminal_and_desktop_are_recorded_watched_read_only_and_cut_with_the_access() {
    let Some(exam) = Exam::new("term") else { return };
    if !plateau_tests::browser_available() {
        return;
    }
    // The freeze's snapshots outlive `down`: removed after the test.
    let _snapshots = common::Snapshots(exam.session.clone());
    // The small exam, its workstation with a desktop.
    let scenario = exam.scenario("scenarios/tai-small.toml", |text| {
        let text = text.replacen(
            "id = \"ws\"\nrole = \"workstation\"\n",
            "id = \"ws\"\nrole = \"workstation\"\ndesktop = true\n",
            1,
        );
        assert!(text.contains("desktop = true"));
        text
    });
    // Through the seat gateway: each candidate's sheet gives the SSH
    // gateway and a console account of their own; the relays are published
    // on the host's loopback only (the room reaches nothing unrecorded).
    let ssh_port = free_port();
    let gateway = format!("127.0.0.1:{ssh_port}");
    exam.ok(&[
        "up",
        &scenario,
        "--session",
        &exam.session,
        "-n",
        "2",
        "--port-base",
        "42400",
        "--ssh-gateway",
        &gateway,
    ]);
    let session = exam.session.clone();
    let sheet_password = |c: &str| {
        let sheet = std::fs::read_to_string(exam.state.path().join(&session).join(format!("access/{c}.md"))).unwrap();
        assert!(sheet.contains(&format!("`ssh -p {ssh_port} {c}@127.0.0.1`")), "{sheet}");
        assert!(sheet.contains(&format!("`ssh -p {ssh_port} {c}+dhcp@127.0.0.1`")), "{sheet}");
        let row = sheet.lines().find(|l| l.starts_with("| Mot de passe |")).unwrap().to_string();
        row.split('`').nth(1).unwrap().to_string()
    };
    let (p1, p2) = (sheet_password("c01"), sheet_password("c02"));
    let relay = exam.container("c01", "access");
    let bound = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{json .HostConfig.PortBindings}}", &relay])
        .output()
        .unwrap();
    let bound = String::from_utf8_lossy(&bound.stdout).into_owned();
    assert!(bound.contains("\"HostIp\":\"127.0.0.1\"") && bound.contains("42401"), "{bound}");
    add_account(&exam, "formateur", "formateur-2026", &["--role", "trainer", "--session", &session]);
    add_account(&exam, "jury1", "jury-un-2026", &["--role", "jury", "--session", &session, "--candidates", "c01"]);
    exam.ok(&["exam", "start", "--session", &session, "--duration", "1h"]);
    let (_console, _driver, candidate) = console_and_browser(&exam, &["--ssh", &format!("127.0.0.1:{ssh_port}")]).await;
    wait_for_port(ssh_port, "the SSH gateway");
    let terminal = format!("/s/{session}/terminal/c01/ws");

    // The candidate opens their workstation's terminal and works in it.
    candidate.sign_in("c01", &p1).await;
    candidate.open(&format!("/s/{session}/terminal/c02/ws")).await;
    assert!(candidate.text("main").await.contains("Accès refusé"), "another candidate's terminal");
    candidate.open(&terminal).await;
    candidate.until_shows("#etat-terminal", "connecté", 30).await;
    candidate.type_in_terminal("hostname\n").await;
    candidate.until_line("pc-c01", 20).await;
    candidate.screenshot("terminal").await;

    // A trainer watches over the shoulder: they see what the candidate
    // types, and what they type themselves never reaches the shell.
    let trainer = browser(candidate.driver_port, &candidate.base).await;
    trainer.sign_in("formateur", "formateur-2026").await;
    trainer.open(&terminal).await;
    trainer.until_shows("#etat-terminal", "lecture seule", 30).await;
    candidate.type_in_terminal("echo vu-par-le-formateur\n").await;
    trainer.until_line("vu-par-le-formateur", 20).await;
    trainer.type_in_terminal("echo INTRUS\n").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!candidate.screen().await.iter().any(|l| l.contains("INTRUS")), "{:?}", candidate.screen().await);
    // Taking control is its own action, audited: then the trainer's keys reach the shell.
    trainer.click("form[action$='/main'] button").await;
    trainer.until_shows("main", "Vous avez la main", 10).await;
    trainer.until_shows("#etat-terminal", "connecté", 30).await;
    trainer.type_in_terminal("echo aide-du-formateur\n").await;
    candidate.until_line("aide-du-formateur", 20).await;
    let log = exam.ok(&["audit", "show", "--session", &session]);
    assert!(log.lines().any(|l| l.contains(" terminal.take-control ") && l.contains("formateur")), "{log}");

    // The desktop: Xfce on the workstation, as the candidate's account, in
    // their browser (a tab of its own); the trainer looks over their shoulder.
    let desktop = format!("/s/{session}/bureau/c01/ws");
    let seat = browser(candidate.driver_port, &candidate.base).await;
    seat.sign_in("c01", &p1).await;
    seat.open(&format!("/s/{session}/bureau/c02/ws")).await;
    assert!(seat.text("main").await.contains("Accès refusé"), "another candidate's desktop");
    seat.open(&desktop).await;
    seat.until_desktop_shows(&exam, "connecté", 60).await;
    let ws = exam.container("c01", "ws");
    let user = eventually(&ws, "ps -o user= -C xfce4-panel", 60, "Xfce's panel runs");
    assert_eq!(user.trim(), "technicien", "the desktop is the candidate's account's");
    seat.until_desktop_drawn(60).await;
    seat.screenshot("bureau").await;
    trainer.open(&desktop).await;
    trainer.until_desktop_shows(&exam, "lecture seule", 60).await;
    // Connected first, drawn when the first screen update arrives.
    trainer.until_desktop_drawn(30).await;
    let log = exam.ok(&["audit", "show", "--session", &session]);
    assert!(log.lines().any(|l| l.contains(" desktop.open ") && l.contains("\"look_only\":true")), "{log}");

    // SSH through the gateway: the console account's password, the entry
    // node by default or the one named; one shell per connection.
    assert!(Ssh::connect(ssh_port, "c01", "mauvais").await.is_err(), "a wrong password");
    assert!(Ssh::connect(ssh_port, "c01+srv", &p1).await.is_err(), "a node without access");
    let mut by_ssh = Ssh::connect(ssh_port, "c01", &p1).await.unwrap();
    by_ssh.send("echo $(hostname)-par-ssh\n").await;
    by_ssh.until("pc-c01-par-ssh", 20).await;
    assert!(by_ssh.seen.starts_with("Plateau : votre session est enregistrée"), "{}", by_ssh.seen);
    let mut on_dhcp = Ssh::connect(ssh_port, "c01+dhcp", &p1).await.unwrap();
    on_dhcp.send("echo $((6*7))-sur-$(hostname)\n").await;
    on_dhcp.until("42-sur-", 20).await;
    assert!(!on_dhcp.seen.contains("42-sur-pc-c01"), "the DHCP server, not the workstation: {}", on_dhcp.seen);
    // The trainer looks over the shoulder of an SSH session too (no
    // browser terminal is open on the DHCP server), read-only.
    trainer.open(&format!("/s/{session}/terminal/c01/dhcp")).await;
    trainer.until_shows("#etat-terminal", "lecture seule", 30).await;
    on_dhcp.send("echo suivi-en-direct\n").await;
    trainer.until_line("suivi-en-direct", 20).await;
    trainer.type_in_terminal("echo INTRUS-SSH\n").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    on_dhcp.send("echo fin-du-suivi\n").await;
    on_dhcp.until("fin-du-suivi", 20).await;
    assert!(!on_dhcp.seen.contains("INTRUS-SSH"), "a viewer's keys reached the SSH session: {}", on_dhcp.seen);
    let mut other = Ssh::connect(ssh_port, "c02", &p2).await.unwrap();
    other.send("echo $(hostname)-par-ssh\n").await;
    other.until("pc-c02-par-ssh", 20).await;

    // A fault, worked through the terminal and SSH: its timeline on the jury's grid.
    let injected = exam.ok(&["fault", "inject", "dhcp-stopped", "--session", &session, "--candidate", "c01"]);
    let id = injected.split_whitespace().nth(2).unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(50)).await;
    candidate.type_in_terminal("ip -4 route\n").await;
    candidate.type_in_terminal("echo diagnostic-fait\n").await;
    candidate.until_line("diagnostic-fait", 20).await;
    by_ssh.send("echo repare-$((1+1))-par-ssh\n").await;
    by_ssh.until("repare-2-par-ssh", 20).await;
    exam.ok(&["fault", "revert", &id, "--session", &session, "--candidate", "c01"]);
    trainer.sign_in("jury1", "jury-un-2026").await;
    trainer.open(&format!("/s/{session}/c/c01")).await;
    let grid = trainer.text("main").await;
    assert!(grid.contains("Service DHCP arrêté — injectée à"), "{grid}");
    assert!(grid.contains("ip -4 route") && grid.contains("echo diagnostic-fait"), "{grid}");
    assert!(grid.contains("echo repare-$((1+1))-par-ssh"), "typed over SSH: {grid}");
    let during = trainer.text("#interventions").await;
    assert!(!during.contains("vu-par-le-formateur"), "typed before the fault: {during}");
    // What was typed before, under the preparatory phase's block whose checks read ws.
    let before = trainer.text("#preparation").await;
    assert!(before.contains("vu-par-le-formateur") && !before.contains("diagnostic-fait"), "{before}");
    trainer.client.execute("document.getElementById('interventions').scrollIntoView()", vec![]).await.unwrap();
    trainer.screenshot("chronologie").await;

    // Root on the node, the candidate finds no recording to change or delete.
    let dir = exam.state.path().join(&session).join("recordings/c01");
    // `NODE-MILLIS.cast`: on ws, the browser's terminal opened first.
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 3, "the browser's, and one per SSH connection: {files:?}");
    let file = files.iter().find(|f| f.file_name().unwrap().to_string_lossy().starts_with("ws-")).unwrap().clone();
    let before = std::fs::read(&file).unwrap();
    let found = common::sh(&exam.container("c01", "ws"), "find / -xdev -name '*.cast' -print -delete 2>/dev/null");
    assert_eq!(String::from_utf8_lossy(&found.stdout), "", "a recording on the node");
    assert!(std::fs::read(&file).unwrap().starts_with(&before), "the recording changed");

    // Time is up: the terminal ends with the access, and does not reopen.
    exam.ok(&["exam", "freeze", "--session", &session]);
    candidate.until_shows("#etat-terminal", "l'accès est fermé", 10).await;
    for ssh in [&mut by_ssh, &mut on_dhcp, &mut other] {
        ssh.until_closed(10).await;
    }
    let mut late = Ssh::connect(ssh_port, "c02", &p2).await.unwrap();
    late.until("Votre accès est fermé", 10).await;
    late.until_closed(10).await;
    seat.until_desktop_shows(&exam, "l'accès est fermé", 10).await;
    candidate.open(&terminal).await;
    assert!(candidate.text("main").await.contains("Votre accès est fermé"), "{}", candidate.text("main").await);

    // The recording, on the controller (no candidate reaches it), is
    // asciicast v2: what the candidate saw, never the trainer's keys, and
    // `asciinema play` replays it.
    let recording = std::fs::read_to_string(&file).unwrap();
    let header: serde_json::Value = serde_json::from_str(recording.lines().next().unwrap()).unwrap();
    assert_eq!(header["version"], 2, "{recording}");
    assert!(recording.contains("vu-par-le-formateur") && !recording.contains("INTRUS"), "{recording}");
    let replay = std::process::Command::new("asciinema")
        .args(["play", "--idle-time-limit", "0.01", "--speed", "100"])
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("asciinema is installed (scripts/lib.sh need_browser)");
    let shown = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success() && shown.contains("diagnostic-fait"), "asciinema play: {shown}");
    let over_ssh = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).filter(|r| r.contains("repare-2-par-ssh"));
    assert_eq!(over_ssh.count(), 1, "the SSH session's own recording");
    candidate.client.close().await.unwrap();
    trainer.client.close().await.unwrap();
    seat.client.close().await.unwrap();
}
