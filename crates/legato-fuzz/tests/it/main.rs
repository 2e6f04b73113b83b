//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) and crash reproducers
//! (`fuzz/regressions/<target>/`) through the targets on stable, in the normal test run.
//! A missing or empty corpus fails the test, so it cannot pass by finding nothing.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `dir`, sorted; `None` when it does not exist.
fn inputs(dir: &Path) -> Option<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    Some(files)
}

fn replay(target: &str, run: fn(&[u8]), files: &[PathBuf]) {
    for file in files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", file.display());
    }
}

fn corpus(target: &str) {
    let (_, run) = legato_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let dir = fuzz_dir().join("corpus").join(target);
    let files = inputs(&dir).unwrap_or_else(|| panic!("{} is missing", dir.display()));
    assert!(!files.is_empty(), "{} is empty", dir.display());
    replay(target, *run, &files);
    // Reproducers of fixed crashes, where a target has any.
    if let Some(files) = inputs(&fuzz_dir().join("regressions").join(target)) {
        replay(target, *run, &files);
    }
}

#[test]
fn frame_corpus() {
    corpus("frame");
}

#[test]
fn batch_body_corpus() {
    corpus("batch_body");
}

#[test]
fn deflate_corpus() {
    corpus("deflate");
}

#[test]
fn merge_corpus() {
    corpus("merge");
}

#[test]
fn store_apply_corpus() {
    corpus("store_apply");
}

/// Every target has a test above and a cargo-fuzz binary, and every corpus directory is a
/// target's (a renamed target cannot leave its corpus unreplayed).
#[test]
fn targets_corpora_and_fuzz_binaries_match() {
    let names: Vec<&str> = legato_fuzz::TARGETS.iter().map(|(name, _)| *name).collect();
    for name in &names {
        let binary = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(binary.is_file(), "{} is missing", binary.display());
    }
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for entry in entries {
            let name = entry.expect("a readable entry").file_name();
            let name = name.to_string_lossy();
            assert!(names.contains(&&*name), "fuzz/{kind}/{name} is no target's");
        }
    }
}
