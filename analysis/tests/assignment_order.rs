//! Assignment releases the old value last (spec/language.md 6.2, 7.3): `b = make(2)` runs
//! `make` (and everything it prints) before `b`'s old object is destroyed, for every kind
//! of place and every right side that runs code. Plans release a variable's old value just
//! before the instruction that overwrites it, so the lowering computes such right sides
//! into a temporary (spec/ir.md 1.4); each program here runs under the naive and the
//! inferred plan on the checked interpreter.

use custody_analysis::inferred::inferred_plan;
use custody_analysis::naive::naive_plan;
use custody_analysis::plan::SpanMap;
use custody_analysis::{AnalysisDatabase, SourceFile, check_file, program_ir};
use custody_ir::exec::{self, Outcome, RunOptions};
use custody_ir::plan::MemoryPlan;
use custody_ir::print_function;
use expect_test::{Expect, expect};

/// A class whose destruction prints its id, and a function that prints `100 + k` before it
/// makes one: the order of the two kinds of lines is the order of call and release.
const NOISY: &str = "
class Noisy { id: int, drop { print(self.id); } }
fn make(k: int) -> Noisy { print(100 + k); return Noisy { id: k }; }
";

/// The program's IR, which must check clean.
fn lower(db: &AnalysisDatabase, source: &str) -> custody_ir::Program {
    let file = SourceFile::new(db, "test.cdy".to_string(), source.to_string());
    let diagnostics = check_file(db, file);
    assert!(!diagnostics.iter().any(|d| d.severity == custody_analysis::Severity::Error), "{diagnostics:?}");
    program_ir(db, file).clone()
}

/// What `main` prints under `plan`, which must run clean.
fn output(program: &custody_ir::Program, plan: &MemoryPlan, which: &str) -> String {
    let mut stdout = Vec::new();
    let report = exec::run(program, plan, &RunOptions::default(), &mut stdout, &mut std::io::sink());
    let violations: Vec<&str> = report.violations.iter().map(|v| v.message.as_str()).collect();
    assert_eq!(report.outcome, Outcome::Completed, "{which} plan: {violations:?} {:?}", report.program_error);
    String::from_utf8(stdout).unwrap().lines().collect::<Vec<_>>().join(" ")
}

/// Runs `source` under the naive plan and, if `inferred`, under the inferred plan too; each
/// must print `expected` (its lines joined by spaces).
fn check_output(source: &str, inferred: bool, expected: &str) {
    let db = AnalysisDatabase::default();
    let program = lower(&db, source);
    let spans = SpanMap::new(None);
    let naive = naive_plan(&program, source, &spans);
    assert_eq!(output(&program, &naive, "naive"), expected, "naive plan of\n{source}");
    if inferred {
        let position = |span: custody_ir::Span| format!("{span:?}");
        let (plan, _) = inferred_plan(&program, source, &spans, &position);
        assert_eq!(output(&program, &plan, "inferred"), expected, "inferred plan of\n{source}");
    }
}

/// Both plans print `expected` for `NOISY` followed by `rest`.
fn check_noisy(rest: &str, expected: &str) {
    check_output(&format!("{NOISY}{rest}"), true, expected);
}

#[test]
fn a_call_assigned_to_a_variable_runs_before_the_old_value_is_released() {
    check_noisy("fn main() { let b = make(1); b = make(2); print(0); }", "101 102 1 0 2");
}

#[test]
fn a_method_call_assigned_to_a_variable_runs_before_the_old_value_is_released() {
    check_noisy(
        "class Factory {
            base: int,
            fn make(self, k: int) -> Noisy { print(self.base + k); return Noisy { id: k }; }
        }
        fn main() { let f = Factory { base: 100 }; let b = f.make(1); b = f.make(2); print(0); }",
        "101 102 1 0 2",
    );
}

#[test]
fn a_closure_call_assigned_to_a_variable_runs_before_the_old_value_is_released() {
    check_noisy(
        "fn main() {
            let mk = fn(k: int) -> Noisy { print(100 + k); return Noisy { id: k }; };
            let b = mk(1);
            b = mk(2);
            print(0);
        }",
        "101 102 1 0 2",
    );
}

#[test]
fn a_struct_variable_releases_its_old_fields_after_the_call() {
    // The record literal's field calls run before its `new_struct` writes `p` directly.
    check_noisy(
        "struct Pair { left: Noisy, right: int }
        fn pair(k: int) -> Pair { return Pair { left: make(k), right: k }; }
        fn main() { let p = pair(1); p = pair(2); print(0); p = Pair { left: make(3), right: 3 }; print(-1); }",
        "101 102 1 0 103 2 -1 3",
    );
}

