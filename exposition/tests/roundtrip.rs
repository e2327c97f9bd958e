//! Property tests: what the encoders write, the parsers read back unchanged.

use lookout_exposition::remote::{
    decode_write_request, encode_write_request, Label, Limits, MetricMetadata, Sample, TimeSeries,
    WriteRequest,
};
use lookout_exposition::{Entry, MetricType, Mode, TextEncoder, TextParser};
use proptest::prelude::*;

type Ex = (Vec<(String, String)>, f64, Option<i64>);

#[derive(Debug, Clone)]
struct S {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    ts: Option<i64>,
    exemplar: Option<Ex>,
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}",
        "[a-z.\u{e9}\u{4e16} -]{1,8}",
    ]
}

fn label_name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z_][a-zA-Z0-9_]{0,8}", "[a-z.\u{e9}-]{1,6}"]
        .prop_filter("no reserved or normalised names", |n| {
            n != "__name__" && n != "le" && n != "quantile"
        })
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
    ]
}

fn labels() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::btree_map(label_name(), "[^\u{0}]{0,10}", 0..5)
        .prop_map(|m| m.into_iter().collect())
}

fn sample(om: bool) -> impl Strategy<Value = S> {
    let ts = if om {
        proptest::option::of(-4_000_000_000_000i64..4_000_000_000_000).boxed()
    } else {
        proptest::option::of(0i64..i64::MAX).boxed()
    };
    (
        name(),
        labels(),
        value(),
        ts,
        proptest::option::of((
            labels(),
            value(),
            proptest::option::of(-4_000_000_000_000i64..4_000_000_000_000),
        )),
    )
        .prop_map(move |(name, labels, value, ts, ex)| S {
            name,
            labels,
            value,
            ts,
            exemplar: if om { ex } else { None },
        })
}

fn same_f(a: f64, b: f64) -> bool {
    a == b && a.is_sign_negative() == b.is_sign_negative() || (a.is_nan() && b.is_nan())
}

fn round_trip(samples: &[S], om: bool, help: &str) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    let mut enc = if om {
        TextEncoder::openmetrics(&mut out)
    } else {
        TextEncoder::prometheus(&mut out)
    };
    enc.family("fam", MetricType::Gauge, Some(help), None)
        .unwrap();
    for s in samples {
        let labels: Vec<(&str, &str)> = s
            .labels
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let ex_labels: Vec<(&str, &str)> = s
            .exemplar
            .iter()
            .flat_map(|e| e.0.iter().map(|(a, b)| (a.as_str(), b.as_str())))
            .collect();
        let ex = s
            .exemplar
            .as_ref()
            .map(|e| (ex_labels.as_slice(), e.1, e.2));
        enc.sample(&s.name, &labels, s.value, s.ts, ex).unwrap();
    }
    enc.finish().unwrap();
    let mut p = if om {
        TextParser::openmetrics(&out, Mode::Lenient)
    } else {
        TextParser::prometheus(&out)
    };
    let text = String::from_utf8_lossy(&out).into_owned();
    let mut i = 0;
    let mut saw_help = false;
    while let Some(e) = p
        .next_entry()
        .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?
    {
        match e {
            Entry::Help { help: h, .. } => {
                prop_assert_eq!(h.as_ref(), help);
                saw_help = true;
            }
            Entry::Sample(got) => {
                let want = &samples[i];
                prop_assert_eq!(got.name, want.name.as_str());
                let gl: Vec<(&str, &str)> = got
                    .labels
                    .iter()
                    .map(|(a, b)| (a.as_ref(), b.as_ref()))
                    .collect();
                let wl: Vec<(&str, &str)> = want
                    .labels
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                prop_assert_eq!(gl, wl);
                prop_assert!(
                    same_f(got.value, want.value),
                    "{} vs {}",
                    got.value,
                    want.value
                );
                prop_assert_eq!(got.timestamp, want.ts);
                match (&got.exemplar, &want.exemplar) {
                    (None, None) => {}
                    (Some(g), Some(w)) => {
                        let gl: Vec<(&str, &str)> = g
                            .labels
                            .iter()
                            .map(|(a, b)| (a.as_ref(), b.as_ref()))
                            .collect();
                        let wl: Vec<(&str, &str)> =
                            w.0.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                        prop_assert_eq!(gl, wl);
                        prop_assert!(same_f(g.value, w.1));
                        prop_assert_eq!(g.timestamp, w.2);
                    }
                    _ => prop_assert!(false, "exemplar mismatch"),
                }
                i += 1;
            }
            _ => {}
        }
    }
    prop_assert!(saw_help);
    prop_assert_eq!(i, samples.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn prometheus_text_round_trips(
        samples in proptest::collection::vec(sample(false), 0..6),
        help in "[^\u{0}]{0,12}[a-z]",
    ) {
        round_trip(&samples, false, &help)?;
    }

    #[test]
    fn openmetrics_round_trips(
        samples in proptest::collection::vec(sample(true), 0..6),
        help in "[^\u{0}]{0,12}",
    ) {
        round_trip(&samples, true, &help)?;
    }

    #[test]
    fn remote_write_round_trips(
        series in proptest::collection::vec((labels(), proptest::collection::vec((any::<f64>(), any::<i64>()), 0..4)), 0..5),
        help in ".{0,10}",
    ) {
        let req = WriteRequest {
            timeseries: series.into_iter().map(|(ls, ss)| TimeSeries {
                labels: ls.into_iter().map(|(name, value)| Label { name, value }).collect(),
                samples: ss.into_iter().map(|(value, timestamp)| Sample { value, timestamp }).collect(),
                ..Default::default()
            }).collect(),
            metadata: vec![MetricMetadata { r#type: 1, metric_family_name: "x".into(), help, unit: String::new() }],
        };
        let mut body = Vec::new();
        encode_write_request(&req, &mut Vec::new(), &mut body);
        let back = decode_write_request(&body, Limits::default()).unwrap();
        // Compare through the bits so NaN payloads count as equal. Proto3 omits a zero double,
        // -0.0 included (as Go's generated code does), so -0.0 comes back as 0.0.
        let bits = |v: f64| if v == 0.0 { 0 } else { v.to_bits() };
        prop_assert_eq!(back.timeseries.len(), req.timeseries.len());
        for (a, b) in back.timeseries.iter().zip(&req.timeseries) {
            prop_assert_eq!(&a.labels, &b.labels);
            let av: Vec<(u64, i64)> = a.samples.iter().map(|s| (bits(s.value), s.timestamp)).collect();
            let bv: Vec<(u64, i64)> = b.samples.iter().map(|s| (bits(s.value), s.timestamp)).collect();
            prop_assert_eq!(av, bv);
        }
        prop_assert_eq!(back.metadata, req.metadata);
    }
}
