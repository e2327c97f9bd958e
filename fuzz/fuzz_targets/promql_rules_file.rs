//! Loading and validating a rule file never panics, in both compatibility modes; a file that
//! loads can be evaluated once over a small store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_model::MemStorage;
use lookout_promql::engine::{Engine, EngineOptions};
use lookout_promql::rules::{parse_rule_file, GroupOptions, RuleFileOptions, RuleGroup};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > 8192 {
        return;
    }
    for (opts, engine) in [
        (RuleFileOptions::default(), EngineOptions::default()),
        (RuleFileOptions::prometheus2(), EngineOptions::prometheus2()),
    ] {
        match parse_rule_file(text, &opts) {
            Ok(file) => {
                let engine = Engine::new(engine.with_max_samples(10_000));
                let mut db = MemStorage::new();
                if let Ok(ls) = "up{job=\"a\",instance=\"x\"}".parse() {
                    db.append(&ls, 0, 1.0);
                }
                for g in file.groups.into_iter().take(4) {
                    let mut g = RuleGroup::new(g, &GroupOptions::default());
                    g.eval(&engine, &mut db, 0);
                    let _ = g.alerts_to_send(0, 60_000);
                }
            }
            Err(errs) => {
                assert!(!errs.is_empty());
                for e in errs {
                    let _ = e.to_string();
                }
            }
        }
    }
});
