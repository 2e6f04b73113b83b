//! `cargo xtask bench`: the benchmarks, each a `cargo bench` target in release.

use anyhow::Result;
use clap::ValueEnum;

/// The benchmarks: `(name, package, bench target)` in [`bench`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BenchName {
    /// Client store: one entry + outbox row per transaction vs raw SQLite
    LocalWrite,
    /// Statistics over 50 000 entries in the store
    Stats,
    /// HTTP batch ingest vs trivial GET; idle WebSocket memory per connection
    Server,
    /// One hostile account: memory, others' write p99 under attack
    Abuse,
    /// Edit on device A -> visible on B; 100k catch-up
    Sync,
    /// Every benchmark above, in turn
    All,
}

pub(crate) fn bench(which: BenchName) -> Result<()> {
    let benches = [
        (BenchName::LocalWrite, "legato-store", "local_write"),
        (BenchName::Stats, "legato-store", "statistics"),
        (BenchName::Server, "legato-server", "server"),
        (BenchName::Abuse, "legato-server", "abuse"),
        (BenchName::Sync, "legato-sync", "sync"),
    ];
    for (_, package, bench) in benches
        .iter()
        .filter(|(name, ..)| which == BenchName::All || *name == which)
    {
        crate::cmd(
            "cargo",
            &["bench", "--locked", "-p", package, "--bench", bench],
        )?;
    }
    Ok(())
}
