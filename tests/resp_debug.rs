use edge_screen::breathing::baseline::Features;
use edge_screen::respiration::core::SignalCore;
use edge_screen::respiration::RespirationSettings;
use std::path::PathBuf;

fn load_boxed(path: &PathBuf, hz: f64) -> Vec<f32> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let (mut bin, mut sum, mut n) = (0i64, 0.0f64, 0usize);
    for line in text.lines().skip(1) {
        let mut it = line.split(',');
        let t: f64 = it.next().unwrap().parse().unwrap();
        let v: f64 = it.next().unwrap().parse().unwrap();
        let b = (t * hz).floor() as i64;
        if b != bin && n > 0 { out.push((sum / n as f64) as f32); sum = 0.0; n = 0; }
        bin = b; sum += v; n += 1;
    }
    out
}

#[test]
#[ignore]
fn debug_real() {
    let s = RespirationSettings::default();
    let f = std::env::var("F").unwrap();
    let x = load_boxed(&PathBuf::from(format!("../shared/data/resp/csv/{f}")), 10.0);
    let mut core = SignalCore::new(&s);
    for (i, v) in x.iter().enumerate() {
        core.push(i as f64 / 10.0, Some(*v));
        if (i + 1) % 600 == 0 || i + 1 == x.len() {
            let w = core.analyze();
            println!("t={} spec={:?} prom={:.2} count={:?} rate={:?} q={:.2} amp={} nb={} pauses={:?}", w.t_end_s, w.spectral_rate_bpm, w.spectral_prominence, w.count_rate_bpm, w.rate_bpm, w.quality, w.amplitude, w.breaths.len(), w.pauses);
            println!("  {:?}", Features::of(&w));
            if std::env::var("B").is_ok() { for b in w.breaths { println!("   {:.1} {:.1} {:.3}", b.trough_s, b.peak_s, b.depth); } }
        }
    }
    println!("polarity {}", edge_screen::respiration::polarity::polarity_score(&x));
}
