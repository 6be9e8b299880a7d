//! The one channel into the processing thread: depth frames from capture, and [`Message`]s
//! (camera status, chest X-ray results) from capture and the X-ray inbox.
//!
//! Frames: live cameras use [`Policy::LatestWins`]: a single slot where a new frame replaces one
//! that was not taken yet, the replaced frame is counted as dropped and its buffer reused, so
//! processing always works on the newest frame and capture never blocks. Simulated time
//! (`--speed max`) and evaluation use [`Policy::Lossless`]: capture waits for processing, so
//! results do not depend on machine speed. Buffers circulate between the two sides; nothing is
//! allocated per frame. Messages are queued and never dropped; a waiting message is taken before
//! a waiting frame.

use crate::pipeline::Message;
use crate::types::DepthFrame;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

/// What happens when capture is faster than processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Replace the waiting frame and count a drop (live cameras).
    LatestWins,
    /// Wait until processing took the waiting frame (simulated time).
    Lossless,
}

#[derive(Debug, Default)]
struct State {
    waiting: Option<DepthFrame>,
    messages: VecDeque<Message>,
    spare: Vec<DepthFrame>,
    dropped: u64,
    closed: bool,
}

/// Result of [`Handoff::take_timeout`].
#[derive(Debug)]
pub enum Taken {
    /// The next frame.
    Frame(DepthFrame),
    /// The next message.
    Message(Message),
    /// Nothing arrived in time; capture is still running.
    TimedOut,
    /// The hand-off is closed and nothing is waiting.
    Closed,
}

/// A one-slot mailbox for frames, a queue of messages, and a pool of spare buffers.
#[derive(Debug)]
pub struct Handoff {
    policy: Policy,
    state: Mutex<State>,
    changed: Condvar,
}

impl Handoff {
    /// An empty hand-off with the given policy.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic on the other side poisons the lock; the data (frames, counters) stays valid.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Capture side: hands over `frame` and returns a buffer to fill next (a spare, the dropped
    /// frame, or a fresh one at start-up). Returns `None` once the hand-off is closed.
    pub fn put(&self, frame: DepthFrame) -> Option<DepthFrame> {
        let mut st = self.lock();
        if self.policy == Policy::Lossless {
            while st.waiting.is_some() && !st.closed {
                st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        }
        if st.closed {
            return None;
        }
        let replaced = st.waiting.replace(frame);
        if replaced.is_some() {
            st.dropped += 1;
        }
        let next = replaced.or_else(|| st.spare.pop());
        self.changed.notify_all();
        Some(next.unwrap_or_else(|| DepthFrame::new(0, 0, 0.001)))
    }

    /// Processing side: waits for the next frame, ignoring messages; `None` when closed and empty.
    pub fn take(&self) -> Option<DepthFrame> {
        let mut st = self.lock();
        loop {
            if let Some(f) = st.waiting.take() {
                self.changed.notify_all();
                return Some(f);
            }
            if st.closed {
                return None;
            }
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Any side: queues `m` for processing. Returns `false` (and drops it) once closed.
    pub fn send(&self, m: Message) -> bool {
        let mut st = self.lock();
        if st.closed {
            return false;
        }
        st.messages.push_back(m);
        self.changed.notify_all();
        true
    }

    /// Processing side: the next message or frame, waiting at most `timeout`.
    pub fn take_timeout(&self, timeout: std::time::Duration) -> Taken {
        let deadline = std::time::Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            if let Some(m) = st.messages.pop_front() {
                return Taken::Message(m);
            }
            if let Some(f) = st.waiting.take() {
                self.changed.notify_all();
                return Taken::Frame(f);
            }
            if st.closed {
                return Taken::Closed;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Taken::TimedOut;
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Processing side: gives a processed frame's buffer back for reuse.
    pub fn recycle(&self, frame: DepthFrame) {
        let mut st = self.lock();
        if st.spare.len() < 2 {
            st.spare.push(frame);
        }
    }

    /// No more frames or messages. The processing side still gets what is waiting.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Frames replaced before processing took them.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame(seq: u64) -> DepthFrame {
        let mut f = DepthFrame::new(4, 2, 0.001);
        f.seq = seq;
        f
    }

    #[test]
    fn latest_wins_keeps_the_newest_and_counts_drops() {
        let h = Handoff::new(Policy::LatestWins);
        for s in 0..5 {
            h.put(frame(s)).unwrap();
        }
        assert_eq!(h.take().unwrap().seq, 4);
        assert_eq!(h.dropped(), 4);
        h.close();
        assert!(h.take().is_none());
        assert!(h.put(frame(9)).is_none());
    }

    #[test]
    fn lossless_delivers_every_frame_in_order() {
        let h = Arc::new(Handoff::new(Policy::Lossless));
        let producer = {
            let h = Arc::clone(&h);
            std::thread::spawn(move || {
                for s in 0..200 {
                    h.put(frame(s)).unwrap();
                }
                h.close();
            })
        };
        let mut seen = Vec::new();
        while let Some(f) = h.take() {
            seen.push(f.seq);
            h.recycle(f);
        }
        producer.join().unwrap();
        assert!(matches!(
            h.take_timeout(std::time::Duration::from_millis(1)),
            Taken::Closed
        ));
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
        assert_eq!(h.dropped(), 0);
    }

    #[test]
    fn take_timeout_returns_when_nothing_arrives() {
        let h = Handoff::new(Policy::LatestWins);
        assert!(matches!(
            h.take_timeout(std::time::Duration::from_millis(5)),
            Taken::TimedOut
        ));
        h.put(frame(3)).unwrap();
        assert!(
            matches!(h.take_timeout(std::time::Duration::from_millis(5)), Taken::Frame(f) if f.seq == 3)
        );
    }

    #[test]
    fn buffers_are_reused() {
        let h = Handoff::new(Policy::LatestWins);
        let f = frame(1);
        let ptr = f.data.as_ptr();
        h.put(f).unwrap();
        let got = h.take().unwrap();
        h.recycle(got);
        let next = h.put(frame(2)).unwrap();
        assert_eq!(
            next.data.as_ptr(),
            ptr,
            "the recycled buffer comes back to capture"
        );
    }

    #[test]
    fn messages_are_never_dropped_and_come_before_a_waiting_frame() {
        let h = Handoff::new(Policy::LatestWins);
        h.put(frame(1)).unwrap();
        for k in 0..3 {
            assert!(h.send(Message::XrayFailed {
                file: format!("{k}.png"),
                error: "x".into(),
                moved_to: None,
            }));
        }
        let d = std::time::Duration::from_millis(1);
        for k in 0..3 {
            assert!(
                matches!(h.take_timeout(d), Taken::Message(Message::XrayFailed { file, .. }) if file == format!("{k}.png"))
            );
        }
        assert!(matches!(h.take_timeout(d), Taken::Frame(f) if f.seq == 1));
        h.close();
        assert!(!h.send(Message::XrayFailed {
            file: "late.png".into(),
            error: "x".into(),
            moved_to: None,
        }));
        assert!(matches!(h.take_timeout(d), Taken::Closed));
    }
}
