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
async fn an_operator_sees_every_candidate_and_a_candidate_sees_no_grid() {
    let room = Room::new().await;
    let (cookie, _) = room.sign_in("op", "operateur-2026").await;
    let (_, _, home) = room.get("/", Some(&cookie)).await;
    assert!(home.contains("/s/mem"), "{home}");
    let (_, _, page) = room.get("/s/mem", Some(&cookie)).await;
    for c in ["c01", "c02", "c03"] {
        assert!(page.contains(&format!("/s/mem/c/{c}")), "{c}: {page}");
    }
    assert!(page.contains("plateforme en fonctionnement"), "the grade's basis is shown: {page}");

    let (cookie, _) = room.sign_in("c03", "candidat-2026").await;
    for path in ["/s/mem", "/s/mem/c/c03", "/s/mem/c/c01"] {
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
    assert!(
        page.contains("préparation : 59 min restantes") || page.contains("préparation : 60 min restantes"),
        "{page}"
    );
    let extend = format!("csrf={csrf}&action=extend&candidate=c02&duration=15min");
    assert_eq!(room.post("/s/mem/action", Some(&op), &extend).await.0, StatusCode::SEE_OTHER);
    let freeze = format!("csrf={csrf}&action=freeze&candidate=c01");
    assert_eq!(room.post("/s/mem/action", Some(&op), &freeze).await.0, StatusCode::SEE_OTHER);
    let (_, _, page) = room.get("/s/mem", Some(&op)).await;
    assert!(page.contains("figé à") && page.contains("note de référence"), "c01 frozen and graded: {page}");
    let regrade = format!("csrf={csrf}&action=regrade&candidate=c01&reason=recours");
    assert_eq!(room.post("/s/mem/action", Some(&op), &regrade).await.0, StatusCode::SEE_OTHER);

    let log = Workspace::new(room.dir.path().join("state.db"), "t").audit_log("mem").unwrap();
    for action in ["exam.start", "exam.extend", "exam.freeze", "grade"] {
        let entry = log.iter().rev().find(|e| e.action == action).unwrap_or_else(|| panic!("{action} audited"));
        assert_eq!(entry.actor, "op", "{action}");
    }
    assert!(log.iter().any(|e| e.action == "grade" && e.detail.contains("recours")), "the regrade's reason is audited");
}
