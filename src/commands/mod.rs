//! One module per command. [`run`] resolves the configuration and the flags into [`Settings`]
//! once and hands them to the command; `main.rs` only parses, calls [`run`] and maps the error to
//! an exit code.

/// Writes one line to standard output. Unlike `println!`, a closed pipe (`edge-screen breathing
/// *.csv | head`) comes back as an error, which `main` treats as a normal end, instead of a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod breathing;
mod camera;
mod daemon;
mod eval;
mod records;
mod review;
mod simulate;
mod status;
mod xray;
mod xray_validate;

use crate::breathing::PatternClassifier;
use crate::cli::{Cli, Command, DaemonArgs, SubjectArgs};
use crate::config::{ConfigError, Overrides, Settings};
use std::path::PathBuf;

/// Exit status for a usage, configuration or input error (as clap uses).
pub const EXIT_USAGE: i32 = 2;

/// An error that should end the process with a given status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    /// Process exit status.
    pub code: i32,
    /// What to print.
    pub message: String,
}

/// A usage or configuration error (exit status 2).
pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: EXIT_USAGE,
        message: message.into(),
    }
    .into()
}

/// A run that failed for some of its inputs (exit status 1).
pub(crate) fn failed(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: 1,
        message: message.into(),
    }
    .into()
}

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.command.is_some() && cli.daemon != DaemonArgs::default() {
        return Err(usage(
            "daemon options (--camera, --replay, --pattern, --duration, --events, ...) cannot be \
             used with a subcommand; put a subcommand's own options after its name",
        ));
    }
    let mut overrides = global_overrides(&cli);
    match &cli.command {
        None => daemon_overrides(&cli.daemon, &mut overrides)?,
        Some(Command::Record(a)) => subject_overrides(&a.subject, &mut overrides)?,
        Some(Command::Xray(a)) => {
            overrides.set_some("xray.model", path_text(a.model.as_ref()), "--model");
            overrides.set_some("xray.threshold", a.threshold.map(f64::from), "--threshold");
        }
        Some(Command::CheckConfig { files }) => return check_config(files, &overrides),
        _ => {}
    }
    let settings = resolve(cli.config.as_deref(), &overrides)?;
    match cli.command {
        None => daemon::run(&settings, &cli.daemon),
        Some(Command::Simulate(a)) => simulate::run(&settings, &a),
        Some(Command::Breathing(a)) => breathing::run(&settings, &a),
        Some(Command::Eval(a)) => eval::run(&settings, &a),
        Some(Command::Xray(a)) => xray::run(&settings, &a),
        Some(Command::XrayEval(a)) => xray::eval(&a),
        Some(Command::XrayValidate(a)) => xray_validate::run(&settings, &a),
        Some(Command::Cameras { json }) => camera::list(json),
        Some(Command::Record(a)) => camera::record(&settings, &a),
        Some(Command::Records { action }) => records::run(&settings, &action),
        Some(Command::Review { action }) => review::run(&settings, &action),
        Some(Command::Status { json }) => status::run(&settings, json),
        Some(Command::CheckConfig { .. }) => Ok(()),
    }
}

fn resolve(file: Option<&std::path::Path>, o: &Overrides) -> anyhow::Result<Settings> {
    Settings::resolve(file, o).map_err(|e: ConfigError| usage(e.to_string()))
}

fn path_text(p: Option<&PathBuf>) -> Option<String> {
    p.map(|p| p.display().to_string())
}

/// `--classifier`: the kind, and no model file for the rule baseline.
fn global_overrides(cli: &Cli) -> Overrides {
    let mut o = Overrides::default();
    if let Some(kind) = &cli.classifier {
        o.set("classifier.kind", kind.as_str(), "--classifier");
        if kind == "rule_baseline" {
            o.set("classifier.model", "", "--classifier");
        }
    }
    o.set_some("records.path", path_text(cli.records.as_ref()), "--records");
    o
}

fn subject_overrides(s: &SubjectArgs, o: &mut Overrides) -> anyhow::Result<()> {
    o.set_some("simulation.pattern", s.pattern.as_deref(), "--pattern");
    o.set_some("simulation.rate_bpm", s.rate, "--rate");
    o.set_some("simulation.distance_m", s.distance, "--distance");
    if let Some(seed) = s.seed {
        let v = i64::try_from(seed)
            .map_err(|_| usage(format!("--seed {seed}: at most {}", i64::MAX)))?;
        o.set("simulation.seed", v, "--seed");
    }
    Ok(())
}

fn daemon_overrides(a: &DaemonArgs, o: &mut Overrides) -> anyhow::Result<()> {
    subject_overrides(&a.subject, o)?;
    o.set_some("camera.source", a.camera.as_deref(), "--camera");
    o.set_some("simulation.visits", a.visits.as_deref(), "--visits");
    o.set_some("events.output", a.events.as_deref(), "--events");
    o.set_some("display.target", a.display.as_deref(), "--display");
    o.set_some(
        "xray.inbox",
        path_text(a.xray_inbox.as_ref()),
        "--xray-inbox",
    );
    o.set_some("uplink.url", a.uplink.as_deref(), "--uplink");
    o.set_some("metrics.listen", a.metrics.as_deref(), "--metrics");
    o.set_some("device.id", a.device_id.as_deref(), "--device-id");
    Ok(())
}

/// `edge-screen check-config [FILE...]`: each file resolved as the daemon would, its models loaded.
fn check_config(files: &[PathBuf], overrides: &Overrides) -> anyhow::Result<()> {
    let check = |file: Option<&std::path::Path>| -> anyhow::Result<()> {
        let s = resolve(file, overrides)?;
        classifier(&s)?;
        out!("{}: ok\n{s:#?}", s.origin.display())?;
        Ok(())
    };
    if files.is_empty() {
        return check(None);
    }
    files.iter().try_for_each(|f| check(Some(f)))
}

/// The configured breathing classifier, loaded and optimised once (a model that cannot be loaded
/// is a configuration error naming the file).
pub(crate) fn classifier(settings: &Settings) -> anyhow::Result<Box<dyn PatternClassifier>> {
    crate::breathing::build_classifier(&settings.classifier)
        .map_err(|e| usage(format!("classifier.model: {e}")))
}
