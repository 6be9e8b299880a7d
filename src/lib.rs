//! edge-screen: the software of a kiosk screening station.
//!
//! ```text
//!  camera (simulated | RealSense | .bag)      camera::FrameSource
//!    │ DepthFrame
//!    ▼
//!  respiration: chest ROI → displacement (mm) → resample/filter → rate, apneas, quality
//!    │ window
//!    ▼
//!  breathing: pattern classifier (rule-based baseline; BI-AT-GRU later) → PatternScores
//!    │ Event
//!    ▼
//!  outputs: display readout · JSON-lines events
//! ```
//! The core ([`pipeline::Pipeline`]) is step-driven and clock-free: `push(frame) -> events`.

#![warn(missing_docs)]

pub mod app;
pub mod breathing;
pub mod camera;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod display;
pub mod eval;
pub mod handoff;
pub mod pipeline;
pub mod recording;
pub mod records;
pub mod respiration;
pub mod rsm;
pub mod types;
