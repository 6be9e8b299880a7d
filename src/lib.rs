//! edge-screen: the software of a kiosk screening station.
//!
//! ```text
//!  camera::FrameSource (simulated person or queue | RealSense | .bag)
//!    │ DepthFrame                                  X-ray inbox / `xray --session`
//!    ▼                                               │ xray: decode → preprocess → int8 CNN
//!  respiration: chest ROI → displacement (mm) → resample/filter → BreathWindow, apnea changes
//!    │                                               │ XrayReport
//!    ▼                                               │
//!  breathing: the classifier (BI-AT-GRU via inference | rule baseline) → reading
//!    │                                               │
//!    ▼                                               ▼
//!  screening: sessions (waiting → measuring → result) + fusion → Event
//!    │
//!    ▼
//!  outputs: display (readout) · records (JSON-line sinks, SQLite store) · uplink
//!    │ flagged X-rays queued in the store
//!    ▼
//!  review: clinicians' verdicts (`edge-screen review`, the review web page) → store
//! ```
//! [`pipeline::Pipeline`] strings the stages together. It is step-driven and clock-free:
//! `push(input) -> events`, where an input is a depth frame or a message (a camera status, an X-ray
//! result). The daemon ([`daemon`]) wires threads around it; the commands ([`commands`]), the
//! offline [`tools`], the tests and the benchmarks drive the same code:
//!
//! ```
//! use edge_screen::breathing::baseline::RuleBaseline;
//! use edge_screen::camera::{simulated::SimCamera, FrameSource};
//! use edge_screen::config::Settings;
//! use edge_screen::pipeline::{Input, Pipeline};
//! use edge_screen::rsm::{Rsm, RsmParams};
//! use edge_screen::screening::{ids::Counter, Event};
//! use edge_screen::types::{DepthFrame, Pattern};
//!
//! let settings = Settings::embedded().unwrap();
//! let rsm = Rsm::new(RsmParams::typical(Pattern::Eupnea), 1);
//! let mut small = settings.camera.sim.clone();
//! (small.width, small.height) = (212, 120);
//! let mut camera = SimCamera::new(small, rsm, 1).unwrap();
//! let ids = Box::new(Counter::new("doc"));
//! let mut pipeline = Pipeline::new(&settings.pipeline, Box::new(RuleBaseline), ids);
//! let (mut frame, mut events) = (DepthFrame::new(0, 0, 0.001), Vec::new());
//! for _ in 0..30 {
//!     camera.read_frame(&mut frame).unwrap();
//!     pipeline.push(Input::Frame(&frame), &mut events);
//! }
//! // Within a second the person in front of the camera is found and a session starts.
//! assert!(events.iter().any(|e| matches!(e, Event::Person { present: true, .. })));
//! assert!(events.iter().any(|e| matches!(e, Event::SessionStarted { .. })));
//! ```
//!
//! Modules by stage: [`types`] (plain data), [`camera`], [`rsm`] (the simulator behind the
//! simulated camera and the training data), [`respiration`], [`inference`] (the one module that
//! runs tract), [`breathing`], [`xray`], [`screening`], [`pipeline`], [`display`], [`records`];
//! around them: [`config`] and [`limits`] (settings, resolved once), [`cli`] and [`commands`] (one
//! module per command), [`daemon`], [`recording`] (breathing CSV files), [`rgb`] (images and PNG
//! files, below the display and the X-ray heatmaps), [`review`] (the clinicians' review page) and
//! [`tools`] (offline).

#![warn(missing_docs)]

pub mod breathing;
pub mod camera;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod display;
pub mod inference;
pub mod limits;
pub mod ops;
pub mod pipeline;
pub mod recording;
pub mod records;
pub mod respiration;
pub mod review;
pub mod rgb;
pub mod rsm;
pub mod screening;
pub mod tools;
pub mod types;
pub mod xray;
