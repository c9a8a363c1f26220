//! Puts the routing plan the Worker embeds at `$OUT_DIR/plan.json`
//! (included by `src/edge/plan.rs`). For now it is the hand-written
//! `tests/plans/default.json`; the route compiler will write it from
//! `routes/` instead, at the same place.

use std::path::PathBuf;
use std::{env, fs};

const PLAN: &str = "tests/plans/default.json";

fn main() {
    println!("cargo:rerun-if-changed={PLAN}");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("plan.json");
    fs::copy(PLAN, &out).unwrap_or_else(|e| panic!("copying {PLAN} to {}: {e}", out.display()));
}
