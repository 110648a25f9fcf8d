//! Every route of the console for every role, without a network (`oneshot`)
//! and without Docker (the in-memory runtime): who may see and do what.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use plateau_console::{Console, router};
use plateau_engine::{Engine, MemoryEngine};
use plateau_exam::{Role, Roster, Silent, UpRequest, Workspace};
use tower::ServiceExt;

const SCENARIO: &str = include_str!("../../plateau-exam/tests/memory.toml");

struct Room {
    dir: tempfile::TempDir,
    memory: MemoryEngine,
}

impl Room {
    /// Session `mem`: three candidates graded; an operator, a jury for c01
    /// and c02, and candidate c03's own account.
    async fn new() -> Room {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.db");
        let memory = MemoryEngine::new();
        let workspace = Workspace::new(&state, "op").with_engine(Engine::Memory(memory.clone()));
        let request = UpRequest {
            file_name: "memory.toml".into(),
            text: SCENARIO.into(),
            session: "mem".into(),
            roster: Roster::Numbered(3),
            seed: None,
            port_base: 40000,
            access_host: "exam.example".into(),
            gateway: None,
        };
        workspace.up(request, &Silent).await.unwrap();
        workspace.session("mem").unwrap().grade(None, 4, &Silent).await.unwrap();
        workspace.add_account("op", Role::Operator, "operateur-2026", None, &[]).unwrap();
        let mine = ["c01".to_string(), "c02".to_string()];
        workspace.add_account("m.martin", Role::Jury, "jury-martin-2026", Some("mem"), &mine).unwrap();
        workspace.add_account("c03", Role::Candidate, "candidat-2026", Some("mem"), &["c03".to_string()]).unwrap();
        Room { dir, memory }
    }

    fn console(&self) -> Console {
        let memory = self.memory.clone();
        Console::with_workspaces(self.dir.path().join("state.db"), move |state, actor| {
            Workspace::new(state, actor).with_engine(Engine::Memory(memory.clone()))
        })
    }

