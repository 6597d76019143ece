//! The naive plan: the baseline every inferred plan is measured against.
//!
//! It is what a simple reference-counting compiler (Dream's, say) emits, and it must be
//! correct, not a straw man (rules naive-count, naive-dup, naive-drop, naive-cow and
//! naive-free of `spec/rules.md`):
//! - every allocation is `heap_rc`, or `heap_atomic_rc` when the program spawns threads
//!   (two threads may then touch any counter);
//! - a reference gains a count wherever it is copied: `copy`, loads from fields, elements
//!   and globals, arguments (the callee owns its parameters), values stored into objects,
//!   arrays, globals and closure environments;
//! - a local's old value is dropped before the instruction that overwrites it (the lowering
//!   keeps that instruction from running code, spec/ir.md 1.4), and every local a scope
//!   declares is dropped (last declared first) before each `scope_exit` of that scope,
//!   which the IR places on every path out, early `return`, `break` and `continue` included;
//! - a store releases the value the place held; every array write gets a `cow_check`;
//! - the program's `free(x)` is a `free` of `x` (on a counted value: a drop);
//! - a returned value moves to the caller, which owns a call's result.
//!
//! Counting everything frees everything except cycles, which leak: the checked interpreter
//! reports them. Escape states are not analysed here: every allocation and parameter is
//! reported `uncontained` with control `global` (the conservative answer), every parameter
//! `own` (but a `drop` block's `self`, which is borrowed).

use crate::plan::{
    SpanMap, allocation_kind, holds_references, invalid_ir_plan, local_name, stats, type_table,
};
use custody_ir as ir;
use custody_ir::plan::*;
use custody_ir::{InstAddr, InstKind, LocalId};

/// The naive plan of a program. IR that fails [`ir::validate`] gets no plan: the result
/// has no functions and the validator's errors as its diagnostics (code `invalid-ir`), so
/// IR from outside custody never makes this panic or yields a meaningless plan.
pub fn naive_plan(program: &ir::Program, source: &str, spans: &SpanMap<'_>) -> MemoryPlan {
    match ir::validate(program) {
        Ok(()) => naive_plan_of_valid(program, source, spans),
        Err(errors) => invalid_ir_plan(source, spans, &errors),
    }
}

/// The naive plan of IR known to be valid.
pub(crate) fn naive_plan_of_valid(program: &ir::Program, source: &str, spans: &SpanMap<'_>) -> MemoryPlan {
    let spawns =
        program.functions.iter().any(|f| f.insts().any(|(_, i)| matches!(i.kind, InstKind::Spawn { .. })));
    let placement = if spawns { Placement::HeapAtomicRc } else { Placement::HeapRc };
    let functions: Vec<FunctionPlan> =
        program.functions.iter().map(|f| function_plan(program, f, placement, spans)).collect();
    let rc_ops: u32 = functions.iter().map(|f| crate::plan::count_rc_ops(f) as u32).sum();
    MemoryPlan {
        format: PLAN_FORMAT.to_string(),
        version: PLAN_VERSION,
        source: source.to_string(),
        types: type_table(program),
        stats: stats(&functions, rc_ops),
        functions,
        diagnostics: vec![],
    }
}

struct OpSink<'a> {
    function: &'a ir::Function,
    spans: &'a SpanMap<'a>,
    ops: Vec<Op>,
}

impl OpSink<'_> {
    fn holds(&self, local: LocalId) -> bool {
        self.function.get_local(local).is_some_and(|l| holds_references(&l.ty))
    }

    fn push(&mut self, op: OpKind, local: LocalId, at: InstAddr, span: ir::Span, when: When) -> &mut Op {
        self.ops.push(Op {
            value: Some(local_name(self.function, local)),
            local: Some(local),
            ..Op::new(op, self.spans.span(span), when, at)
        });
        self.ops.last_mut().expect("just pushed")
    }

    /// `op` on a local that may hold references (nothing for immediates).
    fn on(&mut self, op: OpKind, local: LocalId, at: InstAddr, span: ir::Span, when: When) {
        if self.holds(local) {
            self.push(op, local, at, span, when);
        }
    }
}

