//! `custody run`: every program in `test-data/programs/` with expected output runs under the
//! naive plan and prints exactly that output. The exit code and the checked heap's report
//! (on stderr) are snapshotted in `test-data/golden/run/NAME.naive`: 0 for a clean run,
//! 3 where plain counting leaks a cycle (the report names the objects and their
//! allocation sites).

use expect_test::expect_file;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(args)
        .current_dir(workspace_root())
        .env("COLUMNS", "100")
        .output()
        .expect("the custody binary runs")
}

/// Every program in `test-data/programs/` with expected output, in name order.
fn runnable_programs() -> Vec<PathBuf> {
    let dir = workspace_root().join("test-data/programs");
    let mut programs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cdy") && p.with_extension("stdout").exists())
        .collect();
    programs.sort();
    programs
}

#[test]
fn every_program_runs_under_the_naive_plan() {
    let programs = runnable_programs();
    assert!(programs.len() >= 20, "only {} runnable programs", programs.len());
    let mut failures = Vec::new();
    for path in &programs {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let rel = format!("test-data/programs/{name}.cdy");
        let out = run(&["run", "--plan", "naive", &rel]);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let expected = std::fs::read_to_string(path.with_extension("stdout")).unwrap();
        let code = out.status.code().unwrap_or(-1);
        if stdout != expected {
            failures.push(format!(
                "{name}: output differs\n--- expected\n{expected}--- actual\n{stdout}--- stderr\n{stderr}"
            ));
        }
        if code != 0 && code != 3 {
            failures.push(format!("{name}: exit {code}\n{stderr}"));
        }
        expect_file![workspace_root().join(format!("test-data/golden/run/{name}.naive"))]
            .assert_eq(&format!("exit: {code}\n{stderr}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn run_is_deterministic_for_a_seed() {
    let a = run(&["run", "--seed", "7", "--trace", "test-data/programs/amethyst_threads.cdy"]);
    let b = run(&["run", "--seed", "7", "--trace", "test-data/programs/amethyst_threads.cdy"]);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stderr, b.stderr);
}

#[test]
fn trace_shows_allocations_and_frees() {
    let out = run(&["run", "--plan", "naive", "--trace", "test-data/programs/contract_example.cdy"]);
    let trace = String::from_utf8_lossy(&out.stderr);
    let allocs = trace.lines().filter(|l| l.starts_with("alloc ")).count();
    let frees = trace.lines().filter(|l| l.starts_with("free ")).count();
    assert!(allocs >= 5, "{trace}");
    assert!(frees >= 1, "{trace}");
}

#[test]
fn run_exit_codes() {
    // Does not compile: 2.
    let out = run(&["run", "spec/cases/check/call_too_many_args.cdy"]);
    assert_eq!(out.status.code(), Some(2));
    // Missing file: 2.
    let out = run(&["run", "test-data/no-such.cdy"]);
    assert_eq!(out.status.code(), Some(2));
    // A program error (an extern call): 4.
    let dir = std::env::temp_dir().join(format!("custody-run-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prog = dir.join("extern.cdy");
    std::fs::write(&prog, "extern fn c_exit(code: int);\nfn main() { print(1); c_exit(3); }\n").unwrap();
    let out = run(&["run", prog.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    let prog = dir.join("index.cdy");
    std::fs::write(&prog, "fn main() { let xs = [1, 2]; print(xs[5]); }\n").unwrap();
    let out = run(&["run", prog.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    // Stats JSON is written whole.
    let stats = dir.join("stats.json");
    let out = run(&["run", "--stats-json", stats.to_str().unwrap(), "test-data/programs/linked_list.cdy"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    for key in ["allocations", "frees", "rc_ops", "peak_bytes", "leaked", "by_placement"] {
        assert!(json["stats"].get(key).is_some() || json.get(key).is_some(), "missing {key}: {json}");
    }
}

fn stats(path: &Path) -> (u64, u64) {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    (v["stats"]["rc_ops"].as_u64().unwrap(), v["stats"]["peak_bytes"].as_u64().unwrap())
}

/// Every program runs under the inferred plan, on ten seeds, with the naive plan's output,
/// exit 0, no violation and no leak (cycles included: where the naive plan leaks a cycle
/// and exits 3, the inferred plan frees it); its executed counter operations are a
/// fraction of the naive plan's and its peak memory is never higher.
#[test]
fn every_program_runs_under_the_inferred_plan() {
    let programs = runnable_programs();
    let tmp = std::env::temp_dir().join(format!("custody-run-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let (mut naive_rc, mut inferred_rc) = (0u64, 0u64);
    let mut failures = Vec::new();
    for path in &programs {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let rel = format!("test-data/programs/{name}.cdy");
        for seed in 1..=10 {
            let seed = seed.to_string();
            let ns = tmp.join(format!("{name}-{seed}.naive.json"));
            let is = tmp.join(format!("{name}-{seed}.inferred.json"));
            let naive =
                run(&["run", "--plan", "naive", "--seed", &seed, "--stats-json", ns.to_str().unwrap(), &rel]);
            let inferred = run(&["run", "--seed", &seed, "--stats-json", is.to_str().unwrap(), &rel]);
            let (nc, ic) = (naive.status.code(), inferred.status.code());
            let naive_leaks_cycle =
                nc == Some(3) && String::from_utf8_lossy(&naive.stderr).contains("error[leaked-cycle]");
            if naive.stdout != inferred.stdout || ic != Some(0) || (nc != Some(0) && !naive_leaks_cycle) {
                failures.push(format!(
                    "{name} seed {seed}: naive exit {nc:?}, inferred exit {ic:?}\n{}",
                    String::from_utf8_lossy(&inferred.stderr)
                ));
                continue;
            }
            let ((n_rc, n_peak), (i_rc, i_peak)) = (stats(&ns), stats(&is));
            naive_rc += n_rc;
            inferred_rc += i_rc;
            if i_peak > n_peak {
                failures.push(format!("{name} seed {seed}: peak {i_peak} bytes, naive {n_peak}"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The target: at most 20% of the naive plan's counter operations (today's plan
    // executes under 1%, most of it in programs whose objects really are shared).
    let ratio = inferred_rc as f64 / naive_rc as f64;
    assert!(
        ratio <= 0.20,
        "inferred plan executes {inferred_rc} counter operations, naive {naive_rc} ({ratio:.3})"
    );
}
