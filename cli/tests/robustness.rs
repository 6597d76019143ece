//! Issue 16: no input makes custody panic, overflow its stack, hang or damage a file.
//!
//! Every test here runs the `custody` binary (its main thread has the 8 MiB stack users
//! get) on an input generated in the test, and checks the exit code and the first
//! diagnostic. The stress sizes are kept small enough for a debug build in CI; set
//! `CUSTODY_STRESS_SCALE=N` (a multiplier, e.g. 5) to run them at the sizes of the issue
//! (87,500 functions, 100,000 terms), best with `--release`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn custody(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the custody binary runs")
}

/// Standard error and standard output (`check` reports on standard output).
fn stderr(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stderr), String::from_utf8_lossy(&output.stdout))
}

/// A scratch directory unique to this test process and test.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("custody-robust-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn scratch_file(test: &str, name: &str, contents: &[u8]) -> PathBuf {
    let path = scratch_dir(test).join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// The stress multiplier (`CUSTODY_STRESS_SCALE`, 1 by default).
fn scale() -> usize {
    std::env::var("CUSTODY_STRESS_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

/// Runs a command and checks it ends with one of `codes`, neither by a signal (a stack
/// overflow aborts) nor by a panic (exit 101).
fn run_expecting(args: &[&str], codes: &[i32]) -> Output {
    let started = Instant::now();
    let out = custody(args);
    let code = out.status.code();
    assert!(
        code.is_some_and(|c| codes.contains(&c)),
        "custody {args:?} ended with {:?} after {:?}, expected one of {codes:?}:\n{}",
        out.status,
        started.elapsed(),
        tail(&stderr(&out))
    );
    out
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(2000);
    let mut start = start;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

// ---- 1. items without a name -----------------------------------------------------------

#[test]
fn items_without_a_name_are_syntax_errors_not_panics() {
    let cases: [(&str, &str); 4] = [
        ("class.cdy", "class {}\nfn main() {}\n"),
        ("struct.cdy", "struct {}\nfn main() {}\n"),
        ("class_at_end.cdy", "fn main() {}\nclass"),
        (
            "class_with_members.cdy",
            "class { x: int fn get(self) -> int { return self.x; } drop {} }\nclass C { y: int }\nfn main() { let c = C { y: 1 }; print(c.y); }\n",
        ),
    ];
    for (name, text) in cases {
        let path = scratch_file("unnamed", name, text.as_bytes());
        let path = path.to_str().unwrap();
        for command in
            [&["check", path][..], &["plan", path], &["ir", path], &["explain", path, "--line", "1"]]
        {
            let out = run_expecting(command, &[1]);
            assert!(stderr(&out).contains("error[syntax]"), "{command:?}: {}", stderr(&out));
        }
    }
}

// ---- 2. deep but legal programs ---------------------------------------------------------

fn call_chain(n: usize) -> String {
    let mut text = String::with_capacity(n * 50);
    for i in 0..n {
        text.push_str(&format!("fn f{i}(x: int) -> int {{ return f{}(x) + 1; }}\n", i + 1));
    }
    text.push_str(&format!("fn f{n}(x: int) -> int {{ return x; }}\nfn main() {{ print(f0(1)); }}\n"));
    text
}

fn class_ring(n: usize) -> String {
    let mut text = String::with_capacity(n * 30);
    for i in 0..n {
        text.push_str(&format!("class C{i} {{ n: C{}? }}\n", (i + 1) % n));
    }
    text.push_str("fn main() { let c = C0 { n: null }; print(1); }\n");
    text
}

#[test]
fn a_long_call_chain_does_not_overflow_the_stack() {
    let n = 17_500 * scale();
    let path = scratch_file("chain", "chain.cdy", call_chain(n).as_bytes());
    let path = path.to_str().unwrap();
    for command in [&["check", path][..], &["plan", path], &["ir", path], &["explain", path, "--line", "1"]] {
        run_expecting(command, &[0, 1]);
    }
}

#[test]
fn a_ring_of_classes_does_not_overflow_the_stack() {
    let n = 17_500 * scale();
    let path = scratch_file("ring", "ring.cdy", class_ring(n).as_bytes());
    let path = path.to_str().unwrap();
    run_expecting(&["check", path], &[0]);
    run_expecting(&["plan", path], &[0]);
    run_expecting(&["run", path], &[0]);
}

/// Structs nested by value 17,500 deep: every walk of a struct's fields (does it hold
/// references?) goes through all of them, and must stay linear (a search of a list of
/// the structs met made it quadratic).
#[test]
fn a_chain_of_nested_structs_is_planned_and_run() {
    let n = 17_500 * scale();
    let mut text = String::with_capacity(n * 30);
    for i in 0..n {
        text.push_str(&format!("struct S{i} {{ a: S{} }}\n", i + 1));
    }
    text.push_str(&format!("struct S{n} {{ s: string }}\nfn f(x: S0) -> S0 {{ let y = x; return y; }}\n"));
    text.push_str("fn main() { print(1); }\n");
    let path = scratch_file("structs", "structs.cdy", text.as_bytes());
    let path = path.to_str().unwrap();
    for command in [&["check", path][..], &["plan", path], &["run", path], &["verify", path]] {
        run_expecting(command, &[0]);
    }
}

/// Structs that hold the struct below twice, 40 levels: a value of the top one has 2^40
/// paths, so any walk that follows every path hangs (the lifetime analysis's
/// observability test did, and the verifier's test of which types hold references);
/// each struct must be looked into once.
#[test]
fn doubling_structs_take_no_exponential_time() {
    let n = 40;
    let mut text = String::from("struct S0 { v: int, s: string }\n");
    for i in 1..=n {
        text.push_str(&format!("struct S{i} {{ a: S{0}, b: S{0} }}\n", i - 1));
    }
    text.push_str(&format!("fn f(x: S{n}) -> S{n} {{ let y = x; return y; }}\nfn main() {{ print(1); }}\n"));
    let path = scratch_file("doubling", "doubling.cdy", text.as_bytes());
    let path = path.to_str().unwrap();
    for command in [&["check", path][..], &["plan", path], &["run", path], &["verify", path]] {
        let started = Instant::now();
        run_expecting(command, &[0]);
        assert!(started.elapsed() < Duration::from_secs(20), "{command:?}: {:?}", started.elapsed());
    }
}

// ---- 3. many errors on one line ---------------------------------------------------------

#[test]
fn many_errors_on_one_line_take_linear_time() {
    // 16,000 errors on one 32 KB line took 18 s when every error rescanned the line.
    let n = 16_000;
    let text = format!("fn main() {{ {}}}\n", "# ".repeat(n));
    let path = scratch_file("errors", "errors.cdy", text.as_bytes());
    let started = Instant::now();
    let out = run_expecting(&["check", path.to_str().unwrap()], &[1]);
    let elapsed = started.elapsed();
    let err = stderr(&out);
    // The location is computed from the whole line even where only a window is shown.
    assert!(err.contains("errors.cdy:1:13\n"), "{}", &err[..err.len().min(2000)]);
    assert!(err.contains(&format!("errors.cdy:1:{}\n", 13 + 2 * (n - 1))), "{}", tail(&err));
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[test]
fn a_diagnostic_on_a_long_unicode_line_points_at_the_right_column() {
    let text = format!("fn main() {{ let s = \"{}\"; # }}\n", "é".repeat(5000));
    let path = scratch_file("unicode", "unicode.cdy", text.as_bytes());
    let out = run_expecting(&["check", path.to_str().unwrap()], &[1]);
    // `#` is after `fn main() { let s = "` (21 characters), 5000 `é`, `"; ` (3).
    assert!(stderr(&out).contains(&format!("unicode.cdy:1:{}\n", 21 + 5000 + 3 + 1)), "{}", stderr(&out));
}

// ---- 4. --output never replaces what is not a regular file --------------------------------

const SMALL: &str = "fn main() { print(1); }\n";

#[test]
fn plan_output_replaces_a_regular_file_whole() {
    let dir = scratch_dir("output-regular");
    let program = dir.join("p.cdy");
    std::fs::write(&program, SMALL).unwrap();
    let target = dir.join("plan.json");
    std::fs::write(&target, "old").unwrap();
    run_expecting(&["plan", program.to_str().unwrap(), "--output", target.to_str().unwrap()], &[0]);
    assert!(std::fs::read_to_string(&target).unwrap().starts_with('{'));
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    // A new path is created.
    let new = dir.join("new.json");
    run_expecting(&["plan", program.to_str().unwrap(), "--output", new.to_str().unwrap()], &[0]);
    assert!(std::fs::read_to_string(&new).unwrap().starts_with('{'));
}

#[cfg(unix)]
#[test]
fn plan_output_follows_symlinks_and_writes_through_devices() {
    use std::os::unix::fs::FileTypeExt;
    let dir = scratch_dir("output-special");
    let program = dir.join("p.cdy");
    std::fs::write(&program, SMALL).unwrap();
    let program = program.to_str().unwrap();

    // A symlink to a regular file: the target gets the plan, the link stays a link.
    let target = dir.join("target.json");
    std::fs::write(&target, "old").unwrap();
    let link = dir.join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    run_expecting(&["plan", program, "--output", link.to_str().unwrap()], &[0]);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(&target).unwrap().starts_with('{'));

    // A dangling symlink: written through, creating its target.
    let missing = dir.join("missing.json");
    let dangling = dir.join("dangling.json");
    std::os::unix::fs::symlink(&missing, &dangling).unwrap();
    run_expecting(&["plan", program, "--output", dangling.to_str().unwrap()], &[0]);
    assert!(std::fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(&missing).unwrap().starts_with('{'));

    // A device: written to, never replaced (as root, a rename would replace the node).
    run_expecting(&["plan", program, "--output", "/dev/null"], &[0]);
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());

    // A named pipe: written through while a reader reads it.
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let reader_path = fifo.clone();
        let reader = std::thread::spawn(move || std::fs::read_to_string(reader_path).unwrap());
        run_expecting(&["plan", program, "--output", fifo.to_str().unwrap()], &[0]);
        assert!(reader.join().unwrap().starts_with('{'));
        assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    }

    // A directory is an error (exit 2), and stays a directory.
    let out = run_expecting(&["plan", program, "--output", dir.to_str().unwrap()], &[2]);
    assert!(stderr(&out).starts_with("error: cannot write"), "{}", stderr(&out));
    assert!(dir.is_dir());
}

// ---- 5. long operator chains ------------------------------------------------------------

#[test]
fn a_long_flat_operator_chain_is_not_nesting() {
    let n = 20_000 * scale();
    let text = format!("fn main() {{ let a = 1; let x = {}; print(x); }}\n", vec!["a"; n].join(" + "));
    let path = scratch_file("binary", "binary.cdy", text.as_bytes());
    let path = path.to_str().unwrap();
    for command in [&["check", path][..], &["plan", path], &["ir", path]] {
        run_expecting(command, &[0]);
    }
    // Mixed operators nest only as deep as their precedence levels.
    let terms: Vec<String> =
        (0..n).map(|i| if i % 3 == 0 { "a * 2".to_owned() } else { "a".to_owned() }).collect();
    let text =
        format!("fn main() {{ let a = 1; let b = {} > 0 && true || false; print(b); }}\n", terms.join(" - "));
    let path = scratch_file("binary-mixed", "mixed.cdy", text.as_bytes());
    run_expecting(&["check", path.to_str().unwrap()], &[0]);
}

#[test]
fn real_nesting_still_hits_the_depth_limit() {
    let n = 600;
    let text =
        format!("fn main() {{ let a = 1; let x = {}a{}; print(x); }}\n", "(a + ".repeat(n), ")".repeat(n));
    let path = scratch_file("nested", "nested.cdy", text.as_bytes());
    let out = run_expecting(&["check", path.to_str().unwrap()], &[1]);
    assert!(stderr(&out).contains("nested too deeply"), "{}", tail(&stderr(&out)));
}

// ---- 6. a byte-order mark -----------------------------------------------------------------

#[test]
fn a_byte_order_mark_is_skipped() {
    let path = scratch_file("bom", "bom.cdy", b"\xef\xbb\xbffn main() { print(1); }\n");
    let path = path.to_str().unwrap();
    run_expecting(&["parse", "--errors-only", path], &[0]);
    run_expecting(&["check", path], &[0]);
    let out = run_expecting(&["run", path], &[0]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    // Positions after it are counted as an editor shows them: `x` is at 1:17.
    let path = scratch_file("bom-error", "bom.cdy", b"\xef\xbb\xbffn main() { let x = y; }\n");
    let out = run_expecting(&["check", path.to_str().unwrap()], &[1]);
    assert!(stderr(&out).contains("bom.cdy:1:21"), "{}", stderr(&out));
}
