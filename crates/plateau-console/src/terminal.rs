//! The candidate's terminal in the browser, through the seat gateway: the
//! candidate types in their own; a trainer, an operator or their jury
//! watches it read-only (their keys never reach it). One WebSocket per
//! view: the shell's bytes down, `{"keys": …}` and `{"resize": [cols, rows]}` up.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use plateau_exam::gateway::{Keys, LiveTerminal};
use plateau_exam::{Account, Role};
use plateau_report::{BlockWork, EnteredLine, Intervention};
use serde::Deserialize;

use crate::{Console, Refusal, check_csrf, open_session, pages, signed_in};

/// Whether the account may watch this candidate's terminal, and type in it.
pub(crate) fn may_type(account: &Account, session: &str, candidate: &str) -> Result<bool, Refusal> {
    if !account.sees(session, candidate) {
        return Err(Refusal::Forbidden);
    }
    Ok(account.role == Role::Candidate)
}

/// The nodes a candidate has a way into, as the access sheet lists them.
pub(crate) fn entries(ctx: &plateau_exam::SessionCtx, candidate: &str) -> Result<Vec<String>, Refusal> {
    Ok(ctx.candidate(candidate)?.plan.access.iter().map(|a| a.node.clone()).collect())
}

/// A candidate's ways in from the browser: terminals and desktops, by node.
pub(crate) struct Ways {
    pub terminals: Vec<String>,
    pub desktops: Vec<String>,
}

impl Ways {
    pub(crate) fn of(ctx: &plateau_exam::SessionCtx, candidate: &str) -> Result<Ways, Refusal> {
        Ok(Ways { terminals: entries(ctx, candidate)?, desktops: crate::desktop::desktops(ctx, candidate)? })
    }

    /// Links to each, opened in a new tab.
    pub(crate) fn links(&self, session: &str, candidate: &str) -> Markup {
        html! {
            "Terminaux : "
            @for node in &self.terminals {
                a href={ "/s/" (session) "/terminal/" (candidate) "/" (node) } target="_blank" { (node) } " "
            }
            @if !self.desktops.is_empty() {
                " — bureaux : "
                @for node in &self.desktops {
                    a href={ "/s/" (session) "/bureau/" (candidate) "/" (node) } target="_blank" { (node) } " "
                }
            }
        }
    }
}

