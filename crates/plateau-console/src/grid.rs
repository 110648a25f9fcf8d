//! A candidate's grid for the jury: criteria by competence, the checks
//! and their evidence, the jury's decisions, and the interventions' timeline.

use maud::{Markup, html};
use plateau_exam::{Account, CandidateGrade};

use crate::pages::{date_of, session_layout, status_word, time_of, verdict_word};

/// Why the grader decided: what it compared, and each command or probe
/// with where it ran from, what came back and how long it took.
fn evidence(check: &plateau_exam::CheckResult) -> Markup {
    let e = &check.evidence;
    html! {
        details.evidence {
            summary { "Preuves (" (time_of(&e.at)) ", " (format!("{:.0}", e.duration_ms)) " ms" @if e.attempts > 1 { ", " (e.attempts) " essais" } ")" }
            @if let Some(error) = &e.error { p.error { "Non vérifiable : " (error) } }
            @if !e.assertions.is_empty() {
                table {
                    tr { th { "Comparé" } th { "Attendu" } th { "Constaté" } }
                    @for a in &e.assertions {
                        tr { td { (a.what) } td { code { (a.expected) } } td class=(if a.ok { "pass" } else { "fail" }) { code { (a.actual) } } }
                    }
                }
            }
            @for a in &e.actions {
                div.action {
                    small.muted { (a.from) ", " (format!("{:.0}", a.duration_ms)) " ms" @if let Some(code) = a.exit_code { ", code de sortie " (code) } }
                    pre { "$ " (a.sent) "\n" (a.output) }
                }
            }
        }
    }
}

pub fn candidate(
    account: &Account,
    csrf: &str,
    session: &str,
    candidate: &str,
    grade: Option<&CandidateGrade>,
    may_decide: bool,
    timeline: Markup,
) -> Markup {
    let Some(grade) = grade else {
        let title = format!("Grille de {candidate}");
        return session_layout(&title, account, csrf, session, None, html! { p { "Pas encore évalué." } (timeline) });
    };
    let file = |name: &str| format!("/s/{session}/c/{candidate}/{name}");
    session_layout(
        &format!("Grille de {} ({candidate})", grade.name),
        account,
        csrf,
        session,
        None,
        html! {
            p {
                "Score des vérifications : " strong { (plateau_report::number(grade.score)) " / " (grade.max_score) }
                " — télécharger : "
                a href=(file("grille.pdf")) { "grille PDF" } ", "
                a href=(file("grille.html")) { "grille HTML" } ", "
                a href=(file("resultats.json")) { "résultats JSON" } ", "
                a href=(file("resultats.csv")) { "CSV" }
            }
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
                                    (evidence(check))
                                }
                            }
                            @if let Some(material) = &c.material {
                                div.material { "Pièces : " (material) }
                            }
                        }
                        td class=(class) { (word) }
                        td {
                            @if let Some(o) = &c.jury {
                                @let (oclass, oword) = verdict_word(o.verdict);
                                div { span class=(oclass) { (oword) } br; small { (o.comment) " — " (o.by) " (" (date_of(&o.at)) ")" } }
                            }
                            @if may_decide {
                                form method="post" action={ "/s/" (session) "/c/" (candidate) "/decision" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="criterion" value=(c.criterion);
                                    // No verdict chosen: the jury decides, the form suggests nothing.
                                    select name="verdict" required {
                                        option value="" selected disabled { "— décision —" }
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
            (timeline)
        },
    )
}
