//! Kiosk conditions (issue 16 item 3) as RealSense `.bag` recordings, through real librealsense
//! (feature `realsense`, as `tests/realsense_bag.rs`): a second person behind, a second person
//! beside, coughing and talking. Each recording is written at test time from the simulated
//! camera with the project's bag writer (librealsense's software device and recorder; writing
//! takes real time, so the four are written side by side), then
//! - replayed by `edge-screen --replay FILE --speed max` (every frame processed): the last
//!   breathing reading's rate within 10 % or 1.5/min of the truth, its pattern right, no apnea;
//! - read back frame by frame through librealsense's player (`RealSenseCamera::replay`) into the
//!   kiosk's chest tracker: the chest ROI inside the seated person's torso box (as the simulator
//!   drew it for that frame) on at least [`ROI_ON_TORSO_SHARE`] of the frames with an ROI, and
//!   never off it and on the second person.
#![cfg(feature = "realsense")]

mod util;
use edge_screen::camera::bag_writer::{BagDevice, BagWriter};
use edge_screen::camera::playback::ReplayPace;
use edge_screen::camera::realsense::RealSenseCamera;
use edge_screen::camera::simulated::{Bystander, SimCamera, SimCameraSettings};
use edge_screen::camera::{CameraError, FrameSource};
use edge_screen::config::Settings;
use edge_screen::respiration::roi::ChestTracker;
use edge_screen::rsm::{Rsm, RsmParams};
use edge_screen::tools::eval::roi_inside;
use edge_screen::types::{DepthFrame, Pattern, Roi};
use std::path::{Path, PathBuf};
use util::*;

/// The recordings' camera: 320x240 at 10 frames/s, as the fixtures of `tests/realsense_bag.rs`.
const CAMERA: &str = "[camera]\nwidth_px = 320\nheight_px = 240\nfps = 10\n";
const SIZE: (u32, u32, u32) = (320, 240, 10);
/// Length of each recording, s (the first reading comes after 30 s of signal).
const SECONDS: f64 = 50.0;
/// Smallest share of frames with an ROI whose ROI lies inside the seated person's torso box.
const ROI_ON_TORSO_SHARE: f64 = 0.99;

/// What the simulator drew in one frame: the seated torso and the second person's torso.
type Boxes = Vec<(Roi, Option<Roi>)>;

/// Writes `SECONDS` of an eupnea subject (seed 3) under `camera` to `bag`; returns the true rate
/// and, per frame, the boxes drawn.
fn record(bag: &Path, camera: SimCameraSettings) -> (f32, Boxes) {
    let (w, h, fps) = SIZE;
    let params = RsmParams::typical(Pattern::Eupnea);
    let rate = params.rate_bpm;
    let settings = SimCameraSettings {
        width: w,
        height: h,
        fps: fps.into(),
        ..camera
    };
    let mut cam = SimCamera::new(settings, Rsm::new(params, 3), 3).expect("camera");
    let device = BagDevice {
        name: "edge-screen simulated camera".into(),
        serial: "SIM3".into(),
        firmware: "test".into(),
    };
    let mut writer =
        BagWriter::create(bag, w, h, fps, 0.001, &device, Some(cam.intrinsics())).expect("bag");
    let mut frame = DepthFrame::new(0, 0, 0.001);
    let mut boxes = Vec::new();
    for _ in 0..(SECONDS * f64::from(fps)) as usize {
        cam.read_frame(&mut frame).expect("frame");
        writer.write(&frame).expect("write");
        boxes.push((cam.torso_box(), cam.bystander_box()));
    }
    assert_eq!(writer.finish().expect("finish"), boxes.len() as u64);
    (rate, boxes)
}

/// Reads `bag` through librealsense's player into the chest tracker: (frames read, frames with
/// an ROI, of those inside the torso box drawn for that frame, off it and on the second person).
fn roi_on_replay(bag: &Path, boxes: &Boxes) -> (usize, usize, usize, usize) {
    let s = Settings::embedded().expect("configuration");
    let (w, h, fps) = SIZE;
    let rs = edge_screen::camera::hardware::RealSenseSettings {
        width_px: w,
        height_px: h,
        fps,
        ..s.camera.realsense.clone()
    };
    let mut cam = RealSenseCamera::replay(bag, &rs, ReplayPace::AsFastAsRead).expect("replay");
    let mut tracker = ChestTracker::new(s.pipeline.chest.clone());
    let mut frame = DepthFrame::new(0, 0, 0.001);
    let (mut read, mut with, mut on, mut stray) = (0, 0, 0, 0);
    loop {
        match cam.read_frame(&mut frame) {
            Ok(()) => {}
            Err(CameraError::EndOfStream) => break,
            Err(CameraError::Timeout(_)) => continue,
            Err(e) => panic!("{}: {e}", bag.display()),
        }
        read += 1;
        let k = (frame.timestamp_s * f64::from(fps)).round() as usize;
        let Some(&(torso, second)) = boxes.get(k) else {
            panic!("frame at {} s beyond the recording", frame.timestamp_s)
        };
        if let Some(roi) = tracker.process(&frame).roi {
            with += 1;
            let inside = roi_inside(roi, torso);
            on += usize::from(inside);
            let touches = second
                .is_some_and(|b| roi.x0 < b.x1 && b.x0 < roi.x1 && roi.y0 < b.y1 && b.y0 < roi.y1);
            stray += usize::from(touches && !inside);
        }
    }
    (read, with, on, stray)
}

