//! Fuzzes a `.yaml` route file through the whole front end (see ../README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    switchyard_fuzz::check("fuzz.yaml", data);
});
