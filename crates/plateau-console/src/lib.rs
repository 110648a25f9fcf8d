//! The web console: server-rendered pages in French over the application
//! layer (`plateau-exam`). Handlers only read the request, check who asks
//! and what they may see, call one operation, and render; every change is
//! audited by the operation itself, under the signed-in account's name.
//!
//! Live pages carry a `data-stream` address: the page's own render, pushed
//! by Server-Sent Events when it changes (`live`), from which a small
//! committed script (`static/direct.js`) swaps the parts marked
//! `data-live` — forms being filled in are never replaced.

mod desktop;
mod grid;
mod live;
mod pages;
pub mod ssh;
mod terminal;
mod tls;
mod trainer;

pub use tls::{Tls, TlsError};

use std::path::PathBuf;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::Markup;
use plateau_exam::{Account, Role, Verdict, Workspace};
use serde::Deserialize;

/// Name of the cookie that carries a signed-in browser's token.
const COOKIE: &str = "plateau";

/// Makes the workspace an account acts in: `(state, actor)`.
type MakeWorkspace = std::sync::Arc<dyn Fn(&std::path::Path, &str) -> Workspace + Send + Sync>;

/// What every handler needs: where the state is, and how to open it.
#[derive(Clone)]
pub struct Console {
    state: PathBuf,
    make: MakeWorkspace,
    /// Served over HTTPS: the cookie is marked `Secure`.
    https: bool,
    /// The engine's last report per session: every viewer's page within
    /// `ENGINE_FRESH` shares one question to the engine.
    engine_seen: std::sync::Arc<tokio::sync::Mutex<EngineSeen>>,
    /// The candidates' browser terminals, live in this process.
    gateway: plateau_exam::gateway::Gateway,
}

type EngineSeen = std::collections::HashMap<String, (std::time::Instant, plateau_exam::EngineNodes)>;

/// How long the engine's report of a session's nodes is reused.
const ENGINE_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

impl Console {
    pub fn new(state: impl Into<PathBuf>) -> Console {
        Console::with_workspaces(state, |state, actor| Workspace::new(state, actor))
    }

    /// A console whose workspaces are made by `make` (tests give them the in-memory runtime).
    pub fn with_workspaces(
        state: impl Into<PathBuf>,
        make: impl Fn(&std::path::Path, &str) -> Workspace + Send + Sync + 'static,
    ) -> Console {
        Console {
            state: state.into(),
            make: std::sync::Arc::new(make),
            https: false,
            engine_seen: Default::default(),
            gateway: Default::default(),
        }
    }

    /// The room of a session, the engine asked at most once per `ENGINE_FRESH`
    /// whoever is watching (the lock also keeps viewers from asking at once).
    async fn room(&self, ctx: &plateau_exam::SessionCtx) -> plateau_exam::Result<Vec<plateau_exam::Seat>> {
        let mut seen = self.engine_seen.lock().await;
        let nodes = match seen.get(ctx.name()) {
            Some((at, nodes)) if at.elapsed() < ENGINE_FRESH => nodes.clone(),
            _ => {
                let nodes = ctx.engine_nodes().await?;
                seen.insert(ctx.name().to_string(), (std::time::Instant::now(), nodes.clone()));
                nodes
            }
        };
        drop(seen);
        ctx.room_with(&nodes)
    }

    /// After an action, the next page asks the engine again.
    async fn forget_engine(&self, session: &str) {
        self.engine_seen.lock().await.remove(session);
    }

    /// The workspace as the signed-in account acts in it (the audit log names them).
    fn as_account(&self, account: &Account) -> Workspace {
        (self.make)(&self.state, &account.name)
    }
}

