//! Finding the chest in a depth frame, from depth alone (no colour image, for privacy).
//!
//! 1. Sample the frame on a coarse grid (about 212 columns) and histogram the valid depths of its
//!    central columns; the nearest bin cluster holding enough cells is the person.
//! 2. Keep the cells within a depth band around that distance (body mask) and, row by row, measure
//!    the run of body cells through the body's centre column (the median column of the body
//!    cells within 0.28 m of the image centre, where the kiosk's seat is): the row-width profile.
//! 3. The shoulder line is the first row whose run is at least 0.30 m wide (head and neck are
//!    narrower); the chest ROI is 0.09-0.29 m below it, 0.16 m wide around the torso centre.
//!
//! Metric sizes use a pinhole model with the configured horizontal field of view.

use super::roi::ChestSettings;
use crate::types::{DepthFrame, Roi};

/// Grid columns sampled across the image width (about).
const GRID_COLS: usize = 212;
/// Histogram bins over the person distance range.
const BINS: usize = 128;
/// Body mask: this far in front of / behind the person's nearest-cluster distance, mm.
const MASK_FRONT_MM: f32 = 200.0;
const MASK_BACK_MM: f32 = 250.0;
/// Row width that marks the shoulders, metres.
const SHOULDER_WIDTH_M: f32 = 0.30;
/// Chest ROI below the shoulder line, metres, and its half-width.
const ROI_TOP_M: f32 = 0.09;
const ROI_BOTTOM_M: f32 = 0.29;
const ROI_HALF_W_M: f32 = 0.08;
/// Depth clusters tried as the person, nearest first.
const CANDIDATES: usize = 3;
/// Half-width of the seat: the body's centre is looked for this far either side of the image
/// centre, metres (a seated torso is ±0.20 m wide, ±0.29 m with the arms; seat shifts move it
/// ±0.06 m).
const SEAT_HALF_W_M: f32 = 0.28;
/// Farthest a row's run of body cells reaches from the centre column, metres (a torso with
/// its arms is ±0.29 m).
const RUN_HALF_W_M: f32 = 0.32;
/// Gaps (grid cells) bridged when following a row's run of body cells.
const MAX_GAP: usize = 2;

/// A detected chest: where to look and how far away it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Detection {
    /// Chest ROI, pixels.
    pub roi: Roi,
    /// Median depth of the ROI, raw units.
    pub median_raw: u16,
}

/// Scratch space for detection, sized to the frame once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Detector {
    width: u32,
    height: u32,
    step: usize,
    gw: usize,
    gh: usize,
    /// Grid depths, mm (0 = invalid or out of range).
    grid: Vec<u16>,
    /// Body cells per grid column (central search of the centre column).
    cols: Vec<u32>,
    /// Per grid row: run of body cells through the centre, (first, last) grid column.
    runs: Vec<Option<(usize, usize)>>,
}

impl Detector {
    /// Allocate scratch space for `width x height` frames (no-op when already sized).
    pub(crate) fn resize(&mut self, width: u32, height: u32) {
        if (width, height) == (self.width, self.height) && !self.grid.is_empty() {
            return;
        }
        self.width = width;
        self.height = height;
        self.step = (width as usize / GRID_COLS).max(1);
        self.gw = width as usize / self.step;
        self.gh = height as usize / self.step;
        self.grid = vec![0; self.gw * self.gh];
        self.cols = vec![0; self.gw];
        self.runs = vec![None; self.gh];
    }

    /// Find the chest in `frame`, or `None` when nobody of torso size is in range. The frame must
    /// be consistent and of the size given to [`Detector::resize`].
    pub(crate) fn detect(&mut self, frame: &DepthFrame, s: &ChestSettings) -> Option<Detection> {
        if frame.width != self.width || frame.height != self.height || self.gw < 8 || self.gh < 8 {
            return None;
        }
        let unit_mm = frame.depth_unit_m * 1000.0;
        self.sample_grid(frame, unit_mm);
        let fx = 0.5 * frame.width as f32 / (0.5 * s.horizontal_fov_deg.to_radians()).tan();
        // The nearest cluster is usually the person, but a lap, a knee or an arm rest can be
        // nearer: try the clusters from near to far until one has a torso.
        self.clusters(s)
            .into_iter()
            .flatten()
            .find_map(|person_mm| self.torso_at(frame, person_mm, fx, unit_mm))
    }

    /// The chest of a torso at `person_mm`, if the body mask at that distance has one.
    fn torso_at(
        &mut self,
        frame: &DepthFrame,
        person_mm: f32,
        fx: f32,
        unit_mm: f32,
    ) -> Option<Detection> {
        let cell_m = self.step as f32 * person_mm / 1000.0 / fx;
        if !(cell_m.is_finite() && cell_m > 1e-5) {
            return None;
        }
        let centre = self.centre_column(person_mm, cell_m)?;
        self.row_runs(person_mm, centre, cell_m);
        let shoulder = self.shoulder_row(cell_m)?;
        let roi = self.place_roi(shoulder, cell_m)?;
        let median_raw = roi_median(frame, roi, person_mm, unit_mm)?;
        Some(Detection { roi, median_raw })
    }

