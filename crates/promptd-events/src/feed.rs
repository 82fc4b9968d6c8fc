//! The feed: the newest ledger events in memory, read by every watch stream of this instance.
//!
//! One follower task per instance reads new events from the store (woken right after this
//! instance's index changes: its own writes, and on PostgreSQL the changes other instances
//! announce; and by a slow poll as a safety net) and appends them to a ring of at most
//! `capacity` events. A watcher keeps only a cursor and reads the ring: there is one database
//! read per change, however many watchers there are.
//!
//! **Consistency:** the store gives event numbers in commit order and a reader that has seen
//! event N has seen every event before it (the ledger invariant), so the follower, which always
//! reads "after the newest it has", never skips one; the ring therefore holds a gap-free run
//! `(floor, head]` of the ledger. A cursor below `floor` is no longer in memory: that watcher
//! is told to resynchronise ([`Read::Gone`]). The same cursors are the `/history` cursors, so a
//! client can resume on any instance.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use promptd_core::{Event, EventQuery, Store, error_chain};
use tokio::sync::{Notify, watch};

/// Events read from the store per query while catching up.
const PAGE: u32 = 1000;

/// What a watcher finds after its cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// The events after the cursor (possibly none), oldest first.
    Events(Vec<Arc<Event>>),
    /// The cursor is older than the ring: events after it were dropped from memory. The
    /// watcher must resynchronise (read the current state, then watch from `head`).
    Gone { head: i64 },
}

struct Ring {
    events: VecDeque<Arc<Event>>,
    /// The sequence number just before the oldest event kept.
    floor: i64,
}

/// The in-memory tail of the ledger.
pub struct Feed {
    ring: RwLock<Ring>,
    capacity: usize,
    head: watch::Sender<i64>,
    wake: Notify,
    /// Set at shutdown: every watch stream ends.
    closed: std::sync::atomic::AtomicBool,
}

