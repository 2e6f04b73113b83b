#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| legato_fuzz::batch_body(data));
