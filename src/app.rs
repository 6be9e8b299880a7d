//! Turns the command line and the configuration into running components, one function per
//! command. `main.rs` only parses, calls [`run`] and maps the error to an exit code.

use crate::breathing::PatternClassifier;
use crate::camera::hardware::CameraSelector;
use crate::camera::simulated::{SimCamera, SimCameraSettings};
use crate::cli::{
    BreathingArgs, Cli, Command, DaemonArgs, EvalArgs, RecordArgs, SimulateArgs, SubjectArgs,
    XrayArgs,
};
use crate::config::{ClassifierKind, ConfigError, Settings};
use crate::daemon::{RunOptions, Speed};
use crate::pipeline::Pipeline;
use crate::records::sink::{EventSink, FileSink, JsonLines};
use crate::respiration::roi::ChestSettings;
use crate::rsm::Rsm;
use crate::types::Pattern;
use anyhow::Context;
use std::path::Path;
use tokio_util::sync::CancellationToken;

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

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.command.is_some() && cli.daemon != DaemonArgs::default() {
        return Err(usage(
            "daemon options (--camera, --replay, --pattern, --duration, --events, ...) cannot be \
             used with a subcommand; put a subcommand's own options after its name",
        ));
    }
    if let Some(Command::CheckConfig { files }) = &cli.command {
        return check_config(files);
    }
    let mut settings = load_settings(cli.config.as_deref())?;
    if let Some(kind) = &cli.classifier {
        let model = match &settings.classifier {
            ClassifierKind::BiAtGru { model } => model.clone(),
            ClassifierKind::RuleBaseline => None,
        };
        settings.classifier = ClassifierKind::parse(kind, model).ok_or_else(|| {
            usage(format!(
                "--classifier: unknown classifier '{kind}' (bi_at_gru or rule_baseline)"
            ))
        })?;
    }
    match cli.command {
        None => run_daemon(&settings, &cli.daemon),
        Some(Command::Simulate(a)) => simulate(&settings, &a),
        Some(Command::Breathing(a)) => breathing(&settings, &a),
        Some(Command::Eval(a)) => eval(&settings, &a),
        Some(Command::Xray(a)) => xray(&settings, &a),
        Some(Command::XrayEval(a)) => xray_eval(&a),
        Some(Command::Cameras { json }) => cameras(json),
        Some(Command::Record(a)) => record(&settings, &a),
        Some(Command::CheckConfig { .. }) => Ok(()),
    }
}

fn load_settings(path: Option<&Path>) -> anyhow::Result<Settings> {
    let r = match path {
        Some(p) => Settings::load(p),
        None => Settings::embedded(),
    };
    r.map_err(|e: ConfigError| {
        Exit {
            code: EXIT_USAGE,
            message: e.to_string(),
        }
        .into()
    })
}

fn check_config(files: &[std::path::PathBuf]) -> anyhow::Result<()> {
    if files.is_empty() {
        let s = load_settings(None)?;
        classifier(&s.classifier)?;
        println!("<embedded kiosk.toml>: ok\n{s:#?}");
    }
    for f in files {
        let s = load_settings(Some(f))?;
        classifier(&s.classifier).with_context(|| f.display().to_string())?;
        println!("{}: ok\n{s:#?}", f.display());
    }
    Ok(())
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    Exit {
        code: EXIT_USAGE,
        message: message.into(),
    }
    .into()
}

/// The configured breathing classifier, loaded and optimised once (a model that cannot be loaded
/// is a configuration error naming the file).
pub fn classifier(kind: &ClassifierKind) -> anyhow::Result<Box<dyn PatternClassifier>> {
    crate::breathing::build_classifier(kind).map_err(|e| usage(format!("classifier.model: {e}")))
}

/// Chest-finding settings from the configuration.
pub fn chest_settings(settings: &Settings) -> ChestSettings {
    ChestSettings {
        min_distance_m: settings.chest.min_distance_m as f32,
        max_distance_m: settings.chest.max_distance_m as f32,
        redetect_interval_s: settings.chest.redetect_interval_s,
        ..ChestSettings::default()
    }
}

