//! Chest region of interest from depth alone (placeholder: being written).