/// Every route of the console.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/connexion", get(sign_in_page).post(sign_in))
        .route("/deconnexion", post(sign_out))
        .route("/static/direct.js", get(script))
        .route("/static/terminal.js", get(|| asset("text/javascript", include_str!("../static/terminal.js"))))
        .route("/static/xterm.js", get(|| asset("text/javascript", include_str!("../static/xterm.js"))))
        .route("/static/xterm.css", get(|| asset("text/css", include_str!("../static/xterm.css"))))
        .route("/s/{session}/terminal/{candidate}/{node}", get(terminal::page))
        .route("/s/{session}/terminal/{candidate}/{node}/flux", get(terminal::stream))
        .route("/s/{session}/terminal/{candidate}/{node}/main", post(terminal::take))
        .route("/static/desktop.js", get(|| asset("text/javascript", include_str!("../static/desktop.js"))))
        .route("/static/novnc/{*path}", get(desktop::novnc))
        .route("/s/{session}/bureau/{candidate}/{node}", get(desktop::page))
        .route("/s/{session}/bureau/{candidate}/{node}/flux", get(desktop::stream))
        .route("/s/{session}/bureau/{candidate}/{node}/main", post(desktop::take))
        .route("/s/{session}", get(session_page))
        .route("/s/{session}/direct", get(session_stream))
        .route("/s/{session}/action", post(act))
        .route("/s/{session}/pannes", get(trainer::faults_page))
        .route("/s/{session}/pannes/direct", get(trainer::faults_stream))
        .route("/s/{session}/pannes/action", post(trainer::fault_act))
        .route("/s/{session}/c/{candidate}", get(candidate_page))
        .route("/s/{session}/c/{candidate}/decision", post(decide))
        .route("/s/{session}/c/{candidate}/{file}", get(download))
        .route("/s/{session}/pratique/{candidate}", get(practice_page))
        .route("/s/{session}/pratique/{candidate}/direct", get(practice_stream))
        .with_state(console)
}

/// Serve the console on `listen` until the process ends: over HTTPS with
/// the given certificate, else plain HTTP.
pub async fn serve(mut console: Console, listen: std::net::SocketAddr, tls: Option<Tls>) -> std::io::Result<()> {
    let tcp = tokio::net::TcpListener::bind(listen).await?;
    match tls {
        Some(tls) => {
            console.https = true;
            axum::serve(tls::TlsListener::new(tcp, &tls)?, router(console)).await
        }
        None => axum::serve(tcp, router(console)).await,
    }
}

/// Why a request is not served.
enum Refusal {
    /// Not signed in: to the sign-in page.
    SignIn,
    /// Signed in, but this is not theirs to see or do.
    Forbidden,
    /// A form without the right CSRF token.
    Csrf,
    NotFound(String),
    Invalid(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::SignIn => Redirect::to("/connexion").into_response(),
            Refusal::Forbidden => {
                (StatusCode::FORBIDDEN, pages::message("Accès refusé", "Cette page n'est pas ouverte à votre compte."))
                    .into_response()
            }
            Refusal::Csrf => (
                StatusCode::FORBIDDEN,
                pages::message(
                    "Formulaire refusé",
                    "Le jeton du formulaire manque ou ne correspond pas : rechargez la page.",
                ),
            )
                .into_response(),
            Refusal::NotFound(what) => (StatusCode::NOT_FOUND, pages::message("Introuvable", &what)).into_response(),
            Refusal::Invalid(why) => (StatusCode::BAD_REQUEST, pages::message("Demande refusée", &why)).into_response(),
        }
    }
}

impl From<plateau_exam::Error> for Refusal {
    fn from(e: plateau_exam::Error) -> Refusal {
        Refusal::Invalid(e.to_string())
    }
}

/// The browser's token, from the request's cookie.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(&format!("{COOKIE}=")).map(str::to_string))
}

/// The signed-in account and its CSRF token, from the request's cookie.
fn signed_in(console: &Console, headers: &HeaderMap) -> Result<(Account, String), Refusal> {
    let token = cookie_token(headers).ok_or(Refusal::SignIn)?;
    Workspace::new(&console.state, "console").signed_in(&token)?.ok_or(Refusal::SignIn)
}