/// Simulated-camera settings from the configuration (before command-line overrides).
pub fn sim_camera_settings(settings: &Settings) -> SimCameraSettings {
    let (c, s) = (&settings.camera, &settings.simulation);
    SimCameraSettings {
        width: c.width_px,
        height: c.height_px,
        fps: c.fps as f64,
        depth_unit_m: (c.depth_unit_mm / 1000.0) as f32,
        subject_distance_m: s.distance_m as f32,
        noise_scale: s.noise_scale as f32,
        sway: s.sway,
        ..SimCameraSettings::default()
    }
}

/// Applies `[simulation] motion_artefacts = false` (no sudden movements of the simulated person).
pub fn subject_motion(
    mut params: crate::rsm::RsmParams,
    sim: &crate::config::RawSimulation,
) -> crate::rsm::RsmParams {
    if !sim.motion_artefacts {
        params.artefacts_per_min = 0.0;
    }
    params
}

fn parse_speed(text: Option<&str>) -> anyhow::Result<Speed> {
    match text.unwrap_or("realtime") {
        "realtime" | "1" => Ok(Speed::Paced(1.0)),
        "max" => Ok(Speed::Max),
        other => match other.parse::<f64>() {
            Ok(f) if f.is_finite() && (0.1..=1000.0).contains(&f) => Ok(Speed::Paced(f)),
            _ => Err(usage(format!(
                "--speed {other:?}: expected `realtime`, `max` or a factor 0.1-1000"
            ))),
        },
    }
}

/// The simulated camera for `pattern` (default: the configured one), with the subject's drawn
/// parameters (the ground truth).
fn sim_source(
    settings: &Settings,
    subject: &SubjectArgs,
) -> anyhow::Result<(SimCamera, crate::rsm::RsmParams, u64)> {
    let pattern: Pattern = match subject.pattern.as_deref() {
        Some(p) => p.parse().map_err(|e| usage(format!("--pattern: {e}")))?,
        None => settings.sim_pattern,
    };
    let seed = subject.seed.unwrap_or(settings.simulation.seed);
    let rate = subject.rate.unwrap_or(settings.simulation.rate_bpm);
    // Each seed draws its own subject (depth, I:E, variability, pauses) inside the pattern's ranges.
    let params = crate::rsm::io::params_for(pattern, (rate != 0.0).then_some(rate as f32), seed)
        .map_err(|e| usage(format!("--rate: {e}")))?;
    let params = subject_motion(params, &settings.simulation);
    let mut cam = sim_camera_settings(settings);
    if let Some(d) = subject.distance {
        cam.subject_distance_m = d as f32;
    }
    let source = SimCamera::new(cam, Rsm::new(params.clone(), seed), seed)
        .map_err(|e| usage(format!("simulated camera: {e}")))?;
    Ok((source, params, seed))
}

/// `--camera` (or `camera.source`), parsed.
fn camera_selector(settings: &Settings, flag: Option<&str>) -> anyhow::Result<CameraSelector> {
    match flag {
        Some(text) => CameraSelector::parse(text).map_err(|e| usage(format!("--camera: {e}"))),
        None => Ok(settings.camera_source.clone()),
    }
}

#[cfg(not(feature = "realsense"))]
fn no_realsense(what: &str) -> anyhow::Error {
    usage(format!(
        "{what}: this edge-screen was built without RealSense support; build it with \
         `--features realsense` (librealsense 2.56: scripts/setup-librealsense.sh), or use --camera sim"
    ))
}

/// A RealSense camera-open failure as the user should see it: a camera that is not there is a
/// usage error (exit 2), anything else a run-time error.
#[cfg(feature = "realsense")]
fn camera_failed(e: crate::camera::CameraError) -> anyhow::Error {
    match e {
        crate::camera::CameraError::Fatal(m) if m.contains("no such camera") => usage(m),
        other => anyhow::anyhow!("{other}"),
    }
}

