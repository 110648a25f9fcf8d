//! Pages that follow the exam as it goes: the page's own render, sent by
//! Server-Sent Events each time it differs from the last one sent.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use maud::Markup;

/// How often a live page is rendered again: a change reaches the browser
/// within this, plus the render.
pub const TICK: Duration = Duration::from_millis(400);

/// Render every `TICK` and send what changed; the stream ends when `render`
/// gives `None` (the account signed out, or lost the right to see it).
pub fn stream<F, R>(render: F) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    F: Fn() -> R + Send + 'static,
    R: Future<Output = Option<Markup>> + Send,
{
    let pages = futures_util::stream::unfold((render, None::<String>), |(render, last)| async move {
        loop {
            if last.is_some() {
                tokio::time::sleep(TICK).await;
            }
            let page = render().await?.into_string();
            if last.as_ref() != Some(&page) {
                return Some((Ok(Event::default().data(&page)), (render, Some(page))));
            }
        }
    });
    Sse::new(pages).keep_alive(KeepAlive::default())
}
