//! The checked interpreter (`custody_ir::exec`): correct plans run clean and print what the
//! program means; each kind of unsound plan is caught with the right violation; run-time
//! errors stop the program; deep recursion and long destroy cascades do not overflow the
//! Rust stack; runs are deterministic.
//!
//! Programs are built with the builder API and plans by hand ([`PlanBuilder`]), so each
//! test shows exactly which operation is missing or misplaced.

use custody_ir::exec::{Outcome, ProgramErrorKind, RunOptions, RunReport, ViolationKind, run};
use custody_ir::plan::{
    AllocKind, AllocationPlan, Control, Escape, FunctionPlan, MemoryPlan, Op, OpKind, Placement, PlanStats,
    ReturnBound, ReturnPlan, SourceSpan, When,
};
use custody_ir::{
    BinaryOp, ClassId, FunctionBuilder, FunctionKind, InstAddr, LocalId, Mode, Program, ProgramBuilder,
    ScopeId, Span, Type, validate,
};

// ---- helpers ------------------------------------------------------------------------------

/// The address the next instruction appended by `f` will have.
fn here(f: &FunctionBuilder<'_>) -> InstAddr {
    let block = f.current_block();
    InstAddr { block, index: f.function().blocks[block.index()].insts.len() as u32 }
}

/// Builds a plan for a program: allocation entries and operations at instruction addresses.
struct PlanBuilder {
    plan: MemoryPlan,
}

impl PlanBuilder {
    /// A plan with an entry (and nothing in it) for every function of `program`.
    fn new(program: &Program) -> PlanBuilder {
        let functions = program
            .functions
            .iter()
            .map(|f| FunctionPlan {
                name: f.name.clone(),
                span: SourceSpan::default(),
                params: vec![],
                returns: ReturnPlan { bound: ReturnBound::None, params: vec![] },
                allocations: vec![],
                variables: vec![],
                ops: vec![],
            })
            .collect();
        PlanBuilder {
            plan: MemoryPlan {
                format: "custody-plan".into(),
                version: 1,
                source: "test".into(),
                types: vec![],
                functions,
                diagnostics: vec![],
                stats: PlanStats::default(),
            },
        }
    }

    fn function(&mut self, name: &str) -> &mut FunctionPlan {
        self.plan.functions.iter_mut().find(|f| f.name == name).expect("a function of the program")
    }

    /// Places the allocation at `at` in `function`; its id is `function#n`.
    fn alloc(mut self, function: &str, at: InstAddr, placement: Placement) -> Self {
        self.alloc_in(function, at, placement, None);
        self
    }

    fn alloc_in(&mut self, function: &str, at: InstAddr, placement: Placement, arena_scope: Option<ScopeId>) {
        let f = self.function(function);
        let id = format!("{function}#{}", f.allocations.len());
        f.allocations.push(AllocationPlan {
            id,
            span: SourceSpan::default(),
            kind: AllocKind::Object,
            ty: String::new(),
            escape: Escape::Contained,
            placement,
            control: Control::Function,
            arena_scope,
            cyclic: false,
            reason: String::new(),
            inst: at,
        });
    }

    /// Places the allocation at `at` in the arena of `scope`.
    fn arena_alloc(mut self, function: &str, at: InstAddr, scope: ScopeId) -> Self {
        self.alloc_in(function, at, Placement::Arena, Some(scope));
        self
    }

    fn push(&mut self, function: &str, op: Op) {
        self.function(function).ops.push(op);
    }

    fn blank(kind: OpKind, at: InstAddr, when: When) -> Op {
        Op::new(kind, SourceSpan::default(), when, at)
    }

    /// `kind` on `local`, `when` the instruction at `at` runs.
    fn op(mut self, function: &str, kind: OpKind, local: LocalId, at: InstAddr, when: When) -> Self {
        let op = Op { local: Some(local), ..Self::blank(kind, at, when) };
        self.push(function, op);
        self
    }

    /// `kind` on the field `field` of the object in `local`.
    fn field_op(mut self, function: &str, kind: OpKind, local: LocalId, field: u32, at: InstAddr) -> Self {
        let op = Op { local: Some(local), field: Some(field), ..Self::blank(kind, at, When::Before) };
        self.push(function, op);
        self
    }

    /// `arena_enter` or `arena_exit` of `scope`.
    fn arena(mut self, function: &str, kind: OpKind, scope: ScopeId, at: InstAddr, when: When) -> Self {
        let op = Op { scope: Some(scope), ..Self::blank(kind, at, when) };
        self.push(function, op);
        self
    }

    fn build(self) -> MemoryPlan {
        self.plan
    }
}

/// Runs with default options; returns the report and what the program printed.
fn run_plan(program: &Program, plan: &MemoryPlan) -> (RunReport, String) {
    run_with(program, plan, &RunOptions::default())
}

fn run_with(program: &Program, plan: &MemoryPlan, options: &RunOptions<'_>) -> (RunReport, String) {
    let mut out = Vec::new();
    let mut trace = Vec::new();
    let report = run(program, plan, options, &mut out, &mut trace);
    (report, String::from_utf8(out).expect("UTF-8 output"))
}

fn kinds(report: &RunReport) -> Vec<ViolationKind> {
    report.violations.iter().map(|v| v.kind).collect()
}

#[track_caller]
fn assert_clean(report: &RunReport) {
    assert!(report.violations.is_empty(), "violations: {:#?}", report.violations);
    assert_eq!(report.outcome, Outcome::Completed, "{report:#?}");
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.stats.leaked, 0);
}

/// The first violation's kind, checking the run is unsound.
#[track_caller]
fn first_violation(report: &RunReport) -> ViolationKind {
    assert_eq!(report.outcome, Outcome::Unsound, "{report:#?}");
    assert_eq!(report.exit_code(), 3);
    report.violations.first().expect("a violation").kind
}

#[track_caller]
fn program_error(report: &RunReport) -> ProgramErrorKind {
    assert!(report.violations.is_empty(), "violations: {:#?}", report.violations);
    assert_eq!(report.exit_code(), 4, "{report:#?}");
    match &report.outcome {
        Outcome::ProgramError(e) => e.kind,
        other => panic!("expected a program error, got {other:?}"),
    }
}

/// `class Node { value: int, next: Node? }`.
fn node_class(b: &mut ProgramBuilder) -> ClassId {
    let node = b.declare_class("Node");
    b.add_class_field(node, "value", Type::Int);
    b.add_class_field(node, "next", Type::Class(node).nullable());
    node
}

// ---- a counted object passed around ---------------------------------------------------------

/// ```text
/// fn make(v: int) -> Node { return Node { value: v, next: null }; }
/// fn main() { let a = make(7); let b = a; print(b.value); }
/// ```
struct Counted {
    program: Program,
    alloc: InstAddr,
    a: LocalId,
    b: LocalId,
    copy: InstAddr,
    load: InstAddr,
    exit: InstAddr,
}