fn check_csrf(expected: &str, given: &str) -> Result<(), Refusal> {
    // Same length and same bytes, compared without an early exit.
    let same =
        expected.len() == given.len() && expected.bytes().zip(given.bytes()).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0;
    if same { Ok(()) } else { Err(Refusal::Csrf) }
}

async fn home(State(console): State<Console>, headers: HeaderMap) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    if let (Role::Candidate, Some(session), Some(me)) = (account.role, &account.session, account.candidates.first()) {
        return Ok(Redirect::to(&format!("/s/{session}/pratique/{me}")).into_response());
    }
    if let Some(session) = &account.session {
        return Ok(Redirect::to(&format!("/s/{session}")).into_response());
    }
    let sessions = console.as_account(&account).sessions()?;
    Ok(pages::home(&account, &csrf, &sessions).into_response())
}

async fn sign_in_page() -> Response {
    pages::sign_in(None).into_response()
}

#[derive(Deserialize)]
struct SignInForm {
    name: String,
    password: String,
}

async fn sign_in(State(console): State<Console>, Form(form): Form<SignInForm>) -> Result<Response, Refusal> {
    let workspace = Workspace::new(&console.state, "console");
    let Some(signed) = workspace.sign_in(form.name.trim(), &form.password)? else {
        return Ok((StatusCode::UNAUTHORIZED, pages::sign_in(Some("Nom ou mot de passe incorrect."))).into_response());
    };
    // HttpOnly: no script reads it; SameSite=Strict: no other site's form sends it.
    let secure = if console.https { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/{secure}", signed.token);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response())
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn sign_out(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    check_csrf(&csrf, &form.csrf)?;
    console.as_account(&account).sign_out(&cookie_token(&headers).unwrap_or_default())?;
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/connexion")).into_response())
}

/// Whether the account may open this session at all.
fn may_open(account: &Account, session: &str) -> Result<(), Refusal> {
    match &account.session {
        Some(s) if s != session => Err(Refusal::Forbidden),
        _ => Ok(()),
    }
}

/// The session as the account acts in it.
fn open_session(console: &Console, account: &Account, session: &str) -> Result<plateau_exam::SessionCtx, Refusal> {
    may_open(account, session)?;
    console
        .as_account(account)
        .session(session)
        .map_err(|_| Refusal::NotFound(format!("Pas de session « {session} ».")))
}

/// The room: every candidate the account sees, as the operator watches them.
async fn render_room(console: &Console, account: &Account, csrf: &str, session: &str) -> Result<Markup, Refusal> {
    if account.role == Role::Candidate {
        return Err(Refusal::Forbidden);
    }
    let ctx = open_session(console, account, session)?;
    let seats = console.room(&ctx).await?.into_iter().filter(|s| account.sees(session, &s.id)).collect::<Vec<_>>();
    Ok(pages::session(account, csrf, session, &seats))
}

async fn session_page(
    State(console): State<Console>,
    Path(session): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    Ok(render_room(&console, &account, &csrf, &session).await?.into_response())
}

async fn session_stream(
    State(console): State<Console>,
    Path(session): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    render_room(&console, &account, &csrf, &session).await?;
    Ok(follow(console, &headers, move |console, account| {
        let (session, csrf) = (session.clone(), csrf.clone());
        async move { render_room(&console, &account, &csrf, &session).await }
    }))
}

/// A live page's stream: its render, again and again, while the account
/// that opened it stays signed in.
fn follow<F, R>(console: Console, headers: &HeaderMap, render: F) -> Response
where
    F: Fn(Console, Account) -> R + Send + Sync + 'static,
    R: std::future::Future<Output = Result<Markup, Refusal>> + Send + 'static,
{
    let token = cookie_token(headers).unwrap_or_default();
    let render = std::sync::Arc::new(render);
    live::stream(move || {
        let (console, token, render) = (console.clone(), token.clone(), render.clone());
        async move {
            let account = still_signed_in(&console, &token)?;
            render(console, account).await.ok()
        }
    })
    .into_response()
}

/// The account behind a token, while it is signed in (a stream ends with it).
fn still_signed_in(console: &Console, token: &str) -> Option<Account> {
    Workspace::new(&console.state, "console").signed_in(token).ok().flatten().map(|(account, _)| account)
}

async fn script() -> Response {
    asset("text/javascript", include_str!("../static/direct.js")).await
}

/// A committed file the pages use.
async fn asset(kind: &str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, format!("{kind}; charset=utf-8"))], body).into_response()
}

