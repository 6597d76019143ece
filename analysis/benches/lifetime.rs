//! Speed of the whole inferred plan (escape analysis, ownership, liveness, operations,
//! alias classes and placements) on generated programs, at three sizes each, so that a
//! pass that grows faster than its input shows as a time that grows faster than the size.
//!
//! `cargo bench -p custody-analysis --bench lifetime` reports:
//! - `many_functions`: the generator of the `check` benchmark (locals, loops, closures,
//!   objects, method calls, a call chain), N functions;
//! - `field_loads_with_arithmetic`: one block of N pairs of statements: a push onto a
//!   field (a take of rule own-take-field across a run of arithmetic), then a load of the
//!   field followed by a run of arithmetic;
//! - `borrowed_local_cascade`: one function with N locals that each read the previous one
//!   (candidates of rule own-borrow-local), where the previous one gets a new value while
//!   the next is live, so that refuting one candidate refutes the next only once its
//!   roots have changed: N rounds of refutation;
//! - `reassigned_through_branches`: one function of N steps, each a new object whose field
//!   an `if` may overwrite with a string that the step then reassigns (`s = s + t.v`): a
//!   local with N definitions, read N times, across 3N blocks (the sparse reaching
//!   definitions of rule esc-merge, and classes looked up once per local, not per object);
//! - `calls_and_spawns_of_reassigned_locals`: one function of N steps, each giving a
//!   string and an object new values and passing them to a function, a closure and a
//!   spawned thread (classes joined across calls and handovers per local, not per object
//!   per call);
//! - `chain_with_closing_stores`: one function linking N nodes into a chain, each of
//!   which may point back to the head: N stores closing one cycle (each cycle's members and
//!   sites taken once, not once per store);
//! - `loops_with_arenas_and_stores`: N loops, each with work for the arena, cycle and
//!   thread analyses.
//!
//! Programs are checked and lowered once, outside the measurement.

use custody_analysis::inferred::inferred_plan;
use custody_analysis::plan::SpanMap;
use custody_analysis::{AnalysisDatabase, SourceFile, check_file, program_ir};
use custody_ir as ir;
use std::fmt::Write;

mod common;

fn main() {
    divan::main();
}

/// The program's IR, after checking that it has no errors.
fn lower(text: String) -> ir::Program {
    let db = AnalysisDatabase::default();
    let file = SourceFile::new(&db, "bench.cdy".into(), text);
    let errors =
        check_file(&db, file).iter().filter(|d| d.severity == custody_analysis::Severity::Error).count();
    assert_eq!(errors, 0, "the generated program does not check");
    program_ir(&db, file).clone()
}

/// Measures the inferred plan of `program`, counting its instructions.
fn bench_plan(bencher: divan::Bencher<'_, '_>, program: &ir::Program) {
    let insts: usize = program.functions.iter().map(|f| f.insts().count()).sum();
    let position = |span: ir::Span| format!("{}..{}", span.start, span.end);
    bencher.counter(divan::counter::ItemsCount::new(insts)).bench(|| {
        let (plan, _) = inferred_plan(divan::black_box(program), "bench.cdy", &SpanMap::new(None), &position);
        plan.functions.len()
    });
}

#[divan::bench(args = [1000, 2000, 4000], sample_count = 3)]
fn many_functions(bencher: divan::Bencher<'_, '_>, functions: usize) {
    bench_plan(bencher, &lower(common::program(functions)));
}

#[divan::bench(args = [250, 500, 1000], sample_count = 3)]
fn field_loads_with_arithmetic(bencher: divan::Bencher<'_, '_>, pairs: usize) {
    bench_plan(bencher, &lower(field_loads_with_arithmetic_program(pairs)));
}

#[divan::bench(args = [500, 1000, 2000], sample_count = 3)]
fn borrowed_local_cascade(bencher: divan::Bencher<'_, '_>, locals: usize) {
    bench_plan(bencher, &lower(borrowed_local_cascade_program(locals)));
}

#[divan::bench(args = [2000, 4000, 8000], sample_count = 3)]
fn reassigned_through_branches(bencher: divan::Bencher<'_, '_>, steps: usize) {
    bench_plan(bencher, &lower(reassigned_through_branches_program(steps)));
}

/// `main` as `steps` steps that each allocate a `Box`, maybe store the running string in
/// it, and append its field to the running string.
fn reassigned_through_branches_program(steps: usize) -> String {
    let mut out =
        String::from("class Box {\n    v: string,\n}\n\nfn main() {\n    let s = \"a\";\n    let k = 0;\n");
    for i in 0..steps {
        let _ = write!(
            out,
            "    let t{i} = Box {{ v: \"y\" }};\n    if k > {i} {{\n        t{i}.v = s;\n    }}\n    \
             s = s + t{i}.v;\n    k = k + 1;\n"
        );
    }
    out.push_str("    print(len(s));\n}\n");
    out
}

#[divan::bench(args = [2000, 4000, 8000], sample_count = 3)]
fn calls_and_spawns_of_reassigned_locals(bencher: divan::Bencher<'_, '_>, steps: usize) {
    bench_plan(bencher, &lower(calls_and_spawns_of_reassigned_locals_program(steps)));
}