fn open_source(
    settings: &Settings,
    args: &DaemonArgs,
) -> anyhow::Result<Box<dyn crate::camera::FrameSource>> {
    if let Some(path) = &args.replay {
        #[cfg(feature = "realsense")]
        {
            let cam = crate::camera::realsense::RealSenseCamera::replay(path, &settings.realsense)
                .map_err(|e| usage(format!("--replay: {e}")))?;
            return Ok(Box::new(cam));
        }
        #[cfg(not(feature = "realsense"))]
        return Err(no_realsense(&format!("--replay {}", path.display())));
    }
    match camera_selector(settings, args.camera.as_deref())? {
        CameraSelector::Simulated => {
            let (source, _, _) = sim_source(settings, &args.subject)?;
            Ok(Box::new(source))
        }
        #[cfg(feature = "realsense")]
        selector => {
            let cam = crate::camera::realsense::RealSenseCamera::open(
                &selector,
                &settings.realsense,
                None,
            )
            .map_err(camera_failed)?;
            Ok(Box::new(cam))
        }
        #[cfg(not(feature = "realsense"))]
        selector => Err(no_realsense(&format!(
            "--camera {}: RealSense {selector}",
            args.camera.as_deref().unwrap_or(&settings.camera.source)
        ))),
    }
}

fn run_daemon(settings: &Settings, args: &DaemonArgs) -> anyhow::Result<()> {
    let source = open_source(settings, args)?;
    if let Some(d) = args.duration {
        if !(d.is_finite() && d > 0.0) {
            return Err(usage(format!(
                "--duration {d}: expected a positive number of seconds"
            )));
        }
    }
    let speed = parse_speed(args.speed.as_deref())?;
    if args.replay.is_some() && speed != Speed::Paced(1.0) {
        return Err(usage(
            "--speed: a recording replays in real time (librealsense paces it); leave --speed out",
        ));
    }
    let sink = open_sink(args.events.as_deref().unwrap_or(&settings.events.output))?;
    let display_spec = args
        .display
        .clone()
        .unwrap_or_else(|| settings.display.target.clone());
    let display = if display_spec.is_empty() {
        None
    } else {
        let ds = display_settings(settings);
        Some(crate::display::open_display(&display_spec, ds).map_err(|e| usage(e.to_string()))?)
    };
    let cls = classifier(&settings.classifier)?;
    let inbox = match args
        .xray_inbox
        .clone()
        .or_else(|| settings.xray.inbox.clone())
    {
        None => None,
        Some(dir) => {
            // Load the model now: a bad model file is a configuration error, not a silent gap.
            let screener = crate::xray::screen::XrayScreener::from_settings(&settings.xray)
                .map_err(|e| usage(format!("[xray] model: {e}")))?;
            crate::xray::inbox::Inbox::open(&dir)
                .map_err(|e| usage(format!("[xray] inbox: {e}")))?;
            Some(crate::daemon::InboxJob {
                screener,
                dir,
                poll_interval: std::time::Duration::from_secs_f64(settings.xray.poll_interval_s),
                heatmap_dir: settings.xray.heatmap_dir.clone(),
            })
        }
    };
    let opts = RunOptions {
        speed,
        duration_s: args.duration,
        frames_interval_s: settings.events.frames_interval_s,
        classifier: cls.name().to_string(),
        inbox,
    };
    let pipeline = Pipeline::new(chest_settings(settings), &settings.respiration, cls);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let shutdown = CancellationToken::new();
        spawn_signal_handler(shutdown.clone());
        let summary = crate::daemon::run(source, pipeline, sink, display, opts, shutdown).await?;
        log::info!(
            "run ended: {} ({} frames processed)",
            summary.reason,
            summary.stats.processed
        );
        Ok(())
    })
}

