//! The visit spec: `empty:SECONDS` and `PATTERN[@RATE]:SECONDS` items, comma-separated, parsed
//! and checked (`--visits`, `[simulation] visits`). Errors name the item by position and text.

use crate::limits::SIM_RATE;
use crate::rsm::rate_range;
use crate::types::Pattern;
use std::fmt;
use std::str::FromStr;

/// Allowed length of one visit, s (inclusive).
pub const SECONDS_RANGE: (f64, f64) = (1.0, 86_400.0);
/// Most items in one spec.
pub const MAX_VISITS: usize = 1000;

/// One item of the queue: nobody in front of the camera, or one person breathing.
#[derive(Debug, Clone, PartialEq)]
pub enum Visit {
    /// The empty room for `seconds` s.
    Empty {
        /// Length, s.
        seconds: f64,
    },
    /// A person breathing with `pattern` for `seconds` s.
    Person {
        /// Breathing pattern.
        pattern: Pattern,
        /// Mean rate, breaths/min; `None` keeps the rate the visit's seed draws.
        rate_bpm: Option<f32>,
        /// Length, s.
        seconds: f64,
    },
}

/// What is wrong with one item of a visit spec.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VisitProblem {
    /// Nothing between two commas (or after a trailing comma).
    #[error("the item is empty")]
    EmptyItem,
    /// No `:SECONDS` part.
    #[error("missing `:SECONDS` (expected `empty:SECONDS` or `PATTERN[@RATE]:SECONDS`)")]
    MissingSeconds,
    /// The seconds do not parse as a finite number.
    #[error("seconds `{0}` is not a finite number")]
    SecondsNotNumber(String),
    /// The seconds are outside [`SECONDS_RANGE`].
    #[error("seconds {0} is outside {lo}-{hi}", lo = SECONDS_RANGE.0, hi = SECONDS_RANGE.1)]
    SecondsOutOfRange(f64),
    /// The name is neither `empty` nor a breathing pattern.
    #[error("unknown pattern `{0}` (expected `empty` or one of: eupnea, tachypnea, bradypnea, biots, cheyne_stokes, central_apnea)")]
    UnknownPattern(String),
    /// `empty@RATE`.
    #[error("`empty` takes no `@RATE`")]
    RateOnEmpty,
    /// The rate does not parse as a finite number.
    #[error("rate `{0}` is not a finite number")]
    RateNotNumber(String),
    /// The rate is outside the simulated rates ([`SIM_RATE`]), breaths/min.
    #[error("rate {0} breaths/min is outside {lo}-{hi}", lo = SIM_RATE.min, hi = SIM_RATE.max)]
    RateOutOfRange(f32),
    /// The rate is outside the pattern's own range ([`rate_range`]), breaths/min.
    #[error("rate {rate} breaths/min is outside {pattern}'s range {lo}-{hi}")]
    RateOutsidePattern {
        /// The pattern of the item.
        pattern: Pattern,
        /// The rejected rate, breaths/min.
        rate: f32,
        /// Lowest rate of the pattern, breaths/min.
        lo: f32,
        /// Highest rate of the pattern, breaths/min.
        hi: f32,
    },
}

/// A visit spec that cannot be played; names the offending item by position and text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VisitSpecError {
    /// The spec is empty or only whitespace.
    #[error("visit spec is empty (expected items like `empty:20,eupnea@15:100`)")]
    EmptySpec,
    /// More than [`MAX_VISITS`] items.
    #[error("visit spec has {0} items, more than the {MAX_VISITS} allowed")]
    TooManyItems(usize),
    /// One item is wrong.
    #[error("visit {index} `{item}`: {problem}")]
    Item {
        /// Position of the item, from 1.
        index: usize,
        /// The item's text, trimmed.
        item: String,
        /// What is wrong with it.
        problem: VisitProblem,
    },
}

impl Visit {
    /// Length of the visit, s.
    pub fn seconds(&self) -> f64 {
        match *self {
            Visit::Empty { seconds } | Visit::Person { seconds, .. } => seconds,
        }
    }

    /// The pattern of a person visit; `None` for the empty room.
    pub fn pattern(&self) -> Option<Pattern> {
        match *self {
            Visit::Empty { .. } => None,
            Visit::Person { pattern, .. } => Some(pattern),
        }
    }

