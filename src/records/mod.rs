//! Outputs that keep what the kiosk reports: the event sinks (JSON lines to standard output or a
//! file). The events themselves are [`crate::screening::Event`].

pub mod sink;