fn counted() -> Counted {
    let mut b = ProgramBuilder::new();
    let node = node_class(&mut b);
    let make = b.declare_function("make", FunctionKind::Plain);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);

    let mut f = b.function(make);
    f.returns(Type::Class(node));
    let v = f.param("v", Type::Int, None);
    let n = f.temp(Type::Class(node));
    let null = f.temp(Type::Class(node).nullable());
    let params = f.scope_enter(&[v]);
    f.const_null(null);
    f.set_span(Span::new(10, 20));
    let alloc = here(&f);
    f.new_object(n, node, &[v, null]);
    f.clear_span().scope_exit(params).ret(n);

    let mut f = b.function(main);
    let a = f.local("a", Type::Class(node));
    let bb = f.local("b", Type::Class(node));
    let seven = f.temp(Type::Int);
    let value = f.temp(Type::Int);
    let scope = f.scope_enter(&[a, bb]);
    f.const_int(seven, 7).call(a, make, &[seven]);
    let copy = here(&f);
    f.copy(bb, a);
    f.set_span(Span::new(40, 47));
    let load = here(&f);
    f.load_field(value, bb, 0);
    f.clear_span().print(value);
    f.set_span(Span::new(60, 61));
    let exit = here(&f);
    f.scope_exit(scope).ret(None);
    let program = b.finish();
    assert_eq!(validate(&program), Ok(()));
    Counted { program, alloc, a, b: bb, copy, load, exit }
}

#[test]
fn a_correct_counted_plan_runs_clean() {
    let c = counted();
    let plan = PlanBuilder::new(&c.program)
        .alloc("make", c.alloc, Placement::HeapRc)
        .op("main", OpKind::Dup, c.b, c.copy, When::After)
        .op("main", OpKind::Drop, c.b, c.exit, When::Before)
        .op("main", OpKind::Drop, c.a, c.exit, When::Before)
        .build();
    let (report, out) = run_plan(&c.program, &plan);
    assert_clean(&report);
    assert_eq!(out, "7\n");
    let stats = &report.stats;
    assert_eq!((stats.allocations, stats.frees, stats.rc_ops), (1, 1, 3));
    assert_eq!(stats.by_placement.heap_rc, 1);
    assert_eq!(stats.peak_bytes, 16 + 2 * 8);
}

#[test]
fn freeing_one_instruction_too_early_is_a_use_after_free() {
    let c = counted();
    let plan = PlanBuilder::new(&c.program)
        .alloc("make", c.alloc, Placement::HeapRc)
        .op("main", OpKind::Dup, c.b, c.copy, When::After)
        .op("main", OpKind::Drop, c.b, c.load, When::Before)
        .op("main", OpKind::Drop, c.a, c.load, When::Before)
        .build();
    let (report, out) = run_plan(&c.program, &plan);
    assert_eq!(first_violation(&report), ViolationKind::UseAfterFree);
    assert_eq!(out, "", "the run halts at the use");
    let v = &report.violations[0];
    assert_eq!(v.alloc_span, Span::new(10, 20));
    assert_eq!(v.use_span, Some(Span::new(40, 47)));
    assert_eq!(v.free_span, Some(Span::new(40, 47)), "freed by the drop just before the load");
    assert_eq!(v.alloc_site, "make#0");
    assert_eq!(v.function, "main");
    assert!(v.message.contains("Node #0 from make#0"), "{}", v.message);
}

#[test]
fn a_double_free_is_caught() {
    let c = counted();
    // No `dup` for the copy: the second drop releases a freed object.
    let plan = PlanBuilder::new(&c.program)
        .alloc("make", c.alloc, Placement::HeapRc)
        .op("main", OpKind::Drop, c.b, c.exit, When::Before)
        .op("main", OpKind::Drop, c.a, c.exit, When::Before)
        .build();
    let (report, out) = run_plan(&c.program, &plan);
    assert_eq!(out, "7\n");
    assert_eq!(kinds(&report), vec![ViolationKind::DoubleFree]);
    assert_eq!(report.violations[0].use_span, Some(Span::new(60, 61)));
}

#[test]
fn a_missing_drop_is_a_leak() {
    let c = counted();
    let plan = PlanBuilder::new(&c.program)
        .alloc("make", c.alloc, Placement::HeapRc)
        .op("main", OpKind::Dup, c.b, c.copy, When::After)
        .op("main", OpKind::Drop, c.b, c.exit, When::Before)
        .build();
    let (report, out) = run_plan(&c.program, &plan);
    assert_eq!(out, "7\n");
    assert_eq!(kinds(&report), vec![ViolationKind::Leak]);
    assert_eq!(report.stats.leaked, 1);
    let v = &report.violations[0];
    assert_eq!((v.alloc_site.as_str(), v.function.as_str()), ("make#0", "make"));
    assert!(v.message.contains("never freed"), "{}", v.message);
}

#[test]
fn a_returned_stack_object_dangles() {
    let c = counted();
    let plan = PlanBuilder::new(&c.program).alloc("make", c.alloc, Placement::Stack).build();
    let (report, _) = run_plan(&c.program, &plan);
    assert_eq!(first_violation(&report), ViolationKind::DanglingStack);
    let v = &report.violations[0];
    assert_eq!(v.function, "make");
    assert!(v.message.contains("the returned value"), "{}", v.message);
    // Reading it afterwards is a use after free, which halts the run.
    assert_eq!(kinds(&report), vec![ViolationKind::DanglingStack, ViolationKind::UseAfterFree]);
    assert_eq!(report.stats.by_placement.stack, 1);
}

#[test]
fn a_dup_of_a_freed_object_is_caught() {
    let c = counted();
    let plan = PlanBuilder::new(&c.program)
        .alloc("make", c.alloc, Placement::HeapRc)
        .op("main", OpKind::Drop, c.a, c.copy, When::Before)
        .op("main", OpKind::Dup, c.b, c.copy, When::After)
        .build();
    let (report, _) = run_plan(&c.program, &plan);
    assert_eq!(first_violation(&report), ViolationKind::DupOfFreed);
}

#[test]
fn unique_objects_are_freed_by_free() {
    let c = counted();
    let plan = PlanBuilder::new(&c.program)
        .alloc("make", c.alloc, Placement::HeapUnique)
        .op("main", OpKind::Dup, c.b, c.copy, When::After) // a no-op on an uncounted object
        .op("main", OpKind::Free, c.a, c.exit, When::Before)
        .build();
    let (report, out) = run_plan(&c.program, &plan);
    assert_clean(&report);
    assert_eq!(out, "7\n");
    assert_eq!((report.stats.rc_ops, report.stats.frees), (0, 1));
    // Freeing it twice is a double free.
    let plan = PlanBuilder::new(&c.program)
        .alloc("make", c.alloc, Placement::HeapUnique)
        .op("main", OpKind::Free, c.b, c.exit, When::Before)
        .op("main", OpKind::Free, c.a, c.exit, When::Before)
        .build();
    assert_eq!(kinds(&run_plan(&c.program, &plan).0), vec![ViolationKind::DoubleFree]);
}

// ---- arenas ---------------------------------------------------------------------------------

/// ```text
/// fn main() { let outer: Node; arena { let x = Node { value: 1, next: null }; [outer = x;] print(x.value); } [print(outer.value);] }
/// ```
struct Arena {
    program: Program,
    alloc: InstAddr,
    enter: InstAddr,
    exit: InstAddr,
    scope: ScopeId,
}

