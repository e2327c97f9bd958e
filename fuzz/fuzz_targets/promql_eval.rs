//! PromQL evaluation never panics and never runs away: any query that parses is evaluated as an
//! instant and a short range query over a small store, with tight limits; errors are fine.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use lookout_model::{stale_nan, Labels, MemStorage};
use lookout_promql::engine::{Engine, EngineOptions};
use lookout_promql::{parse_with, ParseOptions};

fn store() -> MemStorage {
    let mut db = MemStorage::new();
    let series: [(&str, &[f64]); 5] = [
        (r#"a{l="1",le="0.1"}"#, &[1.0, 2.0, 3.0, f64::NAN, 5.0]),
        (
            r#"a{l="2",le="+Inf"}"#,
            &[4.0, 1.0, f64::INFINITY, 7.0, -2.0],
        ),
        (r#"b{l="1"}"#, &[0.5, 0.5, 0.0, -0.0, 9.0]),
        (r#"b{l="2",x="y"}"#, &[1e300, -1e300, 3.0, 3.0, 3.0]),
        (r#"c_bucket{le="1"}"#, &[1.0, 2.0, 2.0, 1.0, 3.0]),
    ];
    for (s, vals) in series {
        let l: Labels = s.parse().expect("labels");
        for (i, v) in vals.iter().enumerate() {
            db.append(&l, i as i64 * 15_000, *v);
        }
        db.append(&l, 90_000, stale_nan());
    }
    db
}

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    let db = store();
    for (mut opts, popts) in [
        (EngineOptions::default(), ParseOptions::all()),
        (EngineOptions::prometheus2(), ParseOptions::prometheus2()),
    ] {
        let Ok(expr) = parse_with(q, &popts) else {
            continue;
        };
        opts.max_samples = 20_000;
        opts.timeout = Some(Duration::from_secs(2));
        let engine = Engine::new(opts);
        if let Ok(r) = engine.eval_instant(&db, &expr, q, 60_000, None) {
            let _ = r.value.to_json();
        }
        let _ = engine.eval_range(&db, &expr, q, 0, 120_000, 15_000, None);
    }
});
