//! Helpers shared by the integration tests: run the real binary, read its events.
#![allow(dead_code)]

pub mod mosquitto;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `edge-screen` binary built for these tests.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_edge-screen"));
    c.env_remove("RUST_LOG");
    // Records and the status file go to a folder of this test process, not the user's state
    // directory.
    c.env("STATE_DIRECTORY", state_dir());
    c
}

/// The state directory of this test process's daemons (created on first use).
pub fn state_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edge-screen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("test state directory");
    dir
}

/// Runs `edge-screen args...` to completion.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("edge-screen runs")
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Parses JSON lines.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data/resp/csv`, if present beside the repository.
pub fn shared_resp_dir() -> Option<PathBuf> {
    let p = repo().join("../shared/data/resp/csv");
    p.is_dir().then_some(p)
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write fixture");
    p
}
