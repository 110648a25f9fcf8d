//! The web console: server-rendered pages in French over the application
//! layer (`plateau-exam`). Handlers only read the request, check who asks
//! and what they may see, call one operation, and render; every change is
//! audited by the operation itself, under the signed-in account's name.
//!
//! First slice (issue 15): sign in and out, the sessions an account may
//! see, a session's candidates with their phase and grade of record, one
//! candidate's grid by competence and criterion with the jury's decision
//! form (CSRF-protected), scoped to the jury's own candidates.

mod pages;

use std::path::PathBuf;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
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
}

impl Console {
    pub fn new(state: impl Into<PathBuf>) -> Console {
        Console { state: state.into(), make: std::sync::Arc::new(|state, actor| Workspace::new(state, actor)) }
    }

    /// A console whose workspaces are made by `make` (tests give them the in-memory runtime).
    pub fn with_workspaces(
        state: impl Into<PathBuf>,
        make: impl Fn(&std::path::Path, &str) -> Workspace + Send + Sync + 'static,
    ) -> Console {
        Console { state: state.into(), make: std::sync::Arc::new(make) }
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
        .route("/s/{session}", get(session_page))
        .route("/s/{session}/c/{candidate}", get(candidate_page))
        .route("/s/{session}/c/{candidate}/decision", post(decide))
        .route("/s/{session}/action", post(act))
        .with_state(console)
}

/// Serve the console on `listen` until the process ends.
pub async fn serve(console: Console, listen: std::net::SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, router(console)).await
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
    let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", signed.token);
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

async fn session_page(
    State(console): State<Console>,
    Path(session): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    may_open(&account, &session)?;
    if account.role == Role::Candidate {
        return Err(Refusal::Forbidden);
    }
    let ctx = console
        .as_account(&account)
        .session(&session)
        .map_err(|_| Refusal::NotFound(format!("Pas de session « {session} ».")))?;
    let phases = ctx.phases()?;
    let mut rows = Vec::new();
    for candidate in ctx.candidates()?.into_iter().filter(|c| account.sees(&session, &c.id)) {
        let phase = phases.iter().rfind(|p| p.deadline.candidate == candidate.id).cloned();
        let grade = ctx.grade_of_record(&candidate.id)?;
        rows.push(pages::CandidateRow { id: candidate.id, name: candidate.plan.candidate.name, phase, grade });
    }
    Ok(pages::session(&account, &csrf, &session, &rows).into_response())
}

async fn candidate_page(
    State(console): State<Console>,
    Path((session, candidate)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    if !account.sees(&session, &candidate) || account.role == Role::Candidate {
        return Err(Refusal::Forbidden);
    }
    let ctx = console
        .as_account(&account)
        .session(&session)
        .map_err(|_| Refusal::NotFound(format!("Pas de session « {session} ».")))?;
    let grade = ctx.signed_grade(&candidate)?;
    let may_decide = matches!(account.role, Role::Jury | Role::Operator);
    Ok(pages::candidate(&account, &csrf, &session, &candidate, grade.as_ref(), may_decide).into_response())
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
        other => return Err(Refusal::Invalid(format!("« {other} » n'est pas une décision"))),
    };
    let ctx = console.as_account(&account).session(&session)?;
    ctx.override_verdict(&candidate, &form.criterion, verdict, &form.comment, &account.name)?;
    Ok(Redirect::to(&format!("/s/{session}/c/{candidate}#{}", form.criterion)).into_response())
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    /// `start`, `freeze`, `extend`, `open`, `close`, `regrade`.
    action: String,
    /// The candidate acted on; the whole session when empty.
    #[serde(default)]
    candidate: String,
    /// `extend`: by how long (`15min`); `start`: the phase's length (the scenario's by default).
    #[serde(default)]
    duration: String,
    /// `regrade`: why.
    #[serde(default)]
    reason: String,
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
    may_open(&account, &session)?;
    if account.role != Role::Operator {
        return Err(Refusal::Forbidden);
    }
    let ctx = console.as_account(&account).session(&session)?;
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
            ctx.extend(candidate, by)?;
        }
        "freeze" => {
            ctx.freeze_now(candidate, &progress).await?;
        }
        "open" | "close" => {
            ctx.set_access(candidate, form.action == "open").await?;
        }
        "regrade" => {
            let Some(candidate) = candidate else {
                return Err(Refusal::Invalid("réévaluer : un candidat".into()));
            };
            ctx.regrade(candidate, &form.reason, &progress).await?;
        }
        other => return Err(Refusal::Invalid(format!("« {other} » n'est pas une action"))),
    }
    Ok(Redirect::to(&format!("/s/{session}")).into_response())
}
