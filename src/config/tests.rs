use super::*;
use crate::camera::hardware::{Emitter, HoleFilling, VisualPreset};
use crate::respiration::roi::ChestSettings;
use crate::respiration::RespirationSettings;

fn err_of(text: &str) -> String {
    Settings::from_toml(text, Path::new("test.toml"))
        .unwrap_err()
        .to_string()
}

#[test]
fn the_shipped_file_is_the_default_and_matches_the_component_defaults() {
    let s = Settings::embedded().unwrap();
    assert_eq!(s.subject.pattern, Pattern::Eupnea);
    assert_eq!(s.pipeline.respiration, RespirationSettings::default());
    let chest = ChestSettings::default();
    assert_eq!(s.pipeline.chest, chest);
    assert_eq!(s.camera.sim, SimCameraSettings::default());
    assert_eq!(s.display.settings, DisplaySettings::default());
    assert_eq!(s.pipeline.session.min_signal_s, 60.0);
    assert!(s.subject.visits.is_empty() && s.display.target.is_none());
    assert_eq!(s.events.file, None);
    // An empty file changes nothing.
    let empty = Settings::from_toml("", Path::new("empty.toml")).unwrap();
    assert_eq!(
        Settings {
            origin: s.origin.clone(),
            ..empty
        },
        s
    );
}

#[test]
fn every_range_is_written_in_the_shipped_file() {
    for l in crate::limits::ALL {
        assert!(
            DEFAULT_CONFIG.contains(&l.allowed()),
            "kiosk.toml does not state {} allowed {}",
            l.key,
            l.allowed()
        );
    }
}

#[test]
fn unknown_keys_are_named_with_the_keys_known_there() {
    let e = err_of("[camera]\nfsp = 30\n");
    assert!(
        e.starts_with("test.toml: unknown key `camera.fsp`") && e.contains("fps"),
        "{e}"
    );
    let e = err_of("[cameras]\n");
    assert!(e.contains("`cameras`"), "{e}");
    let e = err_of("[camera.filters]\nmedian = true\n");
    assert!(e.contains("camera.filters.median"), "{e}");
}

#[test]
fn out_of_range_values_name_key_and_range() {
    assert_eq!(
        err_of("[camera]\nfps = 500\n"),
        "test.toml: camera.fps = 500 is out of range: allowed 1-90 frames/s"
    );
    let e = err_of("[respiration]\nwindow_s = nan\n");
    assert!(
        e.contains("respiration.window_s") && e.contains("30-300 s"),
        "{e}"
    );
    let e = err_of("[simulation]\npattern = \"snoring\"\n");
    assert!(
        e.contains("simulation.pattern") && e.contains("cheyne_stokes"),
        "{e}"
    );
    let e = err_of("[chest]\nmin_distance_m = 1.5\nmax_distance_m = 1.0\n");
    assert!(e.contains("chest.max_distance_m"), "{e}");
    let e = err_of("[display]\nmax_refresh_hz = 5\n");
    assert!(
        e.contains("display.max_refresh_hz") && e.contains("0.1-2 Hz"),
        "{e}"
    );
    let e = err_of("[session]\nmin_signal_s = 120\nmax_measure_s = 90\n");
    assert!(e.contains("session.max_measure_s"), "{e}");
    let e = err_of("[simulation]\nvisits = \"eupnea@15\"\n");
    assert!(e.contains("simulation.visits"), "{e}");
}

#[test]
fn wrong_types_are_named_and_integers_pass_as_decimals() {
    let e = err_of("[camera]\nfps = \"thirty\"\n");
    assert!(
        e.contains("camera.fps") && e.contains("integer") && e.contains("thirty"),
        "{e}"
    );
    let s = Settings::from_toml("[simulation]\nrate_bpm = 15\n", Path::new("t.toml")).unwrap();
    assert_eq!(s.subject.rate_bpm, Some(15.0));
}

#[test]
fn flags_override_the_file_and_errors_name_the_flag() {
    let mut o = Overrides::default();
    o.set("simulation.distance_m", 1.5, "--distance");
    o.set("xray.inbox", "inbox", "--xray-inbox");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.toml");
    std::fs::write(
        &file,
        "[simulation]\ndistance_m = 0.9\n[xray]\nheatmap_dir = \"maps\"\n",
    )
    .unwrap();
    let s = Settings::resolve(Some(&file), &o).unwrap();
    assert_eq!(s.camera.sim.subject_distance_m, 1.5);
    // A path from a flag is taken as given; one from a file is relative to the file's folder.
    assert_eq!(s.xray.inbox, Some(PathBuf::from("inbox")));
    assert_eq!(s.xray.heatmap_dir, Some(dir.path().join("maps")));
    let mut o = Overrides::default();
    o.set("simulation.distance_m", 5.0, "--distance");
    let e = Settings::resolve(None, &o).unwrap_err().to_string();
    assert_eq!(
        e,
        "--distance: simulation.distance_m = 5 is out of range: allowed 0.5-3 m"
    );
}