fn arena_program(escape: bool) -> Arena {
    let mut b = ProgramBuilder::new();
    let node = node_class(&mut b);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(main);
    let outer = f.local("outer", Type::Class(node));
    let x = f.local("x", Type::Class(node));
    let (one, null, value) = (f.temp(Type::Int), f.temp(Type::Class(node).nullable()), f.temp(Type::Int));
    let s0 = f.scope_enter(&[outer]);
    let enter = here(&f);
    let scope = f.arena_scope_enter(&[x]);
    f.const_int(one, 1).const_null(null);
    let alloc = here(&f);
    f.new_object(x, node, &[one, null]);
    if escape {
        f.copy(outer, x);
    }
    f.load_field(value, x, 0).print(value);
    let exit = here(&f);
    f.scope_exit(scope);
    if escape {
        f.load_field(value, outer, 0).print(value);
    }
    f.scope_exit(s0).ret(None);
    let program = b.finish();
    assert_eq!(validate(&program), Ok(()));
    Arena { program, alloc, enter, exit, scope }
}

fn arena_plan(a: &Arena, exit_when: When) -> MemoryPlan {
    PlanBuilder::new(&a.program)
        .arena("main", OpKind::ArenaEnter, a.scope, a.enter, When::After)
        .arena_alloc("main", a.alloc, a.scope)
        .arena("main", OpKind::ArenaExit, a.scope, a.exit, exit_when)
        .build()
}

#[test]
fn arena_objects_are_freed_with_their_arena() {
    let a = arena_program(false);
    // Before or after the scope's exit: `x` still holds the object before it, but no one
    // reads it again, so it does not count as a reference.
    for when in [When::Before, When::After] {
        let (report, out) = run_plan(&a.program, &arena_plan(&a, when));
        assert_clean(&report);
        assert_eq!(out, "1\n");
        assert_eq!((report.stats.by_placement.arena, report.stats.frees), (1, 1));
    }
}

#[test]
fn an_arena_object_that_outlives_its_arena_dangles() {
    let a = arena_program(true);
    let (report, out) = run_plan(&a.program, &arena_plan(&a, When::After));
    assert_eq!(first_violation(&report), ViolationKind::DanglingArena);
    assert!(report.violations[0].message.contains("local `outer`"), "{}", report.violations[0].message);
    assert_eq!(out, "1\n");
    assert_eq!(kinds(&report), vec![ViolationKind::DanglingArena, ViolationKind::UseAfterFree]);
}

#[test]
fn an_arena_object_stored_in_outer_memory_dangles() {
    // fn main() { let keep = [Node { .. }]; arena { push(keep, Node { .. }); } }
    let mut b = ProgramBuilder::new();
    let node = node_class(&mut b);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(main);
    let keep = f.local("keep", Type::array(Type::Class(node)));
    let (one, null, fresh) =
        (f.temp(Type::Int), f.temp(Type::Class(node).nullable()), f.temp(Type::Class(node)));
    let s0 = f.scope_enter(&[keep]);
    let outer_alloc = here(&f);
    f.new_array(keep, Type::Class(node), &[]);
    let enter = here(&f);
    let scope = f.arena_scope_enter(&[fresh]);
    f.const_int(one, 1).const_null(null);
    let alloc = here(&f);
    f.new_object(fresh, node, &[one, null]).push(keep, fresh);
    let exit = here(&f);
    f.scope_exit(scope);
    let end = here(&f);
    f.scope_exit(s0).ret(None);
    let program = b.finish();
    let plan = PlanBuilder::new(&program)
        .alloc("main", outer_alloc, Placement::HeapUnique)
        .arena("main", OpKind::ArenaEnter, scope, enter, When::After)
        .arena_alloc("main", alloc, scope)
        .arena("main", OpKind::ArenaExit, scope, exit, When::After)
        .op("main", OpKind::Free, keep, end, When::Before)
        .build();
    let (report, _) = run_plan(&program, &plan);
    assert_eq!(kinds(&report), vec![ViolationKind::DanglingArena]);
    assert!(
        report.violations[0].message.contains("1 reference in memory"),
        "{}",
        report.violations[0].message
    );
}

// ---- control flow -------------------------------------------------------------------------------

#[test]
fn a_missing_drop_on_an_early_return_path_is_a_leak() {
    // fn f(early: bool) -> int { let n = Node { .. }; if early { return 0; } return n.value; }
    let mut b = ProgramBuilder::new();
    let node = node_class(&mut b);
    let func = b.declare_function("f", FunctionKind::Plain);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(func);
    f.returns(Type::Int);
    let early = f.param("early", Type::Bool, None);
    let n = f.local("n", Type::Class(node));
    let (zero, null, value) = (f.temp(Type::Int), f.temp(Type::Class(node).nullable()), f.temp(Type::Int));
    let (early_block, late_block) = (f.new_block(), f.new_block());
    let s0 = f.scope_enter(&[early]);
    let s1 = f.scope_enter(&[n]);
    f.const_int(zero, 0).const_null(null);
    let alloc = here(&f);
    f.new_object(n, node, &[zero, null]).branch(early, early_block, late_block);
    f.switch_to(early_block);
    let early_exit = here(&f);
    f.scope_exit(s1).scope_exit(s0).ret(zero);
    f.switch_to(late_block).load_field(value, n, 0);
    let late_exit = here(&f);
    f.scope_exit(s1).scope_exit(s0).ret(value);

    let mut f = b.function(main);
    let (flag, result) = (f.temp(Type::Bool), f.temp(Type::Int));
    f.const_bool(flag, true).call(result, func, &[flag]).print(result).ret(None);
    let program = b.finish();
    assert_eq!(validate(&program), Ok(()));

    let plan = PlanBuilder::new(&program).alloc("f", alloc, Placement::HeapRc);
    let leaky = plan.op("f", OpKind::Drop, n, late_exit, When::Before);
    let (report, out) = run_plan(&program, &leaky.plan);
    assert_eq!(out, "0\n");
    assert_eq!(kinds(&report), vec![ViolationKind::Leak]);
    let fixed = leaky.op("f", OpKind::Drop, n, early_exit, When::Before);
    assert_clean(&run_plan(&program, &fixed.build()).0);
}

// ---- threads ------------------------------------------------------------------------------------

/// ```text
/// fn worker(n: Node) { print(n.value); }
/// fn main() { let n = Node { value: 5, next: null }; spawn worker(n); print(n.value); }
/// ```
fn spawn_program() -> (Program, MemoryPlan, MemoryPlan) {
    let mut b = ProgramBuilder::new();
    let node = node_class(&mut b);
    let worker = b.declare_function("worker", FunctionKind::Plain);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(worker);
    let n = f.param("n", Type::Class(node), None);
    let value = f.temp(Type::Int);
    let s0 = f.scope_enter(&[n]);
    f.load_field(value, n, 0).print(value);
    let worker_exit = here(&f);
    f.scope_exit(s0).ret(None);

    let mut f = b.function(main);
    let local = f.local("n", Type::Class(node));
    let (five, null, value) = (f.temp(Type::Int), f.temp(Type::Class(node).nullable()), f.temp(Type::Int));
    let s = f.scope_enter(&[local]);
    f.const_int(five, 5).const_null(null);
    let alloc = here(&f);
    f.new_object(local, node, &[five, null]);
    let spawn = here(&f);
    f.spawn(worker, &[local]).load_field(value, local, 0).print(value);
    let exit = here(&f);
    f.scope_exit(s).ret(None);
    let program = b.finish();
    assert_eq!(validate(&program), Ok(()));
    let plan = |placement| {
        PlanBuilder::new(&program)
            .alloc("main", alloc, placement)
            .op("main", OpKind::Dup, local, spawn, When::Before)
            .op("main", OpKind::Drop, local, exit, When::Before)
            .op("worker", OpKind::Drop, n, worker_exit, When::Before)
            .build()
    };
    let (rc, atomic) = (plan(Placement::HeapRc), plan(Placement::HeapAtomicRc));
    (program, rc, atomic)
}

