//! Network kinds: ports, reachability, web pages, DNS records.
//!
//! Every attempt to get through is read as an [`Attempt`]: through, stopped
//! on the way, or unproven (the sender's own tool or network failed first).
//! A denial passes only when stopped; an unproven attempt never passes.

use plateau_scenario::checks::network::{
    DnsRecord, HttpGet, Ping, Protocol, Reach as ReachCheck, ReachTarget, Reachability, TcpPort,
};

use super::*;

/// What one attempt to get through proved.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    /// It got through; how it was answered (`open`, `echo reply`, `HTTP 200`).
    Through(String),
    /// Refused or dropped on the way (`closed (refused)`, `filtered (no answer)`).
    Stopped(String),
    /// Nothing proven either way: the sender had no route, the name did not
    /// resolve, or its tool failed for another reason.
    Unproven(String),
}

impl Attempt {
    fn through(&self) -> bool {
        matches!(self, Attempt::Through(_))
    }

    fn shown(&self) -> String {
        match self {
            Attempt::Through(how) | Attempt::Stopped(how) => how.clone(),
            Attempt::Unproven(why) => format!("unproven: {why}"),
        }
    }
}

/// A tool the sender does not have (the shell's 126/127) is the grader's
/// failure to look, whatever the expectation.
fn tool_missing(exit_code: i64, output: &str) -> Result<(), Unable> {
    if exit_code == 126 || exit_code == 127 {
        return Err(Unable::Probe(format!("the sender's tool did not run (exit {exit_code}): {}", output.trim())));
    }
    Ok(())
}

/// A denial is proven only by an attempt that was stopped.
fn denial(what: &str, attempt: &Attempt) -> Result<bool, Unable> {
    match attempt {
        Attempt::Unproven(why) => Err(Unable::Probe(format!("{what}: the denial cannot be proven: {why}"))),
        other => Ok(!other.through()),
    }
}

pub(super) async fn tcp_port(kind: &TcpPort, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let TcpPort { host, port, expect } = kind;
    let what = format!("port {port} of {host}");
    let attempt = tcp_state(host, *port, cx.sender(), cx.timeout, seen).await?;
    let (expected, ok) = match expect {
        PortState::Open => ("open", attempt.through()),
        PortState::Closed => ("closed or filtered", denial(&what, &attempt)?),
    };
    seen.expect(&what, expected, attempt.shown(), ok);
    Ok(())
}

/// A TCP connection to `host:port`, from a node (`nc`) or from the controller.
async fn tcp_state(
    host: &str,
    port: u16,
    from: Sender<'_>,
    timeout: Duration,
    seen: &mut Seen,
) -> Result<Attempt, Unable> {
    Ok(match from {
        Sender::Node(on) => {
            let out =
                seen.run_waiting(on, &format!("nc -z -v -w {} {} {port}", secs(timeout), sh(host)), timeout).await?;
            tool_missing(out.exit_code, &out.stderr)?;
            nc_attempt(out.exit_code, &out.stderr)
        }
        Sender::Controller(prober) => {
            seen.start();
            let state = prober.tcp(host, port, timeout).await;
            let attempt = match state {
                Ok(probe::Port::Open) => Attempt::Through(probe::Port::Open.to_string()),
                Ok(stopped) => Attempt::Stopped(stopped.to_string()),
                Err(e) => Attempt::Unproven(e.to_string()),
            };
            seen.probe(prober, format!("TCP connect {host}:{port}"), attempt.shown());
            attempt
        }
    })
}

pub(super) async fn ping(kind: &Ping, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let Ping { host, reachable } = kind;
    let what = format!("{host} answers ping");
    let attempt = echo(host, cx.sender(), cx.timeout, seen).await?;
    let ok = if *reachable { attempt.through() } else { denial(&what, &attempt)? };
    seen.expect(&what, yes_no(*reachable), attempt.shown(), ok);
    Ok(())
}

/// One echo request to `host`, from a node or from the controller.
async fn echo(host: &str, from: Sender<'_>, timeout: Duration, seen: &mut Seen) -> Result<Attempt, Unable> {
    let command = format!("ping -c 1 -W {} {}", secs(timeout), sh(host));
    Ok(match from {
        Sender::Node(on) => {
            let out = seen.run_waiting(on, &command, timeout).await?;
            tool_missing(out.exit_code, &out.stderr)?;
            ping_attempt(out.exit_code, &format!("{}{}", out.stdout, out.stderr))
        }
        Sender::Controller(prober) => {
            seen.start();
            let (exit_code, output) = prober.ping(host, timeout).await?;
            seen.probe(prober, command, output.clone());
            ping_attempt(exit_code, &output)
        }
    })
}

