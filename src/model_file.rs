//! Reading model files: a size limit checked before the file is read, so a wrong path (a disk
//! image, a video) fails fast with a clear reason instead of filling memory.

use std::path::Path;

/// The bytes of `path`, or why they cannot be used (unreadable, or more than `max_bytes`).
pub fn read_limited(path: &Path, max_bytes: u64) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > max_bytes {
        return Err(format!(
            "{} bytes is more than the {max_bytes} allowed",
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| e.to_string())
}