#[test]
fn a_non_atomic_count_shared_with_a_spawned_call_is_caught() {
    let (program, rc, atomic) = spawn_program();
    let (report, out) = run_plan(&program, &rc);
    assert_eq!(out, "5\n5\n");
    assert_eq!(kinds(&report), vec![ViolationKind::NonAtomicShared]);
    assert!(report.violations[0].message.contains("threads 1 and 2"), "{}", report.violations[0].message);
    let (report, out) = run_plan(&program, &atomic);
    assert_clean(&report);
    assert_eq!(out, "5\n5\n");
}

#[test]
fn same_seed_same_run_and_spawned_calls_run_at_seeded_points() {
    // fn worker(id: int) { print(id); }
    // fn main() { spawn worker(100); spawn worker(200); spawn worker(300); for i in 0..40 { print(i); } }
    let mut b = ProgramBuilder::new();
    let worker = b.declare_function("worker", FunctionKind::Plain);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(worker);
    let id = f.param("id", Type::Int, None);
    f.print(id).ret(None);
    let mut f = b.function(main);
    let (i, limit, one, cond, arg) =
        (f.temp(Type::Int), f.temp(Type::Int), f.temp(Type::Int), f.temp(Type::Bool), f.temp(Type::Int));
    for n in [100, 200, 300] {
        f.const_int(arg, n).spawn(worker, &[arg]);
    }
    let (head, body, done) = (f.new_block(), f.new_block(), f.new_block());
    f.const_int(i, 0).const_int(limit, 40).const_int(one, 1).jump(head);
    f.switch_to(head).binary(cond, BinaryOp::Lt, i, limit).branch(cond, body, done);
    f.switch_to(body).print(i).binary(i, BinaryOp::Add, i, one).jump(head);
    f.switch_to(done).ret(None);
    let program = b.finish();
    assert_eq!(validate(&program), Ok(()));
    let plan = PlanBuilder::new(&program).build();

    let traced = |seed| {
        let options = RunOptions { seed, trace: true, ..RunOptions::default() };
        let (mut out, mut trace) = (Vec::new(), Vec::new());
        let report = run(&program, &plan, &options, &mut out, &mut trace);
        assert_clean(&report);
        (String::from_utf8(out).unwrap(), String::from_utf8(trace).unwrap())
    };
    let (out, trace) = traced(7);
    assert_eq!(traced(7), (out.clone(), trace.clone()), "same seed, same run");
    assert!(trace.contains("spawn fn worker thread 2\n"), "{trace}");
    assert!(trace.contains("thread 2 runs\n") && trace.contains("thread 4 ends\n"), "{trace}");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_by_key(|l| l.parse::<i64>().unwrap());
    let expected: Vec<String> = (0..40).chain([100, 200, 300]).map(|n| n.to_string()).collect();
    assert_eq!(lines, expected, "every line is printed once");
    // Different seeds put the spawned calls at different points.
    let outputs: std::collections::HashSet<String> = (0..10).map(|seed| traced(seed).0).collect();
    assert!(outputs.len() > 1, "ten seeds gave one interleaving");
}

// ---- cycles -------------------------------------------------------------------------------------

/// ```text
/// fn main() { let a = Node { value: 1, next: null }; let b = Node { value: 2, next: a }; a.next = b; }
/// ```
fn cycle_plan(collect: bool) -> (Program, MemoryPlan) {
    let mut b = ProgramBuilder::new();
    let node = node_class(&mut b);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(main);
    let a = f.local("a", Type::Class(node));
    let bb = f.local("b", Type::Class(node));
    let (one, two, null) = (f.temp(Type::Int), f.temp(Type::Int), f.temp(Type::Class(node).nullable()));
    let s = f.scope_enter(&[a, bb]);
    f.const_int(one, 1).const_int(two, 2).const_null(null);
    let first = here(&f);
    f.new_object(a, node, &[one, null]);
    let second = here(&f);
    f.new_object(bb, node, &[two, a]);
    let store = here(&f);
    f.store_field(a, 1, bb);
    let exit = here(&f);
    f.scope_exit(s).ret(None);
    let program = b.finish();
    let mut plan = PlanBuilder::new(&program)
        .alloc("main", first, Placement::HeapRc)
        .alloc("main", second, Placement::HeapRc)
        .op("main", OpKind::Dup, a, second, When::Before)
        .op("main", OpKind::Dup, bb, store, When::Before)
        .field_op("main", OpKind::Drop, a, 1, store)
        .op("main", OpKind::Drop, bb, exit, When::Before);
    // `collect_cycles` releases the value's reference, then collects what survives.
    plan = plan.op("main", if collect { OpKind::CollectCycles } else { OpKind::Drop }, a, exit, When::Before);
    (program, plan.build())
}

#[test]
fn a_cycle_under_plain_counting_leaks() {
    let (program, plan) = cycle_plan(false);
    let (report, _) = run_plan(&program, &plan);
    assert_eq!(kinds(&report), vec![ViolationKind::LeakedCycle]);
    assert_eq!(report.stats.leaked, 2);
    let message = &report.violations[0].message;
    assert_eq!(
        message,
        "a cycle of 2 objects was never freed: Node #0 (main#0, @0..0) -> `next` -> Node #1 (main#1, @0..0) \
         -> `next` -> back to the first"
    );
}

#[test]
fn collecting_the_cycle_frees_it() {
    let (program, plan) = cycle_plan(true);
    let (report, _) = run_plan(&program, &plan);
    assert_clean(&report);
    assert_eq!(report.stats.frees, 2);
}

// ---- copy-on-write ------------------------------------------------------------------------------

/// ```text
/// fn main() { let xs = [1, 2, 3]; let ys = xs; ys[0] = 9; print(xs[0]); print(ys[0]); }
/// ```
fn cow_program(write_op: Option<OpKind>) -> (Program, MemoryPlan) {
    let mut b = ProgramBuilder::new();
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(main);
    let xs = f.local("xs", Type::array(Type::Int));
    let ys = f.local("ys", Type::array(Type::Int));
    let (e1, e2, e3, zero, nine, v) = (
        f.temp(Type::Int),
        f.temp(Type::Int),
        f.temp(Type::Int),
        f.temp(Type::Int),
        f.temp(Type::Int),
        f.temp(Type::Int),
    );
    let s = f.scope_enter(&[xs, ys]);
    f.const_int(e1, 1).const_int(e2, 2).const_int(e3, 3);
    let alloc = here(&f);
    f.new_array(xs, Type::Int, &[e1, e2, e3]);
    let copy = here(&f);
    f.copy(ys, xs).const_int(zero, 0).const_int(nine, 9);
    let write = here(&f);
    f.store_elem(ys, zero, nine);
    f.load_elem(v, xs, zero).print(v).load_elem(v, ys, zero).print(v);
    let exit = here(&f);
    f.scope_exit(s).ret(None);
    let program = b.finish();
    let mut plan = PlanBuilder::new(&program)
        .alloc("main", alloc, Placement::HeapRc)
        .op("main", OpKind::Dup, ys, copy, When::After)
        .op("main", OpKind::Drop, ys, exit, When::Before)
        .op("main", OpKind::Drop, xs, exit, When::Before);
    if let Some(kind) = write_op {
        plan = plan.op("main", kind, ys, write, When::Before);
    }
    (program, plan.build())
}

