//! A least-squares plane through 3-D points of the chest, and the helpers the chest tracker
//! measures along its normal with.
//!
//! The chest tracker deprojects a bounded grid of the chest ROI's valid pixels with the camera's
//! pinhole intrinsics ([`deproject`]) and fits a plane ([`fit_plane`]): the normal is the
//! eigenvector of the smallest eigenvalue of the points' 3x3 scatter matrix (`nalgebra`,
//! fixed-size types, nothing on the heap). A fit is refused ([`Degenerate`]) when it cannot be
//! trusted: too few points, points that span no plane (a near-singular or isotropic scatter),
//! or a normal nearly perpendicular to the line of sight (a surface seen edge-on); the tracker
//! then keeps measuring depth (z) as before.

use crate::types::Intrinsics;
use nalgebra::{Matrix3, SymmetricEigen, Vector3};

/// Fewest points a plane is fitted to.
pub const MIN_POINTS: u32 = 16;

/// Smallest in-plane spread (standard deviation along the second principal axis), mm: points
/// along a line, or all at one spot, give no plane.
pub const MIN_SPREAD_MM: f64 = 5.0;

/// Largest ratio of the out-of-plane variance to the second in-plane variance: above it the
/// points are a blob, not a plane.
pub const MAX_THICKNESS_RATIO: f64 = 0.25;

/// Smallest cosine between the normal and the line of sight to the points' centroid (75 degrees):
/// a surface seen nearly edge-on gives no usable normal.
pub const MIN_VIEW_COS: f64 = 0.2588;

/// A fitted plane, in the camera's coordinates (x right, y down, z forward), mm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plane {
    /// Unit normal, oriented away from the camera (positive along the line of sight), so that a
    /// surface moving toward the camera moves in its negative direction.
    pub normal: Vector3<f64>,
    /// Centroid of the fitted points, mm.
    pub centroid: Vector3<f64>,
    /// Number of points fitted.
    pub points: u32,
    /// Root-mean-square distance of the points from the plane, mm.
    pub rms_mm: f64,
}

impl Plane {
    /// Signed distance of `p` from the plane along its normal, mm (negative toward the camera).
    pub fn distance_mm(&self, p: &Vector3<f64>) -> f64 {
        self.normal.dot(&(p - self.centroid))
    }
}

/// Why no plane was fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degenerate {
    /// Fewer than [`MIN_POINTS`] finite points.
    TooFewPoints,
    /// The scatter matrix is near-singular in the plane (points on a line or a spot) or nearly
    /// isotropic (no plane stands out), or its eigen-decomposition failed.
    NotPlanar,
    /// The normal is within 15 degrees of perpendicular to the line of sight.
    EdgeOn,
}

/// The 3-D point (mm) that pixel (`u`, `v`) at depth `z_mm` shows through the pinhole `k`.
pub fn deproject(k: &Intrinsics, u: f64, v: f64, z_mm: f64) -> Vector3<f64> {
    Vector3::new(
        (u - f64::from(k.cx)) * z_mm / f64::from(k.fx),
        (v - f64::from(k.cy)) * z_mm / f64::from(k.fy),
        z_mm,
    )
}

