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
//! Replay, tests, benchmarks and the daemon all drive it the same way:
//!
//! ```
//! use edge_screen::breathing::baseline::RuleBaseline;
//! use edge_screen::camera::{simulated::{SimCamera, SimCameraSettings}, FrameSource};
//! use edge_screen::pipeline::Pipeline;
//! use edge_screen::records::events::Event;
//! use edge_screen::respiration::{roi::ChestSettings, RespirationSettings};
//! use edge_screen::rsm::{Rsm, RsmParams};
//! use edge_screen::types::{DepthFrame, Pattern};
//!
//! let rsm = Rsm::new(RsmParams::typical(Pattern::Eupnea), 1);
//! let small = SimCameraSettings { width: 212, height: 120, ..Default::default() };
//! let mut camera = SimCamera::new(small, rsm, 1).unwrap();
//! let mut pipeline = Pipeline::new(ChestSettings::default(), &RespirationSettings::default(), Box::new(RuleBaseline));
//! let (mut frame, mut events) = (DepthFrame::new(0, 0, 0.001), Vec::new());
//! for _ in 0..30 {
//!     camera.read_frame(&mut frame).unwrap();
//!     pipeline.push(&frame, &mut events);
//! }
//! // Within a second the person in front of the camera is found.
//! assert!(events.iter().any(|e| matches!(e, Event::Person { present: true, .. })));
//! ```

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
pub mod inference;
pub mod pipeline;
pub mod recording;
pub mod records;
pub mod respiration;
pub mod rsm;
pub mod training_set;
pub mod types;
pub mod xray;
