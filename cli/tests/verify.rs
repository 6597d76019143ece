//! `custody verify`, `custody run --plan-file` and `custody plan --verify`, end to end:
//! exit codes, the rendered report of a rejected (hand-edited) plan in both formats, and
//! how bad plan files are refused.

use expect_test::expect;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn custody(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(args)
        .current_dir(workspace_root())
        .env("COLUMNS", "100")
        .output()
        .expect("the custody binary runs")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A scratch file unique to this test process.
fn scratch_file(name: &str, contents: &str) -> String {
    // One file per call: tests run in parallel in one process, and several write the same
    // edited plan; sharing a path let one read it half written (exit 2 instead of 3).
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("custody-verify-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.display().to_string()
}

const PROGRAM: &str = "test-data/verify/branch_release.cdy";

/// The inferred plan of [`PROGRAM`], with `edit` applied to the operations of `function`.
fn edited_plan(function: &str, edit: impl FnOnce(&mut Vec<serde_json::Value>)) -> serde_json::Value {
    let out = custody(&["plan", PROGRAM]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let functions = plan["functions"].as_array_mut().unwrap();
    let f = functions.iter_mut().find(|f| f["name"] == function).unwrap();
    edit(f["ops"].as_array_mut().unwrap());
    plan
}

/// The plan with the `free s` on the `else` arm deleted: the string is never released on
/// that path.
fn plan_without_else_free() -> String {
    let plan = edited_plan("main", |ops| {
        let i = ops.iter().position(|o| o["op"] == "free" && o["reason"] == "not used on this path").unwrap();
        ops.remove(i);
    });
    scratch_file("no-else-free.json", &serde_json::to_string_pretty(&plan).unwrap())
}

/// The plan with `keep`'s `drop all` duplicated: the array is released twice.
fn plan_with_double_drop() -> String {
    let plan = edited_plan("keep", |ops| {
        let i = ops.iter().position(|o| o["op"] == "drop").unwrap();
        let op = ops[i].clone();
        ops.insert(i, op);
    });
    scratch_file("double-drop.json", &serde_json::to_string_pretty(&plan).unwrap())
}

#[test]
fn verify_proves_the_plans_custody_infers() {
    let out = custody(&["verify", PROGRAM]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    expect![[r#"
        verified `test-data/verify/branch_release.cdy`: 2 functions, 9 operations: proven
    "#]]
    .assert_eq(&text(&out.stdout));
    let out = custody(&["verify", "--plan", "naive", PROGRAM]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn verify_rejects_a_hand_edited_plan_with_function_path_and_operation() {
    let plan = plan_with_double_drop();
    let out = custody(&["verify", PROGRAM, "--plan-file", &plan]);
    assert_eq!(out.status.code(), Some(3));
    expect![[r#"
        error[verify-double-release]: in `keep`, `drop all after b0.4` (path b0): `drop` releases all, whose value was already released at b0.4
         --> test-data/verify/branch_release.cdy:8:5
          |
        8 |     push(all, Box { label: label });
          |     ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^

        error: the plan of `test-data/verify/branch_release.cdy` is rejected: 1 error
    "#]]
    .assert_eq(&text(&out.stdout));
    let plan = plan_without_else_free();
    let out = custody(&["verify", PROGRAM, "--plan-file", &plan]);
    assert_eq!(out.status.code(), Some(3));
    expect![[r#"
        error[verify-path-mismatch]: in `main`, at b3.0 (path b0 -> b2 -> b3): paths disagree on the references owned to the value of s: 0 on one path, 1 on the path through b2; one of them leaks or releases twice
          --> test-data/verify/branch_release.cdy:19:5
           |
        19 |     keep(all, str(2));
           |     ^^^^^^^^^^^^^^^^^^

        error: the plan of `test-data/verify/branch_release.cdy` is rejected: 1 error
    "#]]
    .assert_eq(&text(&out.stdout));
}

#[test]
fn verify_writes_its_report_as_json() {
    let plan = plan_with_double_drop();
    let out = custody(&["verify", PROGRAM, "--plan-file", &plan, "--format", "json"]);
    assert_eq!(out.status.code(), Some(3));
    expect![[r#"
        {
          "source": "test-data/verify/branch_release.cdy",
          "proven": false,
          "errors": 1,
          "notes": 0,
          "functions": 2,
          "ops": 10,
          "findings": [
            {
              "severity": "error",
              "rule": "verify-double-release",
              "function": "keep",
              "path": [
                0
              ],
              "inst": {
                "block": 0,
                "index": 4
              },
              "op": "drop all after b0.4",
              "span": {
                "start": 244,
                "end": 275
              },
              "message": "`drop` releases all, whose value was already released at b0.4",
              "line": 8,
              "col": 5
            }
          ]
        }
    "#]]
    .assert_eq(&text(&out.stdout));
}

#[test]
fn run_executes_a_given_plan_and_the_interpreter_agrees() {
    let good = scratch_file("good.json", &text(&custody(&["plan", PROGRAM]).stdout));
    let out = custody(&["run", PROGRAM, "--plan-file", &good]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1\n0\n");
    let out = custody(&["run", PROGRAM, "--plan-file", &plan_with_double_drop()]);
    assert_eq!(out.status.code(), Some(3));
    expect![[r#"
        error[double-free]: double free: [Box] #4 from main#0 (12:22) is released again at 8:5 (it was freed at 8:5)
          --> test-data/verify/branch_release.cdy:8:5
           |
         8 |     push(all, Box { label: label });
           |     ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
        ...
        12 |     let all: [Box] = [];
           |                      -- allocated here (`main#0`)

        error: the plan is unsound: 1 violation
    "#]]
    .assert_eq(&text(&out.stderr));
}

#[test]
fn plan_verify_plans_and_verifies_in_one_step() {
    let out = custody(&["plan", "--verify", PROGRAM]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"format\": \"custody-plan\""));
    expect![[r#"
        verified `test-data/verify/branch_release.cdy`: 2 functions, 9 operations: proven
    "#]]
    .assert_eq(&text(&out.stderr));
    // A plan the verifier cannot prove (the file's comment says why): still written,
    // exit 3.
    let out = custody(&["plan", "--verify", "test-data/verify/unproven_early_global_release.cdy"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stdout).contains("\"format\": \"custody-plan\""));
    assert!(text(&out.stderr).contains("error[verify-release-unowned]"), "{}", text(&out.stderr));
}

#[test]
fn verify_reads_ir_programs() {
    let ir = custody(&["ir", "--format", "json", PROGRAM]);
    let path = scratch_file("branch_release.ir.json", &text(&ir.stdout));
    let out = custody(&["verify", "--ir", &path]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let out = custody(&["verify", "--ir", &path, "--plan-file", &plan_with_double_drop()]);
    assert_eq!(out.status.code(), Some(3));
    let report = text(&out.stdout);
    assert!(report.starts_with("error[verify-double-release]: in `keep`"), "{report}");
}

#[test]
fn bad_plan_files_exit_2_with_one_line() {
    let not_json = scratch_file("not-json.json", "{ this is not json");
    let out = custody(&["verify", PROGRAM, "--plan-file", &not_json]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr).replace(&not_json, "PLAN");
    expect![[r#"
        error: `PLAN` is not a custody plan: key must be a string at line 1 column 3
    "#]]
    .assert_eq(&err);
    let wrong = scratch_file(
        "wrong-format.json",
        &text(&custody(&["plan", PROGRAM]).stdout).replace("custody-plan", "other"),
    );
    let out = custody(&["run", PROGRAM, "--plan-file", &wrong]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr).replace(&wrong, "PLAN");
    expect![[r#"
        error: `PLAN` is a plan of format `other` version 1; this custody reads `custody-plan` version 1
    "#]]
    .assert_eq(&err);
    let out = custody(&["verify", PROGRAM, "--plan-file", "no/such/plan.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr), "error: cannot read `no/such/plan.json`: no such file\n");
}

#[test]
fn a_plan_that_does_not_fit_the_program_is_a_finding_not_a_crash() {
    let plan = edited_plan("main", |ops| {
        ops[0]["local"] = serde_json::json!(999);
        ops[1]["inst"] = serde_json::json!({"block": 42, "index": 0});
    });
    let path = scratch_file("misfit.json", &serde_json::to_string_pretty(&plan).unwrap());
    let out = custody(&["verify", PROGRAM, "--plan-file", &path]);
    assert_eq!(out.status.code(), Some(3));
    expect![[r#"
        error[verify-invalid-plan]: in `main`, at b1.1: `free` at b1.1 names %999, which does not exist
          --> test-data/verify/branch_release.cdy:15:9
           |
        15 |         print(s);
           |         ^^^^^^^^

        error[verify-invalid-plan]: in `main`: `free` (operation 1) is placed at b42.0, which does not exist

        error[verify-leak]: in `main`, at b3.7 (path b0 -> b1 -> b3): s is ended by its scope's exit while the function still owns a reference to its value, which nothing releases
          --> test-data/verify/branch_release.cdy:21:1
           |
        21 | }
           | ^

        error: the plan of `test-data/verify/branch_release.cdy` is rejected: 3 errors
    "#]]
    .assert_eq(&text(&out.stdout));
}
