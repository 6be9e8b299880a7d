//! Offline tools: not part of the kiosk runtime, but they drive the same stages it runs.
//!
//! - [`eval`]: accuracy of the whole chain on simulated camera runs (`edge-screen eval`);
//! - [`training_set`]: the breathing classifier's training data, written through the product's own
//!   pipeline (`edge-screen simulate --training-set`);
//! - [`xray_eval`]: per-source sensitivity and specificity of `xray --json` output against labels
//!   (`edge-screen xray-eval`);
//! - [`xray_validate`]: a site's own labelled films → a site threshold and its cross-validated
//!   estimate, written as a site calibration (`edge-screen xray-validate`).

pub mod eval;
pub mod training_set;
pub mod xray_eval;
pub mod xray_validate;
