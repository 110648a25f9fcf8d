//! The console's pages, in French, rendered on the server (maud). No script:
//! forms post, pages reload.

use maud::{DOCTYPE, Markup, html};
use plateau_exam::{Account, CandidateGrade, PhaseRow, PhaseState, Role, Status, Verdict};

const STYLE: &str = "
body { font-family: 'DejaVu Sans', Arial, sans-serif; margin: 0; color: #111; }
header { background: #1d3557; color: #fff; padding: .6em 1.2em; display: flex; justify-content: space-between; align-items: center; }
header a { color: #fff; } header button { color: #fff; background: transparent; border: 1px solid #fff; border-radius: 3px; cursor: pointer; }
main { padding: 1em 1.5em; } tr.competence th { background: #dde4ee; }
table { border-collapse: collapse; margin: .6em 0; } th, td { border: 1px solid #bbb; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eee; } .met, .pass { color: #0a5b20; font-weight: bold; } .not-met, .fail { color: #a0141e; font-weight: bold; }
.partial { color: #7a5200; font-weight: bold; } .undetermined, .error { color: #5a2a8a; font-weight: bold; }
form.inline { display: inline; } textarea { width: 22em; height: 3em; }
";

fn layout(title: &str, account: Option<(&Account, &str)>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head { meta charset="utf-8"; title { (title) " — Plateau" } style { (STYLE) } }
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
                main { h1 { (title) } (body) }
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

fn verdict_word(v: Verdict) -> (&'static str, &'static str) {
    let word = match v {
        Verdict::Met => "acquis",
        Verdict::Partial => "partiellement acquis",
        Verdict::NotMet => "non acquis",
        Verdict::Undetermined => "à apprécier par le jury",
        Verdict::JuryOnly => "apprécié par le jury",
    };
    (plateau_exam::verdict_token(v), word)
}

fn status_word(s: Status) -> (&'static str, &'static str) {
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

/// One candidate of a session, as the session page shows them.
pub struct CandidateRow {
    pub id: String,
    pub name: String,
    pub phase: Option<PhaseRow>,
    pub grade: Option<CandidateGrade>,
}

fn phase_text(phase: &Option<PhaseRow>) -> String {
    match phase {
        None => "pas commencé".into(),
        Some(p) => {
            let what = if p.deadline.phase == plateau_exam::JURY { "jury" } else { "préparation" };
            match &p.state {
                PhaseState::Running { left } => format!("{what} : {} min restantes", left / 60),
                PhaseState::Due => format!("{what} : temps écoulé"),
                PhaseState::Cut { at } => format!("{what} : coupé à {at}"),
                PhaseState::Frozen { at } => format!("{what} : figé à {at}"),
            }
        }
    }
}

/// A button that posts one operator action.
fn action(session: &str, csrf: &str, action: &str, candidate: &str, label: &str, extra: Markup) -> Markup {
    html! {
        form.inline method="post" action={ "/s/" (session) "/action" } {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="action" value=(action);
            input type="hidden" name="candidate" value=(candidate);
            (extra)
            button type="submit" { (label) }
        }
    }
}

pub fn session(account: &Account, csrf: &str, session: &str, rows: &[CandidateRow]) -> Markup {
    let operator = account.role == Role::Operator;
    layout(
        &format!("Session {session}"),
        Some((account, csrf)),
        html! {
            @if operator {
                p {
                    (action(session, csrf, "start", "", "Démarrer l'épreuve", html! {}))
                    " "
                    (action(session, csrf, "freeze", "", "Figer tout le monde maintenant", html! {}))
                }
            }
            table {
                tr {
                    th { "Candidat" } th { "Phase" } th { "Note" } th { "État évalué" }
                    @if operator { th { "Actions" } }
                }
                @for row in rows {
                    tr {
                        td { a href={ "/s/" (session) "/c/" (row.id) } { (row.name) " (" (row.id) ")" } }
                        td { (phase_text(&row.phase)) }
                        @match &row.grade {
                            Some(g) => {
                                td { (plateau_report::number(g.score)) " / " (g.max_score) }
                                td { (match g.basis.as_ref().map(|b| b.kind) {
                                    Some(plateau_exam::GradeKind::Record) => "note de référence (état à l'échéance)",
                                    Some(plateau_exam::GradeKind::Regrade) => "nouvelle évaluation",
                                    _ => "plateforme en fonctionnement",
                                }) }
                            }
                            None => { td { "—" } td { "pas encore évalué" } }
                        }
                        @if operator {
                            td {
                                (action(session, csrf, "extend", &row.id, "Prolonger", html! {
                                    input name="duration" size="6" value="15min" aria-label="durée";
                                }))
                                " "
                                (action(session, csrf, "freeze", &row.id, "Figer", html! {}))
                                " "
                                (action(session, csrf, "regrade", &row.id, "Réévaluer", html! {
                                    input name="reason" size="14" placeholder="motif" required aria-label="motif";
                                }))
                            }
                        }
                    }
                }
            }
        },
    )
}

pub fn candidate(
    account: &Account,
    csrf: &str,
    session: &str,
    candidate: &str,
    grade: Option<&CandidateGrade>,
    may_decide: bool,
) -> Markup {
    let Some(grade) = grade else {
        return layout(&format!("Grille de {candidate}"), Some((account, csrf)), html! { p { "Pas encore évalué." } });
    };
    layout(
        &format!("Grille de {} ({candidate})", grade.name),
        Some((account, csrf)),
        html! {
            p { "Score des vérifications : " strong { (plateau_report::number(grade.score)) " / " (grade.max_score) } }
            table {
                tr { th { "Critère de performance" } th { "Vérifications" } th { "Constat automatique" } th { "Décision du jury" } }
                @for (i, c) in grade.criteria.iter().enumerate() {
                    @if i == 0 || grade.criteria[i - 1].competence != c.competence {
                        @let title = grade.competences.iter().find(|u| u.id == c.competence).map_or("", |u| u.title.as_str());
                        tr.competence { th colspan="4" { (c.competence) " — " (title) } }
                    }
                    @let (class, word) = verdict_word(c.verdict);
                    tr id=(c.criterion) {
                        td { strong { (c.criterion) } " " (c.text) }
                        td {
                            @for id in &c.checks {
                                @if let Some(check) = grade.checks.iter().find(|k| &k.id == id) {
                                    @let (sclass, sword) = status_word(check.status);
                                    div { (check.title) " : " span class=(sclass) { (sword) } }
                                }
                            }
                        }
                        td class=(class) { (word) }
                        td {
                            @if let Some(o) = &c.jury {
                                @let (oclass, oword) = verdict_word(o.verdict);
                                div { span class=(oclass) { (oword) } br; small { (o.comment) " — " (o.by) " (" (o.at) ")" } }
                            }
                            @if may_decide {
                                form method="post" action={ "/s/" (session) "/c/" (candidate) "/decision" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="criterion" value=(c.criterion);
                                    select name="verdict" {
                                        option value="met" { "acquis" }
                                        option value="partial" { "partiellement acquis" }
                                        option value="not-met" { "non acquis" }
                                    }
                                    br;
                                    textarea name="comment" placeholder="Motif (obligatoire)" required {}
                                    br;
                                    button type="submit" { "Enregistrer la décision" }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