#[test]
fn copy_on_write_leaves_the_other_name_unchanged() {
    for kind in [OpKind::CowCheck, OpKind::CowCopy] {
        let (program, plan) = cow_program(Some(kind));
        let (report, out) = run_plan(&program, &plan);
        assert_clean(&report);
        assert_eq!(out, "1\n9\n", "{kind:?}");
        assert_eq!((report.stats.allocations, report.stats.frees), (2, 2));
    }
}

#[test]
fn writing_a_shared_array_in_place_is_a_shared_write() {
    let (program, plan) = cow_program(Some(OpKind::CowInPlace));
    let (report, out) = run_plan(&program, &plan);
    assert_eq!(kinds(&report), vec![ViolationKind::SharedWrite]);
    assert_eq!(out, "9\n9\n", "the write is seen through xs");
    // Without any copy-on-write operation, the write is caught at the instruction.
    let (program, plan) = cow_program(None);
    assert_eq!(kinds(&run_plan(&program, &plan).0), vec![ViolationKind::SharedWrite]);
}

// ---- destructors --------------------------------------------------------------------------------

/// ```text
/// class Noisy { name: string, drop { print("drop " + self.name); } }
/// fn use_it() { let n = Noisy { name: "a" }; }
/// fn main() { use_it(); print("end"); }
/// ```
fn noisy_program() -> (Program, InstAddr, InstAddr, InstAddr, LocalId) {
    let mut b = ProgramBuilder::new();
    let noisy = b.declare_class("Noisy");
    b.add_class_field(noisy, "name", Type::String);
    let drop = b.declare_drop(noisy);
    let use_it = b.declare_function("use_it", FunctionKind::Plain);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(drop);
    let this = f.self_param(Mode::Borrow);
    let (prefix, name, text) = (f.temp(Type::String), f.temp(Type::String), f.temp(Type::String));
    f.const_str(prefix, "drop ").load_field(name, this, 0);
    let concat = here(&f);
    f.concat(text, prefix, name).print(text);
    let drop_exit = here(&f);
    f.ret(None);
    let mut f = b.function(use_it);
    let n = f.local("n", Type::Class(noisy));
    let name = f.temp(Type::String);
    let s = f.scope_enter(&[n]);
    f.const_str(name, "a");
    let alloc = here(&f);
    f.new_object(n, noisy, &[name]);
    let exit = here(&f);
    f.scope_exit(s).ret(None);
    let mut f = b.function(main);
    let end = f.temp(Type::String);
    f.call(None, use_it, &[]).const_str(end, "end").print(end).ret(None);
    let program = b.finish();
    assert_eq!(validate(&program), Ok(()));
    let _ = (concat, drop_exit);
    (program, alloc, exit, concat, n)
}

fn noisy_plan(program: &Program, alloc: InstAddr, concat: InstAddr, placement: Placement) -> PlanBuilder {
    // The drop block's string is counted and released after printing.
    let text = LocalId(3);
    let print_at = InstAddr { block: concat.block, index: concat.index + 1 };
    PlanBuilder::new(program)
        .alloc("use_it", alloc, placement)
        .alloc("Noisy.drop", concat, Placement::HeapRc)
        .op("Noisy.drop", OpKind::Drop, text, print_at, When::After)
}

#[test]
fn destroying_a_stack_object_runs_its_drop_block() {
    let (program, alloc, exit, concat, n) = noisy_program();
    let plan = noisy_plan(&program, alloc, concat, Placement::Stack).op(
        "use_it",
        OpKind::Destroy,
        n,
        exit,
        When::Before,
    );
    let (report, out) = run_plan(&program, &plan.build());
    assert_clean(&report);
    assert_eq!(out, "drop a\nend\n");
    let plan = noisy_plan(&program, alloc, concat, Placement::HeapRc).op(
        "use_it",
        OpKind::Drop,
        n,
        exit,
        When::Before,
    );
    let (report, out) = run_plan(&program, &plan.build());
    assert_clean(&report);
    assert_eq!(out, "drop a\nend\n");
}

#[test]
fn freeing_an_object_without_its_drop_block_is_a_skipped_destructor() {
    let (program, alloc, _, concat, _) = noisy_program();
    let (report, out) = run_plan(&program, &noisy_plan(&program, alloc, concat, Placement::Stack).build());
    assert_eq!(out, "end\n");
    assert_eq!(kinds(&report), vec![ViolationKind::SkippedDestructor]);
    assert_eq!(report.violations[0].function, "use_it");
}

// ---- run-time errors ----------------------------------------------------------------------------

