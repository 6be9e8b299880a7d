//! Outputs that leave the pipeline: screening events and the sinks that carry them.

pub mod events;
pub mod sink;