#[test]
fn condition_recordings_replay_with_their_rate_pattern_and_chest() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "camera.toml", CAMERA);
    let base = SimCameraSettings::default();
    let cases: Vec<(&str, SimCameraSettings)> = vec![
        (
            "behind",
            SimCameraSettings {
                bystander: Some(Bystander::behind(base.subject_distance_m)),
                ..base.clone()
            },
        ),
        (
            "beside",
            SimCameraSettings {
                bystander: Some(Bystander::beside(base.subject_distance_m)),
                ..base.clone()
            },
        ),
        (
            "coughing",
            SimCameraSettings {
                coughs: vec![20.0, 32.0, 44.0],
                ..base.clone()
            },
        ),
        (
            "talking",
            SimCameraSettings {
                talking: vec![(25.0, 40.0)],
                ..base.clone()
            },
        ),
    ];
    type Outcome = (
        String,
        f32,
        Vec<serde_json::Value>,
        (usize, usize, usize, usize),
    );
    let results: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .into_iter()
            .map(|(name, camera)| {
                let (dir, cfg) = (dir.path(), cfg.clone());
                s.spawn(move || {
                    let bag: PathBuf = dir.join(format!("{name}.bag"));
                    let (rate, boxes) = record(&bag, camera);
                    let events = dir.join(format!("{name}.jsonl"));
                    let o = run(&[
                        "--config",
                        cfg.to_str().unwrap(),
                        "--replay",
                        bag.to_str().unwrap(),
                        "--speed",
                        "max",
                        "--events",
                        events.to_str().unwrap(),
                    ]);
                    assert!(o.status.success(), "replay {name}: {}", stderr(&o));
                    let ev = json_lines(&std::fs::read_to_string(&events).expect("events"));
                    let rois = roi_on_replay(&bag, &boxes);
                    (name.to_string(), rate, ev, rois)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    println!("\ncondition recordings (320x240 @ 10 fps, 1.1 m, eupnea, 50 s, --speed max)");
    println!("condition  true_bpm  rate_bpm  error  pattern  apneas  processed  roi_frames  on_torso  stray");
    let frames = (SECONDS * f64::from(SIZE.2)) as u64;
    for (name, truth, ev, (read, with, on, stray)) in &results {
        let stopped = ev.last().expect("events");
        assert_eq!(stopped["type"], "stopped", "{name}");
        assert_eq!(stopped["reason"], "end_of_stream", "{name}");
        let processed = stopped["processed"].as_u64().unwrap_or(0);
        let last = ev
            .iter()
            .rev()
            .find(|e| e["type"] == "breathing")
            .unwrap_or_else(|| panic!("{name}: no breathing reading"));
        let rate = last["rate_bpm"].as_f64().unwrap_or(f64::NAN);
        let truth = f64::from(*truth);
        let apneas = ev.iter().filter(|e| e["type"] == "apnea_started").count();
        println!(
            "{name:<10} {truth:>8.1} {rate:>9.1} {:>6.2}  {:<8} {apneas:>6} {processed:>10} {with:>11} {on:>9} {stray:>6}",
            rate - truth,
            last["pattern"].as_str().unwrap_or("-"),
        );
        assert_eq!(processed, frames, "{name}: {stopped}");
        assert_eq!(*read as u64, frames, "{name}: frames read back");
        let tol = (0.10 * truth).max(1.5);
        assert!(
            (rate - truth).abs() <= tol,
            "{name}: rate {rate:.1} vs {truth:.1} (±{tol:.1})"
        );
        assert_eq!(last["pattern"], "eupnea", "{name}: {last}");
        assert_eq!(apneas, 0, "{name}: apnea events");
        assert!(
            *with as u64 >= frames * 9 / 10,
            "{name}: ROI in {with} frames"
        );
        let share = *on as f64 / *with as f64;
        assert!(
            share >= ROI_ON_TORSO_SHARE,
            "{name}: ROI on the torso in {share:.3}"
        );
        assert_eq!(*stray, 0, "{name}: ROI on the second person");
    }
}
