//! The service desk's tool: a request's ticket read through Request
//! Tracker's REST 2 API, on the helpdesk node, as the grader's own account
//! (`images/helpdesk/start.sh`: a password only root there reads). What the
//! ticket says is not enough: its history must show a technician did it.

use plateau_scenario::checks::helpdesk::{Asset, Ticket};
use serde_json::Value;

use super::*;

const API: &str = "http://127.0.0.1/REST/2.0";

/// Accounts whose actions are not a technician's work: the tool itself,
/// the grader, the administrator that set the platform up, nobody.
const NOT_TECHNICIANS: &[&str] = &["RT_System", "plateau-grader", "root", "Nobody"];

/// Tickets looked at in detail, of those whose subject matches.
const AT_MOST: usize = 5;

pub(super) async fn ticket(kind: &Ticket, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let on = cx.node()?;
    let mut query = match kind.number {
        Some(number) => format!("id = {number}"),
        None => format!("Subject LIKE '{}'", ticket_sql(&kind.subject)),
    };
    if let Some(from) = &kind.requestor {
        query.push_str(&format!(" AND Requestor.EmailAddress = '{}'", ticket_sql(from)));
    }
    let search = reqwest::Url::parse_with_params(
        &format!("{API}/tickets"),
        [
            ("query", query.as_str()),
            ("orderby", "id"),
            ("per_page", "100"),
            ("fields", "Subject,Status,Queue,Owner,Priority,Requestor"),
            ("fields[Queue]", "Name"),
        ],
    )
    .map_err(|e| Unable::Setup(format!("the search for `{}` is not a URL: {e}", kind.subject)))?;
    let found = listed(&get(on, search.as_str(), cx.timeout, seen).await?).map_err(Unable::Probe)?;
    let mut best: Option<(usize, Found, Worked)> = None;
    for ticket in found.into_iter().take(AT_MOST) {
        let history =
            get(on, &format!("{API}/ticket/{}/history?{HISTORY_FIELDS}", ticket.id), cx.timeout, seen).await?;
        let worked = worked(&ticket, &history_of(&history).map_err(Unable::Probe)?, &kind.status);
        let score = met(kind, &ticket, &worked).iter().filter(|(_, _, _, ok)| *ok).count();
        if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
            best = Some((score, ticket, worked));
        }
    }
    let Some((_, ticket, mut worked)) = best else {
        seen.expect(&format!("a ticket for « {} »", kind.subject), "in the tool", "none", false);
        return Ok(());
    };
    // Only the actions with words in them count: an empty comment documents nothing.
    let mut documented = Vec::new();
    for action in std::mem::take(&mut worked.actions) {
        if documented.len() as u32 >= kind.actions {
            break;
        }
        let url = format!("{API}/transaction/{}/attachments?fields=Content", action.id);
        if !attachments_text(&get(on, &url, cx.timeout, seen).await?).trim().is_empty() {
            documented.push(action);
        }
    }
    worked.actions = documented;
    seen.expect(&format!("a ticket for « {} »", kind.subject), "in the tool", ticket.shown(), true);
    for (what, expected, actual, ok) in met(kind, &ticket, &worked) {
        seen.expect(&what, expected, actual, ok);
    }
    Ok(())
}

