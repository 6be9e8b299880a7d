//! Failed sign-ins on the review page, per reviewer name: after [`MAX_FAILURES`] failures in a row
//! a name is locked for [`LOCKOUT`], doubled at each further lock up to [`MAX_LOCKOUT`]; a correct
//! password during a lock is refused too (so guessing cannot go on at the hash's pace). A success
//! outside a lock clears the name's count. Unknown names are counted like known ones, so the
//! answers do not tell which names exist. At most [`MAX_NAMES`] names are tracked (the least
//! recently failed is forgotten first), so a flood of invented names cannot grow memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Failures in a row that lock a name.
pub const MAX_FAILURES: u32 = 5;
/// The first lock's length.
pub const LOCKOUT: Duration = Duration::from_secs(5 * 60);
/// The longest lock.
pub const MAX_LOCKOUT: Duration = Duration::from_secs(60 * 60);
/// Names tracked at once.
pub const MAX_NAMES: usize = 1024;
/// Longest name kept as a key (longer ones are cut, so one request cannot store a huge key).
const MAX_KEY_CHARS: usize = 64;

#[derive(Debug, Clone)]
struct Entry {
    failures: u32,
    locks: u32,
    locked_until: Option<Instant>,
    last_failure: Instant,
}

/// The per-name failure counts.
#[derive(Debug, Default)]
pub struct SignInThrottle {
    names: HashMap<String, Entry>,
}

fn key(name: &str) -> String {
    name.chars().take(MAX_KEY_CHARS).collect()
}

impl SignInThrottle {
    /// How long `name` stays locked at `now` (`None`: it may try).
    pub fn locked_for(&self, name: &str, now: Instant) -> Option<Duration> {
        let until = self.names.get(&key(name))?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failed sign-in for `name` at `now`; returns the lock it caused, if any.
    pub fn failed(&mut self, name: &str, now: Instant) -> Option<Duration> {
        let k = key(name);
        if !self.names.contains_key(&k) && self.names.len() >= MAX_NAMES {
            if let Some(oldest) = self
                .names
                .iter()
                .min_by_key(|(_, e)| e.last_failure)
                .map(|(k, _)| k.clone())
            {
                self.names.remove(&oldest);
            }
        }
        let e = self.names.entry(k).or_insert(Entry {
            failures: 0,
            locks: 0,
            locked_until: None,
            last_failure: now,
        });
        e.last_failure = now;
        e.failures += 1;
        if e.failures < MAX_FAILURES {
            return None;
        }
        e.failures = 0;
        let lock = LOCKOUT
            .saturating_mul(1u32 << e.locks.min(8))
            .min(MAX_LOCKOUT);
        e.locks += 1;
        e.locked_until = Some(now + lock);
        Some(lock)
    }

    /// Records a successful sign-in for `name`: its failures are forgotten.
    pub fn succeeded(&mut self, name: &str) {
        self.names.remove(&key(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_name_and_the_lock_doubles() {
        let mut t = SignInThrottle::default();
        let t0 = Instant::now();
        for k in 1..MAX_FAILURES {
            assert_eq!(t.failed("ana", t0), None, "failure {k}");
            assert_eq!(t.locked_for("ana", t0), None);
        }
        assert_eq!(t.failed("ana", t0), Some(LOCKOUT));
        assert_eq!(t.locked_for("ana", t0), Some(LOCKOUT));
        // Other names are not affected.
        assert_eq!(t.locked_for("ben", t0), None);
        // One second before the end it is still locked; at the end it is free.
        let later = t0 + LOCKOUT - Duration::from_secs(1);
        assert_eq!(t.locked_for("ana", later), Some(Duration::from_secs(1)));
        let free = t0 + LOCKOUT;
        assert_eq!(t.locked_for("ana", free), None);
        // The next run of failures locks for twice as long, up to the cap.
        for _ in 1..MAX_FAILURES {
            assert_eq!(t.failed("ana", free), None);
        }
        assert_eq!(t.failed("ana", free), Some(2 * LOCKOUT));
        let mut now = free;
        let mut last = 2 * LOCKOUT;
        for _ in 0..10 {
            now += last;
            for _ in 1..MAX_FAILURES {
                t.failed("ana", now);
            }
            last = t.failed("ana", now).expect("locked again");
        }
        assert_eq!(last, MAX_LOCKOUT);
    }

    #[test]
    fn a_success_forgets_the_failures() {
        let mut t = SignInThrottle::default();
        let t0 = Instant::now();
        for _ in 1..MAX_FAILURES {
            t.failed("ana", t0);
        }
        t.succeeded("ana");
        for _ in 1..MAX_FAILURES {
            assert_eq!(t.failed("ana", t0), None);
        }
    }

    #[test]
    fn invented_names_cannot_grow_the_table_and_long_names_are_cut() {
        let mut t = SignInThrottle::default();
        let t0 = Instant::now();
        for i in 0..(MAX_NAMES + 50) {
            t.failed(&format!("name{i}"), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(t.names.len(), MAX_NAMES);
        // The oldest were forgotten, the newest kept.
        assert!(!t.names.contains_key("name0"));
        assert!(t.names.contains_key(&format!("name{}", MAX_NAMES + 49)));
        let long = "x".repeat(10_000);
        t.failed(&long, t0);
        assert!(t.names.keys().all(|k| k.chars().count() <= MAX_KEY_CHARS));
    }
}
