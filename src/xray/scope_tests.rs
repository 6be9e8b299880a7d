use super::*;
use crate::xray::preprocess::prepare;
use crate::xray::SourceInfo;

fn image(width: usize, height: usize, f: impl Fn(usize, usize) -> f64) -> GrayImage {
    GrayImage {
        width,
        height,
        pixels: (0..width * height)
            .map(|p| f(p % width, p / width))
            .collect(),
        format: "test".into(),
        source: SourceInfo::default(),
    }
}

/// A smooth gradient with some structure: passes every gate.
fn smooth(width: usize, height: usize) -> GrayImage {
    image(width, height, |x, y| {
        let (u, v) = (x as f64 / width as f64, y as f64 / height as f64);
        0.3 + 0.4 * u * v + 0.1 * (6.0 * u).sin()
    })
}

fn check_of(img: &GrayImage) -> ScopeCheck {
    let prepared = prepare(img).expect("prepared");
    check(img, &prepared, ScopeModel::embedded())
}

#[test]
fn rot90_turns_counter_clockwise_like_numpy() {
    // np.rot90([[1, 2], [3, 4]]) == [[2, 4], [1, 3]]
    assert_eq!(rot90(&[1.0, 2.0, 3.0, 4.0], 2, 1), vec![2.0, 4.0, 1.0, 3.0]);
    assert_eq!(rot90(&[1.0, 2.0, 3.0, 4.0], 2, 2), vec![4.0, 3.0, 2.0, 1.0]);
    let f: Vec<f64> = (0..9).map(f64::from).collect();
    assert_eq!(rot90(&rot90(&f, 3, 1), 3, 3), f);
}

#[test]
fn built_in_model_parses_and_scores_its_own_mean_as_in_scope() {
    let m = ScopeModel::embedded();
    assert_eq!(m.mean.len(), 32 * 32);
    // The mean film has residual 0 and distance 0.
    let (r, d) = m.scores(&m.mean);
    assert!(r.abs() < 1e-12 && d.abs() < 1e-12, "{r} {d}");
    // Components are orthonormal (to the 6 digits they are stored with).
    for (i, a) in m.components.iter().enumerate() {
        for (j, b) in m.components.iter().enumerate() {
            let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((dot - want).abs() < 1e-4, "{i} {j} {dot}");
        }
    }
}

#[test]
fn bad_model_files_are_refused_with_the_field() {
    let e = ScopeModel::parse("{}", "x.json").unwrap_err().to_string();
    assert!(e.contains("x.json") && e.contains("missing field"), "{e}");
    let mut v: serde_json::Value =
        serde_json::from_str(include_str!("../../models/xray/scope.json")).unwrap();
    v["eigenvalues"][0] = serde_json::json!(0.0);
    let e = ScopeModel::parse(&v.to_string(), "y.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("eigenvalues"), "{e}");
    v["mean"] = serde_json::json!([0.5]);
    let e = ScopeModel::parse(&v.to_string(), "y.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("mean must hold 1024"), "{e}");
}

#[test]
fn gates_name_their_reason() {
    // Small.
    assert_eq!(
        check_of(&smooth(100, 300)).reason,
        Some(ScopeReason::TooSmall)
    );
    // Colour.
    let mut colour = smooth(200, 200);
    colour.source.colourfulness = 40.0;
    assert_eq!(check_of(&colour).reason, Some(ScopeReason::ColourImage));
    // Blank: a faint ramp, spread 0.02.
    let blank = image(200, 200, |x, _| 0.5 + 0.02 * x as f64 / 200.0);
    assert_eq!(check_of(&blank).reason, Some(ScopeReason::Blank));
    // Saturated: 70% white.
    let sat = image(
        200,
        200,
        |x, y| if x < 140 { 1.0 } else { 0.3 + 0.001 * y as f64 },
    );
    assert_eq!(check_of(&sat).reason, Some(ScopeReason::Saturated));
    // Noise: a seeded hash per pixel.
    let noise = image(256, 256, |x, y| {
        let h = (x as u64 * 73_856_093) ^ (y as u64 * 19_349_663);
        (h.wrapping_mul(2_654_435_761) % 1000) as f64 / 999.0
    });
    assert_eq!(check_of(&noise).reason, Some(ScopeReason::Noisy));
    // DICOM tags.
    let mut ct = smooth(200, 200);
    ct.source.modality = Some("CT".into());
    assert_eq!(check_of(&ct).reason, Some(ScopeReason::NotARadiograph));
    let mut knee = smooth(200, 200);
    knee.source.modality = Some("CR".into());
    knee.source.body_part = Some("KNEE".into());
    assert_eq!(check_of(&knee).reason, Some(ScopeReason::OtherBodyPart));
    let mut lateral = smooth(200, 200);
    lateral.source.body_part = Some("CHEST".into());
    lateral.source.view_position = Some("LL".into());
    assert_eq!(check_of(&lateral).reason, Some(ScopeReason::LateralView));
}

#[test]
fn roughness_of_a_checkerboard_is_one() {
    // 152 px: the 8% border leaves exactly 128 px, so the view is the board itself.
    let board = image(152, 152, |x, y| ((x + y) % 2) as f64);
    let p = prepare(&board).unwrap();
    assert!((roughness(&p) - 1.0).abs() < 1e-6, "{}", roughness(&p));
}

#[test]
fn features_average_four_by_four_blocks() {
    // 152 px, black left of column 76: after the 8% border (12 px) the view is 128 px, black in
    // columns 0-63 and white in 64-127 (percentile normalisation keeps 0 and 1).
    let img = image(152, 152, |x, _| if x < 76 { 0.0 } else { 1.0 });
    let p = prepare(&img).unwrap();
    let f = features(&p, 4);
    assert_eq!(f.len(), 1024);
    assert!((f[0] - 0.0).abs() < 1e-6 && (f[31] - 1.0).abs() < 1e-6);
    assert!((f.iter().sum::<f64>() / 1024.0 - 0.5).abs() < 1e-6);
}