pub(super) async fn asset(kind: &Asset, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let on = cx.node()?;
    let wanted = format!("« {} » in the asset register", kind.name);
    let condition = serde_json::json!([{ "field": "Name", "operator": "LIKE", "value": kind.name }]).to_string();
    let search = format!("{API}/assets?fields=Name,Status,Catalog&fields[Catalog]=Name&per_page=100");
    let found = assets_listed(&call(on, &search, Some(&condition), cx.timeout, seen).await?).map_err(Unable::Probe)?;
    let mut best: Option<(usize, Vec<Row>)> = None;
    // LIKE finds the name within others: only the name itself is this machine.
    for mut asset in found.into_iter().filter(|a| a.name.trim().eq_ignore_ascii_case(kind.name.trim())).take(AT_MOST) {
        asset.fields = fields_of(&get(on, &format!("{API}/asset/{}", asset.id), cx.timeout, seen).await?)
            .map_err(Unable::Probe)?;
        let history = get(on, &format!("{API}/asset/{}/history?{HISTORY_FIELDS}", asset.id), cx.timeout, seen).await?;
        let rows = asset_met(kind, &asset, &history_of(&history).map_err(Unable::Probe)?);
        let score = rows.iter().filter(|r| r.3).count();
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, rows));
        }
    }
    let Some((_, rows)) = best else {
        seen.expect(&wanted, "recorded", "none", false);
        return Ok(());
    };
    seen.expect(&wanted, "recorded", "found", true);
    for (what, expected, actual, ok) in rows {
        seen.expect(&what, expected, actual, ok);
    }
    Ok(())
}

/// One condition: what, expected, seen, met.
type Row = (String, String, String, bool);

/// An asset as the register tells it.
#[derive(Debug, Clone, PartialEq)]
struct Recorded {
    id: u64,
    name: String,
    catalog: String,
    status: String,
    /// Its custom fields with their values (`/asset/N` only; the register's
    /// fields hold one value each).
    fields: Vec<(String, String)>,
}

/// `POST /assets?fields=Name,Status,Catalog`: the assets found.
fn assets_listed(json: &str) -> Result<Vec<Recorded>, String> {
    items(json)?
        .iter()
        .map(|a| {
            Ok(Recorded {
                id: text(&a["id"]).parse().map_err(|_| format!("an asset without a number: {a}"))?,
                name: text(&a["Name"]),
                catalog: named(&a["Catalog"]),
                status: text(&a["Status"]),
                fields: Vec::new(),
            })
        })
        .collect()
}

/// `/asset/N`: its custom fields and their values.
fn fields_of(json: &str) -> Result<Vec<(String, String)>, String> {
    let v = parsed(json)?;
    Ok(v["CustomFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let values: Vec<String> = f["values"].as_array().into_iter().flatten().map(text).collect();
            (text(&f["name"]), values.join(", "))
        })
        .collect())
}

/// Two values the same for an inventory: any case, any surrounding spaces,
/// a MAC address in any usual notation.
fn same_value(expected: &str, actual: &str) -> bool {
    match (crate::probe::parse_mac(expected.trim()), crate::probe::parse_mac(actual.trim())) {
        (Ok(a), Ok(b)) => a == b,
        _ => expected.trim().to_lowercase() == actual.trim().to_lowercase(),
    }
}

fn asset_met(kind: &Asset, asset: &Recorded, history: &[Step]) -> Vec<Row> {
    let mut rows = Vec::new();
    // Made in the tool by a technician: the asset's first step is its creation.
    let created = history.iter().find(|s| s.kind == "Create");
    let by_technician = created.is_some_and(|s| !NOT_TECHNICIANS.contains(&s.creator.as_str()));
    let made = match created {
        Some(step) => format!("by {} at {}", step.creator, step.created),
        None => "its history does not show it".into(),
    };
    rows.push(("recorded through the tool".into(), "by a technician".into(), made, by_technician));
    if let Some(catalog) = &kind.catalog {
        rows.push((
            "catalog".into(),
            catalog.clone(),
            asset.catalog.clone(),
            asset.catalog.eq_ignore_ascii_case(catalog),
        ));
    }
    if let Some(status) = &kind.status {
        rows.push(("status".into(), status.clone(), asset.status.clone(), asset.status.eq_ignore_ascii_case(status)));
    }
    let value_of = |field: &str| {
        asset.fields.iter().find(|(name, _)| name.trim().eq_ignore_ascii_case(field.trim())).map(|(_, v)| v.clone())
    };
    for (field, expected) in &kind.fields {
        let actual = value_of(field).unwrap_or_default();
        rows.push((field.clone(), expected.clone(), or_none(actual.clone()), same_value(expected, &actual)));
    }
    for field in &kind.filled {
        let actual = value_of(field).unwrap_or_default().trim().to_string();
        let ok = !actual.is_empty();
        rows.push((field.clone(), "filled in".into(), or_none(actual), ok));
    }
    rows
}

