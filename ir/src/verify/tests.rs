//! The verifier on small programs built with the IR builder and plans written by hand:
//! what it proves, what it rejects (and where), and that a plan that does not fit the
//! program, or a program that is not valid IR, gives findings and never a panic.

use super::*;
use crate::plan::{FunctionPlan, Op, OpKind, ParamPlan, ReturnBound, ReturnPlan, SourceSpan};
use crate::{BlockId, FunctionKind, LocalId, Mode, ProgramBuilder, Type};

/// `class Node { v: int }` and `fn main() { let n = Node { v: 1 }; if c { print(1) } }`:
/// `n` is %0, the condition %2; block 0 allocates and branches, blocks 1 and 2 are the
/// two arms, block 3 ends the scopes (b3.0 exits the body, b3.1 the outer scope).
fn program() -> Program {
    let mut b = ProgramBuilder::new();
    let node = b.add_class("Node", &[("v", Type::Int)]);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(main);
    let n = f.local("n", Type::Class(node));
    let one = f.temp(Type::Int);
    let c = f.temp(Type::Bool);
    let then_block = f.new_block();
    let else_block = f.new_block();
    let join = f.new_block();
    let outer = f.scope_enter(&[]);
    let body = f.scope_enter(&[n]);
    f.const_int(one, 1).new_object(n, node, &[one]).const_bool(c, true).branch(c, then_block, else_block);
    f.switch_to(then_block).print(one).jump(join);
    f.switch_to(else_block).jump(join);
    f.switch_to(join).scope_exit(body).scope_exit(outer).ret(None);
    b.finish()
}

fn at(block: u32, index: u32) -> InstAddr {
    InstAddr { block: BlockId(block), index }
}

fn op(kind: OpKind, local: u32, when: When, inst: InstAddr) -> Op {
    let mut op = Op::new(kind, SourceSpan::default(), when, inst);
    op.local = Some(LocalId(local));
    op
}

/// A plan of every function of `program` (parameters `own`), with `ops` for `main`.
fn plan(program: &Program, ops: Vec<Op>) -> MemoryPlan {
    let functions = program
        .functions
        .iter()
        .map(|f| FunctionPlan {
            name: f.name.clone(),
            span: SourceSpan::default(),
            params: (0..f.params.len() as u32)
                .map(|index| ParamPlan {
                    name: format!("p{index}"),
                    index,
                    ty: String::new(),
                    escape: crate::plan::Escape::Uncontained,
                    mode: Mode::Own,
                    flows_to: Vec::new(),
                })
                .collect(),
            returns: ReturnPlan { bound: ReturnBound::None, params: Vec::new() },
            allocations: Vec::new(),
            variables: Vec::new(),
            ops: if f.name == "main" { ops.clone() } else { Vec::new() },
        })
        .collect();
    MemoryPlan {
        format: crate::plan::PLAN_FORMAT.into(),
        version: crate::plan::PLAN_VERSION,
        source: "test".into(),
        types: Vec::new(),
        functions,
        diagnostics: Vec::new(),
        stats: Default::default(),
    }
}

fn errors(report: &VerifyReport) -> Vec<(&'static str, Vec<u32>, Option<InstAddr>)> {
    report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| (f.rule.0.name(), f.path.clone(), f.inst))
        .collect()
}

#[test]
fn a_value_released_once_on_every_path_is_proven() {
    let program = program();
    assert_eq!(crate::validate(&program), Ok(()));
    let report = verify_plan(&program, &plan(&program, vec![op(OpKind::Drop, 0, When::Before, at(3, 0))]));
    assert_eq!(errors(&report), vec![]);
    assert!(report.is_proven());
    // Released on each arm instead of after the join: proven too.
    let ops = vec![op(OpKind::Free, 0, When::Before, at(1, 1)), op(OpKind::Free, 0, When::Before, at(2, 0))];
    assert!(verify_plan(&program, &plan(&program, ops)).is_proven());
}

#[test]
fn a_value_never_released_leaks_where_its_scope_ends() {
    let program = program();
    let report = verify_plan(&program, &plan(&program, Vec::new()));
    assert_eq!(errors(&report), vec![("verify-leak", vec![0, 1, 3], Some(at(3, 0)))]);
}

#[test]
fn a_value_released_on_one_arm_only_disagrees_at_the_join() {
    let program = program();
    let report = verify_plan(&program, &plan(&program, vec![op(OpKind::Free, 0, When::Before, at(1, 1))]));
    let errs = errors(&report);
    assert_eq!(errs.first().map(|e| e.0), Some("verify-path-mismatch"), "{errs:?}");
    assert_eq!(errs[0].2, Some(at(3, 0)));
}

#[test]
fn a_second_release_and_a_use_after_release_are_errors() {
    let program = program();
    let ops = vec![op(OpKind::Drop, 0, When::After, at(0, 3)), op(OpKind::Drop, 0, When::Before, at(3, 0))];
    let report = verify_plan(&program, &plan(&program, ops));
    assert!(errors(&report).iter().any(|e| e.0 == "verify-double-release"), "{:?}", errors(&report));
    let ops = vec![op(OpKind::Drop, 0, When::After, at(0, 3)), op(OpKind::Dup, 0, When::Before, at(3, 0))];
    let report = verify_plan(&program, &plan(&program, ops));
    assert!(errors(&report).iter().any(|e| e.0 == "verify-use-after-release"), "{:?}", errors(&report));
}

