//! Every configuration file the project ships loads and validates.

use edge_screen::config::Settings;

#[test]
fn every_shipped_config_file_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("firmware-config exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            Settings::load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 1, "no .toml files in {}", dir.display());
}