    fn sample_grid(&mut self, frame: &DepthFrame, unit_mm: f32) {
        let (w, half) = (frame.width as usize, self.step / 2);
        for gy in 0..self.gh {
            let row = (gy * self.step + half) * w;
            for gx in 0..self.gw {
                let raw = frame
                    .data
                    .get(row + gx * self.step + half)
                    .copied()
                    .unwrap_or(0);
                let mm = (raw as f32 * unit_mm).min(65_535.0) as u16;
                if let Some(cell) = self.grid.get_mut(gy * self.gw + gx) {
                    *cell = mm;
                }
            }
        }
    }

    /// Distances of the nearest [`CANDIDATES`] depth clusters (histogram peaks) in the central
    /// columns holding at least 3 % of their cells, near to far.
    fn clusters(&self, s: &ChestSettings) -> [Option<f32>; CANDIDATES] {
        let (lo, hi) = (s.min_distance_m * 1000.0, s.max_distance_m * 1000.0);
        let bin = ((hi - lo) / BINS as f32).max(1.0);
        let mut hist = [0u32; BINS];
        let (c0, c1) = (self.gw / 5, self.gw - self.gw / 5);
        for row in self.grid.chunks_exact(self.gw) {
            for &mm in row.get(c0..c1).unwrap_or(&[]) {
                let z = mm as f32;
                if mm > 0 && z >= lo && z < hi {
                    let i = (((z - lo) / bin) as usize).min(BINS - 1);
                    hist[i] += 1;
                }
            }
        }
        let need = ((c1 - c0) * self.gh / 33).max(8) as u32;
        let smooth = |i: usize| -> u32 {
            let a = if i > 0 { hist[i - 1] } else { 0 };
            a + hist[i] + hist.get(i + 1).copied().unwrap_or(0)
        };
        let mut found = [None; CANDIDATES];
        let mut i = 0;
        for slot in found.iter_mut() {
            let Some(start) = (i..BINS).find(|&i| smooth(i) >= need) else {
                break;
            };
            i = start;
            while i + 1 < BINS && smooth(i + 1) >= smooth(i) {
                i += 1;
            }
            *slot = Some(lo + (i as f32 + 0.5) * bin);
            // Step past this peak's slope before looking for the next cluster.
            while i + 1 < BINS && smooth(i + 1) < smooth(i) && smooth(i + 1) >= need {
                i += 1;
            }
            i += 1;
        }
        found
    }

    fn in_body(&self, gx: usize, gy: usize, person_mm: f32) -> bool {
        self.grid.get(gy * self.gw + gx).is_some_and(|&mm| {
            let z = mm as f32;
            mm > 0 && z >= person_mm - MASK_FRONT_MM && z <= person_mm + MASK_BACK_MM
        })
    }

    /// Median column of the body cells in the central columns within [`SEAT_HALF_W_M`] of the
    /// image centre (cells of `cell_m` metres): the kiosk's seat is in front of the camera, and
    /// a second person standing beside the seated one at about the same distance (in the body
    /// mask too) must not pull the centre toward them.
    fn centre_column(&mut self, person_mm: f32, cell_m: f32) -> Option<usize> {
        let half = (SEAT_HALF_W_M / cell_m).ceil() as usize;
        let mid = self.gw / 2;
        let c0 = (self.gw / 5).max(mid.saturating_sub(half));
        let c1 = (self.gw - self.gw / 5).min(mid + half + 1);
        let mut total = 0u32;
        for gx in 0..self.gw {
            let n = if (c0..c1).contains(&gx) {
                (0..self.gh)
                    .filter(|&gy| self.in_body(gx, gy, person_mm))
                    .count() as u32
            } else {
                0
            };
            if let Some(c) = self.cols.get_mut(gx) {
                *c = n;
            }
            total += n;
        }
        let mut acc = 0;
        self.cols.iter().position(|&n| {
            acc += n;
            total > 0 && 2 * acc >= total
        })
    }

    /// Per row, the run of body cells through (or within 4 cells of) the centre column, cut at
    /// [`RUN_HALF_W_M`] either side of it (cells of `cell_m` metres).
    fn row_runs(&mut self, person_mm: f32, centre: usize, cell_m: f32) {
        let reach = (RUN_HALF_W_M / cell_m).ceil() as usize;
        for gy in 0..self.gh {
            let seed = (0..=4usize)
                .flat_map(|d| [centre.checked_sub(d), Some(centre + d)])
                .flatten()
                .find(|&gx| gx < self.gw && self.in_body(gx, gy, person_mm));
            let run = seed.map(|sx| {
                let (mut l, mut r) = (sx, sx);
                while let Some(n) = (1..=MAX_GAP + 1)
                    .filter_map(|d| l.checked_sub(d))
                    .find(|&gx| self.in_body(gx, gy, person_mm))
                {
                    l = n;
                }
                while let Some(n) = (1..=MAX_GAP + 1)
                    .map(|d| r + d)
                    .find(|&gx| gx < self.gw && self.in_body(gx, gy, person_mm))
                {
                    r = n;
                }
                // No wider than a torso with arms either side of the centre: a second person
                // touching the seated one in the image is cut off.
                (l.max(centre.saturating_sub(reach)), r.min(centre + reach))
            });
            // A seed beyond the reach (possible when a cell is wider than a quarter of the
            // reach) leaves nothing of its run inside the cut.
            let run = run.filter(|&(l, r)| l <= r);
            if let Some(slot) = self.runs.get_mut(gy) {
                *slot = run;
            }
        }
    }