/// A firewall's rules as the sender sees them, each denial backed by a
/// positive control. When the `control` does not answer, the sender may have
/// no network at all, so nothing is proven: `error`. Without a control, the
/// allowed targets play its part: when none answers, they fail and the
/// denials are left unproven — never a pass. A denied target whose attempt
/// proved nothing (no route, a name that does not resolve) is `error`.
pub(super) async fn reach(kind: &ReachCheck, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let mut outcomes = Vec::new();
    for target in &kind.targets {
        outcomes.push(reach_one(target, cx.sender(), cx.timeout, seen).await?);
    }
    if let Some(control) = &kind.control {
        let attempt = reach_one(control, cx.sender(), cx.timeout, seen).await?;
        if !attempt.through() {
            return Err(Unable::Probe(format!(
                "the sender does not reach its control ({}: {}): its denials prove nothing",
                control.describe(),
                attempt.shown()
            )));
        }
    }
    let allowed = |t: &ReachTarget| t.expect == Reachability::Allowed;
    let proven = kind.control.is_some() || kind.targets.iter().zip(&outcomes).any(|(t, a)| allowed(t) && a.through());
    for (target, attempt) in kind.targets.iter().zip(&outcomes) {
        let (expected, shown, ok) = match (allowed(target), proven) {
            (true, _) => ("allowed", attempt.shown(), attempt.through()),
            (false, false) => {
                ("denied", format!("unproven: the sender reached nothing it should ({})", attempt.shown()), false)
            }
            (false, true) => ("denied", attempt.shown(), denial(&target.describe(), attempt)?),
        };
        seen.expect(&target.describe(), expected, shown, ok);
    }
    Ok(())
}

/// One target's attempt.
async fn reach_one(
    target: &ReachTarget,
    from: Sender<'_>,
    timeout: Duration,
    seen: &mut Seen,
) -> Result<Attempt, Unable> {
    match (&target.url, &target.host, target.protocol, target.port) {
        (Some(url), ..) => Ok(match http(url, from, timeout, seen).await? {
            Ok((code, _)) => Attempt::Through(format!("HTTP {code}")),
            Err(attempt) => attempt,
        }),
        (None, Some(host), Protocol::Icmp, _) => echo(host, from, timeout, seen).await,
        (None, Some(host), Protocol::Tcp, Some(port)) => tcp_state(host, port, from, timeout, seen).await,
        _ => Err(Unable::Setup(format!("`reach` target {} names no destination", target.describe()))),
    }
}

/// A GET of `url` from a node (curl, or PowerShell on Windows) or from the
/// controller: the status and the page, or the attempt that got no answer.
async fn http(
    url: &str,
    from: Sender<'_>,
    timeout: Duration,
    seen: &mut Seen,
) -> Result<Result<(u16, String), Attempt>, Unable> {
    Ok(match from {
        Sender::Node(on) if on.shell() == Shell::Posix => {
            let command = format!("curl -sS -m {} -w '\\n%{{http_code}}' {}", secs(timeout), sh(url));
            let out = seen.run_waiting(on, &command, timeout).await?;
            tool_missing(out.exit_code, &out.stderr)?;
            curl_answer(out.exit_code, &out.stdout, &out.stderr)
        }
        Sender::Node(on) => {
            let script = format!(
                "try {{ $r = Invoke-WebRequest -UseBasicParsing -TimeoutSec {} {}; $r.Content; $r.StatusCode }} catch {{ ''; 0 }}",
                secs(timeout),
                ps(url)
            );
            match body_and_status(seen.run(on, &script, timeout).await?.stdout.trim_end()) {
                (0, _) => Err(Attempt::Unproven("no HTTP answer (PowerShell does not say why)".into())),
                page => Ok(page),
            }
        }
        Sender::Controller(prober) => {
            seen.start();
            let (code, body) = prober.http_get(url, timeout).await?;
            seen.probe(prober, format!("GET {url}"), format!("HTTP {code}\n{body}"));
            match code {
                // reqwest's own words: a timeout or a refused connection is
                // an answer of the network; anything else proves nothing.
                0 if body.contains("timed out") || body.contains("Connection refused") => {
                    Err(Attempt::Stopped(format!("no HTTP answer ({})", body.trim())))
                }
                0 => Err(Attempt::Unproven(format!("no HTTP answer ({})", body.trim()))),
                _ => Ok((code, body)),
            }
        }
    })
}

