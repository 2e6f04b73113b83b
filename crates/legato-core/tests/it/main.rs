//! Property tests of legato-core: one integration-test binary, one module per area.

mod apply_props;
mod merge_props;
mod model_props;
mod strategies;

use proptest::test_runner::{Config, RngSeed};

/// Deterministic: a fixed seed, so a failure reproduces on every machine and CI run, and no
/// regression files written into the source tree.
pub fn config() -> Config {
    Config {
        cases: 256,
        rng_seed: RngSeed::Fixed(0x1e6a_70c0),
        failure_persistence: None,
        ..Config::default()
    }
}
