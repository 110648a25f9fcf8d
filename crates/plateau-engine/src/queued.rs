//! Time limits that count only the time a piece of work ran, not the time
//! its commands queued for an engine's turns: a room graded at once queues
//! there, and a check's limit that ran out in the queue said `error` about
//! a platform nobody had looked at yet.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

tokio::task_local! {
    static CLOCK: Arc<QueueClock>;
}

/// What one piece of work waited in queues: finished waits, and how many
/// of its commands are waiting now.
#[derive(Default)]
struct QueueClock {
    waited_ms: AtomicU64,
    waiting: AtomicUsize,
}

/// How far a limit is moved while one of the work's commands still waits.
const STEP_WHILE_WAITING: Duration = Duration::from_millis(500);

/// Run `work` within `limit` of its own time; `None` when it ran longer.
/// Time its commands spent waiting for a turn (see [`turn`]) is added to
/// the limit.
pub async fn within<T>(limit: Duration, work: impl Future<Output = T>) -> Option<T> {
    let clock = Arc::new(QueueClock::default());
    let work = CLOCK.scope(clock.clone(), work);
    tokio::pin!(work);
    let mut deadline = Instant::now() + limit;
    // Finished waits already added, and steps granted while a wait was
    // under way (taken back from that wait once it is finished).
    let (mut credited, mut advanced) = (0u64, 0u64);
    loop {
        tokio::select! {
            out = &mut work => return Some(out),
            () = tokio::time::sleep_until(deadline) => {
                let waited = clock.waited_ms.load(Ordering::SeqCst);
                let newly = waited - credited;
                credited = waited;
                let owed = newly.saturating_sub(advanced);
                advanced = advanced.saturating_sub(newly);
                if owed > 0 {
                    deadline += Duration::from_millis(owed);
                } else if clock.waiting.load(Ordering::SeqCst) > 0 {
                    deadline = Instant::now() + STEP_WHILE_WAITING;
                    advanced += STEP_WHILE_WAITING.as_millis() as u64;
                } else {
                    return None;
                }
            }
        }
    }
}

/// A turn of `turns`, its wait counted on the work's clock (if it runs
/// under [`within`]).
pub(crate) async fn turn(turns: &Semaphore) -> SemaphorePermit<'_> {
    let clock = CLOCK.try_with(Arc::clone).ok();
    if let Some(clock) = &clock {
        clock.waiting.fetch_add(1, Ordering::SeqCst);
    }
    let asked = Instant::now();
    let permit = turns.acquire().await.expect("never closed");
    if let Some(clock) = &clock {
        clock.waited_ms.fetch_add(asked.elapsed().as_millis() as u64, Ordering::SeqCst);
        clock.waiting.fetch_sub(1, Ordering::SeqCst);
    }
    permit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn time_in_the_queue_does_not_count_against_the_limit() {
        let turns = Semaphore::new(1);
        let held = turns.acquire().await.unwrap();
        let work = async {
            let _turn = turn(&turns).await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            "done"
        };
        // The turn is released after 10 s: the work then runs its 3 s,
        // within a 5 s limit of its own time.
        let release = async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(held);
        };
        let (out, ()) = tokio::join!(within(Duration::from_secs(5), work), release);
        assert_eq!(out, Some("done"));
    }

    #[tokio::test(start_paused = true)]
    async fn work_that_runs_past_its_limit_is_cut() {
        let turns = Semaphore::new(1);
        let work = async {
            let _turn = turn(&turns).await;
            tokio::time::sleep(Duration::from_secs(6)).await;
        };
        assert_eq!(within(Duration::from_secs(5), work).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_wait_then_a_long_run_is_still_cut() {
        let turns = Semaphore::new(1);
        let held = turns.acquire().await.unwrap();
        let work = async {
            let _turn = turn(&turns).await;
            tokio::time::sleep(Duration::from_secs(6)).await;
        };
        let release = async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(held);
        };
        let (out, ()) = tokio::join!(within(Duration::from_secs(5), work), release);
        assert_eq!(out, None);
    }
}
