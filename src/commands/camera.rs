//! The depth sources a command can open (the simulated person or queue, a RealSense camera, a
//! `.bag` recording), and the commands about cameras: `cameras` and `record`.

use super::usage;
use crate::camera::hardware::CameraSelector;
use crate::camera::simulated::SimCamera;
use crate::camera::visits::VisitQueue;
use crate::camera::FrameSource;
use crate::cli::RecordArgs;
use crate::config::Settings;
use crate::daemon::Speed;
use crate::rsm::{Rsm, RsmParams};
use std::path::Path;

/// The simulated person of `[simulation]`, and the drawn subject (the ground truth).
pub(super) fn sim_person(settings: &Settings) -> anyhow::Result<(SimCamera, RsmParams)> {
    let s = &settings.subject;
    // Each seed draws its own subject (depth, I:E, variability, pauses) inside the pattern's ranges.
    let mut params = crate::rsm::io::params_for(s.pattern, s.rate_bpm, s.seed)
        .map_err(|e| usage(format!("--rate: {e}")))?;
    if !s.motion_artefacts {
        params.artefacts_per_min = 0.0;
    }
    let camera = SimCamera::new(
        settings.camera.sim.clone(),
        Rsm::new(params.clone(), s.seed),
        s.seed,
    )
    .map_err(|e| usage(format!("simulated camera: {e}")))?;
    Ok((camera, params))
}

