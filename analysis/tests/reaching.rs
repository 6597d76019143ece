//! The sparse reaching definitions of the escape graph (`escape/reaching.rs`, rule
//! `esc-merge`) on minimal functions: where merges are placed, what flows into each, and
//! which value each read of a local names. (That they agree with the dense dataflow on
//! every test program is checked in `escape_solvers.rs`.)

use custody_analysis::escape::analyze;
use custody_analysis::escape::reaching::Value;
use custody_analysis::plan::local_name;
use custody_analysis::{AnalysisDatabase, SourceFile, program_ir};
use expect_test::{Expect, expect};
use std::fmt::Write;

/// The merges and the reads of named locals of function `name`, one per line.
fn reads_of(text: &str, name: &str) -> String {
    let db = AnalysisDatabase::default();
    let file = SourceFile::new(&db, "case.cdy".into(), text.to_string());
    let program = program_ir(&db, file);
    let escape = analyze(program);
    let i = program.functions.iter().position(|f| f.name == name).expect("no such function");
    let (f, g) = (&program.functions[i], &escape.functions[i].graph);
    let value = |v: Value| match v {
        Value::Def(d) => match g.defs[d as usize].at {
            Some(at) => format!("def@{at}"),
            None => "entry".to_string(),
        },
        Value::Merge(m) => format!("φ{m}"),
    };
    let mut out = String::new();
    for (m, merge) in g.reaching.merges.iter().enumerate() {
        let incoming: Vec<String> = merge.incoming.iter().map(|&v| value(v)).collect();
        let _ = writeln!(
            out,
            "φ{m} = merge of {} at block {}: {}",
            local_name(f, merge.local),
            merge.block.0,
            incoming.join(", ")
        );
    }
    for (at, inst) in f.insts() {
        for l in inst.kind.uses() {
            if f.get_local(l).is_some_and(|d| d.name.is_some())
                && let Some(&v) = g.reaching.reads.get(&(at, l))
            {
                let _ = writeln!(out, "{at} reads {}: {}", local_name(f, l), value(v));
            }
        }
    }
    out
}

fn check(text: &str, name: &str, expect: Expect) {
    expect.assert_eq(&reads_of(text, name));
}

#[test]
fn straight_line_code_needs_no_merge() {
    check(
        "class N { next: N? }\nfn f(p: N) -> N? {\n    let x: N? = p;\n    x = x.next;\n    return x;\n}\n",
        "f",
        expect![[r#"
            b0.2 reads p: entry
            b0.4 reads x: def@b0.2
            b0.5 reads x: def@b0.2
            b0.8 reads x: def@b0.6
        "#]],
    );
}

#[test]
fn a_branch_that_reassigns_merges_at_the_join() {
    check(
        "class N { next: N? }\nfn f(p: N?) -> N? {\n    let x: N? = p;\n    if x == null {\n        x = N { next: null };\n    }\n    return x;\n}\n",
        "f",
        expect![[r#"
            φ0 = merge of x at block 3: def@b1.3, def@b0.2
            φ1 = merge of %3 at block 3: def@b1.2
            b0.2 reads p: entry
            b0.3 reads x: def@b0.2
            b3.0 reads x: φ0
        "#]],
    );
}

#[test]
fn a_loop_merges_at_its_header_and_a_branch_that_does_not_reassign_merges_nothing() {
    check(
        "class N { next: N? }\nfn f(p: N?, q: N?) -> N? {\n    let x: N? = p;\n    if q == null {\n        print(1);\n    }\n    while x != null {\n        x = x.next;\n    }\n    return q;\n}\n",
        "f",
        expect![[r#"
            φ0 = merge of x at block 4: def@b0.2, def@b5.4
            φ1 = merge of %7 at block 4: def@b5.3
            b0.2 reads p: entry
            b0.3 reads q: entry
            b4.0 reads x: φ0
            b5.2 reads x: φ0
            b5.3 reads x: φ0
            b6.0 reads q: entry
        "#]],
    );
}
