//! Drives a proxy core with arbitrary datagrams, responses to what it
//! forwarded, name answers and time (see `trunkline_engine_fuzz::run`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = trunkline_engine_fuzz::run(data);
});