    /// Checks the seconds against [`SECONDS_RANGE`] and a rate against [`SIM_RATE`] and the
    /// pattern's [`rate_range`].
    pub fn check(&self) -> Result<(), VisitProblem> {
        let s = self.seconds();
        if !s.is_finite() {
            return Err(VisitProblem::SecondsNotNumber(s.to_string()));
        }
        if !(SECONDS_RANGE.0..=SECONDS_RANGE.1).contains(&s) {
            return Err(VisitProblem::SecondsOutOfRange(s));
        }
        let Visit::Person {
            pattern,
            rate_bpm: Some(rate),
            ..
        } = *self
        else {
            return Ok(());
        };
        if !rate.is_finite() {
            return Err(VisitProblem::RateNotNumber(rate.to_string()));
        }
        if !(SIM_RATE.min..=SIM_RATE.max).contains(&f64::from(rate)) {
            return Err(VisitProblem::RateOutOfRange(rate));
        }
        let (lo, hi) = rate_range(pattern);
        if !(lo..=hi).contains(&rate) {
            return Err(VisitProblem::RateOutsidePattern {
                pattern,
                rate,
                lo,
                hi,
            });
        }
        Ok(())
    }
}

/// Parses one trimmed, non-empty item.
fn parse_item(item: &str) -> Result<Visit, VisitProblem> {
    if item.is_empty() {
        return Err(VisitProblem::EmptyItem);
    }
    let (head, secs) = item.split_once(':').ok_or(VisitProblem::MissingSeconds)?;
    let secs = secs.trim();
    let seconds = match secs.parse::<f64>() {
        Ok(s) if s.is_finite() => s,
        _ => return Err(VisitProblem::SecondsNotNumber(secs.to_string())),
    };
    let (name, rate) = match head.split_once('@') {
        Some((n, r)) => (n.trim(), Some(r.trim())),
        None => (head.trim(), None),
    };
    let visit = if name.eq_ignore_ascii_case("empty") {
        if rate.is_some() {
            return Err(VisitProblem::RateOnEmpty);
        }
        Visit::Empty { seconds }
    } else {
        let pattern =
            Pattern::from_str(name).map_err(|_| VisitProblem::UnknownPattern(name.to_string()))?;
        let rate_bpm = match rate.map(|r| (r, r.parse::<f32>())) {
            None => None,
            Some((_, Ok(r))) if r.is_finite() => Some(r),
            Some((r, _)) => return Err(VisitProblem::RateNotNumber(r.to_string())),
        };
        Visit::Person {
            pattern,
            rate_bpm,
            seconds,
        }
    };
    visit.check()?;
    Ok(visit)
}

/// Parses a comma-separated spec of `empty:SECONDS` and `PATTERN[@RATE]:SECONDS` items (seconds
/// 1-86400, rate 4-60 breaths/min and inside the pattern's range; whitespace around parts is
/// ignored; at most [`MAX_VISITS`] items).
pub fn parse_visits(spec: &str) -> Result<Vec<Visit>, VisitSpecError> {
    if spec.trim().is_empty() {
        return Err(VisitSpecError::EmptySpec);
    }
    let n = spec.split(',').count();
    if n > MAX_VISITS {
        return Err(VisitSpecError::TooManyItems(n));
    }
    spec.split(',')
        .enumerate()
        .map(|(i, item)| {
            let item = item.trim();
            parse_item(item).map_err(|problem| VisitSpecError::Item {
                index: i + 1,
                item: item.to_string(),
                problem,
            })
        })
        .collect()
}

impl FromStr for Visit {
    type Err = VisitSpecError;
    /// Parses one item, as in [`parse_visits`] (errors name it as visit 1).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let item = s.trim();
        parse_item(item).map_err(|problem| VisitSpecError::Item {
            index: 1,
            item: item.to_string(),
            problem,
        })
    }
}

impl fmt::Display for Visit {
    /// The item as [`parse_visits`] reads it, e.g. `empty:20`, `eupnea@15:100`, `biots:60`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Visit::Empty { seconds } => write!(f, "empty:{seconds}"),
            Visit::Person {
                pattern,
                rate_bpm: Some(r),
                seconds,
            } => write!(f, "{pattern}@{r}:{seconds}"),
            Visit::Person {
                pattern, seconds, ..
            } => write!(f, "{pattern}:{seconds}"),
        }
    }
}