/// Least-squares plane through `points` (mm; non-finite points are skipped). One pass, no heap:
/// sums are taken relative to the first point, so that distant points lose no precision.
pub fn fit_plane<I: IntoIterator<Item = Vector3<f64>>>(points: I) -> Result<Plane, Degenerate> {
    let mut origin: Option<Vector3<f64>> = None;
    let (mut n, mut sum, mut outer) = (0u32, Vector3::zeros(), Matrix3::<f64>::zeros());
    for p in points {
        if !(p.x.is_finite() && p.y.is_finite() && p.z.is_finite()) {
            continue;
        }
        let d = p - *origin.get_or_insert(p);
        n = n.saturating_add(1);
        sum += d;
        outer += d * d.transpose();
    }
    let Some(origin) = origin.filter(|_| n >= MIN_POINTS) else {
        return Err(Degenerate::TooFewPoints);
    };
    let count = f64::from(n);
    let mean = sum / count;
    let cov = outer / count - mean * mean.transpose();
    if !cov.iter().all(|v| v.is_finite()) {
        return Err(Degenerate::NotPlanar);
    }
    let eig = SymmetricEigen::try_new(cov, f64::EPSILON, 64).ok_or(Degenerate::NotPlanar)?;
    let mut order = [0usize, 1, 2];
    order.sort_by(|&a, &b| eig.eigenvalues[a].total_cmp(&eig.eigenvalues[b]));
    let (low, mid) = (
        eig.eigenvalues[order[0]].max(0.0),
        eig.eigenvalues[order[1]],
    );
    if !(mid >= MIN_SPREAD_MM * MIN_SPREAD_MM && low <= MAX_THICKNESS_RATIO * mid) {
        return Err(Degenerate::NotPlanar);
    }
    let centroid = origin + mean;
    let mut normal: Vector3<f64> = eig.eigenvectors.column(order[0]).into_owned();
    let (norm, sight) = (normal.norm(), centroid.norm());
    if !(norm > 1e-9 && sight > 1e-9) {
        return Err(Degenerate::NotPlanar);
    }
    normal /= norm;
    let cos = normal.dot(&centroid) / sight;
    if cos.abs() < MIN_VIEW_COS {
        return Err(Degenerate::EdgeOn);
    }
    if cos < 0.0 {
        normal = -normal;
    }
    Ok(Plane {
        normal,
        centroid,
        points: n,
        rms_mm: low.sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, Normal};

    /// Points of the plane through `c` with unit normal `n`, on a 20x20 grid 200 mm wide, with
    /// Gaussian noise of `sigma_mm` along the line of sight (as a depth camera's noise is).
    fn noisy_plane(
        n: Vector3<f64>,
        c: Vector3<f64>,
        sigma_mm: f64,
        seed: u64,
    ) -> Vec<Vector3<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let noise = Normal::new(0.0, sigma_mm).unwrap();
        // Two in-plane axes.
        let a = n.cross(&Vector3::y()).normalize();
        let b = n.cross(&a);
        let mut out = Vec::new();
        for i in 0..20 {
            for j in 0..20 {
                let p = c + a * (f64::from(i) * 10.0 - 95.0) + b * (f64::from(j) * 10.0 - 95.0);
                let along = p / p.z * noise.sample(&mut rng);
                out.push(p + along);
            }
        }
        // A few non-finite points (a bad deprojection) are skipped.
        out.push(Vector3::new(f64::NAN, 0.0, 1000.0));
        out
    }

    fn angle_deg(a: &Vector3<f64>, b: &Vector3<f64>) -> f64 {
        a.dot(b).clamp(-1.0, 1.0).acos().to_degrees()
    }

    #[test]
    fn a_known_plane_with_noise_gives_its_normal_within_one_degree() {
        // A chest 1.1 m away turned 0, 30 and 50 degrees about the vertical axis and 20 degrees
        // about the horizontal one, with 4 mm of depth noise (a D435's at 1.1 m).
        for (i, (yaw, pitch)) in [(0.0f64, 0.0f64), (30.0, 0.0), (50.0, 0.0), (30.0, 20.0)]
            .into_iter()
            .enumerate()
        {
            let (y, p) = (yaw.to_radians(), pitch.to_radians());
            let n = Vector3::new(y.sin() * p.cos(), -p.sin(), y.cos() * p.cos());
            let c = Vector3::new(40.0, 60.0, 1100.0);
            let pts = noisy_plane(n, c, 4.0, i as u64 + 1);
            let fit = fit_plane(pts.iter().copied()).expect("a plane");
            let err = angle_deg(&fit.normal, &n);
            println!(
                "yaw {yaw} pitch {pitch}: normal off by {err:.3} deg, rms {:.2} mm, {} points",
                fit.rms_mm, fit.points
            );
            assert!(
                err < 1.0,
                "yaw {yaw} pitch {pitch}: normal off by {err:.3} deg"
            );
            assert_eq!(fit.points, 400);
            // The centroid is the grid's centre; the noise is along the line of sight.
            assert!((fit.centroid - c).norm() < 2.0, "{:?}", fit.centroid);
            // The normal points away from the camera, and the RMS is about the noise seen along
            // the normal (4 mm times the cosine of the angle to the line of sight).
            assert!(fit.normal.z > 0.0);
            assert!((2.0..4.5).contains(&fit.rms_mm), "rms {}", fit.rms_mm);
            // A point 3 mm toward the camera along the normal is -3 mm from the plane.
            let q = fit.centroid - fit.normal * 3.0;
            assert!((fit.distance_mm(&q) + 3.0).abs() < 1e-9);
        }
    }

    #[test]
    fn degenerate_point_sets_are_refused_without_panicking() {
        let z = |x: f64, y: f64| Vector3::new(x, y, 1000.0);
        // Too few points, and no points at all.
        let few: Vec<_> = (0..15).map(|i| z(f64::from(i) * 10.0, 0.0)).collect();
        assert_eq!(fit_plane(few), Err(Degenerate::TooFewPoints));
        assert_eq!(fit_plane(Vec::new()), Err(Degenerate::TooFewPoints));
        // All non-finite.
        let nan = vec![Vector3::new(f64::NAN, f64::INFINITY, 1.0); 100];
        assert_eq!(fit_plane(nan), Err(Degenerate::TooFewPoints));
        // Points on a line, and all at one spot: near-singular.
        let line: Vec<_> = (0..100).map(|i| z(f64::from(i), 0.0)).collect();
        assert_eq!(fit_plane(line), Err(Degenerate::NotPlanar));
        let spot = vec![z(1.0, 2.0); 100];
        assert_eq!(fit_plane(spot), Err(Degenerate::NotPlanar));
        // An isotropic blob: no plane stands out.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let blob: Vec<_> = (0..500)
            .map(|_| {
                Vector3::new(
                    rng.gen_range(-50.0..50.0),
                    rng.gen_range(-50.0..50.0),
                    1000.0 + rng.gen_range(-50.0..50.0),
                )
            })
            .collect();
        assert_eq!(fit_plane(blob), Err(Degenerate::NotPlanar));
        // A plane containing the line of sight (seen edge-on): x = 0 through (0, 0, 1000).
        let edge: Vec<_> = (0..20)
            .flat_map(|i| (0..20).map(move |j| (i, j)))
            .map(|(i, j)| {
                Vector3::new(0.0, f64::from(i) * 10.0 - 95.0, 900.0 + f64::from(j) * 10.0)
            })
            .collect();
        assert_eq!(fit_plane(edge), Err(Degenerate::EdgeOn));
        // Huge values stay finite or are refused; never a panic.
        let huge: Vec<_> = (0..100)
            .map(|i| Vector3::new(f64::from(i) * 1e150, 1e300, -1e300))
            .collect();
        assert!(fit_plane(huge).is_err());
    }

    #[test]
    fn deprojection_inverts_the_pinhole() {
        let k = Intrinsics {
            fx: 400.0,
            fy: 410.0,
            cx: 211.5,
            cy: 119.5,
        };
        let p = deproject(&k, 311.5, 79.5, 1200.0);
        assert!((p.x - 300.0).abs() < 1e-9 && (p.y + 1200.0 * 40.0 / 410.0).abs() < 1e-9);
        assert_eq!(p.z, 1200.0);
    }
}
