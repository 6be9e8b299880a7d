//! Command line: the daemon by default, subcommands for offline work.
//!
//! Raw flags ([`Cli`]); [`crate::commands`] resolves them with `firmware-config/kiosk.toml` into
//! validated settings once (flags that set a configuration key override the file).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// edge-screen: kiosk screening station (breathing from a depth camera; a screening aid, not a
/// diagnosis).
#[derive(Debug, Parser)]
#[command(name = "edge-screen", version)]
pub struct Cli {
    /// Configuration file (default: the shipped firmware-config/kiosk.toml, embedded).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output (-v info, -vv debug, -vvv trace); logs go to standard error.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Breathing classifier, overriding `[classifier] kind`: bi_at_gru or rule_baseline.
    #[arg(long, global = true, value_name = "NAME")]
    pub classifier: Option<String>,
    /// The record store (SQLite), overriding `[records] path`.
    #[arg(long, global = true, value_name = "FILE")]
    pub records: Option<PathBuf>,
    /// Daemon options (used when no subcommand is given).
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// Offline commands.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options of the screening daemon (refused with a subcommand; the global `--config`, `-v` and
/// `--classifier` go before or after a subcommand).
#[derive(Debug, Args, Clone, Default, PartialEq)]
pub struct DaemonArgs {
    /// Depth source: `sim` (simulated camera), a RealSense index (`0`) or serial number
    /// (`edge-screen cameras` lists them).
    #[arg(long, value_name = "sim|N|SERIAL")]
    pub camera: Option<String>,
    /// Run on a RealSense `.bag` recording instead of a camera, at `--speed` (real time by
    /// default; `max` processes every frame); the run ends with the recording.
    #[arg(long, value_name = "FILE.bag", conflicts_with_all = ["camera", "pattern", "rate", "seed", "distance"])]
    pub replay: Option<PathBuf>,
    /// The simulated person (`--camera sim`).
    #[command(flatten)]
    pub subject: SubjectArgs,
    /// A queue of people for the simulated camera, e.g.
    /// `empty:20,eupnea@15:100,empty:20,tachypnea@30:100`: items `empty:SECONDS` and
    /// `PATTERN[@RATE]:SECONDS`; the run ends with the queue (overrides `[simulation] visits`).
    #[arg(long, value_name = "SPEC", conflicts_with_all = ["replay", "pattern", "rate"])]
    pub visits: Option<String>,
    /// Stop after this much stream time, s (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// `realtime` (default), `max` (simulated or recorded time as fast as possible, every frame
    /// processed) or a factor such as `4` (four times real time, latest frame wins).
    #[arg(long, value_name = "realtime|max|FACTOR")]
    pub speed: Option<String>,
    /// Where events go: `-` (standard output) or a file (appended).
    #[arg(long, value_name = "-|FILE")]
    pub events: Option<String>,
    /// Readout target: `png:PATH` or `fb:/dev/fbN`.
    #[arg(long, value_name = "png:PATH|fb:DEV")]
    pub display: Option<String>,
    /// Folder watched for chest X-rays (overrides `[xray] inbox`); screened images are moved to
    /// its `done/` or `failed/` folder.
    #[arg(long, value_name = "DIR")]
    pub xray_inbox: Option<PathBuf>,
    /// The fleet's MQTT broker, overriding `[uplink] url`: `mqtt://HOST:PORT`, or `""` for none.
    #[arg(long, value_name = "URL")]
    pub uplink: Option<String>,
    /// Prometheus metrics address, overriding `[metrics] listen` (`""` = off).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<String>,
    /// This kiosk's id, overriding `[device] id`.
    #[arg(long, value_name = "ID")]
    pub device_id: Option<String>,
}

/// The simulated person, for the daemon and `record` on `--camera sim` (defaults: `[simulation]`).
#[derive(Debug, Args, Clone, Default, PartialEq)]
pub struct SubjectArgs {
    /// Simulated breathing pattern (eupnea, tachypnea, bradypnea, biots, cheyne_stokes, central_apnea).
    #[arg(long, value_name = "NAME")]
    pub pattern: Option<String>,
    /// Simulated breathing rate, breaths/min.
    #[arg(long, value_name = "BPM")]
    pub rate: Option<f64>,
    /// Simulation seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Simulated distance from camera to chest, m.
    #[arg(long, value_name = "M")]
    pub distance: Option<f64>,
}

impl SubjectArgs {
    /// Whether any of the options was given.
    pub fn any(&self) -> bool {
        *self != Self::default()
    }
}

/// Offline commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a simulated breathing recording (CSV `t_s,resp`, mm) and its ground truth, or with
    /// `--training-set` the model inputs for training the breathing classifier.
    Simulate(SimulateArgs),
    /// Classify breathing recordings (CSV `t_s,resp`, 4-1000 Hz, any units and polarity, >= 60 s).
    Breathing(BreathingArgs),
    /// Accuracy of the whole pipeline on simulated camera runs (rate, apneas, patterns).
    Eval(EvalArgs),
    /// Screen chest X-rays (PNG, JPEG, DICOM) for COVID-19 with the int8 CNN: covid probability
    /// and finding per image. A screening aid, not a diagnosis (see models/xray/MODEL_CARD.md).
    Xray(XrayArgs),
    /// Score `edge-screen xray --json` output against known labels: sensitivity and specificity
    /// per source with Wilson and patient-bootstrap intervals, AUC, and the screening goal.
    XrayEval(XrayEvalArgs),
    /// Validate the X-ray model on this site's own labelled films: sensitivity and specificity at
    /// the model's threshold, a site threshold for a target specificity, its cross-validated
    /// estimate, and a site calibration file bound to the model (`[xray] site_calibration`).
    XrayValidate(XrayValidateArgs),
    /// List the connected RealSense cameras (index, name, serial, firmware, USB type).
    Cameras {
        /// One JSON array on standard output.
        #[arg(long)]
        json: bool,
    },
    /// Record a RealSense `.bag` file from a camera, or from the simulated camera (`--camera sim`,
    /// with its ground truth in FILE.bag.json): test fixtures and demo recordings.
    Record(RecordArgs),
    /// The screening records kept on this kiosk (the SQLite record store, `[records] path`).
    Records {
        /// What to do.
        #[command(subcommand)]
        action: RecordsAction,
    },
    /// Clinician review of flagged chest X-rays (the queue in the record store, `--records`): list
    /// them, show one (film, heatmap, probability), mark it; the review page's passwords; the
    /// review page without the camera pipeline.
    Review {
        /// What to do.
        #[command(subcommand)]
        action: ReviewAction,
    },
    /// The running daemon's state from its status file (`[status] path`): camera, sessions,
    /// models, records, outbox, uplink. Exit status 1 when the file is missing, malformed or stale.
    Status {
        /// The status as one JSON object, with `stale` and `age_s` (s) added.
        #[arg(long)]
        json: bool,
    },
    /// Validate a configuration file and print the settings in force.
    CheckConfig {
        /// Files to check (default: the embedded kiosk.toml).
        files: Vec<PathBuf>,
    },
}

