//! Local readout drawn with embedded-graphics (placeholder: being written).
