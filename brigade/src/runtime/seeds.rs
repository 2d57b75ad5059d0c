//! Running a test under many seeds: what `#[brigade::test(seeds = N)]` expands to.
//!
//! Each seed gets a fresh deterministic runtime (`Builder::deterministic`); the test body is
//! spawned as a task on it (so every poll of it happens on the seeded worker) and awaited. The
//! first seed that fails stops the run: its number and a one-line command replaying it alone
//! (`BRIGADE_SEED=<seed> cargo test ...`) go to stderr, then the failure carries on as the
//! test's panic. With `BRIGADE_SEED` set, only that seed runs.

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::Builder;

/// The environment variable naming the one seed to run.
pub const SEED_VARIABLE: &str = "BRIGADE_SEED";

/// Where a seeded test lives, for the replay command (filled in by `#[brigade::test]`).
#[derive(Debug, Clone, Copy)]
pub struct SeededTest {
    /// `module_path!()` of the test function.
    pub module_path: &'static str,
    /// The test function's name.
    pub name: &'static str,
    /// `CARGO_PKG_NAME` of the crate holding the test.
    pub package: &'static str,
    /// `CARGO_CRATE_NAME` of the test crate (an integration test's file name).
    pub crate_name: &'static str,
}

impl SeededTest {
    /// The command that runs this test under `seed` only.
    pub fn replay_command(&self, seed: u64) -> String {
        let path = match self.module_path.split_once("::") {
            Some((_, rest)) => format!("{rest}::{}", self.name),
            None => self.name.to_string(),
        };
        let target = if self.crate_name == self.package.replace('-', "_") {
            "--lib".to_string()
        } else {
            format!("--test {}", self.crate_name)
        };
        format!(
            "{SEED_VARIABLE}={seed} cargo test -p {} {target} {path} -- --exact",
            self.package
        )
    }
}

/// Runs the future `make` returns under seeds `0..seeds` (or only `$BRIGADE_SEED`), each on a
/// fresh deterministic runtime, stopping at the first failure: it prints the seed and the
/// command to replay it, then panics with the failure.
///
/// # Panics
/// When the test fails under a seed, when `BRIGADE_SEED` is not a number, or when the runtime
/// cannot start.
pub fn run_with_seeds<F, Fut>(test: SeededTest, seeds: u64, make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let chosen = match std::env::var(SEED_VARIABLE) {
        Ok(text) => Some(text.trim().parse::<u64>().unwrap_or_else(|_| {
            panic!("{SEED_VARIABLE}={text:?} is not a seed: give a whole number, as printed by a failed run")
        })),
        Err(_) => None,
    };
    let range = match chosen {
        Some(seed) => seed..=seed,
        None => 0..=seeds.saturating_sub(1),
    };
    for seed in range {
        let runtime = Builder::new()
            .deterministic(seed)
            .thread_name(format!("seed-{seed}"))
            .build()
            .expect("brigade::test: could not start a deterministic runtime");
        let future = make();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(runtime.spawn(future));
        }));
        drop(runtime);
        if let Err(panic) = outcome {
            eprintln!(
                "brigade: test `{}` failed with seed {seed}; replay it with:\n    {}",
                test.name,
                test.replay_command(seed)
            );
            resume_unwind(panic);
        }
    }
}