#[test]
fn an_assigned_parameter_releases_its_argument_after_the_call() {
    // The caller's temporary still holds the argument: it dies when `main`'s statement ends.
    check_noisy(
        "fn replace(b: Noisy) { b = make(2); print(0); }
        fn main() { replace(make(1)); print(-1); }",
        "101 102 0 2 1 -1",
    );
}

#[test]
fn field_element_and_global_stores_release_the_old_value_after_the_call() {
    check_noisy(
        "class Holder { item: Noisy }
        fn main() { let o = Holder { item: make(1) }; o.item = make(2); print(0); }",
        "101 102 1 0 2",
    );
    check_noisy("fn main() { let xs = [make(1)]; xs[0] = make(2); print(0); }", "101 102 1 0 2");
    check_noisy(
        "global g: Noisy? = null;
        fn main() { g = make(1); g = make(2); print(0); }",
        "101 102 1 0 2",
    );
}

#[test]
fn a_pop_through_a_field_writes_back_before_the_old_value_is_released() {
    // The destructor of `b`'s old object pushes onto the stack `pop` took from: after the
    // pop has been written back, so the stack ends with one element (3).
    check_output(
        "class Noisy {
            id: int,
            drop { print(self.id); if self.id == 1 { push(stack.items, Noisy { id: 3 }); } }
        }
        class Stack { items: [Noisy] }
        global stack: Stack = Stack { items: [Noisy { id: 2 }] };
        fn main() { let b = Noisy { id: 1 }; b = pop(stack.items); print(b.id); print(len(stack.items)); }",
        true,
        "1 2 1 2 3",
    );
}

#[test]
fn a_loaded_field_or_global_is_read_before_the_old_value_is_released() {
    // The destructor of `b`'s old object replaces what `b` is assigned from: `b` gets the
    // value from before (2). Only the naive plan: the inferred plan drops `b`'s old value
    // before it dups the borrowed load, and this destructor frees what the load borrows
    // (an ordering of `analysis/src/lifetime`, not of the IR).
    check_output(
        "class Noisy {
            id: int,
            drop { print(self.id); if self.id == 1 { shelf.item = Noisy { id: 3 }; } }
        }
        class Shelf { item: Noisy }
        global shelf: Shelf = Shelf { item: Noisy { id: 2 } };
        fn main() { let b = Noisy { id: 1 }; b = shelf.item; print(b.id); }",
        false,
        "1 2 2 3",
    );
    check_output(
        "class Noisy {
            id: int,
            drop { print(self.id); if self.id == 1 { spare = Noisy { id: 3 }; } }
        }
        global spare: Noisy = Noisy { id: 2 };
        fn main() { let b = Noisy { id: 1 }; b = spare; print(b.id); }",
        false,
        "1 2 2 3",
    );
}

/// Checks the IR of `main` in `NOISY` followed by `main_source`.
fn check_main_ir(main_source: &str, expected: Expect) {
    let db = AnalysisDatabase::default();
    let program = lower(&db, &format!("{NOISY}{main_source}"));
    let main = program.functions.iter().find(|f| f.name == "main").unwrap();
    // Spans shift with the prelude; the shape is what matters here.
    let text: Vec<String> = print_function(&program, main)
        .lines()
        .map(|line| line.split("  @").next().unwrap().trim_end().to_string())
        .collect();
    expected.assert_eq(&(text.join("\n") + "\n"));
}

#[test]
fn only_right_sides_that_are_not_inert_go_through_a_temporary() {
    // A copy, a constant, an allocation and a `pop` of a local array write `b` directly;
    // a call goes through a temporary.
    check_main_ir(
        "fn main() {
            let a = make(1);
            let b: Noisy? = a;
            b = a;
            b = null;
            b = Noisy { id: 3 };
            let xs: [Noisy?] = [a];
            b = pop(xs);
            b = make(4);
        }",
        expect![[r#"
            fn main()
                %0 a: Noisy      let
                %1: int          temp
                %2 b: Noisy?     let
                %3: int          temp
                %4 xs: [Noisy?]  let
                %5: int          temp
                %6: Noisy        temp
            b0:
                scope_enter s0 []
                scope_enter s1 [%0, %2, %4]
                %1 = const 1
                %0 = call make(%1)
                %2 = copy %0
                %2 = copy %0
                %2 = const null
                %3 = const 3
                %2 = new_object Noisy { id: %3 }
                %4 = new_array Noisy? [%0]
                %2 = pop %4
                scope_enter s2 [%6]
                %5 = const 4
                %6 = call make(%5)
                %2 = copy %6
                scope_exit s2
                scope_exit s1
                scope_exit s0
                return
            }
        "#]],
    );
}
