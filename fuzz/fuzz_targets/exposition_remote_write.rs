//! The remote-write 1.0 and 2.0 decoders never panic and respect their bounds; accepted requests
//! round-trip, and a checked 2.0 request always converts to 1.0.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_exposition::remote::{decode_write_request, encode_write_request, Limits};
use lookout_exposition::remote_v2;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    // Raw input as a snappy body, and the input compressed (to reach the protobuf decoder).
    let _ = decode_write_request(data, limits);
    let _ = remote_v2::decode_request(data, limits);
    let mut body = vec![0; snap::raw::max_compress_len(data.len())];
    let n = snap::raw::Encoder::new()
        .compress(data, &mut body)
        .unwrap_or(0);
    body.truncate(n);
    if let Ok(req) = remote_v2::decode_request(&body, limits) {
        req.to_v1().expect("checked references resolve");
    }
    if let Ok(req) = decode_write_request(&body, limits) {
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        encode_write_request(&req, &mut scratch, &mut out);
        let back = decode_write_request(&out, limits).expect("our own encoding decodes");
        assert_eq!(back.timeseries.len(), req.timeseries.len());
    }
});