pub(super) async fn http_get(kind: &HttpGet, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let HttpGet { url, status, contains, served_by } = kind;
    let client = cx.sender_or(cx.from.or(cx.node().ok()));
    let (code, body, shown) = match http(url, client, cx.timeout, seen).await? {
        Ok((code, body)) => (code, body, code.to_string()),
        Err(attempt) => (0, String::new(), attempt.shown()),
    };
    seen.expect("HTTP status", status.to_string(), shown, code == *status);
    if let Some(text) = contains {
        seen.expect("page contains", text.clone(), excerpt(body.trim(), 80), body.contains(text.as_str()));
    }
    if let Some(server) = served_by
        && code == 0
    {
        // No page at all: the check fails on that already.
        seen.expect("answered by", server.clone(), "nobody (no page came back)", false);
    } else if let Some(server) = served_by {
        // A path nobody can know before this grading, asked the same way;
        // whatever answers, only the server's own log says it was the one.
        let path = format!("/.plateau-probe-{:016x}", rand::random::<u64>());
        let probe = reqwest::Url::parse(url)
            .and_then(|u| u.join(&path))
            .map_err(|e| Unable::Setup(format!("`{url}` is not a URL: {e}")))?;
        // The page came back but this did not: it proves nothing of who
        // serves the page (a network that dropped it for a moment): `error`,
        // never "another server".
        if let Err(attempt) = http(probe.as_str(), client, cx.timeout, seen).await? {
            return Err(Unable::Probe(format!(
                "the one-off request for {path} got no answer ({}): which server answers is not proven",
                attempt.shown()
            )));
        }
        let on = cx.reach.node(server).ok_or_else(|| Unable::Setup(format!("node `{server}` has no grader access")))?;
        let command = format!("grep -c -F -- {} /var/log/plateau/http.log", sh(&format!("url:{path}")));
        let out = seen.run(on, &command, cx.timeout).await?;
        let served = match (out.exit_code, out.stdout.trim()) {
            (0, _) => true,
            // The internet stand-in's log is the platform's own: a request
            // it did not log went elsewhere. A candidate's web server logs
            // where its sites say: a site of theirs that logs elsewhere
            // proves nothing either way.
            (1, "0") if cx.reach.role(server) == Some(Role::Internet) => false,
            (1, "0") => {
                return Err(Unable::Probe(format!(
                    "the one-off request for {path} is not in {server}'s /var/log/plateau/http.log: another server \
                     answered, or the site logs elsewhere (its own `access_log`)"
                )));
            }
            _ => return Err(Unable::Probe(format!("{server}'s web server log was not read: {}", out.stderr.trim()))),
        };
        let seen_there = if served { format!("{server} (its log has {path})") } else { "another server".to_string() };
        seen.expect("answered by", server.clone(), seen_there, served);
    }
    Ok(())
}

pub(super) async fn dns_record(kind: &DnsRecord, cx: &Cx<'_, impl Reach>, seen: &mut Seen) -> Result<(), Unable> {
    let DnsRecord { name, record, server, expect } = kind;
    let timeout = cx.timeout;
    let answers = match cx.sender() {
        Sender::Node(on) => {
            let at = server.as_ref().map(|s| format!("@{} ", sh(s))).unwrap_or_default();
            let command =
                format!("dig +short +time={} +tries=1 {at}{} {}", secs(timeout), sh(name), record_name(*record));
            let out = seen.run(on, &command, timeout).await?;
            // 9: no server answered, which the client sees as no answer.
            if out.exit_code != 0 && out.exit_code != 9 {
                return Err(Unable::Probe(format!("dig failed: {}", out.stderr.trim())));
            }
            dig_answers(&out.stdout)
        }
        Sender::Controller(prober) => {
            let server = server
                .as_deref()
                .ok_or_else(|| Unable::Setup("a DNS probe from the controller needs `server`".to_string()))?;
            seen.start();
            let reply = prober.dns(server, name, *record, timeout).await?;
            let shown = reply.failure.clone().unwrap_or_else(|| reply.records.join("\n"));
            seen.probe(prober, format!("DNS {} {name} @{server}", record_name(*record)), shown);
            reply.records
        }
    };
    let actual = if answers.is_empty() { "no answer".to_string() } else { answers.join(", ") };
    match expect {
        Some(want) => {
            let ok = answers.iter().any(|a| a.eq_ignore_ascii_case(want.trim_end_matches('.')));
            seen.expect(&format!("{} {name}", record_name(*record)), want.clone(), actual, ok);
        }
        None => seen.expect(&format!("{} {name}", record_name(*record)), "an answer", actual, !answers.is_empty()),
    }
    Ok(())
}

