//! The sparse reaching definitions of the escape graph (`escape/reaching.rs`, rule
//! `esc-merge`) on minimal functions: where merges are placed, what flows into each, and
//! which value each read of a local names. (That they agree with the dense dataflow on
//! every test program is checked in `escape_solvers.rs`.)

use custody_analysis::escape::analyze;
use custody_analysis::escape::graph::FunctionGraph;
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
    render(&program.functions[i], &escape.functions[i].graph, false)
}

/// Each merge with its incoming values, then each read with the value it names (of every
/// local, or of named ones only).
fn render(f: &custody_ir::Function, g: &FunctionGraph, temporaries: bool) -> String {
    let value = |v: Value| match v {
        Value::Def(d) => g.defs[d as usize].at.map_or("entry".to_string(), |at| format!("def@{at}")),
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
            if (temporaries || f.get_local(l).is_some_and(|d| d.name.is_some()))
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
            b0.2 reads p: entry
            b0.3 reads q: entry
            b4.0 reads x: φ0
            b5.2 reads x: φ0
            b5.3 reads x: φ0
            b6.0 reads q: entry
        "#]],
    );
}

/// From another compiler's IR: a back edge into the entry block (so the entry block is a
/// join of the function's entry and the loop) and a block the entry cannot reach.
#[test]
fn a_back_edge_into_the_entry_block_and_an_unreachable_block() {
    use custody_ir::{FunctionKind, ProgramBuilder, Type};
    let mut b = ProgramBuilder::new();
    let node = b.add_class("N", &[("next", Type::Class(custody_ir::ClassId(0)).nullable())]);
    let fid = b.declare_function("f", FunctionKind::Plain);
    {
        let mut f = b.function(fid);
        let p = f.param("p", Type::Class(node).nullable(), None);
        f.returns(Type::Class(node).nullable());
        let c = f.local("c", Type::Bool);
        let x = f.local("x", Type::Class(node).nullable());
        let null = f.temp(Type::Class(node).nullable());
        let (back, out, dead) = (f.new_block(), f.new_block(), f.new_block());
        f.copy(x, p).is_null(c, p).branch(c, out, back);
        f.switch_to(back).const_null(null).new_object(p, node, &[null]).jump(custody_ir::BlockId(0));
        f.switch_to(dead).new_object(x, node, &[null]).jump(out);
        f.switch_to(out).ret(x);
    }
    let program = b.finish_validated().expect("valid IR");
    let escape = analyze(&program);
    let out = render(&program.functions[0], &escape.functions[0].graph, true);
    // `p` meets itself at the entry block: the caller's value and the loop's new object.
    // The unreachable block's definition of `x` reaches no read.
    expect![[r#"
        φ0 = merge of p at block 0: entry, def@b1.1
        φ1 = merge of x at block 0: def@b0.0
        φ2 = merge of %3 at block 0: def@b1.0
        b0.0 reads p: φ0
        b0.1 reads p: φ0
        b1.1 reads %3: def@b1.0
        b2.0 reads x: def@b0.0
    "#]]
    .assert_eq(&out);
}