pub(crate) async fn page(
    State(console): State<Console>,
    Path((session, candidate, node)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    let own = may_type(&account, &session, &candidate)?;
    let ctx = open_session(&console, &account, &session)?;
    let found = console.gateway.find(&session, &candidate, &node);
    let writer = own || found.as_ref().is_some_and(|t| t.has_hand(&account.name));
    let may_take = !writer && found.is_some() && matches!(account.role, Role::Operator | Role::Trainer);
    if !entries(&ctx, &candidate)?.contains(&node) {
        return Err(Refusal::NotFound(format!("{candidate} n'a pas d'accès à « {node} ».")));
    }
    let title = format!("Terminal — {node} ({candidate})");
    if own && found.is_none() && !ctx.access_open(&candidate).await? {
        let closed = html! { p { "Votre accès est fermé : l'épreuve n'a pas commencé, ou votre temps est écoulé." } };
        return Ok(pages::session_page(&title, &account, &csrf, &session, closed).into_response());
    }
    let stream = format!("/s/{session}/terminal/{candidate}/{node}/flux");
    let body = html! {
        link rel="stylesheet" href="/static/xterm.css";
        p.muted {
            @if own {
                "Votre session est enregistrée (ce qui s'affiche, et les commandes saisies) pour le jury. "
                "Coller : Ctrl+V ; copier : sélectionner puis Ctrl+Inser."
            } @else if writer {
                "Vous avez la main sur le terminal du candidat (action enregistrée) : vos touches lui parviennent."
            } @else {
                "Lecture seule : vous voyez ce que le candidat voit ; vos touches ne lui parviennent pas."
            }
            " " span id="etat-terminal" { "connexion…" }
        }
        @if may_take { (take_control(&format!("/s/{session}/terminal/{candidate}/{node}/main"), &csrf)) }
        div id="terminal" data-stream=(stream) data-writer=(if writer { "oui" } else { "non" })
            style="height: 70vh; background: #000; padding: 4px" {}
        script src="/static/xterm.js" {}
        script src="/static/terminal.js" {}
    };
    Ok(pages::session_page(&title, &account, &csrf, &session, body).into_response())
}

/// What the browser sends.
#[derive(Deserialize)]
struct Up {
    keys: Option<String>,
    resize: Option<(u16, u16)>,
}

pub(crate) async fn stream(
    State(console): State<Console>,
    Path((session, candidate, node)): Path<(String, String, String)>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, Refusal> {
    let (account, _) = signed_in(&console, &headers)?;
    let own = may_type(&account, &session, &candidate)?;
    same_origin(&headers)?;
    let ctx = Arc::new(open_session(&console, &account, &session)?);
    let live = if own {
        console.gateway.open(&ctx, &candidate, &node, (80, 24)).await?
    } else {
        console
            .gateway
            .find(&session, &candidate, &node)
            .ok_or_else(|| Refusal::NotFound(format!("{candidate} n'a pas de terminal ouvert sur « {node} ».")))?
    };
    let writer = own || live.has_hand(&account.name);
    Ok(upgrade.on_upgrade(move |socket| carry(socket, live, writer)))
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

impl CsrfForm {
    pub(crate) fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A trainer or an operator takes control of a candidate's live terminal
/// (helping in practice): audited under their name; from then on their
/// view types too.
pub(crate) async fn take(
    State(console): State<Console>,
    Path((session, candidate, node)): Path<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    check_csrf(&csrf, &form.csrf)?;
    may_type(&account, &session, &candidate)?;
    if !matches!(account.role, Role::Operator | Role::Trainer) {
        return Err(Refusal::Forbidden);
    }
    let ctx = open_session(&console, &account, &session)?;
    let live = console
        .gateway
        .find(&session, &candidate, &node)
        .ok_or_else(|| Refusal::NotFound(format!("{candidate} n'a pas de terminal ouvert sur « {node} ».")))?;
    live.take_control(&ctx)?;
    Ok(Redirect::to(&format!("/s/{session}/terminal/{candidate}/{node}")).into_response())
}

/// A WebSocket opened by another site's page is refused (the cookie is
/// `SameSite=Strict` already; this says it for browsers that send it anyway).
pub(crate) fn same_origin(headers: &HeaderMap) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
    match origin.and_then(|o| o.split_once("://")).map(|(_, rest)| rest) {
        Some(from) if from == host => Ok(()),
        None if origin.is_none() => Ok(()),
        _ => Err(Refusal::Forbidden),
    }
}

async fn carry(mut socket: WebSocket, live: Arc<LiveTerminal>, writer: bool) {
    let (backlog, mut output) = live.attach();
    if socket.send(Message::Binary(backlog.into())).await.is_err() {
        return;
    }
    let mut ended = live.ended();
    loop {
        if *ended.borrow_and_update() {
            break;
        }
        tokio::select! {
            out = output.recv() => match out {
                Ok(bytes) => if socket.send(Message::Binary(bytes.to_vec().into())).await.is_err() { return },
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => break,
            },
            up = socket.recv() => match up {
                Some(Ok(Message::Text(text))) if writer => {
                    let Ok(up) = serde_json::from_str::<Up>(&text) else { continue };
                    if let Some(keys) = up.keys {
                        live.send(Keys::Typed(keys.into_bytes())).await;
                    }
                    if let Some((cols, rows)) = up.resize {
                        live.send(Keys::Resize(cols, rows)).await;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                _ => {}
            },
            changed = ended.changed() => if changed.is_err() { break },
        }
    }
    // The reason tells the page not to reconnect.
    let close = CloseFrame { code: 1000, reason: "Session terminée : l'accès est fermé.".into() };
    let _ = socket.send(Message::Close(Some(close))).await;
}

/// A trainer's or an operator's button to take control of a candidate's
/// terminal or desktop (`action`): an audited action of its own.
pub(crate) fn take_control(action: &str, csrf: &str) -> Markup {
    html! {
        form method="post" action=(action) {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { "Prendre la main (action enregistrée)" }
        }
    }
}

/// The jury's timeline: per fault, what the candidate typed while it was on;
/// then the preparatory phase, per block, on the nodes its checks read.
pub(crate) fn timeline(
    session: &str,
    candidate: &str,
    ways: &Ways,
    timeline: &[Intervention],
    preparation: &[BlockWork],
    recordings: &[String],
) -> Markup {
    html! {
        section id="interventions" {
            h2 { "Interventions : ce que le candidat a saisi" }
            p { "Sessions du candidat, en lecture seule. " (ways.links(session, candidate)) }
            @if !recordings.is_empty() {
                p id="enregistrements" {
                    "Enregistrements complets des terminaux (à rejouer avec " code { "asciinema play FICHIER" } ") : "
                    @for (i, name) in recordings.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href=(format!("/s/{session}/c/{candidate}/{name}")) download { (name) }
                    }
                }
            }
            @if timeline.is_empty() { p.muted { "Aucune panne n'a été injectée." } }
            @for fault in timeline {
                h3 {
                    (fault.title) " — injectée à " (pages::time_of(&fault.injected_at))
                    @if let Some(ticket) = fault.ticket { ", signalée par le ticket n° " (ticket) }
                    @match &fault.reverted_at { Some(at) => { ", rétablie à " (pages::time_of(at)) }, None => { ", en cours" } }
                }
                (lines_table(&fault.lines, "Aucune commande saisie par la passerelle pendant cette panne."))
            }
        }
        @if !preparation.is_empty() {
            section id="preparation" {
                h2 { "Phase de préparation : ce que le candidat a saisi, par bloc" }
                p.muted {
                    "Par bloc, les commandes saisies sur les machines que ses contrôles lisent, "
                    @match preparation.first().and_then(|b| b.until.as_deref()) {
                        Some(at) => { "jusqu'à l'échéance (" (pages::time_of(at)) ")" },
                        None => { "jusqu'à maintenant" },
                    }
                    ", hors pannes."
                }
                @for block in preparation {
                    h3 { (block.block) " — " (block.title) " (" (block.nodes.join(", ")) ")" }
                    (lines_table(&block.lines, "Aucune commande saisie par la passerelle sur ces machines."))
                }
            }
        }
    }
}

/// Lines entered, with their time, node and output; `empty` when there are none.
fn lines_table(lines: &[EnteredLine], empty: &str) -> Markup {
    html! {
        @if lines.is_empty() {
            p.muted { (empty) }
        } @else {
            table.timeline {
                tr { th { "Heure" } th { "Machine" } th { "Saisie" } th { "Affichage" } }
                @for line in lines {
                    tr { td { (pages::time_of(&line.at)) } td { (line.node) } td { code { (line.line) } } td { pre { (line.output) } } }
                }
            }
        }
    }
}
