//! A terminal's recording, in asciicast v2 (what `asciinema play` replays):
//! a header line, then one `[seconds, "o", text]` line per output and
//! `[seconds, "r", "COLSxROWS"]` per resize. Keystrokes are not written
//! (a password typed without echo would be); what they did is the output.
//! Each event is written through at once: a crash loses nothing printed.
//! A recording stops growing at `LIMIT` (a candidate's `cat /dev/urandom`
//! must not fill the controller's disk, which every candidate's exam needs);
//! it says so in itself, and the terminal goes on.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

/// How large one recording may grow.
pub const LIMIT: u64 = 64 << 20;

pub struct Recording {
    file: std::fs::File,
    pub path: PathBuf,
    started: Instant,
    /// The start of a UTF-8 character split between two outputs.
    partial: Vec<u8>,
    written: u64,
    limit: u64,
}

impl Recording {
    /// A new recording at `path` (its folder made, readable by its owner only).
    pub fn create(path: &Path, (cols, rows): (u16, u16), title: &str) -> std::io::Result<Recording> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let mut file = std::fs::OpenOptions::new().create_new(true).append(true).mode(0o600).open(path)?;
        let timestamp =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let header = json!({
            "version": 2, "width": cols, "height": rows, "timestamp": timestamp, "title": title,
            "env": { "TERM": "xterm-256color", "SHELL": "/bin/bash" },
        });
        let header = header.to_string();
        writeln!(file, "{header}")?;
        let written = header.len() as u64 + 1;
        Ok(Recording {
            file,
            path: path.to_path_buf(),
            started: Instant::now(),
            partial: Vec::new(),
            written,
            limit: LIMIT,
        })
    }

    /// The same, stopping at `limit` bytes.
    pub fn with_limit(mut self, limit: u64) -> Recording {
        self.limit = limit;
        self
    }

    /// Output bytes: the text they complete (a character cut at the end
    /// waits for the next output), written as one event.
    pub fn output(&mut self, bytes: &[u8]) -> std::io::Result<String> {
        self.partial.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.partial) {
            Ok(_) => self.partial.len(),
            // An incomplete character at the end is kept; an invalid byte is shown replaced.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.partial.len(),
        };
        let text = String::from_utf8_lossy(&self.partial[..valid]).into_owned();
        self.partial.drain(..valid);
        if !text.is_empty() {
            self.event("o", &text)?;
        }
        Ok(text)
    }

    pub fn resize(&mut self, cols: u16, rows: u16) -> std::io::Result<()> {
        self.event("r", &format!("{cols}x{rows}"))
    }

    fn event(&mut self, kind: &str, data: &str) -> std::io::Result<()> {
        if self.written >= self.limit {
            return Ok(());
        }
        let at = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e6;
        let mut line = json!([at, kind, data]).to_string();
        if self.written + line.len() as u64 >= self.limit {
            let said =
                format!("\r\n[Plateau : enregistrement arrêté à {} Mo ; la session continue]\r\n", self.limit >> 20);
            line = json!([at, "o", said]).to_string();
        }
        self.written += line.len() as u64 + 1;
        writeln!(self.file, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_is_asciicast_v2_and_keeps_characters_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c01/ws-1.cast");
        let mut rec = Recording::create(&path, (80, 24), "c01 ws").unwrap();
        let accent = "é".as_bytes();
        assert_eq!(rec.output(&[b'c', b'a', b'f', accent[0]]).unwrap(), "caf");
        assert_eq!(rec.output(&[accent[1], b'\r', b'\n']).unwrap(), "é\r\n");
        rec.resize(120, 40).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!((lines[0]["version"].as_u64(), lines[0]["width"].as_u64()), (Some(2), Some(80)));
        assert_eq!(lines[1][1], "o");
        assert_eq!(lines[2][2], "é\r\n");
        assert_eq!((lines[3][1].as_str(), lines[3][2].as_str()), (Some("r"), Some("120x40")));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_flood_of_output_stops_the_recording_not_the_terminal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flood.cast");
        let mut rec = Recording::create(&path, (80, 24), "c01 ws").unwrap().with_limit(4 << 20);
        let chunk = "y\r\n".repeat(4096);
        for _ in 0..2000 {
            assert_eq!(rec.output(chunk.as_bytes()).unwrap(), chunk, "the terminal still gets every byte");
        }
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= (4 << 20) + 200, "{size} bytes written for a 4 MiB limit");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.lines().last().unwrap().contains("enregistrement arrêté à 4 Mo"),
            "the recording says where it stopped"
        );
    }
}
