//! Property tests: `keep` and `drop` partition every input, `labelmap` is idempotent when the
//! names it writes cannot match its own regex, and the two entry points agree.

use lookout_model::Labels;
use lookout_relabel::{Action, Options, RelabelConfig, Relabeler};
use proptest::prelude::*;

fn label_set() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop::sample::select(vec![
        "a",
        "b",
        "job",
        "instance",
        "__meta_x",
        "__meta_pod_name",
        "__meta_ns",
        "x_y",
    ]);
    let value = "[a-c;\\-\\.é]{0,6}";
    prop::collection::vec((name.prop_map(str::to_string), value), 0..8)
}

fn regex() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a.*".to_string()),
        Just("(a|b)c?".to_string()),
        Just(".*;.*".to_string()),
        Just("".to_string()),
        Just("[a-c]+".to_string()),
        Just(".*é".to_string()),
        "[abc]{1,3}",
    ]
}

proptest! {
    #[test]
    fn keep_and_drop_partition(pairs in label_set(), re in regex(), two in any::<bool>()) {
        let input = Labels::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let sources: Vec<&str> = if two { vec!["a", "b"] } else { vec!["a"] };
        let rule = |action| {
            Relabeler::new(
                &[RelabelConfig::new(action).source_labels(sources.clone()).regex(re.clone())],
                Options::PROMETHEUS,
            )
            .unwrap()
        };
        let kept = rule(Action::Keep).process(&input);
        let not_dropped = rule(Action::Drop).process(&input);
        prop_assert!(kept.is_some() != not_dropped.is_some());
        for out in kept.iter().chain(not_dropped.iter()) {
            prop_assert_eq!(out, &input);
        }
    }

    #[test]
    fn labelmap_idempotent(pairs in label_set(), suffix in any::<bool>()) {
        let input = Labels::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let replacement = if suffix { "${1}_m" } else { "$1" };
        let r = Relabeler::new(
            &[RelabelConfig::new(Action::LabelMap).regex("__meta_(.+)").replacement(replacement)],
            Options::PROMETHEUS,
        )
        .unwrap();
        let once = r.process(&input).unwrap();
        let twice = r.process(&once).unwrap();
        prop_assert_eq!(&once, &twice);
        // The sources stay.
        for l in input.iter() {
            prop_assert_eq!(once.get(l.name), Some(l.value));
        }
    }

    #[test]
    fn borrowed_and_owned_inputs_agree(pairs in label_set(), re in regex()) {
        let input = Labels::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let r = Relabeler::new(
            &[
                // Leading keep/drop rules run on the packed input in `process` only.
                RelabelConfig::new(Action::Drop).source_labels(["__name__"]).regex("c.*"),
                RelabelConfig::new(Action::Replace).source_labels(["a", "job"]).regex(re.clone()).target_label("t").replacement("$0-$1"),
                RelabelConfig::new(Action::LabelMap).regex("__meta_(.+)"),
                RelabelConfig::new(Action::Uppercase).source_labels(["b"]).target_label("B"),
                RelabelConfig::new(Action::HashMod).source_labels(["instance"]).target_label("h").modulus(3),
                RelabelConfig::new(Action::LabelDrop).regex("__meta_.*"),
            ],
            Options::PROMETHEUS,
        )
        .unwrap();
        // Unsorted input with repeats: the view path sorts and keeps the last of each name.
        let view: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        prop_assert_eq!(r.process(&input), r.process_view(view.as_slice()));
        let empty = Relabeler::new(&[], Options::PROMETHEUS).unwrap();
        prop_assert_eq!(empty.process(&input), Some(input.clone()));
    }

    /// Rules that only touch fixed names take `process`'s keyed path (the packed input is
    /// spliced); `process_view` always works on the whole label list. They must agree.
    #[test]
    fn keyed_and_full_paths_agree(
        pairs in label_set(),
        re in regex(),
        picks in prop::collection::vec(0usize..12, 1..7),
    ) {
        let input = Labels::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let pool = [
            RelabelConfig::new(Action::Replace).source_labels(["a", "job"]).regex(re.clone()).target_label("t").replacement("$0-x"),
            RelabelConfig::new(Action::Replace).source_labels(["b"]).target_label("a"),
            RelabelConfig::new(Action::Replace).source_labels(["x_y"]).target_label("b").replacement(""),
            RelabelConfig::new(Action::Replace).target_label("__meta_ns").replacement("fixed"),
            RelabelConfig::new(Action::Replace).source_labels(["instance"]).target_label("zz"),
            RelabelConfig::new(Action::HashMod).source_labels(["instance"]).target_label("instance").modulus(2),
            RelabelConfig::new(Action::Lowercase).source_labels(["a"]).target_label("job"),
            RelabelConfig::new(Action::Uppercase).source_labels(["b", "a"]).target_label("0"),
            RelabelConfig::new(Action::LabelDrop).regex("a|job|t"),
            RelabelConfig::new(Action::LabelDrop).regex("x_y"),
            RelabelConfig::new(Action::Keep).source_labels(["a"]).regex(re.clone()),
            RelabelConfig::new(Action::DropEqual).source_labels(["a"]).target_label("b"),
        ];
        let rules: Vec<RelabelConfig> = picks.iter().map(|&i| pool[i].clone()).collect();
        let r = Relabeler::new(&rules, Options::PROMETHEUS).unwrap();
        let view: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let keyed = r.process(&input);
        prop_assert_eq!(&keyed, &r.process_view(view.as_slice()));
        if let Some(out) = keyed {
            // Sorted, unique, non-empty: the splice kept the encoding well formed.
            let names: Vec<&str> = out.iter().map(|l| l.name).collect();
            prop_assert!(names.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(out.iter().all(|l| !l.value.is_empty()));
            prop_assert_eq!(Labels::from_pairs(out.iter().map(|l| (l.name, l.value))), out);
        }
    }
}
