//! The `custody` binary, end to end: exit codes, output streams, and how it treats bad
//! input (missing files, invalid UTF-8, directories, syntax errors, pathological nesting).

use expect_test::{expect, expect_file};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn custody(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(args)
        .current_dir(workspace_root())
        .env_remove("NO_COLOR")
        // clap wraps help text to the terminal width; pin it so goldens are stable.
        .env("COLUMNS", "100")
        .output()
        .expect("the custody binary runs")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A scratch file unique to this test process.
fn scratch_file(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("custody-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn parse_every_program_without_intended_errors_exits_0() {
    let dir = workspace_root().join("test-data/programs");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "cdy") {
            continue;
        }
        let out = custody(&["parse", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}: {}", path.display(), stderr(&out));
        assert!(stdout(&out).starts_with("SOURCE_FILE@0.."));
        assert_eq!(stderr(&out), "");
        count += 1;
    }
    assert!(count >= 20, "only {count} programs");
}

#[test]
fn parse_with_syntax_errors_exits_1_and_renders_each_error_once() {
    let out = custody(&["parse", "--errors-only", "test-data/syntax-errors/three_errors.cdy"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    expect_file!["../../test-data/golden/cli/parse_three_errors.stderr"].assert_eq(&stderr(&out));
}

#[test]
fn parse_prints_the_lossless_tree() {
    let path = scratch_file("tiny.cdy", b"fn main() { print(1); } // done\n");
    let out = custody(&["parse", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    expect![[r#"
        SOURCE_FILE@0..32
          FN_ITEM@0..23
            FN_KW@0..2 "fn"
            WHITESPACE@2..3 " "
            NAME@3..7
              IDENT@3..7 "main"
            PARAM_LIST@7..9
              L_PAREN@7..8 "("
              R_PAREN@8..9 ")"
            WHITESPACE@9..10 " "
            BLOCK@10..23
              L_CURLY@10..11 "{"
              WHITESPACE@11..12 " "
              EXPR_STMT@12..21
                CALL_EXPR@12..20
                  NAME_REF@12..17
                    IDENT@12..17 "print"
                  ARG_LIST@17..20
                    L_PAREN@17..18 "("
                    LITERAL@18..19
                      INT_NUMBER@18..19 "1"
                    R_PAREN@19..20 ")"
                SEMICOLON@20..21 ";"
              WHITESPACE@21..22 " "
              R_CURLY@22..23 "}"
          WHITESPACE@23..24 " "
          COMMENT@24..31 "// done"
          WHITESPACE@31..32 "\n"
    "#]]
    .assert_eq(&stdout(&out));
}

#[test]
fn missing_file_exits_2_with_one_line() {
    let out = custody(&["parse", "test-data/no-such-file.cdy"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    expect![[r#"
        error: cannot read `test-data/no-such-file.cdy`: no such file
    "#]]
    .assert_eq(&stderr(&out));
}

#[test]
fn invalid_utf8_exits_2_with_one_line() {
    let path = scratch_file("latin1.cdy", b"fn main() {\n    print(\"caf\xe9\");\n}\n");
    let out = custody(&["parse", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.ends_with("it is not valid UTF-8 (first invalid byte at 2:15)\n"), "{err}");
}

#[test]
fn directory_exits_2() {
    let out = custody(&["parse", "test-data"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), "error: cannot read `test-data`: it is a directory\n");
}

#[test]
fn pathological_nesting_is_a_syntax_error_not_a_crash() {
    let n = 100_000;
    let text = format!("{}1{}", "(".repeat(n), ")".repeat(n));
    let path = scratch_file("parens.cdy", text.as_bytes());
    let out = custody(&["parse", "--errors-only", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out).matches("error[syntax]").count(), 1);

    let text = format!("fn main() {{ let x = {}1{}; }}", "(".repeat(n), ")".repeat(n));
    let path = scratch_file("nested.cdy", text.as_bytes());
    let out = custody(&["parse", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nested too deeply"), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("SOURCE_FILE@0.."));
}

#[test]
fn usage_errors_exit_2() {
    let out = custody(&[]);
    assert_eq!(out.status.code(), Some(2));
    let out = custody(&["parse"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("<FILE>"));
    let out = custody(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_explains_itself() {
    let out = custody(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    expect_file!["../../test-data/golden/cli/help.stdout"].assert_eq(&stdout(&out));
    let out = custody(&["parse", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    expect_file!["../../test-data/golden/cli/parse_help.stdout"].assert_eq(&stdout(&out));
}

#[test]
fn check_clean_programs_exit_0() {
    let files: Vec<String> = std::fs::read_dir(workspace_root().join("test-data/programs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cdy"))
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let out = custody(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Nothing but the warnings about cycles plain counting would leak.
    for line in stdout(&out).lines().filter(|l| l.contains('[')) {
        assert!(line.starts_with("warning[cycle]"), "{line}");
    }
}

#[test]
fn check_reports_in_three_formats() {
    let files = ["spec/cases/check/call_too_many_args.cdy", "spec/cases/check/nocascade_unknown_member.cdy"];
    let human = custody(&["check", files[0], files[1]]);
    assert_eq!(human.status.code(), Some(1));
    expect_file!["../../test-data/golden/cli/check_human.stdout"].assert_eq(&stdout(&human));
    let json = custody(&["check", "--format", "json", files[0], files[1]]);
    assert_eq!(json.status.code(), Some(1));
    let parsed: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("valid JSON");
    assert_eq!(parsed.as_array().map(Vec::len), Some(3));
    expect_file!["../../test-data/golden/cli/check_json.stdout"].assert_eq(&stdout(&json));
    let sarif = custody(&["check", "--format", "sarif", files[0]]);
    assert_eq!(sarif.status.code(), Some(1));
    let parsed: serde_json::Value = serde_json::from_str(&stdout(&sarif)).expect("valid JSON");
    assert_eq!(parsed["version"], "2.1.0");
    let result = &parsed["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "argument-count");
    assert_eq!(result["level"], "error");
    assert_eq!(result["locations"][0]["physicalLocation"]["region"]["startLine"], 8);
    assert_eq!(parsed["runs"][0]["tool"]["driver"]["name"], "custody");
}

#[test]
fn check_with_an_unreadable_file_exits_2_but_checks_the_others() {
    let out = custody(&["check", "test-data/no-such.cdy", "spec/cases/check/call_too_many_args.cdy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read `test-data/no-such.cdy`"));
    assert!(stdout(&out).contains("error[argument-count]"));
    let path = scratch_file("bad-utf8-check.cdy", b"fn main() { \xff }");
    let out = custody(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_survives_pathological_nesting() {
    let n = 100_000;
    let text = format!("fn main() {{ let x = {}1{}; }}", "(".repeat(n), ")".repeat(n));
    let path = scratch_file("deep-check.cdy", text.as_bytes());
    let out = custody(&["check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).matches("error[").count(), 1, "{}", stdout(&out));
}

#[test]
fn ir_prints_text_and_json_that_check_ir_accepts() {
    let out = custody(&["ir", "test-data/programs/contract_example.cdy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("fn make(%0 v: string) -> Node"));
    let json = custody(&["ir", "--format", "json", "test-data/programs/contract_example.cdy"]);
    assert_eq!(json.status.code(), Some(0));
    let path = scratch_file("contract.ir.json", &json.stdout);
    let out = custody(&["check", "--ir", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // A program with errors has no IR: the errors are shown instead.
    let out = custody(&["ir", "spec/cases/check/call_too_many_args.cdy"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("error[argument-count]"));
    // Not JSON at all: unreadable input.
    let out = custody(&["check", "--ir", "test-data/programs/contract_example.cdy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not an IR program in JSON"));
}

#[test]
fn plan_writes_json_and_text() {
    let out = custody(&["plan", "test-data/programs/contract_example.cdy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    assert_eq!(plan["format"], "custody-plan");
    let out = custody(&["plan", "--format", "text", "test-data/programs/contract_example.cdy"]);
    assert_eq!(out.status.code(), Some(0));
    expect_file!["../../test-data/golden/cli/plan_contract_example.txt"].assert_eq(&stdout(&out));
    let out = custody(&["explain", "test-data/programs/contract_example.cdy", "--line", "16"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("global `cache` keeps it"), "{}", stdout(&out));
}