const HISTORY_FIELDS: &str = "fields=Type,Creator,Created,Field,OldValue,NewValue&per_page=100";

/// GET `url` on the node as the grader; the body of a 200, else the
/// grader could not read the tool.
async fn get(on: &Executor, url: &str, timeout: Duration, seen: &mut Seen) -> Result<String, Unable> {
    call(on, url, None, timeout, seen).await
}

/// Ask the tool's API as the grader: a GET, or a POST of `json` (RT's
/// searches of assets take their conditions as a body).
async fn call(
    on: &Executor,
    url: &str,
    json: Option<&str>,
    timeout: Duration,
    seen: &mut Seen,
) -> Result<String, Unable> {
    let post =
        json.map(|body| format!(" -H 'Content-Type: application/json' --data-binary {}", sh(body))).unwrap_or_default();
    let command = format!(
        "curl -sS -g -m {} -w '\\n%{{http_code}}' -u \"plateau-grader:$(cat /var/lib/plateau/helpdesk/grader)\"{post} {}",
        secs(timeout),
        sh(url)
    );
    let out = seen.run(on, &command, timeout).await?;
    if out.exit_code != 0 {
        return Err(Unable::Probe(format!("the tool's API did not answer: {}", out.stderr.trim())));
    }
    match super::network::body_and_status(out.stdout.trim_end()) {
        (200 | 201, body) => Ok(body),
        (code, body) => {
            Err(Unable::Probe(format!("the tool's API answered HTTP {code}: {}", excerpt(body.trim(), 200))))
        }
    }
}

/// Quote for TicketSQL's single-quoted strings.
fn ticket_sql(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

/// A ticket as the search lists it.
#[derive(Debug, Clone, PartialEq)]
struct Found {
    id: u64,
    subject: String,
    status: String,
    queue: String,
    owner: String,
    priority: u32,
    requestors: Vec<String>,
}

impl Found {
    fn shown(&self) -> String {
        format!("#{} « {} » ({})", self.id, self.subject, self.status)
    }
}

/// One step of a ticket's history.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    id: u64,
    kind: String,
    creator: String,
    field: String,
    new_value: String,
    created: String,
}

/// What a technician did on a ticket, from its history.
#[derive(Debug, Default, PartialEq)]
struct Worked {
    /// Comments and replies by a technician, oldest first.
    actions: Vec<Step>,
    /// Who set the wanted status last, and when (a technician).
    status_set: Option<Step>,
}

/// A field that is a string, or a number RT sometimes gives unquoted.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// A linked record (a ticket's queue, an asset's catalog): its name when
/// the answer gives it, else its number.
fn named(link: &Value) -> String {
    link["Name"].as_str().map(str::to_string).unwrap_or_else(|| format!("#{}", text(&link["id"])))
}

fn parsed(json: &str) -> Result<Value, String> {
    serde_json::from_str(json).map_err(|e| format!("the tool's answer is not JSON: {e}"))
}

fn items(json: &str) -> Result<Vec<Value>, String> {
    let v = parsed(json)?;
    v["items"].as_array().cloned().ok_or_else(|| format!("the tool's answer lists nothing: {}", excerpt(json, 200)))
}

/// `/tickets?query=…`: the tickets found.
fn listed(json: &str) -> Result<Vec<Found>, String> {
    items(json)?
        .iter()
        .map(|t| {
            Ok(Found {
                id: text(&t["id"]).parse().map_err(|_| format!("a ticket without a number: {t}"))?,
                subject: text(&t["Subject"]),
                status: text(&t["Status"]),
                queue: named(&t["Queue"]),
                owner: text(&t["Owner"]["id"]),
                priority: text(&t["Priority"]).parse().unwrap_or(0),
                requestors: t["Requestor"].as_array().into_iter().flatten().map(|r| text(&r["id"])).collect(),
            })
        })
        .collect()
}

