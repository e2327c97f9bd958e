//! A table of valid and invalid expressions. Printed forms come from Prometheus' printer tests
//! (`printer_test.go`) and documentation; error texts are the messages Prometheus' parser emits
//! (`parse.go`, `generated_parser.y`, `lex.go`), matched as substrings.

use lookout_promql::{parse_with, Expr, ParseOptions};

/// A fully parenthesised rendering of the tree, to check precedence and associativity.
fn sexpr(e: &Expr) -> String {
    match e {
        Expr::Binary(b) => format!("({} {} {})", b.op.as_str(), sexpr(&b.lhs), sexpr(&b.rhs)),
        Expr::Unary(u) => format!("(neg {})", sexpr(&u.expr)),
        Expr::Paren(p) => format!("[{}]", sexpr(&p.expr)),
        other => other.to_string(),
    }
}

fn all() -> ParseOptions {
    ParseOptions::all()
}

/// `(input, expected canonical text)`, parsed with all options on.
pub(crate) const PRINTS: &[(&str, &str)] = &[
    // printer_test.go TestExprString.
    (
        r#"sum by() (task:errors:rate10s{job="s"})"#,
        r#"sum(task:errors:rate10s{job="s"})"#,
    ),
    (
        r#"sum by(code) (task:errors:rate10s{job="s"})"#,
        r#"sum by (code) (task:errors:rate10s{job="s"})"#,
    ),
    (
        r#"sum without() (task:errors:rate10s{job="s"})"#,
        r#"sum without () (task:errors:rate10s{job="s"})"#,
    ),
    (
        r#"sum without(instance) (task:errors:rate10s{job="s"})"#,
        r#"sum without (instance) (task:errors:rate10s{job="s"})"#,
    ),
    (
        r#"sum by("foo.bar") (task:errors:rate10s{job="s"})"#,
        r#"sum by ("foo.bar") (task:errors:rate10s{job="s"})"#,
    ),
    (
        r#"sum without("foo.bar") (task:errors:rate10s{job="s"})"#,
        r#"sum without ("foo.bar") (task:errors:rate10s{job="s"})"#,
    ),
    (
        r#"topk(5, task:errors:rate10s{job="s"})"#,
        r#"topk(5, task:errors:rate10s{job="s"})"#,
    ),
    (
        r#"count_values("value", task:errors:rate10s{job="s"})"#,
        r#"count_values("value", task:errors:rate10s{job="s"})"#,
    ),
    ("a - on() c", "a - on () c"),
    ("a - on(b) c", "a - on (b) c"),
    ("a - on(b) group_left(x) c", "a - on (b) group_left (x) c"),
    (
        "a - on(b) group_left(x, y) c",
        "a - on (b) group_left (x, y) c",
    ),
    ("a - on(b) group_left c", "a - on (b) group_left () c"),
    ("a - on(b) group_left() (c)", "a - on (b) group_left () (c)"),
    ("a - ignoring(b) c", "a - ignoring (b) c"),
    ("a - ignoring() c", "a - c"),
    (
        "a - ignoring() group_left(__metric__) c",
        "a - ignoring () group_left (__metric__) c",
    ),
    (
        "a - ignoring() group_left c",
        "a - ignoring () group_left () c",
    ),
    ("a + fill(-23) b", "a + fill (-23) b"),
    ("a + fill_left(-23) b", "a + fill_left (-23) b"),
    ("a + fill_right(42) b", "a + fill_right (42) b"),
    (
        "a + fill_left(-23) fill_right(42) b",
        "a + fill_left (-23) fill_right (42) b",
    ),
    (
        "a + on(b) group_left fill(-23) c",
        "a + on (b) group_left () fill (-23) c",
    ),
    ("up > bool 0", "up > bool 0"),
    ("a offset 1m", "a offset 1m"),
    ("a offset -7m", "a offset -7m"),
    (r#"a{c="d"}[5m] offset 1m"#, r#"a{c="d"}[5m] offset 1m"#),
    ("a[5m] offset 1m", "a[5m] offset 1m"),
    ("a[12m] offset -3m", "a[12m] offset -3m"),
    ("a[1h:5m] offset 1m", "a[1h:5m] offset 1m"),
    ("a anchored", "a anchored"),
    ("a[5m] anchored", "a[5m] anchored"),
    (r#"a{b="c"}[5m] anchored"#, r#"a{b="c"}[5m] anchored"#),
    (
        r#"a{b="c"}[5m] anchored offset 1m"#,
        r#"a{b="c"}[5m] anchored offset 1m"#,
    ),
    (
        r#"a{b="c"}[5m] anchored @ start() offset 1m"#,
        r#"a{b="c"}[5m] anchored @ start() offset 1m"#,
    ),
    ("a smoothed", "a smoothed"),
    ("a[5m] smoothed", "a[5m] smoothed"),
    (
        r#"a{b="c"}[5m] smoothed @ start() offset 1m"#,
        r#"a{b="c"}[5m] smoothed @ start() offset 1m"#,
    ),
    (r#"{__name__="a"}"#, r#"{__name__="a"}"#),
    (r#"a{b!="c"}[1m]"#, r#"a{b!="c"}[1m]"#),
    (r#"a{b=~"c"}[1m]"#, r#"a{b=~"c"}[1m]"#),
    (r#"a{b!~"c"}[1m]"#, r#"a{b!~"c"}[1m]"#),
    ("a @ 10", "a @ 10.000"),
    ("a[1m] @ 10", "a[1m] @ 10.000"),
    ("a @ start()", "a @ start()"),
    ("a @ end()", "a @ end()"),
    ("a[1m] @ start()", "a[1m] @ start()"),
    ("a[1m] @ end()", "a[1m] @ end()"),
    (r#"{__name__="",a="x"}"#, r#"{__name__="",a="x"}"#),
    (r#"{"a.b"="c"}"#, r#"{"a.b"="c"}"#),
    (r#"{"0"="1"}"#, r#"{"0"="1"}"#),
    (r#"{"_0"="1"}"#, r#"{_0="1"}"#),
    (r#"{""="0"}"#, r#"{""="0"}"#),
    ("{``=\"0\"}", r#"{""="0"}"#),
    ("1048576", "1048576"),
    ("foo[step()]", "foo[step()]"),
    ("foo[-step()]", "foo[-step()]"),
    ("foo[(step())]", "foo[(step())]"),
    ("foo[-(step())]", "foo[-(step())]"),
    ("foo offset step()", "foo offset step()"),
    ("foo offset -step()", "foo offset -step()"),
    ("foo offset (step())", "foo offset (step())"),
    ("foo offset -(step())", "foo offset -(step())"),
    ("foo offset +(5*2)", "foo offset (5 * 2)"),
    ("foo[range()]", "foo[range()]"),
    ("foo[-range()]", "foo[-range()]"),
    ("foo offset range()", "foo offset range()"),
    ("foo offset -range()", "foo offset -range()"),
    (
        "predict_linear(foo[1h], 3000)",
        "predict_linear(foo[1h], 3000)",
    ),
    (r#"sum by("üüü") (foo)"#, r#"sum by ("üüü") (foo)"#),
    (
        r#"sum without("äää") (foo)"#,
        r#"sum without ("äää") (foo)"#,
    ),
    (
        r#"count by("ööö", job) (foo)"#,
        r#"count by ("ööö", job) (foo)"#,
    ),
    // printer_test.go TestBinaryExprUTF8Labels.
    (r#"foo / on("äää") bar"#, r#"foo / on ("äää") bar"#),
    (
        r#"foo / ignoring("üüü") bar"#,
        r#"foo / ignoring ("üüü") bar"#,
    ),
    (
        r#"foo / on("äää") group_left("ööö") bar"#,
        r#"foo / on ("äää") group_left ("ööö") bar"#,
    ),
    (
        r#"foo / on("äää") group_right("ööö") bar"#,
        r#"foo / on ("äää") group_right ("ööö") bar"#,
    ),
    (
        r#"foo / on(legacy, "üüü") bar"#,
        r#"foo / on (legacy, "üüü") bar"#,
    ),
    (
        "foo / on(job, instance) bar",
        "foo / on (job, instance) bar",
    ),
    // printer_test.go BenchmarkExprString: matchers are sorted.
    (
        r#"sum by (pod) ((kube_pod_container_status_restarts_total{namespace="mynamespace",cluster="mycluster"} - kube_pod_container_status_restarts_total{namespace="mynamespace}",cluster="mycluster}"} offset 10m) >= 1 and ignoring (reason) min_over_time(kube_pod_container_status_last_terminated_reason{namespace="mynamespace",cluster="mycluster",reason="OOMKilled"}[10m]) == 1)"#,
        r#"sum by (pod) ((kube_pod_container_status_restarts_total{cluster="mycluster",namespace="mynamespace"} - kube_pod_container_status_restarts_total{cluster="mycluster}",namespace="mynamespace}"} offset 10m) >= 1 and ignoring (reason) min_over_time(kube_pod_container_status_last_terminated_reason{cluster="mycluster",namespace="mynamespace",reason="OOMKilled"}[10m]) == 1)"#,
    ),
    (
        r#"label_replace(testmetric, "dst", "destination-value-$1", "src", "source-value-(.*)")"#,
        r#"label_replace(testmetric, "dst", "destination-value-$1", "src", "source-value-(.*)")"#,
    ),
    // Number literals (parse_test.go values, printed with strconv 'f' -1).
    ("1", "1"),
    ("+Inf", "+Inf"),
    ("-Inf", "-Inf"),
    ("NaN", "NaN"),
    ("nAn", "NaN"),
    ("iNf", "+Inf"),
    (".5", "0.5"),
    ("5.", "5"),
    ("123.4567", "123.4567"),
    ("5e-3", "0.005"),
    ("5e3", "5000"),
    ("0xc", "12"),
    ("0755", "493"),
    ("+5.5e-3", "0.0055"),
    ("-0755", "-493"),
    ("1_000", "1000"),
    ("1_000.5", "1000.5"),
    ("0x_1f", "31"),
    ("1e1_0", "10000000000"),
    ("1_0e1_0", "100000000000"),
    ("0x1_f", "31"),
    ("- -1", "1"),
    ("-(1)", "-(1)"),
    // Durations as numbers.
    ("5m", "5m"),
    ("1h30m", "1h30m"),
    ("-5m", "-5m"),
    ("90s", "1m30s"),
    ("100ms", "100ms"),
    ("1d", "1d"),
    ("1w", "1w"),
    ("1y", "1y"),
    ("5m + 1", "5m + 1"),
    ("time() - 1h", "time() - 1h"),
    // Strings.
    (
        r#""double-quoted string \" with escaped quote""#,
        r#""double-quoted string \" with escaped quote""#,
    ),
    (
        r#"'single-quoted string \' with escaped quote'"#,
        r#""single-quoted string ' with escaped quote""#,
    ),
    ("`backtick-quoted string`", r#""backtick-quoted string""#),
    (
        r#""\a\b\f\n\r\t\v\\\" - \xFF\377\u1234\U00010111\U0001011111☺""#,
        "\"\\a\\b\\f\\n\\r\\t\\v\\\\\\\" - \u{fffd}\u{fffd}\u{1234}\u{10111}\u{10111}11☺\"",
    ),
    (
        r#"'\a\b\f\n\r\t\v\\\' - \xFF\377\u1234\U00010111\U0001011111☺'"#,
        "\"\\a\\b\\f\\n\\r\\t\\v\\\\' - \u{fffd}\u{fffd}\u{1234}\u{10111}\u{10111}11☺\"",
    ),
    (
        "`\\a\\b\\f\\n\\r\\t\\v\\\\\\\"\\' - \\xFF\\377\\u1234\\U00010111\\U0001011111☺`",
        r#""\\a\\b\\f\\n\\r\\t\\v\\\\\\\"\\' - \\xFF\\377\\u1234\\U00010111\\U0001011111☺""#,
    ),
    // Selectors.
    ("foo", "foo"),
    ("min", "min"),
    ("foo offset 5m", "foo offset 5m"),
    ("foo offset -7m", "foo offset -7m"),
    ("foo OFFSET 1h30m", "foo offset 1h30m"),
    ("foo OFFSET 1m30ms", "foo offset 1m30ms"),
    ("foo @ 1603774568", "foo @ 1603774568.000"),
    ("foo @ -100", "foo @ -100.000"),
    ("foo @ .3", "foo @ 0.300"),
    ("foo @ 3.", "foo @ 3.000"),
    ("foo @ 3.33", "foo @ 3.330"),
    ("foo @ 3.3333", "foo @ 3.333"),
    ("foo @ 3.3335", "foo @ 3.334"),
    ("foo @ 3e2", "foo @ 300.000"),
    ("foo @ 3e-1", "foo @ 0.300"),
    ("foo @ 0xA", "foo @ 10.000"),
    ("foo @ -3.3e1", "foo @ -33.000"),
    ("foo @ 10m", "foo @ 600.000"),
    ("foo offset 5m @ 10", "foo @ 10.000 offset 5m"),
    (r#"foo:bar{a="bc"}"#, r#"foo:bar{a="bc"}"#),
    (r#"foo{NaN='bc'}"#, r#"foo{NaN="bc"}"#),
    (r#"foo{bar='}'}"#, r#"foo{bar="}"}"#),
    (
        r#"foo{a="b", foo!="bar", test=~"test", bar!~"baz"}"#,
        r#"foo{a="b",bar!~"baz",foo!="bar",test=~"test"}"#,
    ),
    (
        r#"foo{a="b", foo!="bar", test=~"test", bar!~"baz",}"#,
        r#"foo{a="b",bar!~"baz",foo!="bar",test=~"test"}"#,
    ),
    (r#"{"foo"}"#, r#"{__name__="foo"}"#),
    (r#"{"foo", a="bc"}"#, r#"{__name__="foo",a="bc"}"#),
    (
        r#"{'foo\'bar', "a\\dos\\path"="bc"}"#,
        r#"{"a\\dos\\path"="bc",__name__="foo'bar"}"#,
    ),
    (
        r#"{"http.status_code"="200"}"#,
        r#"{"http.status_code"="200"}"#,
    ),
    (
        r#"test{a="b"}[5y] OFFSET 3d"#,
        r#"test{a="b"}[5y] offset 3d"#,
    ),
    (
        r#"test{a="b"}[5m] OFFSET 3600"#,
        r#"test{a="b"}[5m] offset 1h"#,
    ),
    ("test[5s]", "test[5s]"),
    ("test[5m]", "test[5m]"),
    ("test[5m30s]", "test[5m30s]"),
    ("test[5h] OFFSET 5m", "test[5h] offset 5m"),
    ("test[5d] OFFSET 10s", "test[5d] offset 10s"),
    ("test[5w] offset 2w", "test[5w] offset 2w"),
    ("test[1800]", "test[30m]"),
    ("test[1m30s]", "test[1m30s]"),
    ("test:name[5m]", "test:name[5m]"),
    ("foo[10m:6s]", "foo[10m:6s]"),
    ("foo[10m:]", "foo[10m:]"),
    (
        "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:5s])",
        "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:5s])",
    ),
    (
        "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:])[4m:3s]",
        "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:])[4m:3s]",
    ),
    (
        "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:] offset 4m)[4m:3s]",
        "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:] offset 4m)[4m:3s]",
    ),
    (
        "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:] @ 1603775091)[4m:3s]",
        "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:] @ 1603775091.000)[4m:3s]",
    ),
    (
        "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:] @ -160377509)[4m:3s]",
        "min_over_time(rate(foo{bar=\"baz\"}[2s])[5m:] @ -160377509.000)[4m:3s]",
    ),
    (
        "sum without(and, by, avg, count, alert, annotations)(some_metric) [30m:10s]",
        "sum without (and, by, avg, count, alert, annotations) (some_metric)[30m:10s]",
    ),
    (
        "some_metric OFFSET 1m [10m:5s]",
        "some_metric offset 1m[10m:5s]",
    ),
    (
        "some_metric @ 123 [10m:5s]",
        "some_metric @ 123.000[10m:5s]",
    ),
    (
        "(foo + bar{nm=\"val\"})[5m:]",
        "(foo + bar{nm=\"val\"})[5m:]",
    ),
    (
        "(foo + bar{nm=\"val\"})[5m:] offset 10m",
        "(foo + bar{nm=\"val\"})[5m:] offset 10m",
    ),
    (
        "(foo + bar{nm=\"val\"} @ 1234)[5m:] @ 1603775019",
        "(foo + bar{nm=\"val\"} @ 1234.000)[5m:] @ 1603775019.000",
    ),
    // Aggregations.
    ("sum by (foo)(some_metric)", "sum by (foo) (some_metric)"),
    ("avg by (foo)(some_metric)", "avg by (foo) (some_metric)"),
    ("max by (foo)(some_metric)", "max by (foo) (some_metric)"),
    (
        "sum without (foo) (some_metric)",
        "sum without (foo) (some_metric)",
    ),
    (
        "sum (some_metric) without (foo)",
        "sum without (foo) (some_metric)",
    ),
    ("stddev(some_metric)", "stddev(some_metric)"),
    (
        "stdvar by (foo)(some_metric)",
        "stdvar by (foo) (some_metric)",
    ),
    ("sum by ()(some_metric)", "sum(some_metric)"),
    (
        "sum by (foo,bar,)(some_metric)",
        "sum by (foo, bar) (some_metric)",
    ),
    ("sum by (foo,)(some_metric)", "sum by (foo) (some_metric)"),
    ("topk(5, some_metric)", "topk(5, some_metric)"),
    (
        "count_values(\"value\", some_metric)",
        "count_values(\"value\", some_metric)",
    ),
    (
        "sum without(and, by, avg, count, alert, annotations)(some_metric)",
        "sum without (and, by, avg, count, alert, annotations) (some_metric)",
    ),
    ("sum(sum)", "sum(sum)"),
    (
        "SUM BY (group) (http_requests{job=\"api-server\"})",
        "sum by (group) (http_requests{job=\"api-server\"})",
    ),
    ("quantile(0.9, x) by (le)", "quantile by (le) (0.9, x)"),
    ("limitk(2, x)", "limitk(2, x)"),
    ("limit_ratio(0.5, x)", "limit_ratio(0.5, x)"),
    ("group without (a) (x)", "group without (a) (x)"),
    ("bottomk by (a) (3, x)", "bottomk by (a) (3, x)"),
    // Functions.
    ("time()", "time()"),
    (
        "floor(some_metric{foo!=\"bar\"})",
        "floor(some_metric{foo!=\"bar\"})",
    ),
    ("rate(some_metric[5m])", "rate(some_metric[5m])"),
    ("round(some_metric)", "round(some_metric)"),
    ("round(some_metric, 5)", "round(some_metric, 5)"),
    (
        "label_join(x, \"dst\", \",\", \"a\", \"b\")",
        "label_join(x, \"dst\", \",\", \"a\", \"b\")",
    ),
    ("hour()", "hour()"),
    ("vector(1)", "vector(1)"),
    ("absent_over_time(x[5m])", "absent_over_time(x[5m])"),
    (
        "histogram_quantile(0.9, rate(x_bucket[5m]))",
        "histogram_quantile(0.9, rate(x_bucket[5m]))",
    ),
    ("clamp(x, 0, 1)", "clamp(x, 0, 1)"),
    (
        "sort_by_label(x, \"a\", \"b\")",
        "sort_by_label(x, \"a\", \"b\")",
    ),
    ("info(x, {k=\"v\"})", "info(x, {k=\"v\"})"),
    ("info(x)", "info(x)"),
    (
        "double_exponential_smoothing(x[5m], 0.5, 0.5)",
        "double_exponential_smoothing(x[5m], 0.5, 0.5)",
    ),
    (
        "holt_winters(x[5m], 0.5, 0.5)",
        "holt_winters(x[5m], 0.5, 0.5)",
    ),
    // Binary operators.
    ("1 + 1", "1 + 1"),
    ("1 == bool 1", "1 == bool 1"),
    ("foo * bar", "foo * bar"),
    ("foo == 1", "foo == 1"),
    ("foo == bool 1", "foo == bool 1"),
    ("2.5 / bar", "2.5 / bar"),
    ("foo and bar", "foo and bar"),
    ("foo or bar", "foo or bar"),
    ("foo unless bar", "foo unless bar"),
    ("foo AND bar", "foo and bar"),
    ("foo atan2 bar", "foo atan2 bar"),
    ("foo * on(test,blub) bar", "foo * on (test, blub) bar"),
    (
        "foo * on(test,blub) group_left bar",
        "foo * on (test, blub) group_left () bar",
    ),
    ("foo and on(test,blub) bar", "foo and on (test, blub) bar"),
    ("foo and on() bar", "foo and on () bar"),
    (
        "foo and ignoring(test,blub) bar",
        "foo and ignoring (test, blub) bar",
    ),
    ("foo and ignoring() bar", "foo and bar"),
    ("foo unless on(bar) baz", "foo unless on (bar) baz"),
    (
        "foo / on(test,blub) group_left(bar) bar",
        "foo / on (test, blub) group_left (bar) bar",
    ),
    (
        "foo / ignoring(test,blub) group_left(blub) bar",
        "foo / ignoring (test, blub) group_left (blub) bar",
    ),
    (
        "foo - on(test,blub) group_right(bar,foo) bar",
        "foo - on (test, blub) group_right (bar, foo) bar",
    ),
    (
        "foo - ignoring(test,blub) group_right(bar,foo) bar",
        "foo - ignoring (test, blub) group_right (bar, foo) bar",
    ),
    ("1 < bool 2 - 1 * 2", "1 < bool 2 - 1 * 2"),
    ("-some_metric", "-some_metric"),
    ("+some_metric", "+some_metric"),
    ("h </ 0.5", "h </ 0.5"),
    ("h >/ 0.5", "h >/ 0.5"),
    // Comments.
    ("#comment\nfoo", "foo"),
    ("foo # comment", "foo"),
    ("foo{a=\"b\" # c\n}", "foo{a=\"b\"}"),
    // Duration expressions.
    ("foo[5m+1m]", "foo[5m + 1m]"),
    ("foo[5m:1m*2]", "foo[5m:1m * 2]"),
    ("foo offset (1m + 1m)", "foo offset (1m + 1m)"),
    ("foo[min_of(step(), 5m)]", "foo[min_of(step(), 5m)]"),
    ("foo offset max_of(1s, 2s)", "foo offset max_of(1s, 2s)"),
    ("foo[1h/2]", "foo[1h / 2]"),
    ("foo[2^3]", "foo[2 ^ 3]"),
    ("foo[(5m)]", "foo[(5m)]"),
];

/// `(input, expected error substring)`, parsed with all options on.
pub(crate) const ERRORS: &[(&str, &str)] = &[
    ("", "no expression found in input"),
    ("# just a comment\n\n", "no expression found in input"),
    ("1+", "unexpected end of input"),
    (".", "unexpected character: '.'"),
    ("2.5.", "bad number or duration syntax: \"2.5.\""),
    ("100..4", "bad number or duration syntax: \"100..\""),
    ("0deadbeef", "bad number or duration syntax: \"0de\""),
    ("1 /", "unexpected end of input"),
    ("*1", "unexpected <op:*>"),
    ("(1))", "unexpected right parenthesis ')'"),
    ("((1)", "unclosed left parenthesis"),
    ("(", "unclosed left parenthesis"),
    ("1 and 1", "set operator \"and\" not allowed in binary scalar expression"),
    ("1 == 1", "comparisons between scalars must use BOOL modifier"),
    ("1 or 1", "set operator \"or\" not allowed in binary scalar expression"),
    ("1 unless 1", "set operator \"unless\" not allowed in binary scalar expression"),
    ("-\"string\"", "unary expression only allowed on expressions of type scalar or instant vector, got \"string\""),
    ("-test[5m]", "unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\""),
    ("*test", "unexpected <op:*>"),
    ("1 offset 1d", "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
    ("foo offset 1s offset 2s", "offset may not be set multiple times"),
    ("a - on(b) ignoring(c) d", "unexpected <ignoring>"),
    ("foo and 1", "set operator \"and\" not allowed in binary scalar expression"),
    ("1 and foo", "set operator \"and\" not allowed in binary scalar expression"),
    ("foo or 1", "set operator \"or\" not allowed in binary scalar expression"),
    ("foo unless 1", "set operator \"unless\" not allowed in binary scalar expression"),
    ("1 or on(bar) foo", "vector matching only allowed between instant vectors"),
    ("foo == on(bar) 10", "vector matching only allowed between instant vectors"),
    ("foo + group_left(baz) bar", "unexpected <group_left>"),
    ("foo and on(bar) group_left(baz) bar", "no grouping allowed for \"and\" operation"),
    ("foo and on(bar) group_right(baz) bar", "no grouping allowed for \"and\" operation"),
    ("foo or on(bar) group_left(baz) bar", "no grouping allowed for \"or\" operation"),
    ("foo unless on(bar) group_left(baz) bar", "no grouping allowed for \"unless\" operation"),
    ("http_requests{group=\"production\"} + on(instance) group_left(job,instance) cpu_count{type=\"smp\"}", "label \"instance\" must not occur in ON and GROUP clause at once"),
    ("foo + bool bar", "bool modifier can only be used on comparison operators"),
    ("foo + bool 10", "bool modifier can only be used on comparison operators"),
    ("foo and bool 10", "bool modifier can only be used on comparison operators"),
    ("{", "unexpected end of input inside braces"),
    ("}", "unexpected \"}\""),
    ("some{", "unexpected end of input inside braces"),
    ("some}", "unexpected \"}\""),
    ("some_metric{a=b}", "unexpected identifier \"b\" in label matching, expected string"),
    ("some_metric{a:b=\"b\"}", "unexpected character inside braces: ':'"),
    ("foo{a*\"b\"}", "unexpected <op:*> in label matching, expected label matching operator"),
    ("foo{a>=\"b\"}", "unexpected <op:>=> in label matching, expected label matching operator"),
    ("foo{gibberish}", "unexpected \"}\" in label matching, expected label matching operator"),
    ("foo{1}", "unexpected number \"1\" in label matching, expected identifier or \"}\""),
    ("{}", "vector selector must contain at least one non-empty matcher"),
    ("{x=\"\"}", "vector selector must contain at least one non-empty matcher"),
    ("{x=~\".*\"}", "vector selector must contain at least one non-empty matcher"),
    ("{x!~\".+\"}", "vector selector must contain at least one non-empty matcher"),
    ("{x!=\"a\"}", "vector selector must contain at least one non-empty matcher"),
    ("foo{__name__=\"bar\"}", "metric name must not be set twice: \"foo\" or \"bar\""),
    ("foo{__name__= =}", "unexpected \"=\" in label matching, expected string"),
    ("foo{,}", "unexpected \",\" in label matching, expected identifier or \"}\""),
    ("foo{__name__ == \"bar\"}", "unexpected \"=\" in label matching, expected string"),
    ("foo{__name__=\"bar\" lol}", "unexpected identifier \"lol\" in label matching, expected \",\" or \"}\""),
    ("foo{x=~\"a(\"}", "invalid regex \"a(\""),
    ("foo[5mm]", "bad number or duration syntax: \"5mm\""),
    ("foo[5m1]", "bad number or duration syntax: \"5m1\""),
    ("foo[5m:1m1]", "bad number or duration syntax: \"1m1\""),
    ("foo[5y1hs]", "not a valid duration string: \"5y1hs\""),
    ("foo[5m1h]", "not a valid duration string: \"5m1h\""),
    ("foo[5m1m]", "not a valid duration string: \"5m1m\""),
    ("foo[0m]", "duration must be greater than 0"),
    ("foo[\"5m\"]", "unexpected character in duration expression"),
    ("foo[]", "unexpected \"]\" in subquery or range selector, expected number, duration, step(), or range()"),
    ("foo[-1]", "duration must be greater than 0"),
    ("some_metric[5m] OFFSET 1mm", "bad number or duration syntax: \"1mm\""),
    ("some_metric[5m] OFFSET", "unexpected end of input in offset, expected number, duration, step(), or range()"),
    ("some_metric OFFSET 1m[5m]", "no offset modifiers allowed before range"),
    ("some_metric @ 123 [5m]", "no @ modifiers allowed before range"),
    ("(foo + bar)[5m]", "ranges only allowed for vector selectors"),
    ("sum by (a:b) (x)", "invalid label name for grouping: \"a:b\""),
    ("sum by (\"\") (x)", "invalid label name for grouping: \"\""),
    ("sum without(==)(some_metric)", "unexpected <op:==> in grouping opts, expected label"),
    ("sum without(,)(some_metric)", "unexpected \",\" in grouping opts, expected label"),
    ("sum without(foo,,)(some_metric)", "unexpected \",\" in grouping opts, expected label"),
    ("sum some_metric by (test)", "unexpected identifier \"some_metric\" in aggregation"),
    ("sum (some_metric) by test", "unexpected identifier \"test\" in grouping opts, expected \"(\""),
    ("sum (some_metric) by test", "expected \"(\""),
    ("sum () by (test)", "no arguments for aggregate expression provided"),
    ("MIN keep_common (some_metric)", "unexpected identifier \"keep_common\" in aggregation"),
    ("MIN (some_metric) keep_common", "unexpected identifier \"keep_common\""),
    ("sum (some_metric) without (test) by (test)", "unexpected <by>"),
    ("sum without (test) (some_metric) by (test)", "unexpected <by>"),
    ("topk(some_metric)", "wrong number of arguments for aggregate expression provided, expected 2, got 1"),
    ("topk(some_metric,)", "trailing commas not allowed in function call args"),
    ("topk(some_metric, other_metric)", "expected type scalar in aggregation parameter, got instant vector"),
    ("count_values(5, other_metric)", "expected type string in aggregation parameter, got scalar"),
    ("rate(some_metric[5m]) @ 1234", "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
    ("sum(some_metric1 @ 123) @ 456", "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
    ("foo @ 1 @ 2", "@ <timestamp> may not be set multiple times"),
    ("foo @ start() @ end()", "@ <timestamp> may not be set multiple times"),
    ("foo @ Inf", "timestamp out of bounds for @ modifier: +Inf"),
    ("foo @ NaN", "timestamp out of bounds for @ modifier: NaN"),
    ("foo @ ", "unexpected end of input in @, expected timestamp"),
    ("foo @ start", "unexpected end of input in @, expected \"(\""),
    ("floor()", "expected 1 argument(s) in call to \"floor\", got 0"),
    ("floor(some_metric, other_metric)", "expected 1 argument(s) in call to \"floor\", got 2"),
    ("floor(some_metric, 1)", "expected 1 argument(s) in call to \"floor\", got 2"),
    ("floor(1)", "expected type instant vector in call to function \"floor\", got scalar"),
    ("hour(some_metric, some_metric, some_metric)", "expected at most 1 argument(s) in call to \"hour\", got 3"),
    ("time(some_metric)", "expected 0 argument(s) in call to \"time\", got 1"),
    ("non_existent_function_far_bar()", "unknown function with name \"non_existent_function_far_bar\""),
    ("rate(some_metric)", "expected type range vector in call to function \"rate\", got instant vector"),
    ("label_replace(a, `b`, `c`, `d`)", "expected 5 argument(s) in call to \"label_replace\", got 4"),
    ("label_join(x)", "expected at least 3 argument(s) in call to \"label_join\", got 1"),
    ("round(x, 1, 2)", "expected at most 2 argument(s) in call to \"round\", got 3"),
    ("clamp(x, \"a\", 1)", "expected type scalar in call to function \"clamp\", got string"),
    ("sum(foo[5m])", "expected type instant vector in aggregation expression, got range vector"),
    ("foo + bar[5m]", "binary expression must contain only scalar and instant vector types"),
    ("foo[5m] + bar", "binary expression must contain only scalar and instant vector types"),
    ("\"a\" + 1", "binary expression must contain only scalar and instant vector types"),
    ("foo[5m][10m:1m]", "subquery is only allowed on instant vector, got matrix instead"),
    ("rate(foo[5m])[1h:5m][10m:1m]", "subquery is only allowed on instant vector, got matrix instead"),
    ("foo[5m:1m1m]", "not a valid duration string: \"1m1m\""),
    ("test[5m:1m:1m]", "unexpected"),
    ("foo[5m:", "unexpected end of input in duration expression"),
    ("foo[5m", "unexpected end of input in duration expression"),
    ("\"unterminated", "unterminated quoted string"),
    ("`unterminated", "unterminated raw string"),
    ("'a\\qb'", "unknown escape sequence"),
    ("\"\\xZZ\"", "illegal character"),
    ("\"\\uD800\"", "escape sequence is an invalid Unicode code point"),
    ("!foo", "unexpected character after '!'"),
    ("foo !~ bar", "unexpected <op:!~>"),
    ("info(x, foo)", "expected label selectors only, got vector selector instead"),
    ("info(x, 1)", "expected type instant vector in call to function \"info\", got scalar"),
    ("foo + fill(0) 1", "filling in missing series only allowed between instant vectors"),
    ("foo and fill(0) bar", "filling in missing series not allowed for set operators"),
    ("foo[1m] anchored smoothed", "anchored and smoothed modifiers cannot be used together"),
    ("foo[1m:] anchored", "anchored modifier is not supported for subqueries"),
    ("sum(foo) smoothed", "smoothed modifier not implemented"),
    ("foo[5m/0]", "division by zero"),
    ("foo[5m%0]", "modulo by zero"),
    ("foo offset", "unexpected end of input in offset"),
    ("group_left", "unexpected <group_left>"),
    ("bool", "unexpected <bool>"),
    ("foo bar", "unexpected identifier \"bar\""),
    ("rate(x[5m]) by (job)", "unexpected <by>"),
];

/// Gated syntax: `(input, option that enables it, error without it)`.
fn gated() -> Vec<(&'static str, ParseOptions, &'static str)> {
    let d = ParseOptions::default();
    vec![
        ("limitk(1, x)", d.with_experimental_functions(true), "limitk() is experimental and must be enabled with --enable-feature=promql-experimental-functions"),
        ("limit_ratio(0.5, x)", d.with_experimental_functions(true), "limit_ratio() is experimental"),
        ("mad_over_time(x[5m])", d.with_experimental_functions(true), "function \"mad_over_time\" is not enabled"),
        ("sort_by_label(x, \"a\")", d.with_experimental_functions(true), "function \"sort_by_label\" is not enabled"),
        ("info(x)", d.with_experimental_functions(true), "function \"info\" is not enabled"),
        ("double_exponential_smoothing(x[5m], 0.1, 0.1)", d.with_experimental_functions(true), "function \"double_exponential_smoothing\" is not enabled"),
        ("ts_of_max_over_time(x[5m])", d.with_experimental_functions(true), "function \"ts_of_max_over_time\" is not enabled"),
        ("foo[5m+1m]", d.with_duration_expressions(true), "experimental duration expression is not enabled"),
        ("foo offset (1m)", d.with_duration_expressions(true), "experimental duration expression is not enabled"),
        ("foo[step()]", d.with_duration_expressions(true), "experimental duration expression is not enabled"),
        ("foo[1m:step()]", d.with_duration_expressions(true), "experimental duration expression is not enabled"),
        ("foo[1m] anchored", d.with_extended_range_selectors(true), "anchored modifier is experimental and not enabled"),
        ("foo[1m] smoothed", d.with_extended_range_selectors(true), "smoothed modifier is experimental and not enabled"),
        ("a + fill(0) b", d.with_fill_modifiers(true), "binop fill modifiers are experimental and not enabled"),
        ("a + fill_left(0) b", d.with_fill_modifiers(true), "binop fill modifiers are experimental and not enabled"),
        ("holt_winters(x[5m], 0.1, 0.1)", d.with_legacy_functions(true), "unknown function with name \"holt_winters\""),
    ]
}

/// `(input, fully parenthesised structure)`.
const STRUCTURE: &[(&str, &str)] = &[
    ("+1 + -2 * 1", "(+ 1 (* -2 1))"),
    ("1 + 2/(3*1)", "(+ 1 (/ 2 [(* 3 1)]))"),
    ("1 < bool 2 - 1 * 2", "(< 1 (- 2 (* 1 2)))"),
    (
        "foo + bar or bla and blub",
        "(or (+ foo bar) (and bla blub))",
    ),
    (
        "foo and bar unless baz or qux",
        "(or (unless (and foo bar) baz) qux)",
    ),
    (
        "bar + on(foo) bla / on(baz, buz) group_right(test) blub",
        "(+ bar (/ bla blub))",
    ),
    ("2 ^ 3 ^ 2", "(^ 2 (^ 3 2))"),
    ("2 * 3 ^ 2", "(* 2 (^ 3 2))"),
    ("-2 ^ 2", "(neg (^ 2 2))"),
    ("-a ^ b", "(neg (^ a b))"),
    ("-a * b", "(* (neg a) b)"),
    ("-a + b", "(+ (neg a) b)"),
    ("a - b - c", "(- (- a b) c)"),
    ("a / b * c", "(* (/ a b) c)"),
    ("a % b atan2 c", "(atan2 (% a b) c)"),
    ("a == b != c", "(!= (== a b) c)"),
    ("a > b + c", "(> a (+ b c))"),
    ("a or b and c unless d", "(or a (unless (and b c) d))"),
    (
        "metric1_total offset 100 + 2",
        "(+ metric1_total offset 1m40s 2)",
    ),
    (
        "metric1_total offset -2 ^ 2",
        "(^ metric1_total offset -2s 2)",
    ),
    (
        "metric1_total offset 2 ^ 2",
        "(^ metric1_total offset 2s 2)",
    ),
    (
        "metric1_total offset -step()*2",
        "(* metric1_total offset -step() 2)",
    ),
    ("a + -b", "(+ a (neg b))"),
    ("a ^ -b", "(^ a (neg b))"),
    ("a </ 2 + 1", "(+ (</ a 2) 1)"),
];

#[test]
fn expression_table() {
    let mut passed = 0;
    let mut failed = Vec::new();
    for (input, want) in PRINTS {
        match parse_with(input, &all()) {
            Ok(e) if e.to_string() == *want => match parse_with(want, &all()) {
                Ok(e2) if e2 == e => passed += 1,
                other => failed.push(format!("{input:?}: reparse of {want:?}: {other:?}")),
            },
            Ok(e) => failed.push(format!(
                "{input:?}: printed {:?}, want {want:?}",
                e.to_string()
            )),
            Err(err) => failed.push(format!("{input:?}: {err}")),
        }
    }
    for (input, want) in ERRORS {
        match parse_with(input, &all()) {
            Err(err) if err.to_string().contains(want) => passed += 1,
            Err(err) => failed.push(format!(
                "{input:?}: error {:?}, want {want:?}",
                err.to_string()
            )),
            Ok(e) => failed.push(format!("{input:?}: parsed as {e}, want error {want:?}")),
        }
    }
    for (input, on, want) in gated() {
        let off = parse_with(input, &ParseOptions::default());
        match (off, parse_with(input, &on)) {
            (Err(err), Ok(_)) if err.to_string().contains(want) => passed += 1,
            (off, on) => failed.push(format!(
                "{input:?}: without option {off:?}, with option {on:?}"
            )),
        }
    }
    for (input, want) in STRUCTURE {
        match parse_with(input, &all()) {
            Ok(e) if sexpr(&e) == *want => passed += 1,
            Ok(e) => failed.push(format!(
                "{input:?}: structure {:?}, want {want:?}",
                sexpr(&e)
            )),
            Err(err) => failed.push(format!("{input:?}: {err}")),
        }
    }
    for f in &failed {
        println!("FAIL {f}");
    }
    println!(
        "expression table: {passed} passed, {} failed, 0 skipped",
        failed.len()
    );
    assert!(failed.is_empty());
}

#[test]
fn error_positions() {
    let cases = [
        ("foo bar", "1:5: parse error: unexpected identifier \"bar\""),
        (
            "sum(x) by test",
            "1:11: parse error: unexpected identifier \"test\" in grouping opts, expected \"(\"",
        ),
        ("foo\n  + ", "2:5: parse error: unexpected end of input"),
        (
            "{x=\"\"}",
            "1:1: parse error: vector selector must contain at least one non-empty matcher",
        ),
        (
            "1 == 1",
            "1:3: parse error: comparisons between scalars must use BOOL modifier",
        ),
    ];
    for (input, want) in cases {
        let err = parse_with(input, &all()).expect_err(input);
        assert_eq!(err.to_string(), want, "{input:?}");
    }
    let err = parse_with("sum(rate(x[5m]) by (job)", &all()).expect_err("fails");
    assert_eq!(
        err.render("sum(rate(x[5m]) by (job)"),
        "1:17: parse error: unexpected <by>, expected \",\" or \")\"\n  sum(rate(x[5m]) by (job)\n                  ^~"
    );
}