    fn run_width_m(&self, gy: usize, cell_m: f32) -> f32 {
        match self.runs.get(gy).copied().flatten() {
            Some((l, r)) => (r - l + 1) as f32 * cell_m,
            None => 0.0,
        }
    }

    /// First grid row of a torso: two rows at least shoulder-wide, and below it 0.25 m of rows
    /// of which at least 80 % are 0.25 m wide (a hole in the depth image may break a row's run).
    fn shoulder_row(&self, cell_m: f32) -> Option<usize> {
        let wide = |gy: usize| self.run_width_m(gy, cell_m) >= SHOULDER_WIDTH_M;
        let span = ((0.25 / cell_m).ceil() as usize).max(1);
        let torso_below = |top: usize| {
            let rows =
                (top..(top + span).min(self.gh)).filter(|&gy| self.run_width_m(gy, cell_m) >= 0.25);
            top + span <= self.gh && rows.count() * 5 >= span * 4
        };
        (0..self.gh.saturating_sub(1)).find(|&gy| wide(gy) && wide(gy + 1) && torso_below(gy))
    }

    /// Chest ROI below the shoulder row, centred on the body runs it covers, in pixels.
    fn place_roi(&self, shoulder: usize, cell_m: f32) -> Option<Roi> {
        let rows = |m: f32| shoulder.saturating_add((m / cell_m).round() as usize);
        let (g0, g1) = (rows(ROI_TOP_M), rows(ROI_BOTTOM_M).min(self.gh));
        let (mut sum, mut n) = (0usize, 0usize);
        for gy in g0..g1 {
            if let Some((l, r)) = self.runs.get(gy).copied().flatten() {
                sum += l + r;
                n += 2;
            }
        }
        if n == 0 {
            return None;
        }
        let px_per_cell = self.step as f32;
        let xc = (sum as f32 / n as f32 + 0.5) * px_per_cell;
        let half = ROI_HALF_W_M / cell_m * px_per_cell;
        let to_px = |v: f32, max: u32| v.round().clamp(0.0, max as f32) as u32;
        let roi = Roi {
            x0: to_px(xc - half, self.width),
            x1: to_px(xc + half, self.width),
            y0: to_px(g0 as f32 * px_per_cell, self.height),
            y1: to_px(g1 as f32 * px_per_cell, self.height),
        };
        (roi.width() >= 4 && roi.height() >= 4).then_some(roi)
    }
}

/// Median raw depth of the ROI pixels within the body band around `person_mm` (4 mm bins).
fn roi_median(frame: &DepthFrame, roi: Roi, person_mm: f32, unit_mm: f32) -> Option<u16> {
    const MBINS: usize = 128;
    let lo = person_mm - MASK_FRONT_MM;
    let bin = (MASK_FRONT_MM + MASK_BACK_MM) / MBINS as f32;
    let mut hist = [0u32; MBINS];
    let w = frame.width as usize;
    for y in roi.y0 as usize..roi.y1 as usize {
        let row = frame
            .data
            .get(y * w + roi.x0 as usize..y * w + roi.x1 as usize);
        for &raw in row.unwrap_or(&[]) {
            let rel = (raw as f32 * unit_mm - lo) / bin;
            if raw > 0 && rel >= 0.0 && rel < MBINS as f32 {
                hist[rel as usize] += 1;
            }
        }
    }
    let total: u32 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    let mut acc = 0;
    let i = hist.iter().position(|&n| {
        acc += n;
        2 * acc >= total
    })?;
    let mm = lo + (i as f32 + 0.5) * bin;
    Some((mm / unit_mm).round().clamp(1.0, 65_535.0) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row whose nearest body cell lies beyond the run's reach (cells wider than a quarter of
    /// [`RUN_HALF_W_M`], as in a tiny frame) has no run, instead of an inverted one whose width
    /// underflowed (found by `arbitrary_frames_never_panic`).
    #[test]
    fn seed_beyond_the_reach_has_no_run() {
        let mut d = Detector::default();
        d.resize(16, 16);
        assert_eq!((d.gw, d.gh), (16, 16));
        // Body (1 m) only in column 12; the centre column is 8 and a cell is 0.4 m wide, so the
        // reach is one cell and the seed (4 cells away) lies outside it.
        for gy in 0..d.gh {
            d.grid[gy * d.gw + 12] = 1000;
        }
        d.row_runs(1000.0, 8, 0.4);
        assert!(d.runs.iter().all(Option::is_none), "{:?}", d.runs);
        assert_eq!(d.run_width_m(3, 0.4), 0.0);
        // Within the reach the run is kept.
        d.row_runs(1000.0, 11, 0.4);
        assert_eq!(d.runs[3], Some((12, 12)));
    }
}
