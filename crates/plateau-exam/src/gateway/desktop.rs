//! The candidate's desktop in the browser: the VNC protocol between the
//! viewer's page and the node's desktop (its socket reached through the
//! engine, never over a network), one connection per viewer, all shared.
//! A viewer who only looks goes through [`LookOnly`]; every connection ends
//! the moment the candidate's access is cut, as their terminals do.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::rfb::LookOnly;
use super::{ACCESS_POLL, still_open};
use crate::SessionCtx;
use crate::error::{Result, refuse};

/// One viewer's connection to a candidate's desktop.
pub struct Desktop {
    ctx: Arc<SessionCtx>,
    candidate: String,
    node: String,
    stream: plateau_engine::terminal::Terminal,
    look_only: Option<LookOnly>,
}

impl SessionCtx {
    /// A connection to `candidate`'s desktop on `node`, started on first
    /// use, if their access is open; `look_only` for whoever watches.
    pub async fn open_desktop(self: &Arc<Self>, candidate: &str, node: &str, look_only: bool) -> Result<Desktop> {
        let plan = self.candidate(candidate)?.plan;
        if !plan.nodes.iter().any(|n| n.id == node && n.desktop) {
            refuse!("`{node}` has no desktop (the scenario gives one with `desktop = true` on a workstation)");
        }
        let Some(entry) = plan.access.iter().find(|a| a.node == node) else {
            refuse!("{candidate} has no access to `{node}` (the access sheet lists their ways in)");
        };
        if !self.access_open(candidate).await? {
            refuse!("{candidate}'s access is closed (the exam has not started, or their time is up)");
        }
        let container = self.engine_session()?.container_name(candidate, node);
        let stream = self.engine_of(candidate).await?.open_desktop(&container, &entry.user).await?;
        let what = serde_json::json!({ "candidate": candidate, "node": node, "look_only": look_only });
        self.audit("desktop.open", what)?;
        Ok(Desktop {
            ctx: self.clone(),
            candidate: candidate.to_string(),
            node: node.to_string(),
            stream,
            look_only: look_only.then(LookOnly::default),
        })
    }
}

impl Desktop {
    /// Carry bytes both ways until the viewer leaves, the desktop ends or
    /// the access is cut; says which.
    pub async fn run(mut self, mut from_viewer: mpsc::Receiver<Vec<u8>>, to_viewer: mpsc::Sender<Vec<u8>>) -> String {
        let mut poll = tokio::time::interval(ACCESS_POLL);
        let why = loop {
            tokio::select! {
                chunk = self.stream.output.next() => match chunk {
                    Some(Ok(bytes)) if bytes.is_empty() => {}
                    Some(Ok(bytes)) => if to_viewer.send(bytes).await.is_err() {
                        break "the viewer left".to_string();
                    },
                    Some(Err(e)) => break e.to_string(),
                    None => break "the desktop ended".to_string(),
                },
                sent = from_viewer.recv() => match sent {
                    Some(bytes) => {
                        let bytes = match &mut self.look_only {
                            Some(filter) => match filter.pass(&bytes) {
                                Ok(kept) => kept,
                                Err(why) => break why,
                            },
                            None => bytes,
                        };
                        if self.stream.input.write_all(&bytes).await.is_err() {
                            break "the desktop stopped reading".to_string();
                        }
                    }
                    None => break "the viewer left".to_string(),
                },
                _ = poll.tick() => {
                    if !still_open(&self.ctx, &self.candidate).await {
                        break super::ACCESS_CUT.to_string();
                    }
                }
            }
        };
        let what = serde_json::json!({ "candidate": self.candidate, "node": self.node, "why": why });
        let _ = self.ctx.audit("desktop.close", what);
        why
    }
}
