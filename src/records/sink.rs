//! Event sinks: where JSON-line events go (standard output or an append-only file).
//!
//! A sink never takes the daemon down: a failed write (full disk, closed pipe) is reported to the
//! caller, which logs it and keeps running; the next event tries again.

use crate::screening::Event;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Something that takes events.
pub trait EventSink: Send {
    /// Writes one event; durable (flushed) when this returns `Ok`.
    fn emit(&mut self, event: &Event) -> io::Result<()>;
}

/// Writes events as JSON lines to any writer, flushing after each so nothing waits in a buffer.
pub struct JsonLines<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> JsonLines<W> {
    /// A sink over `out`.
    pub fn new(out: W) -> Self {
        Self { out }
    }

    /// The writer back (tests read what was written).
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> EventSink for JsonLines<W> {
    fn emit(&mut self, event: &Event) -> io::Result<()> {
        let mut line = event.to_json_line();
        line.push('\n');
        self.out.write_all(line.as_bytes())?;
        self.out.flush()
    }
}

/// Appends events to a file, creating it if needed; errors name the file.
pub struct FileSink {
    path: PathBuf,
    /// Only regular files can be synced: `/dev/null`, a FIFO or a terminal refuse `fsync`.
    sync: bool,
    inner: JsonLines<BufWriter<File>>,
}

impl FileSink {
    /// Opens `path` for appending.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let sync = file.metadata().is_ok_and(|m| m.is_file());
        Ok(Self {
            path: path.to_path_buf(),
            sync,
            inner: JsonLines::new(BufWriter::new(file)),
        })
    }
}

impl EventSink for FileSink {
    fn emit(&mut self, event: &Event) -> io::Result<()> {
        let r = self.inner.emit(event).and_then(|_| match self.sync {
            true => self.inner.out.get_ref().sync_data(),
            false => Ok(()),
        });
        r.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }
}

/// Collects events in memory (tests and the evaluation command).
#[derive(Debug, Default)]
pub struct MemorySink {
    /// Everything emitted so far.
    pub events: Vec<Event>,
}

impl EventSink for MemorySink {
    fn emit(&mut self, event: &Event) -> io::Result<()> {
        self.events.push(event.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(t_s: f64) -> Event {
        Event::Person { t_s, present: true }
    }

    #[test]
    fn file_sink_appends_one_line_per_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        for t in [1.0, 2.0] {
            // Reopening appends rather than truncating: records survive a restart.
            let mut s = FileSink::open(&path).unwrap();
            s.emit(&person(t)).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].contains("\"t_s\":2.0"), "{}", lines[1]);
    }

    #[test]
    fn unopenable_file_names_the_path() {
        let err = FileSink::open(Path::new("/nonexistent-dir/x.jsonl"))
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("/nonexistent-dir/x.jsonl"),
            "{err}"
        );
    }

    #[test]
    fn full_disk_is_an_error_not_a_panic() {
        // /dev/full accepts the open and fails every write with ENOSPC.
        if let Ok(mut s) = FileSink::open(Path::new("/dev/full")) {
            let err = s.emit(&person(1.0)).unwrap_err();
            assert!(err.to_string().contains("/dev/full"), "{err}");
        }
    }
}
