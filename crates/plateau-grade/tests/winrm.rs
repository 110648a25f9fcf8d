//! The WinRM executor against a WS-Management endpoint on loopback that
//! answers as the specification (MS-WSMV) describes: Create shell, Command,
//! Receive (twice: running, then done), Signal terminate, Delete. No Windows
//! machine runs here; this exercises our side of the exchange for real.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use plateau_grade::executor::{ExecError, Execute, WinRmAuth, WinRmExecutor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SHELL_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";

#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Answer,
    /// Every Receive says "still running" (a hung command).
    Hang,
}

struct Server {
    url_port: u16,
    actions: Arc<Mutex<Vec<String>>>,
    bodies: Arc<Mutex<Vec<String>>>,
}

async fn serve(behaviour: Behaviour) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let actions = Arc::new(Mutex::new(Vec::new()));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (actions.clone(), bodies.clone());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(connection(stream, behaviour, a.clone(), b.clone()));
        }
    });
    Server { url_port: port, actions, bodies }
}

/// One HTTP/1.1 connection: requests in sequence, kept alive.
async fn connection(
    mut stream: TcpStream,
    behaviour: Behaviour,
    actions: Arc<Mutex<Vec<String>>>,
    bodies: Arc<Mutex<Vec<String>>>,
) {
    let mut buffer = Vec::new();
    let mut receives = 0;
    loop {
        let header_end = loop {
            if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..header_end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
            .unwrap_or(0);
        while buffer.len() < header_end + length {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await.unwrap();
            buffer.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buffer[header_end..header_end + length]).to_string();
        buffer.drain(..header_end + length);

        let expected = format!("Basic {}", STANDARD.encode("grader:S3cret!"));
        let authorized = head.lines().any(|l| {
            l.strip_prefix("Authorization: ").or(l.strip_prefix("authorization: ")) == Some(expected.as_str())
        });
        if !authorized {
            let _ = stream
                .write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"WSMAN\"\r\nContent-Length: 0\r\n\r\n")
                .await;
            continue;
        }
        let action = body
            .split("Action")
            .nth(1)
            .and_then(|rest| rest.split('>').nth(1))
            .and_then(|rest| rest.split('<').next())
            .unwrap_or("")
            .to_string();
        actions.lock().unwrap().push(action.rsplit('/').next().unwrap_or("").to_string());
        bodies.lock().unwrap().push(body.clone());
        let reply_body = match action.rsplit('/').next().unwrap_or("") {
            "Create" => format!(
                "<rsp:Shell xmlns:rsp=\"{SHELL_NS}\"><rsp:ShellId>11111111-2222-3333-4444-555555555555</rsp:ShellId></rsp:Shell>"
            ),
            "Command" => format!(
                "<rsp:CommandResponse xmlns:rsp=\"{SHELL_NS}\"><rsp:CommandId>AAAA-BBBB</rsp:CommandId></rsp:CommandResponse>"
            ),
            "Receive" => {
                receives += 1;
                if behaviour == Behaviour::Hang || receives == 1 {
                    format!(
                        "<rsp:ReceiveResponse xmlns:rsp=\"{SHELL_NS}\"><rsp:Stream Name=\"stdout\" CommandId=\"AAAA-BBBB\">{}</rsp:Stream>\
                         <rsp:CommandState CommandId=\"AAAA-BBBB\" State=\"{SHELL_NS}/CommandState/Running\"/></rsp:ReceiveResponse>",
                        if receives == 1 { STANDARD.encode("Running\r\n") } else { String::new() }
                    )
                } else {
                    format!(
                        "<rsp:ReceiveResponse xmlns:rsp=\"{SHELL_NS}\"><rsp:Stream Name=\"stderr\" CommandId=\"AAAA-BBBB\">{}</rsp:Stream>\
                         <rsp:Stream Name=\"stdout\" CommandId=\"AAAA-BBBB\" End=\"true\"></rsp:Stream>\
                         <rsp:CommandState CommandId=\"AAAA-BBBB\" State=\"{SHELL_NS}/CommandState/Done\"><rsp:ExitCode>3</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>",
                        STANDARD.encode("warning\r\n")
                    )
                }
            }
            "Signal" => format!("<rsp:SignalResponse xmlns:rsp=\"{SHELL_NS}\"/>"),
            _ => String::new(),
        };
        if behaviour == Behaviour::Hang && action.ends_with("Receive") {
            // A long poll that never completes in time.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let envelope = format!(
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\">\
             <s:Header><a:Action>{action}Response</a:Action><a:RelatesTo>uuid:0</a:RelatesTo></s:Header><s:Body>{reply_body}</s:Body></s:Envelope>"
        );
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{envelope}",
            envelope.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn executor(port: u16, password: &str) -> WinRmExecutor {
    WinRmExecutor::new("127.0.0.1", port, false, WinRmAuth::Basic, "grader", password).unwrap()
}

#[tokio::test]
async fn a_powershell_command_runs_through_the_whole_shell_lifecycle() {
    let server = serve(Behaviour::Answer).await;
    let out = executor(server.url_port, "S3cret!").run("Get-Service Spooler", Duration::from_secs(10)).await.unwrap();
    assert_eq!((out.exit_code, out.stdout.as_str(), out.stderr.as_str()), (3, "Running\r\n", "warning\r\n"));
    let actions = server.actions.lock().unwrap().clone();
    assert_eq!(&actions[..4], ["Create", "Command", "Receive", "Receive"], "{actions:?}");
    assert_eq!(actions.last().map(String::as_str), Some("Delete"), "{actions:?}");
    // The script travels as PowerShell's -EncodedCommand (UTF-16LE, base64).
    let utf16: Vec<u8> = "Get-Service Spooler".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    let command = server.bodies.lock().unwrap()[1].clone();
    assert!(command.contains("-EncodedCommand") && command.contains(&STANDARD.encode(&utf16)), "{command}");
}

#[tokio::test]
async fn wrong_credentials_are_an_auth_error() {
    let server = serve(Behaviour::Answer).await;
    let err = executor(server.url_port, "wrong").run("hostname", Duration::from_secs(10)).await.unwrap_err();
    assert!(matches!(err, ExecError::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn a_command_that_never_ends_times_out_and_its_shell_is_cleaned_up() {
    let server = serve(Behaviour::Hang).await;
    let started = Instant::now();
    let err = executor(server.url_port, "S3cret!").run("Start-Sleep 3600", Duration::from_secs(2)).await.unwrap_err();
    assert_eq!(err, ExecError::Timeout(Duration::from_secs(2)));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let actions = server.actions.lock().unwrap().clone();
    assert!(actions.contains(&"Delete".to_string()), "the remote shell must be deleted: {actions:?}");
}

#[tokio::test]
async fn nobody_listening_is_unreachable() {
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let err = executor(port, "S3cret!").run("hostname", Duration::from_secs(5)).await.unwrap_err();
    assert!(matches!(err, ExecError::Unreachable { .. }), "{err:?}");
}
