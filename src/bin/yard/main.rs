//! `yard`: the route-language command line.
//!
//! ```text
//! yard check   [paths]                       diagnostics; exit 1 on errors
//! yard explain [paths] --model M [--header k=v]… [--key NAME] [--tag T]…
//!                      [--endpoint E] [--param k=json]… [--metadata json]
//! yard compile [paths] [-o plan.json]        the plan the Worker runs
//! yard publish [paths] [--local|--remote] [--dry-run]
//! yard test    [paths]                       run *.expect.yaml route tests
//! yard keys    create|list|revoke …          gateway keys in the KEYS KV namespace
//! ```
//!
//! `paths` default to `routes/`. Native only: on wasm32 this is an empty
//! program, so `cargo build --target wasm32-unknown-unknown` still works.

#[cfg(not(target_arch = "wasm32"))]
mod args;
#[cfg(not(target_arch = "wasm32"))]
mod commands;
#[cfg(not(target_arch = "wasm32"))]
mod describe;
#[cfg(not(target_arch = "wasm32"))]
mod expect;
#[cfg(not(target_arch = "wasm32"))]
mod keys;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().is_some_and(|a| a == "keys") {
        return keys::run(&argv[1..]);
    }
    match args::parse(&argv) {
        Ok(command) => commands::run(command),
        Err(message) => {
            eprintln!("yard: {message}\n\n{}", args::USAGE);
            std::process::ExitCode::from(2)
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}
