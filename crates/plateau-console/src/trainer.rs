//! The trainer's page: each candidate's faults (present, repaired,
//! scheduled), and the forms to inject, revert and grade now.

use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::Markup;
use plateau_exam::{Account, Role};
use serde::Deserialize;

use crate::{Console, Refusal, check_csrf, follow, open_session, pages, signed_in};

/// The trainer's view: faults present per candidate, repaired or not.
async fn render_faults(console: &Console, account: &Account, csrf: &str, session: &str) -> Result<Markup, Refusal> {
    if !matches!(account.role, Role::Operator | Role::Trainer) {
        return Err(Refusal::Forbidden);
    }
    let ctx = open_session(console, account, session)?;
    let catalogue = ctx.fault_catalogue()?;
    let plans = ctx.candidates()?;
    let nodes: Vec<String> =
        plans.first().map(|c| c.plan.nodes.iter().map(|n| n.id.clone()).collect()).unwrap_or_default();
    Ok(pages::faults(account, csrf, session, &console.room(&ctx).await?, &catalogue, &nodes))
}

pub(crate) async fn faults_page(
    State(console): State<Console>,
    Path(session): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    Ok(render_faults(&console, &account, &csrf, &session).await?.into_response())
}

pub(crate) async fn faults_stream(
    State(console): State<Console>,
    Path(session): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    render_faults(&console, &account, &csrf, &session).await?;
    Ok(follow(console, &headers, move |console, account| {
        let (session, csrf) = (session.clone(), csrf.clone());
        async move { render_faults(&console, &account, &csrf, &session).await }
    }))
}

#[derive(Deserialize)]
pub(crate) struct FaultForm {
    csrf: String,
    /// `inject`, `random`, `revert`, `grade`.
    action: String,
    /// One candidate, or every one when empty.
    #[serde(default)]
    candidate: String,
    /// The fault (a scenario's id or a built-in's name).
    #[serde(default)]
    fault: String,
    /// A built-in's node.
    #[serde(default)]
    node: String,
    /// A built-in's parameters, `key=value` separated by spaces.
    #[serde(default)]
    params: String,
    /// Later: `+10min` or an RFC 3339 time; now when empty.
    #[serde(default)]
    at: String,
    /// `random`: how many per candidate.
    #[serde(default)]
    count: String,
}

/// The trainer's actions: inject (now, later, at random), revert, grade now.
pub(crate) async fn fault_act(
    State(console): State<Console>,
    Path(session): Path<String>,
    headers: HeaderMap,
    Form(form): Form<FaultForm>,
) -> Result<Response, Refusal> {
    let (account, csrf) = signed_in(&console, &headers)?;
    check_csrf(&csrf, &form.csrf)?;
    if !matches!(account.role, Role::Operator | Role::Trainer) {
        return Err(Refusal::Forbidden);
    }
    let ctx = open_session(&console, &account, &session)?;
    let candidate = Some(form.candidate.trim()).filter(|c| !c.is_empty());
    let progress = plateau_exam::Silent;
    let failures: Vec<String> = match form.action.as_str() {
        "inject" | "random" => {
            let pick = if form.action == "random" {
                let k = form.count.trim().parse().map_err(|_| Refusal::Invalid("combien de pannes ?".into()))?;
                plateau_exam::Pick::Random(k)
            } else {
                plateau_exam::Pick::Named(form.fault.trim().to_string())
            };
            let at = Some(form.at.trim()).filter(|a| !a.is_empty()).map(plateau_exam::when_to_unix).transpose()?;
            let params = form
                .params
                .split_whitespace()
                .map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Refusal::Invalid("paramètres : `clé=valeur` séparés par des espaces".into()))?;
            let node = Some(form.node.trim().to_string()).filter(|n| !n.is_empty());
            let injection = plateau_exam::Injection { pick, at, node, params };
            let outcomes = ctx.inject(candidate, &injection, &progress).await?;
            outcomes.into_iter().filter_map(|o| o.result.err().map(|e| format!("{} : {e}", o.candidate))).collect()
        }
        "revert" => {
            let outcomes = ctx.revert(candidate, form.fault.trim(), &progress).await?;
            outcomes.into_iter().filter_map(|o| o.result.err().map(|e| format!("{} : {e}", o.candidate))).collect()
        }
        "grade" => {
            let graded = ctx.grade(candidate, 4, &progress).await?;
            graded.into_iter().filter_map(|(c, r)| r.err().map(|e| format!("{c} : {e}"))).collect()
        }
        other => return Err(Refusal::Invalid(format!("« {other} » n'est pas une action"))),
    };
    console.forget_engine(&session).await;
    if !failures.is_empty() {
        return Err(Refusal::Invalid(failures.join(" ; ")));
    }
    Ok(Redirect::to(&format!("/s/{session}/pannes")).into_response())
}
