//! A fuzzed rule list applied to a fuzzed label set: compiling never panics, applying never
//! panics, the owned and borrowed entry points agree, and no result holds an empty value.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use lookout_model::Labels;
use lookout_relabel::{Action, Options, RelabelConfig, Relabeler};

const ACTIONS: [Action; 11] = [
    Action::Replace,
    Action::Keep,
    Action::Drop,
    Action::KeepEqual,
    Action::DropEqual,
    Action::HashMod,
    Action::LabelMap,
    Action::LabelDrop,
    Action::LabelKeep,
    Action::Lowercase,
    Action::Uppercase,
];

/// Short strings from a small alphabet that makes names, regexes and templates collide often.
fn text(u: &mut Unstructured<'_>, max: usize) -> Result<String> {
    const PIECES: &[&str] = &[
        "a", "b", "_", "$", "1", "0", "{", "}", "(", ")", ".*", ".+", "|", ";", "é", "\n", "x",
        "__meta_", "job", "?", "[", "]", "\\", "A", "ß",
    ];
    let n = u.int_in_range(0..=max)?;
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(u.choose(PIECES)?);
    }
    Ok(s)
}

fn rule(u: &mut Unstructured<'_>) -> Result<RelabelConfig> {
    let mut c = RelabelConfig::new(*u.choose(&ACTIONS)?);
    let n = u.int_in_range(0..=3)?;
    let mut sources = Vec::new();
    for _ in 0..n {
        sources.push(text(u, 3)?);
    }
    c = c.source_labels(sources);
    if u.arbitrary()? {
        c = c.separator(text(u, 2)?);
    }
    if u.arbitrary()? {
        c = c.regex(text(u, 8)?);
    }
    if u.arbitrary()? {
        c = c.modulus(u.int_in_range(0..=1000)?);
    }
    if u.arbitrary()? {
        c = c.target_label(text(u, 4)?);
    }
    if u.arbitrary()? {
        c = c.replacement(text(u, 6)?);
    }
    Ok(c)
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let n = u.int_in_range(0..=6)?;
    let mut rules = Vec::new();
    for _ in 0..n {
        rules.push(rule(u)?);
    }
    let m = u.int_in_range(0..=8)?;
    let mut pairs = Vec::new();
    for _ in 0..m {
        pairs.push((text(u, 3)?, text(u, 4)?));
    }
    let opts = if u.arbitrary()? {
        Options::PROMETHEUS
    } else {
        Options::PROMETHEUS2
    };
    let Ok(r) = Relabeler::new(&rules, opts) else {
        return Ok(());
    };
    let labels = Labels::from_pairs(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())));
    let owned = r.process(&labels);
    let view: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let borrowed = r.process_view(view.as_slice());
    assert_eq!(owned, borrowed);
    if let Some(out) = &owned {
        assert!(out.iter().all(|l| !l.value.is_empty()));
        let names: Vec<&str> = out.iter().map(|l| l.name).collect();
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "sorted, unique: {names:?}"
        );
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});
