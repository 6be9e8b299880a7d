//! Simulated RealSense-like depth camera (placeholder: being written).
