//! The simulation in the normal test run: `SIM_SEEDS` seeds (200 by default) from
//! `SIM_FROM` (0), every one clean. The long runs are `cargo xtask sim --seeds N`.

use legato_sim::{Counts, run_seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_seed_ends_with_nothing_lost_duplicated_or_diverged() {
    let seeds: u64 = std::env::var("SIM_SEEDS").map_or(200, |v| v.parse().unwrap());
    let from: u64 = std::env::var("SIM_FROM").map_or(0, |v| v.parse().unwrap());
    let jobs = 8;
    let mut total = Counts::default();
    let mut findings = Vec::new();
    let all: Vec<u64> = (from..from + seeds).collect();
    for chunk in all.chunks(jobs) {
        let runs: Vec<_> = chunk
            .iter()
            .map(|&seed| tokio::spawn(run_seed(seed, 60)))
            .collect();
        for run in runs {
            let report = run.await.unwrap().unwrap();
            total.add(&report.counts);
            if !report.counts.is_clean() {
                findings.push(format!(
                    "seed {} ({:?}): {} {:?}",
                    report.seed, report.strategy, report.counts, report.findings
                ));
            }
        }
    }
    println!("{seeds} seeds: {total}");
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}