/// `edge-screen cameras`.
fn cameras(json: bool) -> anyhow::Result<()> {
    #[cfg(feature = "realsense")]
    {
        let cams = crate::camera::realsense::list_cameras().map_err(|e| anyhow::anyhow!("{e}"))?;
        if json {
            println!("{}", serde_json::to_string_pretty(&cams)?);
        } else if cams.is_empty() {
            println!("no RealSense camera is connected");
        } else {
            println!(
                "index  name                           serial        firmware      USB   line"
            );
            for c in &cams {
                println!(
                    "{:<5}  {:<30} {:<13} {:<13} {:<5} {}",
                    c.index, c.name, c.serial, c.firmware, c.usb_type, c.product_line
                );
            }
        }
        Ok(())
    }
    #[cfg(not(feature = "realsense"))]
    {
        let _ = json;
        Err(no_realsense("cameras"))
    }
}

/// `edge-screen record`.
fn record(settings: &Settings, a: &RecordArgs) -> anyhow::Result<()> {
    if !(a.seconds.is_finite() && (0.1..=3600.0).contains(&a.seconds)) {
        return Err(usage(format!(
            "--seconds {}: expected 0.1-3600 s",
            a.seconds
        )));
    }
    let selector = camera_selector(settings, a.camera.as_deref())?;
    if a.subject.any() && selector != CameraSelector::Simulated {
        return Err(usage(
            "--pattern, --rate, --seed and --distance apply to the simulated camera (--camera sim) only",
        ));
    }
    #[cfg(feature = "realsense")]
    {
        use crate::camera::FrameSource;
        let mut frame = crate::types::DepthFrame::new(0, 0, 0.001);
        if selector == CameraSelector::Simulated {
            let (mut source, params, seed) = sim_source(settings, &a.subject)?;
            let c = &settings.camera;
            let device = crate::camera::bag_writer::BagDevice {
                name: "edge-screen simulated camera".into(),
                serial: format!("SIM{seed}"),
                firmware: env!("CARGO_PKG_VERSION").into(),
            };
            let mut bag = crate::camera::bag_writer::BagWriter::create(
                &a.out,
                c.width_px,
                c.height_px,
                c.fps,
                settings.realsense.depth_unit_m,
                &device,
            )
            .map_err(|e| usage(e.to_string()))?;
            loop {
                source
                    .read_frame(&mut frame)
                    .map_err(|e| anyhow::anyhow!("simulated camera: {e}"))?;
                if frame.timestamp_s >= a.seconds {
                    break;
                }
                bag.write(&frame)?;
            }
            let frames = bag.finish()?;
            let distance = a.subject.distance.unwrap_or(settings.simulation.distance_m);
            let truth = serde_json::json!({
                "file": a.out,
                "source": "simulated camera",
                "pattern": params.pattern.name(),
                "rate_bpm": params.rate_bpm,
                "seed": seed,
                "distance_m": distance,
                "seconds": a.seconds,
                "frames": frames,
                "width_px": c.width_px,
                "height_px": c.height_px,
                "fps": c.fps,
                "depth_unit_m": settings.camera.depth_unit_mm / 1000.0,
            });
            let truth_path = truth_file(&a.out);
            std::fs::write(&truth_path, serde_json::to_string_pretty(&truth)? + "\n")
                .with_context(|| truth_path.display().to_string())?;
            println!(
                "{}: {frames} frames, {:.1} s, {}x{}@{} ({} at {:.1} breaths/min, seed {seed}, {distance} m); truth in {}",
                a.out.display(),
                a.seconds,
                c.width_px,
                c.height_px,
                c.fps,
                params.pattern.name(),
                params.rate_bpm,
                truth_path.display()
            );
            return Ok(());
        }
        let mut cam = crate::camera::realsense::RealSenseCamera::open(
            &selector,
            &settings.realsense,
            Some(&a.out),
        )
        .map_err(camera_failed)?;
        let (mut timeouts, mut corrupt) = (0u64, 0u64);
        loop {
            match cam.read_frame(&mut frame) {
                Ok(()) if frame.timestamp_s >= a.seconds => break,
                Ok(()) => {}
                Err(crate::camera::CameraError::Timeout(_)) => timeouts += 1,
                Err(crate::camera::CameraError::Corrupt(_)) => corrupt += 1,
                Err(e) => {
                    return Err(anyhow::anyhow!(
                        "{}: recording stopped after {:.1} s: {e}",
                        a.out.display(),
                        frame.timestamp_s
                    ))
                }
            }
        }
        let frames = cam.frames_delivered();
        let describe = cam.describe();
        drop(cam); // stops the stream; librealsense closes the file
        println!(
            "{}: {frames} frames, {:.1} s from {describe} ({timeouts} time-outs, {corrupt} corrupt frames)",
            a.out.display(),
            frame.timestamp_s
        );
        Ok(())
    }
    #[cfg(not(feature = "realsense"))]
    {
        Err(no_realsense("record"))
    }
}

