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
    static ON_THE_NETWORK: ();
}

/// Run `work` whose commands wait on the network (a reply to a ping, an
/// answer on a port) rather than compute: an engine runs more of them at
/// once (see `DockerEngine::exec`).
pub async fn waiting_on_the_network<T>(work: impl Future<Output = T>) -> T {
    ON_THE_NETWORK.scope((), work).await
}

/// Whether the running work's commands wait on the network.
pub(crate) fn waits_on_the_network() -> bool {
    ON_THE_NETWORK.try_with(|()| ()).is_ok()
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

/// A bounded number of turns, and how many wait for one.
pub(crate) struct Queue {
    turns: Semaphore,
    waiting: AtomicUsize,
}

impl Queue {
    pub(crate) fn new(turns: usize) -> Self {
        Self { turns: Semaphore::new(turns.max(1)), waiting: AtomicUsize::new(0) }
    }

    /// Whether someone waits for a turn now.
    pub(crate) fn queued(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }

    /// A turn; its wait is counted here and on the work's clock (if it runs
    /// under [`within`]), also when the wait is given up (dropped).
    pub(crate) async fn turn(&self) -> SemaphorePermit<'_> {
        let _waiting = Waiting::new(&self.waiting);
        self.turns.acquire().await.expect("never closed")
    }
}

/// One wait for a turn, counted from its start until it is dropped.
struct Waiting<'a> {
    queue: &'a AtomicUsize,
    clock: Option<Arc<QueueClock>>,
    asked: Instant,
}

impl<'a> Waiting<'a> {
    fn new(queue: &'a AtomicUsize) -> Self {
        let clock = CLOCK.try_with(Arc::clone).ok();
        queue.fetch_add(1, Ordering::SeqCst);
        if let Some(clock) = &clock {
            clock.waiting.fetch_add(1, Ordering::SeqCst);
        }
        Self { queue, clock, asked: Instant::now() }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.queue.fetch_sub(1, Ordering::SeqCst);
        if let Some(clock) = &self.clock {
            clock.waited_ms.fetch_add(self.asked.elapsed().as_millis() as u64, Ordering::SeqCst);
            clock.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work that waits `queued` seconds for its turn, then runs `runs`
    /// seconds, under a 5 s limit of its own time.
    async fn queued_then_run(queued: u64, runs: u64) -> Option<()> {
        let queue = Queue::new(1);
        let held = queue.turn().await;
        let work = async {
            let _turn = queue.turn().await;
            tokio::time::sleep(Duration::from_secs(runs)).await;
        };
        let release = async {
            tokio::time::sleep(Duration::from_secs(queued)).await;
            drop(held);
        };
        let (out, ()) = tokio::join!(within(Duration::from_secs(5), work), release);
        out
    }

    #[tokio::test(start_paused = true)]
    async fn time_in_the_queue_does_not_count_against_the_limit() {
        assert_eq!(queued_then_run(10, 3).await, Some(()));
    }

    #[tokio::test(start_paused = true)]
    async fn work_that_runs_past_its_limit_is_cut() {
        assert_eq!(queued_then_run(0, 6).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_wait_then_a_long_run_is_still_cut() {
        assert_eq!(queued_then_run(10, 6).await, None);
    }

    #[tokio::test]
    async fn only_work_said_to_wait_on_the_network_does() {
        assert!(!waits_on_the_network());
        assert!(waiting_on_the_network(async { waits_on_the_network() }).await);
        assert!(!waits_on_the_network(), "the mark outlived its work");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_given_up_leaves_the_queue() {
        let queue = Queue::new(1);
        let _held = queue.turn().await;
        assert!(!queue.queued());
        let gave_up = tokio::time::timeout(Duration::from_secs(1), queue.turn()).await;
        assert!(gave_up.is_err());
        assert!(!queue.queued(), "a dropped wait still counted as queued");
    }
}
