//! Benchmark of the live room: a session of 16 graded candidates (the
//! in-memory platform, so no Docker platform is needed), served by the real
//! `plateau serve`, watched by VIEWERS browsers' event streams. A change
//! (extra time for one candidate) is written to the database 20 times; the
//! figure is the time until every viewer has it, and the server's memory.
//! Usage: cargo run --release -p plateau-console --example bench_live -- PLATEAU_BINARY [VIEWERS]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use plateau_engine::{Engine, MemoryEngine};
use plateau_exam::{Role, Roster, Silent, UpRequest, Workspace};

const CANDIDATES: usize = 16;
const CHANGES: usize = 20;

fn rss_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_default().to_string();
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args.next().expect("usage: bench_live PLATEAU_BINARY [VIEWERS]");
    let viewers: usize = args.next().map_or(1, |v| v.parse().expect("VIEWERS is a number"));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let workspace = Workspace::new(&state, "bench").with_engine(Engine::Memory(MemoryEngine::new()));
    let request = UpRequest {
        file_name: "memory.toml".into(),
        text: include_str!("../../plateau-exam/tests/memory.toml").into(),
        session: "bench".into(),
        roster: Roster::Numbered(CANDIDATES),
        seed: None,
        port_base: 40000,
        access_host: "exam.example".into(),
        gateway: None,
    };
    workspace.up(request, &Silent).await.unwrap();
    let ctx = workspace.session("bench").unwrap();
    ctx.start(Some("3h")).await.unwrap();
    ctx.grade(None, 4, &Silent).await.unwrap();
    workspace.add_account("operateur", Role::Operator, "operateur-2026", None, &[]).unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(&binary)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("PLATEAU_STATE", &state)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut cookie = None;
    for _ in 0..100 {
        let form = "name=operateur&password=operateur-2026";
        let sign_in =
            client.post(format!("{base}/connexion")).header("content-type", "application/x-www-form-urlencoded");
        if let Ok(r) = sign_in.body(form).send().await {
            cookie = r.headers().get("set-cookie").map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cookie = cookie.expect("signed in");

    // Each viewer reads its stream and reports when it sees a marker.
    let (seen, mut seen_by) = tokio::sync::mpsc::unbounded_channel::<(usize, String, Instant)>();
    for viewer in 0..viewers {
        let (client, cookie, base, seen) = (client.clone(), cookie.clone(), base.clone(), seen.clone());
        tokio::spawn(async move {
            let mut stream =
                client.get(format!("{base}/s/bench/direct")).header("cookie", cookie).send().await.unwrap();
            let mut buffer = String::new();
            loop {
                let chunk: Vec<u8> = match stream.chunk().await {
                    Ok(Some(chunk)) => chunk.to_vec(),
                    _ => break,
                };
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    for marker in event.split("dont ").skip(1) {
                        let minutes = marker.split(" min accordées").next().unwrap_or_default().to_string();
                        let _ = seen.send((viewer, minutes, Instant::now()));
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = rss_kb(server.id(), "VmRSS:");

    let mut delays = Vec::new();
    for change in 1..=CHANGES {
        let written = Instant::now();
        ctx.extend("c16", "1min", "bench").unwrap();
        let wanted = change.to_string();
        let mut reached = std::collections::BTreeSet::new();
        while reached.len() < viewers {
            let (viewer, minutes, at) = tokio::time::timeout(Duration::from_secs(10), seen_by.recv())
                .await
                .expect("the change reached every viewer within 10 s")
                .unwrap();
            if minutes == wanted && reached.insert(viewer) && reached.len() == viewers {
                delays.push(at - written);
            }
        }
    }
    delays.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let page = client.get(format!("{base}/s/bench")).header("cookie", &cookie).send().await.unwrap();
    let page_kb = page.text().await.unwrap().len() as f64 / 1024.0;
    println!(
        "{CANDIDATES} candidates, {viewers} viewer(s), {CHANGES} changes: delay median {:.0} ms, max {:.0} ms; \
         page {page_kb:.0} KiB; server RSS {} MB (before the changes {} MB, peak {} MB)",
        ms(delays[delays.len() / 2]),
        ms(*delays.last().unwrap()),
        rss_kb(server.id(), "VmRSS:") / 1024,
        rss_before / 1024,
        rss_kb(server.id(), "VmHWM:") / 1024,
    );
    let _ = server.kill();
    let _ = server.wait();
}