impl Feed {
    /// An empty feed that starts after event `head` and keeps at most `capacity` events.
    pub fn new(capacity: usize, head: i64) -> Feed {
        Feed {
            ring: RwLock::new(Ring {
                events: VecDeque::new(),
                floor: head,
            }),
            capacity: capacity.max(1),
            head: watch::Sender::new(head),
            wake: Notify::new(),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A feed holding the newest `capacity` events of the store, so a client resuming with a
    /// recent cursor right after this instance started misses nothing.
    pub async fn load(
        store: &dyn Store,
        capacity: usize,
    ) -> Result<Feed, promptd_core::StoreError> {
        let capacity = capacity.max(1);
        let mut newest = store
            .events(&EventQuery {
                prompt_id: None,
                before: None,
                after: None,
                newest_first: true,
                limit: u32::try_from(capacity).unwrap_or(u32::MAX),
            })
            .await?;
        newest.reverse();
        let head = newest.last().map_or(0, |e| e.seq);
        let floor = newest.first().map_or(head, |e| e.seq - 1);
        let feed = Feed::new(capacity, head);
        {
            let mut ring = feed.ring.write();
            ring.floor = floor;
            ring.events = newest.into_iter().map(Arc::new).collect();
        }
        Ok(feed)
    }

    /// The newest event number this feed has.
    pub fn head(&self) -> i64 {
        *self.head.borrow()
    }

    /// A receiver that changes whenever new events arrive.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// Watch streams open on this feed (receivers of [`Feed::subscribe`]).
    pub fn watchers(&self) -> usize {
        self.head.receiver_count()
    }

    /// Ends every watch stream (the server is shutting down).
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.head.send_modify(|_| {});
    }

    /// Whether [`Feed::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Asks the follower to read new events now (called right after the index changed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Up to `max` events after `cursor`.
    pub fn read(&self, cursor: i64, max: usize) -> Read {
        let ring = self.ring.read();
        if cursor < ring.floor {
            return Read::Gone { head: self.head() };
        }
        let start = ring.events.partition_point(|e| e.seq <= cursor);
        Read::Events(ring.events.iter().skip(start).take(max).cloned().collect())
    }

    /// Appends events newer than the head (older ones are ignored), dropping the oldest beyond
    /// the capacity, and tells the watchers.
    pub fn push(&self, events: Vec<Event>) {
        let mut newest = None;
        {
            let mut ring = self.ring.write();
            for e in events {
                let last = ring.events.back().map_or(ring.floor, |b| b.seq);
                if e.seq <= last {
                    continue;
                }
                newest = Some(e.seq);
                ring.events.push_back(Arc::new(e));
                while ring.events.len() > self.capacity {
                    if let Some(old) = ring.events.pop_front() {
                        ring.floor = old.seq;
                    }
                }
            }
        }
        if let Some(seq) = newest {
            self.head.send_replace(seq);
        }
    }

    /// Reads every event after the head from the store into the ring.
    pub async fn catch_up(&self, store: &dyn Store) -> Result<usize, promptd_core::StoreError> {
        let mut total = 0;
        loop {
            let page = store
                .events(&EventQuery {
                    prompt_id: None,
                    before: None,
                    after: Some(self.head()),
                    newest_first: false,
                    limit: PAGE,
                })
                .await?;
            let n = page.len();
            total += n;
            self.push(page);
            if n < PAGE as usize {
                return Ok(total);
            }
        }
    }

    /// The follower: catches up whenever woken, and at least every `poll`. Runs forever.
    pub async fn follow(self: Arc<Self>, store: Arc<dyn Store>, poll: Duration) {
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
            if let Err(e) = self.catch_up(store.as_ref()).await {
                tracing::warn!(error = %error_chain(&e), "could not read new ledger events for watchers; will try again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use promptd_core::{Kind, PromptId};

    fn ev(seq: i64) -> Event {
        Event {
            seq,
            prompt_id: PromptId::from_trusted("p"),
            environment: None,
            version: Some(1),
            kind: Kind::Update,
            source: None,
            message: None,
            actor: None,
            content_sha256: None,
            at: 0,
        }
    }

    fn seqs(r: Read) -> Vec<i64> {
        match r {
            Read::Events(v) => v.iter().map(|e| e.seq).collect(),
            Read::Gone { .. } => panic!("expected events"),
        }
    }

    #[test]
    fn a_watcher_reads_exactly_the_events_after_its_cursor() {
        let feed = Feed::new(10, 0);
        feed.push((1..=5).map(ev).collect());
        assert_eq!(seqs(feed.read(0, 100)), vec![1, 2, 3, 4, 5]);
        assert_eq!(seqs(feed.read(3, 100)), vec![4, 5]);
        assert_eq!(seqs(feed.read(5, 100)), Vec::<i64>::new());
        assert_eq!(seqs(feed.read(1, 2)), vec![2, 3]);
        assert_eq!(feed.head(), 5);
    }

    #[test]
    fn events_already_held_are_not_pushed_twice() {
        let feed = Feed::new(10, 0);
        feed.push((1..=3).map(ev).collect());
        feed.push((2..=4).map(ev).collect());
        assert_eq!(seqs(feed.read(0, 100)), vec![1, 2, 3, 4]);
    }

    #[test]
    fn a_slow_watcher_whose_cursor_left_the_ring_is_told_to_resync() {
        let feed = Feed::new(4, 0);
        let cursor = 1;
        feed.push((1..=20).map(ev).collect());
        // Memory stays bounded by the ring, whatever the watcher did not read.
        assert_eq!(feed.ring.read().events.len(), 4);
        assert_eq!(feed.read(cursor, 100), Read::Gone { head: 20 });
        assert_eq!(seqs(feed.read(16, 100)), vec![17, 18, 19, 20]);
    }

    #[tokio::test]
    async fn subscribers_are_told_when_the_head_moves() {
        let feed = Feed::new(4, 7);
        let mut rx = feed.subscribe();
        assert_eq!(feed.watchers(), 1);
        feed.push(vec![ev(8)]);
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), 8);
    }
}
