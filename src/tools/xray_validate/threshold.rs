//! The site threshold rule and its cross-validated estimate, on plain lists of scored films.
//!
//! Rule: the **lowest** threshold whose specificity on the films is at least the target (so the
//! one that keeps the most sensitivity there), placed halfway between the highest normal score it
//! must clear and the next score above it; the choice stands only if its sensitivity is at least
//! the minimum. A film is covid when `p >= threshold`, as in the screener.

use crate::xray::site::{CrossValidated, Operating, Proportion};
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// One film's covid probability and its label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Covid probability from the model, 0-1.
    pub probability: f32,
    /// True when labelled covid.
    pub covid: bool,
}

/// The targets of the choice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Specificity the threshold must reach on the films, in (0, 1).
    pub target_specificity: f64,
    /// Sensitivity the threshold must keep, in [0, 1].
    pub min_sensitivity: f64,
}

/// Why no threshold was chosen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChoiceError {
    /// No threshold inside (0, 1) reaches the target specificity (normal films at probability 1),
    /// or there are no films of a class.
    #[error("no threshold below 1 reaches specificity {target:.2} on these films")]
    Unreachable {
        /// The target specificity.
        target: f64,
    },
    /// The threshold that reaches the target specificity loses too much sensitivity.
    #[error(
        "at specificity {target:.2} or more (threshold {threshold:.4}) the sensitivity is {:.3} \
         ({} of {} covid films), below the minimum {min:.2}",
        at.sensitivity.value, at.sensitivity.k, at.sensitivity.n
    )]
    BelowMinSensitivity {
        /// The target specificity.
        target: f64,
        /// The minimum sensitivity.
        min: f64,
        /// The threshold that reaches the target specificity.
        threshold: f32,
        /// What it does on the films.
        at: Operating,
    },
}

/// Sensitivity and specificity of `films` at `threshold`.
pub fn operating(films: &[Scored], threshold: f32) -> Operating {
    let count = |covid: bool, right: &dyn Fn(f32) -> bool| {
        let of: Vec<f32> = films
            .iter()
            .filter(|f| f.covid == covid)
            .map(|f| f.probability)
            .collect();
        Proportion::new(of.iter().filter(|p| right(**p)).count(), of.len())
    };
    Operating {
        threshold,
        sensitivity: count(true, &|p| p >= threshold),
        specificity: count(false, &|p| p < threshold),
    }
}

/// The lowest threshold with specificity at least `target` on `films` (see the module doc).
pub fn threshold_for_specificity(films: &[Scored], target: f64) -> Result<f32, ChoiceError> {
    let unreachable = ChoiceError::Unreachable { target };
    let mut normal: Vec<f32> = films
        .iter()
        .filter(|f| !f.covid)
        .map(|f| f.probability)
        .collect();
    if normal.is_empty() || !films.iter().any(|f| f.covid) {
        return Err(unreachable);
    }
    normal.sort_by(f32::total_cmp);
    // Normal films that must fall below the threshold; the small slack keeps 0.9 × 20 at 18.
    let need = ((target * normal.len() as f64) - 1e-9).ceil().max(1.0) as usize;
    let need = need.min(normal.len());
    let below = normal[need - 1];
    let next = films
        .iter()
        .map(|f| f.probability)
        .filter(|p| *p > below)
        .min_by(f32::total_cmp)
        .unwrap_or(1.0);
    let mid = ((f64::from(below) + f64::from(next)) / 2.0) as f32;
    // Adjacent floats have no midpoint: then the next score itself is the threshold.
    let t = if mid > below { mid } else { next };
    if t > below && t < 1.0 {
        Ok(t)
    } else {
        Err(unreachable)
    }
}

/// The site threshold by the rule, or why there is none.
pub fn choose(films: &[Scored], rule: &Rule) -> Result<f32, ChoiceError> {
    let t = threshold_for_specificity(films, rule.target_specificity)?;
    let at = operating(films, t);
    if at.sensitivity.value + 1e-12 < rule.min_sensitivity {
        return Err(ChoiceError::BelowMinSensitivity {
            target: rule.target_specificity,
            min: rule.min_sensitivity,
            threshold: t,
            at,
        });
    }
    Ok(t)
}

/// Stratified fold of each film (`0..folds`): each class is shuffled with `seed` and dealt to the
/// folds in turn, so every fold holds its share of each class.
pub fn stratified_folds(films: &[Scored], folds: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut fold = vec![0; films.len()];
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..films.len())
            .filter(|&i| films[i].covid == class)
            .collect();
        idx.shuffle(&mut rng);
        for (k, i) in idx.into_iter().enumerate() {
            fold[i] = k % folds;
        }
    }
    fold
}

/// Cross-validated result of the rule: for each fold, the threshold is chosen on the other folds
/// with the same rule and the fold's films are classified with it; the counts are pooled. A fold
/// whose training part misses the minimum sensitivity still uses its target-specificity
/// threshold (counted in `folds_below_min_sensitivity`): the estimate covers every film.
pub fn cross_validate(
    films: &[Scored],
    rule: &Rule,
    folds: usize,
    seed: u64,
) -> Result<CrossValidated, ChoiceError> {
    let fold = stratified_folds(films, folds, seed);
    let (mut tp, mut pos, mut tn, mut neg) = (0, 0, 0, 0);
    let mut fold_thresholds = Vec::with_capacity(folds);
    let mut below_min = 0;
    for f in 0..folds {
        let train: Vec<Scored> = (0..films.len())
            .filter(|&i| fold[i] != f)
            .map(|i| films[i])
            .collect();
        let t = match choose(&train, rule) {
            Ok(t) => t,
            Err(ChoiceError::BelowMinSensitivity { threshold, .. }) => {
                below_min += 1;
                threshold
            }
            Err(e) => return Err(e),
        };
        fold_thresholds.push(t);
        for film in (0..films.len()).filter(|&i| fold[i] == f).map(|i| films[i]) {
            if film.covid {
                pos += 1;
                tp += usize::from(film.probability >= t);
            } else {
                neg += 1;
                tn += usize::from(film.probability < t);
            }
        }
    }
    Ok(CrossValidated {
        folds,
        seed,
        fold_thresholds,
        folds_below_min_sensitivity: below_min,
        sensitivity: Proportion::new(tp, pos),
        specificity: Proportion::new(tn, neg),
    })
}