/// The queue of `[simulation] visits` on the simulated camera.
pub(super) fn visit_queue(settings: &Settings) -> anyhow::Result<VisitQueue> {
    let s = &settings.subject;
    VisitQueue::new(
        settings.camera.sim.clone(),
        s.visits.clone(),
        s.seed,
        s.motion_artefacts,
    )
    .map_err(|e| usage(format!("--visits: {e}")))
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

/// The RealSense camera `selector` names; `what` says where it was asked for (e.g. `--camera 0`).
pub(super) fn realsense(
    settings: &Settings,
    selector: &CameraSelector,
    what: &str,
) -> anyhow::Result<Box<dyn FrameSource>> {
    #[cfg(feature = "realsense")]
    {
        let _ = what;
        let cam = crate::camera::realsense::RealSenseCamera::open(
            selector,
            &settings.camera.realsense,
            None,
        )
        .map_err(camera_failed)?;
        Ok(Box::new(cam))
    }
    #[cfg(not(feature = "realsense"))]
    {
        let _ = settings;
        Err(no_realsense(&format!("{what}: RealSense {selector}")))
    }
}

/// A `.bag` recording, replayed through librealsense: `--speed realtime` as librealsense's player
/// paces it (today's behaviour, frames it cannot hand over in time are dropped); otherwise
/// librealsense hands over every frame and the daemon paces them (`--speed F`: F times real time,
/// latest frame wins, drops counted) or not at all (`--speed max`: every frame processed).
pub(super) fn replay(
    settings: &Settings,
    path: &Path,
    speed: Speed,
) -> anyhow::Result<Box<dyn FrameSource>> {
    #[cfg(feature = "realsense")]
    {
        use crate::camera::realsense::{RealSenseCamera, ReplayPace};
        let pace = match speed {
            Speed::Paced(1.0) | Speed::Live => ReplayPace::RealTime,
            Speed::Paced(_) | Speed::Max => ReplayPace::AsFastAsRead,
        };
        let cam = RealSenseCamera::replay(path, &settings.camera.realsense, pace)
            .map_err(|e| usage(format!("--replay: {e}")))?;
        Ok(Box::new(cam))
    }
    #[cfg(not(feature = "realsense"))]
    {
        let _ = (settings, speed);
        Err(no_realsense(&format!("--replay {}", path.display())))
    }
}

/// `edge-screen cameras`.
pub(super) fn list(json: bool) -> anyhow::Result<()> {
    #[cfg(feature = "realsense")]
    {
        let cams = crate::camera::realsense::list_cameras().map_err(|e| anyhow::anyhow!("{e}"))?;
        if json {
            out!("{}", serde_json::to_string_pretty(&cams)?)?;
        } else if cams.is_empty() {
            out!("no RealSense camera is connected")?;
        } else {
            out!("index  name                           serial        firmware      USB   line")?;
            for c in &cams {
                out!(
                    "{:<5}  {:<30} {:<13} {:<13} {:<5} {}",
                    c.index,
                    c.name,
                    c.serial,
                    c.firmware,
                    c.usb_type,
                    c.product_line
                )?;
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
pub(super) fn record(settings: &Settings, a: &RecordArgs) -> anyhow::Result<()> {
    if !(a.seconds.is_finite() && (0.1..=3600.0).contains(&a.seconds)) {
        return Err(usage(format!(
            "--seconds {}: expected 0.1-3600 s",
            a.seconds
        )));
    }
    let selector = match a.camera.as_deref() {
        Some(text) => CameraSelector::parse(text).map_err(|e| usage(format!("--camera: {e}")))?,
        None => settings.camera.source.clone(),
    };
    if a.subject.any() && selector != CameraSelector::Simulated {
        return Err(usage(
            "--pattern, --rate, --seed and --distance apply to the simulated camera (--camera sim) only",
        ));
    }
    #[cfg(feature = "realsense")]
    {
        if selector == CameraSelector::Simulated {
            record_sim(settings, a)
        } else {
            record_realsense(settings, &selector, a)
        }
    }
    #[cfg(not(feature = "realsense"))]
    {
        let _ = settings;
        Err(no_realsense("record"))
    }
}

#[cfg(feature = "realsense")]
fn record_sim(settings: &Settings, a: &RecordArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let (mut source, params) = sim_person(settings)?;
    let seed = settings.subject.seed;
    let c = &settings.camera.realsense;
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
        c.depth_unit_m,
        &device,
        Some(source.intrinsics()),
    )
    .map_err(|e| usage(e.to_string()))?;
    crate::camera::record::record_for(&mut source, a.seconds, |f| Ok(bag.write(f)?))
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.out.display()))?;
    let frames = bag.finish()?;
    let distance = settings.camera.sim.subject_distance_m;
    // Pauses of 10 s or more that began inside the recording, [start, end] in stream seconds
    // (clipped to its end), for replay tests to time apnea events against.
    let apneas: Vec<[f64; 2]> = source
        .truth()
        .apneas
        .iter()
        .filter(|p| p.start_s < a.seconds)
        .map(|p| [p.start_s, p.end_s.min(a.seconds)])
        .collect();
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
        "depth_unit_m": c.depth_unit_m,
        "apneas": apneas,
    });
    let truth_path = truth_file(&a.out);
    std::fs::write(&truth_path, serde_json::to_string_pretty(&truth)? + "\n")
        .with_context(|| truth_path.display().to_string())?;
    out!(
        "{}: {frames} frames, {:.1} s, {}x{}@{} ({} at {:.1} breaths/min, seed {seed}, {distance} m); truth in {}",
        a.out.display(),
        a.seconds,
        c.width_px,
        c.height_px,
        c.fps,
        params.pattern.name(),
        params.rate_bpm,
        truth_path.display()
    )?;
    Ok(())
}

#[cfg(feature = "realsense")]
fn record_realsense(
    settings: &Settings,
    selector: &CameraSelector,
    a: &RecordArgs,
) -> anyhow::Result<()> {
    let mut cam = crate::camera::realsense::RealSenseCamera::open(
        selector,
        &settings.camera.realsense,
        Some(&a.out),
    )
    .map_err(camera_failed)?;
    // librealsense's recorder writes the frames; reading them is what drives the stream.
    let (faults, last) = crate::camera::record::record_for(&mut cam, a.seconds, |_| Ok(()))
        .map_err(|e| anyhow::anyhow!("{}: recording {e}", a.out.display()))?;
    let frames = cam.frames_delivered();
    let describe = cam.describe();
    drop(cam); // stops the stream; librealsense closes the file
    out!(
        "{}: {frames} frames, {:.1} s from {describe} ({} time-outs, {} corrupt frames)",
        a.out.display(),
        last.timestamp_s,
        faults.timeouts,
        faults.corrupt
    )?;
    Ok(())
}

/// Where `record --camera sim` writes the ground truth of `bag`: `FILE.bag.json`.
#[cfg(feature = "realsense")]
pub fn truth_file(bag: &Path) -> std::path::PathBuf {
    let mut name = bag.as_os_str().to_owned();
    name.push(".json");
    name.into()
}
