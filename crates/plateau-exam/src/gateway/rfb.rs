//! What a viewer who only looks may send a desktop: the VNC protocol from
//! the viewer's side (RFC 6143, with the extensions noVNC speaks), read
//! message by message; keys, pointer, clipboard and screen-size requests
//! are dropped, everything else goes through. A message it cannot size
//! ends the connection: a look-only viewer never sends what it cannot read.

/// Where in the protocol the viewer is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    #[default]
    Version,
    Security,
    /// A VNC password's answer (16 bytes) follows.
    Challenge,
    ClientInit,
    Messages,
}

/// Reads a viewer's bytes, keeps what a look-only viewer may send.
#[derive(Debug, Default)]
pub struct LookOnly {
    stage: Stage,
    pending: Vec<u8>,
}

impl LookOnly {
    /// The part of `bytes` (with what was pending) to forward, or why the
    /// connection must end.
    pub fn pass(&mut self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let need = match self.stage {
                Stage::Version => 12,
                Stage::Security => 1,
                Stage::Challenge => 16,
                Stage::ClientInit => 1,
                Stage::Messages => match message_size(&self.pending)? {
                    Some(size) => size,
                    None => return Ok(out),
                },
            };
            if self.pending.len() < need {
                return Ok(out);
            }
            let mut message: Vec<u8> = self.pending.drain(..need).collect();
            self.stage = match self.stage {
                Stage::Version => Stage::Security,
                Stage::Security if message[0] == 2 => Stage::Challenge,
                Stage::Security => Stage::ClientInit,
                Stage::Challenge => Stage::ClientInit,
                Stage::ClientInit => {
                    // Shared, always: a viewer never disconnects the candidate.
                    message[0] = 1;
                    Stage::Messages
                }
                Stage::Messages => {
                    if is_input(&message) {
                        continue;
                    }
                    Stage::Messages
                }
            };
            out.extend(message);
        }
    }
}

/// Keys, pointer, clipboard, a new screen size: what only the one at the keyboard sends.
fn is_input(message: &[u8]) -> bool {
    matches!(message[0], 4 | 5 | 6 | 251 | 255)
}

/// The size of the message `bytes` starts with, when enough of it is there to tell.
fn message_size(bytes: &[u8]) -> Result<Option<usize>, String> {
    let Some(&kind) = bytes.first() else { return Ok(None) };
    let u16_at = |i: usize| bytes.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize);
    let u32_at = |i: usize| bytes.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    Ok(match kind {
        0 => Some(20),                     // SetPixelFormat
        2 => u16_at(2).map(|n| 4 + 4 * n), // SetEncodings
        3 => Some(10),                     // FramebufferUpdateRequest
        4 => Some(8),                      // KeyEvent
        5 => Some(6),                      // PointerEvent
        // ClientCutText; a negative length is the extended clipboard's.
        6 => u32_at(4).map(|n| 8 + (n as i32).unsigned_abs() as usize),
        150 => Some(10),                                   // EnableContinuousUpdates
        248 => bytes.get(8).map(|&n| 9 + n as usize),      // ClientFence
        251 => bytes.get(6).map(|&n| 8 + 16 * n as usize), // SetDesktopSize
        255 => match bytes.get(1) {
            None => None,
            Some(0) => Some(12), // QEMU extended key event
            Some(other) => return Err(format!("a QEMU message of kind {other}, not read")),
        },
        other => return Err(format!("a viewer message of kind {other}, not read")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HANDSHAKE: &[u8] = b"RFB 003.008\n\x01\x00";

    #[test]
    fn a_look_only_viewer_sees_but_its_keys_pointer_and_clipboard_go_nowhere() {
        let mut filter = LookOnly::default();
        let mut sent = HANDSHAKE.to_vec();
        let update = [3u8, 0, 0, 0, 0, 0, 5, 0, 4, 0];
        let key = [4u8, 1, 0, 0, 0, 0, 0, 0x61];
        let pointer = [5u8, 1, 0, 10, 0, 20];
        let mut clipboard = vec![6u8, 0, 0, 0, 0, 0, 0, 3];
        clipboard.extend(b"abc");
        let encodings = [2u8, 0, 0, 2, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0x21];
        for part in [&update[..], &key, &pointer, &clipboard, &encodings, &update] {
            sent.extend_from_slice(part);
        }
        // Bytes arrive in any pieces.
        let mut out = Vec::new();
        for chunk in sent.chunks(3) {
            out.extend(filter.pass(chunk).unwrap());
        }
        let mut expected = b"RFB 003.008\n\x01\x01".to_vec();
        expected.extend(update);
        expected.extend(encodings);
        expected.extend(update);
        assert_eq!(out, expected, "shared, and only what asks to see");
    }

    #[test]
    fn a_message_it_cannot_size_ends_the_connection() {
        let mut filter = LookOnly::default();
        let mut sent = HANDSHAKE.to_vec();
        sent.push(77);
        assert!(filter.pass(&sent).unwrap_err().contains("kind 77"));
    }
}