/// `nc -z -v`: connected, refused or dropped on the way, or nothing proven
/// (no route from the sender, a name that does not resolve, another failure).
fn nc_attempt(exit_code: i64, stderr: &str) -> Attempt {
    let said = stderr.trim();
    if exit_code == 0 {
        Attempt::Through(probe::Port::Open.to_string())
    } else if said.contains("refused") {
        Attempt::Stopped(probe::Port::Closed.to_string())
    } else if said.contains("timed out") {
        Attempt::Stopped(probe::Port::Filtered.to_string())
    } else if said.contains("No route to host") {
        // An ICMP "host unreachable": a router's or firewall's answer.
        Attempt::Stopped("unreachable (no route to host)".into())
    } else {
        Attempt::Unproven(unproven_why(said))
    }
}

/// `ping -c 1`: 0 a reply, 1 none; anything else (2: could not send) proves nothing.
fn ping_attempt(exit_code: i64, output: &str) -> Attempt {
    match exit_code {
        0 => Attempt::Through("echo reply".into()),
        1 => Attempt::Stopped("no echo reply".into()),
        _ => Attempt::Unproven(format!("ping (exit {exit_code}): {}", unproven_why(output.trim()))),
    }
}

/// curl with `-w '\n%{http_code}'`: a page, or why nothing answered —
/// refused (7), no answer in time (28), an empty or broken reply (52, 56)
/// are the network's; the rest (6: the name does not resolve) proves nothing.
fn curl_answer(exit_code: i64, stdout: &str, stderr: &str) -> Result<(u16, String), Attempt> {
    let said = stderr.trim();
    match exit_code {
        0 => match body_and_status(stdout) {
            (0, _) => Err(Attempt::Unproven(format!("curl printed no status: {said}"))),
            page => Ok(page),
        },
        7 if !said.contains("Network is unreachable") => Err(Attempt::Stopped(format!("no HTTP answer ({said})"))),
        28 | 52 | 56 => Err(Attempt::Stopped(format!("no HTTP answer ({said})"))),
        _ => Err(Attempt::Unproven(format!("curl (exit {exit_code}): {}", unproven_why(said)))),
    }
}

/// A tool's complaint, named when it is a known one.
fn unproven_why(said: &str) -> String {
    let known = [
        ("Network is unreachable", "the sender has no route there"),
        ("Name or service not known", "the name does not resolve"),
        ("Temporary failure in name resolution", "the name does not resolve"),
        ("Could not resolve host", "the name does not resolve"),
    ];
    match known.iter().find(|(words, _)| said.contains(words)) {
        Some((_, meaning)) => format!("{meaning} ({said})"),
        None if said.is_empty() => "it failed without a word".into(),
        None => said.to_string(),
    }
}

/// A page followed by its status code on the last line (curl's `-w`, or
/// the PowerShell script's last output); status 0 when there is none.
pub(super) fn body_and_status(text: &str) -> (u16, String) {
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text));
    (code.trim().parse::<u16>().unwrap_or(0), body.to_string())
}