/// `/ticket/N/history`: its steps, oldest first.
fn history_of(json: &str) -> Result<Vec<Step>, String> {
    let mut steps: Vec<Step> = items(json)?
        .iter()
        .map(|s| Step {
            id: text(&s["id"]).parse().unwrap_or(0),
            kind: text(&s["Type"]),
            creator: text(&s["Creator"]["id"]),
            field: text(&s["Field"]),
            new_value: text(&s["NewValue"]),
            created: text(&s["Created"]),
        })
        .collect();
    steps.sort_by_key(|s| s.id);
    Ok(steps)
}

/// `/transaction/N/attachments?fields=Content`: the words written.
fn attachments_text(json: &str) -> String {
    items(json).unwrap_or_default().iter().map(|a| text(&a["Content"])).collect::<Vec<_>>().join("\n")
}

fn by_technician(step: &Step, ticket: &Found) -> bool {
    !NOT_TECHNICIANS.contains(&step.creator.as_str()) && !ticket.requestors.contains(&step.creator)
}

fn worked(ticket: &Found, history: &[Step], status: &str) -> Worked {
    let actions = history
        .iter()
        .filter(|s| matches!(s.kind.as_str(), "Comment" | "Correspond") && by_technician(s, ticket))
        .cloned()
        .collect();
    let status_set =
        history.iter().rev().find(|s| s.kind == "Status" && s.new_value == status && by_technician(s, ticket)).cloned();
    Worked { actions, status_set }
}