#[test]
fn realsense_settings_are_parsed_and_bad_ones_named() {
    let s = Settings::from_toml(
        "[camera]\nsource = \"838212073161\"\nemitter = \"off\"\nvisual_preset = \"high_accuracy\"\n\
         depth_unit_mm = 0.1\n[camera.filters]\ndecimation = 2\nhole_filling = \"farthest_from_around\"\n",
        Path::new("test.toml"),
    )
    .unwrap();
    assert_eq!(
        s.camera.source,
        CameraSelector::Serial("838212073161".into())
    );
    let r = &s.camera.realsense;
    assert_eq!(
        (r.emitter, r.visual_preset),
        (Emitter::Off, VisualPreset::HighAccuracy)
    );
    assert!((r.depth_unit_m - 0.0001).abs() < 1e-9);
    assert_eq!(r.filters.decimation, 2);
    assert_eq!(r.filters.hole_filling, HoleFilling::FarthestFromAround);
    assert!(!r.filters.spatial && !r.filters.temporal);
    for (text, key, allowed) in [
        (
            "[camera]\nsource = \"cam 0\"\n",
            "camera.source",
            "serial number",
        ),
        (
            "[camera]\nemitter = \"auto\"\n",
            "camera.emitter",
            "keep, on, off",
        ),
        (
            "[camera]\nvisual_preset = \"max\"\n",
            "camera.visual_preset",
            "high_density",
        ),
        (
            "[camera]\nframe_timeout_ms = 50\n",
            "camera.frame_timeout_ms",
            "100-10000 ms",
        ),
        (
            "[camera.filters]\ndecimation = 9\n",
            "camera.filters.decimation",
            "1-8",
        ),
        (
            "[camera.filters]\nhole_filling = \"yes\"\n",
            "camera.filters.hole_filling",
            "fill_from_left",
        ),
    ] {
        let e = err_of(text);
        assert!(
            e.starts_with("test.toml: ") && e.contains(key) && e.contains(allowed),
            "{e}"
        );
    }
}

#[test]
fn the_shipped_pins_are_the_built_in_models() {
    let s = Settings::embedded().unwrap();
    let breathing = crate::breathing::gru::BreathingModel::embedded().unwrap();
    let xray = crate::xray::model::XrayModel::embedded().unwrap();
    assert_eq!(s.pins.breathing.as_deref(), Some(breathing.sha256()));
    assert_eq!(s.pins.xray.as_deref(), Some(xray.sha256()));
    assert!(s
        .pins
        .check("breathing", "built-in", breathing.sha256())
        .is_ok());
    let err = s.pins.check("xray", "x.onnx", &"f".repeat(64)).unwrap_err();
    assert!(
        err.contains("xray.sha256 pins") && err.contains("x.onnx"),
        "{err}"
    );
}

