//! The printable evaluation grid of one candidate: summary by competence,
//! every criterion of the scenario's blocks with the automatic finding and
//! room for the jury's decision, the checks with their evidence, and the
//! signature boxes. Self-contained HTML with print CSS (print to PDF from any
//! browser).

use std::fmt::Write;

use plateau_results::{CandidateGrade, FaultEffect, GradeKind, Status, Verdict};

use crate::{Report, Texts, esc, number};

const STYLE: &str = "
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 10.5pt; margin: 1.5cm; color: #111; }
h1 { font-size: 16pt; margin: 0 0 .3em; } h2 { font-size: 12.5pt; margin: 1.2em 0 .4em; border-bottom: 1px solid #888; }
table { border-collapse: collapse; width: 100%; margin-bottom: .8em; }
th, td { border: 1px solid #999; padding: 3px 5px; vertical-align: top; text-align: left; }
th { background: #eee; } td.n { text-align: right; white-space: nowrap; }
.met, .pass { color: #0a5b20; font-weight: bold; } .not-met, .fail { color: #a0141e; font-weight: bold; }
.partial { color: #7a5200; font-weight: bold; } .undetermined, .error { color: #5a2a8a; font-weight: bold; }
.jury-only, .not-examined { color: #555; font-style: italic; }
.meta td { border: none; padding: 1px 8px 1px 0; } .blank { height: 2.2em; }
pre { white-space: pre-wrap; font-size: 8.5pt; margin: 2px 0; background: #f6f6f6; padding: 3px; }
details summary { cursor: pointer; }
.sign td { height: 5em; }
@media print { body { margin: 0; } details { display: block; } details > summary { list-style: none; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
";

/// The grid of one candidate of a report.
pub fn grid(report: &Report, candidate: &CandidateGrade) -> String {
    let t = Texts::for_language(&report.scenario.language);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} — {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        t.lang,
        t.grid_title,
        esc(&candidate.id)
    );
    let _ =
        write!(h, "<h1>{} — {}</h1>\n<table class=\"meta\">\n", t.grid_title, esc(&report.scenario.framework_title));
    for (label, value) in [
        (t.framework, format!("{} ({})", report.scenario.framework_title, report.scenario.framework)),
        (t.scenario, format!("{} — v{}", report.scenario.title, report.scenario.version)),
        (t.session, report.session.clone()),
        (t.candidate, format!("{} ({})", candidate.name, candidate.id)),
        (t.graded_at, candidate.started_at.clone()),
        (t.score, format!("{} / {}", number(candidate.score), candidate.max_score)),
    ] {
        let _ = writeln!(h, "<tr><td><b>{label}</b></td><td>{}</td></tr>", esc(&value));
    }
    let state = match &candidate.basis {
        Some(b) if b.kind == GradeKind::Record => {
            format!("{} {}", t.state_record, esc(b.cut_at.as_deref().unwrap_or("?")))
        }
        Some(b) if b.kind == GradeKind::Regrade => t.state_regrade.to_string(),
        _ => t.state_live.to_string(),
    };
    let _ = writeln!(h, "<tr><td><b>{}</b></td><td>{state}</td></tr>", t.graded_state);
    if let Some(b) = candidate.basis.as_ref().filter(|b| !b.snapshots.is_empty()) {
        let _ = writeln!(
            h,
            "<tr><td><b>{}</b></td><td><small>{}</small></td></tr>",
            t.snapshots,
            esc(&b.snapshots.join(", "))
        );
    }
    if let Some(b) = &candidate.basis {
        if let Some(why) = &b.failure {
            let _ = writeln!(h, "<tr><td><b>{}</b></td><td class=\"error\">{}</td></tr>", t.not_graded, esc(why));
        }
        if !b.not_kept.is_empty() {
            let items: String = b.not_kept.iter().map(|n| format!("<li>{}</li>", esc(n))).collect();
            let _ = writeln!(h, "<tr><td><b>{}</b></td><td><ul>{items}</ul></td></tr>", t.not_kept);
        }
    }
    if let Some(head) = &report.audit_head {
        let _ = writeln!(h, "<tr><td><b>{}</b></td><td><code>{}</code></td></tr>", t.audit_head, esc(head));
    }
    h.push_str("</table>\n");
    if !candidate.regrades.is_empty() {
        let _ = write!(
            h,
            "<h2>{}</h2>\n<table>\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>\n",
            t.regrades, t.date, t.score, t.reason, t.requested_by
        );
        for r in &candidate.regrades {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{} / {}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.at),
                number(r.score),
                r.max_score,
                esc(&r.reason),
                esc(&r.by)
            );
        }
        h.push_str("</table>\n");
    }

    let _ = write!(
        h,
        "<h2>{}</h2>\n<table>\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>\n",
        t.summary, t.competence, t.points, t.threshold, t.automatic, t.jury_decision
    );
    for unit in candidate.blocks.iter().chain(&candidate.competences) {
        let is_block = candidate.blocks.iter().any(|b| b.id == unit.id);
        let name = if is_block {
            format!("<b>{} {}</b>", esc(&unit.id), esc(&unit.title))
        } else {
            format!("{} {}", esc(&unit.id), esc(&unit.title))
        };
        let points = if unit.max_points == 0 {
            "—".to_string()
        } else {
            format!("{} / {}", number(unit.points), unit.max_points)
        };
        let _ = writeln!(
            h,
            "<tr><td>{name}</td><td class=\"n\">{points}</td><td class=\"n\">{:.0} %</td><td>{}</td><td class=\"blank\"></td></tr>",
            unit.threshold * 100.0,
            verdict(t, unit.verdict)
        );
    }
    h.push_str("</table>\n");

    let _ = write!(
        h,
        "<h2>{}</h2>\n<table>\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>\n",
        t.criterion, t.criterion, t.evidence_checks, t.automatic, t.jury_decision
    );
    let mut competence = "";
    for c in &candidate.criteria {
        if c.competence != competence {
            competence = &c.competence;
            let title = candidate.competences.iter().find(|u| u.id == c.competence).map_or("", |u| u.title.as_str());
            let _ = writeln!(h, "<tr><th colspan=\"4\">{} — {}</th></tr>", esc(&c.competence), esc(title));
        }
        let mut checks = if c.checks.is_empty() {
            format!("<span class=\"jury-only\">{}</span>", t.no_check)
        } else {
            esc(&c.checks.join(", "))
        };
        if let Some(material) = &c.material {
            let _ = write!(checks, "<br><small>{}{}</small>", t.material, esc(material));
        }
        let jury = match &c.jury {
            Some(o) => format!(
                "{}<br><small>{} — {} ({})</small>",
                verdict(t, o.verdict),
                esc(&o.comment),
                esc(&o.by),
                esc(&o.at)
            ),
            None => String::new(),
        };
        let _ = writeln!(
            h,
            "<tr><td><b>{}</b> {}</td><td>{checks}</td><td>{}</td><td class=\"blank\">{jury}</td></tr>",
            esc(&c.criterion),
            esc(&c.text),
            verdict(t, c.verdict)
        );
    }
    h.push_str("</table>\n");

    let _ = write!(
        h,
        "<h2>{}</h2>\n<table>\n<tr><th>{}</th><th>{}</th><th>{}</th></tr>\n",
        t.checks, t.check, t.status, t.points
    );
    for check in &candidate.checks {
        let status = crate::status_word(check.status);
        let _ = write!(
            h,
            "<tr><td><b>{}</b> — {}<br><small>{}</small>",
            esc(&check.id),
            esc(&check.title),
            esc(&check.criteria.join(", "))
        );
        let _ =
            write!(h, "<details><summary>{} ({:.0} ms)</summary>", esc(&check.evidence.at), check.evidence.duration_ms);
        for a in &check.evidence.assertions {
            let _ = write!(
                h,
                "<div class=\"{}\">{} {} — {} : {} ; {} : {}</div>",
                if a.ok { "pass" } else { "fail" },
                if a.ok { "✔" } else { "✘" },
                esc(&a.what),
                t.expected,
                esc(&a.expected),
                t.observed,
                esc(&a.actual)
            );
        }
        if let Some(e) = &check.evidence.error {
            let _ = write!(h, "<div class=\"error\">{}</div>", esc(e));
        }
        for action in &check.evidence.actions {
            let _ = write!(
                h,
                "<pre>{} {}: $ {}\n{}</pre>",
                t.sent_from,
                esc(&action.from),
                esc(&action.sent),
                esc(action.output.trim_end())
            );
        }
        let _ = writeln!(
            h,
            "</details></td><td class=\"{status}\">{}</td><td class=\"n\">{} / {}</td></tr>",
            t.status(check.status),
            number(check.points),
            check.max_points
        );
    }
    h.push_str("</table>\n");

    if !candidate.faults.is_empty() {
        // The tickets of the faults that arrived as a user's call.
        let tickets = candidate.faults.iter().any(|f| f.ticket.is_some());
        let ticket_head = if tickets { format!("<th>{}</th>", t.ticket) } else { String::new() };
        let _ = write!(
            h,
            "<h2>{}</h2>\n<table>\n<tr><th>{}</th><th>{}</th>{ticket_head}</tr>\n",
            t.faults, t.fault, t.status
        );
        for f in &candidate.faults {
            let (class, word) = match f.effect() {
                FaultEffect::Repaired => ("pass", t.repaired),
                FaultEffect::Present => ("fail", t.not_repaired),
                FaultEffect::NotObserved => ("error", t.not_observed),
            };
            let ticket = match &f.ticket {
                _ if !tickets => String::new(),
                None => "<td></td>".to_string(),
                Some(ticket) => {
                    let word = match ticket.status {
                        Status::Pass => t.ticket_handled,
                        Status::Fail => t.ticket_not_handled,
                        Status::Error => t.error,
                    };
                    let said: Vec<String> =
                        ticket.evidence.assertions.iter().map(|a| format!("{}: {}", a.what, a.actual)).collect();
                    format!(
                        "<td class=\"{}\">{word}<br><small>{}</small></td>",
                        crate::status_word(ticket.status),
                        esc(&said.join(" · "))
                    )
                }
            };
            let _ = writeln!(
                h,
                "<tr><td><b>{}</b> — {}<br><small>{}</small></td><td class=\"{class}\">{word}</td>{ticket}</tr>",
                esc(&f.id),
                esc(&f.title),
                esc(&f.checks.join(", "))
            );
        }
        h.push_str("</table>\n");
    }
    integrity(&mut h, t, candidate);
    let _ = write!(
        h,
        "<h2>{}</h2>\n<table>\n<tr><th>{}</th><th>{}</th></tr>\n<tr><td class=\"blank\" colspan=\"2\"></td></tr>\n</table>\n",
        t.observations, t.observations, t.date
    );
    let _ = write!(
        h,
        "<h2>{}</h2>\n<table class=\"sign\">\n<tr><th>{}</th><th>{}</th><th>{}</th></tr>\n",
        t.signatures, t.jury_member, t.name_signature, t.date
    );
    for n in 1..=2 {
        let _ = writeln!(h, "<tr><td>{} {n}</td><td></td><td></td></tr>", t.jury_member);
    }
    h.push_str("</table>\n</body>\n</html>\n");
    h
}

/// What changed on each node outside the expected work; the jury decides.
fn integrity(h: &mut String, t: &Texts, candidate: &CandidateGrade) {
    let _ = writeln!(h, "<h2>{}</h2>\n<p><small>{}</small></p>", t.integrity, t.integrity_intro);
    // A node that could not be read is named: it is not "no change".
    for u in &candidate.unverified {
        let _ = writeln!(
            h,
            "<p class=\"error\"><b>{} — {}</b> : {}</p>",
            t.integrity_unverified,
            esc(&u.node),
            esc(&u.why)
        );
    }
    if candidate.integrity.is_empty() {
        if candidate.unverified.is_empty() {
            let _ = writeln!(h, "<p>{}</p>", t.integrity_none);
        }
        return;
    }
    let _ =
        writeln!(h, "<table>\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>", t.node, t.path, t.change, t.seen);
    for node in &candidate.integrity {
        for c in &node.changes {
            let put_back = if c.put_back { format!("<br><small>{}</small>", t.put_back) } else { String::new() };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td><code>{}</code>{put_back}</td><td class=\"fail\">{}</td><td>{}</td></tr>",
                esc(&node.node),
                esc(&c.path),
                esc(&t.word(&c.change)),
                esc(&t.word(&c.seen))
            );
        }
        if node.more > 0 {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td colspan=\"3\">+ {} {}</td></tr>",
                esc(&node.node),
                node.more,
                t.more_changes
            );
        }
    }
    h.push_str("</table>\n");
}

fn verdict(t: &Texts, v: Verdict) -> String {
    let class = plateau_results::verdict_token(v);
    format!("<span class=\"{class}\">{}</span>", t.verdict(v))
}
