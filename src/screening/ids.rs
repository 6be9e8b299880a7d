//! Session identifiers that stay unique across restarts and devices: ULIDs (a 48-bit millisecond
//! timestamp and 80 random bits, 26 characters of Crockford base32, sortable by creation time).
//!
//! The screening core is clock-free, so it takes its identifiers from an [`IdSource`]: the daemon
//! gives it [`Ulids`] (wall clock and operating-system randomness); tests give it [`Counter`].

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where new session identifiers come from.
pub trait IdSource: Send {
    /// A new identifier, never returned before.
    fn next_id(&mut self) -> String;
}

/// ULIDs from the wall clock and a generator seeded by the operating system. Within one
/// millisecond (or when the clock steps back) the random part is incremented, so identifiers from
/// one source are strictly increasing; across sources and restarts they are unique by their 80
/// random bits.
#[derive(Debug)]
pub struct Ulids {
    rng: ChaCha20Rng,
    last: u128,
}

impl Ulids {
    /// A source seeded from the operating system's randomness.
    pub fn new() -> Self {
        Self {
            rng: ChaCha20Rng::from_entropy(),
            last: 0,
        }
    }

    /// The ULID for `unix_ms` with the given 80 random bits, as a number.
    fn compose(unix_ms: u64, random: u128) -> u128 {
        (u128::from(unix_ms & 0xFFFF_FFFF_FFFF) << 80) | (random & ((1u128 << 80) - 1))
    }
}

impl Default for Ulids {
    fn default() -> Self {
        Self::new()
    }
}

impl IdSource for Ulids {
    fn next_id(&mut self) -> String {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        let mut id = Self::compose(ms, u128::from_le_bytes(bytes));
        if id <= self.last {
            id = self.last.wrapping_add(1);
        }
        self.last = id;
        encode(id)
    }
}

/// Deterministic identifiers `PREFIX-000001`, `PREFIX-000002`, ... (tests, evaluation runs).
#[derive(Debug, Clone)]
pub struct Counter {
    prefix: String,
    next: u64,
}

impl Counter {
    /// Identifiers `prefix-000001` onwards.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            next: 1,
        }
    }
}

impl IdSource for Counter {
    fn next_id(&mut self) -> String {
        let id = format!("{}-{:06}", self.prefix, self.next);
        self.next += 1;
        id
    }
}

/// Crockford's base32 alphabet (no I, L, O, U).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The 26-character text of a 128-bit ULID.
pub fn encode(id: u128) -> String {
    (0..26)
        .rev()
        .map(|i| ALPHABET[((id >> (5 * i)) & 31) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_matches_the_ulid_spec() {
        // The specification's example timestamp (01ARYZ6S41), all-zero randomness; and the
        // largest ULID.
        assert_eq!(
            encode(Ulids::compose(1_469_918_176_385, 0)),
            "01ARYZ6S410000000000000000"
        );
        assert_eq!(encode(u128::MAX), "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
    }

    #[test]
    fn ids_are_unique_and_increasing_within_one_source_and_unique_across_sources() {
        let mut a = Ulids::new();
        let ids: Vec<String> = (0..1000).map(|_| a.next_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        assert!(ids.iter().all(|i| i.len() == 26));
        let mut b = Ulids::new();
        let other = b.next_id();
        assert!(!ids.contains(&other));
        let mut c = Counter::new("test");
        assert_eq!(
            (c.next_id(), c.next_id()),
            ("test-000001".into(), "test-000002".into())
        );
    }
}
