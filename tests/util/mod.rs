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

/// A site's labelled folder: the first 25 held-out `ieee` covid films and the first 25 held-out
/// `nih` adult normal films (adults both, as at an adult clinic), copied into `dir/films` with a
/// `file,label` CSV. Returns (labels, films folder, label of each copied file).
pub fn site_folder(dir: &Path) -> (PathBuf, PathBuf, Vec<(String, bool)>) {
    let data = repo().join("../shared/data/xray");
    assert!(
        data.join("manifest.csv").is_file(),
        "{} is missing: the X-ray tests need ../shared/data/xray beside the repository",
        data.display()
    );
    let split = std::fs::read_to_string(repo().join("models/xray/split.csv")).unwrap();
    let mut picked = Vec::new();
    for (source, label) in [("ieee", "covid"), ("nih", "normal")] {
        let rows = split.lines().skip(1).filter(|l| {
            let f: Vec<&str> = l.split(',').collect();
            f.len() == 5 && f[1] == source && f[2] == label && f[4] == "holdout"
        });
        let files: Vec<String> = rows
            .take(25)
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect();
        assert_eq!(files.len(), 25, "25 held-out {source} films in split.csv");
        picked.extend(files.into_iter().map(|f| (f, label == "covid")));
    }
    let films = dir.join("films");
    let mut csv = String::from("file,label\n");
    for (f, covid) in &picked {
        let dest = films.join(f);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(data.join(f), &dest).unwrap();
        csv += &format!("{f},{}\n", if *covid { "covid" } else { "normal" });
    }
    (write(dir, "labels.csv", &csv), films, picked)
}