/// `edge-screen records ...`.
#[derive(Debug, Subcommand)]
pub enum RecordsAction {
    /// One line per record, oldest first.
    List {
        /// Only records given at or after this time: `2026-11-30`, `2026-11-30T14:00:00Z`, or an
        /// age such as `2h`, `7d`.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// One JSON object per line (the records as stored and sent to the fleet).
        #[arg(long)]
        json: bool,
    },
    /// One record in full (JSON).
    Show {
        /// The record's id (a unique prefix of at least 6 characters is enough).
        id: String,
    },
    /// Every record, for a spreadsheet or another system.
    Export {
        /// `csv` (one row per record, main fields) or `jsonl` (every field).
        #[arg(long, value_name = "csv|jsonl")]
        format: String,
        /// Only records given at or after this time (as for `list`).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Integrity check, schema version, and counts of delivered and pending records; exit status
    /// 1 when the check fails.
    Verify {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `edge-screen review ...`.
#[derive(Debug, Subcommand)]
pub enum ReviewAction {
    /// Films waiting for review, oldest first (`--all`: every flagged film, with its reviews).
    List {
        /// Every queued film, reviewed or not.
        #[arg(long)]
        all: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// One queued film: what the model said, its reviews; `--out DIR` writes the film and its
    /// heatmap there.
    Show {
        /// The item's number (`review list`).
        id: i64,
        /// Write `ID-NAME` (the film) and `ID-NAME.heatmap.png` into this folder.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Record a reviewer's verdict on a film (kept beside earlier ones, never replacing them).
    Mark {
        /// The item's number (`review list`).
        id: i64,
        /// `covid` (confirmed COVID), `normal` or `not-assessable`.
        #[arg(long, value_name = "covid|normal|not-assessable")]
        verdict: String,
        /// Who reviewed it.
        #[arg(long, value_name = "NAME")]
        reviewer: String,
        /// A note kept with the review.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
    /// Set a reviewer's password for the review page: reads it from standard input (no echo on
    /// a terminal) and writes `NAME:salt:hash` (PBKDF2-HMAC-SHA256) into FILE.
    Passwd {
        /// The reviewer's name.
        name: String,
        /// The password file (`[review] password_file`); created if missing.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Serve the review page without the camera pipeline, until SIGINT/SIGTERM; prints its
    /// address on standard output.
    Serve {
        /// Address to listen on, overriding `[review] listen` (port 0 = any free port).
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
    },
}

/// `edge-screen simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Breathing pattern (single-recording mode).
    #[arg(long, value_name = "NAME", required_unless_present = "training_set")]
    pub pattern: Option<String>,
    /// Breathing rate, breaths/min (default: typical for the pattern).
    #[arg(long, value_name = "BPM")]
    pub rate: Option<f32>,
    /// Length, s (single recording) or session length (training set).
    #[arg(long, value_name = "S", default_value_t = 120.0)]
    pub seconds: f64,
    /// Sample rate, Hz (5-1000).
    #[arg(long, value_name = "F", default_value_t = 10.0)]
    pub hz: f64,
    /// Seed (the base seed of a training set).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Output CSV (single) or folder (training set).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Training-set mode: sessions per pattern.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub per_pattern: usize,
    /// Write model inputs for training the learned classifiers: sessions through the simulated
    /// camera and the respiration pipeline, or through the recording path with sensor-like
    /// variations (see `training/README.md`). `--seconds` is the session length.
    #[arg(long)]
    pub training_set: bool,
    /// Training-set mode: which split (train, val or test); each has its own subjects.
    #[arg(long, value_name = "SPLIT", default_value = "train")]
    pub split: String,
    /// Training-set mode: share of sessions rendered through the simulated camera, 0-1.
    #[arg(long, value_name = "F", default_value_t = 0.5)]
    pub camera_share: f64,
    /// Training-set mode: share of sessions widened toward the edges of their pattern's definition
    /// (sighs, ataxic Biot's, skewed Cheyne-Stokes, recovery breaths after central apneas), 0-1.
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    pub widen_share: f64,
    /// Training-set mode: seconds between two kept windows of a session.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub hop: f64,
    /// Training-set mode: simulated camera width, px.
    #[arg(long, value_name = "PX", default_value_t = 424)]
    pub width: u32,
    /// Training-set mode: simulated camera height, px.
    #[arg(long, value_name = "PX", default_value_t = 240)]
    pub height: u32,
}

/// `edge-screen breathing`.
#[derive(Debug, Args)]
pub struct BreathingArgs {
    /// CSV files `t_s,resp`.
    #[arg(required = true, value_name = "FILE.csv")]
    pub files: Vec<PathBuf>,
    /// One JSON object per file on standard output.
    #[arg(long)]
    pub json: bool,
}

/// `edge-screen xray`.
#[derive(Debug, Args)]
pub struct XrayArgs {
    /// Image files, or folders (searched recursively for .png, .jpg, .jpeg, .dcm, .dicom and
    /// files without an extension).
    #[arg(required = true, value_name = "FILE|DIR")]
    pub files: Vec<PathBuf>,
    /// One JSON object per image on standard output (`file`, `covid_probability`, `finding`,
    /// `threshold`, `model`, `format`, and for an image out of scope `scope_reason` and
    /// `scope_text` with a null probability; or `file` and `error`).
    #[arg(long)]
    pub json: bool,
    /// Write a class-activation overlay `NAME.heatmap.png` per image into this folder.
    #[arg(long, value_name = "DIR")]
    pub heatmap: Option<PathBuf>,
    /// ONNX model to use instead of `[xray] model` (its folder must hold its model.json).
    #[arg(long, value_name = "FILE.onnx")]
    pub model: Option<PathBuf>,
    /// Operating threshold on the covid probability instead of `[xray] threshold`, 0.01-0.99.
    #[arg(long, value_name = "P")]
    pub threshold: Option<f32>,
    /// Send the images to the running kiosk's inbox (`[xray] inbox`) for this screening session
    /// instead of screening them here: each is copied there with a sidecar `NAME.json` naming the
    /// session; the kiosk screens it and updates the session's result.
    #[arg(long, value_name = "ID", conflicts_with_all = ["json", "heatmap", "model", "threshold"])]
    pub session: Option<String>,
}

/// `edge-screen xray-eval`.
#[derive(Debug, Args)]
pub struct XrayEvalArgs {
    /// Labels CSV: columns `filename` and `label` (covid or normal), optionally `source`,
    /// `patient_id` and `split` (the data set's manifest.csv and models/xray/split.csv qualify).
    #[arg(long, value_name = "FILE.csv")]
    pub labels: PathBuf,
    /// Use only the label rows whose `split` column is this (e.g. `holdout`).
    #[arg(long, value_name = "NAME")]
    pub split: Option<String>,
    /// Output of `edge-screen xray --json` (one or more files).
    #[arg(required = true, value_name = "PREDICTIONS.jsonl")]
    pub predictions: Vec<PathBuf>,
    /// Sensitivity goal per source.
    #[arg(long, value_name = "P", default_value_t = 0.95)]
    pub goal_sensitivity: f64,
    /// Specificity goal per source.
    #[arg(long, value_name = "P", default_value_t = 0.90)]
    pub goal_specificity: f64,
    /// Fewest images of a class for a source to be judged against the goal.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub min_images: usize,
    /// Patient-bootstrap draws (0-100000).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub bootstrap: usize,
    /// Print the evaluation as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `edge-screen xray-validate`.
#[derive(Debug, Args)]
pub struct XrayValidateArgs {
    /// Labels CSV: columns `file` (or `filename`: the image's path inside one of the folders)
    /// and `label` (covid or normal); optionally `split` (models/xray/split.csv qualifies).
    #[arg(
        long,
        value_name = "FILE.csv",
        required_unless_present = "from_reviews",
        requires = "dirs"
    )]
    pub labels: Option<PathBuf>,
    /// Use only the label rows whose `split` column is this (e.g. `holdout`).
    #[arg(long, value_name = "NAME", requires = "labels")]
    pub split: Option<String>,
    /// Folders holding the labelled images (with `--labels`).
    #[arg(value_name = "DIR", requires = "labels")]
    pub dirs: Vec<PathBuf>,
    /// Also use the films clinicians reviewed in the record store (`--records`, `[records]
    /// path`): the latest review of each film labels it (confirmed COVID → covid, normal →
    /// normal; not assessable → left out). Reviews exist only for films the kiosk flagged, so
    /// they alone tell little about missed cases: add labelled normal and covid films.
    #[arg(long)]
    pub from_reviews: bool,
    /// Where to write the site calibration (JSON); nothing is written when no threshold meets
    /// both targets.
    #[arg(long, value_name = "FILE.json")]
    pub out: PathBuf,
    /// Specificity the site threshold must reach on the films, 0.5-0.99.
    #[arg(long, value_name = "P", default_value_t = 0.90)]
    pub target_specificity: f64,
    /// Sensitivity the site threshold must keep on the films, 0.5-1.
    #[arg(long, value_name = "P", default_value_t = 0.90)]
    pub min_sensitivity: f64,
    /// Cross-validation folds (stratified), 2 to the films of the smaller class.
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub folds: usize,
    /// Seed of the fold assignment.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Print the calibration as one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// `edge-screen record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Camera: `sim`, a RealSense index or serial number (default: `[camera] source`).
    #[arg(long, value_name = "sim|N|SERIAL")]
    pub camera: Option<String>,
    /// Length of the recording, s (0.1-3600). Recording takes this long: frames are written at
    /// the rate they are captured.
    #[arg(long, value_name = "SECS")]
    pub seconds: f64,
    /// The simulated person (`--camera sim` only).
    #[command(flatten)]
    pub subject: SubjectArgs,
    /// The `.bag` file to write (overwritten).
    #[arg(value_name = "FILE.bag")]
    pub out: PathBuf,
}

/// `edge-screen eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Seeds per pattern and distance.
    #[arg(long, default_value_t = 2)]
    pub seeds: u64,
    /// Distances, m, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.8,1.15,1.5")]
    pub distances: Vec<f64>,
    /// Length of each run, s.
    #[arg(long, default_value_t = 240.0)]
    pub seconds: f64,
    /// Patterns to run (default: all six), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub patterns: Vec<String>,
    /// Camera width, px (smaller is faster; the default is the kiosk's 848).
    #[arg(long, default_value_t = 848)]
    pub width: u32,
    /// Camera height, px.
    #[arg(long, default_value_t = 480)]
    pub height: u32,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}
