//! Our own table of good and bad OpenMetrics inputs, one or more per rule of the specification
//! (OpenMetrics 1.0, `specification/OpenMetrics.md`), run through the strict parser.

use lookout_exposition::{Entry, Mode, TextParser};

fn strict_ok(input: &str) -> Result<(), String> {
    let mut p = TextParser::openmetrics(input.as_bytes(), Mode::Strict);
    loop {
        match p.next_entry() {
            Ok(Some(
                Entry::Sample(_) | Entry::Help { .. } | Entry::Type { .. } | Entry::Unit { .. },
            )) => {}
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

const GOOD: &[(&str, &str)] = &[
    ("empty exposition", "# EOF\n"),
    ("EOF without newline", "# EOF"),
    (
        "counter with unit, help, total and created",
        "# TYPE a_seconds counter\n# UNIT a_seconds seconds\n# HELP a_seconds Time.\na_seconds_total 1\na_seconds_created 1520430000.123\n# EOF\n",
    ),
    (
        "histogram",
        "# TYPE h histogram\nh_bucket{le=\"0.1\"} 0\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_count 3\nh_sum 2.5\nh_created 1\n# EOF\n",
    ),
    (
        "histogram without sum and count",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\n# EOF\n",
    ),
    (
        "gaugehistogram with negative buckets and negative gsum",
        "# TYPE g gaugehistogram\ng_bucket{le=\"-1\"} 1\ng_bucket{le=\"+Inf\"} 2\ng_gcount 2\ng_gsum -3\n# EOF\n",
    ),
    (
        "stateset",
        "# TYPE s stateset\ns{s=\"a\"} 1\ns{s=\"b\"} 0\n# EOF\n",
    ),
    ("info", "# TYPE i info\ni_info{version=\"1.2\"} 1\n# EOF\n"),
    (
        "summary",
        "# TYPE q summary\nq{quantile=\"0\"} 1\nq{quantile=\"0.5\"} 2\nq{quantile=\"1\"} 3\nq_sum 6\nq_count 3\n# EOF\n",
    ),
    ("unknown by default", "x 1\n# EOF\n"),
    ("gauge", "# TYPE g gauge\ng{a=\"b\"} -1.5\ng{a=\"c\"} NaN\n# EOF\n"),
    (
        "exemplar on a counter total",
        "# TYPE c counter\nc_total 1 # {trace_id=\"abc\"} 1 1520879607.789\n# EOF\n",
    ),
    (
        "exemplar of exactly 128 code points",
        concat!(
            "# TYPE c counter\nc_total 1 # {t=\"",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "é\"} 1\n# EOF\n"
        ),
    ),
    (
        "exemplar inside its bucket",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {} 0.5\nh_bucket{le=\"+Inf\"} 1 # {} 7\n# EOF\n",
    ),
    (
        "repeated point with increasing timestamps",
        "# TYPE g gauge\ng 1 1\ng 2 2\n# EOF\n",
    ),
    ("families one after another", "a 1\nb 1\n# EOF\n"),
];

const BAD: &[(&str, &str)] = &[
    ("missing EOF", "a 1\n"),
    ("data after EOF", "# EOF\na 1\n"),
    ("untyped is not an OpenMetrics type", "# TYPE a untyped\n# EOF\n"),
    ("tab separator", "a\t1\n# EOF\n"),
    ("counter sample without _total", "# TYPE a counter\na 1\n# EOF\n"),
    ("negative counter total", "# TYPE a counter\na_total -1\n# EOF\n"),
    ("histogram without +Inf bucket", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n# EOF\n"),
    (
        "unsorted buckets",
        "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n# EOF\n",
    ),
    (
        "non-cumulative buckets",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n# EOF\n",
    ),
    (
        "count differs from +Inf bucket",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\nh_sum 1\n# EOF\n",
    ),
    ("count without sum", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n# EOF\n"),
    (
        "negative buckets with a sum",
        "# TYPE h histogram\nh_bucket{le=\"-1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum -2\n# EOF\n",
    ),
    ("fractional bucket count", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1.5\n# EOF\n"),
    ("NaN le", "# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\nh_bucket{le=\"+Inf\"} 1\n# EOF\n"),
    ("le on _sum", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum{le=\"1\"} 1\n# EOF\n"),
    ("interleaved families", "a 1\nb 1\na 2\n# EOF\n"),
    (
        "interleaved metrics",
        "# TYPE g gauge\ng{x=\"1\"} 1\ng{x=\"2\"} 1\ng{x=\"1\"} 1\n# EOF\n",
    ),
    (
        "family name clashes with another family's sample",
        "# TYPE foo counter\nfoo_total 1\n# TYPE foo_created gauge\nfoo_created 1\n# EOF\n",
    ),
    ("metadata after samples", "# TYPE a gauge\na 1\n# HELP a late\n# EOF\n"),
    ("two HELP lines", "# HELP a x\n# HELP a y\n# EOF\n"),
    ("two TYPE lines", "# TYPE a gauge\n# TYPE a gauge\n# EOF\n"),
    ("unit on an info family", "# TYPE i_bytes info\n# UNIT i_bytes bytes\n# EOF\n"),
    ("unit that is not a suffix", "# UNIT a seconds\n# EOF\n"),
    ("exemplar on a gauge", "# TYPE g gauge\ng 1 # {a=\"b\"} 1\n# EOF\n"),
    (
        "exemplar over 128 code points",
        concat!(
            "# TYPE c counter\nc_total 1 # {t=\"",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "é\"} 1\n# EOF\n"
        ),
    ),
    (
        "exemplar outside its bucket",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {} 5\nh_bucket{le=\"+Inf\"} 1\n# EOF\n",
    ),
    ("info value other than 1", "# TYPE i info\ni_info 2\n# EOF\n"),
    ("info sample without _info", "# TYPE i info\ni 1\n# EOF\n"),
    ("stateset value other than 0 or 1", "# TYPE s stateset\ns{s=\"a\"} 0.5\n# EOF\n"),
    ("stateset without its state label", "# TYPE s stateset\ns{x=\"a\"} 1\n# EOF\n"),
    ("quantile above 1", "# TYPE q summary\nq{quantile=\"1.5\"} 1\n# EOF\n"),
    ("negative summary sum", "# TYPE q summary\nq_sum -1\nq_count 1\n# EOF\n"),
    ("fractional summary count", "# TYPE q summary\nq_sum 1\nq_count 1.5\n# EOF\n"),
    ("repeated point without timestamps", "# TYPE g gauge\ng 1\ng 2\n# EOF\n"),
    ("repeated point with decreasing timestamps", "# TYPE g gauge\ng 1 2\ng 2 1\n# EOF\n"),
    ("reserved label name", "a{__x=\"1\"} 1\n# EOF\n"),
    ("quoted UTF-8 metric name", "{\"a.b\"} 1\n# EOF\n"),
    ("NaN timestamp", "a 1 NaN\n# EOF\n"),
];

#[test]
fn strict_openmetrics_table() {
    let (mut passed, mut failed) = (0, 0);
    for (name, input) in GOOD {
        match strict_ok(input) {
            Ok(()) => passed += 1,
            Err(e) => {
                failed += 1;
                eprintln!("FAIL good case {name:?} rejected: {e}");
            }
        }
    }
    for (name, input) in BAD {
        match strict_ok(input) {
            Err(_) => passed += 1,
            Ok(()) => {
                failed += 1;
                eprintln!("FAIL bad case {name:?} accepted");
            }
        }
    }
    println!("strict OpenMetrics table: {passed} passed, {failed} failed, 0 skipped");
    assert_eq!(failed, 0);
}

#[test]
fn lenient_accepts_what_strict_rejects_semantically() {
    // Prometheus' parser does not check family semantics: these parse in lenient mode.
    for input in [
        "# TYPE a counter\na 1\n# EOF\n",
        "a 1\nb 1\na 2\n# EOF\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n# EOF\n",
    ] {
        let mut p = TextParser::openmetrics(input.as_bytes(), Mode::Lenient);
        while p.next_entry().unwrap().is_some() {}
    }
}

#[test]
fn strict_errors_point_at_the_line_and_resume_after_it() {
    let input = "# TYPE g gauge\ng 1\ng 2\nh 3\n# EOF\n";
    let mut p = TextParser::openmetrics(input.as_bytes(), Mode::Strict);
    let mut names = Vec::new();
    let mut errors = Vec::new();
    loop {
        match p.next_entry() {
            Ok(None) => break,
            Ok(Some(Entry::Sample(s))) => names.push(s.name.to_string()),
            Ok(Some(_)) => {}
            Err(lookout_exposition::Error::Text { line, column, .. }) => {
                errors.push((line, column))
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(errors, vec![(3, 1)]);
    assert_eq!(names, vec!["g", "h"]);
}
