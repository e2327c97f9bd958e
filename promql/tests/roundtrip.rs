//! Property test: printing any well-typed tree and parsing the text gives the same tree.

use lookout_model::{MatchType, Matcher, SmallStr, METRIC_NAME};
use lookout_promql::*;
use proptest::prelude::*;

fn sp() -> Span {
    Span::default()
}

fn paren(e: Expr) -> Expr {
    Expr::Paren(Box::new(ParenExpr {
        expr: e,
        span: sp(),
    }))
}

/// Operands of binary expressions are parenthesised when they are themselves operators, so the
/// generated tree is the one the text means.
fn operand(e: Expr) -> Expr {
    match e {
        Expr::Binary(_) | Expr::Unary(_) => paren(e),
        // `+Inf ^ 2` reads back as `+(Inf ^ 2)`, in Prometheus too.
        Expr::Number(ref n) if n.value.is_infinite() => paren(e),
        other => other,
    }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Call(Box::new(Call {
        func: function(name).expect("known function"),
        args,
        span: sp(),
    }))
}

fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("job".to_string()),
        Just("instance".to_string()),
        Just("le".to_string()),
        Just("a.b".to_string()),
        Just("ü".to_string()),
        "[a-z_][a-z0-9_]{0,5}",
    ]
}

fn matcher() -> impl Strategy<Value = Matcher> {
    (label_name(), 0..4u8, "[a-z0-9\\\\\"\n ☺]{0,5}").prop_map(|(n, k, v)| {
        let kind = [
            MatchType::Equal,
            MatchType::NotEqual,
            MatchType::Regex,
            MatchType::NotRegex,
        ][k as usize];
        // Regex values are kept to plain literals so they always compile.
        let v = if k >= 2 {
            v.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
        } else {
            v
        };
        Matcher::new(kind, &n, &v).expect("valid matcher")
    })
}

fn duration_ms() -> impl Strategy<Value = i64> {
    prop_oneof![
        1i64..100_000,
        (1i64..500).prop_map(|m| m * 60_000),
        (1i64..50).prop_map(|d| d * 86_400_000)
    ]
}

fn at() -> impl Strategy<Value = Option<AtModifier>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(AtModifier::Start)),
        1 => Just(Some(AtModifier::End)),
        1 => (-1_000_000_000i64..2_000_000_000_000).prop_map(|ms| Some(AtModifier::Timestamp(ms))),
    ]
}

fn offset() -> impl Strategy<Value = Option<DurationValue>> {
    prop_oneof![
        2 => Just(None),
        1 => duration_ms().prop_map(|ms| Some(DurationValue::Fixed(ms))),
        1 => duration_ms().prop_map(|ms| Some(DurationValue::Fixed(-ms))),
    ]
}

fn selector() -> impl Strategy<Value = VectorSelector> {
    (
        prop_oneof![Just(None), "[a-z_:][a-z0-9_:]{0,8}".prop_map(Some)],
        proptest::collection::vec(matcher(), 0..3),
        offset(),
        at(),
    )
        .prop_map(|(name, mut matchers, offset, at)| {
            // Names that are keywords would read back as operators; keep them plain.
            let name = name
                .filter(|n| n.starts_with("m_") || n.contains(':'))
                .or(Some("m_x".to_string()));
            match &name {
                Some(n) => matchers.push(Matcher::equal(METRIC_NAME, n)),
                None => matchers.push(Matcher::equal("job", "x")),
            }
            VectorSelector {
                name: name.map(SmallStr::from),
                matchers: matchers.into(),
                offset,
                at,
                anchored: false,
                smoothed: false,
                bypass_empty_matcher_check: false,
                span: sp(),
            }
        })
}

fn number() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (0.0f64..1e9).prop_map(|v| (v, false)),
        Just((f64::INFINITY, false)),
        Just((f64::NAN, false)),
        (0i64..1_000_000).prop_map(|ms| (ms as f64 / 1000.0, true)),
    ]
    .prop_map(|(value, duration)| {
        Expr::Number(NumberLiteral {
            value,
            duration,
            span: sp(),
        })
    })
}

fn scalar() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![number(), Just(call("time", vec![]))];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(paren),
            (inner.clone(), 0..6usize, inner.clone()).prop_map(|(a, o, b)| {
                let ops = [
                    BinaryOp::Add,
                    BinaryOp::Sub,
                    BinaryOp::Mul,
                    BinaryOp::Div,
                    BinaryOp::Pow,
                    BinaryOp::Gtr,
                ];
                let op = ops[o];
                Expr::Binary(Box::new(BinaryExpr {
                    op,
                    lhs: operand(a),
                    rhs: operand(b),
                    return_bool: op.is_comparison(),
                    matching: None,
                    span: sp(),
                }))
            }),
        ]
    })
}