#[test]
fn uplink_urls_are_parsed_and_bad_ones_named() {
    let ok = |text: &str| {
        Settings::from_toml(text, Path::new("t.toml"))
            .unwrap()
            .uplink
            .unwrap()
    };
    let u = ok("[uplink]\nurl = \"mqtt://broker.local:1884\"\n[device]\nid = \"k1\"\n");
    assert_eq!(
        (u.host.as_str(), u.port, u.tls),
        ("broker.local", 1884, false)
    );
    assert_eq!(u.client_id, "edge-screen-k1");
    let u = ok("[uplink]\nurl = \"mqtt://10.0.0.5\"\n[device]\nid = \"k1\"\n");
    assert_eq!(u.port, 1883);
    let u =
        ok("[uplink]\nurl = \"mqtts://b:8883\"\nca_file = \"/etc/ca.pem\"\n[device]\nid = \"k\"\n");
    assert!(u.tls);
    for (text, expect) in [
        ("[uplink]\nurl = \"tcp://b:1883\"\n", "uplink.url"),
        ("[uplink]\nurl = \"mqtt://b:0\"\n", "port"),
        ("[uplink]\nurl = \"mqtts://b:8883\"\n", "uplink.ca_file"),
        ("[uplink]\nkeep_alive_s = 1\n", "uplink.keep_alive_s"),
    ] {
        let e = Settings::from_toml(text, Path::new("t.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(expect), "{text}: {e}");
    }
    assert!(
        Settings::embedded().unwrap().uplink.is_none(),
        "off by default"
    );
}

#[test]
fn a_site_calibration_is_read_and_a_bad_one_is_named_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let sha = crate::xray::model::XrayModel::embedded()
        .unwrap()
        .sha256()
        .to_string();
    let cal = crate::xray::site::SiteCalibration::example(&sha);
    std::fs::write(
        dir.path().join("site.json"),
        serde_json::to_string(&cal).unwrap(),
    )
    .unwrap();
    let file = dir.path().join("kiosk.toml");
    let load = |text: &str| {
        std::fs::write(&file, text).unwrap();
        Settings::load(&file)
    };
    // Shipped: none.
    assert_eq!(Settings::embedded().unwrap().xray.site_calibration, None);
    let s = load("[xray]\nsite_calibration = \"site.json\"\n").unwrap();
    let site = s.xray.site_calibration.as_ref().unwrap();
    assert_eq!(site.path, dir.path().join("site.json"));
    assert_eq!(
        (site.calibration.site_threshold, &site.calibration.model),
        (cal.site_threshold, &cal.model)
    );
    // The screener takes its threshold and marks results site-validated.
    let screener = crate::xray::screen::XrayScreener::from_settings(&s.xray).unwrap();
    assert!(screener.site_validated());
    assert_eq!(screener.threshold(), 0.3);
    // An explicit threshold overrides it, and results are then not site-validated.
    let s = load("[xray]\nsite_calibration = \"site.json\"\nthreshold = 0.2\n").unwrap();
    let screener = crate::xray::screen::XrayScreener::from_settings(&s.xray).unwrap();
    assert!(!screener.site_validated());
    assert_eq!(screener.threshold(), 0.2);
    // Missing and malformed files: the config file, the key and the problem.
    let e = load("[xray]\nsite_calibration = \"none.json\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&file.display().to_string())
            && e.contains("xray.site_calibration = \"none.json\"")
            && e.contains("none.json: cannot read"),
        "{e}"
    );
    std::fs::write(dir.path().join("bad.json"), "{\"format\": 3}").unwrap();
    let e = load("[xray]\nsite_calibration = \"bad.json\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("xray.site_calibration") && e.contains("not a site calibration"),
        "{e}"
    );
    // A calibration for another model: refused when the model is loaded, naming both digests.
    let other = "0".repeat(64);
    let mut foreign = cal.clone();
    foreign.model.sha256 = other.clone();
    std::fs::write(
        dir.path().join("site.json"),
        serde_json::to_string(&foreign).unwrap(),
    )
    .unwrap();
    let s = load("[xray]\nsite_calibration = \"site.json\"\n").unwrap();
    let e = crate::xray::screen::XrayScreener::from_settings(&s.xray)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&file.display().to_string())
            && e.contains("xray.site_calibration")
            && e.contains(&other)
            && e.contains(&sha),
        "{e}"
    );
}

#[test]
fn the_review_page_is_off_by_default_on_loopback_and_refuses_a_remote_address_unless_allowed() {
    let s = Settings::embedded().unwrap();
    assert_eq!(s.review, crate::review::ReviewSettings::default());
    assert_eq!(s.review.listen.to_string(), crate::review::DEFAULT_LISTEN);
    assert_eq!(s.review.password_file, None);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("kiosk.toml");
    std::fs::write(&f, "[review]\npassword_file = \"reviewers\"\n").unwrap();
    let s = Settings::load(&f).unwrap();
    assert_eq!(s.review.password_file, Some(dir.path().join("reviewers")));
    let e = err_of("[review]\nlisten = \"0.0.0.0:9755\"\n");
    assert!(
        e.contains("review.listen") && e.contains("allow_remote"),
        "{e}"
    );
    let s = Settings::from_toml(
        "[review]\nlisten = \"0.0.0.0:9755\"\nallow_remote = true\n",
        Path::new("t.toml"),
    )
    .unwrap();
    assert!(s.review.allow_remote);
    let e = err_of("[review]\nlisten = \"localhost\"\n");
    assert!(
        e.contains("review.listen") && e.contains("ADDRESS:PORT"),
        "{e}"
    );
}
