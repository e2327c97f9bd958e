//! Protobuf exposition fixtures: a payload assembled byte by byte from `metrics.proto`'s field
//! numbers (not by our encoder), with a gauge and a histogram carrying classic and native
//! buckets.

use lookout_exposition::proto::{decode_delimited, flatten, MetricFamily};
use lookout_exposition::MetricType;

#[test]
fn hand_assembled_payload_decodes() {
    let data = include_bytes!("data/two-families.bin");
    let fams: Vec<MetricFamily> = decode_delimited(data).collect::<Result<_, _>>().unwrap();
    assert_eq!(fams.len(), 2);

    let up = &fams[0];
    assert_eq!(
        (up.name.as_str(), up.metric_type()),
        ("up", Some(MetricType::Gauge))
    );
    let m = &up.metric[0];
    assert_eq!(m.label[0].name, "job");
    assert_eq!(m.label[0].value, "x");
    assert_eq!(m.gauge.as_ref().unwrap().value, 1.0);
    assert_eq!(m.timestamp_ms, 5);

    let h = &fams[1];
    assert_eq!(h.metric_type(), Some(MetricType::Histogram));
    let hist = h.metric[0].histogram.as_ref().unwrap();
    assert!(hist.is_native());
    assert_eq!((hist.sample_count, hist.sample_sum), (3, 1.5));
    assert_eq!(
        (hist.schema, hist.zero_threshold, hist.zero_count),
        (0, 0.001, 1)
    );
    // Span {offset 0, length 2} with deltas [2, 1]: buckets 0 and 1 hold 2 and 3.
    assert_eq!(hist.native_buckets(true).unwrap(), vec![(0, 2.0), (1, 3.0)]);
    assert!(hist.native_buckets(false).unwrap().is_empty());

    let mut samples = Vec::new();
    flatten(h, |s| samples.push((s.name, s.labels, s.value))).unwrap();
    assert_eq!(
        samples,
        vec![
            ("h_count".to_string(), vec![], 3.0),
            ("h_sum".to_string(), vec![], 1.5),
            ("h_bucket".to_string(), vec![("le", "0.5".to_string())], 2.0),
            (
                "h_bucket".to_string(),
                vec![("le", "+Inf".to_string())],
                3.0
            ),
        ]
    );
}

#[test]
fn truncated_payload_reports_the_offset() {
    let data = include_bytes!("data/two-families.bin");
    let cut = &data[..data.len() - 4];
    let results: Vec<_> = decode_delimited(cut).collect();
    assert!(results[0].is_ok());
    match &results[1] {
        Err(lookout_exposition::Error::Protobuf { offset, .. }) => {
            assert_eq!(*offset, usize::from(data[0]) + 1)
        }
        other => panic!("{other:?}"),
    }
}