/// `dig +short`: one answer per line, without the trailing dot; `;;` lines
/// are dig's own complaints.
fn dig_answers(stdout: &str) -> Vec<String> {
    stdout.lines().filter(|l| !l.starts_with(";;")).map(|l| l.trim().trim_end_matches('.').to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A platform of one node, `ws`, whose commands the test answers.
    struct Scripted(Executor);

    impl Reach for Scripted {
        fn node(&self, id: &str) -> Option<&Executor> {
            ["ws", "internet", "web"].contains(&id).then_some(&self.0)
        }
        fn directory(&self) -> Option<&str> {
            None
        }
        fn role(&self, id: &str) -> Option<Role> {
            match id {
                "internet" => Some(Role::Internet),
                "web" => Some(Role::WebServer),
                _ => None,
            }
        }
        fn link(&self, _: &str) -> Option<&str> {
            None
        }
        fn prober(&self) -> &crate::prober::Prober {
            &crate::prober::Prober::Here
        }
    }

    fn scripted(answer: impl Fn(&str) -> plateau_engine::ExecOutput + Send + Sync + 'static) -> Scripted {
        let engine = plateau_engine::MemoryEngine::answering(move |_, command| answer(command));
        Scripted(Executor::Docker(crate::executor::DockerExecutor::new(plateau_engine::Engine::Memory(engine), "ws")))
    }

    fn out(exit_code: i64, stdout: &str, stderr: &str) -> plateau_engine::ExecOutput {
        plateau_engine::ExecOutput { exit_code, stdout: stdout.into(), stderr: stderr.into() }
    }

    /// `http_get` with `served_by`: the page from ws, then a one-off path
    /// the witness's log must hold. Its status, or the grader's error.
    async fn served_by(witness: &str, page_answered: bool, probe_answered: bool, logged: bool) -> String {
        let platform = scripted(move |command| {
            if command.contains("plateau-probe-") && command.starts_with("curl") {
                if probe_answered {
                    out(0, "not found\n404", "")
                } else {
                    out(28, "", "curl: (28) Connection timed out")
                }
            } else if command.starts_with("curl") && !page_answered {
                out(6, "\n000", "curl: (6) Could not resolve host: www.exemple.test")
            } else if command.starts_with("curl") {
                out(0, "Plateau\n200", "")
            } else if command.starts_with("grep -c") {
                if logged { out(0, "1\n", "") } else { out(1, "0\n", "") }
            } else {
                out(127, "", "not scripted")
            }
        });
        let check: Check = serde_json::from_value(serde_json::json!({
            "id": "web", "title": "web", "criteria": [], "node": "ws", "kind": "http_get",
            "url": "http://www.exemple.test/", "served_by": witness, "contains": "Plateau",
        }))
        .unwrap();
        let mut seen = Seen::default();
        match super::super::evaluate(&check, &platform, Duration::from_secs(3), &mut seen).await {
            Ok(()) if seen.assertions.iter().all(|a| a.ok) => "pass".into(),
            Ok(()) => {
                format!("fail: {:?}", seen.assertions.iter().filter(|a| !a.ok).map(|a| &a.actual).collect::<Vec<_>>())
            }
            Err(e) => format!("error: {e}"),
        }
    }

    /// Who serves the page is proven by the witness's log, and only a
    /// one-off request that was answered can prove it either way.
    #[tokio::test]
    async fn served_by_passes_on_the_log_and_an_unanswered_request_proves_nothing() {
        assert_eq!(served_by("internet", true, true, true).await, "pass");
        let elsewhere = served_by("internet", true, true, false).await;
        assert!(elsewhere.starts_with("fail: [\"another server\"]"), "{elsewhere}");
        let dropped = served_by("internet", true, false, false).await;
        assert!(dropped.starts_with("error: the one-off request for /.plateau-probe-"), "{dropped}");
        // No page at all (the candidate's DNS): a failure of the check.
        let no_page = served_by("internet", false, false, false).await;
        assert!(no_page.starts_with("fail: ") && no_page.contains("nobody (no page came back)"), "{no_page}");
    }

    /// A candidate's web server logs where their sites say: the one-off
    /// path found there proves it served the page, its absence proves
    /// nothing (a site with its own `access_log`).
    #[tokio::test]
    async fn a_candidates_web_server_proves_only_what_its_log_holds() {
        assert_eq!(served_by("web", true, true, true).await, "pass");
        let unlogged = served_by("web", true, true, false).await;
        assert!(unlogged.starts_with("error: the one-off request for /.plateau-probe-"), "{unlogged}");
        assert!(unlogged.contains("or the site logs elsewhere"), "{unlogged}");
    }

    #[test]
    fn nc_tells_through_stopped_and_unproven() {
        let check = |exit: i64, stderr: &str, expect: &str| {
            let shown = match nc_attempt(exit, stderr) {
                Attempt::Through(how) => format!("through: {how}"),
                Attempt::Stopped(how) => format!("stopped: {how}"),
                Attempt::Unproven(why) => format!("unproven: {why}"),
            };
            assert!(shown.starts_with(expect), "{stderr}: {shown}");
        };
        check(0, "Connection to 10.0.0.1 80 port [tcp/http] succeeded!", "through: open");
        check(1, "nc: connect to 10.0.0.1 port 81 (tcp) failed: Connection refused", "stopped: closed (refused)");
        check(1, "nc: connect to 10.0.0.1 port 80 (tcp) timed out: Operation now in progress", "stopped: filtered");
        check(1, "nc: connect to 10.0.0.9 port 80 (tcp) failed: No route to host", "stopped: unreachable");
        // The sender's own failures prove no denial.
        check(1, "nc: getaddrinfo for host \"nope\" port 80: Name or service not known", "unproven: the name");
        check(1, "nc: connect to 10.0.0.1 port 80 (tcp) failed: Network is unreachable", "unproven: the sender");
        check(1, "", "unproven: it failed without a word");
    }

    #[test]
    fn a_missing_tool_is_the_graders_error() {
        assert!(tool_missing(127, "sh: 1: nc: not found").is_err());
        assert!(tool_missing(126, "sh: 1: /usr/bin/nc: Permission denied").is_err());
        assert!(tool_missing(1, "nc: connect failed: Connection refused").is_ok());
    }

    #[test]
    fn ping_proves_a_reply_or_its_absence_and_nothing_else() {
        assert_eq!(ping_attempt(0, "1 received"), Attempt::Through("echo reply".into()));
        assert_eq!(ping_attempt(1, "0 received, 100% packet loss"), Attempt::Stopped("no echo reply".into()));
        for (exit, out) in [(2, "ping: nope: Name or service not known"), (2, "ping: connect: Network is unreachable")]
        {
            assert!(matches!(ping_attempt(exit, out), Attempt::Unproven(_)), "{out}");
        }
    }

    #[test]
    fn curl_tells_pages_network_answers_and_failures() {
        assert_eq!(curl_answer(0, "<h1>ok</h1>\n200", ""), Ok((200, "<h1>ok</h1>".to_string())));
        let stopped = |exit, said| matches!(curl_answer(exit, "\n000", said), Err(Attempt::Stopped(_)));
        let unproven = |exit, said| matches!(curl_answer(exit, "\n000", said), Err(Attempt::Unproven(_)));
        assert!(stopped(7, "curl: (7) Failed to connect to 10.0.0.1 port 80: Connection refused"));
        assert!(stopped(28, "curl: (28) Connection timed out after 2001 milliseconds"));
        assert!(unproven(7, "curl: (7) Failed to connect to 10.0.0.1 port 80: Network is unreachable"));
        assert!(unproven(6, "curl: (6) Could not resolve host: internet.example"));
        assert!(unproven(0, ""), "a zero exit without a status line is no page");
    }

    #[test]
    fn a_denial_needs_an_attempt_that_was_stopped() {
        assert!(denial("x", &Attempt::Stopped("closed (refused)".into())).unwrap());
        assert!(!denial("x", &Attempt::Through("open".into())).unwrap());
        assert!(denial("x", &Attempt::Unproven("the name does not resolve".into())).is_err());
    }

    #[test]
    fn the_status_code_is_the_last_line() {
        let check =
            |text: &str, code: u16, body: &str| assert_eq!(body_and_status(text), (code, body.to_string()), "{text:?}");
        check("<h1>Agence</h1>\n200", 200, "<h1>Agence</h1>");
        check("line one\nline two\n404", 404, "line one\nline two");
        check("\n000", 0, "");
        check("200", 200, "");
        check("", 0, "");
    }

    #[test]
    fn dig_answers_drop_complaints_and_trailing_dots() {
        let check = |out: &str, expect: &[&str]| assert_eq!(dig_answers(out), expect, "{out:?}");
        check("10.20.1.10\n", &["10.20.1.10"]);
        check("dc.agence.lan.\n10.20.1.10\n", &["dc.agence.lan", "10.20.1.10"]);
        check(";; communications error to 10.20.1.10#53: timed out\n;; no servers could be reached\n", &[]);
        check("", &[]);
    }
}
