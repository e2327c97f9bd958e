//! End-to-end tests of `lookout relabel`.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

fn run(config: &str, input: &str, extra: &[&str]) -> (i32, String, String) {
    let dir = lookout_testkit::tempfile::tempdir().unwrap();
    let cfg = dir.path().join("relabel.yml");
    std::fs::write(&cfg, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("relabel")
        .arg("--config")
        .arg(&cfg)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The child may exit before reading its input (an invalid config fails first), so a
    // broken pipe here is expected and not an error of the test.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const CONFIG: &str = r#"
- source_labels: [__meta_kubernetes_pod_phase]
  regex: Failed|Succeeded
  action: drop
- source_labels: [__meta_kubernetes_namespace, __meta_kubernetes_pod_name]
  separator: /
  target_label: pod
- regex: __meta_kubernetes_pod_label_(.+)
  action: labelmap
- source_labels: [__address__]
  modulus: 1000
  target_label: shard
  action: hashmod
- regex: __meta_.*
  action: labeldrop
"#;

#[test]
fn relabels_json_lines() {
    let input = concat!(
        r#"{"__address__":"baz","__meta_kubernetes_namespace":"web","__meta_kubernetes_pod_name":"api-1","__meta_kubernetes_pod_label_app":"shop"}"#,
        "\n",
        r#"{"__meta_kubernetes_pod_phase":"Failed"}"#,
        "\n\n",
        r#"{}"#,
        "\n"
    );
    let (code, out, err) = run(CONFIG, input, &[]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // md5("baz") mod 1000 = 976 (upstream-asserted); md5("") is the RFC 1321 test vector
    // d41d8cd98f00b204e9800998ecf8427e, whose last 8 bytes big-endian are 958 mod 1000.
    assert_eq!(
        lines,
        [
            r#"{"__address__":"baz","app":"shop","pod":"web/api-1","shard":"976"}"#,
            "null",
            r#"{"pod":"/","shard":"958"}"#,
        ]
    );
}

#[test]
fn reads_a_file_argument() {
    let dir = lookout_testkit::tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"a\":\"B\"}\n").unwrap();
    let cfg = "- source_labels: [a]\n  target_label: b\n  action: lowercase\n";
    let (code, out, err) = run(cfg, "", &[input.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "{\"a\":\"B\",\"b\":\"b\"}\n");
}

#[test]
fn invalid_config_exits_1_with_reason() {
    let (code, out, err) = run("- action: hashmod\n  target_label: x\n", "{}\n", &[]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("relabel configuration for hashmod requires non-zero modulus"),
        "{err}"
    );
    let (code, _, err) = run("- action: [\n", "", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn bad_input_line_is_reported() {
    let (code, out, err) = run("[]\n", "{\"a\":1}\n{\"a\":\"x\"}\n", &[]);
    assert_eq!(code, 1);
    assert_eq!(out, "{\"a\":\"x\"}\n");
    assert!(err.contains("-:1:"), "{err}");
}

#[test]
fn prometheus2_compat_dot_does_not_match_newline() {
    let cfg = "- source_labels: [a]\n  regex: (.*)\n  target_label: b\n";
    let input = "{\"a\":\"x\\ny\"}\n";
    let (_, out3, _) = run(cfg, input, &[]);
    let (_, out2, _) = run(cfg, input, &["--compat", "prometheus2"]);
    assert_eq!(out3, "{\"a\":\"x\\ny\",\"b\":\"x\\ny\"}\n");
    assert_eq!(out2, "{\"a\":\"x\\ny\"}\n");
}