/// Where `record --camera sim` writes the ground truth of `bag`: `FILE.bag.json`.
pub fn truth_file(bag: &Path) -> std::path::PathBuf {
    let mut name = bag.as_os_str().to_owned();
    name.push(".json");
    name.into()
}

fn display_settings(settings: &Settings) -> crate::display::DisplaySettings {
    crate::display::DisplaySettings {
        width: settings.display.width_px,
        height: settings.display.height_px,
        max_refresh_hz: settings.display.max_refresh_hz,
    }
}

fn open_sink(spec: &str) -> anyhow::Result<Box<dyn EventSink>> {
    if spec == "-" {
        return Ok(Box::new(JsonLines::new(std::io::stdout())));
    }
    let sink = FileSink::open(Path::new(spec)).map_err(|e| usage(format!("--events: {e}")))?;
    Ok(Box::new(sink))
}

/// Cancels `token` on SIGINT or SIGTERM.
fn spawn_signal_handler(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = match signal(SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    log::warn!("cannot watch SIGTERM: {e}");
                    let _ = tokio::signal::ctrl_c().await;
                    token.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => log::info!("SIGINT: stopping"),
                _ = term.recv() => log::info!("SIGTERM: stopping"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        token.cancel();
    });
}

fn simulate(settings: &Settings, a: &SimulateArgs) -> anyhow::Result<()> {
    if a.training_set {
        let spec = crate::training_set::SetSpec {
            split: a
                .split
                .parse()
                .map_err(|e| usage(format!("--split: {e}")))?,
            per_pattern: a.per_pattern,
            seconds: a.seconds,
            camera_share: a.camera_share,
            seed: a.seed,
            hop_s: a.hop,
            width: a.width,
            height: a.height,
        };
        let started = std::time::Instant::now();
        let n = crate::training_set::write_set(&spec, &settings.respiration, &a.out)
            .map_err(|e| usage(format!("simulate --training-set: {e}")))?;
        eprintln!(
            "wrote {n} windows of {} sessions to {} ({:.0} s)",
            6 * a.per_pattern,
            a.out.display(),
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    if a.bulk {
        let spec = crate::rsm::dataset::DatasetSpec {
            per_pattern: a.per_pattern,
            window_s: a.seconds,
            hz: a.hz,
            base_seed: a.seed,
            ..Default::default()
        };
        let n = crate::rsm::dataset::write_dataset(&spec, &a.out)
            .map_err(|e| usage(format!("simulate --bulk: {e}")))?;
        eprintln!(
            "wrote {n} labelled windows to {}",
            a.out.join("windows.csv").display()
        );
        return Ok(());
    }
    let name = a.pattern.as_deref().unwrap_or_default();
    let pattern: Pattern = name.parse().map_err(|e| usage(format!("--pattern: {e}")))?;
    let rec = crate::rsm::io::simulate_to_file(pattern, a.rate, a.seconds, a.hz, a.seed, &a.out)
        .map_err(|e| usage(format!("simulate: {e}")))?;
    eprintln!(
        "wrote {} samples of {} at {} Hz to {} (truth: {})",
        rec.resp_mm.len(),
        pattern,
        a.hz,
        a.out.display(),
        crate::rsm::io::truth_path(&a.out).display()
    );
    Ok(())
}

fn breathing(settings: &Settings, a: &BreathingArgs) -> anyhow::Result<()> {
    let mut failed = 0;
    let mut cls = classifier(&settings.classifier)?;
    for file in &a.files {
        match breathing_one(settings, cls.as_mut(), file) {
            Ok(v) => {
                if a.json {
                    println!("{v}");
                } else {
                    print_breathing_human(&v);
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("edge-screen: {e:#}");
            }
        }
    }
    if failed > 0 {
        return Err(Exit {
            code: 1,
            message: format!(
                "{failed} of {} file(s) could not be classified",
                a.files.len()
            ),
        }
        .into());
    }
    Ok(())
}

fn breathing_one(
    settings: &Settings,
    cls: &mut dyn PatternClassifier,
    file: &Path,
) -> anyhow::Result<serde_json::Value> {
    let rec = crate::recording::load_csv(file)?;
    let hz = settings.respiration.resample_hz;
    let samples = crate::recording::resample(&rec, hz);
    let a = crate::respiration::offline::analyze_series(&samples, hz, &settings.respiration, cls)
        .with_context(|| file.display().to_string())?;
    // Below the rate-quality threshold no pattern is claimed: the scores are tempered toward
    // uniform and `pattern` is null ("insufficient signal"), never a confident label.
    let sufficient = a.quality >= crate::respiration::window::MIN_RATE_QUALITY;
    Ok(serde_json::json!({
        "file": file.display().to_string(),
        "pattern": sufficient.then(|| a.pattern.name()),
        "insufficient_signal": !sufficient,
        "scores": a.scores,
        "rate_bpm": a.rate_bpm,
        "quality": a.quality,
        "apneas": a.apneas,
        "polarity_inverted": a.polarity_inverted,
        "source_hz": rec.hz,
        "duration_s": rec.duration_s(),
        "classifier": cls.name(),
    }))
}

fn print_breathing_human(v: &serde_json::Value) {
    let rate = v["rate_bpm"]
        .as_f64()
        .map_or("--".to_string(), |r| format!("{r:.1} breaths/min"));
    let pattern = match v["pattern"].as_str() {
        Some(p) => format!("{p} (score {:.2})", v["scores"][p].as_f64().unwrap_or(0.0)),
        None => "insufficient signal".to_string(),
    };
    println!(
        "{}: {pattern}, rate {rate}, quality {:.2} [screening aid, not a diagnosis]",
        v["file"].as_str().unwrap_or("?"),
        v["quality"].as_f64().unwrap_or(0.0),
    );
}

fn xray(settings: &Settings, a: &XrayArgs) -> anyhow::Result<()> {
    use crate::xray::screen::{collect_files, heatmap_path, ScreenError, XrayScreener};
    let mut xs = settings.xray.clone();
    if let Some(m) = &a.model {
        xs.model = Some(m.clone());
    }
    if let Some(t) = a.threshold {
        if !(0.01..=0.99).contains(&t) {
            return Err(usage(format!("--threshold: {t} is outside 0.01-0.99")));
        }
        xs.threshold = Some(t);
    }
    let screener = XrayScreener::from_settings(&xs)?;
    if let Some(dir) = &a.heatmap {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--heatmap {}: cannot create the folder", dir.display()))?;
    }
    let files = collect_files(&a.files)?;
    let mut used = std::collections::HashSet::new();
    let mut failed = 0usize;
    for file in &files {
        let heatmap = a
            .heatmap
            .as_deref()
            .map(|dir| heatmap_path(dir, file, &mut used));
        match screener.screen_file(file, heatmap.as_deref()) {
            Ok(r) => print_xray(&r, a.json),
            Err(ScreenError::Heatmap {
                report, message, ..
            }) => {
                // The result stands; only the picture is missing.
                eprintln!("edge-screen: {}: heatmap: {message}", file.display());
                failed += 1;
                print_xray(&report, a.json);
            }
            Err(e) => {
                failed += 1;
                eprintln!("edge-screen: {e}");
                if a.json {
                    let v = serde_json::json!({
                        "file": file.display().to_string(),
                        "error": e.to_string(),
                    });
                    println!("{v}");
                }
            }
        }
    }
    if files.is_empty() {
        return Err(Exit {
            code: 1,
            message: "no image files found".into(),
        }
        .into());
    }
    if failed > 0 {
        return Err(Exit {
            code: 1,
            message: format!("{failed} of {} image(s) could not be screened", files.len()),
        }
        .into());
    }
    Ok(())
}

fn xray_eval(a: &crate::cli::XrayEvalArgs) -> anyhow::Result<()> {
    use crate::xray::evaluate::{evaluate, read_labels, read_predictions, render, Options};
    for (name, v) in [
        ("--goal-sensitivity", a.goal_sensitivity),
        ("--goal-specificity", a.goal_specificity),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(usage(format!("{name}: {v} is outside 0-1")));
        }
    }
    if a.bootstrap > 100_000 {
        return Err(usage(format!(
            "--bootstrap: {} is over 100000",
            a.bootstrap
        )));
    }
    let bad_input = |e: crate::xray::evaluate::InputError| -> anyhow::Error {
        Exit {
            code: 2,
            message: e.to_string(),
        }
        .into()
    };
    let labels = read_labels(&a.labels, a.split.as_deref()).map_err(bad_input)?;
    let mut predictions = Vec::new();
    for p in &a.predictions {
        predictions.extend(read_predictions(p).map_err(bad_input)?);
    }
    let e = evaluate(
        &labels,
        &predictions,
        &Options {
            goal_sensitivity: a.goal_sensitivity,
            goal_specificity: a.goal_specificity,
            min_images: a.min_images,
            bootstrap: a.bootstrap,
            ..Options::default()
        },
    );
    if a.json {
        println!("{}", serde_json::to_string(&e)?);
    } else {
        print!("{}", render(&e));
    }
    Ok(())
}

fn print_xray(r: &crate::xray::screen::XrayReport, json: bool) {
    if json {
        match serde_json::to_string(r) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("edge-screen: {}: {e}", r.file.display()),
        }
    } else {
        println!(
            "{}: {} (covid probability {:.3}, threshold {:.3}; {} {}) [screening aid, not a diagnosis]",
            r.file.display(),
            r.finding.name(),
            r.covid_probability,
            r.threshold,
            r.model.name,
            r.model.version,
        );
    }
}

fn eval(settings: &Settings, a: &EvalArgs) -> anyhow::Result<()> {
    let patterns = if a.patterns.is_empty() {
        Pattern::ALL.to_vec()
    } else {
        a.patterns
            .iter()
            .map(|p| p.parse())
            .collect::<Result<Vec<Pattern>, _>>()
            .map_err(|e| usage(format!("--patterns: {e}")))?
    };
    let camera = SimCameraSettings {
        width: a.width,
        height: a.height,
        ..sim_camera_settings(settings)
    };
    let spec = crate::eval::EvalSpec {
        patterns,
        seeds: a.seeds,
        distances: a.distances.clone(),
        seconds: a.seconds,
        camera,
        chest: chest_settings(settings),
        respiration: settings.respiration.clone(),
        classifier: settings.classifier.clone(),
    };
    let results = crate::eval::run_all(&spec).map_err(|e| anyhow::anyhow!(e))?;
    let summary = crate::eval::summarize(&results);
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "runs": results, "summary": summary })
        );
    } else {
        crate::eval::print_report(&results, &summary);
    }
    Ok(())
}
