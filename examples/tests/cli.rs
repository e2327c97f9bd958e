//! The `lookout` binary's global surface: help, version, errors.

use std::process::Command;

fn lookout() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
}

#[test]
fn help_and_version() {
    let out = lookout().arg("--help").output().expect("run lookout");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Usage: lookout"), "{text}");
    let out = lookout().arg("--version").output().expect("run lookout");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("lookout {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_subcommand_fails() {
    let out = lookout()
        .arg("no-such-command")
        .output()
        .expect("run lookout");
    assert!(!out.status.success());
}

#[test]
fn selector_prints_canonical_matchers() {
    let out = lookout()
        .args(["selector", r#"up{job=~'api|web',"my.label"!=""}"#])
        .output()
        .expect("run lookout");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{__name__=\"up\", job=~\"api|web\", \"my.label\"!=\"\"}\n"
    );
    let out = lookout()
        .args(["selector", "{job="])
        .output()
        .expect("run lookout");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("byte 5"));
}
