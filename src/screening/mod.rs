//! Screening: one person at a time, one outcome each.
//!
//! - [`session`]: the state machine (waiting → measuring → result → waiting) that turns presence,
//!   breathing windows and X-ray results into sessions;
//! - [`fusion`]: the one stated rule that combines breathing and X-ray into an outcome;
//! - [`events`]: the one event type that the pipeline, the sessions and the daemon emit;
//! - [`ids`]: session identifiers unique across restarts.

pub mod events;
pub mod fusion;
pub mod ids;
pub mod session;

pub use events::{Event, FrameStats, SessionResult};
pub use fusion::Outcome;
pub use session::{EndReason, SessionSettings, SessionView, Sessions};