/// `main` as `steps` steps that each give `s` and `b` new values and pass them on.
fn calls_and_spawns_of_reassigned_locals_program(steps: usize) -> String {
    let mut out = String::from(
        "class Box {\n    v: string,\n}\n\nfn use_it(s: string) -> int {\n    return len(s);\n}\n\n\
         fn worker(b: Box) {\n    print(len(b.v));\n}\n\nfn main() {\n    let s = \"a\";\n    \
         let b = Box { v: s };\n    let k = 0;\n    let keep = fn(x: string) -> int { return len(x); };\n",
    );
    for _ in 0..steps {
        out.push_str(
            "    s = s + \"x\";\n    k = k + use_it(s) + keep(s);\n    b = Box { v: s };\n    \
             spawn worker(b);\n    print(len(b.v));\n",
        );
    }
    out.push_str("    print(k);\n}\n");
    out
}

#[divan::bench(args = [1000, 2000, 4000], sample_count = 3)]
fn chain_with_closing_stores(bencher: divan::Bencher<'_, '_>, nodes: usize) {
    bench_plan(bencher, &lower(chain_with_closing_stores_program(nodes)));
}

/// `main` linking `nodes` nodes after a head, each maybe pointing back to the head.
fn chain_with_closing_stores_program(nodes: usize) -> String {
    let mut out = String::from(
        "class Node {\n    v: int,\n    next: Node?,\n}\n\nfn main() {\n    \
         let head = Node { v: 0, next: null };\n    let cur = head;\n    let k = 0;\n",
    );
    for i in 0..nodes {
        let _ = write!(
            out,
            "    let n{i} = Node {{ v: {i}, next: null }};\n    cur.next = n{i};\n    if k > {i} {{\n        \
             n{i}.next = head;\n    }}\n    cur = n{i};\n    k = k + cur.v;\n"
        );
    }
    out.push_str("    print(k);\n}\n");
    out
}

#[divan::bench(args = [100, 200, 400], sample_count = 3)]
fn loops_with_arenas_and_stores(bencher: divan::Bencher<'_, '_>, loops: usize) {
    bench_plan(bencher, &lower(loops_with_arenas_and_stores_program(loops)));
}

/// `main` as `loops` loops in a row, each with an arena block, a pair of shared objects
/// that die in the iteration (an inferred arena), a store that may close a cycle and a
/// spawn: every issue-7 analysis (arenas, cycles, threads) has work in each loop.
fn loops_with_arenas_and_stores_program(loops: usize) -> String {
    let mut out = String::from(
        "class P {\n    x: int,\n    next: P?,\n}\n\nfn work(p: P) {\n    let n = p.x;\n}\n\nfn main() {\n    let \
         head = P { x: 0, next: null };\n    let total = 0;\n",
    );
    for i in 0..loops {
        out.push_str(&format!(
            "    for i{i} in 0..3 {{\n        let p{i} = P {{ x: i{i}, next: head }};\n        let pair{i} = [p{i}, \
             p{i}];\n        arena {{\n            let a{i} = P {{ x: {i}, next: null }};\n            total = total + \
             a{i}.x + pair{i}[0].x;\n        }}\n        head.next = p{i};\n        spawn work(P {{ x: {i}, next: null \
             }});\n    }}\n"
        ));
    }
    out.push_str("    print(total);\n}\n");
    out
}

/// Operands in each run of arithmetic (`1 + 2 + ...`): well below the parser's nesting
/// limit, long enough that a scan from each load to its end is most of the block.
const RUN: usize = 40;

/// `main` as one block of `pairs` pairs of statements: `push(h.items, total + 1 + ...)`
/// (loaded, then the run, then pushed and stored back) and `total = total +
/// len(h.items) + 1 + ...` (loaded, then the run).
fn field_loads_with_arithmetic_program(pairs: usize) -> String {
    let run: String = (1..=RUN).map(|k| format!(" + {k}")).collect();
    let mut out = String::from("class Holder {\n    n: int,\n    items: [int],\n}\n\nfn main() {\n");
    out.push_str("    let h = Holder { n: 0, items: [] };\n    let total = 0;\n");
    for _ in 0..pairs {
        writeln!(out, "    push(h.items, total{run});").unwrap();
        writeln!(out, "    total = total + len(h.items){run};").unwrap();
    }
    out.push_str("    print(total + h.n);\n}\n");
    out
}

/// `main` with `c1 = c0`, then for each next local `let cK = cJ; cJ = cI;` (J = K - 1,
/// I = K - 2), then reads of every local: each `cK` reads `cJ`, which gets a new value
/// while `cK` is live, so `cK` stays a candidate until `cJ` is refuted.
fn borrowed_local_cascade_program(locals: usize) -> String {
    let mut out = String::from("class Holder {\n    n: int,\n    items: [int],\n}\n\nfn main() {\n");
    out.push_str("    let c0 = Holder { n: 0, items: [] };\n    let c1 = c0;\n");
    out.push_str("    c0 = Holder { n: 1, items: [] };\n");
    for k in 2..=locals {
        writeln!(out, "    let c{k} = c{};\n    c{} = c{};", k - 1, k - 1, k - 2).unwrap();
    }
    out.push_str("    let total = 0;\n");
    for k in 1..=locals {
        writeln!(out, "    total = total + c{k}.n;").unwrap();
    }
    out.push_str("    print(total);\n}\n");
    out
}
