//! Fuzzes a client's request body through every inbound reader and, when
//! it decodes, every provider's encoder (see ../README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    switchyard_fuzz::inbound::check(data);
});