    /// Status, where it redirects to (else the cookie it sets), and the page.
    async fn send(&self, request: Request<Body>) -> (StatusCode, Option<String>, String) {
        let response = router(self.console()).oneshot(request).await.unwrap();
        let status = response.status();
        let location = response.headers().get(header::LOCATION).map(|l| l.to_str().unwrap().to_string());
        let cookie = response.headers().get(header::SET_COOKIE).map(|c| c.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, cookie.or(location), String::from_utf8_lossy(&body).into_owned())
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> (StatusCode, Option<String>, String) {
        let mut request = Request::get(path);
        if let Some(c) = cookie {
            request = request.header(header::COOKIE, c);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &str) -> (StatusCode, Option<String>, String) {
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            request = request.header(header::COOKIE, c);
        }
        self.send(request.body(Body::from(form.to_string())).unwrap()).await
    }

    /// Sign in; the cookie to send and the page's CSRF token.
    async fn sign_in(&self, name: &str, password: &str) -> (String, String) {
        let (status, set_cookie, _) = self.post("/connexion", None, &format!("name={name}&password={password}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{name} signs in");
        let cookie = set_cookie.unwrap().split(';').next().unwrap().to_string();
        assert!(cookie.starts_with("plateau="), "{cookie}");
        let (_, _, page) = self.get("/", Some(&cookie)).await;
        let (_, _, page) =
            if page.is_empty() { self.get("/s/mem", Some(&cookie)).await } else { (StatusCode::OK, None, page) };
        let csrf = page.split("name=\"csrf\" value=\"").nth(1).and_then(|t| t.split('"').next()).unwrap_or_default();
        (cookie, csrf.to_string())
    }
}

#[tokio::test]
async fn nobody_signed_in_is_sent_to_the_sign_in_page_and_a_wrong_password_is_refused() {
    let room = Room::new().await;
    let (status, to, _) = room.get("/s/mem", None).await;
    assert_eq!((status, to.as_deref()), (StatusCode::SEE_OTHER, Some("/connexion")));
    let (status, _, page) = room.get("/connexion", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Mot de passe") && page.contains("lang=\"fr\""), "{page}");
    let (status, cookie, page) = room.post("/connexion", None, "name=op&password=faux-mot-de-passe").await;
    let cookie = cookie.filter(|c| c.starts_with("plateau="));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(cookie.is_none() && page.contains("incorrect"));
    let (status, to, _) = room.get("/", Some("plateau=forged-token")).await;
    assert_eq!((status, to.as_deref()), (StatusCode::SEE_OTHER, Some("/connexion")), "a forged cookie signs nobody in");
}

#[tokio::test]
async fn a_jury_sees_its_own_candidates_only_and_records_decisions_with_its_name() {
    let room = Room::new().await;
    let (cookie, csrf) = room.sign_in("m.martin", "jury-martin-2026").await;
    let (status, _, page) = room.get("/s/mem", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/s/mem/c/c01") && page.contains("/s/mem/c/c02"), "{page}");
    assert!(!page.contains("/s/mem/c/c03"), "another jury's candidate is not listed: {page}");
    let (status, _, _) = room.get("/s/mem/c/c03", Some(&cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "nor shown");
    let (status, _, grid) = room.get("/s/mem/c/c01", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(grid.contains("CP7.1") && grid.contains("Enregistrer la décision"), "{grid}");
    assert!(grid.contains("<summary>Preuves (") && grid.contains("<pre>$ "), "each check's evidence: {grid}");
    // A criterion left to the jury names what the platform kept for it.
    let cp95 = &grid[grid.find("<tr id=\"CP9.5\">").expect("CP9.5 on the grid")..];
    assert!(cp95[..cp95.find("</tr>").unwrap()].contains("Pièces : le compte rendu remis"), "{cp95}");
    // The form suggests no verdict: the first option, selected, is none.
    let form = &grid[grid.find("<select name=\"verdict\"").expect("a decision form")..];
    let first = &form[..form.find("</option>").unwrap()];
    assert!(first.contains("value=\"\" selected disabled"), "no verdict chosen beforehand: {first}");
    // A form sent without one is refused.
    let none = format!("csrf={csrf}&criterion=CP7.1&verdict=&comment=vu");
    let (status, _, _) = room.post("/s/mem/c/c01/decision", Some(&cookie), &none).await;
    assert!(!status.is_success() && status != StatusCode::SEE_OTHER, "no verdict: {status}");

    // A decision needs the page's CSRF token.
    let decision = "criterion=CP7.1&verdict=met&comment=vu+en+entretien";
    let (status, _, _) = room.post("/s/mem/c/c01/decision", Some(&cookie), decision).await;
    assert!(!status.is_success() && status != StatusCode::SEE_OTHER, "no token: {status}");
    let (status, _, _) = room.post("/s/mem/c/c01/decision", Some(&cookie), &format!("csrf=0000&{decision}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a wrong token");
    let (status, _, _) = room.post("/s/mem/c/c03/decision", Some(&cookie), &format!("csrf={csrf}&{decision}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not this jury's candidate");
    let (status, _, _) = room.post("/s/mem/c/c01/decision", Some(&cookie), &format!("csrf={csrf}&{decision}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, grid) = room.get("/s/mem/c/c01", Some(&cookie)).await;
    assert!(grid.contains("vu en entretien — m.martin"), "{grid}");
    let log = Workspace::new(room.dir.path().join("state.db"), "t").audit_log("mem").unwrap();
    let last = log.last().unwrap();
    assert_eq!((last.action.as_str(), last.actor.as_str()), ("override", "m.martin"), "audited under the jury's name");
    let decisions = log.iter().filter(|e| e.action == "override").count();
    assert_eq!(decisions, 1, "the refused forms recorded nothing");

    // Signed out: the cookie opens nothing any more.
    let (status, cleared, _) = room.post("/deconnexion", Some(&cookie), &format!("csrf={csrf}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(cleared.unwrap().contains("Max-Age=0"), "the browser drops the cookie");
    let (status, to, _) = room.get("/s/mem", Some(&cookie)).await;
    assert_eq!((status, to.as_deref()), (StatusCode::SEE_OTHER, Some("/connexion")));
}

#[tokio::test]
async fn an_operator_sees_every_candidate_and_a_candidate_sees_only_their_own_results() {
    let room = Room::new().await;
    let (cookie, _) = room.sign_in("op", "operateur-2026").await;
    let (_, _, home) = room.get("/", Some(&cookie)).await;
    assert!(home.contains("/s/mem"), "{home}");
    let (_, _, page) = room.get("/s/mem", Some(&cookie)).await;
    for c in ["c01", "c02", "c03"] {
        assert!(page.contains(&format!("/s/mem/c/{c}")), "{c}: {page}");
    }
    assert!(page.contains("plateforme en fonctionnement"), "the grade's basis is shown: {page}");
    assert!(page.contains("pas commencé") && page.contains("ouvert"), "clock and access: {page}");

    let (cookie, _) = room.sign_in("c03", "candidat-2026").await;
    let (status, to, _) = room.get("/", Some(&cookie)).await;
    assert_eq!((status, to.as_deref()), (StatusCode::SEE_OTHER, Some("/s/mem/pratique/c03")), "to their own results");
    let (status, _, own) = room.get("/s/mem/pratique/c03", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(own.contains("Le poste a ses notes") && own.contains("à faire"), "their checks: {own}");
    assert!(!own.contains("CP7.1") && !own.contains("c01"), "no criterion, nobody else: {own}");
    for path in [
        "/s/mem",
        "/s/mem/c/c03",
        "/s/mem/c/c01",
        "/s/mem/pratique/c01",
        "/s/mem/pannes",
        "/s/mem/c/c03/resultats.json",
        "/s/mem/direct",
    ] {
        let (status, _, _) = room.get(path, Some(&cookie)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn only_an_operator_runs_the_room_and_each_action_is_audited_under_their_name() {
    let room = Room::new().await;
    let (jury, jury_csrf) = room.sign_in("m.martin", "jury-martin-2026").await;
    let (status, _, _) = room.post("/s/mem/action", Some(&jury), &format!("csrf={jury_csrf}&action=start")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a jury does not start the exam");

    let (op, csrf) = room.sign_in("op", "operateur-2026").await;
    let (status, _, _) = room.post("/s/mem/action", Some(&op), "action=start").await;
    assert!(!status.is_success() && status != StatusCode::SEE_OTHER, "no token: {status}");
    let (status, _, _) = room.post("/s/mem/action", Some(&op), &format!("csrf={csrf}&action=start&duration=1h")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = room.get("/s/mem", Some(&op)).await;
    assert!(page.contains("0:59:5") || page.contains("1:00:00"), "the clock: {page}");

    let extend = format!("csrf={csrf}&action=extend&candidate=c02&duration=15min");
    assert_eq!(room.post("/s/mem/action", Some(&op), &extend).await.0, StatusCode::BAD_REQUEST, "no reason");
    let extend = format!("{extend}&reason=tiers-temps");
    assert_eq!(room.post("/s/mem/action", Some(&op), &extend).await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = room.get("/s/mem", Some(&op)).await;
    assert!(
        (page.contains("1:14:5") || page.contains("1:15:00")) && page.contains("dont 15 min accordées"),
        "the extra time: {page}"
    );

    let close = format!("csrf={csrf}&action=close&candidate=c03");
    assert_eq!(room.post("/s/mem/action", Some(&op), &close).await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = room.get("/s/mem", Some(&op)).await;
    let c03 = page.split("id=\"c03-acces\"").nth(1).unwrap();
    assert!(c03.split("</td>").next().unwrap().contains("fermé"), "c03's access closed: {page}");
    let reset = format!("csrf={csrf}&action=reset&candidate=c03");
    assert_eq!(room.post("/s/mem/action", Some(&op), &reset).await.0, StatusCode::BAD_REQUEST, "not confirmed");
    assert_eq!(room.post("/s/mem/action", Some(&op), &format!("{reset}&confirm=oui")).await.0, StatusCode::SEE_OTHER);

    let freeze = format!("csrf={csrf}&action=freeze&candidate=c01");
    assert_eq!(room.post("/s/mem/action", Some(&op), &freeze).await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = room.get("/s/mem", Some(&op)).await;
    assert!(page.contains("figé à") && page.contains("note de référence"), "c01 frozen and graded: {page}");
    let regrade = format!("csrf={csrf}&action=regrade&candidate=c01&reason=recours");
    assert_eq!(room.post("/s/mem/action", Some(&op), &regrade).await.0, StatusCode::SEE_OTHER);

    let log = Workspace::new(room.dir.path().join("state.db"), "t").audit_log("mem").unwrap();
    for action in ["exam.start", "exam.extend", "access.close", "reset", "exam.freeze", "grade"] {
        let entry = log.iter().rev().find(|e| e.action == action).unwrap_or_else(|| panic!("{action} audited"));
        assert_eq!(entry.actor, "op", "{action}");
    }
    assert!(log.iter().any(|e| e.action == "exam.extend" && e.detail.contains("tiers-temps")), "the reason is kept");
    assert!(log.iter().any(|e| e.action == "grade" && e.detail.contains("recours")), "the regrade's reason is audited");
    assert_eq!(log.iter().filter(|e| e.action == "reset").count(), 1, "the unconfirmed reset did nothing");
}

#[tokio::test]
async fn a_trainer_injects_a_fault_sees_it_repaired_and_reverts_it() {
    let room = Room::new().await;
    let workspace = Workspace::new(room.dir.path().join("state.db"), "op");
    workspace.add_account("f.durand", Role::Trainer, "formateur-2026", Some("mem"), &[]).unwrap();
    let (jury, jury_csrf) = room.sign_in("m.martin", "jury-martin-2026").await;
    assert_eq!(room.get("/s/mem/pannes", Some(&jury)).await.0, StatusCode::FORBIDDEN, "not a jury's page");
    let inject = "action=inject&candidate=c01&fault=smbd-stopped";
    let (status, _, _) = room.post("/s/mem/pannes/action", Some(&jury), &format!("csrf={jury_csrf}&{inject}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "nor a jury's action");

    let (trainer, csrf) = room.sign_in("f.durand", "formateur-2026").await;
    let (status, _, page) = room.get("/s/mem/pannes", Some(&trainer)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Partage arrêté") && page.contains("stop-service"), "scenario and built-in faults: {page}");
    let (status, _, _) = room.post("/s/mem/pannes/action", Some(&trainer), &format!("csrf={csrf}&{inject}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let grade = format!("csrf={csrf}&action=grade&candidate=c01");
    assert_eq!(room.post("/s/mem/pannes/action", Some(&trainer), &grade).await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = room.get("/s/mem/pannes", Some(&trainer)).await;
    assert!(page.contains("pas encore réparée"), "{page}");
    let (_, _, room_page) = room.get("/s/mem", Some(&trainer)).await;
    assert!(room_page.contains("Partage arrêté <span class=\"fail\">(présente)"), "the room shows it too: {room_page}");

    let later = format!("csrf={csrf}&action=inject&candidate=c02&fault=smbd-stopped&at=%2B10min");
    assert_eq!(room.post("/s/mem/pannes/action", Some(&trainer), &later).await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = room.get("/s/mem/pannes", Some(&trainer)).await;
    assert!(page.contains("smbd-stopped prévue à"), "scheduled: {page}");

    let revert = format!("csrf={csrf}&action=revert&candidate=c01&fault=smbd-stopped");
    assert_eq!(room.post("/s/mem/pannes/action", Some(&trainer), &revert).await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = room.get("/s/mem/pannes", Some(&trainer)).await;
    assert!(!page.contains("pas encore réparée"), "{page}");
    let commands: Vec<String> = room.memory.state().execs.iter().map(|(_, c)| c.clone()).collect();
    assert!(commands.contains(&"plateau-service start smbd".to_string()), "{commands:?}");
    let log = workspace.audit_log("mem").unwrap();
    for action in ["fault.inject", "fault.schedule", "fault.revert"] {
        assert!(log.iter().any(|e| e.action == action && e.actor == "f.durand"), "{action} under the trainer's name");
    }
}

#[tokio::test]
async fn the_grid_downloads_for_those_who_see_it() {
    let room = Room::new().await;
    let (jury, _) = room.sign_in("m.martin", "jury-martin-2026").await;
    let (status, _, json) = room.get("/s/mem/c/c01/resultats.json", Some(&jury)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(json.contains("\"CP7.1\""), "{json}");
    let (_, _, html) = room.get("/s/mem/c/c01/grille.html", Some(&jury)).await;
    assert!(html.contains("<html") && html.contains("CP7.1"), "{html}");
    let (_, _, csv) = room.get("/s/mem/c/c02/resultats.csv", Some(&jury)).await;
    assert!(csv.contains("c02"), "{csv}");
    assert_eq!(room.get("/s/mem/c/c03/resultats.json", Some(&jury)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(room.get("/s/mem/c/c01/secret.txt", Some(&jury)).await.0, StatusCode::NOT_FOUND);

    // A terminal's full recording, linked from the grid, for those who see the candidate.
    let recordings = room.dir.path().join("mem/recordings");
    for candidate in ["c01", "c03"] {
        std::fs::create_dir_all(recordings.join(candidate)).unwrap();
        std::fs::write(recordings.join(candidate).join("ws-1796279809401.cast"), "{\"version\": 2}\n").unwrap();
    }
    let (_, _, grid) = room.get("/s/mem/c/c01", Some(&jury)).await;
    assert!(grid.contains("href=\"/s/mem/c/c01/ws-1796279809401.cast\""), "{grid}");
    let (status, _, cast) = room.get("/s/mem/c/c01/ws-1796279809401.cast", Some(&jury)).await;
    assert_eq!((status, cast.as_str()), (StatusCode::OK, "{\"version\": 2}\n"));
    assert_eq!(room.get("/s/mem/c/c03/ws-1796279809401.cast", Some(&jury)).await.0, StatusCode::FORBIDDEN);
    let (candidate, _) = room.sign_in("c03", "candidat-2026").await;
    assert_eq!(room.get("/s/mem/c/c03/ws-1796279809401.cast", Some(&candidate)).await.0, StatusCode::FORBIDDEN);
    assert_ne!(room.get("/s/mem/c/c01/ws-0.cast", Some(&jury)).await.0, StatusCode::OK, "no such recording");
}

#[tokio::test]
async fn a_live_page_sends_its_render_then_each_change() {
    use http_body_util::BodyExt;
    let room = Room::new().await;
    let (op, csrf) = room.sign_in("op", "operateur-2026").await;
    let request = Request::get("/s/mem/direct").header(header::COOKIE, &op).body(Body::empty()).unwrap();
    let response = router(room.console()).oneshot(request).await.unwrap();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = response.into_body();
    let mut next = async || -> String {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame()).await;
        String::from_utf8(frame.expect("an event within 5 s").unwrap().unwrap().into_data().unwrap().to_vec()).unwrap()
    };
    let first = next().await;
    assert!(first.starts_with("data: ") && first.contains("pas commencé"), "{first}");
    room.post("/s/mem/action", Some(&op), &format!("csrf={csrf}&action=start&duration=1h")).await;
    let second = next().await;
    assert!(second.contains("restantes"), "the start reaches the page: {second}");
}

#[tokio::test]
async fn a_terminal_is_its_candidates_to_type_in_others_watch_and_only_staff_take_control() {
    let room = Room::new().await;
    let (cookie, csrf) = room.sign_in("c03", "candidat-2026").await;
    let (status, _, page) = room.get("/s/mem/terminal/c03/ws", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Votre session est enregistrée") && page.contains("data-writer=\"oui\""), "{page}");
    assert!(!page.contains("Prendre la main"), "{page}");
    let (status, _, _) = room.get("/s/mem/terminal/c01/ws", Some(&cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another candidate's terminal");
    let (status, _, _) = room.get("/s/mem/terminal/c03/srv", Some(&cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a node the candidate has no access to");
    let (status, _, _) = room.post("/s/mem/terminal/c03/ws/main", Some(&cookie), &format!("csrf={csrf}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a candidate takes no one's control");

    // The jury watches its own candidates only, and never types.
    let (cookie, csrf) = room.sign_in("m.martin", "jury-martin-2026").await;
    let (status, _, page) = room.get("/s/mem/terminal/c01/ws", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Lecture seule") && page.contains("data-writer=\"non\""), "{page}");
    let (status, _, _) = room.get("/s/mem/terminal/c03/ws", Some(&cookie)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not the jury's candidate");
    let (status, _, _) = room.post("/s/mem/terminal/c01/ws/main", Some(&cookie), &format!("csrf={csrf}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a jury does not take control");

    // The access is closed: the candidate's page says so instead of a terminal.
    room.memory.state().open.clear();
    let (cookie, _) = room.sign_in("c03", "candidat-2026").await;
    let (_, _, page) = room.get("/s/mem/terminal/c03/ws", Some(&cookie)).await;
    assert!(page.contains("Votre accès est fermé") && !page.contains("data-stream"), "{page}");
}