/// A `main` built by `body`, run under an empty plan.
fn run_main(body: impl FnOnce(&mut FunctionBuilder<'_>)) -> (RunReport, String) {
    run_main_with(&RunOptions::default(), body)
}

fn run_main_with(
    options: &RunOptions<'_>,
    body: impl FnOnce(&mut FunctionBuilder<'_>),
) -> (RunReport, String) {
    let mut b = ProgramBuilder::new();
    node_class(&mut b);
    b.add_extern("c_write", &[], None);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    body(&mut b.function(main));
    let program = b.finish();
    assert_eq!(validate(&program), Ok(()));
    run_with(&program, &PlanBuilder::new(&program).build(), options)
}

#[test]
fn run_time_errors_stop_the_program() {
    let node = Type::Class(ClassId(0));
    let (report, _) = run_main(|f| {
        let n = f.temp(node.clone().nullable());
        f.const_null(n).null_check(n).ret(None);
    });
    assert_eq!(program_error(&report), ProgramErrorKind::NullAccess);

    let (report, _) = run_main(|f| {
        let (n, v) = (f.temp(node.clone().nullable()), f.temp(Type::Int));
        f.const_null(n).load_field(v, n, 0).ret(None);
    });
    assert_eq!(program_error(&report), ProgramErrorKind::NullAccess);

    let (report, out) = run_main(|f| {
        let (one, five, xs, v) =
            (f.temp(Type::Int), f.temp(Type::Int), f.temp(Type::array(Type::Int)), f.temp(Type::Int));
        f.const_int(one, 1).print(one).new_array(xs, Type::Int, &[one]).const_int(five, 5);
        f.set_span(Span::new(3, 9)).load_elem(v, xs, five).ret(None);
    });
    assert_eq!(program_error(&report), ProgramErrorKind::IndexOutOfRange);
    assert_eq!(out, "1\n", "output before the error is kept");
    match &report.outcome {
        Outcome::ProgramError(e) => {
            assert_eq!(e.message, "index 5 out of range for an array of length 1");
            assert_eq!((e.span, e.function.as_str()), (Span::new(3, 9), "main"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(report.stats.leaked, 0, "no leak check after an error");

    let (report, _) = run_main(|f| {
        let (a, z, q) = (f.temp(Type::Int), f.temp(Type::Int), f.temp(Type::Int));
        f.const_int(a, 7).const_int(z, 0).binary(q, BinaryOp::Rem, a, z).ret(None);
    });
    assert_eq!(program_error(&report), ProgramErrorKind::DivisionByZero);

    let (report, _) = run_main(|f| {
        let (xs, v) = (f.temp(Type::array(Type::Int)), f.temp(Type::Int));
        f.new_array(xs, Type::Int, &[]).pop(v, xs).ret(None);
    });
    assert_eq!(program_error(&report), ProgramErrorKind::EmptyPop);

    let (report, _) = run_main(|f| {
        let (n, v, xs) = (f.temp(Type::Int), f.temp(Type::Int), f.temp(Type::array(Type::Int)));
        f.const_int(n, -1).const_int(v, 0).new_array_repeat(xs, Type::Int, v, n).ret(None);
    });
    assert_eq!(program_error(&report), ProgramErrorKind::NegativeRepeat);

    let (report, _) = run_main(|f| {
        f.call(None, custody_ir::ExternId(0), &[]).ret(None);
    });
    assert_eq!(program_error(&report), ProgramErrorKind::Extern);
    match &report.outcome {
        Outcome::ProgramError(e) => assert_eq!(e.message, "cannot run foreign code: `c_write` is an extern"),
        other => panic!("{other:?}"),
    }

    let options = RunOptions { max_steps: 1000, ..RunOptions::default() };
    let (report, _) = run_main_with(&options, |f| {
        let again = f.new_block();
        f.jump(again).switch_to(again).jump(again);
    });
    assert_eq!(program_error(&report), ProgramErrorKind::StepLimit);

    let options = RunOptions { max_heap_bytes: 1000, ..RunOptions::default() };
    let (report, _) = run_main_with(&options, |f| {
        let (n, v, xs) = (f.temp(Type::Int), f.temp(Type::Int), f.temp(Type::array(Type::Int)));
        f.const_int(n, 1 << 40).const_int(v, 0).new_array_repeat(xs, Type::Int, v, n).ret(None);
    });
    assert_eq!(program_error(&report), ProgramErrorKind::HeapLimit);
}

#[test]
fn integers_wrap_and_floats_print_as_the_spec_says() {
    let (report, out) = run_main(|f| {
        let x = f.temp(Type::Float);
        for value in [3.0, 0.1, 1e300, -0.0, 1e16, 1.5e-7, 2.5, 1e15] {
            f.const_float(x, value).print(x);
        }
        let (a, b, c) = (f.temp(Type::Int), f.temp(Type::Int), f.temp(Type::Int));
        f.const_int(a, i64::MAX).const_int(b, 1).binary(c, BinaryOp::Add, a, b).print(c);
        f.const_int(a, -7).const_int(b, 2).binary(c, BinaryOp::Div, a, b).print(c);
        f.binary(c, BinaryOp::Rem, a, b).print(c);
        f.const_int(a, i64::MIN).const_int(b, -1).binary(c, BinaryOp::Div, a, b).print(c);
        let (y, z) = (f.temp(Type::Float), f.temp(Type::Float));
        f.const_float(y, 1.0).const_float(z, 0.0).binary(x, BinaryOp::Div, y, z).print(x);
        let cond = f.temp(Type::Bool);
        f.const_float(y, 0.0).const_float(z, -0.0).binary(cond, BinaryOp::Eq, y, z).print(cond);
        f.ret(None);
    });
    assert_clean(&report);
    assert_eq!(
        out,
        "3.0\n0.1\n1e300\n-0.0\n1e16\n1.5e-7\n2.5\n1000000000000000.0\n\
         -9223372036854775808\n-3\n-1\n-9223372036854775808\ninf\ntrue\n"
    );
}

#[test]
fn strings_concatenate_compare_by_content_and_count_bytes() {
    // let s = str(0.1) + "é"; print(s); print(len(s)); print(s == "0.1é");
    let mut b = ProgramBuilder::new();
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(main);
    let (x, text, e, s, n, same, lit) = (
        f.temp(Type::Float),
        f.temp(Type::String),
        f.temp(Type::String),
        f.local("s", Type::String),
        f.temp(Type::Int),
        f.temp(Type::Bool),
        f.temp(Type::String),
    );
    f.const_float(x, 0.1);
    let to_string = here(&f);
    f.to_string(text, x).const_str(e, "é");
    let concat = here(&f);
    f.concat(s, text, e).print(s).len(n, s).print(n);
    f.const_str(lit, "0.1é").binary(same, BinaryOp::Eq, s, lit).print(same);
    let end = here(&f);
    f.ret(None);
    let program = b.finish();
    let plan = PlanBuilder::new(&program)
        .op("main", OpKind::Drop, text, concat, When::After)
        .op("main", OpKind::Drop, s, end, When::Before)
        .build();
    let _ = to_string;
    let (report, out) = run_plan(&program, &plan);
    assert_clean(&report);
    assert_eq!(out, "0.1é\n5\ntrue\n");
    assert_eq!(report.stats.peak_bytes, (16 + 3) + (16 + 5));
}

// ---- no Rust stack overflow ---------------------------------------------------------------------

#[test]
fn deep_recursion_runs_on_an_ordinary_thread() {
    // fn down(n: int) -> int { if n == 0 { return 0; } return down(n - 1) + 1; }
    let mut b = ProgramBuilder::new();
    let down = b.declare_function("down", FunctionKind::Plain);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(down);
    f.returns(Type::Int);
    let n = f.param("n", Type::Int, None);
    let (zero, one, is_zero, m, r) =
        (f.temp(Type::Int), f.temp(Type::Int), f.temp(Type::Bool), f.temp(Type::Int), f.temp(Type::Int));
    let (base, step) = (f.new_block(), f.new_block());
    f.const_int(zero, 0).binary(is_zero, BinaryOp::Eq, n, zero).branch(is_zero, base, step);
    f.switch_to(base).ret(zero);
    f.switch_to(step).const_int(one, 1).binary(m, BinaryOp::Sub, n, one).call(r, down, &[m]);
    f.binary(r, BinaryOp::Add, r, one).ret(r);
    let mut f = b.function(main);
    let (depth, result) = (f.temp(Type::Int), f.temp(Type::Int));
    f.const_int(depth, 9_000).call(result, down, &[depth]).print(result).ret(None);
    let program = b.finish();
    assert_eq!(validate(&program), Ok(()));
    let plan = PlanBuilder::new(&program).build();
    let (report, out) = run_plan(&program, &plan);
    assert_clean(&report);
    assert_eq!(out, "9000\n");
    // Past the limit it is a run-time error, not a crash.
    let options = RunOptions { max_call_depth: 500, ..RunOptions::default() };
    let (report, _) = run_with(&program, &plan, &options);
    assert_eq!(program_error(&report), ProgramErrorKind::CallDepth);
}

#[test]
fn dropping_the_head_of_a_long_list_destroys_it_without_recursion() {
    // global dropped: int = 0;
    // class Node { value: int, next: Node?, drop { dropped = dropped + 1; } }
    // fn main() { let head: Node? = null; for i in 0..100000 { head = Node { value: i, next: head }; }
    //             free(head); print(dropped); }
    const N: i64 = 100_000;
    let mut b = ProgramBuilder::new();
    let node = node_class(&mut b);
    let dropped = b.add_global("dropped", Type::Int);
    let init = b.declare_function("dropped#init", FunctionKind::GlobalInit);
    let drop = b.declare_drop(node);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(init);
    let zero = f.temp(Type::Int);
    f.const_int(zero, 0).store_global(dropped, zero).ret(None);
    let mut f = b.function(drop);
    f.self_param(Mode::Borrow);
    let (count, one) = (f.temp(Type::Int), f.temp(Type::Int));
    f.load_global(count, dropped).const_int(one, 1).binary(count, BinaryOp::Add, count, one);
    f.store_global(dropped, count).ret(None);
    let mut f = b.function(main);
    let head = f.local("head", Type::Class(node).nullable());
    let (i, n, one, cond, fresh, count) = (
        f.temp(Type::Int),
        f.temp(Type::Int),
        f.temp(Type::Int),
        f.temp(Type::Bool),
        f.temp(Type::Class(node)),
        f.temp(Type::Int),
    );
    let (loop_head, body, done) = (f.new_block(), f.new_block(), f.new_block());
    f.const_null(head).const_int(i, 0).const_int(n, N).const_int(one, 1).jump(loop_head);
    f.switch_to(loop_head).binary(cond, BinaryOp::Lt, i, n).branch(cond, body, done);
    f.switch_to(body);
    let alloc = here(&f);
    // The new node takes over head's reference, and head takes the new node's.
    f.new_object(fresh, node, &[i, head]).copy(head, fresh).binary(i, BinaryOp::Add, i, one).jump(loop_head);
    f.switch_to(done);
    let free = here(&f);
    f.free(head).load_global(count, dropped).print(count).ret(None);
    let program = b.finish();
    assert_eq!(validate(&program), Ok(()));
    let plan = PlanBuilder::new(&program)
        .alloc("main", alloc, Placement::HeapUnique)
        .op("main", OpKind::Free, head, free, When::Before)
        .build();
    let (report, out) = run_plan(&program, &plan);
    assert_clean(&report);
    assert_eq!(out, format!("{N}\n"));
    assert_eq!(report.stats.frees, N as u64);
}

// ---- robustness -----------------------------------------------------------------------------------

#[test]
fn a_plan_that_does_not_fit_the_program_is_reported_not_obeyed() {
    let c = counted();
    let mut plan = PlanBuilder::new(&c.program)
        .alloc("make", c.alloc, Placement::HeapRc)
        .alloc("main", c.copy, Placement::Stack) // not an allocation
        .op("main", OpKind::Dup, LocalId(99), c.copy, When::After) // no such local
        .op("main", OpKind::Drop, c.a, InstAddr { block: custody_ir::BlockId(7), index: 0 }, When::Before)
        .arena("main", OpKind::ArenaExit, ScopeId(3), c.exit, When::After) // never opened
        .op("main", OpKind::Drop, c.b, c.exit, When::Before)
        .build();
    plan.functions.push(FunctionPlan { name: "elsewhere".into(), ..plan.functions[0].clone() });
    let (report, out) = run_plan(&c.program, &plan);
    assert_eq!(out, "7\n");
    assert_eq!(
        kinds(&report),
        vec![
            ViolationKind::InvalidPlan,
            ViolationKind::InvalidPlan,
            ViolationKind::InvalidPlan,
            ViolationKind::InvalidPlan,
            ViolationKind::InvalidPlan,
        ],
        "{:#?}",
        report.violations
    );
    // The plan of another program, and an empty program, do not panic.
    let (other, other_plan) = cycle_plan(true);
    let (report, _) = run_plan(&c.program, &other_plan);
    assert_eq!(report.exit_code(), 3);
    let (report, _) = run_plan(&other, &plan);
    assert_eq!(report.exit_code(), 3);
    let (report, _) = run_plan(&Program::default(), &plan);
    assert_eq!(program_error(&report), ProgramErrorKind::NoMain);
}

#[test]
fn invalid_ir_is_a_program_error() {
    let mut c = counted();
    c.program.main = Some(custody_ir::FunctionId(42));
    let plan = PlanBuilder::new(&c.program).build();
    let (report, _) = run_plan(&c.program, &plan);
    assert_eq!(program_error(&report), ProgramErrorKind::InvalidProgram);
}

#[test]
fn the_trace_shows_every_memory_event_and_the_report_serializes() {
    let c = counted();
    let plan = PlanBuilder::new(&c.program)
        .alloc("make", c.alloc, Placement::HeapRc)
        .op("main", OpKind::Dup, c.b, c.copy, When::After)
        .op("main", OpKind::Drop, c.b, c.exit, When::Before)
        .op("main", OpKind::Drop, c.a, c.exit, When::Before)
        .build();
    let position = |span: Span| format!("{}:{}", span.start / 8 + 1, span.start % 8 + 1);
    let options = RunOptions { trace: true, position: Some(&position), ..RunOptions::default() };
    let (mut out, mut trace) = (Vec::new(), Vec::new());
    let report = run(&c.program, &plan, &options, &mut out, &mut trace);
    assert_clean(&report);
    assert_eq!(
        String::from_utf8(trace).unwrap(),
        "alloc Node #0 at 2:3 heap_rc\ndup Node #0 rc=2\ndrop Node #0 rc=1\ndrop Node #0 rc=0\n\
         destroy Node #0\nfree Node #0\n"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["outcome"]["status"], "completed");
    assert_eq!(json["stats"]["rc_ops"], 3);
    assert_eq!(json["stats"]["by_placement"]["heap_rc"], 1);

    let (report, _) = run_plan(&c.program, &PlanBuilder::new(&c.program).build());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["outcome"]["status"], "unsound");
    assert_eq!(json["violations"][0]["kind"], "leak");
    assert_eq!(json["violations"][0]["alloc_site"], "make@b0.2");
}

#[test]
fn a_spawned_closure_and_a_spawned_result_are_released_by_the_thread() {
    // fn main() { let k = 5; let f = fn() -> Node { return Node { value: k, next: null }; }; spawn f(); }
    let mut b = ProgramBuilder::new();
    let node = node_class(&mut b);
    let main = b.declare_function("main", FunctionKind::Plain);
    let body = b.declare_closure(main);
    b.set_main(main);
    let mut f = b.function(body);
    f.returns(Type::Class(node));
    let k = f.capture("k", Type::Int);
    let (null, fresh) = (f.temp(Type::Class(node).nullable()), f.temp(Type::Class(node)));
    f.const_null(null);
    let body_alloc = here(&f);
    f.new_object(fresh, node, &[k, null]).print(k).ret(fresh);
    let mut f = b.function(main);
    let k = f.local("k", Type::Int);
    let closure = f.local("f", Type::closure([], Type::Class(node)));
    let s = f.scope_enter(&[k, closure]);
    f.const_int(k, 5);
    let alloc = here(&f);
    f.new_closure(closure, body, &[k]);
    let spawn = here(&f);
    f.spawn(custody_ir::Callee::Closure(closure), &[]);
    let exit = here(&f);
    f.scope_exit(s).ret(None);
    let program = b.finish();
    assert_eq!(validate(&program), Ok(()));
    let plan = PlanBuilder::new(&program)
        .alloc("main", alloc, Placement::HeapAtomicRc)
        .alloc("main#closure0", body_alloc, Placement::HeapUnique)
        .op("main", OpKind::Dup, closure, spawn, When::Before)
        .op("main", OpKind::Drop, closure, exit, When::Before);
    let (report, out) = run_plan(&program, &plan.plan);
    assert_clean(&report);
    assert_eq!(out, "5\n");
    assert_eq!(report.stats.frees, 2);
    // Without the `dup`, main frees the closure before the thread can run it.
    let plan = PlanBuilder::new(&program)
        .alloc("main", alloc, Placement::HeapAtomicRc)
        .op("main", OpKind::Drop, closure, exit, When::Before)
        .build();
    assert_eq!(first_violation(&run_plan(&program, &plan).0), ViolationKind::UseAfterFree);
}

#[test]
fn a_static_site_allocates_once_and_must_not_be_written() {
    // for i in 0..3 { let xs = [7, 8]; print(xs[1]); [xs[i] = 1;] }  (or [i, 8] when `varying`)
    let build = |write: bool, varying: bool| {
        let mut b = ProgramBuilder::new();
        let main = b.declare_function("main", FunctionKind::Plain);
        b.set_main(main);
        let mut f = b.function(main);
        let xs = f.local("xs", Type::array(Type::Int));
        let (i, n, one, cond, seven, eight, v) = (
            f.temp(Type::Int),
            f.temp(Type::Int),
            f.temp(Type::Int),
            f.temp(Type::Bool),
            f.temp(Type::Int),
            f.temp(Type::Int),
            f.temp(Type::Int),
        );
        let (head, body, done) = (f.new_block(), f.new_block(), f.new_block());
        f.const_int(i, 0).const_int(n, 3).const_int(one, 1).jump(head);
        f.switch_to(head).binary(cond, BinaryOp::Lt, i, n).branch(cond, body, done);
        f.switch_to(body);
        let s = f.scope_enter(&[xs]);
        f.const_int(seven, 7).const_int(eight, 8);
        let alloc = here(&f);
        f.new_array(xs, Type::Int, &[if varying { i } else { seven }, eight]).load_elem(v, xs, one).print(v);
        if write {
            f.store_elem(xs, i, one);
        }
        f.scope_exit(s).binary(i, BinaryOp::Add, i, one).jump(head);
        f.switch_to(done).ret(None);
        let program = b.finish();
        let plan = PlanBuilder::new(&program).alloc("main", alloc, Placement::Static).build();
        (program, plan)
    };
    let (program, plan) = build(false, false);
    let (report, out) = run_plan(&program, &plan);
    assert_clean(&report);
    assert_eq!(out, "8\n8\n8\n");
    assert_eq!((report.stats.allocations, report.stats.by_placement.static_, report.stats.frees), (1, 1, 0));
    let (program, plan) = build(true, false);
    let (report, _) = run_plan(&program, &plan);
    assert_eq!(kinds(&report), vec![ViolationKind::SharedWrite]);
    assert_eq!(report.violations[0].count, 3, "the same write, three times");
    // Contents that change from one execution to the next are not constant.
    let (program, plan) = build(false, true);
    assert_eq!(kinds(&run_plan(&program, &plan).0), vec![ViolationKind::InvalidPlan]);
}

#[test]
fn manual_objects_are_freed_by_the_program_and_leak_otherwise() {
    let c = counted();
    let plan = PlanBuilder::new(&c.program)
        .alloc("make", c.alloc, Placement::Manual)
        .op("main", OpKind::Drop, c.a, c.exit, When::Before) // a drop does nothing to manual memory
        .build();
    let (report, _) = run_plan(&c.program, &plan);
    assert_eq!(kinds(&report), vec![ViolationKind::Leak]);
    let plan = PlanBuilder::new(&c.program)
        .alloc("make", c.alloc, Placement::Manual)
        .op("main", OpKind::Free, c.a, c.exit, When::Before)
        .build();
    assert_clean(&run_plan(&c.program, &plan).0);
}

#[test]
fn operations_on_places_release_what_a_store_overwrites() {
    // global g: Node? = null;  fn main() { g = Node { value: 1 }; g = Node { value: 2 }; }
    let mut b = ProgramBuilder::new();
    let node = node_class(&mut b);
    let g = b.add_global("g", Type::Class(node).nullable());
    let init = b.declare_function("g#init", FunctionKind::GlobalInit);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(init);
    let null = f.temp(Type::Class(node).nullable());
    f.const_null(null).store_global(g, null).ret(None);
    let mut f = b.function(main);
    let (v, null, fresh) =
        (f.temp(Type::Int), f.temp(Type::Class(node).nullable()), f.temp(Type::Class(node)));
    f.const_null(null);
    let mut stores = vec![];
    let mut allocs = vec![];
    for value in [1, 2] {
        f.const_int(v, value);
        allocs.push(here(&f));
        f.new_object(fresh, node, &[v, null]);
        stores.push(here(&f));
        f.store_global(g, fresh);
    }
    f.ret(None);
    let program = b.finish();
    assert_eq!(validate(&program), Ok(()));
    let mut plan = PlanBuilder::new(&program).alloc("main", allocs[0], Placement::HeapRc).alloc(
        "main",
        allocs[1],
        Placement::HeapRc,
    );
    for &at in &stores {
        let op = Op { global: Some(g), ..PlanBuilder::blank(OpKind::Drop, at, When::Before) };
        plan.push("main", op);
    }
    let (report, _) = run_plan(&program, &plan.plan);
    assert_clean(&report);
    assert_eq!(report.stats.frees, 2, "one by the overwrite, one when the globals are released");
}

#[test]
fn a_collected_cycle_runs_every_drop_block_first_depth_first_from_the_value() {
    // class Named { name: string, next: Named?, drop { print(self.name); print(self.next.name); } }
    // fn main() { let a = Named { name: "a", next: null }; let b = Named { name: "b", next: a }; a.next = b; }
    let mut b = ProgramBuilder::new();
    let named = b.declare_class("Named");
    b.add_class_field(named, "name", Type::String);
    b.add_class_field(named, "next", Type::Class(named).nullable());
    let drop = b.declare_drop(named);
    let main = b.declare_function("main", FunctionKind::Plain);
    b.set_main(main);
    let mut f = b.function(drop);
    let this = f.self_param(Mode::Borrow);
    let (name, next) = (f.temp(Type::String), f.temp(Type::Class(named).nullable()));
    f.load_field(name, this, 0).print(name).load_field(next, this, 1).null_check(next);
    f.load_field(name, next, 0).print(name).ret(None);
    let mut f = b.function(main);
    let a = f.local("a", Type::Class(named));
    let bb = f.local("b", Type::Class(named));
    let (sa, sb, null) = (f.temp(Type::String), f.temp(Type::String), f.temp(Type::Class(named).nullable()));
    let s = f.scope_enter(&[a, bb]);
    f.const_str(sa, "a").const_str(sb, "b").const_null(null);
    let first = here(&f);
    f.new_object(a, named, &[sa, null]);
    let second = here(&f);
    f.new_object(bb, named, &[sb, a]);
    let store = here(&f);
    f.store_field(a, 1, bb);
    let exit = here(&f);
    f.scope_exit(s).ret(None);
    let program = b.finish();
    assert_eq!(validate(&program), Ok(()));
    let plan = PlanBuilder::new(&program)
        .alloc("main", first, Placement::HeapRc)
        .alloc("main", second, Placement::HeapRc)
        .op("main", OpKind::Dup, a, second, When::Before)
        .op("main", OpKind::Dup, bb, store, When::Before)
        .field_op("main", OpKind::Drop, a, 1, store)
        .op("main", OpKind::Drop, a, exit, When::Before)
        .op("main", OpKind::CollectCycles, bb, exit, When::Before)
        .build();
    let (report, out) = run_plan(&program, &plan);
    assert_clean(&report);
    assert_eq!(out, "b\na\na\nb\n");
}
