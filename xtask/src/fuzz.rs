//! `cargo xtask fuzz [--seconds N]`: every cargo-fuzz target of `fuzz/`, one after the
//! other, each for N seconds on one core (see `docs/fuzzing.md`).
//!
//! Needs the nightly toolchain (libFuzzer's instrumentation); installs cargo-fuzz when it
//! is missing. New inputs go to a working corpus under `fuzz/target/` (never into the
//! committed `fuzz/corpus/`, which is only read); libFuzzer's log of each run is kept as
//! `fuzz/target/logs/<target>.log`. Fails when a target crashes or leaves a crash artifact
//! in `fuzz/artifacts/<target>/`.
//!
//! [`minimize`] (`cargo xtask fuzz --minimize`) then rewrites the committed corpora from the
//! working ones: the fewest inputs that keep every coverage edge.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The targets, in the order they run: `fuzz/fuzz_targets/<name>.rs` each, and the names
/// of `legato_fuzz::TARGETS` (its test checks the two lists match the files).
pub const TARGETS: [&str; 5] = ["frame", "batch_body", "deflate", "merge", "store_apply"];

/// What one run did, from libFuzzer's final statistics.
#[derive(Debug, Default)]
struct Stats {
    execs: Option<u64>,
    coverage: Option<u64>,
    corpus: Option<String>,
}

pub fn run(seconds_per_target: u64) -> Result<()> {
    if seconds_per_target == 0 {
        bail!("--seconds must be at least 1");
    }
    let root = super::project_root();
    let fuzz = root.join("fuzz");
    nightly_available()?;
    cargo_fuzz_installed()?;
    super::cmd(
        "cargo",
        &["+nightly", "fuzz", "build", "--fuzz-dir", "fuzz"],
    )?;

    let mut report = Vec::new();
    for target in TARGETS {
        let stats = run_target(&fuzz, target, seconds_per_target)?;
        eprintln!(
            "xtask: fuzz {target}: {seconds_per_target} s, {} execs, cov {}, corpus {}, no crash",
            show(stats.execs),
            show(stats.coverage),
            stats.corpus.as_deref().unwrap_or("?")
        );
        report.push((target, stats));
    }
    eprintln!("xtask: fuzzing done, {seconds_per_target} s per target, no crash:");
    for (target, stats) in report {
        eprintln!(
            "  {target:<12} {:>12} execs  cov {:>6}",
            show(stats.execs),
            show(stats.coverage)
        );
    }
    Ok(())
}

fn show(value: Option<u64>) -> String {
    value.map_or_else(|| "?".to_owned(), |v| v.to_string())
}

