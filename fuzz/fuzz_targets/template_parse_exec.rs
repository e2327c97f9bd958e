//! Template parsing and execution never panic, and stay within their limits on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_template::{Funcs, Template, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(t) = Template::parse("fuzz", text, Funcs::prometheus("http://x")) else {
        return;
    };
    let t = t.max_output(1 << 16);
    let dot = Value::map([
        ("Labels", Value::map([("job", Value::str("api")), ("instance", Value::str("h:1"))])),
        ("Value", Value::Float(1.5)),
        ("Items", Value::list(vec![Value::Int(1), Value::str("x")])),
    ]);
    if let Ok(out) = t.execute(&dot) {
        assert!(out.len() <= (1 << 16) + 4096);
    }
});
