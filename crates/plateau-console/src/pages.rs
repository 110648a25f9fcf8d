//! The console's pages, in French, rendered on the server (maud). Forms
//! post and the page reloads; live pages also carry `data-stream` and mark
//! with `data-live` the parts the stream may replace.

use maud::{DOCTYPE, Markup, html};
use plateau_exam::{Account, FaultCatalogue, FaultEffect, PhaseRow, PhaseState, Role, Seat, Status, Verdict};

const STYLE: &str = "
body { font-family: 'DejaVu Sans', Arial, sans-serif; margin: 0; color: #111; }
header { background: #1d3557; color: #fff; padding: .6em 1.2em; display: flex; justify-content: space-between; align-items: center; }
header a { color: #fff; } header button { color: #fff; background: transparent; border: 1px solid #fff; border-radius: 3px; cursor: pointer; }
main { padding: 1em 1.5em; } tr.competence th { background: #dde4ee; }
table { border-collapse: collapse; margin: .6em 0; } th, td { border: 1px solid #bbb; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eee; } .met, .pass { color: #0a5b20; font-weight: bold; } .not-met, .fail { color: #a0141e; font-weight: bold; }
.partial { color: #7a5200; font-weight: bold; } .undetermined, .error { color: #5a2a8a; font-weight: bold; }
form.inline { display: inline; } textarea { width: 22em; height: 3em; }
nav { background: #e9eef5; padding: .4em 1.5em; } nav a { margin-right: 1.2em; }
.clock { font-variant-numeric: tabular-nums; font-weight: bold; } .muted { color: #555; }
.repaired { color: #0a5b20; } .open { color: #0a5b20; } .closed { color: #a0141e; }
td.actions form { display: inline-block; margin: 2px 4px 2px 0; }
details.evidence { margin: 2px 0 6px 0; font-size: .9em; } details.evidence pre { background: #f4f4f4; padding: 4px; max-width: 40em; overflow-x: auto; white-space: pre-wrap; }
";

fn layout(title: &str, account: Option<(&Account, &str)>, body: Markup) -> Markup {
    page(title, account, None, body)
}

/// A page of a session: the session's menu under the header, and when
/// `stream` is set, the address the page follows live.
pub(crate) fn session_layout(
    title: &str,
    account: &Account,
    csrf: &str,
    session: &str,
    stream: Option<&str>,
    body: Markup,
) -> Markup {
    let nav = html! {
        nav {
            @if account.role != Role::Candidate {
                a href={ "/s/" (session) } { "Salle" }
            }
            @if matches!(account.role, Role::Operator | Role::Trainer) {
                a href={ "/s/" (session) "/pannes" } { "Pannes" }
            }
            @if account.role == Role::Candidate {
                @for c in &account.candidates { a href={ "/s/" (session) "/pratique/" (c) } { "Mes résultats" } }
            }
        }
    };
    page(title, Some((account, csrf)), Some((nav, stream)), body)
}

/// A session's page that does not follow a stream.
pub(crate) fn session_page(title: &str, account: &Account, csrf: &str, session: &str, body: Markup) -> Markup {
    session_layout(title, account, csrf, session, None, body)
}

fn page(title: &str, account: Option<(&Account, &str)>, nav: Option<(Markup, Option<&str>)>, body: Markup) -> Markup {
    let stream = nav.as_ref().and_then(|(_, s)| *s);
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Plateau" }
                style { (STYLE) }
            }
            body {
                header {
                    strong { "Plateau" }
                    @if let Some((account, csrf)) = account {
                        span {
                            (account.name) " (" (role_word(account.role)) ") "
                            form.inline method="post" action="/deconnexion" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Se déconnecter" }
                            }
                        }
                    }
                }
                @if let Some((nav, _)) = &nav { (nav) }
                main data-stream=[stream] { h1 { (title) } (body) }
                @if stream.is_some() { script src="/static/direct.js" {} }
            }
        }
    }
}

fn role_word(role: Role) -> &'static str {
    match role {
        Role::Operator => "opérateur",
        Role::Trainer => "formateur",
        Role::Jury => "jury",
        Role::Candidate => "candidat",
    }
}

pub(crate) fn verdict_word(v: Verdict) -> (&'static str, &'static str) {
    let word = match v {
        Verdict::Met => "acquis",
        Verdict::Partial => "partiellement acquis",
        Verdict::NotMet => "non acquis",
        Verdict::Undetermined => "à apprécier par le jury",
        Verdict::JuryOnly => "apprécié par le jury",
        Verdict::NotExamined => "non évalué dans cette épreuve",
    };
    (plateau_exam::verdict_token(v), word)
}

pub(crate) fn status_word(s: Status) -> (&'static str, &'static str) {
    match s {
        Status::Pass => ("pass", "réussi"),
        Status::Fail => ("fail", "échoué"),
        Status::Error => ("error", "non vérifiable"),
    }
}

pub fn message(title: &str, text: &str) -> Markup {
    layout(title, None, html! { p { (text) } p { a href="/" { "Retour à l'accueil" } } })
}

pub fn sign_in(error: Option<&str>) -> Markup {
    layout(
        "Connexion",
        None,
        html! {
            @if let Some(e) = error { p.fail { (e) } }
            form method="post" action="/connexion" {
                p { label { "Nom " input name="name" autocomplete="username" required; } }
                p { label { "Mot de passe " input type="password" name="password" autocomplete="current-password" required; } }
                button type="submit" { "Se connecter" }
            }
        },
    )
}

pub fn home(account: &Account, csrf: &str, sessions: &[String]) -> Markup {
    layout(
        "Sessions d'examen",
        Some((account, csrf)),
        html! {
            @if sessions.is_empty() { p { "Aucune session." } }
            ul { @for s in sessions { li { a href={ "/s/" (s) } { (s) } } } }
        },
    )
}

fn clock(seconds: i64) -> String {
    format!("{}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

/// Where a candidate is in the exam, with the time left.
fn phase_text(phase: &Option<PhaseRow>) -> Markup {
    match phase {
        None => html! { span.muted { "pas commencé" } },
        Some(p) => {
            let what = if p.deadline.phase == plateau_exam::JURY { "jury" } else { "préparation" };
            match &p.state {
                PhaseState::Running { left } => html! { (what) " : " span.clock { (clock(*left)) } " restantes" },
                PhaseState::Due => html! { (what) " : temps écoulé, coupure en cours" },
                PhaseState::Cut { at } => html! { (what) " : accès coupé à " (time_of(at)) ", figeage en cours" },
                PhaseState::Frozen { at } => html! { (what) " : figé à " (time_of(at)) },
            }
        }
    }
}

/// `14:05:09` of an RFC 3339 time, in the server's time zone (the room's
/// clock; the day is the exam's).
pub(crate) fn time_of(at: &str) -> String {
    match at.parse::<jiff::Timestamp>() {
        Ok(t) => t.to_zoned(jiff::tz::TimeZone::system()).strftime("%H:%M:%S").to_string(),
        Err(_) => at.to_string(),
    }
}

/// `26/11/2026 14:05` of an RFC 3339 time, in the server's time zone.
pub(crate) fn date_of(at: &str) -> String {
    match at.parse::<jiff::Timestamp>() {
        Ok(t) => t.to_zoned(jiff::tz::TimeZone::system()).strftime("%d/%m/%Y %H:%M").to_string(),
        Err(_) => at.to_string(),
    }
}

fn node_state(state: &str, health: &str) -> &'static str {
    match (state, health) {
        ("running", "unhealthy") => "ne répond pas",
        ("running", "starting") => "démarre",
        ("running", _) => "en marche",
        ("paused", _) => "suspendue",
        ("exited", _) | ("dead", _) => "arrêtée",
        ("created", _) => "créée",
        _ => "état inconnu",
    }
}

fn nodes_text(seat: &Seat) -> Markup {
    let running = seat.nodes.iter().filter(|(_, s, h)| s == "running" && h != "unhealthy").count();
    html! {
        @if seat.access_open.is_none() { span.muted { "moteur « " (seat.engine) " » injoignable" } }
        @else {
            (running) " / " (seat.nodes.len()) " en marche"
            @for (node, state, health) in seat.nodes.iter().filter(|(_, s, h)| s != "running" || h == "unhealthy") {
                br; span.fail { (node) " : " (node_state(state, health)) }
            }
        }
    }
}

fn grade_text(seat: &Seat) -> Markup {
    match &seat.grade {
        None => html! { span.muted { "pas encore évalué" } },
        Some(g) if g.failure.is_some() => html! {
            strong.fail { "note de référence non produite" }
            br;
            small { (g.failure.as_deref().unwrap_or_default()) }
        },
        Some(g) => html! {
            strong { (plateau_report::number(g.score)) " / " (g.max_score) }
            br;
            small.muted {
                (match g.kind {
                    plateau_exam::GradeKind::Record => "note de référence (état à l'échéance)",
                    plateau_exam::GradeKind::Regrade => "nouvelle évaluation",
                    _ => "plateforme en fonctionnement",
                })
                ", " (time_of(&g.at))
            }
        },
    }
}

fn faults_text(seat: &Seat) -> Markup {
    html! {
        @if seat.faults.is_empty() { span.muted { "aucune" } }
        @for f in &seat.faults {
            div {
                (f.fault.title) " "
                @match f.effect {
                    FaultEffect::Repaired => span.repaired { "(réparée)" },
                    FaultEffect::Present => span.fail { "(présente)" },
                    FaultEffect::NotObserved => span.muted { "(effet non observé)" },
                }
                @if let Some(number) = f.fault.ticket { " · ticket n° " (number) " " (ticket_state(f)) }
            }
        }
    }
}

/// Where a fault's ticket stands in the help desk's tool, in the last grade.
fn ticket_state(f: &plateau_exam::FaultSeen) -> Markup {
    html! {
        @match f.ticket {
            Some(Status::Pass) => span.repaired { "(traité dans l'outil)" },
            Some(Status::Fail) => span.fail { "(pas encore traité)" },
            Some(Status::Error) => span.muted { "(illisible)" },
            None => span.muted { "(pas encore évalué)" },
        }
    }
}

fn limits_text(seat: &Seat) -> Markup {
    html! {
        @if seat.limits.is_empty() { span.muted { "—" } }
        @for l in &seat.limits {
            div {
                (time_of(&l.at)) " "
                (if l.action == "limit.disk" { "disque dépassé : machine arrêtée" } else { "reprise autorisée" })
            }
        }
    }
}

/// A button that posts one action to `to`.
fn action(to: &str, csrf: &str, action: &str, candidate: &str, label: &str, extra: Markup) -> Markup {
    html! {
        form.inline method="post" action=(to) {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="action" value=(action);
            input type="hidden" name="candidate" value=(candidate);
            (extra)
            button type="submit" { (label) }
        }
    }
}

/// The room: every candidate with their clock, access, machines, last
/// grade, faults and limit events; the operator's actions.
pub fn session(account: &Account, csrf: &str, session: &str, seats: &[Seat]) -> Markup {
    let operator = account.role == Role::Operator;
    let to = format!("/s/{session}/action");
    let stream = format!("/s/{session}/direct");
    session_layout(
        &format!("Session {session}"),
        account,
        csrf,
        session,
        Some(&stream),
        html! {
            @if operator {
                p {
                    (action(&to, csrf, "start", "", "Démarrer l'épreuve", html! {}))
                    " "
                    (action(&to, csrf, "open", "", "Ouvrir tous les accès", html! {}))
                    " "
                    (action(&to, csrf, "freeze", "", "Figer tout le monde maintenant", html! {}))
                }
            }
            table {
                tr {
                    th { "Candidat" } th { "Temps" } th { "Accès" } th { "Machines" } th { "Dernière évaluation" }
                    th { "Pannes" } th { "Limites" }
                    @if operator { th { "Actions" } }
                }
                @for seat in seats {
                    tr id={ "c-" (seat.id) } {
                        td { a href={ "/s/" (session) "/c/" (seat.id) } { (seat.name) " (" (seat.id) ")" } }
                        td id={ (seat.id) "-temps" } data-live {
                            (phase_text(&seat.phase))
                            @if seat.extra > 0 { br; small { "dont " (seat.extra / 60) " min accordées" } }
                        }
                        td id={ (seat.id) "-acces" } data-live {
                            @match seat.access_open {
                                Some(true) => span.open { "ouvert" },
                                Some(false) => span.closed { "fermé" },
                                None => span.muted { "?" },
                            }
                        }
                        td id={ (seat.id) "-machines" } data-live { (nodes_text(seat)) }
                        td id={ (seat.id) "-note" } data-live { (grade_text(seat)) }
                        td id={ (seat.id) "-pannes" } data-live { (faults_text(seat)) }
                        td id={ (seat.id) "-limites" } data-live { (limits_text(seat)) }
                        @if operator {
                            td.actions {
                                (action(&to, csrf, "extend", &seat.id, "Prolonger", html! {
                                    input name="duration" size="5" value="15min" aria-label="durée";
                                    " "
                                    input name="reason" size="14" placeholder="motif" required aria-label="motif de la prolongation";
                                    " "
                                }))
                                (action(&to, csrf, "open", &seat.id, "Ouvrir l'accès", html! {}))
                                (action(&to, csrf, "close", &seat.id, "Fermer l'accès", html! {}))
                                (action(&to, csrf, "freeze", &seat.id, "Figer", html! {}))
                                (action(&to, csrf, "regrade", &seat.id, "Réévaluer", html! {
                                    input name="reason" size="14" placeholder="motif" required aria-label="motif de la réévaluation";
                                    " "
                                }))
                                (action(&to, csrf, "reset", &seat.id, "Réinitialiser", html! {
                                    label { input type="checkbox" name="confirm" value="oui" required; " tout effacer" }
                                    " "
                                }))
                            }
                        }
                    }
                }
            }
        },
    )
}

/// The trainer's view: each candidate's faults (present, repaired), what
/// is scheduled, and the forms to inject and revert.
pub fn faults(
    account: &Account,
    csrf: &str,
    session: &str,
    seats: &[Seat],
    catalogue: &FaultCatalogue,
    nodes: &[String],
) -> Markup {
    let to = format!("/s/{session}/pannes/action");
    let stream = format!("/s/{session}/pannes/direct");
    let choices = html! {
        select name="fault" aria-label="panne" {
            optgroup label="Pannes du scénario" {
                @for (id, title, _) in &catalogue.scenario { option value=(id) { (title) " (" (id) ")" } }
            }
            optgroup label="Pannes génériques (machine à choisir)" {
                @for (id, params, _) in catalogue.builtin {
                    option value=(id) { (id) @if !params.is_empty() { " [" (params) "]" } }
                }
            }
        }
    };
    let target = html! {
        select name="node" aria-label="machine" {
            option value="" { "machine (pannes génériques)" }
            @for n in nodes { option value=(n) { (n) } }
        }
        " "
        input name="params" size="14" placeholder="clé=valeur" aria-label="paramètres";
        " "
        input name="at" size="10" placeholder="maintenant" aria-label="quand (+10min ou heure)";
    };
    session_layout(
        &format!("Pannes — session {session}"),
        account,
        csrf,
        session,
        Some(&stream),
        html! {
            p {
                (action(&to, csrf, "grade", "", "Évaluer tout le monde maintenant", html! {}))
                " "
                (action(&to, csrf, "random", "", "Injecter au hasard à chacun", html! {
                    input name="count" size="2" value="1" aria-label="nombre de pannes"; " "
                }))
            }
            p { "Injecter à tout le monde : " (action(&to, csrf, "inject", "", "Injecter", html! { (choices) " " (target) " " })) }
            table {
                tr { th { "Candidat" } th { "Pannes présentes" } th { "Dernière évaluation" } th { "Injecter" } }
                @for seat in seats {
                    tr id={ "p-" (seat.id) } {
                        td { (seat.name) " (" (seat.id) ")" }
                        td id={ (seat.id) "-presentes" } data-live {
                            @if seat.faults.is_empty() { span.muted { "aucune" } }
                            @for f in &seat.faults {
                                div {
                                    strong { (f.fault.title) } " (" (f.fault.fault) "), injectée à " (time_of(&f.fault.injected_at))
                                    @if let Some(ticket) = f.fault.ticket { ", signalée par le ticket n° " (ticket) " " (ticket_state(f)) }
                                    br;
                                    @match f.effect {
                                        FaultEffect::Repaired => span.repaired { "réparée par le candidat" },
                                        FaultEffect::Present => span.fail { "pas encore réparée" },
                                        FaultEffect::NotObserved => span.muted { "effet non observé : aucune vérification cassée" },
                                    }
                                    " — casse : " (f.fault.breaks.join(", "))
                                    " "
                                    (action(&to, csrf, "revert", &seat.id, "Réparer", html! {
                                        input type="hidden" name="fault" value=(f.fault.fault);
                                    }))
                                }
                            }
                            @for s in catalogue.scheduled.iter().filter(|s| s.candidate == seat.id) {
                                div.muted { (s.fault) " prévue à " (time_of(&plateau_exam::at(s.at))) }
                            }
                        }
                        td id={ (seat.id) "-evaluation" } data-live { (grade_text(seat)) }
                        td { (action(&to, csrf, "inject", &seat.id, "Injecter", html! { (choices) " " (target) " " })) }
                    }
                }
            }
            h2 { "Pannes génériques" }
            table {
                tr { th { "Panne" } th { "Paramètres" } th { "Effet" } }
                @for (id, params, what) in catalogue.builtin { tr { td { (id) } td { (params) } td { (builtin_fr(id).unwrap_or(what)) } } }
            }
        },
    )
}

/// A candidate's own results in practice: each check done or to do.
pub(crate) fn practice(
    account: &Account,
    csrf: &str,
    session: &str,
    seat: &Seat,
    ways: &crate::terminal::Ways,
) -> Markup {
    let stream = format!("/s/{session}/pratique/{}/direct", seat.id);
    session_layout(
        &format!("Mes résultats — {}", seat.name),
        account,
        csrf,
        session,
        Some(&stream),
        html! {
            p { "Vos sessions (terminaux enregistrés). " (ways.links(session, &seat.id)) }
            div id="resultats" data-live {
                p { "Temps : " (phase_text(&seat.phase)) }
                @match &seat.grade {
                    None => p { "Pas encore de vérification : elles apparaîtront ici." },
                    Some(g) => {
                        p { "Vérifié à " (time_of(&g.at)) " — " strong { (plateau_report::number(g.score)) " / " (g.max_score) } }
                        table {
                            tr { th { "Vérification" } th { "Résultat" } }
                            @for (_, title, status) in &g.checks {
                                @let (class, word) = practice_word(*status);
                                tr { td { (title) } td class=(class) { (word) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// What a built-in fault does, in French (the grader's table is in English).
fn builtin_fr(id: &str) -> Option<&'static str> {
    Some(match id {
        "stop-service" => "arrête un service (le candidat doit le trouver et le relancer)",
        "no-gateway" => "supprime la route par défaut de la machine",
        "wrong-dns" => "fait pointer le résolveur vers une adresse où aucun DNS ne répond",
        "cut-link" => "désactive une interface réseau",
        "lock-user" => "verrouille un compte (dans le domaine sur un contrôleur de domaine)",
        "block-port" => "bloque les connexions TCP vers un port, sur la machine et à travers elle (nft requis)",
        "fill-disk" => "remplit le disque (machines : /var sauf 1 Mio par défaut ; conteneurs : `size` obligatoire)",
        "skew-clock" => "décale l'horloge (machines ayant leur propre horloge seulement)",
        _ => return None,
    })
}

fn practice_word(s: Status) -> (&'static str, &'static str) {
    match s {
        Status::Pass => ("pass", "fait"),
        Status::Fail => ("fail", "à faire"),
        Status::Error => ("error", "non vérifiable"),
    }
}
