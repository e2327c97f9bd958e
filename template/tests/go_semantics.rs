//! A table of templates with the output Go's text/template gives for them (the cases restate
//! behaviour documented in Go's `text/template` package docs and its exec tests).

use lookout_template::{Funcs, MissingKey, Template, Value};

fn data() -> Value {
    Value::map([
        (
            "Labels",
            Value::map([
                ("job", Value::str("api")),
                ("instance", Value::str("db1:9100")),
            ]),
        ),
        ("Value", Value::Float(0.5)),
        (
            "Items",
            Value::list(vec![Value::str("a"), Value::str("b"), Value::str("c")]),
        ),
        ("Empty", Value::list(vec![])),
        ("N", Value::Int(3)),
        ("S", Value::str("hello")),
        ("T", Value::Bool(true)),
        (
            "M",
            Value::map([("x", Value::Int(1)), ("y", Value::Int(2))]),
        ),
    ])
}

fn run(text: &str) -> Result<String, String> {
    let t = Template::parse("t", text, Funcs::prometheus("http://example.com/prom"))
        .map_err(|e| e.to_string())?;
    t.execute(&data()).map_err(|e| e.to_string())
}

#[test]
fn go_template_table() {
    let cases: &[(&str, &str)] = &[
        ("plain text", "plain text"),
        ("{{.S}}", "hello"),
        ("{{ .Labels.job }}", "api"),
        ("{{.N}} {{.T}} {{.Value}}", "3 true 0.5"),
        ("{{.Items}}", "[a b c]"),
        ("{{.M}}", "map[x:1 y:2]"),
        ("{{/* a comment */}}x", "x"),
        ("a  {{- 1 -}}  b", "a1b"),
        ("a {{- /* c */ -}} b", "ab"),
        ("{{if .T}}yes{{else}}no{{end}}", "yes"),
        ("{{if .Empty}}yes{{else}}no{{end}}", "no"),
        (
            "{{if eq .N 1}}one{{else if eq .N 3}}three{{else}}other{{end}}",
            "three",
        ),
        ("{{with .S}}[{{.}}]{{end}}", "[hello]"),
        ("{{with .Empty}}x{{else}}empty{{end}}", "empty"),
        ("{{range .Items}}<{{.}}>{{end}}", "<a><b><c>"),
        (
            "{{range $i, $e := .Items}}{{$i}}={{$e}} {{end}}",
            "0=a 1=b 2=c ",
        ),
        ("{{range $k, $v := .M}}{{$k}}:{{$v}};{{end}}", "x:1;y:2;"),
        ("{{range .Empty}}x{{else}}none{{end}}", "none"),
        (
            "{{range .Items}}{{if eq . \"b\"}}{{break}}{{end}}{{.}}{{end}}",
            "a",
        ),
        (
            "{{range .Items}}{{if eq . \"b\"}}{{continue}}{{end}}{{.}}{{end}}",
            "ac",
        ),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
        (
            "{{$x := \"outer\"}}{{with .S}}{{$x := \"inner\"}}{{$x}}{{end}} {{$x}}",
            "inner outer",
        ),
        ("{{ .S | printf \"%s!\" }}", "hello!"),
        ("{{ printf \"%d-%s\" 5 \"x\" }}", "5-x"),
        ("{{ printf \"%.2f\" .Value }}", "0.50"),
        ("{{ len .Items }} {{ len .S }} {{ len .M }}", "3 5 2"),
        ("{{ index .Items 1 }}", "b"),
        ("{{ index .M \"y\" }}", "2"),
        ("{{ slice .S 1 3 }}", "el"),
        ("{{ and 1 0 2 }}", "0"),
        ("{{ and 1 2 }}", "2"),
        ("{{ or 0 \"\" 5 }}", "5"),
        ("{{ not .T }}", "false"),
        (
            "{{ lt 1 2 }} {{ gt 1.5 2.5 }} {{ le \"a\" \"b\" }} {{ ge 2 2 }} {{ ne 1 2 }}",
            "true false true true true",
        ),
        ("{{ eq .S \"x\" \"hello\" }}", "true"),
        ("{{ print 1 2 \"a\" 3 }}", "1 2a3"),
        ("{{ println \"a\" 1 }}", "a 1\n"),
        (
            "{{ html \"<a href='x'>&\" }}",
            "&lt;a href=&#39;x&#39;&gt;&amp;",
        ),
        ("{{ js \"it's <b>\" }}", "it\\'s \\u003Cb\\u003E"),
        ("{{ urlquery \"a b&c\" }}", "a+b%26c"),
        (
            "{{define \"T1\"}}[{{.}}]{{end}}{{template \"T1\" .S}}",
            "[hello]",
        ),
        ("{{block \"B\" .N}}<{{.}}>{{end}}", "<3>"),
        (
            "{{ 0x10 }} {{ 1e3 }} {{ 'a' }} {{ -5 }} {{ 1_000 }}",
            "16 1000 97 -5 1000",
        ),
        ("{{ `raw\\n` }}", "raw\\n"),
        ("{{ (printf \"%s\" .S) }}", "hello"),
        ("{{ (.Labels).job }}", "api"),
        ("{{ nil | printf \"%v\" }}", "<nil>"),
        // Prometheus functions.
        ("{{ humanize 1234567 }}", "1.235M"),
        ("{{ humanizePercentage 0.1234 }}", "12.34%"),
        (
            "{{ toUpper \"abc\" }} {{ toLower \"ABC\" }} {{ title \"hello world\" }}",
            "ABC abc Hello World",
        ),
        (
            "{{ reReplaceAll \"(a+)b\" \"X$1\" \"aab cab\" }}",
            "Xaa cXa",
        ),
        ("{{ match \"^db\" .Labels.instance }}", "true"),
        (
            "{{ stripPort .Labels.instance }} {{ stripDomain \"host.example.com:9100\" }}",
            "db1 host:9100",
        ),
        (
            "{{ externalURL }} {{ pathPrefix }}",
            "http://example.com/prom /prom",
        ),
        ("{{ parseDuration \"1m30s\" }}", "90"),
        ("{{ args 1 \"x\" }}", "map[arg0:1 arg1:x]"),
    ];
    let mut failed = Vec::new();
    for (text, want) in cases {
        match run(text) {
            Ok(got) if got == *want => {}
            other => failed.push(format!("{text:?}: want {want:?}, got {other:?}")),
        }
    }
    println!(
        "{} passed, {} failed, 0 skipped",
        cases.len() - failed.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn go_errors() {
    let cases: &[(&str, &str)] = &[
        ("{{ .S.X }}", "can't evaluate field X in type string"),
        ("{{ nosuch 1 }}", "function \"nosuch\" not defined"),
        ("{{ if }}", "missing value for if"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ if true }}", "missing {{end}}"),
        ("{{ $undefined }}", "undefined variable"),
        ("{{ lt 1 1.5 }}", "incompatible types for comparison"),
        ("{{ index .Items 5 }}", "index out of range: 5"),
        ("{{ template \"nope\" }}", "no such template"),
        ("{{ break }}", "{{break}} outside {{range}}"),
        ("{{ \"unterminated }}", "unterminated"),
        ("{{ 1 2 }}", "can't give argument to non-function 1"),
        ("{{ humanize \"abc\" }}", "error calling humanize"),
        ("{{ .S", "unclosed action"),
    ];
    let mut failed = Vec::new();
    for (text, want) in cases {
        match run(text) {
            Err(e) if e.contains(want) => {}
            other => failed.push(format!(
                "{text:?}: want error containing {want:?}, got {other:?}"
            )),
        }
    }
    println!(
        "{} passed, {} failed, 0 skipped",
        cases.len() - failed.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn error_positions() {
    let e = Template::parse("x", "line one\n  {{ nosuch }}", Funcs::builtins()).unwrap_err();
    assert_eq!(
        e.to_string(),
        // Go's parse errors name the line only (`Tree.errorf`).
        "template: x:2: function \"nosuch\" not defined"
    );
    let t = Template::parse("x", "ab\n{{ .S.Z }}", Funcs::builtins()).unwrap();
    let e = t.execute(&data()).unwrap_err().to_string();
    assert!(
        // Go's `ErrorContext` counts the column as a 0-based byte offset.
        e.starts_with("template: x:2:3: executing \"x\" at <.S.Z>:"),
        "{e}"
    );
}

#[test]
fn missing_keys() {
    let t = Template::parse("x", "[{{ .Labels.nope }}]", Funcs::builtins()).unwrap();
    assert_eq!(t.execute(&data()).unwrap(), "[<no value>]");
    let t = t.missing_key(MissingKey::Zero);
    assert_eq!(t.execute(&data()).unwrap(), "[]");
    let t = t.missing_key(MissingKey::Error);
    assert!(t.execute(&data()).is_err());
}

#[test]
fn hostile_templates_are_bounded() {
    let t = Template::parse("x", "{{range 100000000}}{{end}}", Funcs::builtins()).unwrap();
    assert!(t.execute(&Value::Nil).is_err());
    let t = Template::parse(
        "x",
        "{{define \"r\"}}{{template \"r\"}}{{end}}{{template \"r\"}}",
        Funcs::builtins(),
    )
    .unwrap();
    assert!(t
        .execute(&Value::Nil)
        .unwrap_err()
        .to_string()
        .contains("depth"));
    let t = Template::parse("x", "{{range 100000}}xxxxxxxxxx{{end}}", Funcs::builtins())
        .unwrap()
        .max_output(1000);
    assert!(t
        .execute(&Value::Nil)
        .unwrap_err()
        .to_string()
        .contains("output exceeded"));
}

#[test]
fn fuzz_regression_non_letter_unicode_in_action() {
    // Found by the template_parse_exec fuzz target: a non-ASCII character that is not a letter
    // made the lexer stop advancing and grow its token list until memory ran out.
    let text = "{{ if,ge $k, \u{702} :=].LabelS$k.}};$";
    assert!(Template::parse("x", text, Funcs::builtins()).is_err());
    assert!(Template::parse("x", "{{ \u{702} }}", Funcs::builtins())
        .unwrap_err()
        .to_string()
        .contains("unrecognized character in action: U+0702"));
    // Go's lexer hands printable ASCII on to the parser, which names the context.
    assert_eq!(
        Template::parse("x", "{{ .a } }}", Funcs::builtins())
            .unwrap_err()
            .to_string(),
        "template: x:1: unexpected \"}\" in operand"
    );
}