/// One candidate's grid, for the jury (their candidates), the operator and the trainer.
async fn candidate_page(
    State(console): State<Console>,
    Path((session, candidate)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    if !account.sees(&session, &candidate) || account.role == Role::Candidate {
        return Err(Refusal::Forbidden);
    }
    let ctx = open_session(&console, &account, &session)?;
    let grade = ctx.signed_grade(&candidate)?;
    let may_decide = matches!(account.role, Role::Jury | Role::Operator);
    let ways = terminal::Ways::of(&ctx, &candidate)?;
    let timeline = terminal::timeline(
        &session,
        &candidate,
        &ways,
        &ctx.timeline(&candidate)?,
        &ctx.preparation(&candidate)?,
        &ctx.recordings(&candidate)?,
    );
    Ok(grid::candidate(&account, &csrf, &session, &candidate, grade.as_ref(), may_decide, timeline).into_response())
}

/// The grid to download: `grille.pdf`, `grille.html`, `resultats.json`,
/// `resultats.csv`, or one of the candidate's terminal recordings.
async fn download(
    State(console): State<Console>,
    Path((session, candidate, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let (account, _) = signed_in(&console, &headers)?;
    if !account.sees(&session, &candidate) || account.role == Role::Candidate {
        return Err(Refusal::Forbidden);
    }
    let ctx = open_session(&console, &account, &session)?;
    let report = || ctx.report(Some(&candidate));
    let (kind, body): (&str, Vec<u8>) = match file.as_str() {
        "grille.pdf" => ("application/pdf", ctx.grid_pdf(&candidate).await?),
        "grille.html" => {
            let report = report()?;
            let grade = report.candidates.first().ok_or_else(|| Refusal::NotFound("Pas encore évalué.".into()))?;
            ("text/html; charset=utf-8", plateau_report::grid(&report, grade).into_bytes())
        }
        "resultats.json" => ("application/json", report()?.to_json().into_bytes()),
        "resultats.csv" => ("text/csv; charset=utf-8", plateau_report::csv(&report()?).into_bytes()),
        // A terminal's full recording (`asciinema play FILE`).
        name if name.ends_with(".cast") => ("application/x-asciicast", ctx.recording(&candidate, name)?),
        _ => return Err(Refusal::NotFound(format!("Pas de fichier « {file} »."))),
    };
    let name = format!("attachment; filename=\"{session}-{candidate}-{file}\"");
    Ok(([(header::CONTENT_TYPE, kind.to_string()), (header::CONTENT_DISPOSITION, name)], body).into_response())
}

#[derive(Deserialize)]
struct DecisionForm {
    csrf: String,
    criterion: String,
    verdict: String,
    comment: String,
}

async fn decide(
    State(console): State<Console>,
    Path((session, candidate)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<DecisionForm>,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    check_csrf(&csrf, &form.csrf)?;
    if !account.sees(&session, &candidate) || !matches!(account.role, Role::Jury | Role::Operator) {
        return Err(Refusal::Forbidden);
    }
    let verdict = match form.verdict.as_str() {
        "met" => Verdict::Met,
        "partial" => Verdict::Partial,
        "not-met" => Verdict::NotMet,
        "" => {
            return Err(Refusal::Invalid(
                "aucune décision choisie : choisissez acquis, partiellement acquis ou non acquis".into(),
            ));
        }
        other => return Err(Refusal::Invalid(format!("« {other} » n'est pas une décision"))),
    };
    let ctx = open_session(&console, &account, &session)?;
    ctx.override_verdict(&candidate, &form.criterion, verdict, &form.comment, &account.name)?;
    Ok(Redirect::to(&format!("/s/{session}/c/{candidate}#{}", form.criterion)).into_response())
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    /// `start`, `freeze`, `extend`, `open`, `close`, `reset`, `regrade`, `grade`.
    action: String,
    /// The candidate acted on; the whole session when empty.
    #[serde(default)]
    candidate: String,
    /// `extend`: by how long (`15min`); `start`: the phase's length (the scenario's by default).
    #[serde(default)]
    duration: String,
    /// `extend`, `regrade`: why.
    #[serde(default)]
    reason: String,
    /// `reset`: the operator ticked the confirmation.
    #[serde(default)]
    confirm: String,
}

/// The operator's actions on a session: each is one operation of the
/// application layer, audited there under the operator's name.
async fn act(
    State(console): State<Console>,
    Path(session): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    check_csrf(&csrf, &form.csrf)?;
    if account.role != Role::Operator {
        return Err(Refusal::Forbidden);
    }
    let ctx = open_session(&console, &account, &session)?;
    let candidate = Some(form.candidate.trim()).filter(|c| !c.is_empty());
    let duration = Some(form.duration.trim()).filter(|d| !d.is_empty());
    let progress = plateau_exam::Silent;
    match form.action.as_str() {
        "start" => {
            ctx.start(duration).await?;
        }
        "extend" => {
            let (Some(candidate), Some(by)) = (candidate, duration) else {
                return Err(Refusal::Invalid("prolonger : un candidat et une durée".into()));
            };
            if form.reason.trim().is_empty() {
                return Err(Refusal::Invalid("prolonger : le motif est obligatoire (il figure au journal)".into()));
            }
            ctx.extend(candidate, by, form.reason.trim())?;
        }
        "freeze" => {
            ctx.freeze_now(candidate, &progress).await?;
        }
        "open" | "close" => {
            ctx.set_access(candidate, form.action == "open").await?;
        }
        "reset" => {
            let Some(candidate) = candidate else {
                return Err(Refusal::Invalid("réinitialiser : un candidat".into()));
            };
            if form.confirm != "oui" {
                return Err(Refusal::Invalid(
                    "réinitialiser efface tout le travail du candidat : cochez la confirmation".into(),
                ));
            }
            ctx.reset(candidate).await?;
        }
        "regrade" => {
            let Some(candidate) = candidate else {
                return Err(Refusal::Invalid("réévaluer : un candidat".into()));
            };
            ctx.regrade(candidate, &form.reason, &progress).await?;
        }
        other => return Err(Refusal::Invalid(format!("« {other} » n'est pas une action"))),
    }
    console.forget_engine(&session).await;
    Ok(Redirect::to(&format!("/s/{session}")).into_response())
}

/// A candidate's own results (practice): their checks, nothing else.
async fn render_practice(
    console: &Console,
    account: &Account,
    csrf: &str,
    session: &str,
    candidate: &str,
) -> Result<Markup, Refusal> {
    if !account.sees(session, candidate) || account.role == Role::Jury {
        return Err(Refusal::Forbidden);
    }
    let ctx = open_session(console, account, session)?;
    let seat = console.room(&ctx).await?.into_iter().find(|s| s.id == candidate);
    let seat = seat.ok_or_else(|| Refusal::NotFound(format!("Pas de candidat « {candidate} ».")))?;
    let ways = terminal::Ways::of(&ctx, candidate)?;
    Ok(pages::practice(account, csrf, session, &seat, &ways))
}

async fn practice_page(
    State(console): State<Console>,
    Path((session, candidate)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    Ok(render_practice(&console, &account, &csrf, &session, &candidate).await?.into_response())
}

async fn practice_stream(
    State(console): State<Console>,
    Path((session, candidate)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    render_practice(&console, &account, &csrf, &session, &candidate).await?;
    Ok(follow(console, &headers, move |console, account| {
        let (session, candidate, csrf) = (session.clone(), candidate.clone(), csrf.clone());
        async move { render_practice(&console, &account, &csrf, &session, &candidate).await }
    }))
}