/// Each condition of the check: what, expected, seen, met.
fn met(kind: &Ticket, ticket: &Found, worked: &Worked) -> Vec<(String, String, String, bool)> {
    let mut rows = Vec::new();
    if let Some(queue) = &kind.queue {
        rows.push(("queue".into(), queue.clone(), ticket.queue.clone(), ticket.queue.eq_ignore_ascii_case(queue)));
    }
    if let Some(least) = kind.min_priority {
        rows.push(("priority".into(), format!("≥ {least}"), ticket.priority.to_string(), ticket.priority >= least));
    }
    if kind.owned {
        let taken = !NOT_TECHNICIANS.contains(&ticket.owner.as_str()) && !ticket.owner.is_empty();
        rows.push(("taken by".into(), "a technician".into(), or_none(ticket.owner.clone()), taken));
    }
    // RT itself makes a ticket `new`, then `open` at a technician's first
    // reply; any other status is a technician's act, which its history shows.
    let by_hand = !matches!(kind.status.as_str(), "new" | "open");
    let status = match (&worked.status_set, ticket.status == kind.status) {
        (Some(step), true) => format!("{} (set by {} at {})", ticket.status, step.creator, step.created),
        (None, true) if by_hand => {
            format!("{}, but no technician set it in the tool (its history does not show it)", ticket.status)
        }
        _ => ticket.status.clone(),
    };
    let reached = ticket.status == kind.status && (!by_hand || worked.status_set.is_some());
    rows.push(("status".into(), kind.status.clone(), status, reached));
    let shown: Vec<String> = worked
        .actions
        .iter()
        .map(|a| format!("{} by {} at {}", if a.kind == "Comment" { "comment" } else { "reply" }, a.creator, a.created))
        .collect();
    rows.push((
        "actions documented".into(),
        format!("≥ {} comment(s) or reply(ies) by a technician", kind.actions),
        list(&shown),
        worked.actions.len() as u32 >= kind.actions,
    ));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/fixtures/rt5/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// The check's parameters as a scenario gives them, beside its subject.
    fn kind(more: &str) -> Ticket {
        serde_json::from_str(&format!("{{\"subject\": \"imprimante\"{more}}}")).unwrap()
    }

    /// The conditions met and not, as `what: seen` lines, `!` before a failure.
    fn shown(rows: Vec<Row>) -> String {
        let lines: Vec<String> = rows
            .into_iter()
            .map(|(what, _, seen, ok)| format!("{}{what}: {seen}", if ok { "" } else { "!" }))
            .collect();
        lines.join("\n")
    }

    fn check(kind: Ticket, ticket: &Found, history: &[Step], expect: &str) {
        let worked = worked(ticket, history, &kind.status);
        assert_eq!(shown(met(&kind, ticket, &worked)), expect.trim());
    }

    /// An `asset` check's parameters beside the machine's name.
    fn asset_kind(more: &str) -> Asset {
        serde_json::from_str(&format!("{{\"name\": \"pc-accueil\"{more}}}")).unwrap()
    }

    fn check_asset(kind: Asset, asset: &Recorded, history: &[Step], expect: &str) {
        assert_eq!(shown(asset_met(&kind, asset, history)), expect.trim());
    }

    /// The technician's record of the reception's PC, as the tool answers it.
    fn recorded_pc() -> (Recorded, Vec<Step>) {
        let mut found = assets_listed(&fixture("assets-search.json")).unwrap();
        assert_eq!(found.len(), 1);
        let mut pc = found.remove(0);
        pc.fields = fields_of(&fixture("asset.json")).unwrap();
        (pc, history_of(&fixture("asset-history.json")).unwrap())
    }

    #[test]
    fn the_registers_answers_are_read() {
        let (pc, history) = recorded_pc();
        assert_eq!(
            (pc.id, pc.name.as_str(), pc.catalog.as_str(), pc.status.as_str()),
            (1, "PC-ACCUEIL", "Parc informatique", "in-use")
        );
        let fields: Vec<String> = pc.fields.iter().map(|(n, v)| format!("{n}={v}")).collect();
        assert_eq!(
            fields,
            [
                "Adresse MAC=52:54:00:AB:CD:EF",
                "Numéro de série=SN-4821-X",
                "Emplacement=Accueil",
                "Utilisateur=m.dupont"
            ]
        );
        let steps: Vec<String> = history.iter().map(|s| format!("{} {}", s.kind, s.creator)).collect();
        assert_eq!(steps, ["Create technicien", "Status technicien", "CustomField technicien"]);
    }

    #[test]
    fn an_asset_recorded_through_the_tool_passes_and_one_written_behind_its_back_does_not() {
        let (pc, history) = recorded_pc();
        // The brief's inventory: the MAC the platform drew (written in
        // another notation), its user and location, a serial number.
        let inventory = r#", "catalog": "parc informatique", "status": "in-use",
            "fields": {"Adresse MAC": "52-54-00-ab-cd-ef", "utilisateur": " M.Dupont ", "Emplacement": "Accueil"},
            "filled": ["Numéro de série"]"#;
        check_asset(
            asset_kind(inventory),
            &pc,
            &history,
            "recorded through the tool: by technicien at 2026-12-03T16:51:41Z
catalog: Parc informatique
status: in-use
Adresse MAC: 52:54:00:AB:CD:EF
Emplacement: Accueil
utilisateur: m.dupont
Numéro de série: SN-4821-X",
        );
        // Another machine's MAC, a field left empty, the wrong status.
        let mut wrong = pc.clone();
        wrong.fields = vec![("Adresse MAC".into(), "52:54:00:ab:cd:ee".into()), ("Numéro de série".into(), " ".into())];
        wrong.status = "new".into();
        check_asset(
            asset_kind(inventory),
            &wrong,
            &history,
            "recorded through the tool: by technicien at 2026-12-03T16:51:41Z
catalog: Parc informatique
!status: new
!Adresse MAC: 52:54:00:ab:cd:ee
!Emplacement: none
!utilisateur: none
!Numéro de série: none",
        );
        // Root writes the asset into the database: no creation in its
        // history, or one by the administrator or the grader.
        check_asset(asset_kind(""), &pc, &[], "!recorded through the tool: its history does not show it");
        let by_root: Vec<Step> = history.iter().cloned().map(|s| Step { creator: "root".into(), ..s }).collect();
        check_asset(asset_kind(""), &pc, &by_root, "!recorded through the tool: by root at 2026-12-03T16:51:41Z");
    }

    #[test]
    fn inventory_values_compare_as_a_technician_reads_them() {
        assert!(same_value("52:54:00:AB:CD:EF", "52-54-00-ab-cd-ef"));
        assert!(same_value("Accueil", " accueil "));
        assert!(!same_value("52:54:00:AB:CD:EF", "52:54:00:AB:CD:E0"));
        assert!(!same_value("Accueil", "Direction"));
    }

    #[test]
    fn the_tools_answers_are_read() {
        let new = listed(&fixture("search-new.json")).unwrap();
        let expected = Found {
            id: 1,
            subject: "Je ne peux plus me connecter".into(),
            status: "new".into(),
            queue: "Support".into(),
            owner: "Nobody".into(),
            priority: 0,
            requestors: vec!["m.dupont@agence.lan".into()],
        };
        assert_eq!(new, [expected]);
        let history = history_of(&fixture("history.json")).unwrap();
        let steps: Vec<String> = history.iter().map(|s| format!("{} {} {}", s.kind, s.creator, s.new_value)).collect();
        assert_eq!(steps[..2], ["Create plateau-grader ", "EmailRecord RT_System "]);
        assert!(steps.contains(&"Status technicien resolved".to_string()), "{steps:?}");
        assert!(attachments_text(&fixture("attachments-comment.json")).contains("samba-tool user enable"));
    }

    #[test]
    fn a_request_resolved_through_the_tool_passes_and_one_written_behind_its_back_does_not() {
        let history = history_of(&fixture("history.json")).unwrap();
        let resolved = listed(&fixture("search-resolved.json")).unwrap().remove(0);
        // Worked in the tool by `technicien`: taken, qualified, commented, answered, resolved.
        check(
            kind(r#", "queue": "Support", "min_priority": 50, "owned": true, "actions": 2"#),
            &resolved,
            &history,
            "queue: Support
priority: 50
taken by: technicien
status: resolved (set by technicien at 2026-12-03T14:32:25Z)
actions documented: comment by technicien at 2026-12-03T14:32:24Z, reply by technicien at 2026-12-03T14:32:24Z",
        );
        // Root on the node writes the ticket resolved, taken and qualified
        // in the database: its history has only the request.
        let created_only: Vec<Step> = history.iter().take(2).cloned().collect();
        check(
            kind(r#", "queue": "Achats", "owned": true"#),
            &resolved,
            &created_only,
            "!queue: Support
taken by: technicien
!status: resolved, but no technician set it in the tool (its history does not show it)
!actions documented: none",
        );
        // The requester's own words and the administrator's are no technician's work.
        let by_others: Vec<Step> = history
            .iter()
            .cloned()
            .map(|s| Step {
                creator: if s.kind == "Comment" { "m.dupont@agence.lan".into() } else { "root".into() },
                ..s
            })
            .collect();
        check(
            kind(""),
            &resolved,
            &by_others,
            "!status: resolved, but no technician set it in the tool (its history does not show it)
!actions documented: none",
        );
        // An escalated request still open: RT opened it itself at the reply.
        let open = Found { status: "open".into(), ..resolved.clone() };
        let until_open: Vec<Step> = history.iter().take_while(|s| s.new_value != "resolved").cloned().collect();
        check(
            kind(r#", "status": "open", "actions": 1"#),
            &open,
            &until_open,
            "status: open
actions documented: comment by technicien at 2026-12-03T14:32:24Z, reply by technicien at 2026-12-03T14:32:24Z",
        );
    }

    #[test]
    fn ticket_sql_strings_are_quoted() {
        assert_eq!(ticket_sql(r"l'imprimante \ A"), r"l\'imprimante \\ A");
    }
}
