//! Fuzz targets: one function per target, each taking the fuzzer's bytes, feeding them to
//! the real code and asserting properties that must hold for every input (a panic is a
//! finding). `fuzz/fuzz_targets/*.rs` are thin `fuzz_target!` wrappers around these, built
//! with cargo-fuzz on nightly; `tests/it` replays the committed corpora and regressions on
//! stable in the normal test run. See `docs/fuzzing.md`.
//!
//! Inputs are JSON where the real code reads JSON, so the corpora stay readable and a hand
//! written example is a seed as it is.

mod batch;
mod deflate;
mod frame;
mod merge;
mod store;

pub use batch::batch_body;
pub use deflate::deflate;
pub use frame::frame;
pub use merge::merge;
pub use store::store_apply;

/// A target: the fuzzer's bytes in, a panic for a finding.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory (`fuzz/corpus/<name>/`) and of its
/// cargo-fuzz binary (`fuzz/fuzz_targets/<name>.rs`).
pub const TARGETS: [(&str, Target); 5] = [
    ("frame", frame),
    ("batch_body", batch_body),
    ("deflate", deflate),
    ("merge", merge),
    ("store_apply", store_apply),
];
