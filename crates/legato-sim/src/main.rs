//! `legato-sim`: runs seeds of the simulation and prints the checker's counts.
//!
//! `legato-sim --seeds N [--from S] [--steps K] [--jobs J]`; `SEED=n` runs that seed alone
//! and prints its findings. Exits non-zero when any seed found anything.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use legato_sim::{Counts, run_seed};

struct Args {
    seeds: u64,
    from: u64,
    steps: usize,
    jobs: usize,
}

fn parse() -> Result<Args> {
    let mut args = Args {
        seeds: 200,
        from: 0,
        steps: 60,
        jobs: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seeds" => args.seeds = value.parse()?,
            "--from" => args.from = value.parse()?,
            "--steps" => args.steps = value.parse()?,
            "--jobs" => args.jobs = value.parse()?,
            other => bail!("unknown flag {other} (--seeds, --from, --steps, --jobs)"),
        }
    }
    if let Ok(seed) = std::env::var("SEED") {
        args.from = seed.parse().context("SEED")?;
        args.seeds = 1;
    }
    Ok(args)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let args = parse()?;
    if std::env::var_os("SIM_SCRIPT").is_some() {
        for seed in args.from..args.from + args.seeds {
            let script = legato_sim::Script::generate(seed, args.steps);
            println!(
                "seed {seed}: {:?}, {} devices",
                script.strategy, script.devices
            );
            for step in &script.steps {
                println!("  {step:?}");
            }
        }
        return Ok(());
    }
    let started = Instant::now();
    let mut total = Counts::default();
    let mut failed = Vec::new();
    let seeds: Vec<u64> = (args.from..args.from + args.seeds).collect();
    for chunk in seeds.chunks(args.jobs.max(1)) {
        let runs: Vec<_> = chunk
            .iter()
            .map(|&seed| tokio::spawn(run_seed(seed, args.steps)))
            .collect();
        for (run, seed) in runs.into_iter().zip(chunk) {
            // A seed the harness could not play (a panic or an error) is a failure to
            // replay, not the end of the run.
            let report = match run.await.map_err(anyhow::Error::from).and_then(|r| r) {
                Ok(report) => report,
                Err(err) => {
                    println!("seed {seed}: the harness failed: {err:#}");
                    failed.push(*seed);
                    continue;
                }
            };
            total.add(&report.counts);
            if !report.counts.is_clean() || args.seeds == 1 {
                println!(
                    "seed {} ({:?}, {} devices, trace {}): {}",
                    report.seed, report.strategy, report.devices, report.trace_hash, report.counts
                );
                for finding in &report.findings {
                    println!("  {finding}");
                }
            }
            if !report.counts.is_clean() {
                failed.push(report.seed);
            }
        }
    }
    println!(
        "{} seeds ({}..{}), {} steps each, in {:.1} s: {total}",
        args.seeds,
        args.from,
        args.from + args.seeds,
        args.steps,
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!(
            "{} seeds found problems: {failed:?} (replay one with SEED=n)",
            failed.len()
        );
    }
    Ok(())
}
