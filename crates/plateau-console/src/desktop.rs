//! The candidate's desktop in the browser (noVNC, vendored from Debian),
//! through the seat gateway: the candidate uses their own; a trainer, an
//! operator or their jury watches it, their keys and pointer dropped by the
//! gateway (not merely by the page); taking control is a separate, audited
//! action. One WebSocket per view, carrying the VNC protocol as is.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use plateau_exam::Role;
use plateau_exam::gateway::{ACCESS_CUT, Desktop};
use tokio::sync::mpsc;

use crate::terminal::{CsrfForm, may_type, same_origin, take_control};
use crate::{Console, Refusal, check_csrf, open_session, pages, signed_in};

include!(concat!(env!("OUT_DIR"), "/novnc.rs"));

/// noVNC is some forty modules: one that never arrives leaves the page on
/// "connexion…" with no error to show. The page is loaded again when the
/// desktop's script has not started in time (`desktop.js` says it has).
const LOAD_WATCHDOG: &str = "setTimeout(() => { if (!window.plateauBureau) { \
    document.getElementById('etat-bureau').textContent = 'chargement incomplet, nouvel essai…'; \
    location.reload(); } }, 20000);";

/// The nodes of a candidate's platform that have a desktop.
pub(crate) fn desktops(ctx: &plateau_exam::SessionCtx, candidate: &str) -> Result<Vec<String>, Refusal> {
    let plan = ctx.candidate(candidate)?.plan;
    Ok(plan.nodes.iter().filter(|n| n.desktop).map(|n| n.id.clone()).collect())
}

/// Whether this account uses the desktop (keys and pointer), or only looks.
fn uses(console: &Console, account: &plateau_exam::Account, ids: (&str, &str, &str)) -> Result<bool, Refusal> {
    let (session, candidate, node) = ids;
    let own = may_type(account, session, candidate)?;
    Ok(own || console.gateway.has_desktop_hand(session, candidate, node, &account.name))
}

pub(crate) async fn page(
    State(console): State<Console>,
    Path((session, candidate, node)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    let user = uses(&console, &account, (&session, &candidate, &node))?;
    let ctx = open_session(&console, &account, &session)?;
    if !desktops(&ctx, &candidate)?.contains(&node) {
        return Err(Refusal::NotFound(format!("« {node} » n'a pas de bureau pour {candidate}.")));
    }
    let title = format!("Bureau — {node} ({candidate})");
    if !ctx.access_open(&candidate).await? {
        let closed = html! { p { "L'accès est fermé : l'épreuve n'a pas commencé, ou le temps est écoulé." } };
        return Ok(pages::session_page(&title, &account, &csrf, &session, closed).into_response());
    }
    let may_take = !user && matches!(account.role, Role::Operator | Role::Trainer);
    let stream = format!("/s/{session}/bureau/{candidate}/{node}/flux");
    let body = html! {
        p.muted {
            @if account.role == Role::Candidate {
                "Le bureau de votre poste. Presse-papiers : le champ ci-dessous est envoyé au bureau, "
                "et reçoit ce que vous y copiez."
            } @else if user {
                "Vous avez la main sur le bureau du candidat (action enregistrée)."
            } @else {
                "Lecture seule : vous voyez le bureau du candidat ; votre clavier et votre souris ne lui parviennent pas."
            }
            " " span id="etat-bureau" { "connexion…" }
        }
        @if may_take { (take_control(&format!("/s/{session}/bureau/{candidate}/{node}/main"), &csrf)) }
        @if user {
            p {
                textarea id="presse-papiers" rows="2" cols="60" aria-label="Presse-papiers" {}
                " " button type="button" id="envoyer-presse-papiers" { "Envoyer au bureau" }
            }
        }
        div id="bureau" data-stream=(stream) data-writer=(if user { "oui" } else { "non" })
            style="height: 75vh; background: #333" {}
        script type="module" src="/static/desktop.js" {}
        script { (maud::PreEscaped(LOAD_WATCHDOG)) }
    };
    Ok(pages::session_page(&title, &account, &csrf, &session, body).into_response())
}

pub(crate) async fn stream(
    State(console): State<Console>,
    Path((session, candidate, node)): Path<(String, String, String)>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, Refusal> {
    let (account, _) = signed_in(&console, &headers)?;
    let user = uses(&console, &account, (&session, &candidate, &node))?;
    same_origin(&headers)?;
    let ctx = Arc::new(open_session(&console, &account, &session)?);
    let desktop = ctx.open_desktop(&candidate, &node, !user).await?;
    Ok(upgrade.on_upgrade(move |socket| carry(socket, desktop)))
}

/// A trainer or an operator takes control of a candidate's desktop: audited.
pub(crate) async fn take(
    State(console): State<Console>,
    Path((session, candidate, node)): Path<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    check_csrf(&csrf, form.csrf())?;
    may_type(&account, &session, &candidate)?;
    if !matches!(account.role, Role::Operator | Role::Trainer) {
        return Err(Refusal::Forbidden);
    }
    let ctx = open_session(&console, &account, &session)?;
    console.gateway.take_desktop(&ctx, &candidate, &node)?;
    Ok(Redirect::to(&format!("/s/{session}/bureau/{candidate}/{node}")).into_response())
}

async fn carry(mut socket: WebSocket, desktop: Desktop) {
    let (to_desktop, from_viewer) = mpsc::channel::<Vec<u8>>(64);
    let (to_viewer, mut from_desktop) = mpsc::channel::<Vec<u8>>(64);
    let mut run = tokio::spawn(desktop.run(from_viewer, to_viewer));
    let why = loop {
        tokio::select! {
            down = from_desktop.recv() => match down {
                Some(bytes) => if socket.send(Message::Binary(bytes.into())).await.is_err() { return },
                None => break (&mut run).await.unwrap_or_default(),
            },
            up = socket.recv() => match up {
                Some(Ok(Message::Binary(bytes))) if to_desktop.send(bytes.to_vec()).await.is_err() => {
                    break (&mut run).await.unwrap_or_default();
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                _ => {}
            },
        }
    };
    let reason = if why == ACCESS_CUT { "Session terminée : l'accès est fermé." } else { "Le bureau s'est fermé." };
    let _ = socket.send(Message::Close(Some(CloseFrame { code: 1000, reason: reason.into() }))).await;
}

/// A module of noVNC's, from the binary.
pub(crate) async fn novnc(Path(path): Path<String>) -> Response {
    match NOVNC.iter().find(|(name, _)| *name == path) {
        Some((_, body)) => ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], *body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