fn function_plan(
    program: &ir::Program,
    f: &ir::Function,
    placement: Placement,
    spans: &SpanMap<'_>,
) -> FunctionPlan {
    let mut sink = OpSink { function: f, spans, ops: Vec::new() };
    let mut allocations = Vec::new();
    // The locals each scope declares, to drop at its exits.
    let scope_locals = f.scope_locals();
    let field_holds = |object: LocalId, field: u32| -> bool {
        f.get_local(object)
            .and_then(|l| program.field(&l.ty, field))
            .is_some_and(|fd| holds_references(&fd.ty))
    };
    let elem_holds =
        |array: LocalId| f.get_local(array).and_then(|l| l.ty.array_elem()).is_some_and(holds_references);
    // rule naive-move-part: the temporaries a literal takes move into it.
    let moved_parts = crate::plan::literal_temporaries(f);

    for (at, inst) in f.insts() {
        let span = inst.span;
        use When::{After, Before};
        // The old value of a written local is released first (ended locals hold nothing).
        let overwrite = |sink: &mut OpSink<'_>, dest: LocalId| sink.on(OpKind::Drop, dest, at, span, Before);
        match &inst.kind {
            InstKind::Const { dest, .. }
            | InstKind::Concat { dest, .. }
            | InstKind::ToString { dest, .. } => {
                overwrite(&mut sink, *dest);
            }
            InstKind::Copy { dest, .. }
            | InstKind::LoadField { dest, .. }
            | InstKind::LoadElem { dest, .. }
            | InstKind::LoadGlobal { dest, .. } => {
                overwrite(&mut sink, *dest);
                sink.on(OpKind::Dup, *dest, at, span, After);
            }
            InstKind::NewObject { dest, fields: values, .. }
            | InstKind::NewStruct { dest, fields: values, .. }
            | InstKind::NewArray { dest, elems: values, .. }
            | InstKind::NewClosure { dest, captures: values, .. } => {
                overwrite(&mut sink, *dest);
                for v in values {
                    // rule naive-move-part: a temporary moves into the new value.
                    let kind = if moved_parts.contains(v) { OpKind::Move } else { OpKind::Dup };
                    sink.on(kind, *v, at, span, Before);
                }
            }
            InstKind::NewArrayRepeat { dest, value, count, .. } => {
                overwrite(&mut sink, *dest);
                if sink.holds(*value) {
                    sink.push(OpKind::Dup, *value, at, span, Before).count = Some(*count);
                }
            }
            InstKind::Call { dest, callee, args } => {
                if let Some(d) = dest {
                    overwrite(&mut sink, *d);
                }
                let _ = callee;
                for a in args {
                    sink.on(OpKind::Dup, *a, at, span, Before);
                }
            }
            InstKind::Spawn { args, callee } => {
                // The new thread owns its arguments, and its reference to a spawned
                // closure, which it releases when the call returns.
                if let ir::Callee::Closure(c) = callee {
                    sink.on(OpKind::Dup, *c, at, span, Before);
                }
                for a in args {
                    sink.on(OpKind::Dup, *a, at, span, Before);
                }
            }
            InstKind::StoreField { object, field, value } => {
                sink.on(OpKind::Dup, *value, at, span, Before);
                if field_holds(*object, *field) {
                    sink.push(OpKind::Drop, *object, at, span, Before).field = Some(*field);
                }
            }
            InstKind::StoreElem { array, index, value } => {
                sink.push(OpKind::CowCheck, *array, at, span, Before);
                sink.on(OpKind::Dup, *value, at, span, Before);
                if elem_holds(*array) {
                    sink.push(OpKind::Drop, *array, at, span, Before).index = Some(*index);
                }
            }
            InstKind::StoreGlobal { global, value } => {
                sink.on(OpKind::Dup, *value, at, span, Before);
                let holds = program.globals.get(global.index()).is_some_and(|g| holds_references(&g.ty));
                if holds {
                    let op = sink.push(OpKind::Drop, *value, at, span, Before);
                    op.local = None;
                    op.value = program.globals.get(global.index()).map(|g| g.name.clone());
                    op.global = Some(*global);
                }
            }
            InstKind::Push { array, value } => {
                sink.push(OpKind::CowCheck, *array, at, span, Before);
                sink.on(OpKind::Dup, *value, at, span, Before);
            }
            InstKind::Pop { dest, array } => {
                sink.push(OpKind::CowCheck, *array, at, span, Before);
                // The popped element's reference moves from the array to `dest`.
                overwrite(&mut sink, *dest);
            }
            InstKind::Free { value } => {
                sink.on(OpKind::Free, *value, at, span, Before);
            }
            InstKind::ScopeExit { scope } => {
                for local in scope_locals.get(scope).into_iter().flatten().rev() {
                    if !moved_parts.contains(local) {
                        sink.on(OpKind::Drop, *local, at, span, Before);
                    }
                }
            }
            InstKind::Return { value: Some(v) } => {
                sink.on(OpKind::Move, *v, at, span, Before);
            }
            InstKind::Unary { .. }
            | InstKind::Binary { .. }
            | InstKind::IsNull { .. }
            | InstKind::NullCheck { .. }
            | InstKind::Len { .. }
            | InstKind::Print { .. }
            | InstKind::ScopeEnter { .. }
            | InstKind::Jump { .. }
            | InstKind::Branch { .. }
            | InstKind::Return { value: None }
            | InstKind::Unreachable => {}
        }
        if let Some((kind, ty)) = allocation_kind(program, f, &inst.kind) {
            let id = format!("{}#{}", f.name, allocations.len());
            allocations.push(AllocationPlan {
                id,
                span: spans.span(span),
                kind,
                ty,
                escape: Escape::Uncontained,
                placement,
                control: Control::Global,
                arena_scope: None,
                cyclic: false,
                reason: "naive plan: every allocation is reference counted".to_string(),
                inst: at,
            });
        }
    }
    let params = f
        .params
        .iter()
        .enumerate()
        .map(|(i, &p)| ParamPlan {
            name: local_name(f, p),
            index: i as u32,
            ty: f.get_local(p).map_or_else(String::new, |l| l.ty.display(program).to_string()),
            escape: Escape::Uncontained,
            // A drop block's `self` is the object being destroyed: borrowed.
            mode: if matches!(f.kind, ir::FunctionKind::Drop { .. }) {
                ir::Mode::Borrow
            } else {
                ir::Mode::Own
            },
            flows_to: vec![FlowTarget::Unknown],
        })
        .collect();
    let returns_ref = f.ret.as_ref().is_some_and(holds_references);
    FunctionPlan {
        name: f.name.clone(),
        span: spans.span(f.span),
        params,
        returns: ReturnPlan {
            bound: if returns_ref { ReturnBound::Mixed } else { ReturnBound::None },
            params: vec![],
        },
        allocations,
        variables: f
            .locals
            .iter()
            .enumerate()
            .filter(|(_, l)| l.name.is_some() && l.kind != ir::LocalKind::Temp)
            .map(|(i, l)| VariablePlan {
                name: l.name.clone().unwrap_or_default(),
                span: spans.span(l.span),
                last_uses: vec![],
                local: LocalId(i as u32),
            })
            .collect(),
        ops: sink.ops,
    }
}