#[test]
fn a_heap_unique_value_dropped_is_released_with_the_wrong_operation() {
    let program = program();
    let mut p = plan(&program, vec![op(OpKind::Drop, 0, When::Before, at(3, 0))]);
    p.functions[0].allocations.push(crate::plan::AllocationPlan {
        id: "main#0".into(),
        span: SourceSpan::default(),
        kind: crate::plan::AllocKind::Object,
        ty: "Node".into(),
        escape: crate::plan::Escape::Contained,
        placement: crate::plan::Placement::HeapUnique,
        control: crate::plan::Control::Function,
        arena_scope: None,
        cyclic: false,
        reason: String::new(),
        inst: at(0, 3),
    });
    let rules: Vec<_> = errors(&verify_plan(&program, &p)).into_iter().map(|e| e.0).collect();
    assert!(rules.contains(&"verify-release-kind"), "{rules:?}");
}

#[test]
fn a_plan_that_does_not_fit_is_a_finding_not_a_panic() {
    let program = program();
    let mut bad = vec![
        op(OpKind::Drop, 999, When::Before, at(3, 0)),
        op(OpKind::Drop, 0, When::Before, at(9, 9)),
        op(OpKind::Drop, 0, When::Before, at(3, 99)),
    ];
    let mut field = op(OpKind::Drop, 0, When::Before, at(3, 0));
    field.index = Some(LocalId(777));
    bad.push(field);
    let mut global = op(OpKind::Drop, 0, When::Before, at(3, 0));
    global.global = Some(crate::GlobalId(5));
    bad.push(global);
    let mut no_local = Op::new(OpKind::Dup, SourceSpan::default(), When::After, at(0, 3));
    no_local.value = Some("nobody".into());
    bad.push(no_local);
    let mut p = plan(&program, bad);
    let mut extra = p.functions[0].clone();
    p.functions.push(extra.clone());
    extra.name = "not_in_the_program".into();
    p.functions.push(extra);
    p.functions[0].params.push(ParamPlan {
        name: "ghost".into(),
        index: 4,
        ty: String::new(),
        escape: crate::plan::Escape::Contained,
        mode: Mode::Borrow,
        flows_to: Vec::new(),
    });
    let report = verify_plan(&program, &p);
    let invalid = report.findings.iter().filter(|f| f.rule.0 == Rule::InvalidPlan).count();
    assert_eq!(invalid, 9, "{:#?}", report.findings);
}

#[test]
fn a_program_that_is_not_valid_ir_does_not_panic_the_verifier() {
    let mut program = program();
    // A branch to a block that does not exist, an empty block, a function without blocks.
    if let Some(InstKind::Branch { then_block, .. }) =
        program.functions[0].blocks[0].insts.last_mut().map(|i| &mut i.kind)
    {
        *then_block = BlockId(40);
    }
    program.functions[0].blocks[2].insts.clear();
    let mut empty = program.functions[0].clone();
    empty.name = "empty".into();
    empty.blocks.clear();
    program.functions.push(empty);
    let ops =
        vec![op(OpKind::Drop, 0, When::Before, at(3, 0)), op(OpKind::CowInPlace, 0, When::Before, at(0, 3))];
    let report = verify_plan(&program, &plan(&program, ops));
    assert!(report.functions == 2);
}

#[test]
fn every_rule_is_documented_in_the_rules_of_the_spec() {
    let rules = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/rules.md")).unwrap();
    let section = rules
        .split("## Plan verification")
        .nth(1)
        .expect("spec/rules.md has a section `## Plan verification`");
    for rule in Rule::ALL {
        assert!(
            section.contains(&format!("`{}`", rule.name())),
            "`{}` is not documented in spec/rules.md",
            rule.name()
        );
    }
}

/// `let xs = [2]; let ys = xs; xs[0] = 2; print(ys[0]);` with `xs` %0, `ys` %1: the copy
/// is b0.4, the write b0.5 (`ys` is read after it), the scope's exit b0.8.
fn aliased_array() -> Program {
    let mut b = ProgramBuilder::new();
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(main);
    let ints = Type::array(Type::Int);
    let xs = f.local("xs", ints.clone());
    let ys = f.local("ys", ints);
    let zero = f.temp(Type::Int);
    let two = f.temp(Type::Int);
    let out = f.temp(Type::Int);
    let outer = f.scope_enter(&[xs, ys]);
    f.const_int(zero, 0).const_int(two, 2).new_array(xs, Type::Int, &[two]).copy(ys, xs);
    f.store_elem(xs, zero, two).load_elem(out, ys, zero).print(out);
    f.scope_exit(outer).ret(None);
    b.finish()
}

#[test]
fn an_array_written_in_place_while_another_name_reads_it_later_is_shared() {
    let program = aliased_array();
    assert_eq!(crate::validate(&program), Ok(()));
    let write = at(0, 5);
    let release = |ops: &mut Vec<Op>| ops.push(op(OpKind::Drop, 0, When::Before, at(0, 8)));
    // `ys` shares the array (a `dup`): a copy-on-write check keeps `ys` intact.
    let mut ops =
        vec![op(OpKind::Dup, 1, When::After, at(0, 4)), op(OpKind::CowCheck, 0, When::Before, write)];
    release(&mut ops);
    ops.push(op(OpKind::Drop, 1, When::Before, at(0, 8)));
    assert_eq!(errors(&verify_plan(&program, &plan(&program, ops))), vec![]);
    // Written in place while `ys`, which reads it afterwards, names it.
    let mut ops = vec![op(OpKind::CowInPlace, 0, When::Before, write)];
    release(&mut ops);
    let rules: Vec<_> =
        errors(&verify_plan(&program, &plan(&program, ops))).into_iter().map(|e| e.0).collect();
    assert_eq!(rules, vec!["verify-cow-shared"]);
    // No copy-on-write operation at all.
    let mut ops = Vec::new();
    release(&mut ops);
    let rules: Vec<_> =
        errors(&verify_plan(&program, &plan(&program, ops))).into_iter().map(|e| e.0).collect();
    assert_eq!(rules, vec!["verify-cow-missing"]);
}
