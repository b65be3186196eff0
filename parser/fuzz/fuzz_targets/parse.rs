//! Parses arbitrary bytes; on success runs validation, every accessor, the
//! no-op write identity and, for valid messages, the edit and response
//! round trips (see `trunkline_parser_fuzz::check_bytes`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    trunkline_parser_fuzz::check_bytes(data);
});
