//! Benchmark of the seat gateway on a real session (`plateau up` of
//! CANDIDATES × tai-small, already up, and a candidate account per
//! candidate named like it, password `candidat-2026`): the delay from a key
//! sent to its echo, through the browser terminal (WebSocket → console →
//! engine exec) and straight through the candidate's SSH access (relay →
//! sshd), each over SAMPLES keys; then the console's memory with two
//! terminals per candidate open at once.
//! Run by `scripts/bench-terminal`, which brings the session up.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};

use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

const SAMPLES: usize = 200;

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or_default().to_string();
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn sign_in(base: &str, name: &str) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = format!("name={name}&password=candidat-2026");
    let answer = client
        .post(format!("{base}/connexion"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let cookie = answer.headers().get("set-cookie").expect("signed in").to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

async fn terminal(base: &str, session: &str, candidate: &str, node: &str, cookie: &str) -> Socket {
    let url = format!("{}/s/{session}/terminal/{candidate}/{node}/flux", base.replace("http", "ws"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("the terminal opens");
    // The shell's first prompt.
    tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap();
    socket
}

/// Milliseconds from each key sent to the first output after it.
async fn through_gateway(socket: &mut Socket) -> Vec<f64> {
    let mut samples = Vec::new();
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Some(Ok(_)) = tokio::time::timeout(Duration::from_millis(100), socket.next()).await.ok().flatten() {}
    for i in 0..SAMPLES {
        let key = if i % 60 == 59 { "\u{15}" } else { "x" }; // Ctrl-U now and then: the line stays short
        let sent = Instant::now();
        // A control key must be escaped in JSON: serde writes the message.
        socket.send(Message::text(serde_json::json!({ "keys": key }).to_string())).await.unwrap();
        loop {
            match socket.next().await {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => break,
                Some(Ok(_)) => continue,
                other => panic!("the terminal ended: {other:?}"),
            }
        }
        samples.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    samples
}

struct Accept;
impl russh::client::Handler for Accept {
    type Error = russh::Error;
    async fn check_server_key(&mut self, _: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

async fn through_ssh(port: u16, password: &str) -> Vec<f64> {
    let config = Arc::new(russh::client::Config { nodelay: true, ..Default::default() });
    let mut handle = russh::client::connect(config, ("127.0.0.1", port), Accept).await.unwrap();
    assert!(handle.authenticate_password("technicien", password).await.unwrap().success(), "SSH password");
    let mut channel = handle.channel_open_session().await.unwrap();
    channel.request_pty(true, "xterm", 80, 24, 0, 0, &[]).await.unwrap();
    channel.request_shell(true).await.unwrap();
    let until_quiet = async |channel: &mut russh::Channel<russh::client::Msg>| {
        while tokio::time::timeout(Duration::from_millis(300), channel.wait()).await.is_ok() {}
    };
    until_quiet(&mut channel).await;
    let mut samples = Vec::new();
    for i in 0..SAMPLES {
        let key: &[u8] = if i % 60 == 59 { b"\x15" } else { b"x" };
        let sent = Instant::now();
        channel.data(key).await.unwrap();
        loop {
            match channel.wait().await {
                Some(russh::ChannelMsg::Data { data }) if !data.is_empty() => break,
                Some(_) => continue,
                None => panic!("the SSH session ended"),
            }
        }
        samples.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    samples
}

fn report(way: &str, mut samples: Vec<f64>) {
    let (median, p95) = (percentile(&mut samples, 0.5), percentile(&mut samples, 0.95));
    println!("{way:<28} median {median:6.2} ms   p95 {p95:6.2} ms   ({SAMPLES} keys)");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [binary, state, session, candidates, port_base, password] = args.as_slice() else {
        panic!("usage: bench_terminal PLATEAU_BINARY STATE SESSION CANDIDATES PORT_BASE C01_PASSWORD");
    };
    let candidates: usize = candidates.parse().unwrap();
    let port_base: u16 = port_base.parse().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(binary)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("PLATEAU_STATE", state)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let idle = rss_kb(server.id());
    let cookie = sign_in(&base, "c01").await;
    let mut first = terminal(&base, session, "c01", "ws", &cookie).await;
    report("browser terminal (gateway)", through_gateway(&mut first).await);
    report("SSH through the relay", through_ssh(port_base + 1, password).await);

    let mut open = vec![first];
    for n in 1..=candidates {
        let candidate = format!("c{n:02}");
        let cookie = sign_in(&base, &candidate).await;
        for node in ["ws", "dhcp"] {
            if n == 1 && node == "ws" {
                continue;
            }
            open.push(terminal(&base, session, &candidate, node, &cookie).await);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let busy = rss_kb(server.id());
    println!(
        "console memory: {:.1} MB idle, {:.1} MB with {} terminals open ({candidates} candidates × 2)",
        idle as f64 / 1024.0,
        busy as f64 / 1024.0,
        open.len()
    );
    drop(open);
    let _ = server.kill();
    let _ = server.wait();
}