fn vector() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        selector().prop_map(|v| Expr::Vector(Box::new(v))),
        (selector(), duration_ms()).prop_map(|(v, r)| call(
            "rate",
            vec![Expr::Matrix(Box::new(MatrixSelector {
                vector: v,
                range: DurationValue::Fixed(r),
                span: sp()
            }))]
        )),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(paren),
            inner.clone().prop_map(|e| Expr::Unary(Box::new(UnaryExpr {
                op: UnaryOp::Neg,
                expr: operand(e),
                span: sp()
            }))),
            inner.clone().prop_map(|e| call("abs", vec![e])),
            (inner.clone(), scalar()).prop_map(|(e, s)| call("round", vec![e, s])),
            (
                inner.clone(),
                proptest::collection::vec(label_name(), 0..3),
                any::<bool>(),
                0..4usize,
                scalar()
            )
                .prop_map(|(e, grouping, without, o, p)| {
                    let op = [
                        AggregateOp::Sum,
                        AggregateOp::Topk,
                        AggregateOp::Quantile,
                        AggregateOp::Stddev,
                    ][o];
                    Expr::Aggregate(Box::new(AggregateExpr {
                        op,
                        expr: e,
                        param: op.has_param().then_some(p),
                        without: without && !grouping.is_empty(),
                        grouping: grouping.into_iter().map(SmallStr::from).collect(),
                        span: sp(),
                    }))
                }),
            (
                inner.clone(),
                duration_ms(),
                proptest::option::of(duration_ms()),
                offset(),
                at()
            )
                .prop_map(|(e, r, step, offset, at)| call(
                    "max_over_time",
                    vec![Expr::Subquery(Box::new(SubqueryExpr {
                        expr: operand(e),
                        range: DurationValue::Fixed(r),
                        step: step.map(DurationValue::Fixed),
                        offset,
                        at,
                        span: sp(),
                    }))]
                )),
            (
                inner.clone(),
                0..9usize,
                inner.clone(),
                any::<bool>(),
                proptest::collection::vec(label_name(), 0..2),
                0..3usize,
                proptest::collection::vec(label_name(), 0..2)
            )
                .prop_map(|(a, o, b, on, labels, card, include)| {
                    let ops = [
                        BinaryOp::Add,
                        BinaryOp::Sub,
                        BinaryOp::Mul,
                        BinaryOp::Div,
                        BinaryOp::Pow,
                        BinaryOp::Eql,
                        BinaryOp::And,
                        BinaryOp::Or,
                        BinaryOp::Unless,
                    ];
                    let op = ops[o];
                    let card = if op.is_set() {
                        Cardinality::ManyToMany
                    } else {
                        [
                            Cardinality::OneToOne,
                            Cardinality::ManyToOne,
                            Cardinality::OneToMany,
                        ][card]
                    };
                    let grouped = matches!(card, Cardinality::ManyToOne | Cardinality::OneToMany);
                    // on(x) group_left(x) is an error: keep the two lists apart.
                    let include: Vec<String> = if grouped {
                        include
                            .into_iter()
                            .filter(|l| !labels.contains(l))
                            .collect()
                    } else {
                        vec![]
                    };
                    Expr::Binary(Box::new(BinaryExpr {
                        op,
                        lhs: operand(a),
                        rhs: operand(b),
                        return_bool: false,
                        matching: Some(VectorMatching {
                            card,
                            matching_labels: labels.into_iter().map(SmallStr::from).collect(),
                            on,
                            include: include.into_iter().map(SmallStr::from).collect(),
                            fill: FillValues::default(),
                        }),
                        span: sp(),
                    }))
                }),
            (inner, scalar()).prop_map(|(a, s)| Expr::Binary(Box::new(BinaryExpr {
                op: BinaryOp::Mul,
                lhs: operand(a),
                rhs: operand(s),
                return_bool: false,
                matching: None,
                span: sp(),
            }))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_is_identity(e in vector()) {
        let text = e.to_string();
        let back = parse_with(&text, &ParseOptions::all());
        prop_assert!(back.is_ok(), "{text}: {:?}", back.err());
        let back = back.unwrap_or_else(|_| unreachable!());
        prop_assert_eq!(&back, &e, "{}", text);
        // The pretty form means the same expression.
        let pretty = prettify(&e);
        let again = parse_with(&pretty, &ParseOptions::all());
        prop_assert!(again.is_ok(), "{pretty}: {:?}", again.err());
        prop_assert_eq!(again.unwrap_or_else(|_| unreachable!()), e, "{}", pretty);
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,40}") {
        let _ = parse_with(&s, &ParseOptions::all());
    }
}

/// Found by the promql_roundtrip fuzz target: a negative-zero duration literal printed as `0s`
/// and read back as +0, a different tree (and a different result for `x / -0w`).
#[test]
fn fuzz_regression_negative_zero_duration() {
    let opts = ParseOptions::all();
    for q in ["cbh_heas_neg </ -0w", "a + -0w", "a / -0s", "-0w"] {
        let e = parse_with(q, &opts).unwrap();
        let text = e.to_string();
        assert_eq!(
            parse_with(&text, &opts).unwrap(),
            e,
            "{q} printed as {text}"
        );
    }
    assert_eq!(parse_with("a + -0w", &opts).unwrap().to_string(), "a + -0s");
}

/// Prometheus prints number literals with `strconv.FormatFloat(v, 'f', -1, 64)`: never in
/// exponent form (printer.go, NumberLiteral.WriteTo).
#[test]
fn numbers_print_in_plain_decimal() {
    let opts = ParseOptions::all();
    for (q, want) in [
        ("1e-7", "0.0000001"),
        ("1e21", "1000000000000000000000"),
        ("1.5e22", "15000000000000000000000"),
        ("Inf", "+Inf"),
        ("-Inf", "-Inf"),
        ("NaN", "NaN"),
        ("0x10", "16"),
    ] {
        assert_eq!(parse_with(q, &opts).unwrap().to_string(), want, "{q}");
    }
}

/// Found by the promql_roundtrip fuzz target: a duration beyond Go's time.Duration range
/// (`666666666666m`) parsed, then printed as the largest Go duration. Prometheus rejects such
/// durations ("duration out of range"), and so do we.
#[test]
fn fuzz_regression_duration_out_of_range() {
    let opts = ParseOptions::all();
    assert!(parse_with("incrzas66^666666666666m", &opts).is_err());
    assert!(parse_with("rate(x[293y])", &opts).is_err());
    assert!(parse_with("rate(x[292y])", &opts).is_ok());
}