/// One target for `seconds`, on one core (`-jobs=1 -workers=1`: one libFuzzer worker,
/// whose output libFuzzer writes to `fuzz-0.log` in the working directory).
fn run_target(fuzz: &Path, target: &str, seconds: u64) -> Result<Stats> {
    let work = fuzz.join("target").join("work-corpus").join(target);
    let logs = fuzz.join("target").join("logs");
    let artifacts = fuzz.join("artifacts").join(target);
    for dir in [&work, &logs, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let before = files(&artifacts)?;
    let seeds = fuzz.join("corpus").join(target);
    let regressions = fuzz.join("regressions").join(target);

    let mut args: Vec<String> = ["+nightly", "fuzz", "run", "--fuzz-dir", "fuzz", target]
        .map(str::to_owned)
        .to_vec();
    // The first directory receives new inputs; the others are only read.
    args.push(path_arg(&work));
    args.push(path_arg(&seeds));
    if regressions.is_dir() {
        args.push(path_arg(&regressions));
    }
    args.push("--".to_owned());
    args.extend([
        format!("-max_total_time={seconds}"),
        "-jobs=1".to_owned(),
        "-workers=1".to_owned(),
        format!("-dict={}", path_arg(&fuzz.join("json.dict"))),
        format!("-artifact_prefix={}/", path_arg(&artifacts)),
        "-print_final_stats=1".to_owned(),
    ]);
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new("cargo")
        .args(&args)
        .status()
        .context("cannot run cargo fuzz")?;

    // The worker's log: kept per target, read for the statistics.
    let log = logs.join(format!("{target}.log"));
    let worker_log = PathBuf::from("fuzz-0.log");
    if worker_log.is_file() {
        std::fs::rename(&worker_log, &log)
            .with_context(|| format!("cannot move fuzz-0.log to {}", log.display()))?;
    }
    let stats = std::fs::read_to_string(&log)
        .map(|text| parse_stats(&text))
        .unwrap_or_default();

    let new: Vec<String> = files(&artifacts)?.difference(&before).cloned().collect();
    if !new.is_empty() {
        bail!(
            "fuzz target `{target}` left crash artifacts in {}: {new:?} (log: {})",
            artifacts.display(),
            log.display()
        );
    }
    if !status.success() {
        bail!(
            "fuzz target `{target}` failed with {status} (log: {})",
            log.display()
        );
    }
    Ok(stats)
}

/// Replaces the generated inputs of every committed corpus `fuzz/corpus/<target>/` by a
/// small set with the same edge coverage as the committed and working corpora together.
///
/// `cargo fuzz cmin` keeps every input that adds a feature, smallest first, hit counts
/// included: thousands of files. Here libFuzzer's merge only measures (`-use_counters=0`:
/// edges, not hit counts; its control file lists each input's edges), and a greedy set cover
/// picks, after the hand-written seeds (kept whatever they cover), the input that adds the
/// most edges until none adds any. Generated inputs are named by the SHA-1 of their content
/// (40 hex digits, as libFuzzer names them); every other name is a hand-written seed.
///
/// At most [`MAX_GENERATED`] inputs per target are kept (the committed corpora stay small);
/// the edges of the rest, mostly one error path each, are reported as left out.
pub fn minimize() -> Result<()> {
    let fuzz = super::project_root().join("fuzz");
    nightly_available()?;
    cargo_fuzz_installed()?;
    super::cmd(
        "cargo",
        &["+nightly", "fuzz", "build", "--fuzz-dir", "fuzz"],
    )?;
    for target in TARGETS {
        let cover = minimize_target(&fuzz, target)?;
        eprintln!(
            "xtask: corpus {target}: {} generated inputs kept of {}; {} of {} edges \
             ({} left out by the cap)",
            cover.kept, cover.total, cover.covered, cover.edges, cover.left_out
        );
    }
    Ok(())
}

/// Largest number of generated inputs kept in a committed corpus.
pub const MAX_GENERATED: usize = 300;

/// What [`minimize`] kept of one corpus.
#[derive(Debug, PartialEq)]
struct Cover {
    kept: usize,
    total: usize,
    /// Edges of the kept inputs and the seeds, of all the edges measured.
    covered: usize,
    edges: usize,
    /// Edges that inputs past the cap would have added.
    left_out: usize,
}

fn minimize_target(fuzz: &Path, target: &str) -> Result<Cover> {
    let corpus = fuzz.join("corpus").join(target);
    let work = fuzz.join("target").join("work-corpus").join(target);
    let scratch = fuzz.join("target").join("minimize").join(target);
    let _ = std::fs::remove_dir_all(&scratch);
    let (inputs, empty) = (scratch.join("inputs"), scratch.join("empty"));
    for dir in [&inputs, &empty, &work] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // Seeds first (they are kept), then every generated input, each once by name.
    let mut seeds = Vec::new();
    for dir in [&corpus, &work] {
        for name in files(dir)? {
            let generated = is_generated(&name);
            if dir == &corpus && !generated {
                seeds.push(name.clone());
            }
            let path = dir.join(&name);
            if path.is_file() {
                std::fs::copy(&path, inputs.join(&name))
                    .with_context(|| format!("cannot copy {}", path.display()))?;
            }
        }
    }
    let control = scratch.join("control");
    let binary = fuzz
        .join("target")
        .join("x86_64-unknown-linux-gnu")
        .join("release")
        .join(target);
    let status = Command::new(&binary)
        .arg("-merge=1")
        .arg("-use_counters=0")
        .arg(format!("-merge_control_file={}", path_arg(&control)))
        .arg(&empty)
        .arg(&inputs)
        .stderr(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !status.success() {
        bail!("measuring the corpus of `{target}` failed with {status}");
    }
    let text = std::fs::read_to_string(&control)
        .with_context(|| format!("cannot read {}", control.display()))?;
    let edges = edges_by_file(&text)?;
    let (chosen, mut cover) = set_cover(&edges, &seeds, MAX_GENERATED);
    cover.total = edges.keys().filter(|name| is_generated(name)).count();
    for name in files(&corpus)? {
        if is_generated(&name) {
            std::fs::remove_file(corpus.join(&name))?;
        }
    }
    for name in &chosen {
        std::fs::copy(inputs.join(name), corpus.join(name))
            .with_context(|| format!("cannot copy {name} into {}", corpus.display()))?;
    }
    Ok(cover)
}

/// libFuzzer's names for the inputs it writes: the SHA-1 of the content in hex.
fn is_generated(name: &str) -> bool {
    name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The edges of every input from a merge control file: line 1 the number of files, line 2
/// how many of them are in the first corpus, then one path per line, then records, among
/// them `COV <index> <edge>...`.
fn edges_by_file(control: &str) -> Result<std::collections::BTreeMap<String, BTreeSet<u64>>> {
    let mut lines = control.lines();
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .context("a merge control file starts with its number of files")?;
    lines.next();
    let names: Vec<String> = lines
        .by_ref()
        .take(count)
        .map(|path| {
            Path::new(path)
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        })
        .collect();
    let mut edges = std::collections::BTreeMap::new();
    for line in lines {
        let mut words = line.split_whitespace();
        if words.next() != Some("COV") {
            continue;
        }
        let Some(name) = words
            .next()
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| names.get(i))
        else {
            continue;
        };
        let set: BTreeSet<u64> = words.filter_map(|w| w.parse().ok()).collect();
        edges.insert(name.clone(), set);
    }
    Ok(edges)
}

/// Greedy set cover: the seeds' edges count as covered; then, while some input adds edges,
/// the one that adds the most (ties: the first name), at most `cap` of them. Returns the
/// chosen generated inputs and the coverage (`total` left for the caller).
fn set_cover(
    edges: &std::collections::BTreeMap<String, BTreeSet<u64>>,
    seeds: &[String],
    cap: usize,
) -> (Vec<String>, Cover) {
    let mut covered: BTreeSet<u64> = seeds
        .iter()
        .filter_map(|name| edges.get(name))
        .flatten()
        .copied()
        .collect();
    let mut candidates: Vec<(&String, &BTreeSet<u64>)> = edges
        .iter()
        .filter(|(name, _)| is_generated(name))
        .collect();
    let mut chosen = Vec::new();
    loop {
        let best = candidates
            .iter()
            .enumerate()
            .map(|(i, (_, set))| (set.difference(&covered).count(), i))
            .max_by_key(|&(gain, i)| (gain, std::cmp::Reverse(i)));
        let Some((gain, index)) = best else { break };
        if gain == 0 {
            break;
        }
        let (name, set) = candidates.swap_remove(index);
        covered.extend(set.iter().copied());
        chosen.push(name.clone());
        if chosen.len() == cap {
            break;
        }
    }
    let all: BTreeSet<u64> = edges.values().flatten().copied().collect();
    let cover = Cover {
        kept: chosen.len(),
        total: 0,
        covered: covered.len(),
        edges: all.len(),
        left_out: all.len() - covered.len(),
    };
    (chosen, cover)
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn files(dir: &Path) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        names.insert(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// libFuzzer's `stat::number_of_executed_units`, and the `cov:` and `corp:` of its last
/// status line.
fn parse_stats(log: &str) -> Stats {
    let mut stats = Stats::default();
    for line in log.lines() {
        if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
            stats.execs = n.trim().parse().ok();
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with('#') {
            for pair in words.windows(2) {
                match pair[0] {
                    "cov:" => stats.coverage = pair[1].parse().ok(),
                    "corp:" => stats.corpus = Some(pair[1].to_owned()),
                    _ => {}
                }
            }
        }
    }
    stats
}

fn nightly_available() -> Result<()> {
    let ok = Command::new("cargo")
        .args(["+nightly", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !ok {
        bail!("fuzzing needs the nightly toolchain (`rustup toolchain install nightly`)");
    }
    Ok(())
}

/// Installs cargo-fuzz if `cargo fuzz` is not there (idempotent).
fn cargo_fuzz_installed() -> Result<()> {
    let present = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if present {
        return Ok(());
    }
    super::cmd("cargo", &["install", "cargo-fuzz", "--locked"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_statistics() {
        let log = "\
#1024\tpulse  cov: 100 ft: 200 corp: 10/1Kb exec/s: 512 rss: 40Mb
#2048\tNEW    cov: 120 ft: 230 corp: 12/2Kb lim: 4096 exec/s: 600 rss: 41Mb
Done 2100 runs in 3 second(s)
stat::number_of_executed_units: 2100
stat::average_exec_per_sec:     700
";
        let stats = parse_stats(log);
        assert_eq!(stats.execs, Some(2100));
        assert_eq!(stats.coverage, Some(120));
        assert_eq!(stats.corpus.as_deref(), Some("12/2Kb"));
    }

    #[test]
    fn set_cover_keeps_every_edge_with_few_inputs() {
        let (a, b, c, d) = (
            "a".repeat(40),
            "b".repeat(40),
            "c".repeat(40),
            "d".repeat(40),
        );
        let control = format!(
            "5\n0\nx/seed\nx/{a}\nx/{b}\nx/{c}\nx/{d}\nSTARTED 0 1\nFT 0 1\nCOV 0 1\n\
             COV 1 1 2\nCOV 2 2 3 4\nCOV 3 4 5\nCOV 4 2 3 4 5\nDONE\n"
        );
        let edges = edges_by_file(&control).unwrap();
        assert_eq!(edges.len(), 5);
        let seeds = ["seed".to_owned()];
        let (chosen, cover) = set_cover(&edges, &seeds, 10);
        assert_eq!(chosen, vec![d.clone()]);
        assert_eq!((cover.covered, cover.edges, cover.left_out), (5, 5, 0));
        let (chosen, cover) = set_cover(&edges, &[], 1);
        assert_eq!(chosen, vec![d]);
        assert_eq!((cover.covered, cover.left_out), (4, 1));
        assert!(!is_generated("seed") && is_generated(&a));
    }
}
